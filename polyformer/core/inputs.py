"""What makes a model input valid, and the error when it is not: written once for every framework.

Frameworks fail very differently on bad inputs: PyTorch and TensorFlow raise deep inside an
op (``index out of range in self``), JAX silently clamps out-of-range ids or wraps int64 to
int32, and a mask of 0.5 simply computes something. So each backend only reads the *facts*
of an input (:class:`Facts`: its dtype name, its shape and, when they can be read, its
values) and hands them to the rules below, which decide and word the error. The same bad
input therefore gets the same error, word for word, in PyTorch, Keras and Flax.

Values cannot be read while a function is being traced (``jax.jit``, ``tf.function``,
``torch.compile``): backends then leave ``Facts.values`` as None, and only the rules on
dtypes and on the sizes known at that point apply.

Errors are :class:`ModelInputError` (a ``ValueError``) for shapes and values, and
:class:`ModelInputTypeError` (also a ``TypeError``) for the wrong kind or dtype.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "ModelInputError",
    "ModelInputTypeError",
    "Facts",
    "TextLimits",
    "INDEX_DTYPES",
    "IGNORE_INDEX",
    "array_facts",
    "as_array",
    "check_ids_or_embeds",
    "check_text_inputs",
    "check_text_kinds",
    "check_text_values",
    "check_attention_mask",
    "check_mask_values",
    "check_choice_inputs",
    "check_class_labels",
    "check_regression_targets",
    "check_multi_label_targets",
    "check_span_positions",
    "check_pixel_values",
    "check_input_values",
    "check_audio_lengths",
    "check_ctc_labels",
    "check_one_hot_labels",
    "check_negative_indices",
]

#: Dtypes an embedding lookup takes (what PyTorch's ``nn.Embedding`` accepts).
INDEX_DTYPES = ("int32", "int64")
#: Label value the cross-entropy losses skip (PyTorch's default ``ignore_index``).
IGNORE_INDEX = -100


class ModelInputError(ValueError):
    """An input a model cannot use: the wrong shape, or values outside what it can embed."""


class ModelInputTypeError(ModelInputError, TypeError):
    """An input of the wrong kind or dtype (float token ids, say)."""


@dataclass(frozen=True)
class Facts:
    """What a backend reads from one input: enough to judge it without the framework.

    ``dtype`` is the numpy-style name (``"int64"``, ``"float32"``, ``"bool"``, ``"bfloat16"``);
    ``shape`` has None for sizes unknown while tracing (or is None when even the rank is
    unknown); ``values`` is a numpy copy, or None while tracing.
    """

    name: str
    dtype: str
    shape: tuple[int | None, ...] | None
    values: np.ndarray | None = None


@dataclass(frozen=True)
class TextLimits:
    """The sizes of a text embedding block: what ids and embeddings it can take."""

    vocab_size: int
    max_positions: int
    hidden_size: int
    type_vocab_size: int = 0


# ---- reading facts ----------------------------------------------------------------------
def as_array(name: str, value: Any) -> np.ndarray:
    """A Python list (or tuple) of numbers -> a numpy array, with a clear error for ragged rows."""
    try:
        return np.asarray(value)
    except ValueError:
        raise ModelInputError(
            f"{name} is a list whose rows have different lengths, which makes no array: pad them to one length "
            f"(e.g. tokenizer(..., padding=True)) or pass a tensor"
        ) from None


def array_facts(name: str, array: np.ndarray) -> Facts:
    """The facts of a numpy array (values included)."""
    return Facts(name, _dtype_name(array.dtype), tuple(array.shape), array)


def _dtype_name(dtype: Any) -> str:
    return str(dtype).rpartition(".")[2]


# ---- wording ----------------------------------------------------------------------------
def _shape_text(shape: tuple[int | None, ...] | None) -> str:
    if shape is None:
        return "(unknown)"
    sizes = ["?" if size is None else str(size) for size in shape]
    return f"({sizes[0]},)" if len(sizes) == 1 else f"({', '.join(sizes)})"


def _value_text(value: Any) -> str:
    value = value.item() if hasattr(value, "item") else value
    if isinstance(value, float) and value.is_integer():
        return repr(value)  # 2.0, not 2: the user passed floats
    return str(value)


def _same_sizes(shape: tuple[int | None, ...], expected: tuple[int | None, ...]) -> bool:
    """Equal ranks and equal sizes wherever both are known."""
    return len(shape) == len(expected) and all(a is None or b is None or a == b for a, b in zip(shape, expected))


def _is_floating(dtype: str) -> bool:
    return dtype.startswith(("float", "bfloat"))


def _is_numeric(dtype: str) -> bool:
    return dtype == "bool" or dtype.startswith(("int", "uint", "float", "bfloat"))


# ---- rules shared by several inputs -------------------------------------------------------
def _check_index_dtype(facts: Facts, what: str) -> None:
    if facts.dtype not in INDEX_DTYPES:
        raise ModelInputTypeError(
            f"{facts.name} must hold {what} as integers of dtype int32 or int64, got dtype {facts.dtype}: "
            f"cast them (e.g. ids.long() in PyTorch, ids.astype('int64') in numpy)"
        )


def _check_rank(facts: Facts, layout: str, rank: int, hint: str = "") -> None:
    if facts.shape is not None and len(facts.shape) != rank:
        raise ModelInputError(f"{facts.name} must have shape {layout}, got shape {_shape_text(facts.shape)}{hint}")


def _check_not_empty(facts: Facts) -> None:
    if facts.shape is not None and 0 in facts.shape:
        raise ModelInputError(
            f"{facts.name} has shape {_shape_text(facts.shape)}: a batch needs at least one sequence, "
            f"and a sequence at least one token"
        )


def _check_broadcasts(facts: Facts, batch: int | None, length: int | None, what: str) -> None:
    """``(sequence,)``, ``(1, sequence)`` or ``(batch, sequence)``: what an embedding sum broadcasts."""
    shape = facts.shape
    if shape is None:
        return
    if not any(_same_sizes(shape, ok) for ok in ((length,), (1, length), (batch, length))):
        raise ModelInputError(
            f"{facts.name} has shape {_shape_text(shape)}, but {what} has shape {_shape_text((batch, length))}: "
            f"expected one entry per token, shape (batch, sequence) (or (1, sequence), shared by the batch)"
        )


def _check_range(facts: Facts, count: int, expected: str, ignore: int | None = None) -> None:
    """Every value in ``0..count-1`` (or equal to ``ignore``); ``expected`` says what that range is."""
    values = facts.values
    if values is None or values.size == 0:
        return
    bad = (values < 0) | (values >= count)
    if ignore is not None:
        bad &= values != ignore
    if bad.any():
        raise ModelInputError(f"{facts.name} contains {_value_text(values[bad].flat[0])}, outside {expected}")


# ---- text inputs: input_ids / inputs_embeds, token_type_ids, position_ids -------------------
def check_ids_or_embeds(input_ids: Any, inputs_embeds: Any) -> None:
    """Exactly one of the two: the ids the tokenizer made, or their embeddings."""
    if input_ids is not None and inputs_embeds is not None:
        raise ModelInputError("got both input_ids and inputs_embeds: pass exactly one of input_ids or inputs_embeds")
    if input_ids is None and inputs_embeds is None:
        raise ModelInputError(
            "got neither input_ids nor inputs_embeds: pass exactly one of input_ids or inputs_embeds "
            "(input_ids are what the tokenizer makes)"
        )


def check_text_inputs(
    limits: TextLimits,
    input_ids: Facts | None = None,
    token_type_ids: Facts | None = None,
    position_ids: Facts | None = None,
    inputs_embeds: Facts | None = None,
) -> None:
    """Everything a text embedding block needs of its inputs (dtype, shape, then values).

    ``input_ids`` ``(batch, sequence)`` of int32/int64 ids inside the vocabulary, or
    ``inputs_embeds`` ``(batch, sequence, hidden_size)`` floats; no empty axis; at most
    ``max_positions`` tokens unless ``position_ids`` say where each one is; ``token_type_ids``
    and ``position_ids`` of the same ``(batch, sequence)`` shape (or shared by the batch),
    inside their tables.
    """
    check_text_kinds(input_ids, token_type_ids, position_ids, inputs_embeds)
    if input_ids is not None:
        one_sequence = input_ids.shape is not None and len(input_ids.shape) == 1
        _check_rank(input_ids, "(batch, sequence)", 2, ": for one sequence add a batch axis (e.g. ids[None])" if one_sequence else "")
        _check_not_empty(input_ids)
        main = input_ids
    else:
        _check_rank(inputs_embeds, f"(batch, sequence, {limits.hidden_size})", 3)
        _check_not_empty(inputs_embeds)
        width = inputs_embeds.shape[2] if inputs_embeds.shape is not None else None
        if width is not None and width != limits.hidden_size:
            raise ModelInputError(
                f"inputs_embeds has shape {_shape_text(inputs_embeds.shape)}, but the model's hidden size is "
                f"{limits.hidden_size}: expected shape (batch, sequence, {limits.hidden_size})"
            )
        main = inputs_embeds
    batch, length = main.shape[:2] if main.shape is not None else (None, None)
    if position_ids is None and length is not None and length > limits.max_positions:
        raise ModelInputError(
            f"{main.name} has {length} positions, but the model has only {limits.max_positions} position embeddings "
            f"(max_position_embeddings): truncate the input, e.g. tokenizer(..., truncation=True, "
            f"max_length={limits.max_positions})"
        )
    if token_type_ids is not None:
        _check_broadcasts(token_type_ids, batch, length, main.name)
    if position_ids is not None:
        _check_broadcasts(position_ids, batch, length, main.name)
    check_text_values(limits, input_ids, token_type_ids, position_ids)


def check_text_kinds(
    input_ids: Facts | None = None,
    token_type_ids: Facts | None = None,
    position_ids: Facts | None = None,
    inputs_embeds: Facts | None = None,
) -> None:
    """The part of :func:`check_text_inputs` that needs no shapes: which inputs are given, and their dtypes.

    Flax runs it before ``jax.jit`` too, on the arrays as the user gave them (inside, an int64
    array has already become int32).
    """
    check_ids_or_embeds(input_ids, inputs_embeds)
    if input_ids is not None:
        _check_index_dtype(input_ids, "token ids")
    if inputs_embeds is not None and not _is_floating(inputs_embeds.dtype):
        raise ModelInputTypeError(
            f"inputs_embeds must be floating point (e.g. float32), got dtype {inputs_embeds.dtype}: "
            f"pass integer token ids as input_ids"
        )
    if token_type_ids is not None:
        _check_index_dtype(token_type_ids, "token type ids")
    if position_ids is not None:
        _check_index_dtype(position_ids, "positions")


def check_text_values(
    limits: TextLimits,
    input_ids: Facts | None = None,
    token_type_ids: Facts | None = None,
    position_ids: Facts | None = None,
) -> None:
    """Ids inside their tables (facts without values pass).

    The value part of :func:`check_text_inputs`, for a backend that must read values apart
    from shapes (Flax reads them before ``jax.jit``, where JAX would clamp bad ids silently).
    """
    if input_ids is not None and input_ids.dtype in INDEX_DTYPES:
        _check_range(
            input_ids, limits.vocab_size,
            f"the vocabulary of {limits.vocab_size} tokens (ids 0..{limits.vocab_size - 1}): was the text tokenized "
            f"with this model's tokenizer? After adding tokens, call resize_token_embeddings.",
        )
    if token_type_ids is not None and token_type_ids.dtype in INDEX_DTYPES:
        _check_range(
            token_type_ids, limits.type_vocab_size,
            f"the {limits.type_vocab_size} token types of this model (0..{limits.type_vocab_size - 1}, "
            f"type_vocab_size)",
        )
    if position_ids is not None and position_ids.dtype in INDEX_DTYPES:
        _check_range(
            position_ids, limits.max_positions,
            f"the {limits.max_positions} position embeddings of this model (0..{limits.max_positions - 1}, "
            f"max_position_embeddings)",
        )


# ---- attention_mask -------------------------------------------------------------------------
def check_attention_mask(mask: Facts, expected_shape: tuple[int | None, ...]) -> None:
    """One entry per token, ``(batch, sequence)``, each 1 (attend to it) or 0 (padding)."""
    if not _is_numeric(mask.dtype):
        raise ModelInputTypeError(f"attention_mask must hold 0 and 1 (bool, integer or float), got dtype {mask.dtype}")
    if mask.shape is not None and not _same_sizes(mask.shape, expected_shape):
        raise ModelInputError(
            f"attention_mask has shape {_shape_text(mask.shape)}, but the inputs have shape "
            f"{_shape_text(expected_shape)}: expected one 0/1 entry per token, shape (batch, sequence)"
        )
    check_mask_values(mask)


def check_mask_values(mask: Facts) -> None:
    """Only 0 and 1 (facts without values pass): anything else would weigh tokens in no defined way."""
    values = mask.values
    if values is None or values.size == 0 or values.dtype == bool:
        return
    bad = (values != 0) & (values != 1)
    if bad.any():
        raise ModelInputError(
            f"attention_mask contains {_value_text(values[bad].flat[0])}, but must hold only 1 (a token to attend to) "
            f"and 0 (padding)"
        )


# ---- multiple choice --------------------------------------------------------------------------
def check_choice_inputs(input_ids: Facts | None, inputs_embeds: Facts | None, *others: Facts | None) -> None:
    """A multiple-choice head reads ``(batch, num_choices, sequence)``: every choice is a sequence.

    ``others`` (``attention_mask``, ``token_type_ids``) must have the same shape as ``input_ids``
    (or as ``inputs_embeds`` without its last axis).
    """
    check_ids_or_embeds(input_ids, inputs_embeds)
    if input_ids is not None:
        _check_rank(input_ids, "(batch, num_choices, sequence) for a multiple-choice model", 3)
        shape = input_ids.shape
    else:
        _check_rank(inputs_embeds, "(batch, num_choices, sequence, hidden_size) for a multiple-choice model", 4)
        shape = inputs_embeds.shape[:3] if inputs_embeds.shape is not None else None
    for facts in others:
        if facts is not None and facts.shape is not None and shape is not None and not _same_sizes(facts.shape, shape):
            raise ModelInputError(
                f"{facts.name} has shape {_shape_text(facts.shape)}, but the choices have shape {_shape_text(shape)}: "
                f"expected (batch, num_choices, sequence)"
            )


# ---- images -------------------------------------------------------------------------------
def check_pixel_values(pixel_values: Facts | None, num_channels: int, patch_size: tuple[int, int]) -> None:
    """Images as an image processor makes them: ``(batch, channels, height, width)``, numbers, at least one patch."""
    if pixel_values is None:
        raise ModelInputError("got no pixel_values: pass the images, e.g. image_processor(images, return_tensors=...)")
    if not _is_numeric(pixel_values.dtype):
        raise ModelInputTypeError(f"pixel_values must hold numbers (e.g. float32), got dtype {pixel_values.dtype}")
    shape = pixel_values.shape
    _check_rank(pixel_values, f"(batch, {num_channels}, height, width)", 4,
                ": for one image add a batch axis (e.g. pixels[None])" if shape is not None and len(shape) == 3 else "")
    if shape is None:
        return
    batch, channels, height, width = shape
    if channels is not None and channels != num_channels:
        hint = ": channels come first, (batch, channels, height, width)" if width == num_channels else ""
        raise ModelInputError(
            f"pixel_values has shape {_shape_text(shape)}, with {channels} channel(s), but the model takes "
            f"{num_channels} (num_channels){hint}"
        )
    if batch == 0:
        raise ModelInputError(f"pixel_values has shape {_shape_text(shape)}: a batch needs at least one image")
    patch_h, patch_w = patch_size
    if (height is not None and height < patch_h) or (width is not None and width < patch_w):
        raise ModelInputError(
            f"pixel_values has shape {_shape_text(shape)}: images of {height}x{width} pixels hold no whole "
            f"{patch_h}x{patch_w} patch"
        )


# ---- audio ---------------------------------------------------------------------------------
def check_input_values(input_values: Facts | None, min_length: int, receptive_field: str = "") -> None:
    """Raw waveforms as a feature extractor makes them: ``(batch, samples)`` floats, long enough for one frame.

    ``min_length`` is the fewest samples the model turns into one output frame (the receptive
    field of its convolutional feature encoder, described by ``receptive_field``); shorter
    audio would fail deep inside a convolution.
    """
    if input_values is None:
        raise ModelInputError(
            "got no input_values: pass the audio, e.g. feature_extractor(audio, sampling_rate=16000, return_tensors=...)"
        )
    if not _is_floating(input_values.dtype):
        raise ModelInputTypeError(
            f"input_values must hold audio samples as floats (e.g. float32), got dtype {input_values.dtype}: "
            f"pass the audio through the feature extractor, which converts (and normalises) it"
        )
    shape = input_values.shape
    hint = ""
    if shape is not None and len(shape) == 1:
        hint = ": for one waveform add a batch axis (e.g. audio[None])"
    elif shape is not None and len(shape) == 3:
        hint = ": one mono waveform per row; mix multi-channel audio down first (e.g. audio.mean(-1))"
    _check_rank(input_values, "(batch, samples)", 2, hint)
    if shape is None:
        return
    batch, samples = shape
    if batch == 0:
        raise ModelInputError(f"input_values has shape {_shape_text(shape)}: a batch needs at least one waveform")
    if samples is not None and samples < min_length:
        raise ModelInputError(
            f"input_values has shape {_shape_text(shape)}: waveforms of {samples} samples are shorter than the "
            f"{min_length} samples the convolutional feature encoder needs for one frame (its receptive field"
            f"{', ' + receptive_field if receptive_field else ''}); pad the audio or leave out shorter clips"
        )


def check_audio_lengths(attention_mask: Facts, min_length: int, receptive_field: str = "") -> None:
    """Every waveform the ``attention_mask`` marks as audio gives at least one frame (see :func:`check_input_values`)."""
    values = attention_mask.values
    if values is None or values.size == 0:
        return
    lengths = np.asarray(values).astype(bool).sum(-1)
    short = np.flatnonzero(lengths < min_length)
    if short.size:
        index = int(short[0])
        raise ModelInputError(
            f"attention_mask marks {int(lengths[index])} samples of example {index} as audio, fewer than the "
            f"{min_length} samples the convolutional feature encoder needs for one frame (its receptive field"
            f"{', ' + receptive_field if receptive_field else ''}); pad the audio or leave out shorter clips"
        )


def check_ctc_labels(labels: Facts, batch: int | None, vocab_size: int, frames: np.ndarray | None = None,
                     blank: int | None = None, zero_infinity: bool = False) -> None:
    """CTC transcripts: ``(batch, target_length)`` token ids in ``0..vocab_size-1``, padded with -100.

    Positions holding -100 or the ``blank`` id are left out of the transcript. With ``frames``
    (the output frames of each example) the transcripts must fit: CTC needs one frame per token,
    plus a blank frame between two equal neighbours. A transcript that cannot fit has an
    infinite loss; with ``zero_infinity`` it is allowed (its loss and gradient are zero, as
    PyTorch documents), otherwise it is an error naming the example.
    """
    _check_index_dtype(labels, "token ids")
    shape = labels.shape
    if shape is not None and (len(shape) != 2 or (batch is not None and shape[0] is not None and shape[0] != batch)):
        hint = ": for one transcript add a batch axis (e.g. labels[None])" if len(shape) == 1 else ""
        raise ModelInputError(
            f"{labels.name} has shape {_shape_text(shape)}, but CTC takes one transcript per waveform, shape "
            f"({batch if batch is not None else 'batch'}, target_length), padded with {IGNORE_INDEX}{hint}"
        )
    _check_range(labels, vocab_size, f"the vocabulary (0..{vocab_size - 1}, or {IGNORE_INDEX} for padding)",
                 ignore=IGNORE_INDEX)
    if frames is None or labels.values is None or zero_infinity:
        return
    for index, (row, available) in enumerate(zip(np.asarray(labels.values), np.asarray(frames))):
        tokens = row[(row != IGNORE_INDEX) & (row != (blank if blank is not None else IGNORE_INDEX))]
        repeats = int(np.sum(tokens[1:] == tokens[:-1]))
        needed = len(tokens) + repeats
        if needed > int(available):
            raise ModelInputError(
                f"{labels.name} of example {index} need at least {needed} output frames ({len(tokens)} tokens"
                f"{f', and a blank between each of {repeats} repeated pair(s)' if repeats else ''}), but its audio "
                f"gives {int(available)} frames: CTC cannot align them (the loss would be infinite). Use longer "
                f"audio or shorter transcripts, or set config.ctc_zero_infinity=True to give such examples a zero "
                f"loss and gradient"
            )


def check_one_hot_labels(labels: Facts, logits_shape: tuple[int | None, ...]) -> None:
    """One-hot (or per-class score) targets with the logits' shape; the loss reads their argmax."""
    if not _is_numeric(labels.dtype):
        raise ModelInputTypeError(f"{labels.name} must be numbers, got dtype {labels.dtype}")
    if labels.shape is not None and not _same_sizes(labels.shape, tuple(logits_shape)):
        raise ModelInputError(
            f"{labels.name} has shape {_shape_text(labels.shape)}, but the model predicts logits of shape "
            f"{_shape_text(tuple(logits_shape))}: expected one one-hot row per frame, the logits' shape"
        )


