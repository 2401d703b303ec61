"""Loss functions of the task heads, shared by every Flax architecture.

They compute what the PyTorch backend's (and ``transformers``') losses compute, with PyTorch's
conventions (means over the elements that count, -100 ignored). Labels of the wrong shape or
dtype get one clear error first (:mod:`polyformer.core.inputs`); their values cannot be read
inside ``jax.jit``, so :class:`~polyformer.backends.flax.modeling.FlaxPreTrainedModel` checks
them after the run (a bad value there only makes the loss NaN), with the same rules.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from ...core import inputs
from ...core.numerics import resolve_problem_type, to_pair
from .layers import input_facts

__all__ = [
    "sequence_classification_loss",
    "token_classification_loss",
    "masked_lm_loss",
    "multiple_choice_loss",
    "question_answering_loss",
    "masked_image_modeling_loss",
    "cross_entropy",
]

Array = Any
#: Label value ignored by the cross-entropy losses (padding, special tokens).
IGNORE_INDEX = inputs.IGNORE_INDEX


def cross_entropy(logits: Array, labels: Array, ignore_index: int = IGNORE_INDEX) -> Array:
    """``torch.nn.functional.cross_entropy(ignore_index=...)``: mean over the labels that are not ignored.

    Like PyTorch, the result is NaN when every label is ignored.
    """
    logits = logits.reshape(-1, logits.shape[-1]).astype(jnp.float32)
    labels = labels.reshape(-1)
    valid = labels != ignore_index
    log_probs = jax.nn.log_softmax(logits, axis=-1)
    nll = -jnp.take_along_axis(log_probs, jnp.where(valid, labels, 0)[:, None], axis=-1)[:, 0]
    return jnp.sum(jnp.where(valid, nll, 0.0)) / jnp.sum(valid)


def _mse(predictions: Array, targets: Array) -> Array:
    return jnp.mean((predictions.astype(jnp.float32) - targets.astype(jnp.float32)) ** 2)


def _bce_with_logits(logits: Array, targets: Array) -> Array:
    """``binary_cross_entropy_with_logits``, in its numerically stable form."""
    x, y = logits.astype(jnp.float32), targets.astype(jnp.float32)
    return jnp.mean(jnp.maximum(x, 0) - x * y + jnp.log1p(jnp.exp(-jnp.abs(x))))


def sequence_classification_loss(logits: Array, labels: Array, config: Any) -> Array:
    """MSE (regression), cross-entropy (single label) or BCE-with-logits (multi label).

    The kind is ``config.problem_type``, inferred from the labels and written to the config
    the first time (:func:`polyformer.core.numerics.resolve_problem_type`), as transformers does.
    """
    num_labels = config.num_labels
    problem_type = resolve_problem_type(config, str(labels.dtype) in inputs.INDEX_DTYPES)
    facts, shape = input_facts("labels", labels), tuple(logits.shape)
    if problem_type == "regression":
        inputs.check_regression_targets(facts, shape)
        if num_labels == 1:
            return _mse(jnp.squeeze(logits), jnp.squeeze(labels))
        return _mse(logits, labels)
    if problem_type == "single_label_classification":
        inputs.check_class_labels(facts, shape)
        return cross_entropy(logits.reshape(-1, num_labels), labels.reshape(-1))
    inputs.check_multi_label_targets(facts, shape)
    return _bce_with_logits(logits, labels)


def token_classification_loss(logits: Array, labels: Array) -> Array:
    """Cross-entropy over every token; labels of -100 are ignored."""
    inputs.check_class_labels(input_facts("labels", labels), tuple(logits.shape))
    return cross_entropy(logits, labels)


def masked_lm_loss(logits: Array, labels: Array) -> Array:
    """Cross-entropy over the vocabulary at the masked positions (the others are labelled -100)."""
    inputs.check_class_labels(input_facts("labels", labels), tuple(logits.shape), what="vocabulary tokens")
    return cross_entropy(logits, labels)


def multiple_choice_loss(logits: Array, labels: Array) -> Array:
    """Cross-entropy over the choices: ``logits`` is ``(batch, num_choices)``."""
    inputs.check_class_labels(input_facts("labels", labels), tuple(logits.shape), what="choices")
    return cross_entropy(logits, labels)


def question_answering_loss(start_logits: Array, end_logits: Array, start_positions: Array, end_positions: Array) -> Array:
    """Mean of the start and end cross-entropies; positions outside the sequence are ignored.

    As transformers: positions are clamped to ``seq_len``, which is the ignored index.
    """
    batch, ignored = start_logits.shape
    inputs.check_span_positions(input_facts("start_positions", start_positions, values=False), batch)
    inputs.check_span_positions(input_facts("end_positions", end_positions, values=False), batch)
    start = jnp.clip(start_positions.reshape(batch, -1)[:, 0], 0, ignored)
    end = jnp.clip(end_positions.reshape(batch, -1)[:, 0], 0, ignored)
    return (cross_entropy(start_logits, start, ignored) + cross_entropy(end_logits, end, ignored)) / 2


def masked_image_modeling_loss(pixel_values: Array, reconstruction: Array, bool_masked_pos: Array,
                               patch_size: Any) -> Array:
    """Mean L1 error over the pixels of the masked patches, per channel (SimMIM, as transformers' ViT).

    ``pixel_values`` and ``reconstruction`` are ``(batch, channels, height, width)``, as the
    PyTorch models take and give them; ``bool_masked_pos`` is ``(batch, num_patches)``, patches
    in row-major order over the ``(height / patch_h, width / patch_w)`` grid of the input.
    """
    batch, channels, height, width = pixel_values.shape
    patch_h, patch_w = to_pair(patch_size)
    grid = jnp.asarray(bool_masked_pos).reshape(batch, height // patch_h, width // patch_w)
    mask = jnp.repeat(jnp.repeat(grid, patch_h, axis=1), patch_w, axis=2)[:, None].astype(reconstruction.dtype)
    errors = jnp.abs(jnp.asarray(pixel_values).astype(reconstruction.dtype) - reconstruction)
    return (errors * mask).sum() / (mask.sum() + 1e-5) / channels
