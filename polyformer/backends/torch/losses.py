"""Loss functions of the task heads, shared by every PyTorch architecture.

They follow ``transformers`` exactly, so a loss computed here equals the one a
``transformers`` model gives on the same logits and labels. Labels of the wrong shape,
dtype or range get one clear error first (:mod:`polyformer.core.inputs`), where
``transformers`` fails inside the loss, or broadcasts and computes a wrong loss.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

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
]

#: Label value ignored by the cross-entropy losses (padding, special tokens).
IGNORE_INDEX = -100


def sequence_classification_loss(logits: torch.Tensor, labels: torch.Tensor, config: Any) -> torch.Tensor:
    """MSE (regression), cross-entropy (single label) or BCE-with-logits (multi label).

    The kind is ``config.problem_type``, inferred from the labels and written to the config
    the first time (:func:`polyformer.core.numerics.resolve_problem_type`), as transformers does.
    """
    num_labels = config.num_labels
    problem_type = resolve_problem_type(config, labels.dtype in (torch.long, torch.int))
    facts, shape = input_facts("labels", labels), tuple(logits.shape)
    if problem_type == "regression":
        inputs.check_regression_targets(facts, shape)
        if num_labels == 1:
            return F.mse_loss(logits.squeeze(), labels.squeeze().to(logits.dtype))
        return F.mse_loss(logits, labels.to(logits.dtype))
    if problem_type == "single_label_classification":
        inputs.check_class_labels(facts, shape)
        return F.cross_entropy(logits.view(-1, num_labels), labels.view(-1))
    inputs.check_multi_label_targets(facts, shape)
    return F.binary_cross_entropy_with_logits(logits, labels.to(logits.dtype))


def token_classification_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Cross-entropy over every token; labels of -100 are ignored."""
    inputs.check_class_labels(input_facts("labels", labels), tuple(logits.shape))
    return F.cross_entropy(logits.view(-1, logits.size(-1)), labels.view(-1), ignore_index=IGNORE_INDEX)


def masked_lm_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Cross-entropy over the vocabulary at the masked positions (the others are labelled -100)."""
    inputs.check_class_labels(input_facts("labels", labels), tuple(logits.shape), what="vocabulary tokens")
    return F.cross_entropy(logits.view(-1, logits.size(-1)), labels.view(-1), ignore_index=IGNORE_INDEX)


def multiple_choice_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Cross-entropy over the choices: ``logits`` is ``(batch, num_choices)``."""
    inputs.check_class_labels(input_facts("labels", labels), tuple(logits.shape), what="choices")
    return F.cross_entropy(logits, labels.view(-1))


def question_answering_loss(
    start_logits: torch.Tensor,
    end_logits: torch.Tensor,
    start_positions: torch.Tensor,
    end_positions: torch.Tensor,
) -> torch.Tensor:
    """Mean of the start and end cross-entropies; positions outside the sequence are ignored."""
    inputs.check_span_positions(input_facts("start_positions", start_positions, values=False), start_logits.size(0))
    inputs.check_span_positions(input_facts("end_positions", end_positions, values=False), end_logits.size(0))
    if start_positions.dim() > 1:
        start_positions = start_positions.squeeze(-1)
    if end_positions.dim() > 1:
        end_positions = end_positions.squeeze(-1)
    ignored = start_logits.size(1)
    start_positions = start_positions.clamp(0, ignored)
    end_positions = end_positions.clamp(0, ignored)
    start_loss = F.cross_entropy(start_logits, start_positions, ignore_index=ignored)
    end_loss = F.cross_entropy(end_logits, end_positions, ignore_index=ignored)
    return (start_loss + end_loss) / 2


def masked_image_modeling_loss(pixel_values: torch.Tensor, reconstruction: torch.Tensor, bool_masked_pos: torch.Tensor,
                               patch_size: Any) -> torch.Tensor:
    """Mean L1 error over the pixels of the masked patches, per channel (SimMIM, as transformers' ViT).

    ``bool_masked_pos`` is ``(batch, num_patches)``, patches in row-major order over the
    ``(height / patch_h, width / patch_w)`` grid of the input.
    """
    batch, channels, height, width = pixel_values.shape
    patch_h, patch_w = to_pair(patch_size)
    grid = bool_masked_pos.reshape(batch, height // patch_h, width // patch_w)
    mask = grid.repeat_interleave(patch_h, 1).repeat_interleave(patch_w, 2).unsqueeze(1).to(reconstruction.dtype)
    errors = F.l1_loss(pixel_values.to(reconstruction.dtype), reconstruction, reduction="none")
    return (errors * mask).sum() / (mask.sum() + 1e-5) / channels
