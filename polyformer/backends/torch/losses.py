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
from torch import nn

from ...core import inputs
from ...core.numerics import resolve_problem_type, to_pair
from .layers import input_facts
from .layers import is_tracing as layers_tracing

__all__ = [
    "sequence_classification_loss",
    "token_classification_loss",
    "masked_lm_loss",
    "multiple_choice_loss",
    "question_answering_loss",
    "masked_image_modeling_loss",
    "ctc_loss",
    "frame_classification_loss",
    "AMSoftmaxLoss",
    "contrastive_loss",
    "diversity_loss",
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


def ctc_loss(logits: torch.Tensor, labels: torch.Tensor, output_lengths: torch.Tensor, *, blank: int,
             reduction: str = "mean", zero_infinity: bool = False) -> torch.Tensor:
    """Connectionist temporal classification: ``logits`` ``(batch, frames, vocab)``, of which the first
    ``output_lengths[i]`` frames are example ``i``'s; ``labels`` ``(batch, target_length)`` padded with -100.

    Label positions holding -100 or the ``blank`` id are left out, as in transformers. The
    labels are checked first (:func:`polyformer.core.inputs.check_ctc_labels`): a transcript
    that cannot fit its frames is an error, unless ``zero_infinity`` gives it a zero loss.
    ``reduction="mean"`` divides each example's loss by its transcript length, then averages.
    """
    batch, _, vocab = logits.shape
    frames = None if layers_tracing() else output_lengths.detach().cpu().numpy()
    inputs.check_ctc_labels(input_facts("labels", labels), batch, vocab, frames, blank, zero_infinity)
    labels = labels.to(logits.device)
    kept = (labels != IGNORE_INDEX) & (labels != blank)
    log_probs = F.log_softmax(logits, dim=-1, dtype=torch.float32).transpose(0, 1)
    with torch.backends.cudnn.flags(enabled=False):  # cuDNN's kernel takes other layouts and limits; same numbers
        return F.ctc_loss(log_probs, labels.masked_select(kept), output_lengths.to(torch.long), kept.sum(-1),
                          blank=blank, reduction=reduction, zero_infinity=zero_infinity)


def frame_classification_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Cross-entropy per frame: ``labels`` are one-hot rows ``(batch, frames, classes)`` (their argmax is the class)."""
    inputs.check_one_hot_labels(input_facts("labels", labels, values=False), tuple(logits.shape))
    classes = logits.size(-1)
    return F.cross_entropy(logits.reshape(-1, classes), labels.reshape(-1, classes).argmax(dim=1))


class AMSoftmaxLoss(nn.Module):
    """Additive-margin softmax (https://arxiv.org/abs/1801.05599): the loss of x-vector speaker embeddings.

    Cosine similarities of the normalised ``embeddings`` and the normalised columns of
    ``weight`` ``(input_dim, num_labels)`` are the logits; the true class's is lowered by
    ``margin`` and all are multiplied by ``scale`` before the cross-entropy.
    """

    def __init__(self, input_dim: int, num_labels: int, scale: float = 30.0, margin: float = 0.4) -> None:
        super().__init__()
        self.scale, self.margin, self.num_labels = scale, margin, num_labels
        self.weight = nn.Parameter(torch.empty(input_dim, num_labels))

    @torch.no_grad()
    def init_own_weights(self, std: float, only: set[str] | None = None) -> None:
        """``weight`` ~ N(0, 1), as transformers draws it (the columns are normalised before use)."""
        if only is None or "weight" in only:
            self.weight.normal_(0.0, 1.0)

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        labels = labels.reshape(-1)
        inputs.check_class_labels(input_facts("labels", labels), (embeddings.size(0), self.num_labels))
        cosine = torch.mm(F.normalize(embeddings, dim=1), F.normalize(self.weight, dim=0))
        target = F.one_hot(labels, self.num_labels).bool()
        return F.cross_entropy(self.scale * torch.where(target, cosine - self.margin, cosine), labels)


def contrastive_loss(predicted: torch.Tensor, targets: torch.Tensor, negative_indices: torch.Tensor,
                     mask_time_indices: torch.Tensor, temperature: float) -> torch.Tensor:
    """wav2vec 2.0's contrastive loss, summed over the masked frames.

    ``predicted`` and ``targets`` are ``(batch, frames, dim)``; each masked frame's prediction
    must pick its own target out of it and the targets at ``negative_indices``
    ``(batch, frames, num_negatives)`` (indices into the ``batch * frames`` flattened targets).
    Logits are cosine similarities over ``temperature``; a negative equal to the positive is
    left out (its logit is -inf).
    """
    batch, frames, dim = targets.shape
    check_negative_indices(negative_indices, batch, frames)
    negatives = targets.reshape(-1, dim)[negative_indices.long().reshape(-1)]
    negatives = negatives.view(batch, frames, -1, dim).permute(2, 0, 1, 3)  # (negatives, batch, frames, dim)
    candidates = torch.cat([targets[None], negatives], dim=0)
    logits = torch.cosine_similarity(predicted.float(), candidates.float(), dim=-1).type_as(candidates) / temperature
    same = (targets[None] == negatives).all(-1)
    if same.any():
        logits[1:][same] = float("-inf")
    logits = logits.permute(1, 2, 0).reshape(-1, logits.size(0))  # (batch * frames, 1 + negatives)
    target = torch.where(mask_time_indices.bool(), 0, IGNORE_INDEX).reshape(-1).long()
    return F.cross_entropy(logits.float(), target, reduction="sum")


def diversity_loss(perplexity: torch.Tensor, num_codevectors: int, mask_time_indices: torch.Tensor) -> torch.Tensor:
    """How far the codebook's perplexity is from using every code, times the number of masked frames."""
    return (num_codevectors - perplexity) / num_codevectors * mask_time_indices.sum()


def check_negative_indices(negative_indices: torch.Tensor, batch: int, frames: int) -> None:
    """``(batch, frames, num_negatives)`` integer indices into the ``batch * frames`` targets."""
    inputs.check_negative_indices(input_facts("sampled_negative_indices", negative_indices), batch, frames)
