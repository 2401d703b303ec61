"""DistilBERT through the public conformance suite, in every installed framework."""

from polyformer import DistilBertConfig
from polyformer.testing import ArchitectureConformance


class TestDistilBertConformance(ArchitectureConformance):
    model_type = "distilbert"

    def make_config(self, **overrides):
        values = dict(vocab_size=99, dim=32, hidden_dim=37, n_layers=2, n_heads=4, max_position_embeddings=64,
                      num_labels=3)
        values.update(overrides)
        return DistilBertConfig(**values)


class TestDistilBertSinusoidalConformance(TestDistilBertConformance):
    """Sinusoidal positions and relu: only the output and round-trip checks are worth repeating."""

    test_loss_with_labels = None  # pytest collects only callables: these checks run once, above
    test_training_lowers_the_loss = None

    def make_config(self, **overrides):
        return super().make_config(sinusoidal_pos_embds=True, activation="relu", **overrides)
