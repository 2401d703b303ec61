"""DistilBERT in Keras 3 (on TensorFlow): the base model and its five task heads.

The same computation and weight names as ``transformers``' PyTorch DistilBERT: each layer's
attributes are named as the PyTorch modules are (``embeddings``,
``transformer.layer.N.attention.q_lin``, ``sa_layer_norm``, ``ffn.lin1``...), which is all it
takes for checkpoints to load and save in the Hugging Face layout. Everything generic comes from
the backend: the embeddings, the post-norm layer and the encoder stack
(:mod:`polyformer.backends.keras.layers`) and the task heads (:mod:`polyformer.backends.keras.heads`).
What is written here is DistilBERT's own: how its layers are named, its classifier pooling and
its masked-LM head.
"""

from __future__ import annotations

from ...backends.keras import heads, layers
from ...backends.keras.modeling import TFPreTrainedModel
from ...core.numerics import pruned_heads_of_layer
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

#: The attribute names of a DistilBERT layer in transformers' checkpoints.
LAYER_NAMES = layers.LayerNames(
    attention="attention", projections=("q_lin", "k_lin", "v_lin", "out_lin"), attention_norm="sa_layer_norm",
    feed_forward="ffn", feed_forward_linears=("lin1", "lin2"), output_norm="output_layer_norm",
)


class TFDistilBertPreTrainedModel(TFPreTrainedModel):
    """Shared by every DistilBERT model: config class, weight prefix, main input, the base model of heads."""

    config_class = DistilBertConfig
    base_model_prefix = "distilbert"
    main_input_name = "input_ids"
    # Checkpoints from older transformers versions saved position_ids; positions are computed here.
    keys_to_ignore_on_load_unexpected = (r"position_ids$",)

    def make_base_model(self, config: DistilBertConfig) -> "TFDistilBertModel":
        return TFDistilBertModel(config, dtype=self.dtype_policy)


class TFDistilBertModel(TFDistilBertPreTrainedModel):
    """The bare encoder: hidden states of every token (post-norm layers, no pooler)."""

    def __init__(self, config: DistilBertConfig, **kwargs) -> None:
        super().__init__(config, **kwargs)
        options = self.layer_options
        self.embeddings = layers.Embeddings(
            config.vocab_size, config.dim, config.max_position_embeddings, pad_token_id=config.pad_token_id,
            dropout=config.dropout, sinusoidal_positions=config.sinusoidal_pos_embds, **options,
        )
        self.transformer = layers.Encoder([
            layers.TransformerLayer(
                config.dim, config.n_heads, config.hidden_dim, config.activation,
                pruned_heads=pruned_heads_of_layer(config, index), dropout=config.dropout,
                attention_dropout=config.attention_dropout, chunk_size=config.chunk_size_feed_forward,
                names=LAYER_NAMES, **options,
            )
            for index in range(config.n_layers)
        ], **options)
        self.post_init()

    def call(self, input_ids=None, attention_mask=None, head_mask=None, inputs_embeds=None, position_ids=None,
             output_attentions=None, output_hidden_states=None, return_dict=None):
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
        self.pre_classifier = layers.Linear(config.dim, config.dim, **self.layer_options)

    def pooled_output(self, base_output, inputs):
        return layers.ops.relu(self.pre_classifier(base_output.last_hidden_state[:, 0]))

    def classifier_dropout(self, config: DistilBertConfig) -> float:
        return config.seq_classif_dropout


class TFDistilBertForMaskedLM(heads.ForMaskedLM, TFDistilBertPreTrainedModel):
    """Masked language modelling: transform, activation, LayerNorm, then the vocabulary projection."""

    tied_weights = {"vocab_projector.weight": "distilbert.embeddings.word_embeddings.weight"}
    output_embeddings_name = "vocab_projector"

    def build_head(self, config: DistilBertConfig) -> None:
        self.activation = layers.get_activation(config.activation)
        self.vocab_transform = layers.Linear(config.dim, config.dim, **self.layer_options)
        self.vocab_layer_norm = layers.LayerNorm(config.dim, eps=1e-12, dtype=self.dtype_policy)
        self.vocab_projector = layers.OutputProjection(config.vocab_size, config.dim,
                                                       embedding=self.tied_input_embeddings(), **self.layer_options)

    def lm_logits(self, hidden_states):
        return self.vocab_projector(self.vocab_layer_norm(self.activation(self.vocab_transform(hidden_states))))


class TFDistilBertForSequenceClassification(_ClassifierPooling, heads.ForSequenceClassification,
                                            TFDistilBertPreTrainedModel):
    """Classification or regression of the whole sequence, from its first token."""


class TFDistilBertForMultipleChoice(_ClassifierPooling, heads.ForMultipleChoice, TFDistilBertPreTrainedModel):
    """Scores each of ``num_choices`` sequences; inputs are ``(batch, num_choices, seq)``."""


class TFDistilBertForTokenClassification(heads.ForTokenClassification, TFDistilBertPreTrainedModel):
    """A label for every token (named entities, part of speech)."""

    def classifier_dropout(self, config: DistilBertConfig) -> float:
        return config.dropout


class TFDistilBertForQuestionAnswering(heads.ForQuestionAnswering, TFDistilBertPreTrainedModel):
    """Extractive question answering: start and end logits for every token."""

    def qa_dropout(self, config: DistilBertConfig) -> float:
        return config.qa_dropout
