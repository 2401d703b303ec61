"""BERT in PyTorch: the base model (with its tanh pooler) and five task heads.

Module paths are the ``transformers`` tensor names (``bert.embeddings.word_embeddings.weight``,
``bert.encoder.layer.0.attention.self.query.weight``, ``...attention.output.dense``,
``...attention.output.LayerNorm``, ``...intermediate.dense``, ``...output.dense``,
``...output.LayerNorm``, ``bert.pooler.dense``, ``cls.predictions.transform.dense``,
``cls.predictions.bias``, ``classifier``, ``qa_outputs``), so checkpoints move between
the two libraries, and to polyformer's Keras and Flax BERT, unchanged.

Everything generic comes from polyformer's public PyTorch pieces
(:mod:`polyformer.backends.torch.layers` and ``losses``): embeddings, the encoder
stack (hidden states, attentions, head masks, gradient checkpointing), multi-head
attention through ``scaled_dot_product_attention``, the dense + residual + LayerNorm
output sub-layer, activations, chunking, pruning, losses, init; loading, saving,
embedding resizing and head pruning come from the base class. What is written here is
BERT's own: how those pieces nest, the pooler, the masked-LM head and the heads' wiring.
"""

from __future__ import annotations

import torch
from torch import nn

from polyformer.backends.torch import layers, losses
from polyformer.backends.torch.modeling import PreTrainedModel
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
    "BertPreTrainedModel",
    "BertModel",
    "BertForMaskedLM",
    "BertForSequenceClassification",
    "BertForTokenClassification",
    "BertForQuestionAnswering",
    "BertForMultipleChoice",
]


# ---- building blocks ----------------------------------------------------------------
class BertAttention(nn.Module):
    """``self`` (query/key/value, no output linear) then ``output`` (dense + dropout + residual + LayerNorm)."""

    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.self = layers.MultiHeadSelfAttention(
            config.hidden_size, config.num_attention_heads, config.attention_probs_dropout_prob,
            names=("query", "key", "value"), out_name=None,
        )
        self.output = layers.DenseAddNorm(
            config.hidden_size, config.hidden_size, config.hidden_dropout_prob, config.layer_norm_eps
        )

    def forward(self, hidden_states, mask=None, head_mask=None, output_attentions=False):
        context, weights = self.self(hidden_states, mask, head_mask, output_attentions)
        return self.output(context, hidden_states), weights

    def prune_heads(self, heads) -> None:
        """Remove heads from query/key/value and the matching input columns of ``output.dense``."""
        index = self.self.prune_heads(heads)
        if index is not None:
            self.output.dense = layers.prune_linear(self.output.dense, index, dim=1)


class BertIntermediate(nn.Module):
    """The feed-forward's widening half: ``activation(dense(x))``."""

    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.intermediate_size)
        self.activation = layers.get_activation(config.hidden_act)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        # Without autograd the activation may overwrite the fresh hidden layer.
        return self.activation(self.dense(hidden_states), inplace=not torch.is_grad_enabled())


class BertLayer(nn.Module):
    """One post-norm block: attention sub-layer, then feed-forward (``intermediate`` + ``output``)."""

    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.attention = BertAttention(config)
        self.intermediate = BertIntermediate(config)
        self.output = layers.DenseAddNorm(
            config.intermediate_size, config.hidden_size, config.hidden_dropout_prob, config.layer_norm_eps
        )
        self.chunk_size = config.chunk_size_feed_forward

    def _feed_forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return self.output(self.intermediate(hidden_states), hidden_states)

    def forward(self, hidden_states, mask=None, head_mask=None, output_attentions=False):
        attended, weights = self.attention(hidden_states, mask, head_mask, output_attentions)
        return layers.apply_chunked(self._feed_forward, self.chunk_size, attended), weights


class BertPooler(nn.Module):
    """``tanh(dense(first token))``: the sentence vector the classification heads read."""

    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.dense(hidden_states[:, 0]))


class BertPredictionHeadTransform(nn.Module):
    """``LayerNorm(activation(dense(x)))`` before the vocabulary projection."""

    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.activation = layers.get_activation(config.hidden_act)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(self.activation(self.dense(hidden_states), inplace=not torch.is_grad_enabled()))


