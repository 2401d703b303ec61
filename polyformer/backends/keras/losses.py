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
from . import engine, layers
from .layers import input_facts, keras, ops

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


def cross_entropy(logits, labels, ignore_index: Any = IGNORE_INDEX):
    """``nn.CrossEntropyLoss``: mean over the labels that are not ``ignore_index``.

    ``logits`` is ``(..., classes)`` and ``labels`` the matching integers ``(...)``. Like
    PyTorch, the result is NaN when every label is ignored.
    """
    logits = ops.cast(ops.reshape(logits, (-1, ops.shape(logits)[-1])), "float32")
    labels = ops.reshape(ops.cast(labels, "int32"), (-1,))
    keep = ops.not_equal(labels, ops.cast(ignore_index, "int32"))
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
    ignored = ops.cast(ops.shape(start_logits)[1], "int32")

    def clamped(positions):
        positions = ops.cast(positions, "int32")
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


# ---- speech ---------------------------------------------------------------------------------
def ctc_loss(logits, labels, output_lengths, *, blank: int, reduction: str = "mean", zero_infinity: bool = False):
    """Connectionist temporal classification: ``logits`` ``(batch, frames, vocab)``, of which the first
    ``output_lengths[i]`` frames are example ``i``'s; ``labels`` ``(batch, target_length)`` padded with -100.

    PyTorch's ``F.ctc_loss`` semantics: label positions holding -100 or the ``blank`` id are
    left out (as in transformers); ``reduction="mean"`` divides each example's loss by its
    transcript length (at least 1), then averages; ``"sum"`` adds them; ``zero_infinity`` gives a
    transcript that cannot fit its frames a zero loss (and gradient) instead of an infinite one.
    The labels are checked first (:func:`polyformer.core.inputs.check_ctc_labels`; whether they
    fit their frames only when running eagerly, where the lengths can be read). Computed in
    float32 by :func:`ctc_negative_log_likelihood`.
    """
    batch, _, vocab = logits.shape
    frames = input_facts("output_lengths", output_lengths).values
    inputs.check_ctc_labels(input_facts("labels", labels), batch, vocab, frames, blank, zero_infinity)
    labels = ops.cast(labels, "int32")
    kept = ops.logical_and(ops.not_equal(labels, IGNORE_INDEX), ops.not_equal(labels, blank))
    target_lengths = ops.sum(ops.cast(kept, "int32"), axis=-1)
    # Each transcript's kept tokens moved to its front, in order (the rest is never read).
    width = ops.shape(labels)[1]
    positions = ops.arange(width, dtype="int32")[None, :]
    order = ops.argsort(ops.where(kept, positions, positions + width), axis=-1)
    targets = ops.take_along_axis(ops.where(kept, labels, blank), order, axis=1)
    log_probs = ops.log_softmax(ops.cast(logits, "float32"), axis=-1)
    losses = ctc_negative_log_likelihood(log_probs, targets, ops.cast(output_lengths, "int32"), target_lengths, blank)
    if zero_infinity:
        losses = ops.where(ops.isinf(losses), 0.0, losses)
    if reduction == "sum":
        return ops.sum(losses)
    return ops.mean(losses / ops.cast(ops.maximum(target_lengths, 1), "float32"))


def _logsumexp(*terms):
    """``log(sum(exp(terms)))`` element-wise, -inf where every term is -inf, with finite gradients there too.

    (The plain formula takes ``-inf - -inf`` there, which is NaN, and so would its gradient be.)
    """
    top = terms[0]
    for term in terms[1:]:
        top = ops.maximum(top, term)
    finite = ops.isfinite(top)
    shift = ops.stop_gradient(ops.where(finite, top, 0.0))
    total = sum(ops.exp(term - shift) for term in terms)
    return ops.where(finite, ops.log(ops.where(finite, total, 1.0)) + shift, float("-inf"))


