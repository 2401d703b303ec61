"""BERT in PyTorch: the base model (with its tanh pooler) and five task heads.

Module paths are the ``transformers`` tensor names (``bert.embeddings.word_embeddings.weight``,
``bert.encoder.layer.0.attention.self.query.weight``, ``...attention.output.dense``,
``...attention.output.LayerNorm``, ``...intermediate.dense``, ``...output.dense``,
``...output.LayerNorm``, ``bert.pooler.dense``, ``cls.predictions.transform.dense``,
``cls.predictions.bias``, ``classifier``, ``qa_outputs``), so checkpoints move between
the two libraries, and to polyformer's Keras and Flax BERT, unchanged.

Everything generic comes from polyformer's public PyTorch pieces: the embeddings, the
attention block (self-attention + dense/residual/LayerNorm output), the feed-forward
halves, the pooler and the encoder stack (:mod:`polyformer.backends.torch.layers`), and
the task heads (:mod:`polyformer.backends.torch.heads`). What is written here is BERT's
own: how its layer nests those pieces, and its masked-LM head.
"""

from __future__ import annotations

import torch
from torch import nn

from polyformer.backends.torch import heads, layers
from polyformer.backends.torch.modeling import PreTrainedModel
from polyformer.core.numerics import pruned_heads_of_layer
from polyformer.core.outputs import BaseModelOutputWithPooling

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
class BertLayer(nn.Module):
    """One post-norm layer: ``attention`` (``self`` + ``output``), then ``intermediate`` and ``output``."""

    def __init__(self, config: BertConfig, index: int) -> None:
        super().__init__()
        self.attention = layers.AttentionBlock(
            config.hidden_size, config.num_attention_heads, pruned_heads=pruned_heads_of_layer(config, index),
            attention_dropout=config.attention_probs_dropout_prob, dropout=config.hidden_dropout_prob,
            layer_norm_eps=config.layer_norm_eps,
        )
        self.intermediate = layers.Intermediate(config.hidden_size, config.intermediate_size, config.hidden_act)
        self.output = layers.DenseAddNorm(config.intermediate_size, config.hidden_size, dropout=config.hidden_dropout_prob,
                                          layer_norm_eps=config.layer_norm_eps)
        self.chunk_size = config.chunk_size_feed_forward

    def _feed_forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return self.output(self.intermediate(hidden_states), hidden_states)

    def forward(self, hidden_states, mask=None, head_mask=None, output_attentions=False):
        attended, weights = self.attention(hidden_states, mask, head_mask, output_attentions)
        return layers.apply_chunked(self._feed_forward, self.chunk_size, attended), weights


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
    """Shared by every BERT model: config class, weight prefix, main input, the base model of heads."""

    config_class = BertConfig
    base_model_prefix = "bert"
    main_input_name = "input_ids"
    # Older checkpoints saved the position_ids buffer (all-MiniLM-L6-v2 does); it is rebuilt here.
    keys_to_ignore_on_load_unexpected = (r"position_ids$",)

    def make_base_model(self, config: BertConfig) -> "BertModel":
        return BertModel(config, add_pooling_layer=self.uses_pooler)

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
            layer_norm_eps=config.layer_norm_eps, dropout=config.hidden_dropout_prob,
        )
        self.encoder = layers.Encoder(BertLayer(config, index) for index in range(config.num_hidden_layers))
        self.pooler = layers.Pooler(config.hidden_size) if add_pooling_layer else None
        self.post_init()

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
        """The hidden state of every token, and the pooled first token when the model has a pooler.

        Args:
            input_ids: ``(batch, seq)`` token ids, as the tokenizer makes them.
            attention_mask: ``(batch, seq)``: 1 for tokens to attend to, 0 for padding (None: all 1).
            token_type_ids: ``(batch, seq)`` segment ids (None: segment 0 everywhere).
            position_ids: ``(batch, seq)`` positions (None: 0, 1, 2...).
            inputs_embeds: ``(batch, seq, hidden)`` embeddings to use instead of ``input_ids``.
            head_mask: ``(heads,)`` or ``(layers, heads)``: 1 keeps an attention head, 0 masks it out.
            output_attentions: also return each layer's attention weights (None: the config's value).
            output_hidden_states: also return the hidden states after the embeddings and each layer
                (None: the config's value).
            return_dict: return the output dataclass, or False for a tuple of its non-None fields
                (None: the config's value).
        """
        output_attentions, output_hidden_states, return_dict = self.resolve_output_flags(
            output_attentions, output_hidden_states, return_dict
        )
        embeddings = self.embeddings(input_ids, token_type_ids=token_type_ids, position_ids=position_ids,
                                     inputs_embeds=inputs_embeds)
        encoded = self.encoder(embeddings, attention_mask, head_mask, output_attentions=output_attentions,
                               output_hidden_states=output_hidden_states)
        sequence_output = encoded.last_hidden_state
        output = BaseModelOutputWithPooling(
            last_hidden_state=sequence_output,
            pooler_output=self.pooler(sequence_output) if self.pooler is not None else None,
            hidden_states=encoded.hidden_states,
            attentions=encoded.attentions,
        )
        return output if return_dict else output.to_tuple()


# Heads without the pooler ignore a base checkpoint's pooler weights, as transformers' do.
_WITHOUT_POOLER = (r"position_ids$", r"pooler\.")


class BertForMaskedLM(heads.ForMaskedLM, BertPreTrainedModel):
    """Masked language modelling: vocabulary logits for every token."""

    tied_weights = {
        "cls.predictions.decoder.weight": "bert.embeddings.word_embeddings.weight",
        "cls.predictions.decoder.bias": "cls.predictions.bias",
    }
    keys_to_ignore_on_load_unexpected = _WITHOUT_POOLER
    output_embeddings_name = "cls.predictions.decoder"

    def build_head(self, config: BertConfig) -> None:
        self.cls = BertOnlyMLMHead(config)

    def lm_logits(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return self.cls(hidden_states)

    def set_output_embeddings(self, value: nn.Linear) -> None:
        super().set_output_embeddings(value)
        self.cls.predictions.bias = value.bias  # the bias follows a resized projection


class BertForSequenceClassification(heads.ForSequenceClassification, BertPreTrainedModel):
    """Classification or regression of the whole sequence, from the pooled first token."""


class BertForMultipleChoice(heads.ForMultipleChoice, BertPreTrainedModel):
    """Scores each of ``num_choices`` sequences from its pooled first token; inputs are ``(batch, num_choices, seq)``."""


class BertForTokenClassification(heads.ForTokenClassification, BertPreTrainedModel):
    """A label for every token (named entities, part of speech)."""

    keys_to_ignore_on_load_unexpected = _WITHOUT_POOLER


class BertForQuestionAnswering(heads.ForQuestionAnswering, BertPreTrainedModel):
    """Extractive question answering: start and end logits for every token."""

    keys_to_ignore_on_load_unexpected = _WITHOUT_POOLER
