"""``feature-extraction``: the model's last hidden states, or one pooled sentence embedding."""

from __future__ import annotations

from typing import Any

import numpy as np

from .base import Pipeline, Row
from .text import check_text, tokenize_row

POOLINGS = ("mean", "cls", "max")


class FeatureExtractionPipeline(Pipeline):
    """Hidden states per token (transformers' output: a nested list ``[1][tokens][hidden]``).

    ``pooling="mean"`` (masked mean over tokens, what sentence-transformers' MiniLM models use),
    ``"cls"`` or ``"max"`` gives one vector per text instead; ``normalize=True`` scales it to unit
    length, so a dot product is the cosine similarity. ``return_tensors=True`` gives numpy arrays.
    """

    task = "feature-extraction"
    needs = ("tokenizer",)

    def preprocess(self, text: Any, truncation: bool | None = None, tokenize_kwargs: dict | None = None) -> list[Row]:
        check_text(self.task, text)
        kwargs = dict(tokenize_kwargs or {})
        if truncation is not None:
            kwargs["truncation"] = truncation
        return [tokenize_row(self.tokenizer, self.config, text, **kwargs)]

    def postprocess(self, rows: list[Row], pooling: str | None = None, normalize: bool = False,
                    return_tensors: bool = False) -> Any:
        row = rows[0]
        hidden = np.asarray(row.outputs["last_hidden_state"], dtype=np.float32)  # [tokens, hidden]
        if pooling is None:
            if normalize:
                raise ValueError("normalize=True needs a pooling ('mean', 'cls' or 'max'): token vectors are not normalised")
            result = hidden[None]
        elif pooling == "mean":
            mask = row.inputs.get("attention_mask", np.ones(hidden.shape[0]))[:, None].astype(np.float32)
            result = (hidden * mask).sum(axis=0) / np.maximum(mask.sum(), 1e-9)
        elif pooling == "cls":
            result = hidden[0]
        elif pooling == "max":
            mask = row.inputs.get("attention_mask", np.ones(hidden.shape[0])).astype(bool)
            result = hidden[mask].max(axis=0)
        else:
            raise ValueError(f"pooling must be one of {', '.join(map(repr, POOLINGS))} or None, got {pooling!r}")
        if normalize:
            result = result / np.maximum(np.linalg.norm(result), 1e-12)
        return result if return_tensors else result.tolist()
