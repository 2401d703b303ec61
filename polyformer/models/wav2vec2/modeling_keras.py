"""Wav2Vec2 in Keras 3 (on TensorFlow): the base model, CTC, clip and frame classification, x-vectors, pre-training.

The same computation and weight names as the PyTorch Wav2Vec2 (:mod:`.modeling_torch`), so the
checkpoints ``transformers`` writes load as they are (``wav2vec2.feature_extractor.conv_layers.0.conv``,
``...encoder.pos_conv_embed.conv.parametrizations.weight.original0``, ``...encoder.layers.0.attention.q_proj``,
``lm_head``, ``tdnn.0.kernel``, ``objective.weight``, ``quantizer.codevectors``...), older ones with the
weight norm's ``conv.weight_g`` / ``conv.weight_v`` too (:attr:`TFWav2Vec2PreTrainedModel.legacy_checkpoint_names`).

The generic parts come from the backend: the convolutional feature encoder, the positional
convolution, the transformer layers and their stack with LayerDrop, the TDNN layer
(:mod:`polyformer.backends.keras.layers`), and the CTC, audio and frame classification and
x-vector heads (:mod:`polyformer.backends.keras.heads`). Written here is what is Wav2Vec2's own:
the feature projection, SpecAugment, the optional adapters, the encoder's pre/post-norm framing,
and pre-training (the Gumbel quantiser and the contrastive objective).

Randomness while training comes from Keras seed generators (``keras.utils.set_random_seed``
makes it repeatable): dropout, LayerDrop, SpecAugment's spans (:func:`random_spans`, the
sampling of :func:`~polyformer.models.wav2vec2.masking.compute_mask_indices` in Keras ops, so that
``fit`` and XLA can run it) and the Gumbel noise. Pre-training's negatives are an input, drawn by
the caller (:func:`~polyformer.models.wav2vec2.masking.sample_negative_indices`), as in PyTorch.
"""

from __future__ import annotations

import numpy as np

from ...backends.keras import heads, layers, losses
from ...backends.keras.layers import keras, ops
from ...backends.keras.modeling import TFPreTrainedModel
from ...core import inputs as checks
from ...core.numerics import conv_output_length, pruned_heads_of_layer
from ...core.outputs import Wav2Vec2BaseModelOutput, Wav2Vec2ForPreTrainingOutput
from .configuration import Wav2Vec2Config

__all__ = [
    "TFWav2Vec2PreTrainedModel",
    "TFWav2Vec2Model",
    "TFWav2Vec2ForCTC",
    "TFWav2Vec2ForSequenceClassification",
    "TFWav2Vec2ForAudioFrameClassification",
    "TFWav2Vec2ForXVector",
    "TFWav2Vec2ForPreTraining",
    "random_spans",
]


