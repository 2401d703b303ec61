"""BERT in Keras 3 (on TensorFlow): the base model (with its tanh pooler) and five task heads.

Attribute paths are the ``transformers`` tensor names (``bert.embeddings.word_embeddings.weight``,
``bert.encoder.layer.0.attention.self.query.weight``, ``...attention.output.dense``,
``...intermediate.dense``, ``...output.LayerNorm``, ``bert.pooler.dense``,
``cls.predictions.transform.dense``, ``cls.predictions.bias``, ``classifier``, ``qa_outputs``),
so checkpoints move between the two libraries, and to polyformer's PyTorch and Flax BERT, unchanged.

Everything generic comes from polyformer's public Keras pieces: the embeddings, the attention
block, the feed-forward halves, the pooler and the encoder stack
(:mod:`polyformer.backends.keras.layers`), and the task heads
(:mod:`polyformer.backends.keras.heads`). What is written here is BERT's own: how its layer
nests those pieces, and its masked-LM head.
"""

from __future__ import annotations

from polyformer.backends.keras import heads, layers
from polyformer.backends.keras.modeling import TFPreTrainedModel
from polyformer.core.numerics import pruned_heads_of_layer
from polyformer.core.outputs import BaseModelOutputWithPooling

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


# ---- building blocks ----------------------------------------------------------------
class TFBertLayer(layers.Block):
    """One post-norm layer: ``attention`` (``self`` + ``output``), then ``intermediate`` and ``output``."""

    def __init__(self, config: BertConfig, index: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.attention = layers.AttentionBlock(
            config.hidden_size, config.num_attention_heads, pruned_heads=pruned_heads_of_layer(config, index),
            attention_dropout=config.attention_probs_dropout_prob, dropout=config.hidden_dropout_prob,
            layer_norm_eps=config.layer_norm_eps, **self.options,
        )
        self.intermediate = layers.Intermediate(config.hidden_size, config.intermediate_size, config.hidden_act,
                                                **self.options)
        layers.set_layer(self, "output", layers.DenseAddNorm(
            config.intermediate_size, config.hidden_size, dropout=config.hidden_dropout_prob,
            layer_norm_eps=config.layer_norm_eps, **self.options,
        ))
        self.chunk_size = config.chunk_size_feed_forward

    def _feed_forward(self, hidden_states):
        return self.output_(self.intermediate(hidden_states), hidden_states)

    def call(self, hidden_states, mask=None, head_mask=None, output_attentions=False):
        attended, weights = self.attention(hidden_states, mask=mask, head_mask=head_mask,
                                           output_attentions=output_attentions)
        return layers.apply_chunked(self._feed_forward, self.chunk_size, attended), weights


class TFBertPredictionHeadTransform(layers.Block):
    """``LayerNorm(activation(dense(x)))`` before the vocabulary projection."""

    def __init__(self, config: BertConfig, **kwargs) -> None:
        super().__init__(**kwargs)
        self.dense = layers.Linear(config.hidden_size, config.hidden_size, **self.options)
        self.activation = layers.get_activation(config.hidden_act)
        self.LayerNorm = layers.LayerNorm(config.hidden_size, eps=config.layer_norm_eps, dtype=self.dtype_policy)

    def call(self, hidden_states):
        return self.LayerNorm(self.activation(self.dense(hidden_states)))


class TFBertLMPredictionHead(layers.Block):
    """Transform, then ``decoder`` onto the vocabulary.

    Tied (the default), ``decoder``'s weight is the word embedding table and its bias is
    ``bias``, as in ``transformers`` (both saved once, under the source names). With
    ``tie_word_embeddings=False`` the decoder has its own weight and bias and ``bias`` is unused
    (not trainable, so that ``fit`` does not warn about its missing gradient).
    """

    def __init__(self, config: BertConfig, word_embeddings: layers.Embedding | None, **kwargs) -> None:
        super().__init__(**kwargs)
        tied = word_embeddings is not None
        self.transform = TFBertPredictionHeadTransform(config, **self.options)
        self.bias = layers.Parameter((config.vocab_size,), trainable=tied, dtype=self.dtype_policy)
        self.decoder = layers.OutputProjection(config.vocab_size, config.hidden_size, embedding=word_embeddings,
                                               bias=self.bias if tied else None, **self.options)

    def call(self, hidden_states):
        return self.decoder(self.transform(hidden_states))


class TFBertOnlyMLMHead(layers.Block):
    """Holds ``predictions``: the extra level gives the ``cls.predictions.*`` names."""

    def __init__(self, config: BertConfig, word_embeddings: layers.Embedding | None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.predictions = TFBertLMPredictionHead(config, word_embeddings, **self.options)

    def call(self, sequence_output):
        return self.predictions(sequence_output)


# ---- models -------------------------------------------------------------------------
class TFBertPreTrainedModel(TFPreTrainedModel):
    """Shared by every BERT model: config class, weight prefix, main input, the base model of heads."""

    config_class = BertConfig
    base_model_prefix = "bert"
    main_input_name = "input_ids"
    # Older checkpoints saved the position_ids buffer (all-MiniLM-L6-v2 does); positions are computed here.
    keys_to_ignore_on_load_unexpected = (r"position_ids$",)

    def make_base_model(self, config: BertConfig) -> "TFBertModel":
        return TFBertModel(config, add_pooling_layer=self.uses_pooler, dtype=self.dtype_policy)


class TFBertModel(TFBertPreTrainedModel):
    """The bare encoder: hidden states of every token, and the pooled first token.

    ``add_pooling_layer=False`` leaves the pooler out (the masked-LM, token-classification and
    question-answering heads do, as in ``transformers``); ``from_pretrained`` takes it too.
    """

    module_options = {"add_pooling_layer": True}

    def __init__(self, config: BertConfig, add_pooling_layer: bool = True, **kwargs) -> None:
        super().__init__(config, **kwargs)
        options = self.layer_options
        self.embeddings = layers.Embeddings(
            config.vocab_size, config.hidden_size, config.max_position_embeddings,
            type_vocab_size=config.type_vocab_size, pad_token_id=config.pad_token_id,
            layer_norm_eps=config.layer_norm_eps, dropout=config.hidden_dropout_prob, **options,
        )
        self.encoder = layers.Encoder([TFBertLayer(config, index, **options)
                                       for index in range(config.num_hidden_layers)], **options)
        self.pooler = layers.Pooler(config.hidden_size, **options) if add_pooling_layer else None
        self.post_init()

    def call(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None, inputs_embeds=None,
             head_mask=None, output_attentions=None, output_hidden_states=None, return_dict=None):
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


class TFBertForMaskedLM(heads.ForMaskedLM, TFBertPreTrainedModel):
    """Masked language modelling: vocabulary logits for every token."""

    tied_weights = {
        "cls.predictions.decoder.weight": "bert.embeddings.word_embeddings.weight",
        "cls.predictions.decoder.bias": "cls.predictions.bias",
    }
    keys_to_ignore_on_load_unexpected = _WITHOUT_POOLER
    output_embeddings_name = "cls.predictions.decoder"

    def build_head(self, config: BertConfig) -> None:
        self.cls = TFBertOnlyMLMHead(config, self.tied_input_embeddings(), **self.layer_options)

    def lm_logits(self, hidden_states):
        return self.cls(hidden_states)

    def set_output_embeddings(self, value: layers.OutputProjection) -> None:
        super().set_output_embeddings(value)
        layers.set_layer(self.cls.predictions, "bias", value.bias_parameter)  # the bias follows a resized projection


class TFBertForSequenceClassification(heads.ForSequenceClassification, TFBertPreTrainedModel):
    """Classification or regression of the whole sequence, from the pooled first token."""


class TFBertForMultipleChoice(heads.ForMultipleChoice, TFBertPreTrainedModel):
    """Scores each of ``num_choices`` sequences from its pooled first token; inputs are ``(batch, num_choices, seq)``."""


class TFBertForTokenClassification(heads.ForTokenClassification, TFBertPreTrainedModel):
    """A label for every token (named entities, part of speech)."""

    keys_to_ignore_on_load_unexpected = _WITHOUT_POOLER


class TFBertForQuestionAnswering(heads.ForQuestionAnswering, TFBertPreTrainedModel):
    """Extractive question answering: start and end logits for every token."""

    keys_to_ignore_on_load_unexpected = _WITHOUT_POOLER