def check_negative_indices(negative_indices: Facts, batch: int, frames: int) -> None:
    """Contrastive distractors: ``(batch, frames, num_negatives)`` integer indices into the ``batch * frames`` targets."""
    if negative_indices.dtype not in INDEX_DTYPES:
        raise ModelInputTypeError(
            f"{negative_indices.name} must hold integer indices, got dtype {negative_indices.dtype}")
    shape = negative_indices.shape
    if shape is not None and (len(shape) != 3 or not _same_sizes(tuple(shape[:2]), (batch, frames))):
        raise ModelInputError(
            f"{negative_indices.name} has shape {_shape_text(shape)}, but the model gives {frames} frames "
            f"for each of {batch} examples: expected ({batch}, {frames}, num_negatives), e.g. from "
            f"polyformer.models.wav2vec2.masking.sample_negative_indices"
        )
    values = negative_indices.values
    if values is not None and values.size and (values.min() < 0 or values.max() >= batch * frames):
        bad = values[(values < 0) | (values >= batch * frames)].flat[0]
        raise ModelInputError(
            f"{negative_indices.name} contains {int(bad)}, outside the {batch * frames} frames of the batch "
            f"(0..{batch * frames - 1}: frame + example * frames)"
        )


# ---- labels -------------------------------------------------------------------------------
def check_class_labels(labels: Facts, logits_shape: tuple[int | None, ...], what: str = "classes") -> None:
    """Integer class ids, one per row of ``logits`` (``(batch,)``, or ``(batch, 1)`` for one label per
    sequence), each in ``0..classes-1`` or -100 (ignored), where ``classes`` is the logits' last size."""
    _check_index_dtype(labels, "class ids")
    expected = tuple(logits_shape[:-1])
    shape = labels.shape
    if shape is not None and not _same_sizes(shape, expected) and not (
        len(expected) == 1 and _same_sizes(shape, (expected[0], 1))
    ):
        raise ModelInputError(
            f"{labels.name} has shape {_shape_text(shape)}, but the model predicts logits of shape "
            f"{_shape_text(tuple(logits_shape))}: expected one label per prediction, shape {_shape_text(expected)}"
        )
    classes = logits_shape[-1]
    if classes is not None:
        expected_range = f"the {classes} {what} of this head (0..{classes - 1}, or {IGNORE_INDEX} to ignore one)"
        _check_range(labels, classes, expected_range, ignore=IGNORE_INDEX)