class BertLMPredictionHead(nn.Module):
    """Transform, then ``decoder`` onto the vocabulary.

    ``decoder.weight`` is tied to the word embeddings and ``decoder.bias`` to ``bias``
    (both saved once, under the source names), as in ``transformers``; with
    ``tie_word_embeddings=False`` all four are separate tensors and ``bias`` is unused.
    """

    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.transform = BertPredictionHeadTransform(config)
        self.decoder = nn.Linear(config.hidden_size, config.vocab_size)
        self.bias = nn.Parameter(torch.zeros(config.vocab_size))

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.transform(hidden_states))


class BertOnlyMLMHead(nn.Module):
    """Holds ``predictions``: the extra level gives the ``cls.predictions.*`` names."""

    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.predictions = BertLMPredictionHead(config)

    def forward(self, sequence_output: torch.Tensor) -> torch.Tensor:
        return self.predictions(sequence_output)


# ---- models -------------------------------------------------------------------------
class BertPreTrainedModel(PreTrainedModel):
    """Shared by every BERT model: config class, weight prefix, init of the masked-LM bias."""

    config_class = BertConfig
    base_model_prefix = "bert"
    # Older checkpoints saved the position_ids buffer (all-MiniLM-L6-v2 does); it is rebuilt here.
    keys_to_ignore_on_load_unexpected = (r"position_ids$",)

    def _init_weights(self, module: nn.Module, only: set[str] | None = None) -> None:
        if isinstance(module, BertLMPredictionHead) and (only is None or "bias" in only):
            with torch.no_grad():
                module.bias.zero_()
        super()._init_weights(module, only)


class BertModel(BertPreTrainedModel):
    """The bare encoder: hidden states of every token, and the pooled first token.

    ``add_pooling_layer=False`` leaves the pooler out (the masked-LM, token-classification
    and question-answering heads do, as in ``transformers``); ``from_pretrained`` takes it too.
    """

    module_options = {"add_pooling_layer": True}

    def __init__(self, config: BertConfig, add_pooling_layer: bool = True) -> None:
        super().__init__(config)
        self.embeddings = layers.Embeddings(
            config.vocab_size, config.hidden_size, config.max_position_embeddings,
            type_vocab_size=config.type_vocab_size, pad_token_id=config.pad_token_id,
            eps=config.layer_norm_eps, dropout=config.hidden_dropout_prob,
        )
        self.encoder = layers.Encoder(BertLayer(config) for _ in range(config.num_hidden_layers))
        self.pooler = BertPooler(config) if add_pooling_layer else None
        self.post_init()

    def _prune_heads(self, heads_to_prune: dict[int, list[int]]) -> None:
        for layer, heads in heads_to_prune.items():
            self.encoder.layer[int(layer)].attention.prune_heads(heads)

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        head_mask: torch.Tensor | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
    ):
        """Missing ``token_type_ids`` mean segment 0 everywhere; missing ``position_ids`` mean 0, 1, 2..."""
        output_attentions, output_hidden_states, return_dict = self.resolve_output_flags(
            output_attentions, output_hidden_states, return_dict
        )
        embeddings = self.embeddings(input_ids, inputs_embeds, position_ids, token_type_ids)  # checks the inputs
        if head_mask is not None:
            head_mask = head_mask.to(embeddings.dtype)
        encoded = self.encoder(
            embeddings,
            layers.expand_attention_mask(attention_mask, embeddings.shape[:2]),
            head_mask,
            output_attentions=output_attentions,
            output_hidden_states=output_hidden_states,
        )
        sequence_output = encoded.last_hidden_state
        output = BaseModelOutputWithPooling(
            last_hidden_state=sequence_output,
            pooler_output=self.pooler(sequence_output) if self.pooler is not None else None,
            hidden_states=encoded.hidden_states,
            attentions=encoded.attentions,
        )
        return output if return_dict else output.to_tuple()


def _classifier_dropout(config: BertConfig) -> nn.Dropout:
    """``classifier_dropout``, or ``hidden_dropout_prob`` when it is None."""
    p = config.classifier_dropout if config.classifier_dropout is not None else config.hidden_dropout_prob
    return nn.Dropout(p)


