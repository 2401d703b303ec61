"""Helpers the text pipelines share: checking a text input and tokenizing it into rows."""

from __future__ import annotations

from typing import Any

import numpy as np

from .base import Row


def check_text(task: str, text: Any, what: str = "text") -> str:
    """``text`` if it is a non-empty string; otherwise a ValueError naming the task and what was given."""
    if not isinstance(text, str):
        raise TypeError(f"The '{task}' pipeline expects {what} as a str (or a list of them), got {type(text).__name__}")
    if not text.strip():
        raise ValueError(f"The '{task}' pipeline got an empty {what}: give at least one non-space character")
    return text


def model_input_names(tokenizer, config) -> set[str]:
    """The tokenizer outputs the model takes: ``token_type_ids`` only for models with token type embeddings.

    (A DistilBERT model may come with a BERT tokenizer, which gives token type ids DistilBERT has no use for.)
    """
    names = set(tokenizer.model_input_names)
    if getattr(config, "type_vocab_size", None) is None:
        names.discard("token_type_ids")
    return names


def tokenize_row(tokenizer, config, text: str, text_pair: str | None = None, keep: tuple[str, ...] = (),
                 **kwargs: Any) -> Row:
    """One row of model inputs for ``text`` (and ``text_pair``); ``keep`` names tokenizer outputs kept for postprocess."""
    encoded = tokenizer(text, text_pair, return_tensors="np", **kwargs)
    model_names = model_input_names(tokenizer, config)
    inputs = {key: np.asarray(value)[0] for key, value in encoded.items() if key in model_names}
    extra = {key: np.asarray(encoded[key])[0] for key in keep if key in encoded}
    return Row(inputs=inputs, extra=extra)
