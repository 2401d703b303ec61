"""DistilBERT in PyTorch: the base model and its five task heads.

Module and tensor names are those of ``transformers`` (``distilbert.embeddings.
word_embeddings.weight``, ``distilbert.transformer.layer.0.attention.q_lin.weight``,
``...sa_layer_norm``, ``...ffn.lin1``, ``...output_layer_norm``, ``pre_classifier``,
``classifier``, ``qa_outputs``, ``vocab_projector``...), so checkpoints move between
the two libraries unchanged. The generic pieces (embeddings, the encoder stack,
attention, feed-forward, losses, init, pruning) come from
:mod:`polyformer.backends.torch.layers` and ``losses``; what is written here is
DistilBERT's own: its block, its fixed sinusoidal positions, and its heads.
"""

from __future__ import annotations

import torch
from torch import nn

from ...backends.torch import layers, losses
from ...backends.torch.modeling import PreTrainedModel
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
    "DistilBertPreTrainedModel",
    "DistilBertModel",
    "DistilBertForMaskedLM",
    "DistilBertForSequenceClassification",
    "DistilBertForQuestionAnswering",
    "DistilBertForTokenClassification",
    "DistilBertForMultipleChoice",
]


# ---- building blocks ----------------------------------------------------------------
class TransformerBlock(nn.Module):
    """Post-norm block: self-attention + residual + LayerNorm, then FFN + residual + LayerNorm."""

    def __init__(self, config: DistilBertConfig) -> None:
        super().__init__()
        self.attention = layers.MultiHeadSelfAttention(
            config.dim, config.n_heads, config.attention_dropout,
            names=("q_lin", "k_lin", "v_lin"), out_name="out_lin",
        )
        self.sa_layer_norm = nn.LayerNorm(config.dim, eps=1e-12)
        self.ffn = layers.FeedForward(
            config.dim, config.hidden_dim, config.activation, config.dropout,
            names=("lin1", "lin2"), chunk_size=config.chunk_size_feed_forward,
        )
        self.output_layer_norm = nn.LayerNorm(config.dim, eps=1e-12)

    def forward(self, hidden_states, mask=None, head_mask=None, output_attentions=False):
        attended, weights = self.attention(hidden_states, mask, head_mask, output_attentions)
        # Residual sums reuse the fresh output buffers where the dtype allows (see add_residual).
        hidden_states = self.sa_layer_norm(layers.add_residual(attended, hidden_states))
        hidden_states = self.output_layer_norm(layers.add_residual(self.ffn(hidden_states), hidden_states))
        return hidden_states, weights


# ---- models -------------------------------------------------------------------------
class DistilBertPreTrainedModel(PreTrainedModel):
    """Shared by every DistilBERT model: config class, weight prefix, init of fixed positions."""

    config_class = DistilBertConfig
    base_model_prefix = "distilbert"
    # Checkpoints from older transformers versions saved position_ids; they are rebuilt here.
    keys_to_ignore_on_load_unexpected = (r"position_ids$",)

    def _init_weights(self, module: nn.Module, only: set[str] | None = None) -> None:
        if getattr(module, "is_sinusoidal", False):
            if only is None or "weight" in only:
                with torch.no_grad():
                    module.weight.copy_(layers.sinusoidal_positions(module.num_embeddings, module.embedding_dim))
            return
        super()._init_weights(module, only)


class DistilBertModel(DistilBertPreTrainedModel):
    """The bare encoder: hidden states of every token."""

    def __init__(self, config: DistilBertConfig) -> None:
        super().__init__(config)
        self.embeddings = layers.Embeddings(
            config.vocab_size, config.dim, config.max_position_embeddings,
            pad_token_id=config.pad_token_id, dropout=config.dropout,
        )
        if config.sinusoidal_pos_embds:
            # Fixed positions: initialised with the sinusoidal table and not trained,
            # as in the original DistilBERT.
            self.embeddings.position_embeddings.is_sinusoidal = True
            self.embeddings.position_embeddings.weight.requires_grad_(False)
        self.transformer = layers.Encoder(TransformerBlock(config) for _ in range(config.n_layers))
        self.post_init()

    def get_position_embeddings(self) -> nn.Embedding:
        return self.embeddings.position_embeddings

    def _prune_heads(self, heads_to_prune: dict[int, list[int]]) -> None:
        for layer, heads in heads_to_prune.items():
            self.transformer.layer[int(layer)].attention.prune_heads(heads)

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        head_mask: torch.Tensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        position_ids: torch.Tensor | None = None,
    ):
        output_attentions, output_hidden_states, return_dict = self.resolve_output_flags(
            output_attentions, output_hidden_states, return_dict
        )
        embeddings = self.embeddings(input_ids, inputs_embeds, position_ids)  # checks the inputs
        if head_mask is not None:
            head_mask = head_mask.to(embeddings.dtype)
        output = self.transformer(
            embeddings,
            layers.expand_attention_mask(attention_mask, embeddings.shape[:2]),
            head_mask,
            output_attentions=output_attentions,
            output_hidden_states=output_hidden_states,
        )
        return output if return_dict else output.to_tuple()


