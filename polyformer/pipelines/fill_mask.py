"""``fill-mask``: the most likely tokens for each mask token of a text."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from .base import Pipeline, Row, softmax
from .text import check_text, tokenize_row


class FillMaskPipeline(Pipeline):
    """For each mask: ``top_k`` dicts ``{"score", "token", "token_str", "sequence"}``, best first.

    One mask gives a list of dicts; several masks give one list per mask (as transformers).
    ``targets`` limits the candidates to the given tokens (a word not in the vocabulary is
    replaced by its first sub-token, with a warning).
    """

    task = "fill-mask"
    needs = ("tokenizer",)

    def preprocess(self, text: Any, tokenizer_kwargs: dict | None = None) -> list[Row]:
        check_text(self.task, text)
        if self.tokenizer.mask_token_id is None:
            raise ValueError("The 'fill-mask' pipeline needs a tokenizer with a mask token; this one has none")
        row = tokenize_row(self.tokenizer, self.config, text, **(tokenizer_kwargs or {}))
        if not np.any(row.inputs["input_ids"] == self.tokenizer.mask_token_id):
            raise ValueError(f"No mask token ({self.tokenizer.mask_token}) found in the input {text!r}")
        return [row]

    def _target_ids(self, targets: Any) -> np.ndarray:
        targets = [targets] if isinstance(targets, str) else list(targets)
        vocab = self.tokenizer.get_vocab()
        ids = []
        for target in targets:
            token_id = vocab.get(target)
            if token_id is None:
                pieces = self.tokenizer(target, add_special_tokens=False)["input_ids"]
                if not pieces:
                    warnings.warn(f"The target {target!r} gives no token in the vocabulary; it is ignored", stacklevel=4)
                    continue
                token_id = pieces[0]
                warnings.warn(f"The target {target!r} is not in the vocabulary; using its first token "
                              f"{self.tokenizer.convert_ids_to_tokens(token_id)!r}", stacklevel=4)
            ids.append(token_id)
        ids = sorted(set(ids))
        if not ids:
            raise ValueError(f"targets={targets!r}: none of them gives a token; give at least one")
        return np.asarray(ids)

    def postprocess(self, rows: list[Row], top_k: int = 5, targets: Any = None) -> Any:
        if not isinstance(top_k, int) or top_k < 1:
            raise ValueError(f"top_k must be a positive int, got {top_k!r}")
        row = rows[0]
        input_ids = row.inputs["input_ids"]
        masked = np.flatnonzero(input_ids == self.tokenizer.mask_token_id)
        probabilities = softmax(row.outputs["logits"][masked].astype(np.float32))
        target_ids = None if targets is None else self._target_ids(targets)
        if target_ids is not None:
            probabilities = probabilities[:, target_ids]
            top_k = min(top_k, len(target_ids))
        single = len(masked) == 1
        results = []
        for position, probs in zip(masked, probabilities):
            order = np.argsort(-probs, kind="stable")[:top_k]
            answers = []
            for choice in order:
                token = int(target_ids[choice] if target_ids is not None else choice)
                filled = input_ids.copy()
                filled[position] = token
                if self.tokenizer.pad_token_id is not None:
                    filled = filled[filled != self.tokenizer.pad_token_id]
                answers.append({
                    "score": float(probs[choice]),
                    "token": token,
                    "token_str": self.tokenizer.decode([token]),
                    # several masks: keep the other [MASK] tokens visible, as transformers does
                    "sequence": self.tokenizer.decode(filled.tolist(), skip_special_tokens=single),
                })
            results.append(answers)
        return results[0] if single else results
