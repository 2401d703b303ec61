"""Wav2Vec2's configuration: the keys and defaults of the Hugging Face config.json."""

from __future__ import annotations

import functools
import operator

import numpy as np

from ...core.configuration import PretrainedConfig
from ...core.numerics import conv_receptive_field

__all__ = ["Wav2Vec2Config", "LEGACY_CHECKPOINT_NAMES"]

#: Names older checkpoints (transformers < 4.40, most on the Hub) give the positional convolution's weight
#: norm, and today's: every framework's models load them (``legacy_checkpoint_names``) and save today's.
LEGACY_CHECKPOINT_NAMES = (
    (r"pos_conv_embed\.conv\.weight_g$", "pos_conv_embed.conv.parametrizations.weight.original0"),
    (r"pos_conv_embed\.conv\.weight_v$", "pos_conv_embed.conv.parametrizations.weight.original1"),
)


class Wav2Vec2Config(PretrainedConfig):
    """Configuration of a Wav2Vec2 model (facebook/wav2vec2-base-960h sized by default).

    The waveform goes through a stack of 1-D convolutions (``conv_dim`` channels,
    ``conv_kernel`` widths, ``conv_stride`` strides; one entry per layer) and then a
    Transformer encoder. ``num_feat_extract_layers`` is derived from ``conv_dim`` (it is
    written to config.json, as transformers does, and recomputed on load) and
    ``output_hidden_size`` defaults to ``hidden_size``.
    """

    model_type = "wav2vec2"

    def __init__(
        self,
        vocab_size: int | None = 32,
        hidden_size: int = 768,
        num_hidden_layers: int = 12,
        num_attention_heads: int = 12,
        intermediate_size: int = 3072,
        hidden_act: str = "gelu",
        hidden_dropout: float = 0.1,
        activation_dropout: float = 0.1,
        attention_dropout: float = 0.1,
        feat_proj_dropout: float = 0.0,
        feat_quantizer_dropout: float = 0.0,
        final_dropout: float = 0.1,
        layerdrop: float = 0.1,
        initializer_range: float = 0.02,
        layer_norm_eps: float = 1e-5,
        feat_extract_norm: str = "group",
        feat_extract_activation: str = "gelu",
        conv_dim: list[int] = (512, 512, 512, 512, 512, 512, 512),
        conv_stride: list[int] = (5, 2, 2, 2, 2, 2, 2),
        conv_kernel: list[int] = (10, 3, 3, 3, 3, 2, 2),
        conv_bias: bool = False,
        num_conv_pos_embeddings: int = 128,
        num_conv_pos_embedding_groups: int = 16,
        do_stable_layer_norm: bool = False,
        apply_spec_augment: bool = True,
        mask_time_prob: float = 0.05,
        mask_time_length: int = 10,
        mask_time_min_masks: int = 2,
        mask_feature_prob: float = 0.0,
        mask_feature_length: int = 10,
        mask_feature_min_masks: int = 0,
        num_codevectors_per_group: int = 320,
        num_codevector_groups: int = 2,
        contrastive_logits_temperature: float = 0.1,
        num_negatives: int = 100,
        codevector_dim: int = 256,
        proj_codevector_dim: int = 256,
        diversity_loss_weight: float = 0.1,
        ctc_loss_reduction: str = "sum",
        ctc_zero_infinity: bool = False,
        use_weighted_layer_sum: bool = False,
        classifier_proj_size: int = 256,
        tdnn_dim: list[int] = (512, 512, 512, 512, 1500),
        tdnn_kernel: list[int] = (5, 3, 3, 1, 1),
        tdnn_dilation: list[int] = (1, 2, 3, 1, 1),
        xvector_output_dim: int = 512,
        pad_token_id: int | None = 0,
        bos_token_id: int | None = 1,
        eos_token_id: int | None = 2,
        add_adapter: bool = False,
        adapter_kernel_size: int = 3,
        adapter_stride: int = 2,
        num_adapter_layers: int = 3,
        output_hidden_size: int | None = None,
        adapter_attn_dim: int | None = None,
        **kwargs,
    ) -> None:
        kwargs.pop("num_feat_extract_layers", None)  # derived from conv_dim
        self.vocab_size = vocab_size
        self.hidden_size = hidden_size
        self.num_hidden_layers = num_hidden_layers
        self.num_attention_heads = num_attention_heads
        self.intermediate_size = intermediate_size
        self.hidden_act = hidden_act
        self.hidden_dropout = hidden_dropout
        self.activation_dropout = activation_dropout
        self.attention_dropout = attention_dropout
        self.feat_proj_dropout = feat_proj_dropout
        self.feat_quantizer_dropout = feat_quantizer_dropout
        self.final_dropout = final_dropout
        self.layerdrop = layerdrop
        self.initializer_range = initializer_range
        self.layer_norm_eps = layer_norm_eps
        self.feat_extract_norm = feat_extract_norm
        self.feat_extract_activation = feat_extract_activation
        self.conv_dim = _as_list(conv_dim)
        self.conv_stride = _as_list(conv_stride)
        self.conv_kernel = _as_list(conv_kernel)
        self.conv_bias = conv_bias
        self.num_conv_pos_embeddings = num_conv_pos_embeddings
        self.num_conv_pos_embedding_groups = num_conv_pos_embedding_groups
        self.num_feat_extract_layers = len(self.conv_dim) if isinstance(self.conv_dim, list) else None
        self.do_stable_layer_norm = do_stable_layer_norm
        self.apply_spec_augment = apply_spec_augment
        self.mask_time_prob = mask_time_prob
        self.mask_time_length = mask_time_length
        self.mask_time_min_masks = mask_time_min_masks
        self.mask_feature_prob = mask_feature_prob
        self.mask_feature_length = mask_feature_length
        self.mask_feature_min_masks = mask_feature_min_masks
        self.num_codevectors_per_group = num_codevectors_per_group
        self.num_codevector_groups = num_codevector_groups
        self.contrastive_logits_temperature = contrastive_logits_temperature
        self.num_negatives = num_negatives
        self.codevector_dim = codevector_dim
        self.proj_codevector_dim = proj_codevector_dim
        self.diversity_loss_weight = diversity_loss_weight
        self.ctc_loss_reduction = ctc_loss_reduction
        self.ctc_zero_infinity = ctc_zero_infinity
        self.use_weighted_layer_sum = use_weighted_layer_sum
        self.classifier_proj_size = classifier_proj_size
        self.tdnn_dim = _as_list(tdnn_dim)
        self.tdnn_kernel = _as_list(tdnn_kernel)
        self.tdnn_dilation = _as_list(tdnn_dilation)
        self.xvector_output_dim = xvector_output_dim
        self.add_adapter = add_adapter
        self.adapter_kernel_size = adapter_kernel_size
        self.adapter_stride = adapter_stride
        self.num_adapter_layers = num_adapter_layers
        self.output_hidden_size = output_hidden_size or hidden_size
        self.adapter_attn_dim = adapter_attn_dim
        super().__init__(pad_token_id=pad_token_id, bos_token_id=bos_token_id, eos_token_id=eos_token_id, **kwargs)

    @property
    def inputs_to_logits_ratio(self) -> int:
        """Waveform samples per output frame: the product of the convolution strides (320 by default)."""
        return functools.reduce(operator.mul, self.conv_stride, 1)

    @property
    def receptive_field(self) -> int:
        """The fewest waveform samples that make one output frame (400 by default: 25 ms at 16 kHz)."""
        return conv_receptive_field(self.conv_kernel, self.conv_stride)

    def example_inputs(self, batch_size: int = 2, *, seed: int = 0, frames: int = 24) -> dict:
        """Random waveforms giving ``frames`` output frames each: ``input_values`` ``(batch_size, samples)``.

        Models with ``feat_extract_norm == "layer"`` are trained with an attention mask, so they get
        one too, with the last waveform a quarter shorter (its tail zero, as the feature extractor
        pads); ``"group"`` models are given none, as transformers documents for them.
        """
        samples = self.receptive_field + self.inputs_to_logits_ratio * (frames - 1)
        rng = np.random.default_rng(seed)
        values = rng.standard_normal((batch_size, samples)).astype(np.float32)
        if self.feat_extract_norm != "layer":
            return {"input_values": values}
        mask = np.ones((batch_size, samples), dtype=np.int64)
        shorter = self.receptive_field + self.inputs_to_logits_ratio * ((frames - 1) * 3 // 4)
        mask[-1, shorter:] = 0
        values[-1, shorter:] = 0.0
        return {"input_values": values, "attention_mask": mask}

    def validate(self) -> None:
        super().validate()
        name = type(self).__name__
        if self.vocab_size is not None:
            self.check_positive_int("vocab_size")
        self.check_positive_int(
            "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size", "num_conv_pos_embeddings",
            "num_conv_pos_embedding_groups", "output_hidden_size",
        )
        self.check_divisible("hidden_size", "num_attention_heads")
        self.check_divisible("hidden_size", "num_conv_pos_embedding_groups")
        self.check_probability(
            "hidden_dropout", "activation_dropout", "attention_dropout", "feat_proj_dropout", "feat_quantizer_dropout",
            "final_dropout", "layerdrop", "mask_time_prob", "mask_feature_prob",
        )
        self.check_activation("hidden_act")
        self.check_activation("feat_extract_activation")
        if self.feat_extract_norm not in ("group", "layer"):
            raise ValueError(f"{name}: feat_extract_norm must be 'group' or 'layer', got {self.feat_extract_norm!r}")
        if self.ctc_loss_reduction not in ("sum", "mean"):
            raise ValueError(f"{name}: ctc_loss_reduction must be 'sum' or 'mean', got {self.ctc_loss_reduction!r}")
        for key in ("conv_dim", "conv_stride", "conv_kernel", "tdnn_dim", "tdnn_kernel", "tdnn_dilation"):
            values = getattr(self, key)
            if not isinstance(values, list) or not values or not all(_is_positive_int(v) for v in values):
                raise ValueError(f"{name}: {key} must be a non-empty list of positive integers, got {values!r}")
        if not len(self.conv_dim) == len(self.conv_stride) == len(self.conv_kernel):
            raise ValueError(
                f"{name}: conv_dim, conv_stride and conv_kernel need one entry per convolution layer, got "
                f"{len(self.conv_dim)}, {len(self.conv_stride)} and {len(self.conv_kernel)} entries"
            )
        self.num_feat_extract_layers = len(self.conv_dim)  # kept in step when conv_dim is overridden
        if not len(self.tdnn_dim) == len(self.tdnn_kernel) == len(self.tdnn_dilation):
            raise ValueError(
                f"{name}: tdnn_dim, tdnn_kernel and tdnn_dilation need one entry per TDNN layer, got "
                f"{len(self.tdnn_dim)}, {len(self.tdnn_kernel)} and {len(self.tdnn_dilation)} entries"
            )


def _as_list(value):
    """Lists, not tuples: what JSON gives back, so a saved config compares equal to its reload."""
    return list(value) if isinstance(value, tuple) else value


def _is_positive_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0
