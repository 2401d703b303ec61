"""BERT in Keras 3 (on TensorFlow), built from polyformer's Keras building blocks.

The embeddings, self-attention, post-norm sub-layer outputs and the layer stack are the
backend's shared blocks (``polyformer.backends.keras.layers``); this module only arranges
them as BERT does and names each attribute as transformers' PyTorch ``BertModel`` names
its modules (``bert.encoder.layer.N.attention.self.query``, ``attention.output.dense``,
``intermediate.dense``, ``output.LayerNorm``, ``bert.pooler.dense``, ``cls.predictions...``).
Those names *are* the checkpoint names, so Hugging Face BERT folders load and save as they are.
"""

from __future__ import annotations

from polyformer.backends.keras.layers import (
    DenseResidualNorm,
    Embedding,
    Embeddings,
    EncoderStack,
    LayerNorm,
    Linear,
    OutputProjection,
    Parameter,
    SelfAttention,
    additive_attention_mask,
    check_choice_inputs,
    flatten_choices,
    get_activation,
    keras,
    masked_lm_loss,
    multiple_choice_loss,
    question_answering_loss,
    sequence_classification_loss,
    token_classification_loss,
    tf,
)
from polyformer.backends.keras.modeling import TFPreTrainedModel, unpack_inputs
from polyformer.core.outputs import (
    BaseModelOutputWithPooling,
    MaskedLMOutput,
    MultipleChoiceModelOutput,
    QuestionAnsweringModelOutput,
    SequenceClassifierOutput,
    TokenClassifierOutput,
)

from .configuration import BertConfig

__all__ = [
    "TFBertPreTrainedModel",
    "TFBertModel",
    "TFBertForMaskedLM",
    "TFBertForSequenceClassification",
    "TFBertForTokenClassification",
    "TFBertForQuestionAnswering",
    "TFBertForMultipleChoice",
]


def _linear(config: BertConfig, in_features: int, out_features: int, layer: keras.layers.Layer, name: str) -> Linear:
    return Linear(in_features, out_features, initializer_range=config.initializer_range, dtype=layer.dtype_policy,
                  name=name)


def _layer_norm(config: BertConfig, layer: keras.layers.Layer) -> LayerNorm:
    return LayerNorm(config.hidden_size, eps=config.layer_norm_eps, dtype=layer.dtype_policy, name="LayerNorm")


def _output_block(config: BertConfig, in_features: int, layer: keras.layers.Layer, name: str) -> DenseResidualNorm:
    """``dense`` + dropout + ``LayerNorm`` with the residual: BERT's ``attention.output`` and ``output``."""
    return DenseResidualNorm(in_features, config.hidden_size, layer_norm_eps=config.layer_norm_eps,
                             dropout=config.hidden_dropout_prob, initializer_range=config.initializer_range,
                             dtype=layer.dtype_policy, name=name)


def _classifier_dropout(config: BertConfig, layer: keras.layers.Layer) -> keras.layers.Dropout:
    """Heads drop out at ``classifier_dropout``, or at ``hidden_dropout_prob`` when it is unset."""
    rate = config.classifier_dropout if config.classifier_dropout is not None else config.hidden_dropout_prob
    return keras.layers.Dropout(rate, dtype=layer.dtype_policy)


# ---- the encoder ------------------------------------------------------------------------
class TFBertAttention(keras.layers.Layer):
    """``self`` (query / key / value attention) then ``output`` (dense, dropout, LayerNorm with the input)."""

    def __init__(self, config: BertConfig, **kwargs):
        super().__init__(**kwargs)
        self.self = SelfAttention(
            config.hidden_size, config.num_attention_heads, projections=("query", "key", "value"),
            dropout=config.attention_probs_dropout_prob, initializer_range=config.initializer_range,
            dtype=self.dtype_policy, name="self",
        )
        self.output_ = _output_block(config, config.hidden_size, self, "output")  # Keras reserves .output
        self.built = True

    def call(self, hidden_states, attention_mask=None, training=False):
        context, weights = self.self(hidden_states, attention_mask=attention_mask, training=training)
        return self.output_(context, hidden_states, training=training), weights


class TFBertIntermediate(keras.layers.Layer):
    """The feed-forward expansion: ``hidden_act(dense(x))``."""

    def __init__(self, config: BertConfig, **kwargs):
        super().__init__(**kwargs)
        self.dense = _linear(config, config.hidden_size, config.intermediate_size, self, "dense")
        self.activation = get_activation(config.hidden_act)
        self.built = True

    def call(self, hidden_states):
        return self.activation(self.dense(hidden_states))