def check_regression_targets(labels: Facts, logits_shape: tuple[int | None, ...]) -> None:
    """One number per logit: ``(batch,)`` or ``(batch, 1)`` with one label, ``(batch, num_labels)`` with more."""
    if not _is_numeric(labels.dtype) or labels.dtype == "bool":
        raise ModelInputTypeError(f"{labels.name} of a regression must be numbers, got dtype {labels.dtype}")
    batch, num_labels = logits_shape
    accepted = [(batch,), (batch, 1)] if num_labels == 1 else [(batch, num_labels)]
    if labels.shape is not None and not any(_same_sizes(labels.shape, ok) for ok in accepted):
        raise ModelInputError(
            f"{labels.name} has shape {_shape_text(labels.shape)}, but a regression with {num_labels} "
            f"label{'s' if num_labels != 1 else ''} expects {' or '.join(_shape_text(ok) for ok in accepted)}"
        )


def check_multi_label_targets(labels: Facts, logits_shape: tuple[int | None, ...]) -> None:
    """Multi-hot targets ``(batch, num_labels)``, each between 0 and 1."""
    if not _is_numeric(labels.dtype):
        raise ModelInputTypeError(
            f"{labels.name} of a multi-label classification must be numbers, got dtype {labels.dtype}"
        )
    if labels.shape is not None and not _same_sizes(labels.shape, tuple(logits_shape)):
        raise ModelInputError(
            f"{labels.name} has shape {_shape_text(labels.shape)}, but a multi-label classification expects one "
            f"0/1 target per label, shape {_shape_text(tuple(logits_shape))}"
        )
    values = labels.values
    if values is not None and values.size:
        bad = (values < 0) | (values > 1) | (values != values)  # the last: NaN
        if bad.any():
            raise ModelInputError(
                f"{labels.name} contains {_value_text(values[bad].flat[0])}, but multi-label targets must lie "
                f"between 0 and 1"
            )


def check_span_positions(positions: Facts, batch: int | None) -> None:
    """Start or end token indices of the answers, one per sequence: ``(batch,)`` or ``(batch, 1)``.

    Indices outside the sequence are allowed: the loss ignores them, as in ``transformers``.
    """
    _check_index_dtype(positions, "token indices")
    if positions.shape is not None and not any(_same_sizes(positions.shape, ok) for ok in ((batch,), (batch, 1))):
        raise ModelInputError(
            f"{positions.name} has shape {_shape_text(positions.shape)}: expected one token index per sequence, "
            f"shape ({batch if batch is not None else 'batch'},)"
        )
