"""Loss functions of the task heads, shared by every Keras architecture.

The same losses as the PyTorch backend's (:mod:`polyformer.backends.torch.losses`), with
``torch.nn``'s semantics (mean reduction, ``-100`` labels ignored), computed in float32 so a
half-precision model trains on a float32 loss. Labels of the wrong shape, dtype or range get
one clear error first (:mod:`polyformer.core.inputs`), word for word the PyTorch backend's.
"""

from __future__ import annotations

from typing import Any

from ...core import inputs
from ...core.numerics import resolve_problem_type, to_pair
from .layers import input_facts, keras, ops  # the backend sets KERAS_BACKEND before importing keras

__all__ = [
    "sequence_classification_loss",
    "token_classification_loss",
    "masked_lm_loss",
    "multiple_choice_loss",
    "question_answering_loss",
    "masked_image_modeling_loss",
]

#: Label value ignored by the cross-entropy losses (padding, special tokens).
IGNORE_INDEX = -100


def cross_entropy(logits, labels, ignore_index: Any = IGNORE_INDEX):
    """``nn.CrossEntropyLoss``: mean over the labels that are not ``ignore_index``.

    ``logits`` is ``(..., classes)`` and ``labels`` the matching integers ``(...)``. Like
    PyTorch, the result is NaN when every label is ignored.
    """
    logits = ops.cast(ops.reshape(logits, (-1, ops.shape(logits)[-1])), "float32")
    labels = ops.reshape(ops.cast(labels, "int64"), (-1,))
    keep = ops.not_equal(labels, ops.cast(ignore_index, "int64"))
    losses = ops.sparse_categorical_crossentropy(ops.where(keep, labels, 0), logits, from_logits=True)
    keep = ops.cast(keep, "float32")
    return ops.sum(losses * keep) / ops.sum(keep)


def _mse(predictions, targets):
    """``nn.MSELoss``: mean squared error, in float32."""
    return ops.mean(ops.square(ops.cast(predictions, "float32") - ops.cast(targets, "float32")))


def _is_integer(labels) -> bool:
    return keras.backend.standardize_dtype(labels.dtype) in ("int32", "int64")


def sequence_classification_loss(logits, labels, config: Any):
    """MSE (regression), cross-entropy (single label) or BCE-with-logits (multi label).

    The kind is ``config.problem_type``, inferred from the labels and written to the config
    the first time (:func:`polyformer.core.numerics.resolve_problem_type`), as transformers does.
    """
    num_labels = config.num_labels
    problem_type = resolve_problem_type(config, _is_integer(labels))
    facts, shape = input_facts("labels", labels), tuple(logits.shape)
    if problem_type == "regression":
        inputs.check_regression_targets(facts, shape)
        if num_labels == 1:
            return _mse(ops.squeeze(logits), ops.squeeze(labels))
        return _mse(logits, labels)
    if problem_type == "single_label_classification":
        inputs.check_class_labels(facts, shape)
        return cross_entropy(ops.reshape(logits, (-1, num_labels)), ops.reshape(labels, (-1,)))
    inputs.check_multi_label_targets(facts, shape)
    return ops.mean(ops.binary_crossentropy(ops.cast(labels, "float32"), ops.cast(logits, "float32"), from_logits=True))


def token_classification_loss(logits, labels):
    """Cross-entropy over every token; labels of -100 are ignored."""
    inputs.check_class_labels(input_facts("labels", labels), tuple(logits.shape))
    return cross_entropy(logits, labels)


def masked_lm_loss(logits, labels):
    """Cross-entropy over the vocabulary at the masked positions (the others are labelled -100)."""
    inputs.check_class_labels(input_facts("labels", labels), tuple(logits.shape), what="vocabulary tokens")
    return cross_entropy(logits, labels)


def multiple_choice_loss(logits, labels):
    """Cross-entropy over the choices: ``logits`` is ``(batch, num_choices)``."""
    inputs.check_class_labels(input_facts("labels", labels), tuple(logits.shape), what="choices")
    return cross_entropy(logits, labels)


def question_answering_loss(start_logits, end_logits, start_positions, end_positions):
    """Mean of the start and end cross-entropies; positions outside the sequence are ignored.

    As in ``transformers``: positions are clamped to ``[0, seq_len]`` and ``seq_len`` is the
    ignored index.
    """
    batch = start_logits.shape[0]
    inputs.check_span_positions(input_facts("start_positions", start_positions, values=False), batch)
    inputs.check_span_positions(input_facts("end_positions", end_positions, values=False), batch)
    ignored = ops.cast(ops.shape(start_logits)[1], "int64")

    def clamped(positions):
        positions = ops.cast(positions, "int64")
        if len(positions.shape) > 1:
            positions = ops.squeeze(positions, -1)
        return ops.clip(positions, 0, ignored)

    start_loss = cross_entropy(start_logits, clamped(start_positions), ignore_index=ignored)
    end_loss = cross_entropy(end_logits, clamped(end_positions), ignore_index=ignored)
    return (start_loss + end_loss) / 2


def masked_image_modeling_loss(pixel_values, reconstruction, bool_masked_pos, patch_size: Any):
    """Mean L1 error over the pixels of the masked patches, per channel (SimMIM, as transformers' ViT).

    ``pixel_values`` and ``reconstruction`` are ``(batch, channels, height, width)``;
    ``bool_masked_pos`` is ``(batch, num_patches)``, patches in row-major order over the
    ``(height / patch_h, width / patch_w)`` grid of the input.
    """
    _, channels, height, width = pixel_values.shape
    patch_h, patch_w = to_pair(patch_size)
    grid = ops.reshape(bool_masked_pos, (-1, height // patch_h, width // patch_w))
    mask = ops.repeat(ops.repeat(grid, patch_h, axis=1), patch_w, axis=2)[:, None]
    mask = ops.cast(mask, "float32")
    errors = ops.abs(ops.cast(pixel_values, "float32") - ops.cast(reconstruction, "float32"))
    return ops.sum(errors * mask) / (ops.sum(mask) + 1e-5) / channels
