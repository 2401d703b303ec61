"""Wav2Vec2's feature extractor: raw mono waveforms to padded, normalised ``input_values``."""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from ...core.feature_extraction import BatchFeature, SequenceFeatureExtractor
from ...core.tensors import tensor_converter

__all__ = ["Wav2Vec2FeatureExtractor"]

#: Added to the variance before the square root, as transformers does (silence stays finite).
NORM_EPSILON = 1e-7
#: A 2-D input with at most this many columns (and more rows) is read as multi-channel audio, not a batch.
MAX_CHANNELS = 8


class Wav2Vec2FeatureExtractor(SequenceFeatureExtractor):
    """Turn raw speech (mono, sampled at ``sampling_rate``) into Wav2Vec2's ``input_values``.

    Each utterance is a 1-D sequence of floats. With ``do_normalize`` every utterance is
    scaled to zero mean and unit variance, after padding, as transformers does:

    * with an attention mask (``return_attention_mask=True`` and some padding asked for),
      the mean and variance come from the real samples only and padded positions are
      set back to ``padding_value``;
    * without one, the padded utterance is normalised as a whole, padding included.
      Checkpoints with ``feat_extract_norm == "group"`` (wav2vec2-base) take no attention
      mask and were fine-tuned on inputs made this way, so we give the same numbers.

    ``return_attention_mask`` defaults to False for the same reason: only
    ``feat_extract_norm == "layer"`` checkpoints (wav2vec2-lv60) were trained with one.

    >>> extractor = Wav2Vec2FeatureExtractor(sampling_rate=8000, do_normalize=False)
    """

    model_input_names = ["input_values", "attention_mask"]

    def __init__(
        self,
        feature_size: int = 1,
        sampling_rate: int = 16000,
        padding_value: float = 0.0,
        return_attention_mask: bool = False,
        do_normalize: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            feature_size=feature_size,
            sampling_rate=sampling_rate,
            padding_value=padding_value,
            return_attention_mask=return_attention_mask,
            **kwargs,
        )
        self.do_normalize = do_normalize
        self.validate()

    def validate(self) -> None:
        """The shared checks, and Wav2Vec2's own: raw mono audio is one value per sample."""
        super().validate()
        name = type(self).__name__
        if self.feature_size != 1:
            raise ValueError(
                f"{name}: feature_size must be 1, got {self.feature_size!r}: Wav2Vec2 takes raw mono audio, "
                "one value per sample"
            )
        if not isinstance(self.do_normalize, (bool, np.bool_)):
            raise ValueError(f"{name}: do_normalize must be True or False, got {self.do_normalize!r}")

    def __call__(
        self,
        raw_speech,
        padding: bool | str = False,
        max_length: int | None = None,
        truncation: bool = False,
        pad_to_multiple_of: int | None = None,
        return_attention_mask: bool | None = None,
        return_tensors: str | None = None,
        sampling_rate: int | None = None,
    ) -> BatchFeature:
        """Featurize one utterance or a batch; the output always has a batch axis.

        ``raw_speech``: a 1-D array or list of floats (one utterance), a list of those, or
        a 2-D array (a batch of equally long utterances, one per row). Multi-channel audio
        must be mixed down first; a (samples, channels) array is refused, not read as a batch. ``padding`` / ``max_length`` / ``truncation`` /
        ``pad_to_multiple_of`` are those of :meth:`pad`. Pass ``sampling_rate`` so that audio
        at the wrong rate is refused instead of silently giving bad features (without it, a
        warning says so, as transformers does). Audio with NaN or infinite samples is refused:
        normalising it would make every value NaN.
        """
        self.validate()
        name = type(self).__name__
        if sampling_rate is None:
            warnings.warn(
                f"{name} was called without sampling_rate. Pass sampling_rate= (the rate of your audio; "
                f"this extractor expects {self.sampling_rate} Hz) so that audio at another rate is refused "
                "instead of silently giving wrong features.",
                stacklevel=2,
            )
        elif isinstance(sampling_rate, bool) or not isinstance(sampling_rate, (int, np.integer)) or sampling_rate <= 0:
            raise ValueError(
                f"{name}: sampling_rate must be a positive integer (samples per second), got {sampling_rate!r}"
            )
        elif sampling_rate != self.sampling_rate:
            raise ValueError(
                f"{name} expects audio sampled at {self.sampling_rate} Hz (the rate its model was "
                f"trained on), but sampling_rate={sampling_rate} was given; resample the audio first."
            )
        tensor_converter(return_tensors)  # a bad value fails before any work
        # A NaN or infinite sample makes the mean it is part of non-finite. When normalisation takes the mean
        # of every sample (none truncated away), that is where they are caught: one pass over the audio fewer.
        caught_by_mean = self.do_normalize and not truncation
        utterances = self._as_utterances(raw_speech, check_finite=not caught_by_mean)
        padding = self._padding_strategy(padding, max_length, truncation)
        want_mask = self.return_attention_mask if return_attention_mask is None else return_attention_mask

        def refuse_non_finite() -> None:
            self._as_utterances(raw_speech)  # raises, naming the utterance and its first bad sample

        def normalize(samples: np.ndarray, out: np.ndarray) -> None:
            _normalize(samples, out, on_non_finite=refuse_non_finite if caught_by_mean else None)

        # With a mask (and padding), or without padding, the statistics come from each utterance's own samples
        # (padded samples keep padding_value): known before padding, so each utterance is normalised while
        # it is copied into the batch. Without a mask, a padded row is normalised as a whole, padding included.
        own_samples = want_mask or padding == "do_not_pad"
        write = normalize if self.do_normalize and own_samples else None
        batch = self._pad_sequences(utterances, padding, max_length, truncation, pad_to_multiple_of, write=write)
        if self.do_normalize and not own_samples:
            for row in batch.values:
                normalize(row, row)
        return self._batch_feature({}, batch, want_mask, return_tensors)

    @staticmethod
    def zero_mean_unit_var_norm(
        input_values: list[np.ndarray], attention_mask: list[np.ndarray] | None = None, padding_value: float = 0.0
    ) -> list[np.ndarray]:
        """Each utterance to zero mean and unit variance (statistics over its mask's real samples, if given)."""
        normed = []
        for index, vector in enumerate(input_values):
            vector = np.asarray(vector, dtype=np.float32)
            if attention_mask is None:
                normed.append((vector - vector.mean()) / np.sqrt(vector.var() + NORM_EPSILON))
                continue
            real = np.asarray(attention_mask[index]).astype(bool)
            samples = vector[real]
            out = (vector - samples.mean()) / np.sqrt(samples.var() + NORM_EPSILON)
            out[~real] = padding_value
            normed.append(out)
        return normed

    def _as_utterances(self, raw_speech, check_finite: bool = True) -> list[np.ndarray]:
        """The input as a list of contiguous 1-D float32 arrays, with errors that say what shape was expected.

        With ``check_finite``, audio holding a NaN or an infinity is refused (see :meth:`__call__`).
        """
        name = type(self).__name__
        if isinstance(raw_speech, (list, tuple)):
            if len(raw_speech) == 0:
                raise ValueError(f"{name} got no audio: raw_speech is an empty list")
            if np.ndim(raw_speech[0]) == 0:  # a list of numbers: one utterance
                items, batched = [raw_speech], False
            else:
                items, batched = list(raw_speech), True
        else:
            try:
                array = np.asarray(raw_speech)
            except Exception:  # noqa: BLE001 - anything numpy cannot read is a wrong input type
                array = None
            if array is None or array.dtype == object:
                raise TypeError(
                    f"{name} takes raw_speech as a 1-D array or list of floats, a list of those, or a 2-D array "
                    f"(batch, samples); got {type(raw_speech).__name__}"
                )
            if array.ndim > 2:
                raise ValueError(
                    f"{name} takes mono audio: a 1-D array per utterance or a 2-D (batch, samples) array, but got "
                    f"an array of shape {array.shape}. Mix the channels down first (e.g. audio.mean(axis=-1))."
                )
            if array.ndim == 2 and array.shape[1] <= MAX_CHANNELS < array.shape[0]:
                # Rows of a few samples are no speech: this is (samples, channels) audio, not a batch.
                raise ValueError(
                    f"{name} takes mono audio, but got an array of shape {array.shape}, which looks like "
                    f"(samples, channels). Mix the channels down first (e.g. audio.mean(axis=-1)); a batch "
                    f"is (batch, samples)."
                )
            items, batched = (list(array), True) if array.ndim == 2 else ([array], False)
        utterances = []
        for index, item in enumerate(items):
            where = f"utterance {index}" if batched else "raw_speech"
            try:
                array = np.asarray(item, dtype=np.float32)
            except (TypeError, ValueError):
                raise TypeError(f"{name}: {where} must hold numbers (audio samples), got {item!r:.80}") from None
            if array.ndim != 1:
                hint = (" Multi-channel audio is not supported: mix the channels down first (e.g. audio.mean(axis=-1))."
                        if array.ndim == 2 else "")
                raise ValueError(
                    f"{name}: {where} must be a 1-D sequence of samples, got shape {array.shape}.{hint}"
                )
            if array.size == 0:
                raise ValueError(f"{name}: {where} is empty (no samples)")
            # Contiguous (a copy only for a strided view): its mean and variance are taken before it is copied
            # into the batch, and numpy promises the same summation order only for the same memory layout.
            array = np.ascontiguousarray(array)
            if check_finite:
                # One pass without a temporary: a NaN or infinity anywhere makes the sum NaN or infinite. Only
                # then (or when finite samples overflow float32) is each sample checked.
                with np.errstate(over="ignore", invalid="ignore"):
                    total = array.sum()
                bad = None if np.isfinite(total) else ~np.isfinite(array)
                if bad is not None and bad.any():
                    raise ValueError(
                        f"{name}: {where} has {int(bad.sum())} NaN or infinite sample(s) of {array.size} (the "
                        f"first at sample {int(np.argmax(bad))}); normalised, it would be NaN throughout. Clean or "
                        "drop it."
                    )
            utterances.append(array)
        return utterances


