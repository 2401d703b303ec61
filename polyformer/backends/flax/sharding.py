"""Sharded parameters for Flax models: partition rules, and loading straight onto a ``jax.sharding.Mesh``.

polyformer does not launch or coordinate devices: JAX's own engine does (``Mesh``,
``NamedSharding``, ``jax.jit``, and ``jax.distributed.initialize`` across hosts). What
polyformer adds is *where each weight goes*:

* **partition rules**: ``(regex, PartitionSpec)`` pairs matched (``re.search``, first match
  wins) against each parameter's flattened path, ``"bert/encoder/layer.0/attention/self/query/kernel"``.
  A path no rule matches is replicated.
* :func:`data_parallel_rules`: every weight replicated (shard the *batch* over the mesh instead).
* :func:`tensor_parallel_rules`: Megatron-style tensor parallelism over a mesh axis (``"model"``):
  query/key/value kernels split by columns (so each device holds whole attention heads),
  the attention output projection by rows; the feed-forward's first linear by columns and its
  second by rows. Each block then needs one all-reduce, which XLA inserts. Embeddings, norms,
  convolutions and heads stay replicated.

The rules are generic: every architecture builds its layers from the shared blocks of
:mod:`polyformer.backends.flax.layers`, whose projection names come from a
:class:`~polyformer.core.layer_names.LayerNames` (DistilBERT, Wav2Vec2) or from the
``AttentionBlock`` / ``Intermediate`` / ``DenseAddNorm`` defaults (BERT, ViT). An architecture
with other names adds rules with :func:`layer_rules`, or sets ``partition_rules`` on its class.

Loading (:func:`load_sharded`, or ``from_pretrained(..., mesh=...)``) places each tensor on
its shards right after it is read (``jax.device_put`` with a ``NamedSharding``): no device
ever holds the whole model, only its share of it.
"""

from __future__ import annotations

import contextvars
import re
from contextlib import contextmanager
from typing import Any, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax.traverse_util import flatten_dict, unflatten_dict
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from ...core import tensor_parallel
from ...core.layer_names import LayerNames

__all__ = ["data_parallel_rules", "tensor_parallel_rules", "layer_rules", "resolve_rules", "partition_specs",
           "shard_params", "load_sharded", "MODEL_AXIS"]

#: The mesh axis the tensor-parallel rules split weights over, unless told otherwise.
MODEL_AXIS = tensor_parallel.MODEL_AXIS

Rules = Sequence[tuple[str, PartitionSpec]]


def data_parallel_rules() -> list[tuple[str, PartitionSpec]]:
    """Every weight replicated on every device: the batch is what is split (``NamedSharding(mesh, P("data"))``)."""
    return [(r".*", PartitionSpec())]


def _rules(splits: Sequence[tuple[str, str]], axis: str) -> list[tuple[str, PartitionSpec]]:
    """Each linear's split (:mod:`polyformer.core.tensor_parallel`) -> rules for its kernel and bias."""
    rules = []
    for prefix, kind in splits:
        kernel, bias = tensor_parallel.kernel_axes(kind, axis)
        rules += [(prefix + "kernel$", PartitionSpec(*kernel)), (prefix + "bias$", PartitionSpec(*bias))]
    return rules


def layer_rules(names: LayerNames, axis: str = MODEL_AXIS) -> list[tuple[str, PartitionSpec]]:
    """Tensor-parallel rules for a ``TransformerLayer`` named by ``names`` (for an architecture with its own names)."""
    return _rules(tensor_parallel.layer_splits(names), axis)


def tensor_parallel_rules(axis: str = MODEL_AXIS, extra: Rules = ()) -> list[tuple[str, PartitionSpec]]:
    """Megatron-style rules over mesh axis ``axis`` for every architecture built from the shared blocks.

    ``extra`` rules come first (first match wins), for an architecture's own additions.
    Whatever no rule names (embeddings, norms, convolutions, heads) is replicated.
    """
    return list(extra) + _rules(tensor_parallel.linear_splits(), axis) + [(r".*", PartitionSpec())]


def resolve_rules(partition_rules: Any, mesh: Mesh, model_class: type | None = None) -> list[tuple[str, PartitionSpec]]:
    """``"data"``, ``"tensor"``, a list of ``(regex, PartitionSpec)``, or None -> the rules.

    None is ``"tensor"`` when the mesh has a ``"model"`` axis and ``"data"`` otherwise. A model
    class with its own ``partition_rules`` attribute adds them before the generic tensor rules.
    """
    if partition_rules is None:
        partition_rules = "tensor" if MODEL_AXIS in mesh.axis_names else "data"
    if isinstance(partition_rules, str):
        if partition_rules == "data":
            return data_parallel_rules()
        if partition_rules == "tensor":
            if MODEL_AXIS not in mesh.axis_names:
                raise ValueError(f"partition_rules='tensor' splits weights over a mesh axis named '{MODEL_AXIS}'; "
                                 f"the mesh has axes {tuple(mesh.axis_names)}")
            return tensor_parallel_rules(extra=getattr(model_class, "partition_rules", ()))
        raise ValueError(f"partition_rules={partition_rules!r}: expected 'data', 'tensor' or a list of "
                         f"(regex, PartitionSpec) pairs")
    rules = list(partition_rules)
    for rule in rules:
        if not (isinstance(rule, (tuple, list)) and len(rule) == 2 and isinstance(rule[0], str)
                and isinstance(rule[1], PartitionSpec)):
            raise ValueError(f"partition_rules: each rule must be a (regex, PartitionSpec) pair, got {rule!r}")
        try:
            re.compile(rule[0])
        except re.error as exc:
            raise ValueError(f"partition_rules: {rule[0]!r} is not a valid regular expression ({exc})") from None
    return rules