class _BertHead(BertPreTrainedModel):
    """A head model: ``self.bert`` plus task layers; runs the encoder the same way for all."""

    def _encode(self, input_ids, attention_mask, token_type_ids, position_ids, inputs_embeds, head_mask,
                output_attentions, output_hidden_states) -> BaseModelOutputWithPooling:
        return self.bert(
            input_ids=input_ids,
            attention_mask=attention_mask,
            token_type_ids=token_type_ids,
            position_ids=position_ids,
            inputs_embeds=inputs_embeds,
            head_mask=head_mask,
            output_attentions=output_attentions,
            output_hidden_states=output_hidden_states,
            return_dict=True,
        )

    @staticmethod
    def _finish(output, return_dict: bool):
        return output if return_dict else output.to_tuple()


class BertForMaskedLM(_BertHead):
    """Masked language modelling: vocabulary logits for every token."""

    tied_weights = {
        "cls.predictions.decoder.weight": "bert.embeddings.word_embeddings.weight",
        "cls.predictions.decoder.bias": "cls.predictions.bias",
    }
    # A base (BertModel / pre-training) checkpoint has a pooler this head does not use.
    keys_to_ignore_on_load_unexpected = (r"position_ids$", r"pooler\.")

    def __init__(self, config: BertConfig) -> None:
        super().__init__(config)
        self.bert = BertModel(config, add_pooling_layer=False)
        self.cls = BertOnlyMLMHead(config)
        self.post_init()

    def get_output_embeddings(self) -> nn.Linear:
        return self.cls.predictions.decoder

    def set_output_embeddings(self, value: nn.Linear) -> None:
        self.cls.predictions.decoder = value
        self.cls.predictions.bias = value.bias  # the bias follows a resized projection

    def forward(
        self,
        input_ids=None,
        attention_mask=None,
        token_type_ids=None,
        position_ids=None,
        inputs_embeds=None,
        labels=None,
        head_mask=None,
        output_attentions=None,
        output_hidden_states=None,
        return_dict=None,
    ):
        output_attentions, output_hidden_states, return_dict = self.resolve_output_flags(
            output_attentions, output_hidden_states, return_dict
        )
        encoded = self._encode(input_ids, attention_mask, token_type_ids, position_ids, inputs_embeds, head_mask,
                               output_attentions, output_hidden_states)
        logits = self.cls(encoded.last_hidden_state)
        loss = losses.masked_lm_loss(logits, labels) if labels is not None else None
        output = MaskedLMOutput(loss=loss, logits=logits, hidden_states=encoded.hidden_states,
                                attentions=encoded.attentions)
        return self._finish(output, return_dict)


class BertForSequenceClassification(_BertHead):
    """Classification or regression of the whole sequence, from the pooled first token."""

    def __init__(self, config: BertConfig) -> None:
        super().__init__(config)
        self.num_labels = config.num_labels
        self.bert = BertModel(config)
        self.dropout = _classifier_dropout(config)
        self.classifier = nn.Linear(config.hidden_size, config.num_labels)
        self.post_init()

    def forward(
        self,
        input_ids=None,
        attention_mask=None,
        token_type_ids=None,
        position_ids=None,
        inputs_embeds=None,
        labels=None,
        head_mask=None,
        output_attentions=None,
        output_hidden_states=None,
        return_dict=None,
    ):
        """``labels``: class ids (cross-entropy), floats with one label (MSE), or multi-hot floats (BCE)."""
        output_attentions, output_hidden_states, return_dict = self.resolve_output_flags(
            output_attentions, output_hidden_states, return_dict
        )
        encoded = self._encode(input_ids, attention_mask, token_type_ids, position_ids, inputs_embeds, head_mask,
                               output_attentions, output_hidden_states)
        logits = self.classifier(self.dropout(encoded.pooler_output))
        loss = None
        if labels is not None:
            loss = losses.sequence_classification_loss(logits, labels, self.num_labels, self.config.problem_type)
        output = SequenceClassifierOutput(loss=loss, logits=logits, hidden_states=encoded.hidden_states,
                                          attentions=encoded.attentions)
        return self._finish(output, return_dict)


