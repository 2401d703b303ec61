"""Numbers and rules every backend must agree on, computed once without a framework.

* :func:`sinusoidal_table`: the fixed position table of "Attention is all you need";
* :func:`resolve_problem_type`: how a classification head picks its loss from the labels
  (and records the choice in the config, so a saved model keeps it), as transformers does;
* :func:`heads_after_pruning` / :func:`kept_head_features`: the attention layout of a
  model whose config lists pruned heads;
* :func:`patch_grid`: how many patches an image of a size has;
* :func:`bicubic_resize_matrix`: PyTorch's bicubic resampling as a matrix, so every framework
  resizes a position grid (ViT's ``interpolate_pos_encoding``) with the same numbers;
* :func:`conv_output_length` / :func:`conv_receptive_field`: how many frames a stack of 1-D
  convolutions makes of a signal, and the shortest signal that gives one (speech encoders).
"""

from __future__ import annotations

from typing import Any, Iterable

import numpy as np

__all__ = [
    "sinusoidal_table",
    "resolve_problem_type",
    "pruned_heads_of_layer",
    "plan_head_pruning",
    "kept_head_features",
    "to_pair",
    "patch_grid",
    "bicubic_resize_matrix",
    "conv_output_length",
    "conv_receptive_field",
]


def sinusoidal_table(n_positions: int, dim: int) -> np.ndarray:
    """The ``(n_positions, dim)`` float32 table: sin on even columns, cos on odd ones.

    Computed in float64 and rounded once, so every framework holds the same float32 table.
    """
    positions = np.arange(n_positions, dtype=np.float64)[:, None]
    exponents = 2 * (np.arange(dim) // 2) / dim
    angles = positions / np.power(10000.0, exponents)[None, :]
    table = np.empty((n_positions, dim), dtype=np.float64)
    table[:, 0::2] = np.sin(angles[:, 0::2])
    table[:, 1::2] = np.cos(angles[:, 1::2])
    return table.astype(np.float32)


def resolve_problem_type(config: Any, labels_are_integers: bool) -> str:
    """``config.problem_type``, inferred from the labels the first time and written to the config.

    transformers' rule: one label is regression; integer labels are single-label
    classification; anything else (multi-hot floats) multi-label classification. Written
    back, as transformers does, so the saved config keeps it and later batches agree.
    """
    if config.problem_type is None:
        if config.num_labels == 1:
            config.problem_type = "regression"
        elif labels_are_integers:
            config.problem_type = "single_label_classification"
        else:
            config.problem_type = "multi_label_classification"
    return config.problem_type


def pruned_heads_of_layer(config: Any, layer: int) -> tuple[int, ...]:
    """The heads of ``layer`` that ``config.pruned_heads`` lists as removed (original numbering)."""
    pruned = getattr(config, "pruned_heads", None) or {}
    return tuple(sorted(int(h) for h in pruned.get(layer, pruned.get(str(layer), ()))))


def _index(value: Any) -> int | None:
    """``value`` as a layer or head index (an int >= 0, or its string from a JSON key), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return int(value) if isinstance(value, (int, np.integer)) and value >= 0 else None


def plan_head_pruning(config: Any, heads_to_prune: Any) -> tuple[dict[int, set[int]], dict[int, list[int]]]:
    """Check a ``prune_heads`` request against the config; return what to prune now and the new ``pruned_heads``.

    Every backend's ``prune_heads`` calls this first, so a bad request (a layer or head that does
    not exist, every head of a layer) is refused the same way everywhere and changes nothing.
    Returns ``({layer: heads not pruned yet}, merged {layer: sorted heads})``; heads are numbered
    as in the original, unpruned layer.
    """
    layers, heads = config.num_hidden_layers, config.num_attention_heads
    if not isinstance(heads_to_prune, dict):
        raise ValueError(f"prune_heads takes {{layer: [head, ...]}}, got {type(heads_to_prune).__name__}")
    pruned = {int(k): set(int(h) for h in v) for k, v in (getattr(config, "pruned_heads", None) or {}).items()}
    new: dict[int, set[int]] = {}
    for key, asked in heads_to_prune.items():
        layer = _index(key)
        if layer is None or layer >= layers:
            raise ValueError(f"prune_heads: {key!r} is not a layer of this model (0 to {layers - 1})")
        if not isinstance(asked, (list, tuple, set, frozenset)):
            raise ValueError(f"prune_heads: layer {layer} must map to a list of heads, got {asked!r}")
        wanted = {_index(h) for h in asked}
        if None in wanted or any(h >= heads for h in wanted):
            raise ValueError(f"prune_heads: layer {layer} has heads 0 to {heads - 1}, got {asked!r}")
        fresh = wanted - pruned.get(layer, set())
        left = heads - len(pruned.get(layer, set()))
        if len(fresh) >= left:
            raise ValueError(f"cannot prune every head of an attention layer (it has {left} left)")
        if fresh:
            new[layer] = fresh
    for layer, fresh in new.items():
        pruned.setdefault(layer, set()).update(fresh)
    return new, {layer: sorted(hs) for layer, hs in sorted(pruned.items())}


def kept_head_features(num_heads: int, head_size: int, already_pruned: Iterable[int], to_prune: Iterable[int]) -> np.ndarray:
    """Where, in a layer that has already lost ``already_pruned`` of its ``num_heads`` heads, the
    features of the heads that survive pruning ``to_prune`` too are (heads numbered as originally).

    The result indexes the current ``(heads left * head_size)`` feature axis of the query,
    key and value projections (rows) and of the output projection (columns).
    """
    already, dropping = {int(h) for h in already_pruned}, {int(h) for h in to_prune}
    current = [h for h in range(num_heads) if h not in already]
    return np.array([pos * head_size + i for pos, h in enumerate(current) if h not in dropping for i in range(head_size)],
                    dtype=np.int64)


def to_pair(value: Any) -> tuple[int, int]:
    """``16`` or ``(16, 32)`` -> ``(16, 16)`` or ``(16, 32)``: image and patch sizes as (height, width)."""
    if isinstance(value, (list, tuple)):
        if len(value) != 2:
            raise ValueError(f"expected an int or a (height, width) pair, got {value!r}")
        return int(value[0]), int(value[1])
    return int(value), int(value)


def patch_grid(image_size: Any, patch_size: Any) -> tuple[int, int]:
    """How many patches fit along (height, width)."""
    (height, width), (patch_h, patch_w) = to_pair(image_size), to_pair(patch_size)
    return height // patch_h, width // patch_w


def bicubic_resize_matrix(in_size: int, out_size: int) -> np.ndarray:
    """The ``(out_size, in_size)`` float64 matrix ``W`` with ``resize(x) = W @ x`` along one axis.

    It is what ``torch.nn.functional.interpolate(..., mode="bicubic", align_corners=False)``
    computes for an output size (no scale factor): source coordinate ``(i + 0.5) * in / out - 0.5``,
    the cubic convolution kernel with ``A = -0.75``, and indices clamped at the borders. A 2-D
    resize is ``W_h @ grid @ W_w.T``, two matrix products in any framework.
    """
    a = -0.75

    def near(x):  # |x| <= 1
        return ((a + 2) * x - (a + 3)) * x * x + 1

    def far(x):  # 1 < |x| < 2
        return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a

    matrix = np.zeros((out_size, in_size), dtype=np.float64)
    scale = in_size / out_size
    for i in range(out_size):
        source = (i + 0.5) * scale - 0.5
        base = int(np.floor(source))
        t = source - base
        for offset, weight in ((-1, far(t + 1)), (0, near(t)), (1, near(1 - t)), (2, far(2 - t))):
            matrix[i, min(max(base + offset, 0), in_size - 1)] += weight
    return matrix


def conv_output_length(length: Any, kernel_sizes: Iterable[int], strides: Iterable[int],
                       paddings: Iterable[int] | None = None) -> Any:
    """Frames out of a stack of 1-D convolutions (no dilation) for ``length`` samples in.

    ``length`` is an int or an integer array (one length per example; numpy, or any framework's
    integer tensor, which supports ``//``). Each layer gives ``(length + 2 * padding - kernel) //
    stride + 1`` frames, PyTorch's ``Conv1d`` rule. A length too short for a layer gives zero or
    fewer frames: callers compare with :func:`conv_receptive_field` first.
    """
    kernel_sizes, strides = list(kernel_sizes), list(strides)
    paddings = [0] * len(kernel_sizes) if paddings is None else list(paddings)
    for kernel, stride, padding in zip(kernel_sizes, strides, paddings):
        length = (length + 2 * padding - kernel) // stride + 1
    return length


def conv_receptive_field(kernel_sizes: Iterable[int], strides: Iterable[int]) -> int:
    """The fewest samples a stack of 1-D convolutions (no padding, no dilation) turns into one frame.

    Walking back from one output frame: a layer needs ``(frames - 1) * stride + kernel`` inputs.
    Wav2Vec2's default stack (kernels 10,3,3,3,3,2,2, strides 5,2,2,2,2,2,2) needs 400 samples
    (25 ms at 16 kHz).
    """
    frames = 1
    for kernel, stride in reversed(list(zip(kernel_sizes, strides))):
        frames = (frames - 1) * stride + kernel
    return frames
