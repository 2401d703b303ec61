"""``token-classification`` (``ner``): a label per token, or entities grouped as transformers groups them."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from .base import Pipeline, Row, softmax
from .text import check_text, tokenize_row

STRATEGIES = ("none", "simple", "first", "average", "max")


class TokenClassificationPipeline(Pipeline):
    """Entities of a text, as dicts with ``score``, ``word``, ``start`` and ``end`` (character offsets).

    ``aggregation_strategy``:
    - ``"none"``: one dict per token (``entity``, ``index``), no grouping;
    - ``"simple"``: adjacent tokens with the same tag (``B-``/``I-`` understood) form one
      ``entity_group`` whose score is the mean;
    - ``"first"`` / ``"average"`` / ``"max"``: first the sub-tokens of a word agree on one label
      (the first sub-token's, the averaged scores', the most confident sub-token's), then words
      are grouped as with ``"simple"``.
    Labels in ``ignore_labels`` (default ``["O"]``) are left out.
    """

    task = "token-classification"
    needs = ("tokenizer",)

    def is_single(self, inputs: Any) -> bool:
        return isinstance(inputs, str)

    def preprocess(self, text: Any, aggregation_strategy: str = "none") -> list[Row]:
        check_text(self.task, text)
        strategy = _strategy(aggregation_strategy)
        if strategy != "none" and not getattr(self.tokenizer, "is_fast", False):
            raise ValueError(f"aggregation_strategy={strategy!r} needs a fast tokenizer (for character offsets); "
                             "load the tokenizer with use_fast=True")
        fast = getattr(self.tokenizer, "is_fast", False)
        row = tokenize_row(self.tokenizer, self.config, text, keep=("offset_mapping", "special_tokens_mask"),
                           return_special_tokens_mask=True, return_offsets_mapping=fast, truncation=True)
        row.extra["text"] = text
        return [row]

    def postprocess(self, rows: list[Row], aggregation_strategy: str = "none",
                    ignore_labels: list[str] | None = None) -> list[dict[str, Any]]:
        strategy = _strategy(aggregation_strategy)
        ignore = ["O"] if ignore_labels is None else list(ignore_labels)
        row = rows[0]
        scores = softmax(row.outputs["logits"].astype(np.float32))
        tokens = self._token_entries(row, scores, strategy)
        if strategy in ("none", "simple"):
            entities = [self._best_label(entry) for entry in tokens]
        else:
            entities = [self._word_entity(group, strategy) for group in _words(tokens)]
        if strategy != "none":
            entities = self._group(entities)
        return [e for e in entities if e.get("entity", e.get("entity_group")) not in ignore]

    def _token_entries(self, row: Row, scores: np.ndarray, strategy: str) -> list[dict[str, Any]]:
        """Every non-special token with its scores, text span and whether it continues a word."""
        text = row.extra["text"]
        input_ids = row.inputs["input_ids"]
        special = row.extra["special_tokens_mask"]
        offsets = row.extra.get("offset_mapping")
        backend = getattr(self.tokenizer, "backend_tokenizer", None)
        has_prefix = bool(getattr(getattr(backend, "model", None), "continuing_subword_prefix", None))
        entries = []
        for index, token_scores in enumerate(scores):
            if special[index]:
                continue
            token_id = int(input_ids[index])
            word = self.tokenizer.convert_ids_to_tokens(token_id)
            start = end = None
            is_subword = False
            if offsets is not None:
                start, end = int(offsets[index][0]), int(offsets[index][1])
                source = text[start:end]
                if has_prefix:
                    # a WordPiece continuation token is longer than its text by its '##' prefix
                    is_subword = len(word) != len(source)
                else:
                    if strategy in ("first", "average", "max"):
                        warnings.warn("The tokenizer has no word continuation prefix: words are guessed from "
                                      "spaces", UserWarning, stacklevel=5)
                    is_subword = start > 0 and " " not in text[start - 1:start + 1]
                if token_id == self.tokenizer.unk_token_id:
                    word, is_subword = source, False
            entries.append({"word": word, "scores": token_scores, "start": start, "end": end,
                            "index": index, "is_subword": is_subword})
        return entries

    def _best_label(self, entry: dict[str, Any]) -> dict[str, Any]:
        best = int(entry["scores"].argmax())
        return {"entity": self.config.id2label[best], "score": float(entry["scores"][best]),
                "index": entry["index"], "word": entry["word"], "start": entry["start"], "end": entry["end"]}

    def _word_entity(self, group: list[dict[str, Any]], strategy: str) -> dict[str, Any]:
        if strategy == "first":
            scores = group[0]["scores"]
        elif strategy == "max":
            scores = max(group, key=lambda entry: entry["scores"].max())["scores"]
        else:  # average
            scores = np.nanmean(np.stack([entry["scores"] for entry in group]), axis=0)
        best = int(scores.argmax())
        return {"entity": self.config.id2label[best], "score": float(scores[best]),
                "word": self.tokenizer.convert_tokens_to_string([entry["word"] for entry in group]),
                "start": group[0]["start"], "end": group[-1]["end"]}

    def _group(self, entities: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Adjacent entities with the same tag, where the next does not begin with B-, become one group."""
        groups, current = [], []
        for entity in entities:
            if current:
                bi, tag = _tag(entity["entity"])
                _, last_tag = _tag(current[-1]["entity"])
                if tag != last_tag or bi == "B":
                    groups.append(self._group_of(current))
                    current = []
            current.append(entity)
        if current:
            groups.append(self._group_of(current))
        return groups

    def _group_of(self, entities: list[dict[str, Any]]) -> dict[str, Any]:
        return {"entity_group": entities[0]["entity"].split("-", 1)[-1],
                "score": float(np.nanmean([e["score"] for e in entities])),
                "word": self.tokenizer.convert_tokens_to_string([e["word"] for e in entities]),
                "start": entities[0]["start"], "end": entities[-1]["end"]}


def _strategy(value: Any) -> str:
    strategy = str(getattr(value, "value", value)).lower()
    if strategy not in STRATEGIES:
        raise ValueError(f"aggregation_strategy must be one of {', '.join(map(repr, STRATEGIES))}, got {value!r}")
    return strategy


def _tag(label: str) -> tuple[str, str]:
    if label.startswith("B-"):
        return "B", label[2:]
    if label.startswith("I-"):
        return "I", label[2:]
    return "I", label


def _words(entries: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Tokens grouped into words: a sub-token joins the word before it."""
    words: list[list[dict[str, Any]]] = []
    for entry in entries:
        if words and entry["is_subword"]:
            words[-1].append(entry)
        else:
            words.append([entry])
    return words
