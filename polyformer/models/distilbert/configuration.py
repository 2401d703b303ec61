"""DistilBERT's configuration: the keys and defaults of the Hugging Face config.json."""

from __future__ import annotations

from ...core.configuration import PretrainedConfig
from ...core.example_inputs import token_inputs

__all__ = ["DistilBertConfig"]


class DistilBertConfig(PretrainedConfig):
    """Configuration of a DistilBERT model (6 layers, 12 heads, 768 wide by default).

    ``hidden_size``, ``num_attention_heads`` and ``num_hidden_layers`` are accepted
    and read as aliases of ``dim``, ``n_heads`` and ``n_layers``.
    """

    model_type = "distilbert"
    attribute_map = {
        "hidden_size": "dim",
        "num_attention_heads": "n_heads",
        "num_hidden_layers": "n_layers",
        "intermediate_size": "hidden_dim",
    }

    def __init__(
        self,
        vocab_size: int = 30522,
        max_position_embeddings: int = 512,
        sinusoidal_pos_embds: bool = False,
        n_layers: int = 6,
        n_heads: int = 12,
        dim: int = 768,
        hidden_dim: int = 4 * 768,
        dropout: float = 0.1,
        attention_dropout: float = 0.1,
        activation: str = "gelu",
        initializer_range: float = 0.02,
        qa_dropout: float = 0.1,
        seq_classif_dropout: float = 0.2,
        pad_token_id: int = 0,
        **kwargs,
    ) -> None:
        self.vocab_size = vocab_size
        self.max_position_embeddings = max_position_embeddings
        self.sinusoidal_pos_embds = sinusoidal_pos_embds
        self.n_layers = n_layers
        self.n_heads = n_heads
        self.dim = dim
        self.hidden_dim = hidden_dim
        self.dropout = dropout
        self.attention_dropout = attention_dropout
        self.activation = activation
        self.initializer_range = initializer_range
        self.qa_dropout = qa_dropout
        self.seq_classif_dropout = seq_classif_dropout
        super().__init__(pad_token_id=pad_token_id, **kwargs)

    def validate(self) -> None:
        super().validate()
        self.check_positive_int("vocab_size", "max_position_embeddings", "n_layers", "n_heads", "dim", "hidden_dim")
        self.check_divisible("dim", "n_heads")
        self.check_probability("dropout", "attention_dropout", "qa_dropout", "seq_classif_dropout")
        self.check_activation("activation")
        if not isinstance(self.sinusoidal_pos_embds, bool):
            raise ValueError(f"DistilBertConfig: sinusoidal_pos_embds must be true or false, got {self.sinusoidal_pos_embds!r}")
        if self.sinusoidal_pos_embds and self.dim % 2:
            raise ValueError(f"DistilBertConfig: sinusoidal_pos_embds needs an even dim, got dim={self.dim}")

    def example_inputs(self, batch_size: int = 2, *, seed: int = 0) -> dict:
        """Random ``input_ids`` and an ``attention_mask`` with some padding (numpy)."""
        return token_inputs(self, batch_size, seed=seed)