def ctc_negative_log_likelihood(log_probs, targets, input_lengths, target_lengths, blank: int):
    """``-log p(target | frames)`` per example, by CTC's forward algorithm in log space.

    ``log_probs`` ``(batch, frames, vocab)``; ``targets`` ``(batch, width)``, of which the first
    ``target_lengths[i]`` are example ``i``'s tokens (never the blank); ``input_lengths[i]`` frames
    are its own. The alignment runs over ``2 * width + 1`` states, the tokens with a blank before,
    between and after them: each frame stays in its state, moves to the next, or skips a blank
    between two different tokens. Frames past an example's length leave its states as they are.
    A transcript that cannot fit its frames gets +inf. The loop over the frames
    (:func:`.engine.differentiable_loop`) runs eagerly, traced and under XLA, and differentiates.
    """
    batch, frames = ops.shape(log_probs)[0], ops.shape(log_probs)[1]
    width = ops.shape(targets)[1]
    states = 2 * width + 1
    blanks = ops.full_like(targets, blank)
    extended = ops.concatenate([ops.reshape(ops.stack([blanks, targets], axis=-1), (batch, 2 * width)),
                                blanks[:, :1]], axis=1)
    two_back = ops.concatenate([blanks[:, :2], extended[:, :-2]], axis=1)
    can_skip = ops.logical_and(ops.not_equal(extended, blank), ops.not_equal(extended, two_back))
    emissions = ops.take_along_axis(log_probs, ops.broadcast_to(extended[:, None, :], (batch, frames, states)), axis=2)
    impossible = ops.full((batch, 2), float("-inf"))
    first = ops.where(ops.arange(states)[None, :] < 2, emissions[:, 0], float("-inf"))

    def step(frame, alpha):
        from_previous = ops.concatenate([impossible[:, :1], alpha[:, :-1]], axis=1)
        from_two_back = ops.where(can_skip, ops.concatenate([impossible, alpha[:, :-2]], axis=1), float("-inf"))
        advanced = _logsumexp(alpha, from_previous, from_two_back) + ops.take(emissions, frame, axis=1)
        return ops.where((frame < input_lengths)[:, None], advanced, alpha)

    alpha = engine.differentiable_loop(1, frames, step, first)
    end = 2 * target_lengths
    last = ops.take_along_axis(alpha, end[:, None], axis=1)[:, 0]
    before = ops.take_along_axis(alpha, ops.maximum(end - 1, 0)[:, None], axis=1)[:, 0]
    return -_logsumexp(last, ops.where(target_lengths > 0, before, float("-inf")))


def frame_classification_loss(logits, labels):
    """Cross-entropy per frame: ``labels`` are one-hot rows ``(batch, frames, classes)`` (their argmax is the class)."""
    inputs.check_one_hot_labels(input_facts("labels", labels, values=False), tuple(logits.shape))
    classes = logits.shape[-1]
    return cross_entropy(ops.reshape(logits, (-1, classes)), ops.argmax(ops.reshape(labels, (-1, classes)), axis=1))


def _normalize(x, axis: int):
    """``x / max(||x||, 1e-12)`` along ``axis``, as ``torch.nn.functional.normalize``."""
    return x / ops.maximum(ops.sqrt(ops.sum(ops.square(x), axis=axis, keepdims=True)), 1e-12)


class AMSoftmaxLoss(keras.layers.Layer):
    """Additive-margin softmax (https://arxiv.org/abs/1801.05599): the loss of x-vector speaker embeddings.

    Cosine similarities of the normalised ``embeddings`` and the normalised columns of
    ``weight`` ``(input_dim, num_labels)`` are the logits; the true class's is lowered by
    ``margin`` and all are multiplied by ``scale`` before the cross-entropy. ``weight`` is drawn
    from N(0, 1), as transformers draws it (only its direction matters).
    """

    def __init__(self, input_dim: int, num_labels: int, scale: float = 30.0, margin: float = 0.4, **kwargs):
        super().__init__(**kwargs)
        self.scale, self.margin, self.num_labels = scale, margin, num_labels
        self._init = layers.normal_initializer(1.0)
        self.weight = self.add_weight(shape=(input_dim, num_labels), initializer=self._init, name="weight")
        self.built = True

    def call(self, embeddings, labels):
        labels = ops.reshape(labels, (-1,))
        inputs.check_class_labels(input_facts("labels", labels), (embeddings.shape[0], self.num_labels))
        cosine = ops.matmul(_normalize(embeddings, 1), _normalize(self.weight, 0))
        target = ops.one_hot(ops.cast(labels, "int32"), self.num_labels, dtype="bool")
        return cross_entropy(self.scale * ops.where(target, cosine - self.margin, cosine), labels)

    def canonical_weights(self) -> dict[str, layers.CanonicalWeight]:
        return {"weight": layers.CanonicalWeight(self.weight, self._init)}


