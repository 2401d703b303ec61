"""Reusable Keras 3 building blocks for transformer architectures, with canonical (PyTorch) weight names.

The blocks are the PyTorch backend's (:mod:`polyformer.backends.torch.layers`), with the same
names, arguments, defaults and behaviour (``tests/test_backend_api.py`` compares them); only
what is Keras' own differs: each block also takes ``initializer_range`` and Keras' ``dtype`` /
``name`` (Keras creates and initialises every weight as its layer is built, so a model has its
weights as soon as it is constructed), and the expanded attention ``mask`` is an additive bias.

Leaves, which own weights and say how each maps to the checkpoint layout
(:meth:`canonical_weights`): :class:`Linear`, :class:`Conv2d`, :class:`LayerNorm`,
:class:`Embedding`, :class:`Parameter`, :class:`OutputProjection`.

Blocks (taking plain sizes, not a config; attribute names are those of the ``transformers``
checkpoints):

* :class:`Embeddings`: word + (token type) + position embeddings (learned or fixed
  sinusoidal), an optional LayerNorm, dropout; checks the ids it is given;
* :class:`MultiHeadSelfAttention`: q/k/v (and optionally output) projections named by the
  architecture; built with the heads its config prunes, and prunable later;
* :class:`AttentionBlock`: self-attention plus its ``output`` sub-layer (BERT, ViT...);
* :class:`Intermediate` and :class:`DenseAddNorm`: the two halves of a BERT-family feed-forward;
* :class:`FeedForward`: both halves in one block (DistilBERT's ``ffn``, Wav2Vec2's ``feed_forward``);
* :class:`TransformerLayer`: attention and feed-forward with their norms, pre- or post-norm,
  every attribute named by :class:`LayerNames`;
* :class:`Encoder`: the stack of layers, with the mask, hidden states, attentions, head masks
  and pruning handled once;
* :class:`Pooler`: ``activation(dense(first position))``;
* :class:`PatchEmbeddings`: ``(batch, channels, height, width)`` images -> one vector per patch
  (ViT), through a strided :class:`Conv2d`.

Names: the canonical name of a weight is the path of attribute names that leads to it
(:func:`named_canonical_weights`), so a model gets the PyTorch names by naming its attributes
as the PyTorch model does. A name Keras reserves (``output``, ``input``) is held with a
trailing underscore (``output_``): :func:`attribute_name` and :func:`set_layer` do that.

Everything is written in ``keras.ops``, so the blocks run on each Keras 3 backend (TensorFlow,
JAX, PyTorch: whichever ``KERAS_BACKEND`` chose before Keras was first imported); the little that
differs between backends is in :mod:`.engine`.
"""

from __future__ import annotations

import contextlib
import contextvars
import math
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator

import numpy as np

import keras
from keras import ops

from . import engine

from ...core.layer_names import LayerNames
from ...core import inputs  # noqa: E402
from ...core.configuration import ACTIVATIONS  # noqa: E402
from ...core.numerics import (  # noqa: E402
    conv_output_length,
    conv_receptive_field,
    kept_head_features,
    patch_grid,
    sinusoidal_table,
    to_pair,
)
from ...core.outputs import BaseModelOutput  # noqa: E402

__all__ = [
    "get_activation",
    "attention",
    "expand_attention_mask",
    "expand_head_mask",
    "Block",
    "MultiHeadSelfAttention",
    "AttentionBlock",
    "Intermediate",
    "DenseAddNorm",
    "FeedForward",
    "LayerNames",
    "TransformerLayer",
    "Embeddings",
    "Encoder",
    "layer_drop",
    "Pooler",
    "PatchEmbeddings",
    "ConvLayer",
    "ConvFeatureEncoder",
    "PositionalConvEmbedding",
    "TDNNLayer",
    "apply_chunked",
    "check_choice_inputs",
    "prune_linear",
    "CanonicalWeight",
    "Linear",
    "Conv2d",
    "Conv1d",
    "LayerNorm",
    "GroupNorm",
    "Embedding",
    "Parameter",
    "OutputProjection",
    "attribute_name",
    "set_layer",
    "named_canonical_weights",
    "iter_layers",
    "normal_initializer",
    "constant_initializer",
    "building_for_loading",
    "is_building_for_loading",
    "skipped_when_loading",
    "uniform_initializer",
    "input_facts",
]

Initializer = Callable[..., Any]  # (shape, dtype=None) -> array


# ---- inputs -----------------------------------------------------------------------
def input_facts(name: str, x: Any, values: bool = True) -> inputs.Facts | None:
    """The dtype, shape and (when running eagerly) values of an input, for :mod:`polyformer.core.inputs`.

    While a function is traced (``fit``, ``predict``, ``tf.function``, ``jax.jit``) tensors are
    symbolic: sizes may be unknown (None) and values are not read.
    """
    if x is None:
        return None
    if isinstance(x, (list, tuple, int, float, bool)):  # Python values: as numpy would hold them
        x = inputs.as_array(name, x)
    dtype = keras.backend.standardize_dtype(x.dtype)  # tf / torch / numpy dtype -> "int64"
    shape = getattr(x, "shape", None)
    shape = None if shape is None or getattr(shape, "rank", len(shape)) is None else tuple(shape)
    array = None
    if values and engine.holds_values(x):
        array = ops.convert_to_numpy(x)
    return inputs.Facts(name, str(dtype), shape, array)


# ---- canonical weights ----------------------------------------------------------
@dataclass
class CanonicalWeight:
    """One Keras variable seen as a checkpoint tensor.

    ``transpose`` is True for a Keras kernel ``(in, out)`` stored in the checkpoint as a
    PyTorch Linear weight ``(out, in)``; everything else has the same layout in both.
    ``initializer`` re-creates the variable's initial value, for weights a checkpoint lacks.
    """

    variable: keras.Variable
    initializer: Initializer
    transpose: bool = False

    @property
    def shape(self) -> tuple[int, ...]:
        """The shape in the checkpoint (canonical layout)."""
        shape = tuple(int(d) for d in self.variable.shape)
        return shape[::-1] if self.transpose else shape

    def assign(self, array: Any) -> None:
        """Set the variable from a canonical-layout array (numpy), casting to the variable's dtype."""
        array = np.asarray(array)
        if tuple(array.shape) != self.shape:
            raise ValueError(f"expected shape {self.shape}, got {tuple(array.shape)}")
        if self.transpose:
            array = array.T
        self.variable.assign(ops.cast(array, self.variable.dtype))

    def numpy(self) -> np.ndarray:
        """The value in canonical layout, as a contiguous numpy array."""
        value = ops.convert_to_numpy(self.variable)
        return np.ascontiguousarray(value.T if self.transpose else value)

    def initialize(self) -> None:
        """Give the variable a fresh initial value."""
        self.variable.assign(ops.cast(self.initializer(tuple(self.variable.shape)), self.variable.dtype))


# True while a model is built to be loaded (see building_for_loading).
_BUILDING_FOR_LOADING: contextvars.ContextVar[bool] = contextvars.ContextVar("polyformer_keras_loading", default=False)


@contextlib.contextmanager
def building_for_loading() -> Iterator[None]:
    """Inside it, initializers wrapped by :func:`skipped_when_loading` leave new weights uninitialised.

    ``from_pretrained`` builds the model in it: every weight is then set from the checkpoint,
    or initialised afterwards when the checkpoint lacks it, so first values would be wasted
    time and memory. Code that reads weights while a model is built (a fix-up in
    ``post_init``) skips it when :func:`is_building_for_loading`.
    """
    token = _BUILDING_FOR_LOADING.set(True)
    try:
        yield
    finally:
        _BUILDING_FOR_LOADING.reset(token)


def is_building_for_loading() -> bool:
    """Whether a model is being built to be loaded (see :func:`building_for_loading`)."""
    return _BUILDING_FOR_LOADING.get()


def skipped_when_loading(initialize: Initializer) -> Initializer:
    """``initialize``, except while a model is built for loading: then a new weight starts uninitialised.

    Uninitialised memory (:func:`.engine.uninitialized`) costs no time to fill, and is not even
    resident until the checkpoint's values are written into it.
    """

    def initialize_unless_loading(shape, dtype=None):
        if _BUILDING_FOR_LOADING.get():
            return engine.uninitialized(shape, dtype)
        return initialize(shape, dtype)

    return initialize_unless_loading


