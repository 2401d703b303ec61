"""DistilBERT in Flax (``flax.linen``): the base model and its five task heads.

Submodule paths are the ``transformers`` tensor names (``distilbert.embeddings.word_embeddings``,
``distilbert.transformer.layer.0.attention.q_lin``, ``...sa_layer_norm``, ``...ffn.lin1``,
``...output_layer_norm``, ``pre_classifier``, ``classifier``, ``qa_outputs``, ``vocab_projector``...),
so checkpoints move between this model, transformers' PyTorch DistilBERT and polyformer's
PyTorch and Keras DistilBERT unchanged. Everything generic comes from the backend: the
embeddings, the post-norm layer and the encoder stack (:mod:`polyformer.backends.flax.layers`)
and the task heads (:mod:`polyformer.backends.flax.heads`). What is written here is
DistilBERT's own: how its layers are named, its classifier pooling and its masked-LM head.

``FlaxDistilBert...`` are the user-facing models (config + module + params);
``model.module`` is the stateless ``flax.linen`` module (``FlaxDistilBertModule``,
``FlaxDistilBertForMaskedLMModule``...) for ``module.apply`` in your own training loop.
"""

from __future__ import annotations

import jax

from ...backends.flax import heads, layers
from ...backends.flax.modeling import BaseModule, FlaxPreTrainedModel
from ...core.numerics import pruned_heads_of_layer
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

#: What DistilBERT's checkpoints call the parts of a layer.
LAYER_NAMES = layers.LayerNames(
    attention="attention", projections=("q_lin", "k_lin", "v_lin", "out_lin"), attention_norm="sa_layer_norm",
    feed_forward="ffn", feed_forward_linears=("lin1", "lin2"), output_norm="output_layer_norm",
)


class FlaxDistilBertModule(BaseModule):
    """The bare encoder: hidden states of every token (post-norm layers, no pooler)."""

    def setup(self):
        c, common = self.config, dict(initializer_range=self.config.initializer_range, dtype=self.dtype)
        self.embeddings = layers.Embeddings(
            c.vocab_size, c.dim, c.max_position_embeddings, pad_token_id=c.pad_token_id, dropout=c.dropout,
            sinusoidal_positions=c.sinusoidal_pos_embds, **common,
        )
        self.transformer = layers.Encoder(
            layers.TransformerLayer(
                c.dim, c.n_heads, c.hidden_dim, c.activation, pruned_heads=pruned_heads_of_layer(c, index),
                dropout=c.dropout, attention_dropout=c.attention_dropout, chunk_size=c.chunk_size_feed_forward,
                names=LAYER_NAMES, **common,
            )
            for index in range(c.n_layers)
        )

    def __call__(self, input_ids=None, attention_mask=None, head_mask=None, inputs_embeds=None, position_ids=None,
                 train=False, output_attentions=None, output_hidden_states=None, return_dict=None):
        """The hidden state of every token (give ``input_ids`` or ``inputs_embeds``).

        Args:
            input_ids: ``(batch, seq)`` token ids, as the tokenizer makes them.
            attention_mask: ``(batch, seq)``: 1 for tokens to attend to, 0 for padding (None: all 1).
            head_mask: ``(heads,)`` or ``(layers, heads)``: 1 keeps an attention head, 0 masks it out.
            inputs_embeds: ``(batch, seq, hidden)`` embeddings to use instead of ``input_ids``.
            position_ids: ``(batch, seq)`` positions (None: 0, 1, 2...).
            train: dropout on.
            output_attentions: also return each layer's attention weights (None: the config's value).
            output_hidden_states: also return the hidden states after the embeddings and each layer
                (None: the config's value).
            return_dict: return the output dataclass, or False for a tuple of its non-None fields
                (None: the config's value).
        """
        output_attentions, output_hidden_states, return_dict = self.resolve_output_flags(
            output_attentions, output_hidden_states, return_dict
        )
        embeddings = self.embeddings(input_ids, position_ids=position_ids, inputs_embeds=inputs_embeds,
                                     deterministic=not train)
        output = self.transformer(embeddings, attention_mask, head_mask, output_attentions, output_hidden_states,
                                  deterministic=not train)
        return output if return_dict else output.to_tuple()


