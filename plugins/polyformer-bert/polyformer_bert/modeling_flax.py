"""BERT in Flax (``flax.linen``): the base model (with its tanh pooler) and five task heads.

Submodule paths are the ``transformers`` tensor names (``bert.embeddings.word_embeddings``,
``bert.encoder.layer.0.attention.self.query``, ``...attention.output.dense`` /
``LayerNorm``, ``...intermediate.dense``, ``...output.dense`` / ``LayerNorm``,
``bert.pooler.dense``, ``cls.predictions.transform.dense`` / ``LayerNorm``,
``cls.predictions.bias``, ``classifier``, ``qa_outputs``), so checkpoints move between
this model, transformers' PyTorch BERT and polyformer's PyTorch and Keras BERT unchanged.

Everything generic comes from polyformer's public Flax pieces
(:mod:`polyformer.backends.flax.layers`): embeddings, self-attention, the dense +
dropout + residual + LayerNorm output sub-layer, the encoder stack, the output
projection, losses; loading, saving, jit-compiled calls and initialisation come from
:class:`~polyformer.backends.flax.modeling.FlaxPreTrainedModel`. What is written here is
BERT's own: how those pieces nest, the pooler, the masked-LM head and the heads' wiring.

Two layers of classes, as in the Hugging Face Flax API: ``FlaxBert...Module`` are
stateless ``flax.linen`` modules (``module.init`` / ``module.apply`` in your own training
loop, with ``train=True`` and a ``"dropout"`` rng for dropout); ``FlaxBert...`` are the
user-facing models (config + module + params).
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax.numpy as jnp

from polyformer.backends.flax.layers import (
    DenseResidualNorm,
    Embeddings,
    EncoderStack,
    MultiHeadSelfAttention,
    OutputProjection,
    attention_bias,
    check_choice_inputs,
    dense,
    flatten_choices,
    format_output,
    get_activation,
    layer_norm,
    masked_lm_loss,
    multiple_choice_loss,
    output_flags,
    question_answering_loss,
    sequence_classification_loss,
    token_classification_loss,
    zeros_init,
)
from polyformer.backends.flax.modeling import FlaxPreTrainedModel
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
    "FlaxBertPreTrainedModel",
    "FlaxBertModel",
    "FlaxBertForMaskedLM",
    "FlaxBertForSequenceClassification",
    "FlaxBertForTokenClassification",
    "FlaxBertForQuestionAnswering",
    "FlaxBertForMultipleChoice",
    "FlaxBertModule",
    "FlaxBertForMaskedLMModule",
    "FlaxBertForSequenceClassificationModule",
    "FlaxBertForTokenClassificationModule",
    "FlaxBertForQuestionAnsweringModule",
    "FlaxBertForMultipleChoiceModule",
]


def _classifier_dropout(config: BertConfig) -> float:
    """transformers' rule: ``classifier_dropout``, or ``hidden_dropout_prob`` when it is None."""
    return config.classifier_dropout if config.classifier_dropout is not None else config.hidden_dropout_prob


# ---- the encoder ----------------------------------------------------------------------

class FlaxBertAttention(nn.Module):
    """``self`` (query / key / value, no output Linear) then ``output`` (dense, dropout, residual, LayerNorm)."""

    config: BertConfig
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, hidden_states, bias=None, deterministic: bool = True):
        c = self.config
        context, weights = MultiHeadSelfAttention(
            dim=c.hidden_size, n_heads=c.num_attention_heads, dropout_rate=c.attention_probs_dropout_prob,
            initializer_range=c.initializer_range, dtype=self.dtype, names=("query", "key", "value"), name="self",
        )(hidden_states, bias, deterministic=deterministic)
        output = DenseResidualNorm(
            c.hidden_size, c.layer_norm_eps, c.hidden_dropout_prob, c.initializer_range, self.dtype, name="output",
        )(context, hidden_states, deterministic=deterministic)
        return output, weights


class FlaxBertIntermediate(nn.Module):
    """``activation(dense(x))``: the feed-forward's widening half (``intermediate.dense``)."""

    config: BertConfig
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x):
        c = self.config
        return get_activation(c.hidden_act)(dense(c.intermediate_size, c.initializer_range, self.dtype, "dense")(x))