def _normalize(samples: np.ndarray, out: np.ndarray, on_non_finite: Callable[[], None] | None = None) -> None:
    """Write float32 ``samples`` scaled to zero mean and unit variance into ``out`` (which may be ``samples``).

    The same numbers as ``(samples - samples.mean()) / sqrt(samples.var() + eps)``, in fewer passes
    over memory: numpy's variance centres the samples on their mean, squares and averages; the
    centred samples are already in ``out``, so (numpy >= 2) their variance about 0 is taken instead:
    the same squares, summed in the same order. ``on_non_finite()`` is called first when the mean
    is not finite (a NaN or infinite sample, or float32 overflow); it may raise.
    """
    with np.errstate(over="ignore", invalid="ignore"):
        mean = samples.mean()
    finite = bool(np.isfinite(mean))
    if not finite and on_non_finite is not None:
        on_non_finite()
    if _VAR_TAKES_MEAN and finite:
        np.subtract(samples, mean, out=out)
        var = out.var(mean=_ZERO)
    else:
        var = samples.var()
        np.subtract(samples, mean, out=out)
    out /= np.sqrt(var + NORM_EPSILON)


#: numpy >= 2 lets ``var`` be given the mean (``_ZERO``: the mean of centred samples, as numpy wants it).
_VAR_TAKES_MEAN = "mean" in inspect.signature(np.var).parameters
_ZERO = np.zeros(1, dtype=np.float32)