class _DistilBertHead(DistilBertPreTrainedModel):
    """A head model: ``self.distilbert`` plus task layers; runs the encoder the same way for all."""

    def get_position_embeddings(self) -> nn.Embedding:
        return self.distilbert.get_position_embeddings()

    def _encode(self, input_ids, attention_mask, head_mask, inputs_embeds, output_attentions,
                output_hidden_states, position_ids=None) -> BaseModelOutput:
        return self.distilbert(
            input_ids=input_ids,
            attention_mask=attention_mask,
            head_mask=head_mask,
            inputs_embeds=inputs_embeds,
            output_attentions=output_attentions,
            output_hidden_states=output_hidden_states,
            return_dict=True,
            position_ids=position_ids,
        )

    def _pool_and_classify(self, hidden: torch.Tensor) -> torch.Tensor:
        """First token -> pre_classifier -> ReLU -> dropout -> classifier."""
        pooled = torch.relu(self.pre_classifier(hidden[:, 0]))
        return self.classifier(self.dropout(pooled))

    @staticmethod
    def _finish(output, return_dict: bool):
        return output if return_dict else output.to_tuple()


class DistilBertForMaskedLM(_DistilBertHead):
    """Masked language modelling: vocabulary logits for every token."""

    tied_weights = {"vocab_projector.weight": "distilbert.embeddings.word_embeddings.weight"}

    def __init__(self, config: DistilBertConfig) -> None:
        super().__init__(config)
        self.activation = layers.get_activation(config.activation)
        self.distilbert = DistilBertModel(config)
        self.vocab_transform = nn.Linear(config.dim, config.dim)
        self.vocab_layer_norm = nn.LayerNorm(config.dim, eps=1e-12)
        self.vocab_projector = nn.Linear(config.dim, config.vocab_size)
        self.post_init()

    def get_output_embeddings(self) -> nn.Linear:
        return self.vocab_projector

    def set_output_embeddings(self, value: nn.Linear) -> None:
        self.vocab_projector = value

    def forward(
        self,
        input_ids=None,
        attention_mask=None,
        head_mask=None,
        inputs_embeds=None,
        labels=None,
        output_attentions=None,
        output_hidden_states=None,
        return_dict=None,
        position_ids=None,
    ):
        output_attentions, output_hidden_states, return_dict = self.resolve_output_flags(
            output_attentions, output_hidden_states, return_dict
        )
        encoded = self._encode(input_ids, attention_mask, head_mask, inputs_embeds,
                               output_attentions, output_hidden_states, position_ids)
        transformed = self.vocab_transform(encoded.last_hidden_state)
        hidden = self.vocab_layer_norm(self.activation(transformed, inplace=not torch.is_grad_enabled()))
        logits = self.vocab_projector(hidden)
        loss = losses.masked_lm_loss(logits, labels) if labels is not None else None
        output = MaskedLMOutput(loss=loss, logits=logits, hidden_states=encoded.hidden_states, attentions=encoded.attentions)
        return self._finish(output, return_dict)


class DistilBertForSequenceClassification(_DistilBertHead):
    """Classification or regression of the whole sequence, from its first token."""

    def __init__(self, config: DistilBertConfig) -> None:
        super().__init__(config)
        self.num_labels = config.num_labels
        self.distilbert = DistilBertModel(config)
        self.pre_classifier = nn.Linear(config.dim, config.dim)
        self.classifier = nn.Linear(config.dim, config.num_labels)
        self.dropout = nn.Dropout(config.seq_classif_dropout)
        self.post_init()

    def forward(
        self,
        input_ids=None,
        attention_mask=None,
        head_mask=None,
        inputs_embeds=None,
        labels=None,
        output_attentions=None,
        output_hidden_states=None,
        return_dict=None,
        position_ids=None,
    ):
        output_attentions, output_hidden_states, return_dict = self.resolve_output_flags(
            output_attentions, output_hidden_states, return_dict
        )
        encoded = self._encode(input_ids, attention_mask, head_mask, inputs_embeds,
                               output_attentions, output_hidden_states, position_ids)
        logits = self._pool_and_classify(encoded.last_hidden_state)
        loss = None
        if labels is not None:
            loss = losses.sequence_classification_loss(logits, labels, self.num_labels, self.config.problem_type)
        output = SequenceClassifierOutput(
            loss=loss, logits=logits, hidden_states=encoded.hidden_states, attentions=encoded.attentions
        )
        return self._finish(output, return_dict)