class BertForTokenClassification(_BertHead):
    """A label for every token (named entities, part of speech)."""

    keys_to_ignore_on_load_unexpected = (r"position_ids$", r"pooler\.")

    def __init__(self, config: BertConfig) -> None:
        super().__init__(config)
        self.num_labels = config.num_labels
        self.bert = BertModel(config, add_pooling_layer=False)
        self.dropout = _classifier_dropout(config)
        self.classifier = nn.Linear(config.hidden_size, config.num_labels)
        self.post_init()

    def forward(
        self,
        input_ids=None,
        attention_mask=None,
        token_type_ids=None,
        position_ids=None,
        inputs_embeds=None,
        labels=None,
        head_mask=None,
        output_attentions=None,
        output_hidden_states=None,
        return_dict=None,
    ):
        output_attentions, output_hidden_states, return_dict = self.resolve_output_flags(
            output_attentions, output_hidden_states, return_dict
        )
        encoded = self._encode(input_ids, attention_mask, token_type_ids, position_ids, inputs_embeds, head_mask,
                               output_attentions, output_hidden_states)
        logits = self.classifier(self.dropout(encoded.last_hidden_state))
        loss = losses.token_classification_loss(logits, labels) if labels is not None else None
        output = TokenClassifierOutput(loss=loss, logits=logits, hidden_states=encoded.hidden_states,
                                       attentions=encoded.attentions)
        return self._finish(output, return_dict)


class BertForQuestionAnswering(_BertHead):
    """Extractive question answering: start and end logits for every token."""

    keys_to_ignore_on_load_unexpected = (r"position_ids$", r"pooler\.")

    def __init__(self, config: BertConfig) -> None:
        super().__init__(config)
        if config.num_labels != 2:
            raise ValueError(f"BertForQuestionAnswering needs config.num_labels == 2 (start, end), got {config.num_labels}")
        self.num_labels = config.num_labels
        self.bert = BertModel(config, add_pooling_layer=False)
        self.qa_outputs = nn.Linear(config.hidden_size, config.num_labels)
        self.post_init()

    def forward(
        self,
        input_ids=None,
        attention_mask=None,
        token_type_ids=None,
        position_ids=None,
        inputs_embeds=None,
        start_positions=None,
        end_positions=None,
        head_mask=None,
        output_attentions=None,
        output_hidden_states=None,
        return_dict=None,
    ):
        output_attentions, output_hidden_states, return_dict = self.resolve_output_flags(
            output_attentions, output_hidden_states, return_dict
        )
        encoded = self._encode(input_ids, attention_mask, token_type_ids, position_ids, inputs_embeds, head_mask,
                               output_attentions, output_hidden_states)
        start_logits, end_logits = layers.start_end_logits(self.qa_outputs(encoded.last_hidden_state))
        loss = None
        if start_positions is not None and end_positions is not None:
            loss = losses.question_answering_loss(start_logits, end_logits, start_positions, end_positions)
        output = QuestionAnsweringModelOutput(
            loss=loss, start_logits=start_logits, end_logits=end_logits,
            hidden_states=encoded.hidden_states, attentions=encoded.attentions,
        )
        return self._finish(output, return_dict)


class BertForMultipleChoice(_BertHead):
    """Scores each of ``num_choices`` sequences from its pooled first token; inputs are ``(batch, num_choices, seq)``."""

    def __init__(self, config: BertConfig) -> None:
        super().__init__(config)
        self.bert = BertModel(config)
        self.dropout = _classifier_dropout(config)
        self.classifier = nn.Linear(config.hidden_size, 1)
        self.post_init()

    def forward(
        self,
        input_ids=None,
        attention_mask=None,
        token_type_ids=None,
        position_ids=None,
        inputs_embeds=None,
        labels=None,
        head_mask=None,
        output_attentions=None,
        output_hidden_states=None,
        return_dict=None,
    ):
        output_attentions, output_hidden_states, return_dict = self.resolve_output_flags(
            output_attentions, output_hidden_states, return_dict
        )
        layers.check_choice_inputs(input_ids, inputs_embeds, attention_mask, token_type_ids)
        num_choices = (input_ids if input_ids is not None else inputs_embeds).shape[1]
        flat = layers.flatten_choices
        encoded = self._encode(flat(input_ids), flat(attention_mask), flat(token_type_ids), flat(position_ids),
                               flat(inputs_embeds, keep=2), head_mask, output_attentions, output_hidden_states)
        logits = self.classifier(self.dropout(encoded.pooler_output)).view(-1, num_choices)
        loss = losses.multiple_choice_loss(logits, labels) if labels is not None else None
        output = MultipleChoiceModelOutput(loss=loss, logits=logits, hidden_states=encoded.hidden_states,
                                           attentions=encoded.attentions)
        return self._finish(output, return_dict)
