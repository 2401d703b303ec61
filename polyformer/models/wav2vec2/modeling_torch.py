"""Wav2Vec2 in PyTorch: the base model, CTC, clip and frame classification, x-vectors, pre-training.

Tensor names are those of the checkpoints ``transformers`` writes (``wav2vec2.feature_extractor.conv_layers.0.conv``,
``...feature_projection.projection``, ``...encoder.pos_conv_embed.conv.parametrizations.weight.original0``,
``...encoder.layers.0.attention.q_proj``, ``...feed_forward.intermediate_dense``, ``...final_layer_norm``,
``lm_head``, ``projector``, ``classifier``, ``tdnn.0.kernel``, ``objective.weight``, ``quantizer.codevectors``...).
Older checkpoints (most on the Hub) name the positional convolution's weight norm ``conv.weight_g`` /
``conv.weight_v``: they load too (:attr:`Wav2Vec2PreTrainedModel.legacy_checkpoint_names`), and saves
use today's names.

The generic parts come from the backend: the convolutional feature encoder, the positional
convolution, the transformer layers and their stack, the TDNN layer
(:mod:`polyformer.backends.torch.layers`), and the CTC, audio and frame classification and
x-vector heads (:mod:`polyformer.backends.torch.heads`). Written here is what is Wav2Vec2's own:
the feature projection, SpecAugment, the optional adapters, the encoder's pre/post-norm framing,
and pre-training (the Gumbel quantiser and the contrastive objective). Random masks and
negatives come from :mod:`polyformer.models.wav2vec2.masking`, shared by every framework.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ...backends.torch import heads, layers, losses
from ...backends.torch.modeling import PreTrainedModel
from ...core import inputs as checks
from ...core.numerics import conv_output_length, pruned_heads_of_layer
from ...core.outputs import Wav2Vec2BaseModelOutput, Wav2Vec2ForPreTrainingOutput
from .configuration import LEGACY_CHECKPOINT_NAMES, Wav2Vec2Config
from .masking import compute_mask_indices

__all__ = [
    "Wav2Vec2PreTrainedModel",
    "Wav2Vec2Model",
    "Wav2Vec2ForCTC",
    "Wav2Vec2ForSequenceClassification",
    "Wav2Vec2ForAudioFrameClassification",
    "Wav2Vec2ForXVector",
    "Wav2Vec2ForPreTraining",
]


class Wav2Vec2FeatureProjection(nn.Module):
    """LayerNorm over the convolutional features, then a linear up to ``hidden_size`` and dropout.

    Returns both the projection and the normed features (``extract_features``, which the
    pre-training quantiser reads).
    """

    def __init__(self, config: Wav2Vec2Config) -> None:
        super().__init__()
        self.layer_norm = nn.LayerNorm(config.conv_dim[-1], eps=config.layer_norm_eps)
        self.projection = nn.Linear(config.conv_dim[-1], config.hidden_size)
        self.dropout = nn.Dropout(config.feat_proj_dropout)

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        normed = self.layer_norm(features)
        return self.dropout(self.projection(normed)), normed


class Wav2Vec2AttnAdapterLayer(nn.Module):
    """A small bottleneck added to each pre-norm layer's output when ``config.adapter_attn_dim`` is set (MMS)."""

    def __init__(self, config: Wav2Vec2Config) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(config.hidden_size)
        self.linear_1 = nn.Linear(config.hidden_size, config.adapter_attn_dim)
        self.act_fn = nn.ReLU()
        self.linear_2 = nn.Linear(config.adapter_attn_dim, config.hidden_size)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return self.linear_2(self.act_fn(self.linear_1(self.norm(hidden_states))))