class DistilBertForQuestionAnswering(_DistilBertHead):
    """Extractive question answering: start and end logits for every token."""

    def __init__(self, config: DistilBertConfig) -> None:
        super().__init__(config)
        if config.num_labels != 2:
            raise ValueError(f"DistilBertForQuestionAnswering needs config.num_labels == 2 (start, end), got {config.num_labels}")
        self.distilbert = DistilBertModel(config)
        self.qa_outputs = nn.Linear(config.dim, config.num_labels)
        self.dropout = nn.Dropout(config.qa_dropout)
        self.post_init()

    def forward(
        self,
        input_ids=None,
        attention_mask=None,
        head_mask=None,
        inputs_embeds=None,
        start_positions=None,
        end_positions=None,
        output_attentions=None,
        output_hidden_states=None,
        return_dict=None,
        position_ids=None,
    ):
        output_attentions, output_hidden_states, return_dict = self.resolve_output_flags(
            output_attentions, output_hidden_states, return_dict
        )
        encoded = self._encode(input_ids, attention_mask, head_mask, inputs_embeds,
                               output_attentions, output_hidden_states, position_ids)
        logits = self.qa_outputs(self.dropout(encoded.last_hidden_state))
        start_logits, end_logits = layers.start_end_logits(logits)
        loss = None
        if start_positions is not None and end_positions is not None:
            loss = losses.question_answering_loss(start_logits, end_logits, start_positions, end_positions)
        output = QuestionAnsweringModelOutput(
            loss=loss, start_logits=start_logits, end_logits=end_logits,
            hidden_states=encoded.hidden_states, attentions=encoded.attentions,
        )
        return self._finish(output, return_dict)


class DistilBertForTokenClassification(_DistilBertHead):
    """A label for every token (named entities, part of speech)."""

    def __init__(self, config: DistilBertConfig) -> None:
        super().__init__(config)
        self.num_labels = config.num_labels
        self.distilbert = DistilBertModel(config)
        self.dropout = nn.Dropout(config.dropout)
        self.classifier = nn.Linear(config.dim, config.num_labels)
        self.post_init()

    def forward(
        self,
        input_ids=None,
        attention_mask=None,
        head_mask=None,
        inputs_embeds=None,
        labels=None,
        output_attentions=None,
        output_hidden_states=None,
        return_dict=None,
        position_ids=None,
    ):
        output_attentions, output_hidden_states, return_dict = self.resolve_output_flags(
            output_attentions, output_hidden_states, return_dict
        )
        encoded = self._encode(input_ids, attention_mask, head_mask, inputs_embeds,
                               output_attentions, output_hidden_states, position_ids)
        logits = self.classifier(self.dropout(encoded.last_hidden_state))
        loss = losses.token_classification_loss(logits, labels) if labels is not None else None
        output = TokenClassifierOutput(loss=loss, logits=logits, hidden_states=encoded.hidden_states, attentions=encoded.attentions)
        return self._finish(output, return_dict)


class DistilBertForMultipleChoice(_DistilBertHead):
    """Scores each of ``num_choices`` sequences; inputs are ``(batch, num_choices, seq)``."""

    def __init__(self, config: DistilBertConfig) -> None:
        super().__init__(config)
        self.distilbert = DistilBertModel(config)
        self.pre_classifier = nn.Linear(config.dim, config.dim)
        self.classifier = nn.Linear(config.dim, 1)
        self.dropout = nn.Dropout(config.seq_classif_dropout)
        self.post_init()

    def forward(
        self,
        input_ids=None,
        attention_mask=None,
        head_mask=None,
        inputs_embeds=None,
        labels=None,
        output_attentions=None,
        output_hidden_states=None,
        return_dict=None,
        position_ids=None,
    ):
        output_attentions, output_hidden_states, return_dict = self.resolve_output_flags(
            output_attentions, output_hidden_states, return_dict
        )
        layers.check_choice_inputs(input_ids, inputs_embeds, attention_mask)
        num_choices = (input_ids if input_ids is not None else inputs_embeds).shape[1]
        flat = layers.flatten_choices
        encoded = self._encode(flat(input_ids), flat(attention_mask), head_mask, flat(inputs_embeds, keep=2),
                               output_attentions, output_hidden_states, flat(position_ids))
        logits = self._pool_and_classify(encoded.last_hidden_state).view(-1, num_choices)
        loss = losses.multiple_choice_loss(logits, labels) if labels is not None else None
        output = MultipleChoiceModelOutput(
            loss=loss, logits=logits, hidden_states=encoded.hidden_states, attentions=encoded.attentions
        )
        return self._finish(output, return_dict)
