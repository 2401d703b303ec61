"""The few things the Keras models need that ``keras.ops`` does not say, for each Keras 3 backend.

polyformer's Keras models are written in ``keras.ops`` and ``keras.layers`` and run on whichever
backend Keras runs on (``KERAS_BACKEND=tensorflow``, ``jax`` or ``torch``, chosen before Keras is
first imported). What differs between the backends, and is not a ``keras.ops`` function, lives
here, once:

* :func:`holds_values`: whether a tensor's values can be read now (an eager tensor), or it is
  being traced (``tf.function``, ``jax.jit``, a Keras symbolic tensor) and only its shape is known;
* :func:`uninitialized`: memory for a weight that is about to be overwritten, not filled first;
* :func:`differentiable_loop`: a loop whose length may be unknown until run, that gradients go through;
* :func:`write_rows`: a block of a checkpoint tensor written into a variable in place, where the
  backend can (TensorFlow, PyTorch), so loading never holds a weight twice.

Only the module of the backend Keras runs on is imported.
"""

from __future__ import annotations

import functools
from typing import Any

import keras
import ml_dtypes
import numpy as np

__all__ = ["BACKEND", "WRITES_IN_PLACE", "holds_values", "uninitialized", "differentiable_loop", "write_rows", "lowest"]

#: The backend Keras runs on: "tensorflow", "jax" or "torch".
BACKEND = keras.backend.backend()

#: The backends polyformer's Keras models run on.
SUPPORTED_BACKENDS = ("tensorflow", "jax", "torch")

if BACKEND not in SUPPORTED_BACKENDS:
    raise ImportError(
        f"polyformer's Keras models run on Keras' {', '.join(SUPPORTED_BACKENDS)} backends, but Keras runs on "
        f"'{BACKEND}'. Set KERAS_BACKEND to one of them before importing keras (or use framework='flax' / 'torch')."
    )

#: Whether a variable can be written into a slice at a time (JAX arrays are immutable).
WRITES_IN_PLACE = BACKEND != "jax"

if BACKEND == "tensorflow":
    import tensorflow as tf
elif BACKEND == "jax":
    import jax
    import jax.numpy as jnp
else:
    import torch


def holds_values(x: Any) -> bool:
    """Whether ``x``'s values can be read now: numpy, or a backend tensor outside any tracing."""
    if isinstance(x, np.ndarray):
        return True
    if BACKEND == "tensorflow":
        return isinstance(x, tf.Tensor) and tf.executing_eagerly()
    if BACKEND == "jax":
        return isinstance(x, jax.Array) and not isinstance(x, jax.core.Tracer)
    return isinstance(x, torch.Tensor) and x.device.type != "meta"


def lowest(dtype: Any) -> float:
    """The most negative finite value of a float dtype (``"float32"``, ``"bfloat16"``...): the masked-out attention bias."""
    return _lowest(keras.backend.standardize_dtype(dtype))


@functools.cache
def _lowest(name: str) -> float:  # read at every forward: looked up once per dtype
    return float(ml_dtypes.finfo(name).min)


def uninitialized(shape: tuple[int, ...], dtype: Any = None):
    """A tensor of ``shape`` whose memory is not filled (nor, on CPU, resident) until it is written.

    JAX has no such memory (its arrays are immutable): zeros, which XLA makes quickly.
    """
    dtype = keras.backend.standardize_dtype(dtype or "float32")
    if BACKEND == "tensorflow":
        return tf.raw_ops.Empty(shape=tuple(shape), dtype=tf.as_dtype(dtype), init=False)
    if BACKEND == "jax":
        return jnp.zeros(tuple(shape), dtype=dtype)
    return torch.empty(tuple(shape), dtype=getattr(torch, dtype))


def differentiable_loop(start: int, stop, body, state):
    """``state = body(i, state)`` for ``i`` from ``start`` to ``stop - 1``, differentiable with respect to ``state``.

    JAX differentiates a loop only when its bounds are known when traced (``lax.fori_loop``,
    which then runs as a scan); its shapes always are. TensorFlow's ``stop`` may be a tensor (a
    length left open by ``tf.function``), and XLA differentiates a while loop only when it is
    given ``maximum_iterations``; Keras' while loop passes that, on PyTorch too.
    """
    if BACKEND == "jax":
        return jax.lax.fori_loop(start, stop, body, state)
    _, state = keras.ops.while_loop(lambda i, value: i < stop, lambda i, value: (i + 1, body(i, value)),
                                    (keras.ops.convert_to_tensor(start, "int32"), state),
                                    maximum_iterations=stop - start)
    return state


def write_rows(variable: keras.Variable, block: np.ndarray, start: int, stop: int, axis: int, transpose: bool) -> None:
    """Write ``block`` (``transpose``: its transpose) into ``variable[start:stop]`` along ``axis``, in place.

    Only where :data:`WRITES_IN_PLACE`; elsewhere assign the whole value.
    """
    rank = len(variable.shape)
    if BACKEND == "tensorflow":
        value = _shared_tf_tensor(block)
        if transpose:
            value = tf.transpose(value)
        begin, end = [0] * rank, [int(d) for d in variable.shape]
        begin[axis], end[axis] = start, stop
        tf.raw_ops.ResourceStridedSliceAssign(ref=variable.handle, begin=begin, end=end, strides=[1] * rank,
                                              value=tf.cast(value, variable.dtype))
        return
    if BACKEND == "torch":
        if block.dtype == ml_dtypes.bfloat16:  # numpy has no bfloat16 of its own: torch takes its bits
            source = torch.from_numpy(block.view(np.uint16)).view(torch.bfloat16)
        else:
            source = torch.from_numpy(block)
        if transpose:
            source = source.T
        index = [slice(None)] * rank
        index[axis] = slice(start, stop)
        with torch.no_grad():
            variable.value.data[tuple(index)].copy_(source)
        return
    raise NotImplementedError(f"Keras' {BACKEND} backend cannot write into a variable in place")


def _shared_tf_tensor(array: np.ndarray):
    """A TensorFlow tensor over ``array``'s own memory, through DLPack.

    ``tf.convert_to_tensor`` copies every numpy array it is given. DLPack needs memory aligned
    as TensorFlow's (what :class:`~polyformer.core.checkpoint.StoredTensor` reads into) and a
    dtype it can name; bfloat16 and float8 arrays, which it cannot, are copied.
    """
    try:
        return tf.experimental.dlpack.from_dlpack(array.__dlpack__())
    except (BufferError, TypeError, tf.errors.InvalidArgumentError):
        return tf.convert_to_tensor(array)