class Wav2Vec2EncoderLayer(layers.TransformerLayer):
    """The shared transformer layer, post-norm or (``do_stable_layer_norm``) pre-norm, with Wav2Vec2's names.

    A pre-norm layer adds ``adapter_layer(x)`` to its output when ``config.adapter_attn_dim`` is set.
    """

    def __init__(self, config: Wav2Vec2Config, index: int) -> None:
        super().__init__(
            config.hidden_size, config.num_attention_heads, config.intermediate_size, config.hidden_act,
            pruned_heads=pruned_heads_of_layer(config, index), norm_first=config.do_stable_layer_norm,
            dropout=config.hidden_dropout, attention_dropout=config.attention_dropout,
            attention_output_dropout=config.hidden_dropout, activation_dropout=config.activation_dropout,
            layer_norm_eps=config.layer_norm_eps,
        )
        stable = config.do_stable_layer_norm and config.adapter_attn_dim is not None
        self.adapter_layer = Wav2Vec2AttnAdapterLayer(config) if stable else None

    def forward(self, hidden_states, mask=None, head_mask=None, output_attentions=False):
        hidden_states, weights = super().forward(hidden_states, mask, head_mask, output_attentions)
        if self.adapter_layer is not None:
            hidden_states = hidden_states + self.adapter_layer(hidden_states)
        return hidden_states, weights


class Wav2Vec2Encoder(layers.Encoder):
    """Positional convolution, LayerNorm and the layer stack (``layers.N``), with LayerDrop.

    Post-norm: ``layer_norm(x + pos_conv_embed(x))`` feeds the layers. Pre-norm
    (``do_stable_layer_norm``): ``x + pos_conv_embed(x)`` feeds them and ``layer_norm`` ends the
    stack (the hidden states keep the last layer's output before it, as transformers returns
    them). Padded frames are zeroed before the convolution, so they do not leak into their neighbours'
    positions.
    """

    def __init__(self, config: Wav2Vec2Config) -> None:
        super().__init__((Wav2Vec2EncoderLayer(config, index) for index in range(config.num_hidden_layers)),
                         list_name="layers", layerdrop=config.layerdrop)
        self.pos_conv_embed = layers.PositionalConvEmbedding(
            config.hidden_size, config.num_conv_pos_embeddings, config.num_conv_pos_embedding_groups,
            activation=config.feat_extract_activation,
        )
        self.layer_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout)
        self.norm_first = config.do_stable_layer_norm

    def forward(self, hidden_states, attention_mask=None, head_mask=None, output_attentions=False,
                output_hidden_states=False):
        if attention_mask is not None:
            hidden_states = hidden_states.masked_fill(~attention_mask.bool()[..., None], 0.0)
        hidden_states = hidden_states + self.pos_conv_embed(hidden_states)
        if not self.norm_first:
            hidden_states = self.layer_norm(hidden_states)
        hidden_states = self.dropout(hidden_states)
        output = super().forward(hidden_states, attention_mask, head_mask, output_attentions, output_hidden_states)
        if self.norm_first:
            output.last_hidden_state = self.layer_norm(output.last_hidden_state)
        return output


class Wav2Vec2AdapterLayer(nn.Module):
    """A strided convolution to twice the width, then a gated linear unit: halves the frames (stride 2)."""

    def __init__(self, config: Wav2Vec2Config) -> None:
        super().__init__()
        size = config.output_hidden_size
        self.conv = nn.Conv1d(size, 2 * size, config.adapter_kernel_size, stride=config.adapter_stride, padding=1)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return F.glu(self.conv(hidden_states), dim=1)


