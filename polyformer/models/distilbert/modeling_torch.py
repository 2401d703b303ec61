"""DistilBERT in PyTorch: the base model and its five task heads.

Module and tensor names are those of ``transformers`` (``distilbert.embeddings.
word_embeddings.weight``, ``distilbert.transformer.layer.0.attention.q_lin.weight``,
``...sa_layer_norm``, ``...ffn.lin1``, ``...output_layer_norm``, ``pre_classifier``,
``classifier``, ``qa_outputs``, ``vocab_projector``...), so checkpoints move between
the two libraries unchanged. Everything generic comes from the backend: the embeddings,
the post-norm layer and the encoder stack (:mod:`polyformer.backends.torch.layers`) and
the task heads (:mod:`polyformer.backends.torch.heads`). What is written here is
DistilBERT's own: how its layers are named, its classifier pooling and its masked-LM head.
"""

from __future__ import annotations

import torch
from torch import nn

from ...backends.torch import heads, layers
from ...backends.torch.modeling import PreTrainedModel
from ...core.numerics import pruned_heads_of_layer
from .configuration import DistilBertConfig

__all__ = [
    "DistilBertPreTrainedModel",
    "DistilBertModel",
    "DistilBertForMaskedLM",
    "DistilBertForSequenceClassification",
    "DistilBertForQuestionAnswering",
    "DistilBertForTokenClassification",
    "DistilBertForMultipleChoice",
]

#: The attribute names of a DistilBERT layer in transformers' checkpoints.
LAYER_NAMES = layers.LayerNames(
    attention="attention", projections=("q_lin", "k_lin", "v_lin", "out_lin"), attention_norm="sa_layer_norm",
    feed_forward="ffn", feed_forward_linears=("lin1", "lin2"), output_norm="output_layer_norm",
)


class DistilBertPreTrainedModel(PreTrainedModel):
    """Shared by every DistilBERT model: config class, weight prefix, main input, the base model of heads."""

    config_class = DistilBertConfig
    base_model_prefix = "distilbert"
    main_input_name = "input_ids"
    # Checkpoints from older transformers versions saved position_ids; they are rebuilt here.
    keys_to_ignore_on_load_unexpected = (r"position_ids$",)

    def make_base_model(self, config: DistilBertConfig) -> "DistilBertModel":
        return DistilBertModel(config)


class DistilBertModel(DistilBertPreTrainedModel):
    """The bare encoder: hidden states of every token (post-norm layers, no pooler)."""

    def __init__(self, config: DistilBertConfig) -> None:
        super().__init__(config)
        self.embeddings = layers.Embeddings(
            config.vocab_size, config.dim, config.max_position_embeddings, pad_token_id=config.pad_token_id,
            dropout=config.dropout, sinusoidal_positions=config.sinusoidal_pos_embds,
        )
        self.transformer = layers.Encoder(
            layers.TransformerLayer(
                config.dim, config.n_heads, config.hidden_dim, config.activation,
                pruned_heads=pruned_heads_of_layer(config, index), dropout=config.dropout,
                attention_dropout=config.attention_dropout, chunk_size=config.chunk_size_feed_forward,
                names=LAYER_NAMES,
            )
            for index in range(config.n_layers)
        )
        self.post_init()

    def get_position_embeddings(self) -> nn.Embedding:
        return self.embeddings.position_embeddings

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        head_mask: torch.Tensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
    ):
        """The hidden state of every token (give ``input_ids`` or ``inputs_embeds``).

        Args:
            input_ids: ``(batch, seq)`` token ids, as the tokenizer makes them.
            attention_mask: ``(batch, seq)``: 1 for tokens to attend to, 0 for padding (None: all 1).
            head_mask: ``(heads,)`` or ``(layers, heads)``: 1 keeps an attention head, 0 masks it out.
            inputs_embeds: ``(batch, seq, hidden)`` embeddings to use instead of ``input_ids``.
            position_ids: ``(batch, seq)`` positions (None: 0, 1, 2...).
            output_attentions: also return each layer's attention weights (None: the config's value).
            output_hidden_states: also return the hidden states after the embeddings and each layer
                (None: the config's value).
            return_dict: return the output dataclass, or False for a tuple of its non-None fields
                (None: the config's value).
        """
        output_attentions, output_hidden_states, return_dict = self.resolve_output_flags(
            output_attentions, output_hidden_states, return_dict
        )
        embeddings = self.embeddings(input_ids, inputs_embeds=inputs_embeds, position_ids=position_ids)
        output = self.transformer(embeddings, attention_mask, head_mask, output_attentions=output_attentions,
                                  output_hidden_states=output_hidden_states)
        return output if return_dict else output.to_tuple()


class _ClassifierPooling:
    """DistilBERT's sentence vector: ``relu(pre_classifier(first token))``, then ``seq_classif_dropout``."""

    def build_pooling(self, config: DistilBertConfig) -> None:
        self.pre_classifier = nn.Linear(config.dim, config.dim)

    def pooled_output(self, base_output, inputs) -> torch.Tensor:
        return torch.relu(self.pre_classifier(base_output.last_hidden_state[:, 0]))

    def classifier_dropout(self, config: DistilBertConfig) -> float:
        return config.seq_classif_dropout


class DistilBertForMaskedLM(heads.ForMaskedLM, DistilBertPreTrainedModel):
    """Masked language modelling: transform, activation, LayerNorm, then the vocabulary projection."""

    tied_weights = {"vocab_projector.weight": "distilbert.embeddings.word_embeddings.weight"}
    output_embeddings_name = "vocab_projector"

    def build_head(self, config: DistilBertConfig) -> None:
        self.activation = layers.get_activation(config.activation)
        self.vocab_transform = nn.Linear(config.dim, config.dim)
        self.vocab_layer_norm = nn.LayerNorm(config.dim, eps=1e-12)
        self.vocab_projector = nn.Linear(config.dim, config.vocab_size)

    def lm_logits(self, hidden_states: torch.Tensor) -> torch.Tensor:
        hidden = self.activation(self.vocab_transform(hidden_states), inplace=not torch.is_grad_enabled())
        return self.vocab_projector(self.vocab_layer_norm(hidden))


class DistilBertForSequenceClassification(_ClassifierPooling, heads.ForSequenceClassification, DistilBertPreTrainedModel):
    """Classification or regression of the whole sequence, from its first token."""


class DistilBertForMultipleChoice(_ClassifierPooling, heads.ForMultipleChoice, DistilBertPreTrainedModel):
    """Scores each of ``num_choices`` sequences; inputs are ``(batch, num_choices, seq)``."""


class DistilBertForTokenClassification(heads.ForTokenClassification, DistilBertPreTrainedModel):
    """A label for every token (named entities, part of speech)."""

    def classifier_dropout(self, config: DistilBertConfig) -> float:
        return config.dropout


class DistilBertForQuestionAnswering(heads.ForQuestionAnswering, DistilBertPreTrainedModel):
    """Extractive question answering: start and end logits for every token."""

    def qa_dropout(self, config: DistilBertConfig) -> float:
        return config.qa_dropout
