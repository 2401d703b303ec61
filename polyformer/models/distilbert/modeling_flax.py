"""DistilBERT in Flax (``flax.linen``), computing what transformers' PyTorch DistilBERT computes.

Two layers of classes:

* ``FlaxDistilBert...Module``: stateless ``flax.linen`` modules, for ``module.init`` /
  ``module.apply`` in your own training loop. Submodules are named after the canonical
  PyTorch names (``transformer`` / ``layer.0`` / ``attention`` / ``q_lin`` ...), so a
  parameter's path joined with dots is its checkpoint name.
* ``FlaxDistilBert...``: the user-facing models (config + module + params), loaded and
  saved in the Hugging Face layout by the Flax backend's base class.

Every module's ``__call__`` takes ``train`` (dropout on), ``output_hidden_states``,
``output_attentions`` and ``return_dict``, and returns the classes of
:mod:`polyformer.core.outputs` (which are JAX pytrees, so they pass through ``jit`` and
``jax.grad(..., has_aux=True)``).
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from ...backends.flax.layers import (
    Embeddings,
    EncoderStack,
    FeedForward,
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
    sinusoidal_init,
    token_classification_loss,
)
from ...backends.flax.modeling import FlaxPreTrainedModel
from ...core.outputs import (
    MaskedLMOutput,
    MultipleChoiceModelOutput,
    QuestionAnsweringModelOutput,
    SequenceClassifierOutput,
    TokenClassifierOutput,
)
from .configuration import DistilBertConfig

__all__ = [
    "FlaxDistilBertPreTrainedModel",
    "FlaxDistilBertModel",
    "FlaxDistilBertForMaskedLM",
    "FlaxDistilBertForSequenceClassification",
    "FlaxDistilBertForQuestionAnswering",
    "FlaxDistilBertForTokenClassification",
    "FlaxDistilBertForMultipleChoice",
    "FlaxDistilBertModule",
    "FlaxDistilBertForMaskedLMModule",
    "FlaxDistilBertForSequenceClassificationModule",
    "FlaxDistilBertForQuestionAnsweringModule",
    "FlaxDistilBertForTokenClassificationModule",
    "FlaxDistilBertForMultipleChoiceModule",
]


# ---- the encoder ----------------------------------------------------------------------

class FlaxDistilBertBlock(nn.Module):
    """One transformer layer: attention, add & norm, feed-forward, add & norm (post-norm)."""

    config: DistilBertConfig
    dtype: Any = jnp.float32

    def setup(self):
        c = self.config
        self.attention = MultiHeadSelfAttention(
            dim=c.dim, n_heads=c.n_heads, dropout_rate=c.attention_dropout,
            initializer_range=c.initializer_range, dtype=self.dtype,
            names=("q_lin", "k_lin", "v_lin"), out_name="out_lin",
        )
        self.sa_layer_norm = layer_norm(dtype=self.dtype)
        self.ffn = FeedForward(
            dim=c.dim, hidden_dim=c.hidden_dim, activation=c.activation, dropout_rate=c.dropout,
            initializer_range=c.initializer_range, dtype=self.dtype,
        )
        self.output_layer_norm = layer_norm(dtype=self.dtype)

    def __call__(self, hidden_states, bias=None, deterministic: bool = True):
        attention_output, weights = self.attention(hidden_states, bias, deterministic=deterministic)
        attention_output = self.sa_layer_norm(attention_output + hidden_states)
        ffn_output = self.ffn(attention_output, deterministic=deterministic)
        return self.output_layer_norm(ffn_output + attention_output), weights


class FlaxDistilBertModule(nn.Module):
    """The bare encoder: ``last_hidden_state`` of shape (batch, seq, dim)."""

    config: DistilBertConfig
    dtype: Any = jnp.float32

    def setup(self):
        c = self.config
        self.embeddings = Embeddings(
            vocab_size=c.vocab_size, dim=c.dim, max_position_embeddings=c.max_position_embeddings,
            pad_token_id=c.pad_token_id, dropout_rate=c.dropout, initializer_range=c.initializer_range,
            position_init=sinusoidal_init() if c.sinusoidal_pos_embds else None, dtype=self.dtype,
        )
        self.transformer = EncoderStack(FlaxDistilBertBlock, c, c.n_layers, dtype=self.dtype)

    def __call__(
        self,
        input_ids=None,
        attention_mask=None,
        position_ids=None,
        inputs_embeds=None,
        train: bool = False,
        output_hidden_states: bool | None = None,
        output_attentions: bool | None = None,
        return_dict: bool = True,
    ):
        output_attentions, output_hidden_states = output_flags(self.config, output_attentions, output_hidden_states)
        embeddings = self.embeddings(input_ids, None, position_ids, inputs_embeds, deterministic=not train)
        output = self.transformer(
            embeddings,
            attention_bias(attention_mask, embeddings.dtype, embeddings.shape[:2]),
            deterministic=not train,
            output_hidden_states=output_hidden_states,
            output_attentions=output_attentions,
        )
        return format_output(output, return_dict)

    def word_embedding_matrix(self):
        """The (vocab, dim) word embeddings, which a tied output projection reuses."""
        return self.embeddings.word_embedding_matrix()


# ---- heads ----------------------------------------------------------------------------

class FlaxDistilBertForMaskedLMModule(nn.Module):
    """Transform + activation + LayerNorm, then a projection onto the vocabulary tied to the word embeddings."""

    config: DistilBertConfig
    dtype: Any = jnp.float32

    def setup(self):
        c = self.config
        self.distilbert = FlaxDistilBertModule(c, dtype=self.dtype)
        self.vocab_transform = dense(c.dim, c.initializer_range, self.dtype)
        self.vocab_layer_norm = layer_norm(dtype=self.dtype)
        self.vocab_projector = OutputProjection(
            c.vocab_size, tied=c.tie_word_embeddings, initializer_range=c.initializer_range, dtype=self.dtype
        )

    def __call__(self, input_ids=None, attention_mask=None, position_ids=None, inputs_embeds=None, labels=None,
                 train=False, output_hidden_states=None, output_attentions=None, return_dict=True):
        out = self.distilbert(input_ids, attention_mask, position_ids, inputs_embeds, train,
                              output_hidden_states, output_attentions)
        x = self.vocab_transform(out.last_hidden_state)
        x = get_activation(self.config.activation)(x)
        x = self.vocab_layer_norm(x)
        embedding = self.distilbert.word_embedding_matrix() if self.config.tie_word_embeddings else None
        logits = self.vocab_projector(x, embedding)
        loss = masked_lm_loss(logits, labels) if labels is not None else None
        output = MaskedLMOutput(loss=loss, logits=logits, hidden_states=out.hidden_states, attentions=out.attentions)
        return format_output(output, return_dict)


class FlaxDistilBertForSequenceClassificationModule(nn.Module):
    """First token -> Linear -> ReLU -> dropout -> Linear(num_labels); loss by problem type."""

    config: DistilBertConfig
    dtype: Any = jnp.float32

    def setup(self):
        c = self.config
        self.distilbert = FlaxDistilBertModule(c, dtype=self.dtype)
        self.pre_classifier = dense(c.dim, c.initializer_range, self.dtype)
        self.dropout = nn.Dropout(rate=c.seq_classif_dropout)
        self.classifier = dense(c.num_labels, c.initializer_range, self.dtype)

    def __call__(self, input_ids=None, attention_mask=None, position_ids=None, inputs_embeds=None, labels=None,
                 train=False, output_hidden_states=None, output_attentions=None, return_dict=True):
        out = self.distilbert(input_ids, attention_mask, position_ids, inputs_embeds, train,
                              output_hidden_states, output_attentions)
        pooled = jax.nn.relu(self.pre_classifier(out.last_hidden_state[:, 0]))
        logits = self.classifier(self.dropout(pooled, deterministic=not train))
        loss = None
        if labels is not None:
            loss = sequence_classification_loss(logits, labels, self.config.num_labels, self.config.problem_type)
        output = SequenceClassifierOutput(loss=loss, logits=logits, hidden_states=out.hidden_states,
                                          attentions=out.attentions)
        return format_output(output, return_dict)


class FlaxDistilBertForQuestionAnsweringModule(nn.Module):
    """Dropout -> Linear(2) on every token: start and end logits; loss ignores out-of-range positions."""

    config: DistilBertConfig
    dtype: Any = jnp.float32

    def setup(self):
        c = self.config
        if c.num_labels != 2:
            raise ValueError(f"config.num_labels should be 2, but it is {c.num_labels}")
        self.distilbert = FlaxDistilBertModule(c, dtype=self.dtype)
        self.dropout = nn.Dropout(rate=c.qa_dropout)
        self.qa_outputs = dense(c.num_labels, c.initializer_range, self.dtype)

    def __call__(self, input_ids=None, attention_mask=None, position_ids=None, inputs_embeds=None,
                 start_positions=None, end_positions=None, train=False, output_hidden_states=None,
                 output_attentions=None, return_dict=True):
        out = self.distilbert(input_ids, attention_mask, position_ids, inputs_embeds, train,
                              output_hidden_states, output_attentions)
        logits = self.qa_outputs(self.dropout(out.last_hidden_state, deterministic=not train))
        start_logits, end_logits = logits[..., 0], logits[..., 1]
        loss = None
        if start_positions is not None and end_positions is not None:
            loss = question_answering_loss(start_logits, end_logits, start_positions, end_positions)
        output = QuestionAnsweringModelOutput(loss=loss, start_logits=start_logits, end_logits=end_logits,
                                              hidden_states=out.hidden_states, attentions=out.attentions)
        return format_output(output, return_dict)


class FlaxDistilBertForTokenClassificationModule(nn.Module):
    """Dropout -> Linear(num_labels) on every token; cross-entropy ignoring label -100."""

    config: DistilBertConfig
    dtype: Any = jnp.float32

    def setup(self):
        c = self.config
        self.distilbert = FlaxDistilBertModule(c, dtype=self.dtype)
        self.dropout = nn.Dropout(rate=c.dropout)
        self.classifier = dense(c.num_labels, c.initializer_range, self.dtype)

    def __call__(self, input_ids=None, attention_mask=None, position_ids=None, inputs_embeds=None, labels=None,
                 train=False, output_hidden_states=None, output_attentions=None, return_dict=True):
        out = self.distilbert(input_ids, attention_mask, position_ids, inputs_embeds, train,
                              output_hidden_states, output_attentions)
        logits = self.classifier(self.dropout(out.last_hidden_state, deterministic=not train))
        loss = token_classification_loss(logits, labels) if labels is not None else None
        output = TokenClassifierOutput(loss=loss, logits=logits, hidden_states=out.hidden_states,
                                       attentions=out.attentions)
        return format_output(output, return_dict)


class FlaxDistilBertForMultipleChoiceModule(nn.Module):
    """Inputs (batch, choices, seq) are run as batch*choices sequences; one score per choice."""

    config: DistilBertConfig
    dtype: Any = jnp.float32

    def setup(self):
        c = self.config
        self.distilbert = FlaxDistilBertModule(c, dtype=self.dtype)
        self.pre_classifier = dense(c.dim, c.initializer_range, self.dtype)
        self.dropout = nn.Dropout(rate=c.seq_classif_dropout)
        self.classifier = dense(1, c.initializer_range, self.dtype)

    def __call__(self, input_ids=None, attention_mask=None, position_ids=None, inputs_embeds=None, labels=None,
                 train=False, output_hidden_states=None, output_attentions=None, return_dict=True):
        check_choice_inputs(input_ids, inputs_embeds, attention_mask)
        num_choices = input_ids.shape[1] if input_ids is not None else inputs_embeds.shape[1]
        out = self.distilbert(flatten_choices(input_ids), flatten_choices(attention_mask),
                              flatten_choices(position_ids), flatten_choices(inputs_embeds, 2),
                              train, output_hidden_states, output_attentions)
        pooled = jax.nn.relu(self.pre_classifier(out.last_hidden_state[:, 0]))
        logits = self.classifier(self.dropout(pooled, deterministic=not train)).reshape(-1, num_choices)
        loss = multiple_choice_loss(logits, labels) if labels is not None else None
        output = MultipleChoiceModelOutput(loss=loss, logits=logits, hidden_states=out.hidden_states,
                                           attentions=out.attentions)
        return format_output(output, return_dict)


# ---- the user-facing models -----------------------------------------------------------

class FlaxDistilBertPreTrainedModel(FlaxPreTrainedModel):
    """What every Flax DistilBERT model shares: its config class and the ``distilbert`` prefix."""

    config_class = DistilBertConfig
    base_model_prefix = "distilbert"


class FlaxDistilBertModel(FlaxDistilBertPreTrainedModel):
    module_class = FlaxDistilBertModule


class FlaxDistilBertForMaskedLM(FlaxDistilBertPreTrainedModel):
    module_class = FlaxDistilBertForMaskedLMModule
    tied_weights = {"vocab_projector.weight": "distilbert.embeddings.word_embeddings.weight"}


class FlaxDistilBertForSequenceClassification(FlaxDistilBertPreTrainedModel):
    module_class = FlaxDistilBertForSequenceClassificationModule


class FlaxDistilBertForQuestionAnswering(FlaxDistilBertPreTrainedModel):
    module_class = FlaxDistilBertForQuestionAnsweringModule


class FlaxDistilBertForTokenClassification(FlaxDistilBertPreTrainedModel):
    module_class = FlaxDistilBertForTokenClassificationModule


class FlaxDistilBertForMultipleChoice(FlaxDistilBertPreTrainedModel):
    module_class = FlaxDistilBertForMultipleChoiceModule
    dummy_input_shape = (1, 1, 1)  # (batch, choices, seq)