class TFBertLayer(keras.layers.Layer):
    """One encoder layer: attention, then intermediate and output (the feed-forward sub-layer)."""

    def __init__(self, config: BertConfig, **kwargs):
        super().__init__(**kwargs)
        self.attention = TFBertAttention(config, dtype=self.dtype_policy, name="attention")
        self.intermediate = TFBertIntermediate(config, dtype=self.dtype_policy, name="intermediate")
        self.output_ = _output_block(config, config.intermediate_size, self, "output")
        self.built = True

    def call(self, hidden_states, attention_mask=None, training=False):
        attended, weights = self.attention(hidden_states, attention_mask=attention_mask, training=training)
        return self.output_(self.intermediate(attended), attended, training=training), weights


class TFBertPooler(keras.layers.Layer):
    """``tanh(dense(h[:, 0]))``: the first token's hidden state as the sequence summary."""

    def __init__(self, config: BertConfig, **kwargs):
        super().__init__(**kwargs)
        self.dense = _linear(config, config.hidden_size, config.hidden_size, self, "dense")
        self.built = True

    def call(self, hidden_states):
        return tf.tanh(self.dense(hidden_states[:, 0]))


# ---- the masked-LM head -----------------------------------------------------------------
class TFBertPredictionHeadTransform(keras.layers.Layer):
    """``LayerNorm(hidden_act(dense(x)))`` before the vocabulary projection."""

    def __init__(self, config: BertConfig, **kwargs):
        super().__init__(**kwargs)
        self.dense = _linear(config, config.hidden_size, config.hidden_size, self, "dense")
        self.activation = get_activation(config.hidden_act)
        self.LayerNorm = _layer_norm(config, self)
        self.built = True

    def call(self, hidden_states):
        return self.LayerNorm(self.activation(self.dense(hidden_states)))


class TFBertLMPredictionHead(keras.layers.Layer):
    """``transform``, then ``decoder``: the projection to the vocabulary.

    Tied (``tie_word_embeddings``, the default), the decoder's weight is the word embedding
    table and its bias is ``bias`` (``cls.predictions.bias``), as in transformers v5, which
    saves neither ``decoder.weight`` nor ``decoder.bias``. Untied, the decoder has its own
    weight and bias (both saved) and ``bias`` is kept only so checkpoints round-trip:
    transformers' untied model also has it and does not use it.
    """

    def __init__(self, config: BertConfig, word_embeddings: Embedding, **kwargs):
        super().__init__(**kwargs)
        tied = config.tie_word_embeddings
        self.transform = TFBertPredictionHeadTransform(config, dtype=self.dtype_policy, name="transform")
        # Untied, nothing reads ``bias``: not trainable, so that fit() does not warn about its missing gradient.
        self.bias = Parameter((config.vocab_size,), trainable=tied, dtype=self.dtype_policy, name="bias")
        self.decoder = OutputProjection(
            config.vocab_size, config.hidden_size, embedding=word_embeddings if tied else None,
            bias=self.bias if tied else None, initializer_range=config.initializer_range,
            dtype=self.dtype_policy, name="decoder",
        )
        self.built = True

    def call(self, hidden_states):
        return self.decoder(self.transform(hidden_states))


class TFBertOnlyMLMHead(keras.layers.Layer):
    """Holds ``predictions``: the ``cls.predictions`` names of the checkpoint."""

    def __init__(self, config: BertConfig, word_embeddings: Embedding, **kwargs):
        super().__init__(**kwargs)
        self.predictions = TFBertLMPredictionHead(config, word_embeddings, dtype=self.dtype_policy, name="predictions")
        self.built = True

    def call(self, hidden_states):
        return self.predictions(hidden_states)


# ---- models -----------------------------------------------------------------------------
#: Heads built without the pooler load base checkpoints (which have one) without warnings about it.
_NO_POOLER = (r"position_ids$", r"(^|\.)pooler\.")


class TFBertPreTrainedModel(TFPreTrainedModel):
    """What every BERT model shares: its config class and the base model's attribute name."""

    config_class = BertConfig
    base_model_prefix = "bert"
    # Older checkpoints saved the position_ids buffer (all-MiniLM-L6-v2 does); positions are computed here.
    keys_to_ignore_on_load_unexpected = (r"position_ids$",)

    def _base_model(self, config: BertConfig, add_pooling_layer: bool = True) -> "TFBertModel":
        return TFBertModel(config, add_pooling_layer=add_pooling_layer, dtype=self.dtype_policy, name="bert")

    def _encode(self, input_ids, attention_mask, token_type_ids, position_ids, inputs_embeds,
                output_attentions, output_hidden_states, training) -> BaseModelOutputWithPooling:
        """Run the base model, always as an output object (heads read its fields)."""
        return self.bert(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids,
                         position_ids=position_ids, inputs_embeds=inputs_embeds, output_attentions=output_attentions,
                         output_hidden_states=output_hidden_states, return_dict=True, training=training)