class FlaxDistilBertPreTrainedModel(FlaxPreTrainedModel):
    """Shared by every DistilBERT model: config class, weight prefix, main input, the base model of heads."""

    config_class = DistilBertConfig
    base_model_prefix = "distilbert"
    main_input_name = "input_ids"
    # Checkpoints from older transformers versions saved position_ids; they are not weights.
    keys_to_ignore_on_load_unexpected = (r"position_ids$",)

    def make_base_model(self, config: DistilBertConfig) -> FlaxDistilBertModule:
        return FlaxDistilBertModule(config, dtype=self.dtype)


class FlaxDistilBertModel(FlaxDistilBertPreTrainedModel):
    """The bare encoder: hidden states of every token."""

    module_class = FlaxDistilBertModule


class _ClassifierPooling:
    """DistilBERT's sentence vector: ``relu(pre_classifier(first token))``, then ``seq_classif_dropout``."""

    def build_pooling(self, config: DistilBertConfig) -> None:
        self.pre_classifier = layers.dense(config.dim, config.initializer_range, self.dtype)

    def pooled_output(self, base_output, inputs) -> jax.Array:
        return jax.nn.relu(self.pre_classifier(base_output.last_hidden_state[:, 0]))

    def classifier_dropout(self, config: DistilBertConfig) -> float:
        return config.seq_classif_dropout


class FlaxDistilBertForMaskedLM(heads.ForMaskedLM, FlaxDistilBertPreTrainedModel):
    """Masked language modelling: transform, activation, LayerNorm, then the vocabulary projection."""

    tied_weights = {"vocab_projector.weight": "distilbert.embeddings.word_embeddings.weight"}
    output_embeddings_name = "vocab_projector"

    def build_head(self, config: DistilBertConfig) -> None:
        self.vocab_transform = layers.dense(config.dim, config.initializer_range, self.dtype)
        self.vocab_layer_norm = layers.layer_norm(1e-12, self.dtype)
        self.vocab_projector = layers.OutputProjection(config.vocab_size, tied=config.tie_word_embeddings,
                                                       initializer_range=config.initializer_range, dtype=self.dtype)

    def lm_logits(self, hidden_states: jax.Array) -> jax.Array:
        hidden = layers.get_activation(self.config.activation)(self.vocab_transform(hidden_states))
        return self.vocab_projector(self.vocab_layer_norm(hidden), self.tied_input_embeddings())


class FlaxDistilBertForSequenceClassification(_ClassifierPooling, heads.ForSequenceClassification,
                                              FlaxDistilBertPreTrainedModel):
    """Classification or regression of the whole sequence, from its first token."""


class FlaxDistilBertForMultipleChoice(_ClassifierPooling, heads.ForMultipleChoice, FlaxDistilBertPreTrainedModel):
    """Scores each of ``num_choices`` sequences; inputs are ``(batch, num_choices, seq)``."""


class FlaxDistilBertForTokenClassification(heads.ForTokenClassification, FlaxDistilBertPreTrainedModel):
    """A label for every token (named entities, part of speech)."""

    def classifier_dropout(self, config: DistilBertConfig) -> float:
        return config.dropout


class FlaxDistilBertForQuestionAnswering(heads.ForQuestionAnswering, FlaxDistilBertPreTrainedModel):
    """Extractive question answering: start and end logits for every token."""

    def qa_dropout(self, config: DistilBertConfig) -> float:
        return config.qa_dropout


# The heads' linen modules (made from the classes above), under their public names.
FlaxDistilBertForMaskedLMModule = FlaxDistilBertForMaskedLM.module_class
FlaxDistilBertForSequenceClassificationModule = FlaxDistilBertForSequenceClassification.module_class
FlaxDistilBertForMultipleChoiceModule = FlaxDistilBertForMultipleChoice.module_class
FlaxDistilBertForTokenClassificationModule = FlaxDistilBertForTokenClassification.module_class
FlaxDistilBertForQuestionAnsweringModule = FlaxDistilBertForQuestionAnswering.module_class
