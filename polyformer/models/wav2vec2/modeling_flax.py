"""Wav2Vec2 in Flax (``flax.linen``): the base model, CTC, clip and frame classification, x-vectors, pre-training.

Submodule paths are the ``transformers`` tensor names (``wav2vec2.feature_extractor.conv_layers.0.conv``,
``...feature_projection.projection``, ``...encoder.pos_conv_embed.conv.parametrizations.weight.original0``,
``...encoder.layers.0.attention.q_proj``, ``...feed_forward.intermediate_dense``, ``...final_layer_norm``,
``lm_head``, ``projector``, ``classifier``, ``tdnn.0.kernel``, ``objective.weight``, ``quantizer.codevectors``...),
so checkpoints move between this model, transformers' PyTorch Wav2Vec2 and polyformer's other
frameworks unchanged. Older checkpoints naming the weight norm ``conv.weight_g`` / ``conv.weight_v``
load too (``legacy_checkpoint_names``), and saves use today's names.

The generic parts come from the backend: the convolutional feature encoder, the positional
convolution, the transformer layers and their stack with LayerDrop, the TDNN layer
(:mod:`polyformer.backends.flax.layers`), and the CTC, audio and frame classification and
x-vector heads (:mod:`polyformer.backends.flax.heads`). Written here is what is Wav2Vec2's own,
as in :mod:`polyformer.models.wav2vec2.modeling_torch`: the feature projection, SpecAugment, the
optional adapters, the encoder's pre/post-norm framing, and pre-training (the Gumbel quantiser and
the contrastive objective).

Shapes are static under ``jit``: frame counts follow from the inputs' static lengths, and the
frames that are padding are a mask computed inside the program. Everything random while training
(``train=True``) draws from the ``"dropout"`` rng: dropout, LayerDrop, the Gumbel noise, and
SpecAugment's masks, which :mod:`polyformer.models.wav2vec2.masking` draws in numpy on the host
(``jax.pure_callback``) from a generator seeded by that rng, so a key fixes them. One departure
from PyTorch: the adapter's layers are never skipped (LayerDrop there would change the number of
output frames, a shape, from step to step).

``FlaxWav2Vec2...`` are the user-facing models (config + module + params); ``model.module`` is the
stateless ``flax.linen`` module (``FlaxWav2Vec2Module``, ``FlaxWav2Vec2ForCTCModule``...) for
``module.apply`` in your own training loop.
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import xlogy

from ...backends.flax import heads, layers, losses
from ...backends.flax.modeling import BaseModule, FlaxPreTrainedModel
from ...core import inputs as checks
from ...core.numerics import conv_output_length, pruned_heads_of_layer
from ...core.outputs import Wav2Vec2BaseModelOutput, Wav2Vec2ForPreTrainingOutput
from .configuration import LEGACY_CHECKPOINT_NAMES, Wav2Vec2Config
from .masking import check_mask_arguments, compute_mask_indices

__all__ = [
    "FlaxWav2Vec2PreTrainedModel",
    "FlaxWav2Vec2Model",
    "FlaxWav2Vec2ForCTC",
    "FlaxWav2Vec2ForSequenceClassification",
    "FlaxWav2Vec2ForAudioFrameClassification",
    "FlaxWav2Vec2ForXVector",
    "FlaxWav2Vec2ForPreTraining",
    "FlaxWav2Vec2Module",
    "FlaxWav2Vec2ForCTCModule",
    "FlaxWav2Vec2ForSequenceClassificationModule",
    "FlaxWav2Vec2ForAudioFrameClassificationModule",
    "FlaxWav2Vec2ForXVectorModule",
    "FlaxWav2Vec2ForPreTrainingModule",
]


class FlaxWav2Vec2FeatureProjection(BaseModule):
    """LayerNorm over the convolutional features, then a linear up to ``hidden_size`` and dropout.

    Returns both the projection and the normed features (``extract_features``, which the
    pre-training quantiser reads).
    """

    @nn.compact
    def __call__(self, features: jax.Array, deterministic: bool = True) -> tuple[jax.Array, jax.Array]:
        c = self.config
        normed = layers.layer_norm(c.layer_norm_eps, self.dtype, "layer_norm")(features)
        projected = layers.dense(c.hidden_size, c.initializer_range, self.dtype, "projection")(normed)
        return nn.Dropout(rate=c.feat_proj_dropout)(projected, deterministic=deterministic), normed


class FlaxWav2Vec2AttnAdapterLayer(BaseModule):
    """A small bottleneck added to each pre-norm layer's output when ``config.adapter_attn_dim`` is set (MMS)."""

    @nn.compact
    def __call__(self, hidden_states: jax.Array) -> jax.Array:
        c, std = self.config, self.config.initializer_range
        hidden = layers.layer_norm(1e-5, self.dtype, "norm")(hidden_states)
        hidden = jax.nn.relu(layers.dense(c.adapter_attn_dim, std, self.dtype, "linear_1")(hidden))
        return layers.dense(c.hidden_size, std, self.dtype, "linear_2")(hidden)