class Wav2Vec2Adapter(nn.Module):
    """``add_adapter``: fewer, optionally narrower frames after the encoder (for a decoder to read).

    A linear and LayerNorm down to ``output_hidden_size`` when it differs from ``hidden_size``,
    then ``num_adapter_layers`` :class:`Wav2Vec2AdapterLayer`, each skipped with probability
    ``layerdrop`` while training.
    """

    def __init__(self, config: Wav2Vec2Config) -> None:
        super().__init__()
        if config.output_hidden_size != config.hidden_size:
            self.proj = nn.Linear(config.hidden_size, config.output_hidden_size)
            self.proj_layer_norm = nn.LayerNorm(config.output_hidden_size)
        else:
            self.proj = self.proj_layer_norm = None
        self.layers = nn.ModuleList(Wav2Vec2AdapterLayer(config) for _ in range(config.num_adapter_layers))
        self.layerdrop = config.layerdrop
        self.kernel, self.stride = config.adapter_kernel_size, config.adapter_stride

    def output_lengths(self, lengths):
        """Frames out for ``lengths`` frames in: each layer's convolution (padding 1) shortens them."""
        count = len(self.layers)
        return conv_output_length(lengths, [self.kernel] * count, [self.stride] * count, [1] * count)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        if self.proj is not None:
            hidden_states = self.proj_layer_norm(self.proj(hidden_states))
        hidden_states = hidden_states.transpose(1, 2)
        for layer in self.layers:
            if not (self.training and bool(torch.rand([]) < self.layerdrop)):
                hidden_states = layer(hidden_states)
        return hidden_states.transpose(1, 2)