def normal_initializer(std: float, zero_row: int | None = None) -> Initializer:
    """N(0, std) values, as ``transformers``' ``_init_weights``; ``zero_row`` (an embedding's
    padding index) is set to zero, as ``nn.Embedding(padding_idx=...)`` does.

    Drawn with numpy's global generator, so ``keras.utils.set_random_seed`` makes it repeatable.
    """

    def initialize(shape, dtype=None):
        values = np.random.normal(0.0, std, size=shape).astype(np.float32)
        if zero_row is not None:
            values[zero_row] = 0.0
        return ops.cast(values, dtype or "float32")

    return skipped_when_loading(initialize)


def constant_initializer(value: float | np.ndarray) -> Initializer:
    """A fixed value (zeros, ones, or a precomputed table such as sinusoidal positions)."""

    def initialize(shape, dtype=None):
        return ops.cast(np.broadcast_to(np.asarray(value, dtype=np.float32), shape), dtype or "float32")

    return skipped_when_loading(initialize)


def uniform_initializer(low: float = 0.0, high: float = 1.0) -> Initializer:
    """U(low, high) values, as ``torch.Tensor.uniform_`` (Wav2Vec2's mask embedding and codebook).

    Drawn with numpy's global generator, so ``keras.utils.set_random_seed`` makes it repeatable.
    """

    def initialize(shape, dtype=None):
        return ops.cast(np.random.uniform(low, high, size=shape).astype(np.float32), dtype or "float32")

    return skipped_when_loading(initialize)


def attribute_name(name: str) -> str:
    """The attribute that holds what a checkpoint calls ``name``: ``output_`` for ``output``.

    Keras reserves some names on every layer and model (``output``, ``input``...); PEP 8's way
    around a clash, a trailing underscore, is dropped again by :func:`named_canonical_weights`.
    """
    return f"{name}_" if hasattr(keras.Model, name) else name


def set_layer(parent: keras.layers.Layer, name: str, layer: keras.layers.Layer | None) -> None:
    """Hold ``layer`` as ``parent``'s sub-layer ``name`` (see :func:`attribute_name`), replacing any layer there.

    Keras keeps a list of each layer's sub-layers (their weights are the model's ``weights``,
    what an optimizer trains): a replaced layer is taken off that list, so that a pruned or
    resized model has only its new weights. Compile a model again after replacing layers.
    """
    attribute = attribute_name(name)
    old = _attributes(parent).get(attribute)
    tracker = parent._tracker  # Keras has no public way to untrack a sub-layer
    locked = tracker.locked
    tracker.unlock()
    try:
        if isinstance(old, keras.layers.Layer) and old is not layer:
            tracker.untrack(old)
        setattr(parent, attribute, layer)
    finally:
        if locked:
            tracker.lock()


def _attributes(layer: keras.layers.Layer) -> dict[str, Any]:
    """A layer's attributes by name, including the sub-layers Keras' PyTorch backend keeps apart.

    On that backend a Keras layer is a ``torch.nn.Module``, which holds its sub-layers in
    ``_modules`` rather than in the instance's ``__dict__``.
    """
    found = dict(vars(layer))
    found.update(vars(layer).get("_modules") or {})
    return found


def _children(layer: keras.layers.Layer) -> Iterator[tuple[str, keras.layers.Layer]]:
    """Public attributes holding layers (or lists of layers), like torch's named_children.

    One trailing underscore is dropped from the name (see :func:`attribute_name`).
    """
    for name, value in _attributes(layer).items():
        if name.startswith("_"):
            continue
        if name.endswith("_"):
            name = name[:-1]
        if isinstance(value, keras.layers.Layer):
            yield name, value
        elif isinstance(value, (list, tuple)) and value and all(isinstance(v, keras.layers.Layer) for v in value):
            for index, item in enumerate(value):
                yield f"{name}.{index}", item


def named_canonical_weights(layer: keras.layers.Layer, prefix: str = "") -> dict[str, CanonicalWeight]:
    """Canonical name -> :class:`CanonicalWeight` for every weight under ``layer``.

    A layer with a ``canonical_weights()`` method is a leaf and names its own weights (the
    empty name ``""`` is the leaf itself: see :class:`Parameter`); any other layer
    contributes the attribute names leading to its leaves (``output_`` counts as ``output``).
    """
    if hasattr(layer, "canonical_weights"):
        return {f"{prefix}{name}" if name else prefix[:-1]: weight for name, weight in layer.canonical_weights().items()}
    weights: dict[str, CanonicalWeight] = {}
    for name, child in _children(layer):
        weights.update(named_canonical_weights(child, f"{prefix}{name}."))
    return weights


def iter_layers(layer: keras.layers.Layer) -> Iterator[keras.layers.Layer]:
    """``layer`` and every layer under it (through the same attributes as the canonical names)."""
    yield layer
    if hasattr(layer, "canonical_weights"):
        return
    for _, child in _children(layer):
        yield from iter_layers(child)


# ---- leaves: layers with canonical weights ---------------------------------------------
class Linear(keras.layers.Layer):
    """``y = x @ kernel + bias``: a PyTorch ``nn.Linear`` stored the Keras way.

    The kernel is ``(in_features, out_features)`` like ``keras.layers.Dense``; its
    canonical name is ``weight`` in PyTorch's ``(out, in)`` layout, hence ``transpose``.
    Sizes are explicit (as in PyTorch) so the weights exist before any call.
    """

    def __init__(self, in_features: int, out_features: int, *, initializer_range: float = 0.02, use_bias: bool = True,
                 **kwargs):
        super().__init__(**kwargs)
        self.in_features, self.out_features = in_features, out_features
        self.initializer_range = initializer_range
        self._kernel_init = normal_initializer(initializer_range)
        self.kernel = self.add_weight(shape=(in_features, out_features), initializer=self._kernel_init, name="kernel")
        self.bias = self.add_weight(shape=(out_features,), initializer="zeros", name="bias") if use_bias else None
        self.built = True

    def call(self, x):
        y = ops.matmul(x, self.kernel)
        return y + self.bias if self.bias is not None else y

    def canonical_weights(self) -> dict[str, CanonicalWeight]:
        weights = {"weight": CanonicalWeight(self.kernel, self._kernel_init, transpose=True)}
        if self.bias is not None:
            weights["bias"] = CanonicalWeight(self.bias, constant_initializer(0.0))
        return weights


def prune_linear(layer: Linear, index: np.ndarray, dim: int = 0) -> Linear:
    """A new Linear keeping only ``index`` along ``dim`` of the canonical weight (0: outputs, 1: inputs).

    ``dim`` counts as in PyTorch's ``(out, in)`` weight, so the same index prunes the same
    features in every framework; the Keras kernel is ``(in, out)``.
    """
    kernel = ops.convert_to_numpy(layer.kernel)
    kernel = kernel[:, index] if dim == 0 else kernel[index, :]
    new = Linear(kernel.shape[0], kernel.shape[1], initializer_range=layer.initializer_range,
                 use_bias=layer.bias is not None, dtype=layer.dtype_policy, trainable=layer.trainable)
    new.kernel.assign(kernel)
    if layer.bias is not None:
        bias = ops.convert_to_numpy(layer.bias)
        new.bias.assign(bias[index] if dim == 0 else bias)
    return new