class FlaxWav2Vec2EncoderLayer(layers.TransformerLayer):
    """The shared transformer layer, post-norm or (``do_stable_layer_norm``) pre-norm, with Wav2Vec2's names.

    ``adapter_config`` (the model's config, given to pre-norm layers when ``config.adapter_attn_dim``
    is set) adds ``adapter_layer(x)`` to the layer's output. Built by :func:`encoder_layer`.
    """

    adapter_config: Any = None

    def setup(self):
        super().setup()
        config = self.adapter_config
        self.adapter_layer = FlaxWav2Vec2AttnAdapterLayer(config, self.dtype) if config is not None else None

    def __call__(self, hidden_states, mask=None, head_mask=None, output_attentions=False, deterministic: bool = True):
        hidden_states, weights = super().__call__(hidden_states, mask, head_mask, output_attentions,
                                                  deterministic=deterministic)
        if self.adapter_layer is not None:
            hidden_states = hidden_states + self.adapter_layer(hidden_states)
        return hidden_states, weights


def encoder_layer(config: Wav2Vec2Config, index: int, dtype: Any) -> FlaxWav2Vec2EncoderLayer:
    """Layer ``index`` of the encoder, as the config describes it (its pruned heads included)."""
    stable = config.do_stable_layer_norm
    return FlaxWav2Vec2EncoderLayer(
        config.hidden_size, config.num_attention_heads, config.intermediate_size, config.hidden_act,
        pruned_heads=pruned_heads_of_layer(config, index), norm_first=stable, dropout=config.hidden_dropout,
        attention_dropout=config.attention_dropout, attention_output_dropout=config.hidden_dropout,
        activation_dropout=config.activation_dropout, layer_norm_eps=config.layer_norm_eps,
        initializer_range=config.initializer_range, dtype=dtype,
        adapter_config=config if stable and config.adapter_attn_dim is not None else None,
    )


class FlaxWav2Vec2Encoder(layers.Encoder):
    """Positional convolution, LayerNorm and the layer stack (``layers.N``), with LayerDrop.

    Post-norm: ``layer_norm(x + pos_conv_embed(x))`` feeds the layers. Pre-norm
    (``do_stable_layer_norm``): ``x + pos_conv_embed(x)`` feeds them and ``layer_norm`` ends the
    stack (the hidden states keep the last layer's output before it, as transformers returns
    them). Padded frames are zeroed before the convolution, so they do not leak into their
    neighbours' positions. ``attention_mask`` here is the ``(batch, frames)`` mask of real frames.
    """

    config: Any = None
    dtype: Any = jnp.float32

    def setup(self):
        super().setup()
        c = self.config
        self.pos_conv_embed = layers.PositionalConvEmbedding(
            c.hidden_size, c.num_conv_pos_embeddings, c.num_conv_pos_embedding_groups,
            activation=c.feat_extract_activation, dtype=self.dtype,
        )
        self.layer_norm = layers.layer_norm(c.layer_norm_eps, self.dtype)
        self.dropout = nn.Dropout(rate=c.hidden_dropout)

    def __call__(self, hidden_states, attention_mask=None, head_mask=None, output_attentions=False,
                 output_hidden_states=False, deterministic: bool = True):
        norm_first = self.config.do_stable_layer_norm
        if attention_mask is not None:
            hidden_states = jnp.where(jnp.asarray(attention_mask, bool)[..., None], hidden_states, 0.0)
        hidden_states = hidden_states + self.pos_conv_embed(hidden_states)
        if not norm_first:
            hidden_states = self.layer_norm(hidden_states)
        hidden_states = self.dropout(hidden_states, deterministic=deterministic)
        output = super().__call__(hidden_states, attention_mask, head_mask, output_attentions, output_hidden_states,
                                  deterministic=deterministic)
        if norm_first:
            output.last_hidden_state = self.layer_norm(output.last_hidden_state)
        return output