class TFBertModel(TFBertPreTrainedModel):
    """The bare encoder: ``last_hidden_state`` and ``pooler_output`` (None without the pooler)."""

    module_options = {"add_pooling_layer": True}

    def __init__(self, config: BertConfig, add_pooling_layer: bool = True, **kwargs):
        super().__init__(config, **kwargs)
        self.embeddings = Embeddings(
            config.vocab_size, config.hidden_size, config.max_position_embeddings,
            type_vocab_size=config.type_vocab_size, pad_token_id=config.pad_token_id,
            layer_norm_eps=config.layer_norm_eps, dropout=config.hidden_dropout_prob,
            initializer_range=config.initializer_range, dtype=self.dtype_policy, name="embeddings",
        )
        blocks = [TFBertLayer(config, dtype=self.dtype_policy, name=f"layer_{i}")
                  for i in range(config.num_hidden_layers)]
        self.encoder = EncoderStack(blocks, dtype=self.dtype_policy, name="encoder")
        self.pooler = TFBertPooler(config, dtype=self.dtype_policy, name="pooler") if add_pooling_layer else None
        self.built = True

    def get_input_embeddings(self) -> Embedding:
        return self.embeddings.word_embeddings

    @unpack_inputs
    def call(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None, inputs_embeds=None,
             output_attentions=None, output_hidden_states=None, return_dict=None, training=False):
        output_attentions, output_hidden_states = self.output_flags(output_attentions, output_hidden_states)
        embeddings = self.embeddings(input_ids=input_ids, token_type_ids=token_type_ids, position_ids=position_ids,
                                     inputs_embeds=inputs_embeds, training=training)
        hidden_states, all_hidden_states, all_attentions = self.encoder(
            embeddings,
            attention_mask=additive_attention_mask(attention_mask, embeddings.dtype, embeddings.shape[:2]),
            output_attentions=output_attentions,
            output_hidden_states=output_hidden_states,
            training=training,
        )
        pooled = self.pooler(hidden_states) if self.pooler is not None else None
        output = BaseModelOutputWithPooling(last_hidden_state=hidden_states, pooler_output=pooled,
                                            hidden_states=all_hidden_states, attentions=all_attentions)
        return self.format_output(output, return_dict)


class TFBertForMaskedLM(TFBertPreTrainedModel):
    """Masked language modelling: vocabulary logits per token; labels of -100 are ignored by the loss."""

    keys_to_ignore_on_load_unexpected = _NO_POOLER

    tied_weights = {
        "cls.predictions.decoder.weight": "bert.embeddings.word_embeddings.weight",
        "cls.predictions.decoder.bias": "cls.predictions.bias",
    }

    def __init__(self, config: BertConfig, **kwargs):
        super().__init__(config, **kwargs)
        self.bert = self._base_model(config, add_pooling_layer=False)
        self.cls = TFBertOnlyMLMHead(config, self.bert.get_input_embeddings(), dtype=self.dtype_policy, name="cls")
        self.built = True

    def get_output_embeddings(self) -> OutputProjection:
        return self.cls.predictions.decoder

    def resize_token_embeddings(self, new_num_tokens: int | None = None) -> Embedding:
        """As the base class; untied, the (unused) ``cls.predictions.bias`` follows the vocabulary too."""
        embeddings = super().resize_token_embeddings(new_num_tokens)
        predictions = self.cls.predictions
        if predictions.decoder.bias_parameter is not predictions.bias:
            predictions.bias.resize(self.config.vocab_size)
        return embeddings

    @unpack_inputs
    def call(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None, inputs_embeds=None,
             labels=None, output_attentions=None, output_hidden_states=None, return_dict=None, training=False):
        base = self._encode(input_ids, attention_mask, token_type_ids, position_ids, inputs_embeds,
                            output_attentions, output_hidden_states, training)
        logits = self.cls(base.last_hidden_state)
        loss = masked_lm_loss(logits, labels) if labels is not None else None
        output = MaskedLMOutput(loss=loss, logits=logits, hidden_states=base.hidden_states, attentions=base.attentions)
        return self.format_output(output, return_dict)


