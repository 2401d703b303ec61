"""BERT in Flax (``flax.linen``): the base model (with its tanh pooler) and five task heads.

Submodule paths are the ``transformers`` tensor names (``bert.embeddings.word_embeddings``,
``bert.encoder.layer.0.attention.self.query``, ``...attention.output.dense`` / ``LayerNorm``,
``...intermediate.dense``, ``...output.dense`` / ``LayerNorm``, ``bert.pooler.dense``,
``cls.predictions.transform.dense`` / ``LayerNorm``, ``cls.predictions.bias``, ``classifier``,
``qa_outputs``), so checkpoints move between this model, transformers' PyTorch BERT and
polyformer's PyTorch and Keras BERT unchanged.

Everything generic comes from polyformer's public Flax pieces: the embeddings, the attention
block (self-attention + dense/residual/LayerNorm output), the feed-forward halves, the pooler
and the encoder stack (:mod:`polyformer.backends.flax.layers`), and the task heads
(:mod:`polyformer.backends.flax.heads`). What is written here is BERT's own: how its layer
nests those pieces, and its masked-LM head. ``FlaxBert...`` are the user-facing models
(config + module + params); ``model.module`` is the stateless ``flax.linen`` module.
"""

from __future__ import annotations

import flax.linen as nn
import jax

from polyformer.backends.flax import heads, layers
from polyformer.backends.flax.modeling import BaseModule, FlaxPreTrainedModel
from polyformer.core.numerics import pruned_heads_of_layer
from polyformer.core.outputs import BaseModelOutputWithPooling

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


def _common(module: BaseModule) -> dict:
    """The arguments every block takes from the model: weight init scale and dtype."""
    return dict(initializer_range=module.config.initializer_range, dtype=module.dtype)


# ---- building blocks ----------------------------------------------------------------
class FlaxBertLayer(BaseModule):
    """One post-norm layer: ``attention`` (``self`` + ``output``), then ``intermediate`` and ``output``."""

    index: int = 0

    def setup(self):
        c = self.config
        self.attention = layers.AttentionBlock(
            c.hidden_size, c.num_attention_heads, pruned_heads=pruned_heads_of_layer(c, self.index),
            attention_dropout=c.attention_probs_dropout_prob, dropout=c.hidden_dropout_prob,
            layer_norm_eps=c.layer_norm_eps, **_common(self),
        )
        self.intermediate = layers.Intermediate(c.hidden_size, c.intermediate_size, c.hidden_act, **_common(self))
        self.output = layers.DenseAddNorm(c.intermediate_size, c.hidden_size, dropout=c.hidden_dropout_prob,
                                          layer_norm_eps=c.layer_norm_eps, **_common(self))

    def __call__(self, hidden_states, mask=None, head_mask=None, output_attentions=False, deterministic=True):
        attended, weights = self.attention(hidden_states, mask, head_mask, output_attentions, deterministic=deterministic)

        def feed_forward(x):
            return self.output(self.intermediate(x), x, deterministic=deterministic)

        return layers.apply_chunked(feed_forward, self.config.chunk_size_feed_forward, attended), weights


class FlaxBertLMPredictionHead(BaseModule):
    """``transform`` (dense, activation, LayerNorm), then ``decoder`` onto the vocabulary, plus ``bias``.

    Tied (the default), the decoder's weight is the word embedding table and its bias is
    ``cls.predictions.bias``, so neither is stored twice; untied, the decoder has its own
    weight and bias, and ``bias`` is kept (unused) so that the checkpoint has transformers' tensors.
    """

    @nn.compact
    def __call__(self, hidden_states, embedding=None):
        c = self.config
        hidden = FlaxBertPredictionHeadTransform(c, self.dtype, name="transform")(hidden_states)
        bias = self.param("bias", layers.zeros_init(), (c.vocab_size,), self.dtype)
        decoder = layers.OutputProjection(c.vocab_size, tied=c.tie_word_embeddings, name="decoder", **_common(self))
        return decoder(hidden, embedding, bias) if c.tie_word_embeddings else decoder(hidden)


class FlaxBertPredictionHeadTransform(BaseModule):
    """``LayerNorm(activation(dense(x)))`` before the vocabulary projection."""

    @nn.compact
    def __call__(self, hidden_states):
        c = self.config
        hidden = layers.dense(c.hidden_size, c.initializer_range, self.dtype, "dense")(hidden_states)
        return layers.layer_norm(c.layer_norm_eps, self.dtype, "LayerNorm")(layers.get_activation(c.hidden_act)(hidden))


class FlaxBertOnlyMLMHead(BaseModule):
    """Holds ``predictions``: the extra level gives the ``cls.predictions.*`` names."""

    @nn.compact
    def __call__(self, sequence_output, embedding=None):
        return FlaxBertLMPredictionHead(self.config, self.dtype, name="predictions")(sequence_output, embedding)