def random_spans(shape, mask_prob: float, mask_length: int, lengths=None, min_masks: int = 0,
                 seed_generator: keras.random.SeedGenerator | None = None):
    """Random spans of ``mask_length`` positions to mask along the second axis of ``shape`` = ``(batch, length)``.

    The sampling of :func:`~polyformer.models.wav2vec2.masking.compute_mask_indices`, drawn from
    ``seed_generator`` in Keras ops (so it runs in ``fit`` and under XLA): each row gets
    ``floor(mask_prob * real_length / mask_length + u)`` spans (``u`` one uniform draw for the
    batch; at least ``min_masks``, at most what fits), starting at distinct positions chosen
    uniformly among those where a span fits in the row's real length. ``lengths`` ``(batch,)``
    are the real lengths (right padding; all of ``length`` when None). Returns a boolean mask.
    """
    batch, length = shape
    if isinstance(length, int) and mask_length > length:
        raise ValueError(f"mask_length ({mask_length}) must not exceed the length of the masked axis ({length})")
    if lengths is None:
        lengths = ops.full((batch,), length, dtype="int32")
    lengths = ops.cast(lengths, "int32")
    rounding = keras.random.uniform((), seed=seed_generator)
    count = ops.cast(ops.floor(mask_prob * ops.cast(lengths, "float32") / mask_length + rounding), "int32")
    count = ops.minimum(ops.maximum(count, min_masks), length // mask_length)
    count = ops.minimum(count, ops.maximum(lengths - mask_length + 1, 0))
    # The `count` fitting starts with the smallest random keys: a uniform choice without replacement.
    fits = ops.arange(length, dtype="int32")[None, :] <= (lengths - mask_length)[:, None]
    keys = ops.where(fits, keras.random.uniform((batch, length), seed=seed_generator), 2.0)
    starts = ops.argsort(ops.argsort(keys, axis=-1), axis=-1) < count[:, None]
    # A position is masked when a span starts within the mask_length positions up to it.
    started = ops.cumsum(ops.cast(starts, "int32"), axis=1)
    started_before = ops.concatenate([ops.zeros((batch, mask_length), "int32"), started[:, :-mask_length]], axis=1)
    return started - started_before > 0


class TFWav2Vec2FeatureProjection(layers.Block):
    """LayerNorm over the convolutional features, then a linear up to ``hidden_size`` and dropout.

    Returns both the projection and the normed features (``extract_features``, which the
    pre-training quantiser reads).
    """

    def __init__(self, config: Wav2Vec2Config, **kwargs) -> None:
        super().__init__(**kwargs)
        self.layer_norm = layers.LayerNorm(config.conv_dim[-1], eps=config.layer_norm_eps, dtype=self.dtype_policy)
        self.projection = layers.Linear(config.conv_dim[-1], config.hidden_size, **self.options)
        self.dropout = keras.layers.Dropout(config.feat_proj_dropout, dtype=self.dtype_policy)

    def call(self, features):
        normed = self.layer_norm(features)
        return self.dropout(self.projection(normed)), normed


class TFWav2Vec2AttnAdapterLayer(layers.Block):
    """A small bottleneck added to each pre-norm layer's output when ``config.adapter_attn_dim`` is set (MMS)."""

    def __init__(self, config: Wav2Vec2Config, **kwargs) -> None:
        super().__init__(**kwargs)
        self.norm = layers.LayerNorm(config.hidden_size, eps=1e-5, dtype=self.dtype_policy)
        self.linear_1 = layers.Linear(config.hidden_size, config.adapter_attn_dim, **self.options)
        self.linear_2 = layers.Linear(config.adapter_attn_dim, config.hidden_size, **self.options)

    def call(self, hidden_states):
        return self.linear_2(ops.relu(self.linear_1(self.norm(hidden_states))))


class TFWav2Vec2EncoderLayer(layers.TransformerLayer):
    """The shared transformer layer, post-norm or (``do_stable_layer_norm``) pre-norm, with Wav2Vec2's names.

    A pre-norm layer adds ``adapter_layer(x)`` to its output when ``config.adapter_attn_dim`` is set.
    """

    def __init__(self, config: Wav2Vec2Config, index: int, **kwargs) -> None:
        super().__init__(
            config.hidden_size, config.num_attention_heads, config.intermediate_size, config.hidden_act,
            pruned_heads=pruned_heads_of_layer(config, index), norm_first=config.do_stable_layer_norm,
            dropout=config.hidden_dropout, attention_dropout=config.attention_dropout,
            attention_output_dropout=config.hidden_dropout, activation_dropout=config.activation_dropout,
            layer_norm_eps=config.layer_norm_eps, **kwargs,
        )
        stable = config.do_stable_layer_norm and config.adapter_attn_dim is not None
        self.adapter_layer = TFWav2Vec2AttnAdapterLayer(config, **self.options) if stable else None

    def call(self, hidden_states, mask=None, head_mask=None, output_attentions=False):
        hidden_states, weights = super().call(hidden_states, mask, head_mask, output_attentions)
        if self.adapter_layer is not None:
            hidden_states = hidden_states + self.adapter_layer(hidden_states)
        return hidden_states, weights


class TFWav2Vec2Encoder(layers.Encoder):
    """Positional convolution, LayerNorm and the layer stack (``layers.N``), with LayerDrop.

    Post-norm: ``layer_norm(x + pos_conv_embed(x))`` feeds the layers. Pre-norm
    (``do_stable_layer_norm``): ``x + pos_conv_embed(x)`` feeds them and ``layer_norm`` ends the
    stack (the hidden states keep the last layer's output before it, as transformers returns
    them). Padded frames are zeroed before the convolution, so they do not leak into their neighbours'
    positions.
    """

    def __init__(self, config: Wav2Vec2Config, **kwargs) -> None:
        super().__init__([TFWav2Vec2EncoderLayer(config, index, **kwargs) for index in range(config.num_hidden_layers)],
                         list_name="layers", layerdrop=config.layerdrop, **kwargs)
        self.pos_conv_embed = layers.PositionalConvEmbedding(
            config.hidden_size, config.num_conv_pos_embeddings, config.num_conv_pos_embedding_groups,
            activation=config.feat_extract_activation, **self.options,
        )
        self.layer_norm = layers.LayerNorm(config.hidden_size, eps=config.layer_norm_eps, dtype=self.dtype_policy)
        self.dropout = keras.layers.Dropout(config.hidden_dropout, dtype=self.dtype_policy)
        self.norm_first = config.do_stable_layer_norm

    def call(self, hidden_states, attention_mask=None, head_mask=None, output_attentions=False,
             output_hidden_states=False, training=None):
        if attention_mask is not None:
            hidden_states = ops.where(ops.cast(attention_mask, "bool")[..., None], hidden_states, 0.0)
        hidden_states = hidden_states + self.pos_conv_embed(hidden_states)
        if not self.norm_first:
            hidden_states = self.layer_norm(hidden_states)
        hidden_states = self.dropout(hidden_states)
        output = super().call(hidden_states, attention_mask, head_mask, output_attentions, output_hidden_states,
                              training=training)
        if self.norm_first:
            output.last_hidden_state = self.layer_norm(output.last_hidden_state)
        return output


class TFWav2Vec2AdapterLayer(layers.Block):
    """A strided convolution to twice the width, then a gated linear unit: halves the frames (stride 2)."""

    def __init__(self, config: Wav2Vec2Config, **kwargs) -> None:
        super().__init__(**kwargs)
        size = config.output_hidden_size
        self.conv = layers.Conv1d(size, 2 * size, config.adapter_kernel_size, config.adapter_stride, padding=1,
                                  **self.options)

    def call(self, hidden_states):
        value, gate = ops.split(self.conv(hidden_states), 2, axis=-1)
        return value * ops.sigmoid(gate)


class TFWav2Vec2Adapter(layers.Block):
    """``add_adapter``: fewer, optionally narrower frames after the encoder (for a decoder to read).

    A linear and LayerNorm down to ``output_hidden_size`` when it differs from ``hidden_size``,
    then ``num_adapter_layers`` :class:`TFWav2Vec2AdapterLayer`, each skipped with probability
    ``layerdrop`` while training (:func:`~polyformer.backends.keras.layers.layer_drop`).
    """

    def __init__(self, config: Wav2Vec2Config, **kwargs) -> None:
        super().__init__(**kwargs)
        if config.output_hidden_size != config.hidden_size:
            self.proj = layers.Linear(config.hidden_size, config.output_hidden_size, **self.options)
            self.proj_layer_norm = layers.LayerNorm(config.output_hidden_size, eps=1e-5, dtype=self.dtype_policy)
        else:
            self.proj = self.proj_layer_norm = None
        self.layers_ = [TFWav2Vec2AdapterLayer(config, **self.options) for _ in range(config.num_adapter_layers)]
        self.layerdrop = config.layerdrop
        self.kernel, self.stride = config.adapter_kernel_size, config.adapter_stride
        self.seed_generator = keras.random.SeedGenerator()

    def output_lengths(self, lengths):
        """Frames out for ``lengths`` frames in: each layer's convolution (padding 1) shortens them."""
        count = len(self.layers_)
        return conv_output_length(lengths, [self.kernel] * count, [self.stride] * count, [1] * count)

    def call(self, hidden_states, training=None):
        if self.proj is not None:
            hidden_states = self.proj_layer_norm(self.proj(hidden_states))
        for layer in self.layers_:
            def run(states, layer=layer):
                return layer(states), None

            if training and self.layerdrop > 0.0:
                hidden_states, _ = layers.layer_drop(run, hidden_states, self.layerdrop, self.seed_generator)
            else:
                hidden_states = layer(hidden_states)
        return hidden_states


class TFWav2Vec2GumbelVectorQuantizer(layers.Block):
    """Product quantisation of the convolutional features: ``num_codevector_groups`` codebooks of
    ``num_codevectors_per_group`` entries, concatenated into a ``codevector_dim`` target.

    While training, each group's code is a straight-through Gumbel-softmax sample at
    ``temperature`` (the Gumbel noise from this layer's seed generator); otherwise the argmax.
    Also returns the perplexity of the code distribution over the masked frames (all frames
    without a mask): how many codes are in use, which the diversity loss rewards. The
    temperature is a variable, so that annealing it (``set_gumbel_temperature``, e.g. from a
    callback during ``fit``) reaches functions already traced.
    """

    def __init__(self, config: Wav2Vec2Config, **kwargs) -> None:
        super().__init__(**kwargs)
        self.num_groups, self.num_vars = config.num_codevector_groups, config.num_codevectors_per_group
        if config.codevector_dim % self.num_groups:
            raise ValueError(
                f"config.codevector_dim ({config.codevector_dim}) must be divisible by config.num_codevector_groups "
                f"({self.num_groups}): the groups' codevectors are concatenated"
            )
        self.codevectors = layers.Parameter((1, self.num_groups * self.num_vars, config.codevector_dim // self.num_groups),
                                            initializer=layers.uniform_initializer(), dtype=self.dtype_policy)
        # Wide logits (std 1), so that the Gumbel samples start spread over the codes.
        self.weight_proj = layers.Linear(config.conv_dim[-1], self.num_groups * self.num_vars, initializer_range=1.0,
                                         dtype=self.dtype_policy)
        self.temperature = self.add_weight(shape=(), initializer=keras.initializers.Constant(2.0), dtype="float32",
                                           trainable=False, name="gumbel_temperature")
        self.seed_generator = keras.random.SeedGenerator()

    @staticmethod
    def perplexity(probs, mask=None):
        """``exp(entropy)`` of the mean code distribution per group, summed over groups."""
        if mask is not None:
            probs = ops.where(ops.reshape(mask, (-1,))[:, None, None], probs, 0.0)
            marginal = ops.sum(probs, axis=0) / ops.cast(ops.sum(ops.cast(mask, "int32")), probs.dtype)
        else:
            marginal = ops.mean(probs, axis=0)
        # marginal * log(marginal), 0 where the marginal is 0 (torch.xlogy)
        entropy_terms = ops.where(marginal > 0, marginal * ops.log(ops.where(marginal > 0, marginal, 1.0)), 0.0)
        return ops.sum(ops.exp(-ops.sum(entropy_terms, axis=-1)))

    def call(self, features, mask_time_indices=None, training=None):
        batch, frames = ops.shape(features)[0], ops.shape(features)[1]
        logits = ops.reshape(self.weight_proj(features), (-1, self.num_vars))  # one row per frame and group
        if training:
            logits32 = ops.cast(logits, "float32")
            uniform = keras.random.uniform(ops.shape(logits32), minval=np.finfo(np.float32).tiny, maxval=1.0,
                                           seed=self.seed_generator)
            soft = ops.softmax((logits32 - ops.log(-ops.log(uniform))) / self.temperature, axis=-1)
            hard = ops.one_hot(ops.argmax(soft, axis=-1), self.num_vars, dtype=soft.dtype)
            probs = ops.cast(hard - ops.stop_gradient(soft) + soft, logits.dtype)  # straight through
            grouped = ops.softmax(ops.reshape(logits32, (-1, self.num_groups, self.num_vars)), axis=-1)
            perplexity = self.perplexity(grouped, mask_time_indices)
        else:
            probs = ops.one_hot(ops.argmax(logits, axis=-1), self.num_vars, dtype=logits.dtype)
            perplexity = self.perplexity(ops.reshape(probs, (-1, self.num_groups, self.num_vars)), mask_time_indices)
        codebooks = ops.reshape(self.codevectors.variable, (self.num_groups, self.num_vars, -1))
        per_group = ops.reshape(probs, (-1, self.num_groups, self.num_vars, 1)) * codebooks
        return ops.reshape(ops.sum(per_group, axis=2), (batch, frames, -1)), perplexity


class TFWav2Vec2PreTrainedModel(TFPreTrainedModel):
    """Shared by every Wav2Vec2 model: config class, weight prefix, main input, the base model of heads."""

    config_class = Wav2Vec2Config
    base_model_prefix = "wav2vec2"
    main_input_name = "input_values"
    # The same rules as the PyTorch model's: the weight norm's names before PyTorch's parametrizations.
    legacy_checkpoint_names = (
        (r"pos_conv_embed\.conv\.weight_g$", "pos_conv_embed.conv.parametrizations.weight.original0"),
        (r"pos_conv_embed\.conv\.weight_v$", "pos_conv_embed.conv.parametrizations.weight.original1"),
    )

    def make_base_model(self, config: Wav2Vec2Config) -> "TFWav2Vec2Model":
        return TFWav2Vec2Model(config, dtype=self.dtype_policy)

    def freeze_feature_encoder(self) -> None:
        """Stop training the convolutional feature encoder (what fine-tuning usually does); compile again after it."""
        self.base_model.feature_extractor.trainable = False

    def freeze_base_model(self) -> None:
        """Train only the head: no weight of the base model is trained; compile again after it."""
        self.base_model.trainable = False


class TFWav2Vec2Model(TFWav2Vec2PreTrainedModel):
    """The bare encoder: the hidden state of every output frame (one per ``conv_stride`` product samples).

    Give the waveforms as the feature extractor makes them, ``input_values`` ``(batch, samples)``.
    ``attention_mask`` (1 on real samples) marks padding; models with ``feat_extract_norm ==
    "group"`` (wav2vec2-base) were trained without one and should be given zero-padded audio
    without a mask, as transformers documents. ``mask_time_indices`` ``(batch, frames)`` replaces
    those frames by ``masked_spec_embed`` (pre-training); while training, SpecAugment draws such
    masks itself (``mask_time_prob``, and ``mask_feature_prob`` over channels).
    """

    def __init__(self, config: Wav2Vec2Config, **kwargs) -> None:
        super().__init__(config, **kwargs)
        options = self.layer_options
        self.feature_extractor = layers.ConvFeatureEncoder(
            config.conv_dim, config.conv_kernel, config.conv_stride, bias=config.conv_bias,
            norm=config.feat_extract_norm, activation=config.feat_extract_activation, **options,
        )
        self.feature_projection = TFWav2Vec2FeatureProjection(config, **options)
        self.masked_spec_embed = None
        if config.mask_time_prob > 0.0 or config.mask_feature_prob > 0.0:
            self.masked_spec_embed = layers.Parameter((config.hidden_size,), initializer=layers.uniform_initializer(),
                                                      dtype=self.dtype_policy)
        self.encoder = TFWav2Vec2Encoder(config, **options)
        self.adapter = TFWav2Vec2Adapter(config, **options) if config.add_adapter else None
        self.seed_generator = keras.random.SeedGenerator()  # SpecAugment's spans
        self.post_init()

    def get_input_embeddings(self) -> layers.ConvFeatureEncoder:
        return self.feature_extractor

    def output_lengths(self, lengths, with_adapter: bool = True):
        """Output frames for waveforms of ``lengths`` samples (after the adapter, if any, unless ``with_adapter=False``)."""
        lengths = self.feature_extractor.output_lengths(lengths)
        if with_adapter and self.adapter is not None:
            lengths = self.adapter.output_lengths(lengths)
        return lengths

    def frame_mask(self, attention_mask, frames):
        """The ``(batch, frames)`` mask of the convolutional frames, True where the waveform is real."""
        lengths = self.output_lengths(ops.sum(ops.cast(attention_mask, "int32"), axis=-1), with_adapter=False)
        return ops.arange(frames, dtype="int32")[None, :] < lengths[:, None]

    def mask_hidden_states(self, hidden_states, mask_time_indices=None, frame_mask=None, training=None):
        """SpecAugment: the given (or, training, random) frames become ``masked_spec_embed``; random channels 0."""
        config = self.config
        if not config.apply_spec_augment:
            return hidden_states
        batch, frames, hidden = ops.shape(hidden_states)
        if mask_time_indices is None and config.mask_time_prob > 0 and training:
            lengths = None if frame_mask is None else ops.sum(ops.cast(frame_mask, "int32"), axis=-1)
            mask_time_indices = random_spans((batch, frames), config.mask_time_prob, config.mask_time_length, lengths,
                                             config.mask_time_min_masks, self.seed_generator)
        if mask_time_indices is not None:
            shape = tuple(mask_time_indices.shape)
            if len(shape) != 2 or any(isinstance(want, int) and got is not None and got != want
                                      for got, want in zip(shape, (batch, frames))):
                raise checks.ModelInputError(
                    f"mask_time_indices has shape {shape}, but the audio gives {frames} "
                    f"frames per example: expected ({batch}, {frames}) (see model.output_lengths)"
                )
            if self.masked_spec_embed is None:
                raise ValueError(
                    "mask_time_indices needs masked_spec_embed, which the model has only when config.mask_time_prob "
                    "> 0 or config.mask_feature_prob > 0"
                )
            embed = ops.cast(self.masked_spec_embed.variable, hidden_states.dtype)
            hidden_states = ops.where(ops.cast(mask_time_indices, "bool")[..., None], embed, hidden_states)
        if config.mask_feature_prob > 0 and training:
            mask = random_spans((batch, hidden), config.mask_feature_prob, config.mask_feature_length,
                                min_masks=config.mask_feature_min_masks, seed_generator=self.seed_generator)
            hidden_states = ops.where(mask[:, None, :], 0.0, hidden_states)
        return hidden_states

    def call(self, input_values=None, attention_mask=None, mask_time_indices=None, head_mask=None,
             output_attentions=None, output_hidden_states=None, return_dict=None, training=None):
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
            training: dropout, LayerDrop and SpecAugment on (``fit`` passes True).
        """
        output_attentions, output_hidden_states, return_dict = self.resolve_output_flags(
            output_attentions, output_hidden_states, return_dict
        )
        self.feature_extractor.check_inputs(input_values, attention_mask)
        features = self.feature_extractor(input_values)
        frames = ops.shape(features)[1]
        frame_mask = None if attention_mask is None else self.frame_mask(attention_mask, frames)
        hidden_states, extract_features = self.feature_projection(features)
        hidden_states = self.mask_hidden_states(hidden_states, mask_time_indices, frame_mask, training=training)
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
    """The PyTorch model's check, word for word: these heads read the encoder's frames."""
    if config.add_adapter:
        raise ValueError(f"{head} does not support Wav2Vec2 adapters (config.add_adapter=True): its head reads the "
                         f"encoder's frames; set add_adapter=False")


class TFWav2Vec2ForCTC(heads.ForCTC, TFWav2Vec2PreTrainedModel):
    """Speech recognition: a token (or the CTC blank, ``pad_token_id``) per frame; decode with the processor."""

    def lm_head_input_size(self, config: Wav2Vec2Config) -> int:
        return config.output_hidden_size if config.add_adapter else config.hidden_size


class TFWav2Vec2ForSequenceClassification(heads.ForAudioClassification, TFWav2Vec2PreTrainedModel):
    """A label per clip (keyword spotting, speaker or emotion recognition...) from the mean of its frames."""

    def build_head(self, config: Wav2Vec2Config) -> None:
        _no_adapter("Sequence classification", config)
        super().build_head(config)


class TFWav2Vec2ForAudioFrameClassification(heads.ForAudioFrameClassification, TFWav2Vec2PreTrainedModel):
    """A label per frame (speaker diarization...)."""

    def build_head(self, config: Wav2Vec2Config) -> None:
        _no_adapter("Audio frame classification", config)
        super().build_head(config)


class TFWav2Vec2ForXVector(heads.ForXVector, TFWav2Vec2PreTrainedModel):
    """Speaker verification: an x-vector embedding per clip, trained with the additive-margin softmax."""


class TFWav2Vec2ForPreTraining(heads.HeadModel, TFWav2Vec2PreTrainedModel):
    """Self-supervised pre-training (wav2vec 2.0): predict the quantised features of masked frames.

    Give ``mask_time_indices`` (frames to mask) and ``sampled_negative_indices`` (distractors
    for each masked frame), e.g. from :func:`~polyformer.models.wav2vec2.masking.compute_mask_indices`
    and :func:`~polyformer.models.wav2vec2.masking.sample_negative_indices`; the loss is then the
    contrastive loss plus ``diversity_loss_weight`` times the diversity loss.
    """

    output_class = Wav2Vec2ForPreTrainingOutput
    loss_input_names = ("sampled_negative_indices",)

    def build_head(self, config: Wav2Vec2Config) -> None:
        options = self.layer_options
        self.dropout_features = keras.layers.Dropout(config.feat_quantizer_dropout, dtype=self.dtype_policy)
        self.quantizer = TFWav2Vec2GumbelVectorQuantizer(config, **options)
        self.project_hid = layers.Linear(config.hidden_size, config.proj_codevector_dim, **options)
        self.project_q = layers.Linear(config.codevector_dim, config.proj_codevector_dim, **options)

    def set_gumbel_temperature(self, temperature: float) -> None:
        """The Gumbel-softmax temperature of the quantiser (annealed during pre-training)."""
        self.quantizer.temperature.assign(temperature)

    def head_outputs(self, base_output, inputs, sampled_negative_indices=None):
        config = self.config
        predicted = self.project_hid(base_output.last_hidden_state)
        mask = inputs.get("mask_time_indices")
        mask = None if mask is None else ops.cast(mask, "bool")
        quantized, perplexity = self.quantizer(self.dropout_features(base_output.extract_features), mask)
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
