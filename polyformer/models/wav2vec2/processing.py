"""Wav2Vec2's processor: its feature extractor (audio in) and CTC tokenizer (text out) as one object."""

from __future__ import annotations

from typing import Any

from ...core.processing import ProcessorMixin, route_kwargs
from .feature_extraction import Wav2Vec2FeatureExtractor
from .tokenization import Wav2Vec2CTCTokenizer

__all__ = ["Wav2Vec2Processor"]


class Wav2Vec2Processor(ProcessorMixin):
    """A :class:`Wav2Vec2FeatureExtractor` and a :class:`Wav2Vec2CTCTokenizer` for speech recognition.

    ``processor(audio, sampling_rate=16000)`` gives ``input_values``; with ``text=`` too,
    the transcription's ids come back as ``labels``; ``processor.batch_decode(ids)``
    CTC-decodes predictions.

    >>> processor = Wav2Vec2Processor(feature_extractor=feature_extractor, tokenizer=tokenizer)
    """

    attributes = ["feature_extractor", "tokenizer"]
    part_classes = {"feature_extractor": Wav2Vec2FeatureExtractor, "tokenizer": Wav2Vec2CTCTokenizer}

    def __init__(self, feature_extractor: Wav2Vec2FeatureExtractor, tokenizer: Wav2Vec2CTCTokenizer) -> None:
        super().__init__(feature_extractor=feature_extractor, tokenizer=tokenizer)

    @property
    def model_input_names(self) -> list[str]:
        """What the model takes: the audio inputs, and ``labels`` for training (no text ids)."""
        return self.feature_extractor.model_input_names + ["labels"]

    def pad(self, input_features=None, labels=None, **kwargs: Any):
        """Pad a batch for training (what a CTC data collator calls).

        ``input_features`` (a dict of lists, or a list of ``{"input_values": ...}``) go to
        the feature extractor's ``pad``, ``labels`` (``{"input_ids": ...}`` rows) to the
        tokenizer's; each keyword argument goes to the ones that take it. Given both, the
        padded label ids come back as ``labels`` beside the features.
        """
        if input_features is None and labels is None:
            raise ValueError("pad() needs input_features and/or labels")
        calls = {}
        if input_features is not None:
            calls["input_features"] = (self.feature_extractor.pad, input_features)
        if labels is not None:
            calls["labels"] = (self.tokenizer.pad, labels)
        per_call = route_kwargs(f"{type(self).__name__}.pad()", kwargs,
                                {key: function for key, (function, _) in calls.items()})
        padded = {key: function(value, **per_call[key]) for key, (function, value) in calls.items()}
        if labels is None:
            return padded["input_features"]
        if input_features is None:
            return padded["labels"]
        features = padded["input_features"]
        features["labels"] = padded["labels"]["input_ids"]
        return features

