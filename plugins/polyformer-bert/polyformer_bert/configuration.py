"""BERT's configuration: the keys and defaults of the Hugging Face ``config.json``."""

from polyformer import PretrainedConfig
from polyformer.core.example_inputs import token_inputs


class BertConfig(PretrainedConfig):
    """Configuration of a BERT encoder (12 layers, 12 heads, 768 wide by default)."""

    model_type = "bert"

    def __init__(
        self,
        vocab_size: int = 30522,
        hidden_size: int = 768,
        num_hidden_layers: int = 12,
        num_attention_heads: int = 12,
        intermediate_size: int = 3072,
        hidden_act: str = "gelu",
        hidden_dropout_prob: float = 0.1,
        attention_probs_dropout_prob: float = 0.1,
        max_position_embeddings: int = 512,
        type_vocab_size: int = 2,
        initializer_range: float = 0.02,
        layer_norm_eps: float = 1e-12,
        pad_token_id: int = 0,
        position_embedding_type: str = "absolute",
        use_cache: bool = True,
        classifier_dropout: float | None = None,
        **kwargs,
    ) -> None:
        self.vocab_size = vocab_size
        self.hidden_size = hidden_size
        self.num_hidden_layers = num_hidden_layers
        self.num_attention_heads = num_attention_heads
        self.intermediate_size = intermediate_size
        self.hidden_act = hidden_act
        self.hidden_dropout_prob = hidden_dropout_prob
        self.attention_probs_dropout_prob = attention_probs_dropout_prob
        self.max_position_embeddings = max_position_embeddings
        self.type_vocab_size = type_vocab_size
        self.initializer_range = initializer_range
        self.layer_norm_eps = layer_norm_eps
        self.position_embedding_type = position_embedding_type
        self.use_cache = use_cache
        self.classifier_dropout = classifier_dropout
        super().__init__(pad_token_id=pad_token_id, **kwargs)

    def validate(self) -> None:
        super().validate()
        self.check_positive_int("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads",
                                "intermediate_size", "max_position_embeddings", "type_vocab_size")
        self.check_divisible("hidden_size", "num_attention_heads")
        self.check_probability("hidden_dropout_prob", "attention_probs_dropout_prob")
        if self.classifier_dropout is not None:
            self.check_probability("classifier_dropout")
        self.check_activation("hidden_act")
        if self.is_decoder or self.add_cross_attention:
            # The models here are bidirectional encoders: a decoder config would silently
            # compute something else than the checkpoint was trained for.
            raise ValueError("BertConfig: is_decoder / add_cross_attention are not supported; BERT runs as an encoder")
        if self.position_embedding_type != "absolute":
            raise ValueError(
                f"BertConfig: position_embedding_type={self.position_embedding_type!r} is not supported; "
                f"only 'absolute' is"
            )

    def example_inputs(self, batch_size: int = 2, *, seed: int = 0) -> dict:
        """Random ``input_ids``, an ``attention_mask`` with some padding, and two segments of ``token_type_ids``."""
        return token_inputs(self, batch_size, seed=seed, token_types=self.type_vocab_size > 1)