def _cosine_similarity(x, y):
    """Cosine similarity over the last axis, each vector divided by ``max(||v||, 1e-8)``, as ``torch.cosine_similarity``."""
    def unit(v):
        return v / ops.maximum(ops.sqrt(ops.sum(ops.square(v), axis=-1, keepdims=True)), 1e-8)

    return ops.sum(unit(x) * unit(y), axis=-1)


def contrastive_loss(predicted, targets, negative_indices, mask_time_indices, temperature: float):
    """wav2vec 2.0's contrastive loss, summed over the masked frames.

    ``predicted`` and ``targets`` are ``(batch, frames, dim)``; each masked frame's prediction
    must pick its own target out of it and the targets at ``negative_indices``
    ``(batch, frames, num_negatives)`` (indices into the ``batch * frames`` flattened targets).
    Logits are cosine similarities over ``temperature`` (in float32); a negative equal to the
    positive is left out (its logit is -inf).
    """
    batch, frames, dim = ops.shape(targets)
    check_negative_indices(negative_indices, batch, frames)
    flat = ops.reshape(targets, (-1, dim))
    negatives = ops.take(flat, ops.reshape(ops.cast(negative_indices, "int32"), (-1,)), axis=0)
    negatives = ops.reshape(negatives, (batch, frames, -1, dim))  # (batch, frames, negatives, dim)
    candidates = ops.concatenate([targets[:, :, None], negatives], axis=2)
    logits = _cosine_similarity(ops.cast(predicted, "float32")[:, :, None], ops.cast(candidates, "float32"))
    logits = logits / temperature
    same = ops.all(ops.equal(targets[:, :, None], negatives), axis=-1)
    logits = ops.concatenate([logits[..., :1], ops.where(same, float("-inf"), logits[..., 1:])], axis=-1)
    positive = ops.log_softmax(logits, axis=-1)[..., 0]
    return -ops.sum(ops.where(ops.cast(mask_time_indices, "bool"), positive, 0.0))


def diversity_loss(perplexity, num_codevectors: int, mask_time_indices):
    """How far the codebook's perplexity is from using every code, times the number of masked frames."""
    masked = ops.sum(ops.cast(mask_time_indices, "float32"))
    return (num_codevectors - perplexity) / num_codevectors * ops.cast(masked, perplexity.dtype)


def check_negative_indices(negative_indices, batch, frames) -> None:
    """``(batch, frames, num_negatives)`` integer indices into the ``batch * frames`` targets.

    Sizes unknown while tracing (None, or tensors) are not compared; values are read only eagerly.
    """
    facts = input_facts("sampled_negative_indices", negative_indices)
    if facts.dtype not in ("int32", "int64"):
        raise inputs.ModelInputTypeError(
            f"sampled_negative_indices must hold integer indices, got dtype {facts.dtype}")
    known = [size if isinstance(size, int) else None for size in (batch, frames)]
    shape = facts.shape
    if shape is not None and (len(shape) != 3 or any(
            got is not None and want is not None and got != want for got, want in zip(shape[:2], known))):
        raise inputs.ModelInputError(
            f"sampled_negative_indices has shape {shape}, but the model gives {frames} frames "
            f"for each of {batch} examples: expected ({batch}, {frames}, num_negatives), e.g. from "
            f"polyformer.models.wav2vec2.masking.sample_negative_indices"
        )
    if None not in known and facts.values is not None and facts.values.size:
        total = known[0] * known[1]
        values = facts.values
        if values.min() < 0 or values.max() >= total:
            bad = values[(values < 0) | (values >= total)].flat[0]
            raise inputs.ModelInputError(
                f"sampled_negative_indices contains {int(bad)}, outside the {total} frames of the batch "
                f"(0..{total - 1}: frame + example * frames)"
            )