class FlaxBertLayer(nn.Module):
    """One post-norm layer: ``attention``, then ``intermediate.dense`` + activation, then ``output``."""

    config: BertConfig
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, hidden_states, bias=None, deterministic: bool = True):
        c = self.config
        attention_output, weights = FlaxBertAttention(c, self.dtype, name="attention")(
            hidden_states, bias, deterministic=deterministic
        )
        widened = FlaxBertIntermediate(c, self.dtype, name="intermediate")(attention_output)
        output = DenseResidualNorm(
            c.hidden_size, c.layer_norm_eps, c.hidden_dropout_prob, c.initializer_range, self.dtype, name="output",
        )(widened, attention_output, deterministic=deterministic)
        return output, weights


class FlaxBertPooler(nn.Module):
    """``tanh(dense(first token))`` (``pooler.dense``): BERT's sentence representation."""

    config: BertConfig
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, hidden_states):
        c = self.config
        return jnp.tanh(dense(c.hidden_size, c.initializer_range, self.dtype, "dense")(hidden_states[:, 0]))


class FlaxBertModule(nn.Module):
    """The bare encoder: ``last_hidden_state`` and, with ``add_pooling_layer``, the tanh ``pooler_output``."""

    config: BertConfig
    dtype: Any = jnp.float32
    add_pooling_layer: bool = True

    def setup(self):
        c = self.config
        self.embeddings = Embeddings(
            vocab_size=c.vocab_size, dim=c.hidden_size, max_position_embeddings=c.max_position_embeddings,
            type_vocab_size=c.type_vocab_size, pad_token_id=c.pad_token_id, layer_norm_eps=c.layer_norm_eps,
            dropout_rate=c.hidden_dropout_prob, initializer_range=c.initializer_range, dtype=self.dtype,
        )
        self.encoder = EncoderStack(FlaxBertLayer, c, c.num_hidden_layers, dtype=self.dtype)
        if self.add_pooling_layer:
            self.pooler = FlaxBertPooler(c, self.dtype)

    def __call__(
        self,
        input_ids=None,
        attention_mask=None,
        token_type_ids=None,
        position_ids=None,
        inputs_embeds=None,
        train: bool = False,
        output_hidden_states: bool | None = None,
        output_attentions: bool | None = None,
        return_dict: bool = True,
    ):
        output_attentions, output_hidden_states = output_flags(self.config, output_attentions, output_hidden_states)
        embeddings = self.embeddings(input_ids, token_type_ids, position_ids, inputs_embeds, deterministic=not train)
        encoded = self.encoder(
            embeddings,
            attention_bias(attention_mask, embeddings.dtype, embeddings.shape[:2]),
            deterministic=not train,
            output_hidden_states=output_hidden_states,
            output_attentions=output_attentions,
        )
        pooled = self.pooler(encoded.last_hidden_state) if self.add_pooling_layer else None
        output = BaseModelOutputWithPooling(
            last_hidden_state=encoded.last_hidden_state, pooler_output=pooled,
            hidden_states=encoded.hidden_states, attentions=encoded.attentions,
        )
        return format_output(output, return_dict)

    def word_embedding_matrix(self):
        """The (vocab, hidden) word embeddings, which the tied masked-LM decoder reuses."""
        return self.embeddings.word_embedding_matrix()


# ---- heads ----------------------------------------------------------------------------

class FlaxBertPredictionHeadTransform(nn.Module):
    """``LayerNorm(activation(dense(x)))`` (``cls.predictions.transform``)."""

    config: BertConfig
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x):
        c = self.config
        x = get_activation(c.hidden_act)(dense(c.hidden_size, c.initializer_range, self.dtype, "dense")(x))
        return layer_norm(c.layer_norm_eps, self.dtype, "LayerNorm")(x)


class FlaxBertLMPredictionHead(nn.Module):
    """``transform`` (dense, activation, LayerNorm), then ``decoder`` onto the vocabulary, plus ``bias``.

    Tied (the default), the decoder's weight is the word embedding matrix and its bias is
    ``cls.predictions.bias``, so neither is stored twice. Untied, transformers' decoder has
    its own weight and bias, and ``cls.predictions.bias`` is kept (unused) so that the
    checkpoint has the same tensors.
    """

    config: BertConfig
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, hidden_states, embedding=None):
        c = self.config
        x = FlaxBertPredictionHeadTransform(c, self.dtype, name="transform")(hidden_states)
        bias = self.param("bias", zeros_init(), (c.vocab_size,), self.dtype)
        decoder = OutputProjection(c.vocab_size, tied=c.tie_word_embeddings, initializer_range=c.initializer_range,
                                   dtype=self.dtype, name="decoder")
        return decoder(x, embedding, bias) if c.tie_word_embeddings else decoder(x)


