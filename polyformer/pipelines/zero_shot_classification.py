"""``zero-shot-classification``: any labels, scored by an NLI model as "this text entails: <label>"."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from .base import Pipeline, Row, softmax
from .text import check_text, tokenize_row


class ZeroShotClassificationPipeline(Pipeline):
    """``{"sequence", "labels", "scores"}``: the candidate labels, best first.

    Each label makes one premise/hypothesis pair (``hypothesis_template`` with the label in
    place of ``{}``). With one label, or ``multi_label=True``, each label is scored on its own
    (entailment against contradiction); otherwise the entailment logits are a softmax over labels.
    """

    task = "zero-shot-classification"
    needs = ("tokenizer",)

    def is_single(self, inputs: Any) -> bool:
        return isinstance(inputs, str)

    @property
    def entailment_id(self) -> int:
        for label, index in self.config.label2id.items():
            if label.lower().startswith("entail"):
                return int(index)
        return -1

    def preprocess(self, text: Any, candidate_labels: Any = None,
                   hypothesis_template: str = "This example is {}.") -> list[Row]:
        check_text(self.task, text)
        if isinstance(candidate_labels, str):
            candidate_labels = [label.strip() for label in candidate_labels.split(",") if label.strip()]
        if not candidate_labels:
            raise ValueError("The 'zero-shot-classification' pipeline needs candidate_labels: a list of labels "
                             "(or one comma-separated string)")
        if hypothesis_template.format(candidate_labels[0]) == hypothesis_template:
            raise ValueError(f"hypothesis_template {hypothesis_template!r} has no '{{}}' where the label goes")
        if self.entailment_id == -1:
            warnings.warn("The model's label2id has no label starting with 'entail'; the last label is used as "
                          "entailment. Give the model an NLI label mapping.", stacklevel=4)
        rows = []
        for label in candidate_labels:
            row = tokenize_row(self.tokenizer, self.config, text, hypothesis_template.format(label), truncation="only_first")
            row.extra.update(label=label, sequence=text)
            rows.append(row)
        return rows

    def postprocess(self, rows: list[Row], multi_label: bool = False) -> dict[str, Any]:
        logits = np.stack([row.outputs["logits"] for row in rows]).astype(np.float32)  # [labels, classes]
        entailment = self.entailment_id
        if multi_label or len(rows) == 1:
            contradiction = -1 if entailment == 0 else 0
            scores = softmax(logits[:, [contradiction, entailment]])[:, 1]
        else:
            scores = softmax(logits[:, entailment])
        order = np.argsort(-scores, kind="stable")
        return {
            "sequence": rows[0].extra["sequence"],
            "labels": [rows[i].extra["label"] for i in order],
            "scores": [float(scores[i]) for i in order],
        }
