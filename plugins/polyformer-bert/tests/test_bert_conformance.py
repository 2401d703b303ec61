"""BERT through polyformer's public conformance suite, for every registered head in every installed framework."""

from polyformer.testing import ArchitectureConformance
from polyformer_bert.configuration import BertConfig


class TestBertConformance(ArchitectureConformance):
    model_type = "bert"

    def make_config(self, **overrides):
        values = dict(vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37,
                      max_position_embeddings=64, type_vocab_size=2, num_labels=3)
        values.update(overrides)
        return BertConfig(**values)