class FlaxBertOnlyMLMHead(nn.Module):
    """The ``cls`` namespace of transformers' ``BertOnlyMLMHead``: holds ``predictions``."""

    config: BertConfig
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, hidden_states, embedding=None):
        return FlaxBertLMPredictionHead(self.config, self.dtype, name="predictions")(hidden_states, embedding)


class FlaxBertForMaskedLMModule(nn.Module):
    """Encoder without pooler, then ``cls.predictions``; cross-entropy ignoring label -100."""

    config: BertConfig
    dtype: Any = jnp.float32

    def setup(self):
        self.bert = FlaxBertModule(self.config, dtype=self.dtype, add_pooling_layer=False)
        self.cls = FlaxBertOnlyMLMHead(self.config, dtype=self.dtype)

    def __call__(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None,
                 inputs_embeds=None, labels=None, train=False, output_hidden_states=None, output_attentions=None,
                 return_dict=True):
        out = self.bert(input_ids, attention_mask, token_type_ids, position_ids, inputs_embeds, train,
                        output_hidden_states, output_attentions)
        embedding = self.bert.word_embedding_matrix() if self.config.tie_word_embeddings else None
        logits = self.cls(out.last_hidden_state, embedding)
        loss = masked_lm_loss(logits, labels) if labels is not None else None
        output = MaskedLMOutput(loss=loss, logits=logits, hidden_states=out.hidden_states, attentions=out.attentions)
        return format_output(output, return_dict)


class FlaxBertForSequenceClassificationModule(nn.Module):
    """Pooler output -> dropout -> ``classifier``; loss by problem type (regression / single / multi-label)."""

    config: BertConfig
    dtype: Any = jnp.float32

    def setup(self):
        c = self.config
        self.bert = FlaxBertModule(c, dtype=self.dtype)
        self.dropout = nn.Dropout(rate=_classifier_dropout(c))
        self.classifier = dense(c.num_labels, c.initializer_range, self.dtype)

    def __call__(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None,
                 inputs_embeds=None, labels=None, train=False, output_hidden_states=None, output_attentions=None,
                 return_dict=True):
        out = self.bert(input_ids, attention_mask, token_type_ids, position_ids, inputs_embeds, train,
                        output_hidden_states, output_attentions)
        logits = self.classifier(self.dropout(out.pooler_output, deterministic=not train))
        loss = None
        if labels is not None:
            loss = sequence_classification_loss(logits, labels, self.config.num_labels, self.config.problem_type)
        output = SequenceClassifierOutput(loss=loss, logits=logits, hidden_states=out.hidden_states,
                                          attentions=out.attentions)
        return format_output(output, return_dict)


class FlaxBertForTokenClassificationModule(nn.Module):
    """Encoder without pooler -> dropout -> ``classifier`` on every token; cross-entropy ignoring -100."""

    config: BertConfig
    dtype: Any = jnp.float32

    def setup(self):
        c = self.config
        self.bert = FlaxBertModule(c, dtype=self.dtype, add_pooling_layer=False)
        self.dropout = nn.Dropout(rate=_classifier_dropout(c))
        self.classifier = dense(c.num_labels, c.initializer_range, self.dtype)

    def __call__(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None,
                 inputs_embeds=None, labels=None, train=False, output_hidden_states=None, output_attentions=None,
                 return_dict=True):
        out = self.bert(input_ids, attention_mask, token_type_ids, position_ids, inputs_embeds, train,
                        output_hidden_states, output_attentions)
        logits = self.classifier(self.dropout(out.last_hidden_state, deterministic=not train))
        loss = token_classification_loss(logits, labels) if labels is not None else None
        output = TokenClassifierOutput(loss=loss, logits=logits, hidden_states=out.hidden_states,
                                       attentions=out.attentions)
        return format_output(output, return_dict)