class FlaxWav2Vec2AdapterLayer(BaseModule):
    """A strided convolution to twice the width, then a gated linear unit: halves the frames (stride 2)."""

    @nn.compact
    def __call__(self, hidden_states: jax.Array) -> jax.Array:
        c = self.config
        conv = nn.Conv(2 * c.output_hidden_size, kernel_size=(c.adapter_kernel_size,), strides=(c.adapter_stride,),
                       padding=[(1, 1)], kernel_init=layers.normal_init(c.initializer_range),
                       bias_init=layers.zeros_init(), dtype=self.dtype, param_dtype=self.dtype, name="conv")
        return jax.nn.glu(conv(hidden_states), axis=-1)


class FlaxWav2Vec2Adapter(BaseModule):
    """``add_adapter``: fewer, optionally narrower frames after the encoder (for a decoder to read).

    A linear and LayerNorm down to ``output_hidden_size`` when it differs from ``hidden_size``,
    then ``num_adapter_layers`` :class:`FlaxWav2Vec2AdapterLayer`. Unlike PyTorch, no layer is
    skipped while training: that would change the number of frames, which is static here.
    """

    def setup(self):
        c = self.config
        if c.output_hidden_size != c.hidden_size:
            self.proj = layers.dense(c.output_hidden_size, c.initializer_range, self.dtype)
            self.proj_layer_norm = layers.layer_norm(1e-5, self.dtype)
        else:
            self.proj = self.proj_layer_norm = None
        self.layers = [FlaxWav2Vec2AdapterLayer(c, self.dtype, name=f"layers.{index}")
                       for index in range(c.num_adapter_layers)]

    def output_lengths(self, lengths):
        """Frames out for ``lengths`` frames in: each layer's convolution (padding 1) shortens them."""
        c, count = self.config, self.config.num_adapter_layers
        return conv_output_length(lengths, [c.adapter_kernel_size] * count, [c.adapter_stride] * count, [1] * count)

    def __call__(self, hidden_states: jax.Array) -> jax.Array:
        if self.proj is not None:
            hidden_states = self.proj_layer_norm(self.proj(hidden_states))
        for layer in self.layers:
            hidden_states = layer(hidden_states)
        return hidden_states


