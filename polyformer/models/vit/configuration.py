"""ViT's configuration: the keys and defaults of the Hugging Face config.json."""

from __future__ import annotations

import numpy as np

from ...core.configuration import PretrainedConfig
from ...core.numerics import to_pair

__all__ = ["ViTConfig"]


class ViTConfig(PretrainedConfig):
    """Configuration of a Vision Transformer (ViT-Base/16 at 224 pixels by default).

    ``image_size`` and ``patch_size`` are an int (square) or a ``(height, width)`` pair.
    ``pooler_output_size`` (None means ``hidden_size``) and ``pooler_act`` are kept
    because transformers writes them, so its config.json files round-trip unchanged.
    """

    model_type = "vit"

    def __init__(
        self,
        hidden_size: int = 768,
        num_hidden_layers: int = 12,
        num_attention_heads: int = 12,
        intermediate_size: int = 3072,
        hidden_act: str = "gelu",
        hidden_dropout_prob: float = 0.0,
        attention_probs_dropout_prob: float = 0.0,
        initializer_range: float = 0.02,
        layer_norm_eps: float = 1e-12,
        image_size: int | tuple[int, int] = 224,
        patch_size: int | tuple[int, int] = 16,
        num_channels: int = 3,
        qkv_bias: bool = True,
        encoder_stride: int = 16,
        pooler_output_size: int | None = None,
        pooler_act: str = "tanh",
        **kwargs,
    ) -> None:
        self.hidden_size = hidden_size
        self.num_hidden_layers = num_hidden_layers
        self.num_attention_heads = num_attention_heads
        self.intermediate_size = intermediate_size
        self.hidden_act = hidden_act
        self.hidden_dropout_prob = hidden_dropout_prob
        self.attention_probs_dropout_prob = attention_probs_dropout_prob
        self.initializer_range = initializer_range
        self.layer_norm_eps = layer_norm_eps
        self.image_size = image_size
        self.patch_size = patch_size
        self.num_channels = num_channels
        self.qkv_bias = qkv_bias
        self.encoder_stride = encoder_stride
        self.pooler_output_size = pooler_output_size if pooler_output_size else hidden_size
        self.pooler_act = pooler_act
        super().__init__(**kwargs)

    def validate(self) -> None:
        super().validate()
        self.check_positive_int(
            "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size",
            "num_channels", "encoder_stride", "pooler_output_size",
        )
        self.check_divisible("hidden_size", "num_attention_heads")
        self.check_probability("hidden_dropout_prob", "attention_probs_dropout_prob")
        self.check_activation("hidden_act")
        self.check_activation("pooler_act")
        for key in ("image_size", "patch_size"):
            value = getattr(self, key)
            pair = value if isinstance(value, (list, tuple)) else (value,)
            if len(pair) not in (1, 2) or any(isinstance(v, bool) or not isinstance(v, int) or v <= 0 for v in pair):
                raise ValueError(f"ViTConfig: {key} must be a positive int or a (height, width) pair, got {value!r}")
        for key in ("initializer_range", "layer_norm_eps"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                raise ValueError(f"ViTConfig: {key} must be a positive number, got {value!r}")
        if not isinstance(self.qkv_bias, bool):
            raise ValueError(f"ViTConfig: qkv_bias must be true or false, got {self.qkv_bias!r}")

    def example_inputs(self, batch_size: int = 2, *, seed: int = 0) -> dict:
        """Random ``pixel_values`` of ``(batch_size, num_channels, *image_size)`` (normalised-image scale)."""
        height, width = to_pair(self.image_size)
        rng = np.random.default_rng(seed)
        return {"pixel_values": rng.standard_normal((batch_size, self.num_channels, height, width)).astype(np.float32)}
