"""``audio-classification``: the most likely labels of a clip."""

from __future__ import annotations

from typing import Any

import numpy as np

from .audio import is_one_waveform, load_audio
from .base import Pipeline, Row
from .text_classification import ranked_labels, scores_of


class AudioClassificationPipeline(Pipeline):
    """``[{"score", "label"}]``, the best ``top_k`` (default 5, at most the number of labels) first."""

    task = "audio-classification"
    needs = ("feature_extractor",)

    def is_single(self, inputs: Any) -> bool:
        return is_one_waveform(inputs)

    def preprocess(self, audio: Any) -> list[Row]:
        rate = self.feature_extractor.sampling_rate
        waveform = load_audio(audio, rate, self.task)
        processed = self.feature_extractor(waveform, sampling_rate=rate, return_tensors="np")
        return [Row(inputs={key: np.asarray(value)[0] for key, value in processed.items()})]

    def postprocess(self, rows: list[Row], top_k: int | None = 5, function_to_apply: str | None = None) -> list[dict]:
        problem = getattr(self.config, "problem_type", None)
        if function_to_apply is None:  # transformers' audio pipeline: softmax unless the config says otherwise
            function_to_apply = {"regression": "none", "multi_label_classification": "sigmoid"}.get(problem, "softmax")
        scores = scores_of(self.config, rows[0].outputs["logits"], function_to_apply)
        top_k = self.config.num_labels if top_k is None else min(top_k, self.config.num_labels)
        return ranked_labels(self.config, scores, top_k)
