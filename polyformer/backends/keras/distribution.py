"""Keras models under ``keras.distribution``: where each weight goes on a device mesh.

``keras.distribution`` is Keras 3's own engine for many devices (it runs on the JAX backend):
``DataParallel`` copies the weights to every device and splits each batch; ``ModelParallel``
splits weights over a ``DeviceMesh`` as a ``LayoutMap`` says, and the batch over the mesh's batch
axis. polyformer does not wrap it; it provides the layout map of its architectures
(:func:`layout_map`, also ``TF...Model.layout_map(mesh)``): Megatron-style tensor parallelism over
the mesh's ``"model"`` axis, the splits named once for every framework in
:mod:`polyformer.core.tensor_parallel`.

The map's keys are regular expressions over *canonical* weight names (the checkpoint's:
``distilbert.transformer.layer.0.attention.q_lin.weight``), its values the layout of the Keras
variable (a Linear kernel is ``(in, out)``, so a column split is ``(None, "model")``). Keras looks
a variable's layout up by its Keras path (``linear_3/kernel``) when the variable is created, and
those paths do not say where a layer sits in the model; so a model built while a
``ModelParallel`` distribution is active places its variables itself once they all exist
(:func:`place_variables`, from ``post_init``, and again after pruning or resizing replaced some).
From then on Keras lays out every value assigned to them, a checkpoint's tensors included, and
``fit`` runs sharded: build (or ``from_pretrained``) the model inside the distribution's scope.
"""

from __future__ import annotations

from typing import Any

from ...core import tensor_parallel
from . import engine, layers
from .layers import keras

__all__ = ["layout_map", "place_variables"]


def layout_map(mesh: Any, *, axis: str = tensor_parallel.MODEL_AXIS) -> "keras.distribution.LayoutMap":
    """The tensor-parallel ``LayoutMap`` of the shared blocks over ``mesh``'s axis ``axis``.

    Weights no key names (embeddings, norms, convolutions, heads) are replicated, as
    ``ModelParallel`` does with any variable its map does not name. Add keys for an
    architecture's own layers to the returned map before handing it to ``ModelParallel``.
    """
    if not isinstance(mesh, keras.distribution.DeviceMesh):
        raise TypeError(f"layout_map(mesh): expected a keras.distribution.DeviceMesh, got {type(mesh).__name__}")
    if axis not in mesh.axis_names:
        raise ValueError(f"layout_map: the tensor-parallel splits go over a mesh axis named '{axis}'; the mesh has "
                         f"axes {tuple(mesh.axis_names)}")
    result = keras.distribution.LayoutMap(mesh)
    for prefix, kind in tensor_parallel.linear_splits():
        kernel, bias = tensor_parallel.kernel_axes(kind, axis)
        result[f".*{prefix}weight"] = kernel  # a Linear's canonical "weight" is its Keras kernel
        if bias:  # a bias left whole needs no key: unnamed variables are replicated
            result[f".*{prefix}bias"] = bias
    return result


def place_variables(model: keras.layers.Layer) -> None:
    """Give each variable of ``model`` the layout the active distribution's map gives its canonical name.

    Nothing to do without a distribution, or with one that names no weights (``DataParallel``:
    Keras replicates every variable as it is created). Keras keeps a variable's layout in its
    ``_layout`` attribute (``ModelParallel.get_variable_layout`` reads it first) and lays out
    every value assigned to the variable that way; the current value is assigned again to move it.
    """
    distribution = keras.distribution.distribution()
    if distribution is None or engine.BACKEND != "jax":  # keras.distribution runs on the JAX backend
        return
    for name, weight in layers.named_canonical_weights(model).items():
        layout = distribution.get_tensor_layout(name)
        variable = weight.variable
        if layout is None or getattr(variable, "_layout", None) is layout:
            continue
        variable._layout = layout
        variable.assign(variable.value)
