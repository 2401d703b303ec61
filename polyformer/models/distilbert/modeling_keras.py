"""DistilBERT in Keras 3 (on TensorFlow).

The same computation as ``transformers``' PyTorch DistilBERT, and the same weight
names: each layer's attributes are named as the PyTorch modules are (``embeddings``,
``transformer.layer.N.attention.q_lin``, ``sa_layer_norm``, ``ffn.lin1``...), which is
all it takes for checkpoints to load and save in the Hugging Face layout (see
``polyformer.backends.keras.layers.named_canonical_weights``). As in PyTorch, every
head holds the base model as ``distilbert``.
"""

from __future__ import annotations

from ...backends.keras.layers import (
    Embedding,
    Embeddings,
    EncoderStack,
    LayerNorm,
    Linear,
    OutputProjection,
    SelfAttention,
    additive_attention_mask,
    constant_initializer,
    check_choice_inputs,
    flatten_choices,
    get_activation,
    keras,
    masked_lm_loss,
    multiple_choice_loss,
    question_answering_loss,
    sequence_classification_loss,
    token_classification_loss,
    sinusoidal_positions,
    tf,
)
from ...backends.keras.modeling import TFPreTrainedModel, unpack_inputs
from ...core.outputs import (
    BaseModelOutput,
    MaskedLMOutput,
    MultipleChoiceModelOutput,
    QuestionAnsweringModelOutput,
    SequenceClassifierOutput,
    TokenClassifierOutput,
)
from .configuration import DistilBertConfig

__all__ = [
    "TFDistilBertPreTrainedModel",
    "TFDistilBertModel",
    "TFDistilBertForMaskedLM",
    "TFDistilBertForSequenceClassification",
    "TFDistilBertForTokenClassification",
    "TFDistilBertForQuestionAnswering",
    "TFDistilBertForMultipleChoice",
]


def _linear(config: DistilBertConfig, in_features: int, out_features: int, layer: keras.layers.Layer, name: str) -> Linear:
    return Linear(in_features, out_features, initializer_range=config.initializer_range, dtype=layer.dtype_policy, name=name)


# ---- the encoder: the backend's shared blocks, with DistilBERT's names --------------------
def _embeddings(config: DistilBertConfig, layer: keras.layers.Layer) -> Embeddings:
    """Word + position embeddings (learned or fixed sinusoidal), LayerNorm, dropout; no token types."""
    positions = None
    if config.sinusoidal_pos_embds:
        positions = constant_initializer(sinusoidal_positions(config.max_position_embeddings, config.dim))
    return Embeddings(
        config.vocab_size, config.dim, config.max_position_embeddings, type_vocab_size=0,
        pad_token_id=config.pad_token_id, layer_norm_eps=1e-12, dropout=config.dropout,
        initializer_range=config.initializer_range, position_initializer=positions,
        dtype=layer.dtype_policy, name="embeddings",
    )


class DistilBertFFN(keras.layers.Layer):
    """``lin2(activation(lin1(x)))`` then dropout."""

    def __init__(self, config: DistilBertConfig, **kwargs):
        super().__init__(**kwargs)
        self.lin1 = _linear(config, config.dim, config.hidden_dim, self, "lin1")
        self.lin2 = _linear(config, config.hidden_dim, config.dim, self, "lin2")
        self.activation = get_activation(config.activation)
        self.dropout = keras.layers.Dropout(config.dropout, dtype=self.dtype_policy)
        self.built = True

    def call(self, x, training=False):
        return self.dropout(self.lin2(self.activation(self.lin1(x))), training=training)


class DistilBertBlock(keras.layers.Layer):
    """One post-norm transformer layer: attention + residual + LayerNorm, FFN + residual + LayerNorm."""

    def __init__(self, config: DistilBertConfig, **kwargs):
        super().__init__(**kwargs)
        self.attention = SelfAttention(
            config.dim, config.n_heads, projections=("q_lin", "k_lin", "v_lin"), output_projection="out_lin",
            dropout=config.attention_dropout, initializer_range=config.initializer_range,
            dtype=self.dtype_policy, name="attention",
        )
        self.sa_layer_norm = LayerNorm(config.dim, eps=1e-12, dtype=self.dtype_policy, name="sa_layer_norm")
        self.ffn = DistilBertFFN(config, dtype=self.dtype_policy, name="ffn")
        self.output_layer_norm = LayerNorm(config.dim, eps=1e-12, dtype=self.dtype_policy, name="output_layer_norm")
        self.built = True

    def call(self, hidden_states, attention_mask=None, training=False):
        attended, weights = self.attention(hidden_states, attention_mask=attention_mask, training=training)
        attended = self.sa_layer_norm(attended + hidden_states)
        output = self.output_layer_norm(self.ffn(attended, training=training) + attended)
        return output, weights


# ---- models -----------------------------------------------------------------------------
class TFDistilBertPreTrainedModel(TFPreTrainedModel):
    """What every DistilBERT model shares: its config class and the base model's attribute name."""

    config_class = DistilBertConfig
    base_model_prefix = "distilbert"

    def _base_model(self, config: DistilBertConfig) -> "TFDistilBertModel":
        return TFDistilBertModel(config, dtype=self.dtype_policy, name="distilbert")