def spec_for(path: str, shape: tuple[int, ...], rules: Rules, mesh: Mesh) -> PartitionSpec:
    """The first rule's spec whose regex matches ``path`` (replicated if none), checked against ``shape`` and the mesh."""
    spec = next((spec for pattern, spec in rules if re.search(pattern, path)), PartitionSpec())
    if len(spec) > len(shape):
        raise ValueError(f"partition rule for '{path}': {spec} has {len(spec)} entries, the weight has shape {shape}")
    for dim, axes in zip(shape, spec):
        for name in (axes if isinstance(axes, tuple) else (axes,)):
            if name is not None and name not in mesh.axis_names:
                raise ValueError(f"partition rule for '{path}': {spec} names mesh axis '{name}'; the mesh has axes "
                                 f"{tuple(mesh.axis_names)}")
        size = int(np.prod([mesh.shape[n] for n in (axes if isinstance(axes, tuple) else (axes,)) if n is not None]))
        if dim % size:
            raise ValueError(f"partition rule for '{path}': {spec} splits a dimension of {dim} over {size} devices, "
                             f"which does not divide it (shape {shape}); use a mesh axis size that divides the number "
                             f"of heads and the feed-forward width, or replicate this weight")
    return spec


def partition_specs(params: Any, rules: Rules, mesh: Mesh) -> Any:
    """The parameter pytree's ``PartitionSpec`` tree (same structure), for ``jax.jit``'s shardings or ``device_put``."""
    flat = flatten_dict(params)
    return unflatten_dict({path: spec_for("/".join(path), tuple(leaf.shape), rules, mesh) for path, leaf in flat.items()})


def shard_params(params: Any, mesh: Mesh, rules: Rules) -> Any:
    """Put each weight of ``params`` on its shards (``jax.device_put`` per weight, one at a time)."""
    flat = flatten_dict(params)
    placed = {}
    for path, leaf in flat.items():
        spec = spec_for("/".join(path), tuple(leaf.shape), rules, mesh)
        placed[path] = jax.device_put(leaf, NamedSharding(mesh, spec))
    return unflatten_dict(placed)


# ---- loading ------------------------------------------------------------------------------
# While load_sharded runs, the model's _load_canonical asks place_weight where each tensor goes.
_PLACEMENT: contextvars.ContextVar[tuple[Mesh, list] | None] = contextvars.ContextVar("polyformer_flax_placement",
                                                                                      default=None)


@contextmanager
def _placing(mesh: Mesh, rules: list):
    token = _PLACEMENT.set((mesh, rules))
    try:
        yield
    finally:
        _PLACEMENT.reset(token)


def placing_on_mesh() -> bool:
    """Whether a sharded load (:func:`load_sharded`) is in progress in this context."""
    return _PLACEMENT.get() is not None


def place_weight(path: tuple[str, ...], array: np.ndarray, dtype: Any) -> jax.Array:
    """One weight just read from a checkpoint (numpy, Flax layout) -> a JAX array, on its shards when loading sharded.

    Floating weights take ``dtype``; anything else (integer buffers) keeps its own. Without a
    sharded load in progress this is ``jnp.asarray`` (the default device).
    """
    if jnp.issubdtype(array.dtype, jnp.floating):
        array = array.astype(dtype, copy=False)
    placement = _PLACEMENT.get()
    if placement is None:
        return jnp.asarray(array)
    mesh, rules = placement
    sharding = NamedSharding(mesh, spec_for("/".join(path), tuple(array.shape), rules, mesh))
    # Each of this process's devices receives only its slice (on many hosts, only the local devices' slices).
    return jax.make_array_from_callback(array.shape, sharding, lambda index: array[index])


def load_sharded(cls: type, pretrained_model_name_or_path: Any, mesh: Mesh, partition_rules: Any = None,
                 **kwargs: Any):
    """``cls.from_pretrained`` with each weight placed on its shards of ``mesh`` as it is read.

    ``partition_rules``: see :func:`resolve_rules`. Weights missing from the checkpoint are
    initialised as usual and then placed by the same rules. ``model.params`` is then a pytree
    of sharded ``jax.Array``; ``model(...)`` and your own ``jax.jit`` steps run sharded, and
    ``save_pretrained`` gathers each weight in turn to write an ordinary checkpoint.
    """
    if not isinstance(mesh, Mesh):
        raise TypeError(f"{cls.__name__}.from_pretrained: mesh must be a jax.sharding.Mesh, got {type(mesh).__name__}")
    rules = resolve_rules(partition_rules, mesh, cls)
    with _placing(mesh, rules):
        loaded = cls.from_pretrained(pretrained_model_name_or_path, **kwargs)
    model = loaded[0] if isinstance(loaded, tuple) else loaded
    model.params = shard_params(model.params, mesh, rules)  # the weights initialised after loading; placed ones stay
    return loaded