class FlaxBertForQuestionAnsweringModule(nn.Module):
    """Encoder without pooler -> ``qa_outputs`` (no dropout, as in transformers): start and end logits."""

    config: BertConfig
    dtype: Any = jnp.float32

    def setup(self):
        c = self.config
        if c.num_labels != 2:
            raise ValueError(f"config.num_labels should be 2 (start and end), but it is {c.num_labels}")
        self.bert = FlaxBertModule(c, dtype=self.dtype, add_pooling_layer=False)
        self.qa_outputs = dense(c.num_labels, c.initializer_range, self.dtype)

    def __call__(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None,
                 inputs_embeds=None, start_positions=None, end_positions=None, train=False,
                 output_hidden_states=None, output_attentions=None, return_dict=True):
        out = self.bert(input_ids, attention_mask, token_type_ids, position_ids, inputs_embeds, train,
                        output_hidden_states, output_attentions)
        logits = self.qa_outputs(out.last_hidden_state)
        start_logits, end_logits = logits[..., 0], logits[..., 1]
        loss = None
        if start_positions is not None and end_positions is not None:
            loss = question_answering_loss(start_logits, end_logits, start_positions, end_positions)
        output = QuestionAnsweringModelOutput(loss=loss, start_logits=start_logits, end_logits=end_logits,
                                              hidden_states=out.hidden_states, attentions=out.attentions)
        return format_output(output, return_dict)


class FlaxBertForMultipleChoiceModule(nn.Module):
    """Inputs (batch, choices, seq) run as batch*choices sequences; pooler -> dropout -> one score per choice."""

    config: BertConfig
    dtype: Any = jnp.float32

    def setup(self):
        c = self.config
        self.bert = FlaxBertModule(c, dtype=self.dtype)
        self.dropout = nn.Dropout(rate=_classifier_dropout(c))
        self.classifier = dense(1, c.initializer_range, self.dtype)

    def __call__(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None,
                 inputs_embeds=None, labels=None, train=False, output_hidden_states=None, output_attentions=None,
                 return_dict=True):
        check_choice_inputs(input_ids, inputs_embeds, attention_mask, token_type_ids)
        num_choices = input_ids.shape[1] if input_ids is not None else inputs_embeds.shape[1]
        out = self.bert(flatten_choices(input_ids), flatten_choices(attention_mask), flatten_choices(token_type_ids),
                        flatten_choices(position_ids), flatten_choices(inputs_embeds, 2), train,
                        output_hidden_states, output_attentions)
        logits = self.classifier(self.dropout(out.pooler_output, deterministic=not train)).reshape(-1, num_choices)
        loss = multiple_choice_loss(logits, labels) if labels is not None else None
        output = MultipleChoiceModelOutput(loss=loss, logits=logits, hidden_states=out.hidden_states,
                                           attentions=out.attentions)
        return format_output(output, return_dict)


# ---- the user-facing models -----------------------------------------------------------

class FlaxBertPreTrainedModel(FlaxPreTrainedModel):
    """What every Flax BERT model shares: its config class and the ``bert`` prefix."""

    config_class = BertConfig
    base_model_prefix = "bert"
    # Older transformers saved the position_ids buffer (MiniLM's checkpoint has it): not a weight.
    keys_to_ignore_on_load_unexpected = (r"position_ids$",)


# A base (BertModel / pre-training) checkpoint has a pooler the heads without one do not use.
_NO_POOLER = (r"position_ids$", r"pooler\.")


class FlaxBertModel(FlaxBertPreTrainedModel):
    """``FlaxBertModel(config, add_pooling_layer=False)`` (or in ``from_pretrained``) drops the pooler."""

    module_class = FlaxBertModule
    module_options = {"add_pooling_layer": True}


class FlaxBertForMaskedLM(FlaxBertPreTrainedModel):
    module_class = FlaxBertForMaskedLMModule
    keys_to_ignore_on_load_unexpected = _NO_POOLER
    # transformers v5 ties both; a checkpoint holding them (older versions) loads, and saves leave them out.
    tied_weights = {
        "cls.predictions.decoder.weight": "bert.embeddings.word_embeddings.weight",
        "cls.predictions.decoder.bias": "cls.predictions.bias",
    }


class FlaxBertForSequenceClassification(FlaxBertPreTrainedModel):
    module_class = FlaxBertForSequenceClassificationModule


class FlaxBertForTokenClassification(FlaxBertPreTrainedModel):
    module_class = FlaxBertForTokenClassificationModule
    keys_to_ignore_on_load_unexpected = _NO_POOLER


class FlaxBertForQuestionAnswering(FlaxBertPreTrainedModel):
    module_class = FlaxBertForQuestionAnsweringModule
    keys_to_ignore_on_load_unexpected = _NO_POOLER


class FlaxBertForMultipleChoice(FlaxBertPreTrainedModel):
    module_class = FlaxBertForMultipleChoiceModule
    dummy_input_shape = (1, 1, 1)  # (batch, choices, seq)