# ---- models -------------------------------------------------------------------------
class FlaxBertModule(BaseModule):
    """The bare encoder: hidden states of every token, and (``add_pooling_layer``) the pooled first token."""

    add_pooling_layer: bool = True

    def setup(self):
        c = self.config
        self.embeddings = layers.Embeddings(
            c.vocab_size, c.hidden_size, c.max_position_embeddings, type_vocab_size=c.type_vocab_size,
            pad_token_id=c.pad_token_id, layer_norm_eps=c.layer_norm_eps, dropout=c.hidden_dropout_prob, **_common(self),
        )
        self.encoder = layers.Encoder(FlaxBertLayer(c, self.dtype, index) for index in range(c.num_hidden_layers))
        self.pooler = layers.Pooler(c.hidden_size, **_common(self)) if self.add_pooling_layer else None

    def __call__(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None,
                 inputs_embeds=None, head_mask=None, train=False, output_attentions=None,
                 output_hidden_states=None, return_dict=None):
        """The hidden state of every token, and the pooled first token when the model has a pooler.

        Args:
            input_ids: ``(batch, seq)`` token ids, as the tokenizer makes them.
            attention_mask: ``(batch, seq)``: 1 for tokens to attend to, 0 for padding (None: all 1).
            token_type_ids: ``(batch, seq)`` segment ids (None: segment 0 everywhere).
            position_ids: ``(batch, seq)`` positions (None: 0, 1, 2...).
            inputs_embeds: ``(batch, seq, hidden)`` embeddings to use instead of ``input_ids``.
            head_mask: ``(heads,)`` or ``(layers, heads)``: 1 keeps an attention head, 0 masks it out.
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
        embeddings = self.embeddings(input_ids, token_type_ids, position_ids, inputs_embeds, deterministic=not train)
        encoded = self.encoder(embeddings, attention_mask, head_mask, output_attentions, output_hidden_states,
                               deterministic=not train)
        sequence_output = encoded.last_hidden_state
        output = BaseModelOutputWithPooling(
            last_hidden_state=sequence_output,
            pooler_output=self.pooler(sequence_output) if self.pooler is not None else None,
            hidden_states=encoded.hidden_states,
            attentions=encoded.attentions,
        )
        return output if return_dict else output.to_tuple()


class FlaxBertPreTrainedModel(FlaxPreTrainedModel):
    """Shared by every BERT model: config class, weight prefix, main input, the base model of heads."""

    config_class = BertConfig
    base_model_prefix = "bert"
    main_input_name = "input_ids"
    # Older checkpoints saved the position_ids buffer (all-MiniLM-L6-v2 does): not a weight.
    keys_to_ignore_on_load_unexpected = (r"position_ids$",)

    def make_base_model(self, config: BertConfig) -> FlaxBertModule:
        return FlaxBertModule(config, self.dtype, add_pooling_layer=self.uses_pooler)


class FlaxBertModel(FlaxBertPreTrainedModel):
    """``FlaxBertModel(config, add_pooling_layer=False)`` (or in ``from_pretrained``) leaves the pooler out."""

    module_class = FlaxBertModule
    module_options = {"add_pooling_layer": True}


# Heads without the pooler ignore a base checkpoint's pooler weights, as transformers' do.
_WITHOUT_POOLER = (r"position_ids$", r"pooler\.")


class FlaxBertForMaskedLM(heads.ForMaskedLM, FlaxBertPreTrainedModel):
    """Masked language modelling: vocabulary logits for every token."""

    # transformers v5 ties both; a checkpoint holding them (older versions) loads, and saves leave them out.
    tied_weights = {
        "cls.predictions.decoder.weight": "bert.embeddings.word_embeddings.weight",
        "cls.predictions.decoder.bias": "cls.predictions.bias",
    }
    keys_to_ignore_on_load_unexpected = _WITHOUT_POOLER
    output_embeddings_name = "cls.predictions.decoder"

    def build_head(self, config: BertConfig) -> None:
        self.cls = FlaxBertOnlyMLMHead(config, self.dtype)

    def lm_logits(self, hidden_states: jax.Array) -> jax.Array:
        return self.cls(hidden_states, self.tied_input_embeddings())


class FlaxBertForSequenceClassification(heads.ForSequenceClassification, FlaxBertPreTrainedModel):
    """Classification or regression of the whole sequence, from the pooled first token."""


class FlaxBertForMultipleChoice(heads.ForMultipleChoice, FlaxBertPreTrainedModel):
    """Scores each of ``num_choices`` sequences from its pooled first token; inputs are ``(batch, num_choices, seq)``."""


class FlaxBertForTokenClassification(heads.ForTokenClassification, FlaxBertPreTrainedModel):
    """A label for every token (named entities, part of speech)."""

    keys_to_ignore_on_load_unexpected = _WITHOUT_POOLER


class FlaxBertForQuestionAnswering(heads.ForQuestionAnswering, FlaxBertPreTrainedModel):
    """Extractive question answering: start and end logits for every token."""

    keys_to_ignore_on_load_unexpected = _WITHOUT_POOLER


# The heads' linen modules (made from the classes above), under their public names.
FlaxBertForMaskedLMModule = FlaxBertForMaskedLM.module_class
FlaxBertForSequenceClassificationModule = FlaxBertForSequenceClassification.module_class
FlaxBertForMultipleChoiceModule = FlaxBertForMultipleChoice.module_class
FlaxBertForTokenClassificationModule = FlaxBertForTokenClassification.module_class
FlaxBertForQuestionAnsweringModule = FlaxBertForQuestionAnswering.module_class
