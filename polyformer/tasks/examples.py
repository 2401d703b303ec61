"""Inputs and labels for each built-in task, made from the model's own example inputs and outputs.

The conformance suite (:mod:`polyformer.testing`) calls these, framework-free, on numpy
arrays. A label maker sees the outputs the model gave without labels, so it needs to know
nothing of the modality: a token-classification label grid has the shape of the logits,
whether the positions are tokens, patches or audio frames.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

__all__ = [
    "multiple_choice_inputs",
    "masked_lm_labels",
    "classification_labels",
    "per_position_labels",
    "span_labels",
    "masked_patches",
    "ctc_labels",
    "one_hot_frame_labels",
    "speaker_labels",
]

Arrays = dict[str, np.ndarray]

NUM_CHOICES = 3


def multiple_choice_inputs(example_inputs: Callable[[int], Arrays], batch_size: int, rng: np.random.Generator) -> Arrays:
    """``(batch, choices, ...)`` inputs: ``batch * choices`` different examples, grouped by example."""
    flat = example_inputs(batch_size * NUM_CHOICES)
    return {name: value.reshape(batch_size, NUM_CHOICES, *value.shape[1:]) for name, value in flat.items()}


def _int_labels(high: int, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    return rng.integers(0, high, size=shape, dtype=np.int64)


def masked_lm_labels(config: Any, inputs: Arrays, outputs: Arrays, rng: np.random.Generator) -> Arrays:
    """A vocabulary id at every other position, the rest ``-100`` (ignored by the loss)."""
    batch, length, vocab = outputs["logits"].shape
    labels = _int_labels(vocab, (batch, length), rng)
    labels[:, ::2] = -100
    return {"labels": labels}


def classification_labels(config: Any, inputs: Arrays, outputs: Arrays, rng: np.random.Generator) -> Arrays:
    """One class per example (``logits`` is ``(batch, classes)``); a float target for a one-output regression."""
    batch, classes = outputs["logits"].shape
    if classes == 1:
        return {"labels": rng.standard_normal(batch).astype(np.float32)}
    return {"labels": _int_labels(classes, (batch,), rng)}


def per_position_labels(config: Any, inputs: Arrays, outputs: Arrays, rng: np.random.Generator) -> Arrays:
    """One class per position (``logits`` is ``(batch, positions, classes)``)."""
    batch, length, classes = outputs["logits"].shape
    return {"labels": _int_labels(classes, (batch, length), rng)}


def span_labels(config: Any, inputs: Arrays, outputs: Arrays, rng: np.random.Generator) -> Arrays:
    """A start and an end position per example."""
    batch, length = outputs["start_logits"].shape
    return {"start_positions": _int_labels(length, (batch,), rng), "end_positions": _int_labels(length, (batch,), rng)}


def _pair(value: Any) -> tuple[int, int]:
    return (int(value[0]), int(value[1])) if isinstance(value, (list, tuple)) else (int(value), int(value))


def masked_patches(config: Any, inputs: Arrays, outputs: Arrays, rng: np.random.Generator) -> Arrays:
    """``bool_masked_pos``: about half of the ``image_size / patch_size`` patches of each image masked."""
    (height, width), (patch_h, patch_w) = _pair(config.image_size), _pair(config.patch_size)
    batch = outputs["reconstruction"].shape[0]
    mask = rng.random((batch, (height // patch_h) * (width // patch_w))) < 0.5
    mask[:, 0] = True  # at least one masked patch per image, so the loss is defined
    return {"bool_masked_pos": mask}


def ctc_labels(config: Any, inputs: Arrays, outputs: Arrays, rng: np.random.Generator) -> Arrays:
    """Transcripts of at most half the output frames, padded with ``-100``, never the blank (``pad_token_id``)."""
    batch, frames, vocab = outputs["logits"].shape
    length = max(1, frames // 2)
    blank = getattr(config, "pad_token_id", 0) or 0
    labels = rng.integers(0, vocab - 1, size=(batch, length), dtype=np.int64)
    labels[labels >= blank] += 1  # skip the blank id
    labels[1:, length // 2 + 1:] = -100  # shorter transcripts after the first
    return {"labels": labels}


def one_hot_frame_labels(config: Any, inputs: Arrays, outputs: Arrays, rng: np.random.Generator) -> Arrays:
    """One class per frame as one-hot rows ``(batch, frames, classes)``, the form transformers' frame classifier takes."""
    batch, frames, classes = outputs["logits"].shape
    return {"labels": np.eye(classes, dtype=np.int64)[_int_labels(classes, (batch, frames), rng)]}


def speaker_labels(config: Any, inputs: Arrays, outputs: Arrays, rng: np.random.Generator) -> Arrays:
    """One of ``config.num_labels`` speakers per example (an x-vector head's logits are embedding-sized, not per class)."""
    batch = outputs["logits"].shape[0]
    return {"labels": _int_labels(config.num_labels, (batch,), rng)}
