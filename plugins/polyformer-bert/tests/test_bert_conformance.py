"""BERT through polyformer's public conformance suite, for every registered head in every installed framework."""

import numpy as np

from polyformer.testing import ArchitectureConformance
from polyformer_bert.configuration import BertConfig


class TestBertConformance(ArchitectureConformance):
    model_type = "bert"

    def make_config(self, **overrides):
        values = dict(vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37,
                      max_position_embeddings=64, type_vocab_size=2, num_labels=3)
        values.update(overrides)
        return BertConfig(**values)

    def make_inputs(self, task, config):
        """The suite's ids and padding, plus segment ids: the second half of each sequence is segment 1."""
        inputs = super().make_inputs(task, config)
        token_type_ids = np.zeros_like(inputs["input_ids"])
        token_type_ids[..., self.seq_length // 2:] = 1
        inputs["token_type_ids"] = token_type_ids
        return inputs