class TFDistilBertModel(TFDistilBertPreTrainedModel):
    """The bare encoder: ``last_hidden_state`` (and optionally every layer's hidden states and attentions)."""

    def __init__(self, config: DistilBertConfig, **kwargs):
        super().__init__(config, **kwargs)
        self.embeddings = _embeddings(config, self)
        blocks = [DistilBertBlock(config, dtype=self.dtype_policy, name=f"layer_{i}") for i in range(config.n_layers)]
        self.transformer = EncoderStack(blocks, dtype=self.dtype_policy, name="transformer")
        self.built = True

    def get_input_embeddings(self) -> Embedding:
        return self.embeddings.word_embeddings

    @unpack_inputs
    def call(self, input_ids=None, attention_mask=None, inputs_embeds=None, position_ids=None,
             output_attentions=None, output_hidden_states=None, return_dict=None, training=False):
        output_attentions, output_hidden_states = self.output_flags(output_attentions, output_hidden_states)
        embeddings = self.embeddings(input_ids=input_ids, inputs_embeds=inputs_embeds, position_ids=position_ids,
                                     training=training)
        hidden_states, all_hidden_states, all_attentions = self.transformer(
            embeddings,
            attention_mask=additive_attention_mask(attention_mask, embeddings.dtype, embeddings.shape[:2]),
            output_attentions=output_attentions,
            output_hidden_states=output_hidden_states,
            training=training,
        )
        output = BaseModelOutput(last_hidden_state=hidden_states, hidden_states=all_hidden_states,
                                 attentions=all_attentions)
        return self.format_output(output, return_dict)


class TFDistilBertForMaskedLM(TFDistilBertPreTrainedModel):
    """Masked language modelling: vocabulary logits per token, the projection tied to the word embeddings."""

    tied_weights = {"vocab_projector.weight": "distilbert.embeddings.word_embeddings.weight"}

    def __init__(self, config: DistilBertConfig, **kwargs):
        super().__init__(config, **kwargs)
        self.activation = get_activation(config.activation)
        self.distilbert = self._base_model(config)
        self.vocab_transform = _linear(config, config.dim, config.dim, self, "vocab_transform")
        self.vocab_layer_norm = LayerNorm(config.dim, eps=1e-12, dtype=self.dtype_policy, name="vocab_layer_norm")
        tied = self.distilbert.get_input_embeddings() if config.tie_word_embeddings else None
        self.vocab_projector = OutputProjection(
            config.vocab_size, config.dim, embedding=tied, initializer_range=config.initializer_range,
            dtype=self.dtype_policy, name="vocab_projector",
        )
        self.built = True

    def get_output_embeddings(self) -> OutputProjection:
        return self.vocab_projector

    @unpack_inputs
    def call(self, input_ids=None, attention_mask=None, inputs_embeds=None, position_ids=None, labels=None,
             output_attentions=None, output_hidden_states=None, return_dict=None, training=False):
        base = self.distilbert(input_ids=input_ids, attention_mask=attention_mask, inputs_embeds=inputs_embeds,
                               position_ids=position_ids, output_attentions=output_attentions,
                               output_hidden_states=output_hidden_states, return_dict=True, training=training)
        hidden = self.vocab_layer_norm(self.activation(self.vocab_transform(base.last_hidden_state)))
        logits = self.vocab_projector(hidden)
        loss = masked_lm_loss(logits, labels) if labels is not None else None
        output = MaskedLMOutput(loss=loss, logits=logits, hidden_states=base.hidden_states, attentions=base.attentions)
        return self.format_output(output, return_dict)


class TFDistilBertForSequenceClassification(TFDistilBertPreTrainedModel):
    """Classification or regression of the whole sequence, from the first token's hidden state."""

    def __init__(self, config: DistilBertConfig, **kwargs):
        super().__init__(config, **kwargs)
        self.distilbert = self._base_model(config)
        self.pre_classifier = _linear(config, config.dim, config.dim, self, "pre_classifier")
        self.classifier = _linear(config, config.dim, config.num_labels, self, "classifier")
        self.dropout = keras.layers.Dropout(config.seq_classif_dropout, dtype=self.dtype_policy)
        self.built = True

    @unpack_inputs
    def call(self, input_ids=None, attention_mask=None, inputs_embeds=None, position_ids=None, labels=None,
             output_attentions=None, output_hidden_states=None, return_dict=None, training=False):
        base = self.distilbert(input_ids=input_ids, attention_mask=attention_mask, inputs_embeds=inputs_embeds,
                               position_ids=position_ids, output_attentions=output_attentions,
                               output_hidden_states=output_hidden_states, return_dict=True, training=training)
        pooled = tf.nn.relu(self.pre_classifier(base.last_hidden_state[:, 0]))
        logits = self.classifier(self.dropout(pooled, training=training))
        loss = sequence_classification_loss(self.config, logits, labels) if labels is not None else None
        output = SequenceClassifierOutput(loss=loss, logits=logits, hidden_states=base.hidden_states,
                                          attentions=base.attentions)
        return self.format_output(output, return_dict)


