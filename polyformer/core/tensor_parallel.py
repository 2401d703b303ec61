"""Which linears tensor parallelism splits, and how: said once for every framework.

Megatron-style tensor parallelism over one mesh axis: in each transformer layer the query, key
and value projections and the feed-forward's first linear are split by their output features
(``"column"``: each device holds whole attention heads, and part of the feed-forward width), the
attention's output projection and the feed-forward's second linear by their input features
(``"row"``: each device multiplies its slice, and the partial sums are all-reduced, which the
compiler inserts). Embeddings, norms, convolutions and heads stay whole on every device.

The splits are generic: every architecture builds its layers from the shared blocks, whose
projection names come from a :class:`~polyformer.core.layer_names.LayerNames` (DistilBERT,
Wav2Vec2) or from the ``AttentionBlock`` / ``Intermediate`` / ``DenseAddNorm`` defaults (BERT,
ViT). Each split is a regular expression over the path of a linear (``re.search``), with ``.``
or ``/`` between names, so that it finds canonical names (``…attention.q_lin.weight``) and Flax
parameter paths (``…/attention/q_lin/kernel``) alike. Each backend turns a split into its own
placement (Flax ``PartitionSpec``, Keras ``TensorLayout``) with :func:`kernel_axes`.
"""

from __future__ import annotations

import re
from typing import Iterable

from .layer_names import LayerNames

__all__ = ["COLUMN", "ROW", "MODEL_AXIS", "layer_splits", "linear_splits", "kernel_axes"]

COLUMN, ROW = "column", "row"

#: The mesh axis weights are split over, unless told otherwise.
MODEL_AXIS = "model"

_SEP = r"[./]"

# The names the shared blocks give when an architecture keeps their defaults (BERT, ViT):
# AttentionBlock's query/key/value and its output.dense; Intermediate's dense; the layer's own
# DenseAddNorm output.dense (directly under layer.<i>).
_BLOCK_DEFAULTS = (
    (rf"{_SEP}(query|key|value){_SEP}", COLUMN),
    (rf"{_SEP}attention{_SEP}output{_SEP}dense{_SEP}", ROW),
    (rf"{_SEP}intermediate{_SEP}dense{_SEP}", COLUMN),
    (rf"{_SEP}layers?{_SEP}\d+{_SEP}output{_SEP}dense{_SEP}", ROW),
)

#: TransformerLayer's names in the architectures that use it (Wav2Vec2's are LayerNames' defaults).
KNOWN_LAYER_NAMES = (
    LayerNames(),
    LayerNames("attention", ("q_lin", "k_lin", "v_lin", "out_lin"), "sa_layer_norm", "ffn", ("lin1", "lin2"),
               "output_layer_norm"),
)


def layer_splits(names: LayerNames) -> list[tuple[str, str]]:
    """``(pattern, kind)`` for the four linears of a ``TransformerLayer`` named by ``names``."""
    q, k, v, out = (re.escape(n) for n in names.projections)
    first, second = (re.escape(n) for n in names.feed_forward_linears)
    attention, ffn = re.escape(names.attention), re.escape(names.feed_forward)
    return [
        (rf"{_SEP}{attention}{_SEP}({q}|{k}|{v}){_SEP}", COLUMN),
        (rf"{_SEP}{attention}{_SEP}{out}{_SEP}", ROW),
        (rf"{_SEP}{ffn}{_SEP}{first}{_SEP}", COLUMN),
        (rf"{_SEP}{ffn}{_SEP}{second}{_SEP}", ROW),
    ]


def linear_splits(extra: Iterable[tuple[str, str]] = ()) -> list[tuple[str, str]]:
    """Every ``(pattern, kind)`` of the shared blocks, after ``extra`` (an architecture's own, matched first)."""
    splits = list(extra)
    for names in KNOWN_LAYER_NAMES:
        splits += layer_splits(names)
    return splits + list(_BLOCK_DEFAULTS)


def kernel_axes(kind: str, axis: str = MODEL_AXIS) -> tuple[tuple, tuple]:
    """The mesh axes of a linear's kernel ``(in, out)`` and of its bias ``(out,)`` for a split ``kind``.

    A row split leaves the bias whole (no axes): it is added once, after the partial sums are reduced.
    """
    if kind == COLUMN:
        return (None, axis), (axis,)
    if kind == ROW:
        return (axis, None), ()
    raise ValueError(f"unknown tensor-parallel split {kind!r}; expected {COLUMN!r} or {ROW!r}")
