"""``text-classification`` (``sentiment-analysis``): labels and scores for a text or a text pair."""

from __future__ import annotations

from typing import Any

import numpy as np

from .base import Pipeline, Row, sigmoid, softmax
from .text import check_text, tokenize_row

FUNCTIONS = ("softmax", "sigmoid", "none")


def scores_of(config, logits: np.ndarray, function_to_apply: str | None) -> np.ndarray:
    """Logits to scores as transformers decides: regression none, one label or multi-label sigmoid, else softmax."""
    if function_to_apply is None:
        problem = getattr(config, "problem_type", None)
        if problem == "regression":
            function_to_apply = "none"
        elif problem == "multi_label_classification" or config.num_labels == 1:
            function_to_apply = "sigmoid"
        else:
            function_to_apply = "softmax"
    function_to_apply = str(getattr(function_to_apply, "value", function_to_apply)).lower()
    logits = logits.astype(np.float32)
    if function_to_apply == "softmax":
        return softmax(logits)
    if function_to_apply == "sigmoid":
        return sigmoid(logits)
    if function_to_apply == "none":
        return logits
    raise ValueError(f"function_to_apply must be one of {', '.join(map(repr, FUNCTIONS))}, got {function_to_apply!r}")


def ranked_labels(config, scores: np.ndarray, top_k: int | None) -> list[dict[str, Any]]:
    """``[{"label", "score"}]`` best first (ties keep label order), the first ``top_k`` (all for None)."""
    if top_k is not None and (not isinstance(top_k, int) or top_k < 1):
        raise ValueError(f"top_k must be a positive int or None, got {top_k!r}")
    order = np.argsort(-scores, kind="stable")
    if top_k is not None:
        order = order[:top_k]
    return [{"label": config.id2label[int(i)], "score": float(scores[i])} for i in order]


class TextClassificationPipeline(Pipeline):
    """One text gives ``[{"label", "score"}]`` (the best label); with ``top_k`` the best ``top_k`` (None: all).

    A pair is given as ``{"text": ..., "text_pair": ...}``. A list of texts gives one answer each
    (a dict each when ``top_k`` is not given, as transformers).
    """

    task = "text-classification"
    needs = ("tokenizer",)
    _NOT_GIVEN = object()

    def __call__(self, inputs: Any, **options: Any) -> Any:
        """Classify a text, a pair (``{"text", "text_pair"}``) or a list of them.

        Args:
            inputs: a text, a ``{"text": ..., "text_pair": ...}`` pair, or a list or generator of them.
            **options: ``top_k``, ``function_to_apply`` (``"softmax"``, ``"sigmoid"``, ``"none"``),
                ``truncation``, ``tokenizer_kwargs``, and ``batch_size`` / ``progress`` as for
                every pipeline.
        """
        legacy = "top_k" not in options and "top_k" not in self.defaults
        result = super().__call__(inputs, **options)
        if legacy and isinstance(inputs, str):  # a pair (dict) gives its dict alone, as transformers
            return [result]
        return result

    def is_single(self, inputs: Any) -> bool:
        return isinstance(inputs, (str, dict))

    def preprocess(self, text: Any, truncation: bool | None = None, tokenizer_kwargs: dict | None = None) -> list[Row]:
        kwargs = dict(tokenizer_kwargs or {})
        if truncation is not None:
            kwargs["truncation"] = truncation
        if isinstance(text, dict):
            unknown = set(text) - {"text", "text_pair"}
            if "text" not in text or unknown:
                raise ValueError("A text pair is given as {'text': ..., 'text_pair': ...}; got the keys "
                                 + ", ".join(map(repr, text)))
            pair = text.get("text_pair")
            return [tokenize_row(self.tokenizer, self.config, check_text(self.task, text["text"]),
                                 None if pair is None else check_text(self.task, pair, "text_pair"), **kwargs)]
        if isinstance(text, (list, tuple)):
            raise ValueError("The 'text-classification' pipeline got a nested list; to classify a text pair give "
                             "{'text': 'My text', 'text_pair': 'My pair'}")
        return [tokenize_row(self.tokenizer, self.config, check_text(self.task, text), **kwargs)]

    def postprocess(self, rows: list[Row], top_k: Any = _NOT_GIVEN, function_to_apply: str | None = None) -> Any:
        scores = scores_of(self.config, rows[0].outputs["logits"], function_to_apply)
        if top_k is self._NOT_GIVEN:
            return ranked_labels(self.config, scores, 1)[0]
        return ranked_labels(self.config, scores, top_k)