class Wav2Vec2GumbelVectorQuantizer(nn.Module):
    """Product quantisation of the convolutional features: ``num_codevector_groups`` codebooks of
    ``num_codevectors_per_group`` entries, concatenated into a ``codevector_dim`` target.

    While training, each group's code is a straight-through Gumbel-softmax sample at
    ``temperature`` (set with ``Wav2Vec2ForPreTraining.set_gumbel_temperature``); otherwise the
    argmax. Also returns the perplexity of the code distribution over the masked frames (all
    frames without a mask): how many codes are in use, which the diversity loss rewards.
    """

    def __init__(self, config: Wav2Vec2Config) -> None:
        super().__init__()
        self.num_groups, self.num_vars = config.num_codevector_groups, config.num_codevectors_per_group
        if config.codevector_dim % self.num_groups:
            raise ValueError(
                f"config.codevector_dim ({config.codevector_dim}) must be divisible by config.num_codevector_groups "
                f"({self.num_groups}): the groups' codevectors are concatenated"
            )
        self.codevectors = nn.Parameter(torch.empty(1, self.num_groups * self.num_vars,
                                                    config.codevector_dim // self.num_groups))
        self.weight_proj = nn.Linear(config.conv_dim[-1], self.num_groups * self.num_vars)
        self.weight_proj.init_std = 1.0  # wide logits, so that the Gumbel samples start spread over the codes
        self.temperature = 2.0

    @staticmethod
    def perplexity(probs: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """``exp(entropy)`` of the mean code distribution per group, summed over groups."""
        if mask is not None:
            probs = torch.where(mask.reshape(-1)[:, None, None], probs, torch.zeros_like(probs))
            marginal = probs.sum(dim=0) / mask.sum()
        else:
            marginal = probs.mean(dim=0)
        return torch.exp(-torch.sum(torch.xlogy(marginal, marginal), dim=-1)).sum()

    def forward(self, features: torch.Tensor, mask_time_indices: torch.Tensor | None = None):
        batch, frames, _ = features.shape
        logits = self.weight_proj(features).view(batch * frames * self.num_groups, -1)
        if self.training:
            probs = F.gumbel_softmax(logits.float(), tau=self.temperature, hard=True).type_as(logits)
            soft = torch.softmax(logits.view(batch * frames, self.num_groups, -1).float(), dim=-1)
            perplexity = self.perplexity(soft, mask_time_indices)
        else:
            probs = torch.zeros_like(logits).scatter_(-1, logits.argmax(dim=-1, keepdim=True), 1.0)
            perplexity = self.perplexity(probs.view(batch * frames, self.num_groups, -1), mask_time_indices)
        per_group = probs.view(batch * frames, -1, 1) * self.codevectors
        codevectors = per_group.view(batch * frames, self.num_groups, self.num_vars, -1).sum(-2)
        return codevectors.view(batch, frames, -1), perplexity


class Wav2Vec2PreTrainedModel(PreTrainedModel):
    """Shared by every Wav2Vec2 model: config class, weight prefix, main input, initialisation."""

    config_class = Wav2Vec2Config
    base_model_prefix = "wav2vec2"
    main_input_name = "input_values"
    legacy_checkpoint_names = LEGACY_CHECKPOINT_NAMES

    def make_base_model(self, config: Wav2Vec2Config) -> "Wav2Vec2Model":
        return Wav2Vec2Model(config)

    def _init_weights(self, module: nn.Module, only: set[str] | None = None) -> None:
        """The shared rules, plus Wav2Vec2's own tensors: uniform draws for the mask embedding and codebook."""
        def wanted(name: str) -> bool:
            return getattr(module, name, None) is not None and (only is None or name in only)

        with torch.no_grad():
            if isinstance(module, Wav2Vec2Model) and wanted("masked_spec_embed"):
                module.masked_spec_embed.uniform_()
            if isinstance(module, Wav2Vec2GumbelVectorQuantizer) and wanted("codevectors"):
                module.codevectors.uniform_()
        super()._init_weights(module, only)

    def freeze_feature_encoder(self) -> None:
        """Stop training the convolutional feature encoder (what fine-tuning usually does)."""
        self.base_model.feature_extractor.requires_grad_(False)

    def freeze_base_model(self) -> None:
        """Train only the head: every weight of the base model stops receiving gradients."""
        self.base_model.requires_grad_(False)


class Wav2Vec2Model(Wav2Vec2PreTrainedModel):
    """The bare encoder: the hidden state of every output frame (one per ``conv_stride`` product samples).

    Give the waveforms as the feature extractor makes them, ``input_values`` ``(batch, samples)``.
    ``attention_mask`` (1 on real samples) marks padding; models with ``feat_extract_norm ==
    "group"`` (wav2vec2-base) were trained without one and should be given zero-padded audio
    without a mask, as transformers documents. ``mask_time_indices`` ``(batch, frames)`` replaces
    those frames by ``masked_spec_embed`` (pre-training); while training, SpecAugment draws such
    masks itself (``mask_time_prob``, and ``mask_feature_prob`` over channels).
    """

    def __init__(self, config: Wav2Vec2Config) -> None:
        super().__init__(config)
        self.feature_extractor = layers.ConvFeatureEncoder(
            config.conv_dim, config.conv_kernel, config.conv_stride, bias=config.conv_bias,
            norm=config.feat_extract_norm, activation=config.feat_extract_activation,
        )
        self.feature_projection = Wav2Vec2FeatureProjection(config)
        if config.mask_time_prob > 0.0 or config.mask_feature_prob > 0.0:
            self.masked_spec_embed = nn.Parameter(torch.empty(config.hidden_size))
        else:
            self.masked_spec_embed = None
        self.encoder = Wav2Vec2Encoder(config)
        self.adapter = Wav2Vec2Adapter(config) if config.add_adapter else None
        self.post_init()

    def get_input_embeddings(self) -> nn.Module:
        return self.feature_extractor

    def output_lengths(self, lengths, with_adapter: bool = True):
        """Output frames for waveforms of ``lengths`` samples (after the adapter, if any, unless ``with_adapter=False``)."""
        lengths = self.feature_extractor.output_lengths(lengths)
        if with_adapter and self.adapter is not None:
            lengths = self.adapter.output_lengths(lengths)
        return lengths

    def frame_mask(self, attention_mask: torch.Tensor, frames: int) -> torch.Tensor:
        """The ``(batch, frames)`` mask of the convolutional frames, True where the waveform is real."""
        lengths = self.output_lengths(attention_mask.to(torch.long).sum(-1), with_adapter=False)
        return torch.arange(frames, device=attention_mask.device)[None, :] < lengths[:, None]

    def _numpy_rng(self) -> np.random.Generator:
        """SpecAugment's masks are drawn in numpy, seeded from torch's generator (``torch.manual_seed`` fixes them)."""
        return np.random.default_rng(int(torch.randint(0, 2**62, ())))

    def mask_hidden_states(self, hidden_states: torch.Tensor, mask_time_indices: torch.Tensor | None = None,
                           frame_mask: torch.Tensor | None = None) -> torch.Tensor:
        """SpecAugment: the given (or, training, random) frames become ``masked_spec_embed``; random channels 0."""
        config = self.config
        if not config.apply_spec_augment:
            return hidden_states
        batch, frames, hidden = hidden_states.shape
        if mask_time_indices is None and config.mask_time_prob > 0 and self.training:
            mask = compute_mask_indices((batch, frames), config.mask_time_prob, config.mask_time_length,
                                        attention_mask=None if frame_mask is None else frame_mask.cpu().numpy(),
                                        min_masks=config.mask_time_min_masks, rng=self._numpy_rng())
            mask_time_indices = torch.from_numpy(mask).to(hidden_states.device)
        if mask_time_indices is not None:
            if tuple(mask_time_indices.shape) != (batch, frames):
                raise checks.ModelInputError(
                    f"mask_time_indices has shape {tuple(mask_time_indices.shape)}, but the audio gives {frames} "
                    f"frames per example: expected ({batch}, {frames}) (see model.output_lengths)"
                )
            if self.masked_spec_embed is None:
                raise ValueError(
                    "mask_time_indices needs masked_spec_embed, which the model has only when config.mask_time_prob "
                    "> 0 or config.mask_feature_prob > 0"
                )
            embed = self.masked_spec_embed.to(hidden_states.dtype)
            hidden_states = torch.where(mask_time_indices.bool().to(hidden_states.device)[..., None], embed,
                                        hidden_states)
        if config.mask_feature_prob > 0 and self.training:
            mask = compute_mask_indices((batch, hidden), config.mask_feature_prob, config.mask_feature_length,
                                        min_masks=config.mask_feature_min_masks, rng=self._numpy_rng())
            hidden_states = hidden_states.masked_fill(torch.from_numpy(mask).to(hidden_states.device)[:, None, :], 0.0)
        return hidden_states

    def forward(
        self,
        input_values: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        mask_time_indices: torch.Tensor | None = None,
        head_mask: torch.Tensor | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
    ):
        """The hidden state of every audio frame (about 20 ms each), and the convolutional features.

        Args:
            input_values: ``(batch, samples)`` raw audio, as the feature extractor makes it.
            attention_mask: ``(batch, samples)``: 1 for audio samples, 0 for padding (None: all 1).
            mask_time_indices: ``(batch, frames)``: True for the frames replaced by the masked embedding (SpecAugment).
            head_mask: ``(heads,)`` or ``(layers, heads)``: 1 keeps an attention head, 0 masks it out.
            output_attentions: also return each layer's attention weights (None: the config's value).
            output_hidden_states: also return the hidden states after the embeddings and each layer
                (None: the config's value).
            return_dict: return the output dataclass, or False for a tuple of its non-None fields
                (None: the config's value).
        """
        output_attentions, output_hidden_states, return_dict = self.resolve_output_flags(
            output_attentions, output_hidden_states, return_dict
        )
        self.feature_extractor.check_inputs(input_values, attention_mask)
        features = self.feature_extractor(input_values)
        frame_mask = None if attention_mask is None else self.frame_mask(attention_mask, features.shape[1])
        hidden_states, extract_features = self.feature_projection(features)
        hidden_states = self.mask_hidden_states(hidden_states, mask_time_indices, frame_mask)
        encoded = self.encoder(hidden_states, frame_mask, head_mask, output_attentions=output_attentions,
                               output_hidden_states=output_hidden_states)
        hidden_states = encoded.last_hidden_state
        if self.adapter is not None:
            hidden_states = self.adapter(hidden_states)
        output = Wav2Vec2BaseModelOutput(
            last_hidden_state=hidden_states, extract_features=extract_features,
            hidden_states=encoded.hidden_states, attentions=encoded.attentions,
        )
        return output if return_dict else output.to_tuple()


def _no_adapter(head: str, config: Wav2Vec2Config) -> None:
    if config.add_adapter:
        raise ValueError(f"{head} does not support Wav2Vec2 adapters (config.add_adapter=True): its head reads the "
                         f"encoder's frames; set add_adapter=False")


class Wav2Vec2ForCTC(heads.ForCTC, Wav2Vec2PreTrainedModel):
    """Speech recognition: a token (or the CTC blank, ``pad_token_id``) per frame; decode with the processor."""

    def lm_head_input_size(self, config: Wav2Vec2Config) -> int:
        return config.output_hidden_size if config.add_adapter else config.hidden_size


class Wav2Vec2ForSequenceClassification(heads.ForAudioClassification, Wav2Vec2PreTrainedModel):
    """A label per clip (keyword spotting, speaker or emotion recognition...) from the mean of its frames."""

    def build_head(self, config: Wav2Vec2Config) -> None:
        _no_adapter("Sequence classification", config)
        super().build_head(config)


class Wav2Vec2ForAudioFrameClassification(heads.ForAudioFrameClassification, Wav2Vec2PreTrainedModel):
    """A label per frame (speaker diarization...)."""

    def build_head(self, config: Wav2Vec2Config) -> None:
        _no_adapter("Audio frame classification", config)
        super().build_head(config)


class Wav2Vec2ForXVector(heads.ForXVector, Wav2Vec2PreTrainedModel):
    """Speaker verification: an x-vector embedding per clip, trained with the additive-margin softmax."""


class Wav2Vec2ForPreTraining(heads.HeadModel, Wav2Vec2PreTrainedModel):
    """Self-supervised pre-training (wav2vec 2.0): predict the quantised features of masked frames.

    Give ``mask_time_indices`` (frames to mask) and ``sampled_negative_indices`` (distractors
    for each masked frame), e.g. from :func:`~polyformer.models.wav2vec2.masking.compute_mask_indices`
    and :func:`~polyformer.models.wav2vec2.masking.sample_negative_indices`; the loss is then the
    contrastive loss plus ``diversity_loss_weight`` times the diversity loss.
    """

    output_class = Wav2Vec2ForPreTrainingOutput
    loss_input_names = ("sampled_negative_indices",)

    def build_head(self, config: Wav2Vec2Config) -> None:
        self.dropout_features = nn.Dropout(config.feat_quantizer_dropout)
        self.quantizer = Wav2Vec2GumbelVectorQuantizer(config)
        self.project_hid = nn.Linear(config.hidden_size, config.proj_codevector_dim)
        self.project_q = nn.Linear(config.codevector_dim, config.proj_codevector_dim)

    def set_gumbel_temperature(self, temperature: float) -> None:
        """The Gumbel-softmax temperature of the quantiser (annealed during pre-training)."""
        self.quantizer.temperature = temperature

    def head_outputs(self, base_output, inputs, sampled_negative_indices=None):
        config = self.config
        predicted = self.project_hid(base_output.last_hidden_state)
        mask = inputs.get("mask_time_indices")
        mask = None if mask is None else mask.bool()
        quantized, perplexity = self.quantizer(self.dropout_features(base_output.extract_features), mask)
        quantized = self.project_q(quantized.to(self.project_q.weight.dtype))
        fields = {"projected_states": predicted, "projected_quantized_states": quantized,
                  "codevector_perplexity": perplexity}
        if sampled_negative_indices is not None:
            if mask is None:
                raise ValueError("sampled_negative_indices needs mask_time_indices: the loss is taken on the masked "
                                 "frames (see polyformer.models.wav2vec2.masking.compute_mask_indices)")
            contrastive = losses.contrastive_loss(predicted, quantized, sampled_negative_indices, mask,
                                                  config.contrastive_logits_temperature)
            diversity = losses.diversity_loss(perplexity, config.num_codevectors_per_group
                                              * config.num_codevector_groups, mask)
            fields.update(loss=contrastive + config.diversity_loss_weight * diversity, contrastive_loss=contrastive,
                          diversity_loss=diversity)
        return fields
