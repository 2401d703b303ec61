"""Small random model inputs, framework-free, for tracing shapes and for the conformance suite.

An architecture's config returns them from :meth:`PretrainedConfig.example_inputs`; text
architectures share :func:`token_inputs`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["token_inputs"]


def token_inputs(config: Any, batch_size: int = 2, *, seed: int = 0, length: int = 7,
                 token_types: bool = False) -> dict[str, np.ndarray]:
    """``input_ids`` (never the pad id 0... unless the vocabulary is that small) and an ``attention_mask``
    whose first example ends with two padding positions; ``token_type_ids`` (second half 1) when asked."""
    rng = np.random.default_rng(seed)
    input_ids = rng.integers(1, config.vocab_size, size=(batch_size, length), dtype=np.int64)
    attention_mask = np.ones((batch_size, length), dtype=np.int64)
    if length > 2:
        attention_mask[0, -2:] = 0
    inputs = {"input_ids": input_ids, "attention_mask": attention_mask}
    if token_types:
        token_type_ids = np.zeros((batch_size, length), dtype=np.int64)
        token_type_ids[:, length // 2:] = 1
        inputs["token_type_ids"] = token_type_ids
    return inputs
