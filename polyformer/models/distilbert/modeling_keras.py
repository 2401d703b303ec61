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
    LayerNorm,
    Linear,
    OutputProjection,
    additive_attention_mask,
    attention,
    constant_initializer,
    cross_entropy,
    get_activation,
    keras,
    question_answering_loss,
    sequence_classification_loss,
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


# ---- the encoder ------------------------------------------------------------------------
class DistilBertEmbeddings(keras.layers.Layer):
    """Word + position embeddings, then LayerNorm and dropout (no token types in DistilBERT)."""

    def __init__(self, config: DistilBertConfig, **kwargs):
        super().__init__(**kwargs)
        self.word_embeddings = Embedding(
            config.vocab_size, config.dim, initializer_range=config.initializer_range,
            padding_idx=config.pad_token_id, dtype=self.dtype_policy, name="word_embeddings",
        )
        positions = None
        if config.sinusoidal_pos_embds:
            positions = constant_initializer(sinusoidal_positions(config.max_position_embeddings, config.dim))
        self.position_embeddings = Embedding(
            config.max_position_embeddings, config.dim, initializer_range=config.initializer_range,
            initializer=positions, dtype=self.dtype_policy, name="position_embeddings",
        )
        self.LayerNorm = LayerNorm(config.dim, eps=1e-12, dtype=self.dtype_policy, name="LayerNorm")
        self.dropout = keras.layers.Dropout(config.dropout, dtype=self.dtype_policy)
        self.built = True

    def call(self, input_ids=None, inputs_embeds=None, position_ids=None, training=False):
        if input_ids is not None:
            inputs_embeds = self.word_embeddings(input_ids)
        if position_ids is None:
            position_ids = tf.range(tf.shape(inputs_embeds)[1])[None, :]
        embeddings = inputs_embeds + self.position_embeddings(position_ids)
        return self.dropout(self.LayerNorm(embeddings), training=training)


class DistilBertSelfAttention(keras.layers.Layer):
    """Multi-head self-attention with the projections ``q_lin``, ``k_lin``, ``v_lin``, ``out_lin``."""

    def __init__(self, config: DistilBertConfig, **kwargs):
        super().__init__(**kwargs)
        self.n_heads = config.n_heads
        self.q_lin = _linear(config, config.dim, config.dim, self, "q_lin")
        self.k_lin = _linear(config, config.dim, config.dim, self, "k_lin")
        self.v_lin = _linear(config, config.dim, config.dim, self, "v_lin")
        self.out_lin = _linear(config, config.dim, config.dim, self, "out_lin")
        self.dropout = keras.layers.Dropout(config.attention_dropout, dtype=self.dtype_policy)
        self.built = True

    def call(self, hidden_states, attention_mask=None, training=False):
        context, weights = attention(
            self.q_lin(hidden_states), self.k_lin(hidden_states), self.v_lin(hidden_states),
            n_heads=self.n_heads, mask=attention_mask, dropout=self.dropout, training=training,
        )
        return self.out_lin(context), weights


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
        self.attention = DistilBertSelfAttention(config, dtype=self.dtype_policy, name="attention")
        self.sa_layer_norm = LayerNorm(config.dim, eps=1e-12, dtype=self.dtype_policy, name="sa_layer_norm")
        self.ffn = DistilBertFFN(config, dtype=self.dtype_policy, name="ffn")
        self.output_layer_norm = LayerNorm(config.dim, eps=1e-12, dtype=self.dtype_policy, name="output_layer_norm")
        self.built = True

    def call(self, hidden_states, attention_mask=None, training=False):
        attended, weights = self.attention(hidden_states, attention_mask=attention_mask, training=training)
        attended = self.sa_layer_norm(attended + hidden_states)
        output = self.output_layer_norm(self.ffn(attended, training=training) + attended)
        return output, weights


class DistilBertTransformer(keras.layers.Layer):
    """The stack of ``n_layers`` blocks, collecting hidden states and attentions when asked."""

    def __init__(self, config: DistilBertConfig, **kwargs):
        super().__init__(**kwargs)
        self.layer = [DistilBertBlock(config, dtype=self.dtype_policy, name=f"layer_{i}") for i in range(config.n_layers)]
        self.built = True

    def call(self, hidden_states, attention_mask=None, output_attentions=False, output_hidden_states=False, training=False):
        all_hidden_states = (hidden_states,) if output_hidden_states else None
        all_attentions = () if output_attentions else None
        for block in self.layer:
            hidden_states, weights = block(hidden_states, attention_mask=attention_mask, training=training)
            if output_hidden_states:
                all_hidden_states += (hidden_states,)
            if output_attentions:
                all_attentions += (weights,)
        return hidden_states, all_hidden_states, all_attentions


