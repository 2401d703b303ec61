"""Which frames to mask and which to contrast with: wav2vec 2.0's sampling, in numpy, for every framework.

* :func:`compute_mask_indices`: random spans of a time (or feature) axis to mask, as SpecAugment
  (https://arxiv.org/abs/1904.08779) and wav2vec 2.0's pre-training do;
* :func:`sample_negative_indices`: for each masked frame, other masked frames of the same
  utterance whose quantised targets serve as distractors in the contrastive loss;
* :func:`pretraining_inputs`: both, for a batch a pre-training model is given (the
  conformance suite's label maker for the ``pretraining`` task).

They draw from a ``numpy.random.Generator`` (a fresh one when none is given), so that a seed
gives the same masks in PyTorch, Keras and Flax. Masks are boolean ``(batch, length)``;
negative indices count frames in the flattened ``(batch * frames)`` batch, as the models
take them.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...core.numerics import conv_output_length

__all__ = ["compute_mask_indices", "check_mask_arguments", "sample_negative_indices", "pretraining_inputs"]


def _generator(rng: np.random.Generator | None) -> np.random.Generator:
    return np.random.default_rng() if rng is None else rng


def compute_mask_indices(
    shape: tuple[int, int],
    mask_prob: float,
    mask_length: int,
    attention_mask: Any = None,
    min_masks: int = 0,
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """Random spans of ``mask_length`` positions to mask along the second axis of ``shape`` = ``(batch, length)``.

    Each row gets about ``mask_prob * length / mask_length`` spans (rounded up or down at
    random, at least ``min_masks``), starting at distinct positions, so roughly ``mask_prob``
    of the row is masked (less where spans overlap). ``attention_mask`` ``(batch, length)``
    (1 on real positions, right padding) confines each row's spans to its real positions.
    A row too short for a span gets none.
    """
    batch, length = (int(size) for size in shape)
    check_mask_arguments(length, mask_prob, mask_length)
    rng = _generator(rng)
    if attention_mask is None:
        lengths = np.full(batch, length)
    else:
        lengths = np.asarray(attention_mask).astype(bool).sum(-1)
    rounding = rng.random()  # one draw for the batch: spans = floor(expected + uniform)

    def span_count(real_length: int) -> int:
        count = max(int(mask_prob * real_length / mask_length + rounding), min_masks)
        count = min(count, length // mask_length)
        return min(count, max(real_length - mask_length + 1, 0))

    mask = np.zeros((batch, length), dtype=bool)
    if span_count(length) == 0:
        return mask
    for row, real_length in enumerate(int(n) for n in lengths):
        count = span_count(real_length)
        if count == 0:
            continue
        starts = rng.choice(real_length - mask_length + 1, size=count, replace=False)
        positions = (starts[:, None] + np.arange(mask_length)[None, :]).reshape(-1)
        mask[row, positions] = True
    return mask


def check_mask_arguments(length: int, mask_prob: float, mask_length: int) -> None:
    """What :func:`compute_mask_indices` refuses, checked alone: a model that draws its masks inside a
    compiled program (Flax) checks them while tracing, where the error can still be raised."""
    if not isinstance(mask_length, (int, np.integer)) or mask_length < 1:
        raise ValueError(f"mask_length must be a positive integer, got {mask_length!r}")
    if mask_length > length:
        raise ValueError(f"mask_length ({mask_length}) must not exceed the length of the masked axis ({length})")
    if not 0.0 <= mask_prob <= 1.0:
        raise ValueError(f"mask_prob must lie between 0 and 1, got {mask_prob!r}")


def sample_negative_indices(
    features_shape: tuple[int, int],
    num_negatives: int,
    mask_time_indices: Any = None,
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """``(batch, frames, num_negatives)`` int32: for each masked frame, ``num_negatives`` other masked frames.

    Distractors are drawn uniformly (with replacement) among the *other* masked frames of the
    same example, and given as indices into the flattened batch (``frame + example * frames``).
    Unmasked frames get their example's offset (they are not used). Without
    ``mask_time_indices`` every frame counts as masked. An example with exactly one masked
    frame has nothing to contrast it with: an error.
    """
    batch, frames = (int(size) for size in features_shape)
    rng = _generator(rng)
    masked = np.ones((batch, frames), dtype=bool) if mask_time_indices is None else np.asarray(mask_time_indices).astype(bool)
    if masked.shape != (batch, frames):
        raise ValueError(f"mask_time_indices has shape {masked.shape}, expected features_shape {(batch, frames)}")
    negatives = np.zeros((batch, frames, num_negatives), dtype=np.int32)
    for row in range(batch):
        positions = np.flatnonzero(masked[row])
        count = len(positions)
        if count == 1:
            raise ValueError(
                f"example {row} has a single masked frame: negatives are drawn from the other masked frames of the same "
                f"example, so it needs at least two (or none)"
            )
        if count:
            # Draw among count - 1 slots and skip over the frame itself: uniform over the others.
            draws = rng.integers(0, count - 1, size=(count, num_negatives))
            draws += draws >= np.arange(count)[:, None]
            negatives[row, positions] = positions[draws]
        negatives[row] += row * frames
    return negatives


def pretraining_inputs(config: Any, inputs: dict[str, np.ndarray], outputs: dict[str, Any],
                       rng: np.random.Generator) -> dict[str, np.ndarray]:
    """``mask_time_indices`` and ``sampled_negative_indices`` for a batch of a pre-training model.

    Spans follow the config (``mask_time_prob``, ``mask_time_length``, at least two spans, so
    every example has frames to contrast), within the frames the ``attention_mask`` leaves
    real; ``outputs`` (the model's outputs without them) give the frame count.
    """
    batch, frames = np.asarray(outputs["projected_states"]).shape[:2]
    frame_mask = None
    if inputs.get("attention_mask") is not None:
        lengths = conv_output_length(np.asarray(inputs["attention_mask"]).astype(bool).sum(-1), config.conv_kernel,
                                     config.conv_stride)
        frame_mask = np.arange(frames)[None, :] < lengths[:, None]
    mask = compute_mask_indices((batch, frames), config.mask_time_prob, min(config.mask_time_length, frames),
                                attention_mask=frame_mask, min_masks=max(2, config.mask_time_min_masks), rng=rng)
    negatives = sample_negative_indices((batch, frames), config.num_negatives, mask, rng=rng)
    return {"mask_time_indices": mask, "sampled_negative_indices": negatives.astype(np.int64)}
