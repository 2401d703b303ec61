"""Loss functions of the task heads, shared by every Flax architecture.

They compute what the PyTorch backend's (and ``transformers``') losses compute, with PyTorch's
conventions (means over the elements that count, -100 ignored). Labels of the wrong shape or
dtype get one clear error first (:mod:`polyformer.core.inputs`); their values cannot be read
inside ``jax.jit``, so :class:`~polyformer.backends.flax.modeling.FlaxPreTrainedModel` checks
them after the run (a bad value there only makes the loss NaN), with the same rules.
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from ...core import inputs
from ...core.numerics import resolve_problem_type, to_pair
from .layers import input_facts, normal_init

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
    "check_negative_indices",
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


# ---- speech ---------------------------------------------------------------------------------------
def ctc_loss(logits: Array, labels: Array, output_lengths: Array, *, blank: int, reduction: str = "mean",
             zero_infinity: bool = False) -> Array:
    """Connectionist temporal classification, as ``torch.nn.functional.ctc_loss`` computes it.

    ``logits`` ``(batch, frames, vocab)``, of which the first ``output_lengths[i]`` frames are
    example ``i``'s; ``labels`` ``(batch, target_length)`` padded with -100. Label positions
    holding -100 or the ``blank`` id are left out, as in transformers. ``reduction="mean"``
    divides each example's loss by its transcript length (at least 1), then averages;
    ``"sum"`` adds them. A transcript its frames cannot hold (fewer frames than tokens plus a
    blank between each repeated pair) has an infinite loss, or with ``zero_infinity`` a zero
    loss and gradient. Dtype and shape are checked here; the values (which ``jit`` hides) are
    checked by the model before the run (:func:`polyformer.core.inputs.check_ctc_labels`).

    The loss is the log-space forward algorithm over the transcript with blanks around and
    between its tokens (``2 * target_length + 1`` states), run frame by frame with ``lax.scan``;
    an example's states stop moving after its last frame.
    """
    if reduction not in ("sum", "mean"):
        raise ValueError(f"ctc_loss reduction must be 'sum' or 'mean', got {reduction!r}")
    batch, frames, vocab = logits.shape
    inputs.check_ctc_labels(input_facts("labels", labels), batch, vocab, None, blank, zero_infinity)
    labels = jnp.asarray(labels)
    kept = (labels != IGNORE_INDEX) & (labels != blank)
    # The kept tokens moved to the front of each row, in order (a stable sort on "not kept").
    order = jnp.argsort(~kept, axis=1, stable=True)
    tokens = jnp.take_along_axis(jnp.where(kept, labels, blank), order, axis=1)
    target_lengths = kept.sum(-1)
    log_probs = jax.nn.log_softmax(logits.astype(jnp.float32), axis=-1)

    # The extended transcript: blank, token 1, blank, token 2, ..., blank.
    states = 2 * labels.shape[1] + 1
    extended = jnp.full((batch, states), blank, dtype=tokens.dtype).at[:, 1::2].set(tokens)
    # A state may be reached from two back when it is a token other than the one two back (no blank needed between).
    two_back = jnp.concatenate([jnp.full((batch, 2), blank, extended.dtype), extended[:, :-2]], axis=1)
    may_skip = (extended != blank) & (extended != two_back)
    emissions = jnp.take_along_axis(log_probs, jnp.broadcast_to(extended[:, None, :], (batch, frames, states)), axis=2)

    minus_inf = jnp.full((batch, 1), -jnp.inf, jnp.float32)
    # Frame 0 starts on the first blank or the first token.
    first = jnp.where(jnp.arange(states) < 2, emissions[:, 0], -jnp.inf)
    lengths = jnp.asarray(output_lengths)

    def step(alpha, frame):
        emission, t = frame
        one_back = jnp.concatenate([minus_inf, alpha[:, :-1]], axis=1)
        two = jnp.concatenate([minus_inf, minus_inf, alpha[:, :-2]], axis=1)
        summed = _log_add(_log_add(alpha, one_back), jnp.where(may_skip, two, -jnp.inf))
        moved = summed + emission
        return jnp.where((t < lengths)[:, None], moved, alpha), None

    steps = (emissions[:, 1:].transpose(1, 0, 2), jnp.arange(1, frames))
    alpha, _ = jax.lax.scan(step, first, steps)
    # The transcript ends on its last token or on the blank after it.
    last = 2 * target_lengths
    end_blank = jnp.take_along_axis(alpha, last[:, None], axis=1)[:, 0]
    end_token = jnp.take_along_axis(alpha, jnp.maximum(last - 1, 0)[:, None], axis=1)[:, 0]
    end_token = jnp.where(target_lengths > 0, end_token, -jnp.inf)
    losses = -_log_add(end_blank, end_token)
    if zero_infinity:
        losses = jnp.where(jnp.isinf(losses), 0.0, losses)
    if reduction == "mean":
        return jnp.mean(losses / jnp.maximum(target_lengths, 1).astype(jnp.float32))
    return jnp.sum(losses)


def _log_add(a: Array, b: Array) -> Array:
    """``log(exp(a) + exp(b))``, -inf where both are -inf (an unreachable state), with a zero gradient there.

    ``jnp.logaddexp`` gives a NaN gradient when both terms are -inf; they are swapped for zeros
    on that path (whose result is then discarded), so no NaN reaches the other states' gradients.
    """
    unreachable = jnp.isneginf(a) & jnp.isneginf(b)
    summed = jnp.logaddexp(jnp.where(unreachable, 0.0, a), jnp.where(unreachable, 0.0, b))
    return jnp.where(unreachable, -jnp.inf, summed)


def frame_classification_loss(logits: Array, labels: Array) -> Array:
    """Cross-entropy per frame: ``labels`` are one-hot rows ``(batch, frames, classes)`` (their argmax is the class)."""
    inputs.check_one_hot_labels(input_facts("labels", labels, values=False), tuple(logits.shape))
    classes = logits.shape[-1]
    return cross_entropy(logits.reshape(-1, classes), jnp.argmax(jnp.asarray(labels).reshape(-1, classes), axis=1))


def _normalize(x: Array, axis: int) -> Array:
    """``torch.nn.functional.normalize``: ``x / max(||x||, 1e-12)``."""
    return x / jnp.maximum(jnp.linalg.norm(x, axis=axis, keepdims=True), 1e-12)


class AMSoftmaxLoss(nn.Module):
    """Additive-margin softmax (https://arxiv.org/abs/1801.05599): the loss of x-vector speaker embeddings.

    As the PyTorch module: cosine similarities of the normalised ``embeddings`` and the
    normalised columns of ``weight`` ``(input_dim, num_labels)`` (N(0, 1) at first) are the
    logits; the true class's is lowered by ``margin`` and all are multiplied by ``scale`` before
    the cross-entropy.
    """

    input_dim: int
    num_labels: int
    scale: float = 30.0
    margin: float = 0.4
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, embeddings: Array, labels: Array | None = None) -> Array | None:
        """The loss; None without ``labels`` (the weight is made all the same: a Flax module makes its
        parameters when called, and the checkpoint has it whether or not a loss is asked for)."""
        weight = self.param("weight", normal_init(1.0), (self.input_dim, self.num_labels), self.dtype)
        if labels is None:
            return None
        labels = jnp.asarray(labels).reshape(-1)
        inputs.check_class_labels(input_facts("labels", labels), (embeddings.shape[0], self.num_labels))
        cosine = jnp.dot(_normalize(embeddings, 1), _normalize(weight, 0))
        target = jax.nn.one_hot(labels, self.num_labels, dtype=bool)
        return cross_entropy(self.scale * jnp.where(target, cosine - self.margin, cosine), labels)


def _cosine_similarity(x: Array, y: Array) -> Array:
    """``torch.cosine_similarity`` over the last axis (eps 1e-8), of broadcast arrays."""
    return jnp.sum(_normalize_eps(x) * _normalize_eps(y), axis=-1)


def _normalize_eps(x: Array) -> Array:
    return x / jnp.maximum(jnp.linalg.norm(x, axis=-1, keepdims=True), 1e-8)


def contrastive_loss(predicted: Array, targets: Array, negative_indices: Array, mask_time_indices: Array,
                     temperature: float) -> Array:
    """wav2vec 2.0's contrastive loss, summed over the masked frames.

    ``predicted`` and ``targets`` are ``(batch, frames, dim)``; each masked frame's prediction
    must pick its own target out of it and the targets at ``negative_indices``
    ``(batch, frames, num_negatives)`` (indices into the ``batch * frames`` flattened targets).
    Logits are cosine similarities over ``temperature``; a negative equal to the positive is
    left out (its logit is -inf). The indices' dtype and shape are checked here, their values
    by the model after the run (JAX clamps an index out of range, where PyTorch raises).
    """
    batch, frames, dim = targets.shape
    check_negative_indices(negative_indices, batch, frames)
    negatives = targets.reshape(-1, dim)[jnp.asarray(negative_indices).reshape(-1)]
    negatives = negatives.reshape(batch, frames, -1, dim).transpose(2, 0, 1, 3)  # (negatives, batch, frames, dim)
    candidates = jnp.concatenate([targets[None], negatives], axis=0)
    logits = _cosine_similarity(predicted.astype(jnp.float32), candidates.astype(jnp.float32)) / temperature
    same = jnp.all(targets[None] == negatives, axis=-1)
    logits = jnp.concatenate([logits[:1], jnp.where(same, -jnp.inf, logits[1:])], axis=0)
    logits = logits.transpose(1, 2, 0).reshape(-1, logits.shape[0])  # (batch * frames, 1 + negatives)
    masked = jnp.asarray(mask_time_indices).astype(bool).reshape(-1)
    # The positive is candidate 0; unmasked frames do not count (PyTorch's ignore_index, summed).
    positive = jax.nn.log_softmax(logits, axis=-1)[:, 0]
    return -jnp.sum(jnp.where(masked, positive, 0.0))


def diversity_loss(perplexity: Array, num_codevectors: int, mask_time_indices: Array) -> Array:
    """How far the codebook's perplexity is from using every code, times the number of masked frames."""
    masked = jnp.asarray(mask_time_indices).astype(jnp.float32).sum()
    return (num_codevectors - perplexity) / num_codevectors * masked


def check_negative_indices(negative_indices: Array, batch: int, frames: int) -> None:
    """``(batch, frames, num_negatives)`` integer indices into the ``batch * frames`` targets (values outside ``jit``)."""
    inputs.check_negative_indices(input_facts("sampled_negative_indices", negative_indices), batch, frames)