class TFDistilBertForTokenClassification(TFDistilBertPreTrainedModel):
    """One label per token (e.g. named entities); labels of -100 are ignored by the loss."""

    def __init__(self, config: DistilBertConfig, **kwargs):
        super().__init__(config, **kwargs)
        self.distilbert = self._base_model(config)
        self.dropout = keras.layers.Dropout(config.dropout, dtype=self.dtype_policy)
        self.classifier = _linear(config, config.dim, config.num_labels, self, "classifier")
        self.built = True

    @unpack_inputs
    def call(self, input_ids=None, attention_mask=None, inputs_embeds=None, position_ids=None, labels=None,
             output_attentions=None, output_hidden_states=None, return_dict=None, training=False):
        base = self.distilbert(input_ids=input_ids, attention_mask=attention_mask, inputs_embeds=inputs_embeds,
                               position_ids=position_ids, output_attentions=output_attentions,
                               output_hidden_states=output_hidden_states, return_dict=True, training=training)
        logits = self.classifier(self.dropout(base.last_hidden_state, training=training))
        loss = token_classification_loss(logits, labels) if labels is not None else None
        output = TokenClassifierOutput(loss=loss, logits=logits, hidden_states=base.hidden_states,
                                       attentions=base.attentions)
        return self.format_output(output, return_dict)


class TFDistilBertForQuestionAnswering(TFDistilBertPreTrainedModel):
    """Extractive question answering: start and end logits for every token."""

    def __init__(self, config: DistilBertConfig, **kwargs):
        if config.num_labels != 2:
            raise ValueError(f"config.num_labels should be 2, but it is {config.num_labels}")
        super().__init__(config, **kwargs)
        self.distilbert = self._base_model(config)
        self.qa_outputs = _linear(config, config.dim, config.num_labels, self, "qa_outputs")
        self.dropout = keras.layers.Dropout(config.qa_dropout, dtype=self.dtype_policy)
        self.built = True

    @unpack_inputs
    def call(self, input_ids=None, attention_mask=None, inputs_embeds=None, position_ids=None,
             start_positions=None, end_positions=None,
             output_attentions=None, output_hidden_states=None, return_dict=None, training=False):
        base = self.distilbert(input_ids=input_ids, attention_mask=attention_mask, inputs_embeds=inputs_embeds,
                               position_ids=position_ids, output_attentions=output_attentions,
                               output_hidden_states=output_hidden_states, return_dict=True, training=training)
        logits = self.qa_outputs(self.dropout(base.last_hidden_state, training=training))
        start_logits, end_logits = logits[..., 0], logits[..., 1]
        loss = None
        if start_positions is not None and end_positions is not None:
            loss = question_answering_loss(start_logits, end_logits, start_positions, end_positions)
        output = QuestionAnsweringModelOutput(loss=loss, start_logits=start_logits, end_logits=end_logits,
                                              hidden_states=base.hidden_states, attentions=base.attentions)
        return self.format_output(output, return_dict)


class TFDistilBertForMultipleChoice(TFDistilBertPreTrainedModel):
    """Picks one of several choices: inputs are ``(batch, num_choices, seq)``, logits ``(batch, num_choices)``."""

    def __init__(self, config: DistilBertConfig, **kwargs):
        super().__init__(config, **kwargs)
        self.distilbert = self._base_model(config)
        self.pre_classifier = _linear(config, config.dim, config.dim, self, "pre_classifier")
        self.classifier = _linear(config, config.dim, 1, self, "classifier")
        self.dropout = keras.layers.Dropout(config.seq_classif_dropout, dtype=self.dtype_policy)
        self.built = True

    @unpack_inputs
    def call(self, input_ids=None, attention_mask=None, inputs_embeds=None, position_ids=None, labels=None,
             output_attentions=None, output_hidden_states=None, return_dict=None, training=False):
        # Every choice is encoded as its own sequence: (batch, choices, ...) -> (batch * choices, ...).
        check_choice_inputs(input_ids, inputs_embeds, attention_mask)
        reference = input_ids if input_ids is not None else inputs_embeds
        num_choices = tf.shape(reference)[1]
        input_ids, attention_mask = flatten_choices(input_ids), flatten_choices(attention_mask)
        inputs_embeds, position_ids = flatten_choices(inputs_embeds, 2), flatten_choices(position_ids)
        base = self.distilbert(input_ids=input_ids, attention_mask=attention_mask, inputs_embeds=inputs_embeds,
                               position_ids=position_ids, output_attentions=output_attentions,
                               output_hidden_states=output_hidden_states, return_dict=True, training=training)
        pooled = tf.nn.relu(self.pre_classifier(base.last_hidden_state[:, 0]))
        logits = tf.reshape(self.classifier(self.dropout(pooled, training=training)), (-1, num_choices))
        loss = multiple_choice_loss(logits, labels) if labels is not None else None
        output = MultipleChoiceModelOutput(loss=loss, logits=logits, hidden_states=base.hidden_states,
                                           attentions=base.attentions)
        return self.format_output(output, return_dict)