class Conv2d(keras.layers.Layer):
    """A PyTorch ``nn.Conv2d`` (no padding) on channels-last images: ``(batch, height, width, in)`` -> ``(..., out)``.

    Channels last is what TensorFlow convolves on CPU; callers holding channels-first images
    (as PyTorch and the image processors give them) transpose first, as :class:`PatchEmbeddings`
    does. The kernel is held in the checkpoint's layout, PyTorch's ``(out, in, kernel_h,
    kernel_w)``, and turned to TensorFlow's ``(kernel_h, kernel_w, in, out)`` at each call (a
    transpose XLA folds away): a Keras-layout kernel would not map to the checkpoint by one
    reversal of its axes (:class:`CanonicalWeight`'s ``transpose``) when the kernel is not square.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, *, initializer_range: float = 0.02,
                 use_bias: bool = True, **kwargs):
        super().__init__(**kwargs)
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride = to_pair(kernel_size), to_pair(stride)
        self._kernel_init = normal_initializer(initializer_range)
        self.kernel = self.add_weight(shape=(out_channels, in_channels, *self.kernel_size),
                                      initializer=self._kernel_init, name="kernel")
        self.bias = self.add_weight(shape=(out_channels,), initializer="zeros", name="bias") if use_bias else None
        self.built = True

    def call(self, x):
        kernel = ops.transpose(self.kernel, (2, 3, 1, 0))
        y = ops.conv(x, kernel, strides=self.stride, padding="valid", data_format="channels_last")
        return y + self.bias if self.bias is not None else y

    def canonical_weights(self) -> dict[str, CanonicalWeight]:
        weights = {"weight": CanonicalWeight(self.kernel, self._kernel_init)}
        if self.bias is not None:
            weights["bias"] = CanonicalWeight(self.bias, constant_initializer(0.0))
        return weights


class Conv1d(keras.layers.Layer):
    """A PyTorch ``nn.Conv1d`` on time-major frames: ``(batch, time, in)`` -> ``(batch, frames, out)``.

    Time-major is how the transformer reads frames and how TensorFlow convolves. ``padding``
    zeros are added at both ends of time (PyTorch's integer padding); ``groups`` splits the
    channels into independent groups. The weight is held in the checkpoint's layout, PyTorch's
    ``(out, in // groups, kernel)``, and turned to TensorFlow's ``(kernel, in // groups, out)``
    at each call (as :class:`Conv2d` does).

    ``weight_norm_dim`` (PyTorch's ``weight_norm(conv, dim=...)``) stores the weight as a size
    ``g`` per index of that axis and a direction ``v``: ``weight = g * v / ||v||``, the norm over
    the other axes. Their canonical names are PyTorch's parametrization's,
    ``parametrizations.weight.original0`` (``g``) and ``original1`` (``v``). ``g`` starts as the
    norm of ``v`` as it is then, so a fresh weight is ``v``.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1, *, padding: int = 0,
                 groups: int = 1, use_bias: bool = True, weight_norm_dim: int | None = None,
                 initializer_range: float = 0.02, **kwargs):
        super().__init__(**kwargs)
        if in_channels % groups or out_channels % groups:
            raise ValueError(f"Conv1d channels ({in_channels} in, {out_channels} out) must be divisible by "
                             f"groups={groups}")
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        self.weight_norm_dim = weight_norm_dim
        shape = (out_channels, in_channels // groups, kernel_size)
        self._kernel_init = normal_initializer(initializer_range)
        self.kernel = self.add_weight(shape=shape, initializer=self._kernel_init, name="kernel")
        self.norm = None
        if weight_norm_dim is not None:
            norm_shape = tuple(size if axis == weight_norm_dim else 1 for axis, size in enumerate(shape))
            self.norm = self.add_weight(shape=norm_shape, initializer="ones", name="norm")
            self.norm.assign(self._direction_norm())
        self.bias = self.add_weight(shape=(out_channels,), initializer="zeros", name="bias") if use_bias else None
        self.built = True

    def _direction_norm(self):
        """``||v||`` over every axis but ``weight_norm_dim``, kept as size-1 axes."""
        axes = [axis for axis in range(3) if axis != self.weight_norm_dim]
        return ops.sqrt(ops.sum(ops.square(self.kernel), axis=axes, keepdims=True))

    def weight(self):
        """The convolution weight ``(out, in // groups, kernel)``: the kernel, or ``g * v / ||v||``."""
        if self.norm is None:
            return self.kernel
        return self.kernel * (self.norm / self._direction_norm())

    def call(self, x):
        if self.padding:
            x = ops.pad(x, [[0, 0], [self.padding, self.padding], [0, 0]])
        kernel = ops.transpose(self.weight(), (2, 1, 0))
        if self.groups == 1:
            y = ops.conv(x, kernel, strides=self.stride, padding="valid", data_format="channels_last")
        else:
            # One convolution per group, concatenated: Keras' own grouped convolution on TensorFlow wraps
            # each call in a new XLA-compiled function (TensorFlow's CPU kernel lacks groups), so every
            # eager call would compile again (and log a retracing warning).
            xs, kernels = ops.split(x, self.groups, axis=-1), ops.split(kernel, self.groups, axis=-1)
            y = ops.concatenate([ops.conv(part, k, strides=self.stride, padding="valid", data_format="channels_last")
                                 for part, k in zip(xs, kernels)], axis=-1)
        return y + self.bias if self.bias is not None else y

    def canonical_weights(self) -> dict[str, CanonicalWeight]:
        if self.norm is None:
            weights = {"weight": CanonicalWeight(self.kernel, self._kernel_init)}
        else:
            weights = {
                "parametrizations.weight.original0": CanonicalWeight(
                    self.norm, lambda shape, dtype=None: self._direction_norm()),
                "parametrizations.weight.original1": CanonicalWeight(self.kernel, self._kernel_init),
            }
        if self.bias is not None:
            weights["bias"] = CanonicalWeight(self.bias, constant_initializer(0.0))
        return weights


class LayerNorm(keras.layers.Layer):
    """PyTorch's ``nn.LayerNorm`` over the last axis: biased variance, ``eps`` inside the square root."""

    def __init__(self, dim: int, *, eps: float = 1e-12, **kwargs):
        super().__init__(**kwargs)
        self.eps = eps
        self.weight = self.add_weight(shape=(dim,), initializer="ones", name="weight")
        self.bias = self.add_weight(shape=(dim,), initializer="zeros", name="bias")
        self.built = True

    def call(self, x):
        mean, variance = ops.moments(x, axes=[-1], keepdims=True)
        return (x - mean) * ops.rsqrt(variance + self.eps) * self.weight + self.bias

    def canonical_weights(self) -> dict[str, CanonicalWeight]:
        return {
            "weight": CanonicalWeight(self.weight, constant_initializer(1.0)),
            "bias": CanonicalWeight(self.bias, constant_initializer(0.0)),
        }


class GroupNorm(keras.layers.Layer):
    """PyTorch's ``nn.GroupNorm`` on time-major frames ``(batch, time, channels)``.

    The channels are split into ``num_groups`` groups; each example's group is normalised over
    time and its channels (biased variance, ``eps`` inside the square root), then scaled and
    shifted per channel. With one group per channel (wav2vec2-base's first convolution) each
    channel is normalised over time.
    """

    def __init__(self, num_groups: int, num_channels: int, *, eps: float = 1e-5, **kwargs):
        super().__init__(**kwargs)
        if num_channels % num_groups:
            raise ValueError(f"GroupNorm num_channels={num_channels} must be divisible by num_groups={num_groups}")
        self.num_groups, self.eps = num_groups, eps
        self.weight = self.add_weight(shape=(num_channels,), initializer="ones", name="weight")
        self.bias = self.add_weight(shape=(num_channels,), initializer="zeros", name="bias")
        self.built = True

    def call(self, x):
        batch, time, channels = ops.shape(x)
        grouped = ops.reshape(x, (batch, time, self.num_groups, channels // self.num_groups))
        mean, variance = ops.moments(grouped, axes=[1, 3], keepdims=True)
        normed = ops.reshape((grouped - mean) * ops.rsqrt(variance + self.eps), (batch, time, channels))
        return normed * self.weight + self.bias

    def canonical_weights(self) -> dict[str, CanonicalWeight]:
        return {
            "weight": CanonicalWeight(self.weight, constant_initializer(1.0)),
            "bias": CanonicalWeight(self.bias, constant_initializer(0.0)),
        }


class Embedding(keras.layers.Layer):
    """A lookup table ``(num_embeddings, dim)``, canonical name ``weight`` (same layout as PyTorch).

    ``initializer`` defaults to N(0, ``initializer_range``) with the ``padding_idx`` row
    zeroed; :class:`Embeddings` passes the fixed sinusoidal table for its positions (and
    ``trainable=False``, as PyTorch freezes it).
    """

    def __init__(self, num_embeddings: int, dim: int, *, initializer_range: float = 0.02,
                 padding_idx: int | None = None, initializer: Initializer | None = None, **kwargs):
        super().__init__(**kwargs)
        self.initializer_range = initializer_range
        self.padding_idx = padding_idx
        self._init = initializer or normal_initializer(initializer_range, padding_idx)
        self.embeddings = self.add_weight(shape=(num_embeddings, dim), initializer=self._init, name="embeddings",
                                          trainable=self.trainable)
        self.built = True

    @property
    def num_embeddings(self) -> int:
        return int(self.embeddings.shape[0])

    def call(self, ids):
        return ops.take(self.embeddings, ids, axis=0)

    def canonical_weights(self) -> dict[str, CanonicalWeight]:
        return {"weight": CanonicalWeight(self.embeddings, self._init)}

    def resize(self, new_num: int) -> None:
        """Keep the first ``new_num`` rows; new rows are drawn N(0, initializer_range).

        The layer stays (a tied projection reads its table at every call); its variable is
        replaced, since Keras variables have a fixed shape: compile the model again before training.
        """
        old = ops.convert_to_numpy(self.embeddings)
        rows = np.random.normal(0.0, self.initializer_range, size=(max(new_num - len(old), 0), old.shape[1]))
        value = np.concatenate([old[:new_num], rows.astype(old.dtype)])
        self._init = normal_initializer(self.initializer_range,
                                        self.padding_idx if self.padding_idx is not None and self.padding_idx < new_num
                                        else None)
        trainable = self.embeddings.trainable
        del self.embeddings  # untracks the old variable
        self.embeddings = self.add_weight(shape=value.shape, initializer="zeros", name="embeddings", trainable=trainable)
        self.embeddings.assign(value)


class Parameter(keras.layers.Layer):
    """One free-standing weight, named by the attribute that holds it, like ``torch.nn.Parameter``.

    For weights that belong to no Linear / LayerNorm / Embedding: BERT's
    ``cls.predictions.bias``, a ViT ``cls_token``. Its canonical name is the attribute
    path itself (``cls.predictions.bias``), hence the empty name in :meth:`canonical_weights`.
    """

    def __init__(self, shape: tuple[int, ...], *, initializer: Initializer | None = None, **kwargs):
        super().__init__(**kwargs)
        self._init = initializer or constant_initializer(0.0)
        self.variable = self.add_weight(shape=tuple(shape), initializer=self._init, name="value")
        self.built = True

    def call(self, inputs=None):
        return self.variable

    def canonical_weights(self) -> dict[str, CanonicalWeight]:
        return {"": CanonicalWeight(self.variable, self._init)}

    def resize(self, new_num: int) -> None:
        """Keep the first ``new_num`` entries of the first axis; new entries come from the initializer.

        The variable is replaced (Keras variables have a fixed shape): compile again before training.
        """
        old = ops.convert_to_numpy(self.variable)
        extra = max(new_num - len(old), 0)
        rows = ops.convert_to_numpy(self._init((extra,) + old.shape[1:])).astype(old.dtype)
        value = np.concatenate([old[:new_num], rows])
        del self.variable  # untracks the old variable
        self.variable = self.add_weight(shape=value.shape, initializer="zeros", name="value")
        self.variable.assign(value)


class OutputProjection(keras.layers.Layer):
    """Hidden states -> vocabulary logits, ``x @ W.T + bias`` with ``W`` of shape ``(vocab, dim)``.

    With ``embedding`` given, ``W`` *is* that layer's table (tied weights, as in a masked-LM
    head); its canonical ``weight`` name then points at the shared variable, and the model
    lists it in ``tied_weights`` so it is saved once. Without, the projection has its own
    ``W``, in the same layout. Likewise ``bias`` may be a :class:`Parameter` held elsewhere
    (BERT's ``cls.predictions.decoder.bias`` *is* ``cls.predictions.bias``); by default the
    projection has its own.
    """

    def __init__(self, vocab_size: int, dim: int, *, embedding: Embedding | None = None, bias: Parameter | None = None,
                 initializer_range: float = 0.02, **kwargs):
        super().__init__(**kwargs)
        self.embedding = embedding
        self._init = normal_initializer(initializer_range)
        self.initializer_range = initializer_range
        self.weight = None
        if embedding is None:
            self.weight = self.add_weight(shape=(vocab_size, dim), initializer=self._init, name="weight")
        self.bias_parameter = bias if bias is not None else Parameter((vocab_size,), dtype=self.dtype_policy, name="bias")
        self.built = True

    @property
    def bias(self) -> keras.Variable:
        return self.bias_parameter.variable

    def _matrix(self):
        return self.embedding.embeddings if self.embedding is not None else self.weight

    def call(self, x):
        return ops.matmul(x, ops.transpose(self._matrix())) + self.bias

    def canonical_weights(self) -> dict[str, CanonicalWeight]:
        init = self.embedding._init if self.embedding is not None else self._init
        return {
            "weight": CanonicalWeight(self._matrix(), init),
            "bias": CanonicalWeight(self.bias, constant_initializer(0.0)),
        }

    def resize(self, new_num: int) -> None:
        """Follow a resized vocabulary: the bias keeps its entries (new ones 0); an own ``W`` gets new rows N(0, std).

        A tied ``W`` follows its embedding layer by itself. Variables are replaced: compile again before training.
        """
        self.bias_parameter.resize(new_num)
        if self.embedding is None:
            old = ops.convert_to_numpy(self.weight)
            rows = np.random.normal(0.0, self.initializer_range, size=(max(new_num - len(old), 0), old.shape[1]))
            value = np.concatenate([old[:new_num], rows.astype(old.dtype)])
            del self.weight  # untracks the old variable
            self.weight = self.add_weight(shape=value.shape, initializer="zeros", name="weight")
            self.weight.assign(value)


# ---- activations ------------------------------------------------------------------
def _gelu(x):
    """Exact GELU, ``x * Phi(x)`` with the error function (PyTorch's default)."""
    return 0.5 * x * (1.0 + ops.erf(x / math.sqrt(2.0)))


def _gelu_tanh(x):
    """GELU's tanh approximation (``gelu_new``, ``gelu_pytorch_tanh``)."""
    return 0.5 * x * (1.0 + ops.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * ops.power(x, 3.0))))


def _gelu_fast(x):
    return 0.5 * x * (1.0 + ops.tanh(x * 0.7978845608 * (1.0 + 0.044715 * x * x)))


def _quick_gelu(x):
    return x * ops.sigmoid(1.702 * x)


def _silu(x):
    return x * ops.sigmoid(x)


def _identity(x):
    return x


_ACTIVATIONS: dict[str, Callable] = {
    "gelu": _gelu,
    "gelu_new": _gelu_tanh,
    "gelu_fast": _gelu_fast,
    "gelu_pytorch_tanh": _gelu_tanh,
    "quick_gelu": _quick_gelu,
    "relu": ops.relu,
    "silu": _silu,
    "swish": _silu,
    "tanh": ops.tanh,
    "sigmoid": ops.sigmoid,
    "linear": _identity,
}
assert set(_ACTIVATIONS) == set(ACTIVATIONS), "every configurable activation needs a Keras implementation"


def get_activation(name: str) -> Callable:
    """The activation function for a config's activation name (see ``ACTIVATIONS``)."""
    try:
        return _ACTIVATIONS[name]
    except KeyError:
        raise ValueError(f"unknown activation {name!r}; expected one of {', '.join(ACTIVATIONS)}") from None


# ---- masks ----------------------------------------------------------------------------
def expand_attention_mask(attention_mask, input_shape: tuple, dtype):
    """``(batch, seq)`` padding mask of 1 (attend) / 0 (padding) -> additive ``(batch, 1, 1, seq)`` bias.

    The bias is 0 where a key may be attended and ``dtype``'s lowest value where not; it is
    added to the attention scores before the softmax, as ``transformers``' eager attention does.
    The mask is checked first against ``input_shape`` (the ``(batch, seq)`` of the inputs) and,
    when running eagerly, for values other than 0 and 1.
    """
    if attention_mask is None:
        return None
    inputs.check_attention_mask(input_facts("attention_mask", attention_mask), tuple(input_shape))
    mask = ops.cast(attention_mask, dtype)[:, None, None, :]
    return (1.0 - mask) * engine.lowest(dtype)


def expand_head_mask(head_mask, num_layers: int, dtype) -> list:
    """A head mask of shape ``(heads,)`` or ``(layers, heads)`` -> one ``(1, heads, 1, 1)`` mask per layer.

    1.0 keeps a head, 0.0 silences it (its attention weights are multiplied by the value).
    """
    if head_mask is None:
        return [None] * num_layers
    head_mask = ops.cast(head_mask, dtype)
    if len(head_mask.shape) == 1:
        head_mask = ops.broadcast_to(head_mask[None, :], (num_layers, head_mask.shape[0]))
    if len(head_mask.shape) != 2 or head_mask.shape[0] != num_layers:
        raise ValueError(f"head_mask must have shape (heads,) or ({num_layers}, heads), got {tuple(head_mask.shape)}")
    return [head_mask[index][None, :, None, None] for index in range(num_layers)]


# ---- attention -------------------------------------------------------------------------
def attention(query, key, value, mask=None, *, dropout: keras.layers.Layer | None = None, head_mask=None,
              output_attentions: bool = False):
    """Scaled dot-product attention over ``(batch, heads, seq, head_dim)`` tensors, with an explicit softmax.

    ``mask`` is an additive bias (:func:`expand_attention_mask`). ``dropout`` is the layer that
    drops attention weights (it knows whether the model is training). A query with no key to
    attend to gets zero weights and a zero context, as PyTorch's fused attention gives. The
    scores are multiplied by ``head_dim ** -0.5``, as ``transformers``' eager attention does.
    Returns the context and, when asked, the weights (after dropout and head mask, as PyTorch
    returns them).
    """
    scores = ops.matmul(query, ops.swapaxes(key, -1, -2)) * (query.shape[-1] ** -0.5)
    if mask is not None:
        scores = scores + mask
    weights = ops.softmax(scores, axis=-1)
    if mask is not None:
        # A query whose every key is masked (a fully padded sequence) attends to nothing, as in
        # PyTorch's fused attention: zero weights and context, not the softmax's uniform average.
        has_key = ops.max(mask, axis=-1, keepdims=True) >= 0
        weights = weights * ops.cast(has_key, weights.dtype)
    if dropout is not None:
        weights = dropout(weights)
    if head_mask is not None:
        weights = weights * head_mask
    return ops.matmul(weights, value), (weights if output_attentions else None)


class Block(keras.layers.Layer):
    """Base of the blocks made of other layers: built at once, children built like the block.

    ``initializer_range`` is the std of the N(0, std) initialisation of the Linear and
    Embedding weights inside; :attr:`options` hands it, with the block's dtype policy, to the
    children it builds. The ``mask`` a block takes is an attention bias, not a Keras mask:
    :meth:`compute_mask` says so, and Keras neither passes it on nor warns about it.
    """

    def __init__(self, *, initializer_range: float = 0.02, **kwargs):
        super().__init__(**kwargs)
        self.initializer_range = initializer_range
        self.built = True  # every weight is made in __init__

    @property
    def options(self) -> dict[str, Any]:
        """What a child layer is built with: this block's dtype policy and ``initializer_range``."""
        return {"dtype": self.dtype_policy, "initializer_range": self.initializer_range}

    def compute_mask(self, inputs, previous_mask=None):
        return None


class MultiHeadSelfAttention(Block):
    """Multi-head self-attention whose projection names follow the architecture's checkpoints.

    ``names`` are the attribute names of the query, key and value linears, ``output_name``
    that of the output linear (DistilBERT: ``q_lin``, ``k_lin``, ``v_lin``, ``out_lin``). With
    ``output_name=None`` there is none: the caller owns it (BERT keeps it in
    ``attention.output.dense``, see :class:`AttentionBlock`) and prunes its input columns with
    the index :meth:`prune_heads` returns. ``num_heads`` is the layer's original head count;
    ``pruned_heads`` (original numbers) are left out from the start, as a pruned checkpoint
    stores them. ``bias=False`` leaves the query/key/value biases out (ViT's ``qkv_bias``).
    """

    def __init__(self, hidden_size: int, num_heads: int, *, pruned_heads: Iterable[int] = (), dropout: float = 0.0,
                 bias: bool = True, names: tuple[str, str, str] = ("query", "key", "value"),
                 output_name: str | None = None, initializer_range: float = 0.02, **kwargs):
        super().__init__(initializer_range=initializer_range, **kwargs)
        if hidden_size % num_heads:
            raise ValueError(f"hidden_size={hidden_size} must be divisible by num_heads={num_heads}")
        self.head_size = hidden_size // num_heads
        self.original_num_heads = num_heads
        self.pruned_heads: set[int] = {int(h) for h in pruned_heads}
        self.num_heads = num_heads - len(self.pruned_heads)
        if self.num_heads <= 0:
            raise ValueError(f"cannot prune every head of an attention layer (it has {num_heads})")
        self.names = tuple(names)
        self.output_name = output_name
        inner = self.num_heads * self.head_size
        for name in self.names:
            set_layer(self, name, Linear(hidden_size, inner, use_bias=bias, **self.options))
        if output_name is not None:
            set_layer(self, output_name, Linear(inner, hidden_size, **self.options))
        self.dropout = keras.layers.Dropout(dropout, dtype=self.dtype_policy)

    def _split(self, x):
        """``(batch, seq, heads * head_size)`` -> ``(batch, heads, seq, head_size)``."""
        x = ops.reshape(x, (ops.shape(x)[0], -1, self.num_heads, self.head_size))
        return ops.transpose(x, (0, 2, 1, 3))

    def call(self, hidden_states, mask=None, head_mask=None, output_attentions=False):
        """``(batch, seq, hidden)`` -> (``(batch, seq, hidden or heads * head_size)``, attention weights or None)."""
        query, key, value = (self._split(getattr(self, attribute_name(name))(hidden_states)) for name in self.names)
        context, weights = attention(query, key, value, mask, dropout=self.dropout, head_mask=head_mask,
                                     output_attentions=output_attentions)
        context = ops.transpose(context, (0, 2, 1, 3))
        context = ops.reshape(context, (ops.shape(context)[0], -1, self.num_heads * self.head_size))
        if self.output_name is not None:
            context = getattr(self, attribute_name(self.output_name))(context)
        return context, weights

    def prune_heads(self, heads: Iterable[int]) -> np.ndarray | None:
        """Remove ``heads`` (original numbering) for good; returns the kept feature index, or None if nothing changed.

        The projections are replaced by smaller ones: compile the model again before training it.
        """
        heads = {int(h) for h in heads} - self.pruned_heads
        if not heads:
            return None
        if len(heads) >= self.num_heads:
            raise ValueError(f"cannot prune every head of an attention layer (it has {self.num_heads} left)")
        index = kept_head_features(self.original_num_heads, self.head_size, self.pruned_heads, heads)
        for name in self.names:
            set_layer(self, name, prune_linear(getattr(self, attribute_name(name)), index, dim=0))
        if self.output_name is not None:
            set_layer(self, self.output_name, prune_linear(getattr(self, attribute_name(self.output_name)), index, dim=1))
        self.num_heads -= len(heads)
        self.pruned_heads |= heads
        return index


class AttentionBlock(Block):
    """Self-attention (at ``self_name``: BERT's ``self``, ViT's ``attention``) and its ``output`` sub-layer.

    ``output`` is :class:`DenseAddNorm`: ``LayerNorm(dropout(dense(context)) + residual)``
    (post-norm, BERT), or without the LayerNorm ``dropout(dense(context)) + residual``
    (``layer_norm=False``, for a pre-norm layer such as ViT's, which passes its un-normed
    input as ``residual``). Pruning heads prunes ``output.dense``'s input columns too.
    """

    def __init__(self, hidden_size: int, num_heads: int, *, pruned_heads: Iterable[int] = (),
                 attention_dropout: float = 0.0, dropout: float = 0.0, layer_norm_eps: float = 1e-12,
                 layer_norm: bool = True, bias: bool = True, self_name: str = "self", initializer_range: float = 0.02,
                 **kwargs):
        super().__init__(initializer_range=initializer_range, **kwargs)
        self.self_name = self_name
        attention_layer = MultiHeadSelfAttention(hidden_size, num_heads, pruned_heads=pruned_heads,
                                                 dropout=attention_dropout, bias=bias, **self.options)
        set_layer(self, self_name, attention_layer)
        inner = attention_layer.num_heads * attention_layer.head_size
        set_layer(self, "output", DenseAddNorm(inner, hidden_size, dropout=dropout, layer_norm_eps=layer_norm_eps,
                                               layer_norm=layer_norm, **self.options))

    def call(self, hidden_states, mask=None, head_mask=None, output_attentions=False, residual=None):
        """``residual`` defaults to ``hidden_states`` (post-norm); a pre-norm layer passes its input before the norm."""
        context, weights = getattr(self, attribute_name(self.self_name))(
            hidden_states, mask=mask, head_mask=head_mask, output_attentions=output_attentions)
        return self.output_(context, hidden_states if residual is None else residual), weights

    def prune_heads(self, heads: Iterable[int]) -> None:
        index = getattr(self, attribute_name(self.self_name)).prune_heads(heads)
        if index is not None:
            set_layer(self.output_, "dense", prune_linear(self.output_.dense, index, dim=1))


# ---- feed-forward ----------------------------------------------------------------------
class Intermediate(Block):
    """The widening half of a BERT-family feed-forward: ``activation(dense(x))``."""

    def __init__(self, hidden_size: int, intermediate_size: int, activation: str, *, initializer_range: float = 0.02,
                 **kwargs):
        super().__init__(initializer_range=initializer_range, **kwargs)
        self.dense = Linear(hidden_size, intermediate_size, **self.options)
        self.activation = get_activation(activation)

    def call(self, hidden_states):
        return self.activation(self.dense(hidden_states))


class DenseAddNorm(Block):
    """``LayerNorm(dropout(dense(x)) + residual)``: the output sub-layer of the BERT family.

    BERT, RoBERTa, ELECTRA... end both their attention and their feed-forward with it
    (``attention.output`` and ``output`` in their checkpoints), hence the attribute names
    ``dense``, ``dropout`` and ``LayerNorm``. ``layer_norm=False`` leaves the LayerNorm out:
    ``dropout(dense(x)) + residual``, a pre-norm model's sub-layer output (ViT).
    """

    def __init__(self, in_features: int, hidden_size: int, *, dropout: float = 0.0, layer_norm_eps: float = 1e-12,
                 layer_norm: bool = True, initializer_range: float = 0.02, **kwargs):
        super().__init__(initializer_range=initializer_range, **kwargs)
        self.dense = Linear(in_features, hidden_size, **self.options)
        self.dropout = keras.layers.Dropout(dropout, dtype=self.dtype_policy)
        self.LayerNorm = LayerNorm(hidden_size, eps=layer_norm_eps, dtype=self.dtype_policy) if layer_norm else None

    def call(self, hidden_states, residual):
        summed = self.dropout(self.dense(hidden_states)) + residual
        return self.LayerNorm(summed) if self.LayerNorm is not None else summed


class FeedForward(Block):
    """``dropout(out(activation_dropout(activation(in(x)))))``, its two linears named by ``names``.

    ``chunk_size`` > 0 runs the block on slices of ``chunk_size`` positions to bound memory
    (the result is the same), as ``config.chunk_size_feed_forward`` asks (see :func:`apply_chunked`).
    """

    def __init__(self, hidden_size: int, intermediate_size: int, activation: str, *, dropout: float = 0.0,
                 activation_dropout: float = 0.0, names: tuple[str, str] = ("lin1", "lin2"), chunk_size: int = 0,
                 initializer_range: float = 0.02, **kwargs):
        super().__init__(initializer_range=initializer_range, **kwargs)
        self.names = tuple(names)
        set_layer(self, self.names[0], Linear(hidden_size, intermediate_size, **self.options))
        set_layer(self, self.names[1], Linear(intermediate_size, hidden_size, **self.options))
        self.activation = get_activation(activation)
        self.activation_dropout = keras.layers.Dropout(activation_dropout, dtype=self.dtype_policy)
        self.dropout = keras.layers.Dropout(dropout, dtype=self.dtype_policy)
        self.chunk_size = chunk_size

    def _block(self, x):
        hidden = self.activation_dropout(self.activation(getattr(self, attribute_name(self.names[0]))(x)))
        return self.dropout(getattr(self, attribute_name(self.names[1]))(hidden))

    def call(self, x):
        return apply_chunked(self._block, self.chunk_size, x)


def apply_chunked(fn: Callable, chunk_size: int, x):
    """``fn(x)`` computed on slices of ``chunk_size`` positions (axis 1) when ``chunk_size`` > 0.

    For position-wise blocks (feed-forward): the result is the same, the peak memory of the
    block's hidden layer is bounded (``config.chunk_size_feed_forward``). The slices are cut
    where the sequence length is known when the model is traced (always when running eagerly,
    and under ``tf.function`` unless its input signature leaves the length open, in which case
    the block runs whole: same numbers, without the bound).
    """
    length = x.shape[1]
    if chunk_size and length is not None and length > chunk_size:
        parts = [fn(x[:, start:start + chunk_size]) for start in range(0, length, chunk_size)]
        return ops.concatenate(parts, axis=1)
    return fn(x)


# ---- the transformer layer ---------------------------------------------------------------
class TransformerLayer(Block):
    """Self-attention and a feed-forward, each with a residual and a LayerNorm, post- or pre-norm.

    Post-norm (``norm_first=False``: DistilBERT, Wav2Vec2)::

        x = attention_norm(x + attention_output_dropout(attention(x)))
        x = output_norm(x + feed_forward(x))

    Pre-norm (``norm_first=True``: Wav2Vec2 with ``do_stable_layer_norm``)::

        x = x + attention_output_dropout(attention(attention_norm(x)))
        x = x + feed_forward(output_norm(x))

    ``dropout`` is the feed-forward's output dropout, ``activation_dropout`` the one after its
    activation, ``attention_dropout`` the one on the attention probabilities.
    """

    def __init__(self, hidden_size: int, num_heads: int, intermediate_size: int, activation: str, *,
                 pruned_heads: Iterable[int] = (), norm_first: bool = False, dropout: float = 0.0,
                 attention_dropout: float = 0.0, attention_output_dropout: float = 0.0,
                 activation_dropout: float = 0.0, layer_norm_eps: float = 1e-12, chunk_size: int = 0,
                 names: LayerNames = LayerNames(), initializer_range: float = 0.02, **kwargs):
        super().__init__(initializer_range=initializer_range, **kwargs)
        self.names = names
        self.norm_first = norm_first
        *qkv, output = names.projections
        set_layer(self, names.attention, MultiHeadSelfAttention(
            hidden_size, num_heads, pruned_heads=pruned_heads, dropout=attention_dropout, names=tuple(qkv),
            output_name=output, **self.options,
        ))
        self.attention_output_dropout = keras.layers.Dropout(attention_output_dropout, dtype=self.dtype_policy)
        set_layer(self, names.attention_norm, LayerNorm(hidden_size, eps=layer_norm_eps, dtype=self.dtype_policy))
        set_layer(self, names.feed_forward, FeedForward(
            hidden_size, intermediate_size, activation, dropout=dropout, activation_dropout=activation_dropout,
            names=names.feed_forward_linears, chunk_size=chunk_size, **self.options,
        ))
        set_layer(self, names.output_norm, LayerNorm(hidden_size, eps=layer_norm_eps, dtype=self.dtype_policy))

    def call(self, hidden_states, mask=None, head_mask=None, output_attentions=False):
        names = self.names
        attention_layer, attention_norm, feed_forward, output_norm = (
            getattr(self, attribute_name(name))
            for name in (names.attention, names.attention_norm, names.feed_forward, names.output_norm)
        )
        if self.norm_first:
            attended, weights = attention_layer(attention_norm(hidden_states), mask=mask, head_mask=head_mask,
                                                output_attentions=output_attentions)
            hidden_states = self.attention_output_dropout(attended) + hidden_states
            return feed_forward(output_norm(hidden_states)) + hidden_states, weights
        attended, weights = attention_layer(hidden_states, mask=mask, head_mask=head_mask,
                                            output_attentions=output_attentions)
        hidden_states = attention_norm(self.attention_output_dropout(attended) + hidden_states)
        return output_norm(feed_forward(hidden_states) + hidden_states), weights

    def prune_heads(self, heads: Iterable[int]) -> None:
        getattr(self, attribute_name(self.names.attention)).prune_heads(heads)


# ---- embeddings ------------------------------------------------------------------------------
class Embeddings(Block):
    """Word + token-type + position embeddings, then an optional LayerNorm, and dropout.

    ``type_vocab_size=0`` leaves out the token-type table (DistilBERT); with it, missing
    ``token_type_ids`` mean type 0 everywhere (BERT). ``sinusoidal_positions=True`` fills the
    position table with the fixed sin/cos table and freezes it (DistilBERT's option).
    ``layer_norm=False`` leaves the LayerNorm out. Sums are taken in the order
    ``(word + type) + position``, as ``transformers`` does.
    """

    def __init__(self, vocab_size: int, hidden_size: int, max_position_embeddings: int, *, type_vocab_size: int = 0,
                 pad_token_id: int | None = None, layer_norm_eps: float = 1e-12, layer_norm: bool = True,
                 dropout: float = 0.0, sinusoidal_positions: bool = False, initializer_range: float = 0.02, **kwargs):
        super().__init__(initializer_range=initializer_range, **kwargs)
        self.word_embeddings = Embedding(vocab_size, hidden_size, padding_idx=pad_token_id, **self.options)
        if sinusoidal_positions:
            table = constant_initializer(sinusoidal_table(max_position_embeddings, hidden_size))
            self.position_embeddings = Embedding(max_position_embeddings, hidden_size, initializer=table,
                                                 trainable=False, **self.options)
        else:
            self.position_embeddings = Embedding(max_position_embeddings, hidden_size, **self.options)
        self.token_type_embeddings = (Embedding(type_vocab_size, hidden_size, **self.options)
                                      if type_vocab_size else None)
        self.LayerNorm = LayerNorm(hidden_size, eps=layer_norm_eps, dtype=self.dtype_policy) if layer_norm else None
        self.dropout = keras.layers.Dropout(dropout, dtype=self.dtype_policy)

    @property
    def limits(self) -> inputs.TextLimits:
        """The sizes of the tables, which bound the ids this block can embed."""
        return inputs.TextLimits(
            vocab_size=self.word_embeddings.num_embeddings,
            max_positions=self.position_embeddings.num_embeddings,
            hidden_size=int(self.word_embeddings.embeddings.shape[1]),
            type_vocab_size=self.token_type_embeddings.num_embeddings if self.token_type_embeddings is not None else 0,
        )

    def check_inputs(self, input_ids=None, token_type_ids=None, position_ids=None, inputs_embeds=None) -> None:
        """One clear error for inputs the tables cannot take (see :func:`polyformer.core.inputs.check_text_inputs`)."""
        inputs.check_text_inputs(
            self.limits,
            input_ids=input_facts("input_ids", input_ids),
            token_type_ids=input_facts("token_type_ids", token_type_ids),
            position_ids=input_facts("position_ids", position_ids),
            inputs_embeds=input_facts("inputs_embeds", inputs_embeds, values=False),
        )

    def call(self, input_ids=None, token_type_ids=None, position_ids=None, inputs_embeds=None):
        """``(batch, seq)`` ids, or ``(batch, seq, hidden)`` embeddings -> ``(batch, seq, hidden)``."""
        self.check_inputs(input_ids, token_type_ids, position_ids, inputs_embeds)
        # Keras has cast a given inputs_embeds to this block's dtype already.
        embeddings = self.word_embeddings(input_ids) if input_ids is not None else inputs_embeds
        if self.token_type_embeddings is not None:
            if token_type_ids is None:  # type 0 everywhere: one row, broadcast (same numbers as a lookup)
                embeddings = embeddings + self.token_type_embeddings.embeddings[0]
            else:
                embeddings = embeddings + self.token_type_embeddings(token_type_ids)
        if position_ids is None:
            position_ids = ops.arange(ops.shape(embeddings)[1])[None, :]
        embeddings = embeddings + self.position_embeddings(position_ids)
        if self.LayerNorm is not None:
            embeddings = self.LayerNorm(embeddings)
        return self.dropout(embeddings)


# ---- the encoder stack -------------------------------------------------------------------
class Encoder(Block):
    """The stack of layers (``layer.0``, ``layer.1``...): the loop every encoder runs.

    Takes the ``(batch, seq)`` 0/1 ``attention_mask`` as the user gives it (checked, then
    expanded once for every layer). Each layer is called as
    ``layer(hidden_states, mask=..., head_mask=..., output_attentions=...)`` and returns
    ``(hidden_states, attention weights or None)``. This block collects the hidden states
    (the input first) and attentions when asked, hands each layer its row of the head mask,
    and prunes heads layer by layer.

    ``list_name`` is what the checkpoints call the list of layers (``layer`` in BERT and
    DistilBERT, ``layers`` in Wav2Vec2; held as ``layers_``, see :func:`attribute_name`).
    ``layerdrop`` > 0 skips each layer with that probability while training (LayerDrop,
    https://arxiv.org/abs/1909.11556, drawn from this block's seed generator: see
    :func:`layer_drop`); a skipped layer passes its input on, which is then also its entry in
    the hidden states, so the hidden states always number ``layers + 1``.
    """

    def __init__(self, layers: Iterable[keras.layers.Layer], *, list_name: str = "layer", layerdrop: float = 0.0,
                 **kwargs):
        super().__init__(**kwargs)
        self.list_name = list_name
        setattr(self, attribute_name(list_name), list(layers))
        self.layerdrop = layerdrop
        self.seed_generator = keras.random.SeedGenerator()

    def stack(self) -> list[keras.layers.Layer]:
        """The list of layers, whatever ``list_name`` calls it."""
        return getattr(self, attribute_name(self.list_name))

    def call(self, hidden_states, attention_mask=None, head_mask=None, output_attentions=False,
             output_hidden_states=False, training=None):
        stack = self.stack()
        mask = expand_attention_mask(attention_mask, tuple(hidden_states.shape[:2]), hidden_states.dtype)
        head_masks = expand_head_mask(head_mask, len(stack), hidden_states.dtype)
        all_hidden = (hidden_states,) if output_hidden_states else None
        all_attentions = () if output_attentions else None
        dropping = bool(training) and self.layerdrop > 0.0
        for layer, layer_head_mask in zip(stack, head_masks):
            def run(states, layer=layer, layer_head_mask=layer_head_mask):
                return layer(states, mask=mask, head_mask=layer_head_mask, output_attentions=output_attentions)

            if dropping:
                hidden_states, weights = layer_drop(run, hidden_states, self.layerdrop, self.seed_generator)
            else:
                hidden_states, weights = run(hidden_states)
            if output_hidden_states:
                all_hidden += (hidden_states,)
            if output_attentions:
                all_attentions += (weights,)
        return BaseModelOutput(last_hidden_state=hidden_states, hidden_states=all_hidden, attentions=all_attentions)

    def prune_heads(self, heads_to_prune: dict[int, Iterable[int]]) -> None:
        """``{layer: heads}``: each layer prunes itself (its ``prune_heads``, or its ``attention``'s)."""
        for index, heads in heads_to_prune.items():
            layer = self.stack()[int(index)]
            (layer if hasattr(layer, "prune_heads") else layer.attention).prune_heads(heads)


def layer_drop(run: Callable, hidden_states, rate: float, seed_generator: keras.random.SeedGenerator):
    """LayerDrop of one layer while training: ``run(hidden_states)``, or, with probability ``rate``, the input kept.

    ``run`` returns ``(hidden_states, attention weights or None)``. The draw comes from
    ``seed_generator``, so ``keras.utils.set_random_seed`` makes it repeatable. Running eagerly, a
    skipped layer is not run and its weights are None (as in PyTorch). In a traced graph
    (``fit``, ``tf.function``, ``jax.jit``), where a draw cannot choose which code runs, the layer runs and
    its input is kept where the draw says skip (its weights zeroed): the same result and
    gradients (none for a skipped layer).
    """
    skip = keras.random.uniform((), seed=seed_generator) < rate
    if engine.holds_values(skip):
        return (hidden_states, None) if bool(skip) else run(hidden_states)
    new, weights = run(hidden_states)
    if weights is not None:
        weights = ops.where(skip, ops.zeros_like(weights), weights)
    return ops.where(skip, hidden_states, new), weights


class Pooler(Block):
    """``activation(dense(first position))``: the sentence (or image) vector of BERT and ViT."""

    def __init__(self, hidden_size: int, *, output_size: int | None = None, activation: str = "tanh",
                 initializer_range: float = 0.02, **kwargs):
        super().__init__(initializer_range=initializer_range, **kwargs)
        self.dense = Linear(hidden_size, output_size or hidden_size, **self.options)
        self.activation = get_activation(activation)

    def call(self, hidden_states):
        return self.activation(self.dense(hidden_states[:, 0]))


class PatchEmbeddings(Block):
    """``(batch, channels, height, width)`` images -> ``(batch, patches, hidden)``: a strided convolution.

    ``projection`` (a :class:`Conv2d` whose kernel and stride are the patch size) embeds each
    non-overlapping patch; patches are read row by row, pixels that fill no whole patch are
    left out. ``image_size`` is the size the model was built for (its position table's grid,
    :attr:`grid`); other sizes are the caller's business (ViT interpolates its positions). The
    images come channels first, as in PyTorch and from the image processors. The pixels are
    checked first (:func:`polyformer.core.inputs.check_pixel_values`) and cast to the dtype the
    weights compute in.
    """

    def __init__(self, image_size, patch_size, num_channels: int, hidden_size: int, *,
                 initializer_range: float = 0.02, **kwargs):
        super().__init__(initializer_range=initializer_range, **kwargs)
        self.image_size, self.patch_size = to_pair(image_size), to_pair(patch_size)
        self.num_channels = num_channels
        self.grid = patch_grid(self.image_size, self.patch_size)
        self.num_patches = self.grid[0] * self.grid[1]
        self.projection = Conv2d(num_channels, hidden_size, self.patch_size, self.patch_size, **self.options)

    def call(self, pixel_values):
        inputs.check_pixel_values(input_facts("pixel_values", pixel_values, values=False), self.num_channels,
                                  self.patch_size)
        pixel_values = ops.cast(pixel_values, self.compute_dtype)
        patches = self.projection(ops.transpose(pixel_values, (0, 2, 3, 1)))  # (batch, rows, columns, hidden)
        rows, columns, hidden = patches.shape[1:]
        if rows is not None and columns is not None:  # known when traced too, unless a signature leaves sizes open
            return ops.reshape(patches, (-1, rows * columns, hidden))
        return ops.reshape(patches, (ops.shape(patches)[0], -1, hidden))


# ---- speech ---------------------------------------------------------------------------------
#: What a :class:`ConvLayer` may normalise with (None: nothing).
CONV_NORMS = (None, "group", "layer")


class ConvLayer(Block):
    """``activation(norm(conv(x)))`` on ``(batch, time, channels)``: one layer of a convolutional feature encoder.

    ``norm`` is None, ``"group"`` (a :class:`GroupNorm` with one group per channel: each channel
    is normalised over time, as wav2vec2-base's first layer does) or ``"layer"`` (a LayerNorm
    over the channels of each frame). Attribute names are the checkpoints': ``conv`` (a
    :class:`Conv1d`, its weight ``(out, in, kernel)``), ``layer_norm``. The convolution's
    weights are drawn with He's spread, ``sqrt(2 / (in_channels * kernel_size))``, which keeps
    the variance through a stack of GELU layers (PyTorch's backend does the same).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int, *, bias: bool = False,
                 norm: str | None = None, activation: str = "gelu", layer_norm_eps: float = 1e-5,
                 initializer_range: float = 0.02, **kwargs):
        super().__init__(initializer_range=initializer_range, **kwargs)
        if norm not in CONV_NORMS:
            raise ValueError(f"ConvLayer norm must be one of {CONV_NORMS}, got {norm!r}")
        self.norm = norm
        self.conv = Conv1d(in_channels, out_channels, kernel_size, stride, use_bias=bias,
                           initializer_range=(2 / (in_channels * kernel_size)) ** 0.5, dtype=self.dtype_policy)
        if norm == "group":
            self.layer_norm = GroupNorm(out_channels, out_channels, eps=layer_norm_eps, dtype=self.dtype_policy)
        elif norm == "layer":
            self.layer_norm = LayerNorm(out_channels, eps=layer_norm_eps, dtype=self.dtype_policy)
        else:
            self.layer_norm = None
        self.activation = get_activation(activation)

    def output_lengths(self, lengths):
        return conv_output_length(lengths, [self.conv.kernel_size], [self.conv.stride])

    def call(self, hidden_states):
        """``(batch, time, in_channels)`` -> ``(batch, frames, out_channels)``."""
        hidden_states = self.conv(hidden_states)
        if self.layer_norm is not None:
            hidden_states = self.layer_norm(hidden_states)
        return self.activation(hidden_states)


class ConvFeatureEncoder(Block):
    """Raw waveforms ``(batch, samples)`` -> features ``(batch, frames, conv_dim[-1])``: a stack of :class:`ConvLayer`.

    One layer per entry of ``conv_dim`` / ``conv_kernel`` / ``conv_stride`` (``conv_layers.0``...).
    ``norm="group"`` puts a per-channel GroupNorm on the first layer only (wav2vec2-base);
    ``norm="layer"`` a LayerNorm on every layer (wav2vec2-large-lv60). :meth:`output_lengths`
    gives the frames of a waveform length, :attr:`receptive_field` the fewest samples that make a
    frame; :meth:`check_inputs` refuses shorter audio with an error naming that minimum.
    """

    def __init__(self, conv_dim: Iterable[int], conv_kernel: Iterable[int], conv_stride: Iterable[int], *,
                 bias: bool = False, norm: str = "group", activation: str = "gelu", initializer_range: float = 0.02,
                 **kwargs):
        super().__init__(initializer_range=initializer_range, **kwargs)
        conv_dim, self.conv_kernel, self.conv_stride = list(conv_dim), list(conv_kernel), list(conv_stride)
        if norm not in ("group", "layer"):
            raise ValueError(f"ConvFeatureEncoder norm must be 'group' or 'layer', got {norm!r}")
        if not len(conv_dim) == len(self.conv_kernel) == len(self.conv_stride):
            raise ValueError("conv_dim, conv_kernel and conv_stride need one entry per layer")
        channels = [1] + conv_dim
        self.conv_layers = [
            ConvLayer(channels[i], channels[i + 1], self.conv_kernel[i], self.conv_stride[i], bias=bias,
                      norm=("group" if i == 0 else None) if norm == "group" else "layer", activation=activation,
                      **self.options)
            for i in range(len(conv_dim))
        ]

    @property
    def receptive_field(self) -> int:
        """The fewest samples that make one frame (400 for wav2vec2-base: 25 ms at 16 kHz)."""
        return conv_receptive_field(self.conv_kernel, self.conv_stride)

    def output_lengths(self, lengths):
        """Frames for waveforms of ``lengths`` samples (an int or an integer tensor)."""
        return conv_output_length(lengths, self.conv_kernel, self.conv_stride)

    def check_inputs(self, input_values, attention_mask=None) -> None:
        """Waveforms ``(batch, samples)`` of floats, each at least :attr:`receptive_field` samples long."""
        where = f"conv_kernel={self.conv_kernel}, conv_stride={self.conv_stride}"
        inputs.check_input_values(input_facts("input_values", input_values, values=False), self.receptive_field, where)
        if attention_mask is not None:
            mask = input_facts("attention_mask", attention_mask)
            inputs.check_attention_mask(mask, tuple(input_values.shape))
            inputs.check_audio_lengths(mask, self.receptive_field, where)

    def call(self, input_values):
        hidden_states = ops.cast(input_values, self.compute_dtype)[..., None]
        for layer in self.conv_layers:
            hidden_states = layer(hidden_states)
        return hidden_states


class PositionalConvEmbedding(Block):
    """Relative positions for speech frames: ``activation(conv(x))`` over time, ``(batch, time, hidden)`` in and out.

    ``conv`` is a grouped :class:`Conv1d` (``groups`` groups, ``kernel_size`` wide, padded to keep
    the length) whose weight is normalised per kernel position (``weight_norm_dim=2``:
    ``weight = g * v / ||v||``, ``g`` ``(1, 1, kernel_size)``), so its weights are named as
    transformers writes them today: ``conv.parametrizations.weight.original0`` (``g``) and
    ``...original1`` (``v``). ``v`` is drawn with fairseq's spread, ``2 * sqrt(1 / (kernel_size *
    hidden_size))``. An even kernel gives one frame too many, which is dropped from the end.
    """

    def __init__(self, hidden_size: int, kernel_size: int, groups: int, *, activation: str = "gelu",
                 initializer_range: float = 0.02, **kwargs):
        super().__init__(initializer_range=initializer_range, **kwargs)
        self.conv = Conv1d(hidden_size, hidden_size, kernel_size, padding=kernel_size // 2, groups=groups,
                           weight_norm_dim=2, initializer_range=2 * (1 / (kernel_size * hidden_size)) ** 0.5,
                           dtype=self.dtype_policy)
        self.trim = 1 if kernel_size % 2 == 0 else 0
        self.activation = get_activation(activation)

    def call(self, hidden_states):
        output = self.conv(hidden_states)
        if self.trim:
            output = output[:, : -self.trim]
        return self.activation(output)


class TDNNLayer(Block):
    """A time-delay layer: a dilated 1-D convolution over ``(batch, time, in_dim)``, then ``activation``.

    The convolution's weight is stored as a linear, ``kernel`` ``(out_dim, kernel_size * in_dim)``,
    as x-vector checkpoints hold it: each output frame is that linear applied to the
    ``kernel_size`` input frames ``dilation`` apart, side by side. ``time`` shrinks by
    ``dilation * (kernel_size - 1)`` (:meth:`output_lengths`).
    """

    def __init__(self, in_dim: int, out_dim: int, kernel_size: int, *, dilation: int = 1, activation: str = "relu",
                 initializer_range: float = 0.02, **kwargs):
        super().__init__(initializer_range=initializer_range, **kwargs)
        self.in_dim, self.out_dim, self.kernel_size, self.dilation = in_dim, out_dim, kernel_size, dilation
        self.kernel = Linear(in_dim * kernel_size, out_dim, **self.options)
        self.activation = get_activation(activation)

    def output_lengths(self, lengths):
        return lengths - self.dilation * (self.kernel_size - 1)

    def call(self, hidden_states):
        frames = self.output_lengths(ops.shape(hidden_states)[1])
        windows = [hidden_states[:, tap * self.dilation: tap * self.dilation + frames]
                   for tap in range(self.kernel_size)]
        return self.activation(self.kernel(ops.concatenate(windows, axis=-1)))


# ---- multiple choice --------------------------------------------------------------------------
def check_choice_inputs(main_input_name: str, model_inputs: dict) -> None:
    """Multiple-choice inputs are ``(batch, num_choices, ...)``: a clear error otherwise."""
    others = [input_facts(name, value, values=False) for name, value in model_inputs.items()
              if name not in (main_input_name, "inputs_embeds", "position_ids", "head_mask")
              and value is not None and hasattr(value, "shape")]
    inputs.check_choice_inputs(
        input_facts(main_input_name, model_inputs.get(main_input_name), values=False),
        input_facts("inputs_embeds", model_inputs.get("inputs_embeds"), values=False),
        *others,
    )