class FlaxWav2Vec2GumbelVectorQuantizer(BaseModule):
    """Product quantisation of the convolutional features: ``num_codevector_groups`` codebooks of
    ``num_codevectors_per_group`` entries, concatenated into a ``codevector_dim`` target.

    While training (``deterministic=False``), each group's code is a straight-through
    Gumbel-softmax sample at ``temperature``, its noise drawn from the ``"dropout"`` rng;
    otherwise the argmax. Also returns the perplexity of the code distribution over the masked
    frames (all frames without a mask): how many codes are in use, which the diversity loss rewards.
    """

    def setup(self):
        c = self.config
        self.num_groups, self.num_vars = c.num_codevector_groups, c.num_codevectors_per_group
        if c.codevector_dim % self.num_groups:
            raise ValueError(
                f"config.codevector_dim ({c.codevector_dim}) must be divisible by config.num_codevector_groups "
                f"({self.num_groups}): the groups' codevectors are concatenated"
            )
        self.codevectors = self.param("codevectors", layers.uniform_init(),
                                      (1, self.num_groups * self.num_vars, c.codevector_dim // self.num_groups),
                                      self.dtype)
        # Wide logits (N(0, 1) weights), so that the Gumbel samples start spread over the codes.
        self.weight_proj = layers.dense(self.num_groups * self.num_vars, 1.0, self.dtype)

    @staticmethod
    def perplexity(probs: jax.Array, mask: jax.Array | None = None) -> jax.Array:
        """``exp(entropy)`` of the mean code distribution per group, summed over groups."""
        if mask is not None:
            probs = jnp.where(mask.reshape(-1)[:, None, None], probs, 0.0)
            marginal = probs.sum(axis=0) / mask.sum()
        else:
            marginal = probs.mean(axis=0)
        return jnp.exp(-jnp.sum(xlogy(marginal, marginal), axis=-1)).sum()

    def __call__(self, features: jax.Array, mask_time_indices: jax.Array | None = None, temperature: Any = 2.0,
                 deterministic: bool = True) -> tuple[jax.Array, jax.Array]:
        batch, frames, _ = features.shape
        groups, codes = self.num_groups, self.num_vars
        logits = self.weight_proj(features).reshape(batch * frames * groups, codes)
        if not deterministic:
            noisy = logits.astype(jnp.float32) + jax.random.gumbel(self.make_rng("dropout"), logits.shape, jnp.float32)
            sample = jax.nn.softmax(noisy / temperature, axis=-1)
            hard = jax.nn.one_hot(jnp.argmax(sample, axis=-1), codes, dtype=sample.dtype)
            probs = (hard - jax.lax.stop_gradient(sample) + sample).astype(logits.dtype)  # straight through
            soft = jax.nn.softmax(logits.reshape(batch * frames, groups, codes).astype(jnp.float32), axis=-1)
            perplexity = self.perplexity(soft, mask_time_indices)
        else:
            probs = jax.nn.one_hot(jnp.argmax(logits, axis=-1), codes, dtype=logits.dtype)
            perplexity = self.perplexity(probs.reshape(batch * frames, groups, codes), mask_time_indices)
        codebooks = self.codevectors.reshape(groups, codes, -1)
        codevectors = jnp.einsum("ngv,gvd->ngd", probs.reshape(batch * frames, groups, codes), codebooks)
        return codevectors.reshape(batch, frames, -1), perplexity


class FlaxWav2Vec2Module(BaseModule):
    """The bare encoder: the hidden state of every output frame (one per ``conv_stride`` product samples).

    Give the waveforms as the feature extractor makes them, ``input_values`` ``(batch, samples)``.
    ``attention_mask`` (1 on real samples) marks padding; models with ``feat_extract_norm ==
    "group"`` (wav2vec2-base) were trained without one and should be given zero-padded audio
    without a mask, as transformers documents. ``mask_time_indices`` ``(batch, frames)`` replaces
    those frames by ``masked_spec_embed`` (pre-training); while training, SpecAugment draws such
    masks itself (``mask_time_prob``, and ``mask_feature_prob`` over channels).
    """

    def setup(self):
        c = self.config
        self.feature_extractor = layers.ConvFeatureEncoder(
            c.conv_dim, c.conv_kernel, c.conv_stride, bias=c.conv_bias, norm=c.feat_extract_norm,
            activation=c.feat_extract_activation, dtype=self.dtype,
        )
        self.feature_projection = FlaxWav2Vec2FeatureProjection(c, self.dtype)
        if c.mask_time_prob > 0.0 or c.mask_feature_prob > 0.0:
            self.masked_spec_embed = self.param("masked_spec_embed", layers.uniform_init(), (c.hidden_size,), self.dtype)
        else:
            self.masked_spec_embed = None
        self.encoder = FlaxWav2Vec2Encoder((encoder_layer(c, index, self.dtype) for index in range(c.num_hidden_layers)),
                                           list_name="layers", layerdrop=c.layerdrop, config=c, dtype=self.dtype)
        self.adapter = FlaxWav2Vec2Adapter(c, self.dtype) if c.add_adapter else None

    def output_lengths(self, lengths, with_adapter: bool = True):
        """Output frames for waveforms of ``lengths`` samples (after the adapter, if any, unless ``with_adapter=False``)."""
        lengths = self.feature_extractor.output_lengths(lengths)
        if with_adapter and self.adapter is not None:
            lengths = self.adapter.output_lengths(lengths)
        return lengths

    def frame_mask(self, attention_mask: jax.Array, frames: int) -> jax.Array:
        """The ``(batch, frames)`` mask of the convolutional frames, True where the waveform is real."""
        lengths = self.output_lengths(jnp.asarray(attention_mask).astype(jnp.int32).sum(-1), with_adapter=False)
        return jnp.arange(frames)[None, :] < lengths[:, None]

    def spec_augment_mask(self, shape: tuple[int, int], mask_prob: float, mask_length: int, min_masks: int,
                          frame_mask: jax.Array | None = None) -> jax.Array:
        """Random spans to mask, ``(batch, length)`` bool: :func:`~polyformer.models.wav2vec2.masking.compute_mask_indices`.

        It runs in numpy on the host (``jax.pure_callback``), inside the compiled program, with a
        generator seeded from the ``"dropout"`` rng. Its arguments are checked here, while tracing,
        where an error can still be raised.
        """
        check_mask_arguments(shape[1], mask_prob, mask_length)
        seed = jax.random.key_data(self.make_rng("dropout"))

        def draw(seed, *real):
            return compute_mask_indices(shape, mask_prob, mask_length, attention_mask=real[0] if real else None,
                                        min_masks=min_masks, rng=np.random.default_rng(np.asarray(seed)))

        operands = (seed,) if frame_mask is None else (seed, frame_mask)
        return jax.pure_callback(draw, jax.ShapeDtypeStruct(tuple(shape), jnp.bool_), *operands)

    def mask_hidden_states(self, hidden_states: jax.Array, mask_time_indices: jax.Array | None = None,
                           frame_mask: jax.Array | None = None, deterministic: bool = True) -> jax.Array:
        """SpecAugment: the given (or, training, random) frames become ``masked_spec_embed``; random channels 0."""
        c = self.config
        if not c.apply_spec_augment:
            return hidden_states
        batch, frames, hidden = hidden_states.shape
        if mask_time_indices is None and c.mask_time_prob > 0 and not deterministic:
            mask_time_indices = self.spec_augment_mask((batch, frames), c.mask_time_prob, c.mask_time_length,
                                                       c.mask_time_min_masks, frame_mask)
        if mask_time_indices is not None:
            if tuple(jnp.shape(mask_time_indices)) != (batch, frames):
                raise checks.ModelInputError(
                    f"mask_time_indices has shape {tuple(jnp.shape(mask_time_indices))}, but the audio gives {frames} "
                    f"frames per example: expected ({batch}, {frames}) (see model.output_lengths)"
                )
            if self.masked_spec_embed is None:
                raise ValueError(
                    "mask_time_indices needs masked_spec_embed, which the model has only when config.mask_time_prob "
                    "> 0 or config.mask_feature_prob > 0"
                )
            masked = jnp.asarray(mask_time_indices).astype(bool)[..., None]
            hidden_states = jnp.where(masked, self.masked_spec_embed.astype(hidden_states.dtype), hidden_states)
        if c.mask_feature_prob > 0 and not deterministic:
            channels = self.spec_augment_mask((batch, hidden), c.mask_feature_prob, c.mask_feature_length,
                                              c.mask_feature_min_masks)
            hidden_states = jnp.where(channels[:, None, :], 0.0, hidden_states)
        return hidden_states

    def __call__(self, input_values=None, attention_mask=None, mask_time_indices=None, head_mask=None, train=False,
                 output_attentions=None, output_hidden_states=None, return_dict=None):
        """The hidden state of every audio frame (about 20 ms each), and the convolutional features.

        Args:
            input_values: ``(batch, samples)`` raw audio, as the feature extractor makes it.
            attention_mask: ``(batch, samples)``: 1 for audio samples, 0 for padding (None: all 1).
            mask_time_indices: ``(batch, frames)``: True for the frames replaced by the masked embedding (SpecAugment).
            head_mask: ``(heads,)`` or ``(layers, heads)``: 1 keeps an attention head, 0 masks it out.
            train: dropout, LayerDrop and SpecAugment on (they draw from the ``dropout`` rng).
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
        hidden_states, extract_features = self.feature_projection(features, deterministic=not train)
        hidden_states = self.mask_hidden_states(hidden_states, mask_time_indices, frame_mask, deterministic=not train)
        encoded = self.encoder(hidden_states, frame_mask, head_mask, output_attentions, output_hidden_states,
                               deterministic=not train)
        hidden_states = encoded.last_hidden_state
        if self.adapter is not None:
            hidden_states = self.adapter(hidden_states)
        output = Wav2Vec2BaseModelOutput(
            last_hidden_state=hidden_states, extract_features=extract_features,
            hidden_states=encoded.hidden_states, attentions=encoded.attentions,
        )
        return output if return_dict else output.to_tuple()


class FlaxWav2Vec2PreTrainedModel(FlaxPreTrainedModel):
    """Shared by every Wav2Vec2 model: config class, weight prefix, main input, the base model of heads.

    Initialisation is the PyTorch model's, drawn with numpy: linears N(0, ``initializer_range``),
    the feature encoder's convolutions He's normal, the positional convolution's ``v`` with its own
    spread and ``g`` its norm, the mask embedding and codebook uniform on [0, 1), biases 0, norms 1.
    """

    config_class = Wav2Vec2Config
    base_model_prefix = "wav2vec2"
    main_input_name = "input_values"
    legacy_checkpoint_names = LEGACY_CHECKPOINT_NAMES

    def make_base_model(self, config: Wav2Vec2Config) -> FlaxWav2Vec2Module:
        return FlaxWav2Vec2Module(config, self.dtype)

    def _check_inputs_before_jit(self, facts: dict[str, checks.Facts]) -> None:
        """The audio as the user gave it: dtype, shape, and every waveform the mask marks long enough for a frame."""
        super()._check_inputs_before_jit(facts)
        self._base_module().feature_extractor.check_facts(facts.get("input_values"), facts.get("attention_mask"))


class FlaxWav2Vec2Model(FlaxWav2Vec2PreTrainedModel):
    """The bare encoder (see :class:`FlaxWav2Vec2Module`)."""

    module_class = FlaxWav2Vec2Module

    def output_lengths(self, lengths, with_adapter: bool = True):
        """Output frames for waveforms of ``lengths`` samples (after the adapter, if any, unless ``with_adapter=False``)."""
        return self._base_module().output_lengths(lengths, with_adapter=with_adapter)


def _no_adapter(head: str, config: Wav2Vec2Config) -> None:
    if config.add_adapter:
        raise ValueError(f"{head} does not support Wav2Vec2 adapters (config.add_adapter=True): its head reads the "
                         f"encoder's frames; set add_adapter=False")


class FlaxWav2Vec2ForCTC(heads.ForCTC, FlaxWav2Vec2PreTrainedModel):
    """Speech recognition: a token (or the CTC blank, ``pad_token_id``) per frame; decode with the processor."""

    def lm_head_input_size(self, config: Wav2Vec2Config) -> int:
        return config.output_hidden_size if config.add_adapter else config.hidden_size


class FlaxWav2Vec2ForSequenceClassification(heads.ForAudioClassification, FlaxWav2Vec2PreTrainedModel):
    """A label per clip (keyword spotting, speaker or emotion recognition...) from the mean of its frames."""

    def build_head(self, config: Wav2Vec2Config) -> None:
        _no_adapter("Sequence classification", config)
        heads.ForAudioClassification.build_head(self, config)


class FlaxWav2Vec2ForAudioFrameClassification(heads.ForAudioFrameClassification, FlaxWav2Vec2PreTrainedModel):
    """A label per frame (speaker diarization...)."""

    def build_head(self, config: Wav2Vec2Config) -> None:
        _no_adapter("Audio frame classification", config)
        heads.ForAudioFrameClassification.build_head(self, config)


class FlaxWav2Vec2ForXVector(heads.ForXVector, FlaxWav2Vec2PreTrainedModel):
    """Speaker verification: an x-vector embedding per clip, trained with the additive-margin softmax."""


class FlaxWav2Vec2ForPreTraining(heads.HeadModel, FlaxWav2Vec2PreTrainedModel):
    """Self-supervised pre-training (wav2vec 2.0): predict the quantised features of masked frames.

    Give ``mask_time_indices`` (frames to mask) and ``sampled_negative_indices`` (distractors
    for each masked frame), e.g. from :func:`~polyformer.models.wav2vec2.masking.compute_mask_indices`
    and :func:`~polyformer.models.wav2vec2.masking.sample_negative_indices`; the loss is then the
    contrastive loss plus ``diversity_loss_weight`` times the diversity loss.

    The Gumbel-softmax temperature is an input of the head, ``gumbel_temperature`` (a number, so
    annealing it compiles nothing new); the model object passes the one
    :meth:`set_gumbel_temperature` set (2.0 at first) unless the call gives one.
    """

    output_class = Wav2Vec2ForPreTrainingOutput
    loss_input_names = ("sampled_negative_indices", "gumbel_temperature")
    #: The temperature the model object passes (see :meth:`set_gumbel_temperature`).
    gumbel_temperature: float = 2.0

    def build_head(self, config: Wav2Vec2Config) -> None:
        std = config.initializer_range
        self.dropout_features = heads.HeadDropout(config.feat_quantizer_dropout)
        self.quantizer = FlaxWav2Vec2GumbelVectorQuantizer(config, self.dtype)
        self.project_hid = layers.dense(config.proj_codevector_dim, std, self.dtype)
        self.project_q = layers.dense(config.proj_codevector_dim, std, self.dtype)

    def set_gumbel_temperature(self, temperature: float) -> None:
        """The Gumbel-softmax temperature of the quantiser (annealed during pre-training)."""
        self.gumbel_temperature = float(temperature)

    def _name_inputs(self, args: tuple, kwargs: dict[str, Any]) -> dict[str, Any]:
        named = super()._name_inputs(args, kwargs)
        if named.get("gumbel_temperature") is None:
            named["gumbel_temperature"] = np.float32(self.gumbel_temperature)
        return named

    def head_outputs(self, base_output, inputs, sampled_negative_indices=None, gumbel_temperature=2.0):
        config = self.config
        predicted = self.project_hid(base_output.last_hidden_state)
        mask = inputs.get("mask_time_indices")
        mask = None if mask is None else jnp.asarray(mask).astype(bool)
        quantized, perplexity = self.quantizer(self.dropout_features(base_output.extract_features), mask,
                                               gumbel_temperature, deterministic=not heads.is_training())
        quantized = self.project_q(quantized)
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

    def _check_labels(self, output, loss_inputs):
        """The negatives' values (JAX clamps an index out of range, where PyTorch raises)."""
        negatives = loss_inputs.get("sampled_negative_indices")
        if negatives is not None:
            batch, frames = output.projected_states.shape[:2]
            checks.check_negative_indices(negatives, batch, frames)


# The heads' linen modules (made from the classes above), under their public names.
FlaxWav2Vec2ForCTCModule = FlaxWav2Vec2ForCTC.module_class
FlaxWav2Vec2ForSequenceClassificationModule = FlaxWav2Vec2ForSequenceClassification.module_class
FlaxWav2Vec2ForAudioFrameClassificationModule = FlaxWav2Vec2ForAudioFrameClassification.module_class
FlaxWav2Vec2ForXVectorModule = FlaxWav2Vec2ForXVector.module_class
FlaxWav2Vec2ForPreTrainingModule = FlaxWav2Vec2ForPreTraining.module_class