class TFBertForSequenceClassification(TFBertPreTrainedModel):
    """Classification or regression of the whole sequence, from the pooler output."""

    def __init__(self, config: BertConfig, **kwargs):
        super().__init__(config, **kwargs)
        self.bert = self._base_model(config)
        self.dropout = _classifier_dropout(config, self)
        self.classifier = _linear(config, config.hidden_size, config.num_labels, self, "classifier")
        self.built = True

    @unpack_inputs
    def call(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None, inputs_embeds=None,
             labels=None, output_attentions=None, output_hidden_states=None, return_dict=None, training=False):
        base = self._encode(input_ids, attention_mask, token_type_ids, position_ids, inputs_embeds,
                            output_attentions, output_hidden_states, training)
        logits = self.classifier(self.dropout(base.pooler_output, training=training))
        loss = sequence_classification_loss(self.config, logits, labels) if labels is not None else None
        output = SequenceClassifierOutput(loss=loss, logits=logits, hidden_states=base.hidden_states,
                                          attentions=base.attentions)
        return self.format_output(output, return_dict)


class TFBertForTokenClassification(TFBertPreTrainedModel):
    """One label per token (e.g. named entities); labels of -100 are ignored by the loss."""

    keys_to_ignore_on_load_unexpected = _NO_POOLER

    def __init__(self, config: BertConfig, **kwargs):
        super().__init__(config, **kwargs)
        self.bert = self._base_model(config, add_pooling_layer=False)
        self.dropout = _classifier_dropout(config, self)
        self.classifier = _linear(config, config.hidden_size, config.num_labels, self, "classifier")
        self.built = True

    @unpack_inputs
    def call(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None, inputs_embeds=None,
             labels=None, output_attentions=None, output_hidden_states=None, return_dict=None, training=False):
        base = self._encode(input_ids, attention_mask, token_type_ids, position_ids, inputs_embeds,
                            output_attentions, output_hidden_states, training)
        logits = self.classifier(self.dropout(base.last_hidden_state, training=training))
        loss = token_classification_loss(logits, labels) if labels is not None else None
        output = TokenClassifierOutput(loss=loss, logits=logits, hidden_states=base.hidden_states,
                                       attentions=base.attentions)
        return self.format_output(output, return_dict)


class TFBertForQuestionAnswering(TFBertPreTrainedModel):
    """Extractive question answering: start and end logits for every token (no dropout, as in BERT)."""

    keys_to_ignore_on_load_unexpected = _NO_POOLER

    def __init__(self, config: BertConfig, **kwargs):
        if config.num_labels != 2:
            raise ValueError(f"config.num_labels should be 2 (start and end), but it is {config.num_labels}")
        super().__init__(config, **kwargs)
        self.bert = self._base_model(config, add_pooling_layer=False)
        self.qa_outputs = _linear(config, config.hidden_size, config.num_labels, self, "qa_outputs")
        self.built = True

    @unpack_inputs
    def call(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None, inputs_embeds=None,
             start_positions=None, end_positions=None, output_attentions=None, output_hidden_states=None,
             return_dict=None, training=False):
        base = self._encode(input_ids, attention_mask, token_type_ids, position_ids, inputs_embeds,
                            output_attentions, output_hidden_states, training)
        logits = self.qa_outputs(base.last_hidden_state)
        start_logits, end_logits = logits[..., 0], logits[..., 1]
        loss = None
        if start_positions is not None and end_positions is not None:
            loss = question_answering_loss(start_logits, end_logits, start_positions, end_positions)
        output = QuestionAnsweringModelOutput(loss=loss, start_logits=start_logits, end_logits=end_logits,
                                              hidden_states=base.hidden_states, attentions=base.attentions)
        return self.format_output(output, return_dict)


class TFBertForMultipleChoice(TFBertPreTrainedModel):
    """Picks one of several choices: inputs are ``(batch, num_choices, seq)``, logits ``(batch, num_choices)``."""

    def __init__(self, config: BertConfig, **kwargs):
        super().__init__(config, **kwargs)
        self.bert = self._base_model(config)
        self.dropout = _classifier_dropout(config, self)
        self.classifier = _linear(config, config.hidden_size, 1, self, "classifier")
        self.built = True

    @unpack_inputs
    def call(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None, inputs_embeds=None,
             labels=None, output_attentions=None, output_hidden_states=None, return_dict=None, training=False):
        check_choice_inputs(input_ids, inputs_embeds, attention_mask, token_type_ids)
        num_choices = tf.shape(input_ids if input_ids is not None else inputs_embeds)[1]
        base = self._encode(flatten_choices(input_ids), flatten_choices(attention_mask),
                            flatten_choices(token_type_ids), flatten_choices(position_ids),
                            flatten_choices(inputs_embeds, 2), output_attentions, output_hidden_states, training)
        logits = self.classifier(self.dropout(base.pooler_output, training=training))
        logits = tf.reshape(logits, (-1, num_choices))
        loss = multiple_choice_loss(logits, labels) if labels is not None else None
        output = MultipleChoiceModelOutput(loss=loss, logits=logits, hidden_states=base.hidden_states,
                                           attentions=base.attentions)
        return self.format_output(output, return_dict)