# ---- models -----------------------------------------------------------------------------
class TFDistilBertPreTrainedModel(TFPreTrainedModel):
    """What every DistilBERT model shares: its config class and the base model's attribute name."""

    config_class = DistilBertConfig
    base_model_prefix = "distilbert"

    def _base_model(self, config: DistilBertConfig) -> "TFDistilBertModel":
        return TFDistilBertModel(config, dtype=self.dtype_policy, name="distilbert")

    def _output(self, output, return_dict):
        """The output object, or its tuple when ``return_dict`` (default: the config's) is False."""
        return_dict = self.config.use_return_dict if return_dict is None else return_dict
        return output if return_dict else output.to_tuple()


class TFDistilBertModel(TFDistilBertPreTrainedModel):
    """The bare encoder: ``last_hidden_state`` (and optionally every layer's hidden states and attentions)."""

    def __init__(self, config: DistilBertConfig, **kwargs):
        super().__init__(config, **kwargs)
        self.embeddings = DistilBertEmbeddings(config, dtype=self.dtype_policy, name="embeddings")
        self.transformer = DistilBertTransformer(config, dtype=self.dtype_policy, name="transformer")
        self.built = True

    def get_input_embeddings(self) -> Embedding:
        return self.embeddings.word_embeddings

    @unpack_inputs
    def call(self, input_ids=None, attention_mask=None, inputs_embeds=None, position_ids=None,
             output_attentions=None, output_hidden_states=None, return_dict=None, training=False):
        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError("You must specify exactly one of input_ids or inputs_embeds")
        if output_attentions is None:
            output_attentions = self.config.output_attentions
        if output_hidden_states is None:
            output_hidden_states = self.config.output_hidden_states
        embeddings = self.embeddings(input_ids=input_ids, inputs_embeds=inputs_embeds, position_ids=position_ids,
                                     training=training)
        hidden_states, all_hidden_states, all_attentions = self.transformer(
            embeddings,
            attention_mask=additive_attention_mask(attention_mask, embeddings.dtype),
            output_attentions=output_attentions,
            output_hidden_states=output_hidden_states,
            training=training,
        )
        output = BaseModelOutput(last_hidden_state=hidden_states, hidden_states=all_hidden_states,
                                 attentions=all_attentions)
        return self._output(output, return_dict)


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
        loss = cross_entropy(logits, labels) if labels is not None else None
        output = MaskedLMOutput(loss=loss, logits=logits, hidden_states=base.hidden_states, attentions=base.attentions)
        return self._output(output, return_dict)


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
        return self._output(output, return_dict)


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
        loss = cross_entropy(logits, labels) if labels is not None else None
        output = TokenClassifierOutput(loss=loss, logits=logits, hidden_states=base.hidden_states,
                                       attentions=base.attentions)
        return self._output(output, return_dict)


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
        return self._output(output, return_dict)


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
        reference = input_ids if input_ids is not None else inputs_embeds
        num_choices = tf.shape(reference)[1]
        if input_ids is not None:
            input_ids = tf.reshape(input_ids, (-1, tf.shape(input_ids)[-1]))
        if attention_mask is not None:
            attention_mask = tf.reshape(attention_mask, (-1, tf.shape(attention_mask)[-1]))
        if inputs_embeds is not None:
            inputs_embeds = tf.reshape(inputs_embeds, (-1, tf.shape(inputs_embeds)[-2], inputs_embeds.shape[-1]))
        base = self.distilbert(input_ids=input_ids, attention_mask=attention_mask, inputs_embeds=inputs_embeds,
                               position_ids=position_ids, output_attentions=output_attentions,
                               output_hidden_states=output_hidden_states, return_dict=True, training=training)
        pooled = tf.nn.relu(self.pre_classifier(base.last_hidden_state[:, 0]))
        logits = tf.reshape(self.classifier(self.dropout(pooled, training=training)), (-1, num_choices))
        loss = cross_entropy(logits, labels) if labels is not None else None
        output = MultipleChoiceModelOutput(loss=loss, logits=logits, hidden_states=base.hidden_states,
                                           attentions=base.attentions)
        return self._output(output, return_dict)
