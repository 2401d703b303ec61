"""Task heads written once for every Keras architecture.

The same classes, hooks and behaviour as the PyTorch backend's
(:mod:`polyformer.backends.torch.heads`; ``tests/test_backend_api.py`` compares them). A head
model holds the architecture's base model (at ``base_model_prefix``) and a few task layers.
What every head does the same way lives in :class:`HeadModel`: taking the inputs (one dict,
positionally in the base model's order, or by name), resolving the output switches from the
config, running the base model, and assembling the output (a dataclass, or a tuple with
``return_dict=False``). Each task class below adds its layers, its logits and its loss.

An architecture writes one small class per head, naming its base model and, where it
differs from the default, how it pools or which dropout rate it uses::

    class TFMyArchForSequenceClassification(heads.ForSequenceClassification, TFMyArchPreTrainedModel):
        '''Classification of the whole sequence from its first token.'''

Task layers are built in :meth:`HeadModel.build_head` with the model's
:attr:`~polyformer.backends.keras.modeling.TFPreTrainedModel.layer_options` (dtype policy and
initializer range), since Keras makes each weight as its layer is built.
"""

from __future__ import annotations

import inspect
from typing import Any

from ...core.outputs import (
    CausalLMOutput,
    ImageClassifierOutput,
    MaskedImageModelingOutput,
    MaskedLMOutput,
    ModelOutput,
    MultipleChoiceModelOutput,
    QuestionAnsweringModelOutput,
    SequenceClassifierOutput,
    TokenClassifierOutput,
    XVectorOutput,
)
from . import layers, losses
from .layers import keras, ops
from .modeling import TFPreTrainedModel

__all__ = [
    "HeadModel",
    "ForSequenceClassification",
    "ForTokenClassification",
    "ForQuestionAnswering",
    "ForMultipleChoice",
    "ForMaskedLM",
    "ForImageClassification",
    "ForMaskedImageModeling",
    "AudioHead",
    "ForCTC",
    "ForAudioClassification",
    "ForAudioFrameClassification",
    "ForXVector",
]


class HeadModel(TFPreTrainedModel):
    """A base model plus task layers, with the plumbing every head shares.

    Subclasses set :attr:`output_class` and :attr:`loss_input_names`, build their layers in
    :meth:`build_head` and compute their outputs in :meth:`head_outputs`. The architecture's
    ``TF...PreTrainedModel`` provides :meth:`make_base_model`.
    """

    #: The output dataclass of the task.
    output_class: type[ModelOutput] = ModelOutput
    #: Keyword arguments that feed the loss only (they do not go to the base model).
    loss_input_names: tuple[str, ...] = ("labels",)
    #: Whether the head reads the base model's pooled output (architectures with an optional pooler build it then).
    uses_pooler: bool = False

    def __init__(self, config: Any, **kwargs: Any) -> None:
        super().__init__(config, **kwargs)
        # make_base_model(config) comes from the architecture's PreTrainedModel (after this class in the MRO).
        setattr(self, self.base_model_prefix, self.make_base_model(config))
        self.build_head(config)
        self.post_init()

    # ---- what a task (or an architecture, in a class before the task's) provides ----------
    def build_head(self, config: Any) -> None:
        """Create the task layers (attributes named as the architecture's checkpoints name them)."""
        raise NotImplementedError

    def head_outputs(self, base_output: ModelOutput, inputs: dict[str, Any], **loss_inputs: Any) -> dict[str, Any]:
        """The task's output fields (``logits``..., and ``loss`` when the loss inputs are given)."""
        raise NotImplementedError

    def base_model_inputs(self, inputs: dict[str, Any]) -> dict[str, Any]:
        """The inputs handed to the base model (multiple choice reshapes them)."""
        return inputs

    def needs_hidden_states(self) -> bool:
        """Whether the head reads every layer's hidden states (they are returned only when asked for)."""
        return False

    # ---- the shared plumbing -----------------------------------------------------------------
    def call(self, *args: Any, output_attentions: bool | None = None, output_hidden_states: bool | None = None,
             return_dict: bool | None = None, training: bool | None = None, **kwargs: Any):
        """Run the base model and the task layers: the same call for every head of every architecture.

        Args:
            *args: the base model's inputs in its order (``input_ids``, ``attention_mask``... or
                ``pixel_values``...).
            output_attentions: also return each layer's attention weights (None: the config's value).
            output_hidden_states: also return the hidden states after the embeddings and each layer
                (None: the config's value).
            return_dict: return the output dataclass, or False for a tuple of its non-None fields
                (None: the config's value).
            training: named so that ``fit`` passes ``training=True`` (Keras passes it only to a
                ``call`` that takes it); Keras then hands it to every layer inside (dropout,
                LayerDrop, SpecAugment...) through its call context.
            **kwargs: the base model's inputs by name, and the task's loss inputs
                (``labels``; ``start_positions`` / ``end_positions`` for question answering):
                given them, the output has a ``loss``.

        Returns:
            The task's output (``logits``, ``loss`` when labels were given, and the hidden states
            and attentions asked for), or its tuple with ``return_dict=False``.
        """
        loss_inputs = {name: kwargs.pop(name) for name in self.loss_input_names if name in kwargs}
        inputs = bind_inputs(self.base_model, args, kwargs)
        output_attentions, output_hidden_states, return_dict = self.resolve_output_flags(
            output_attentions, output_hidden_states, return_dict
        )
        base_output = self.base_model(
            **self.base_model_inputs(inputs),
            output_attentions=output_attentions,
            output_hidden_states=output_hidden_states or self.needs_hidden_states(),
            return_dict=True,
        )
        fields = self.head_outputs(base_output, inputs, **loss_inputs)
        # Hidden states the head read without being asked for them are not returned.
        return assemble_output(self.output_class, fields, base_output, return_dict,
                               hidden_states=output_hidden_states)


def bind_inputs(base_model: keras.layers.Layer, args: tuple, kwargs: dict[str, Any]) -> dict[str, Any]:
    """Name the positional ``args`` after the base model's ``call`` parameters; refuse unknown names."""
    signature = _input_signature(type(base_model))
    try:
        bound = signature.bind_partial(*args, **kwargs)
    except TypeError as exc:
        names = ", ".join(signature.parameters)
        raise TypeError(f"{type(base_model).__name__} inputs: {exc}; it takes {names}") from None
    return dict(bound.arguments)


_SIGNATURES: dict[type, inspect.Signature] = {}
_FLAGS = ("output_attentions", "output_hidden_states", "return_dict", "training")


def _input_signature(cls: type) -> inspect.Signature:
    """The input parameters of ``cls.call`` (self and the output switches left out), cached per class."""
    signature = _SIGNATURES.get(cls)
    if signature is None:
        parameters = list(inspect.signature(cls.call).parameters.values())[1:]
        signature = inspect.Signature([p for p in parameters if p.name not in _FLAGS])
        _SIGNATURES[cls] = signature
    return signature


def assemble_output(output_class: type[ModelOutput], fields: dict[str, Any], base_output: ModelOutput,
                    return_dict: bool, hidden_states: bool = True):
    """The head's output: its own ``fields`` plus the base model's hidden states (unless
    ``hidden_states=False``) and attentions."""
    names = output_class.__dataclass_fields__
    carried = {name: getattr(base_output, name, None) for name in ("hidden_states", "attentions") if name in names}
    if not hidden_states:
        carried.pop("hidden_states", None)
    output = output_class(**fields, **carried)
    return output if return_dict else output.to_tuple()


def _first_token(base_output: ModelOutput):
    return base_output.last_hidden_state[:, 0]


class ForSequenceClassification(HeadModel):
    """One label (or score) per sequence: ``classifier(dropout(pooled))``, loss by ``problem_type``.

    Hooks: :meth:`build_pooling` / :meth:`pooled_output` (default: the base model's
    ``pooler_output`` when it has one, else the first position) and :meth:`classifier_dropout`
    (default: ``config.classifier_dropout``, else ``config.hidden_dropout_prob``, else 0).
    """

    output_class = SequenceClassifierOutput
    uses_pooler = True

    def build_head(self, config: Any) -> None:
        self.build_pooling(config)
        self.dropout = keras.layers.Dropout(self.classifier_dropout(config), dtype=self.dtype_policy)
        self.classifier = layers.Linear(config.hidden_size, self.num_outputs(config), **self.layer_options)

    def build_pooling(self, config: Any) -> None:
        """Layers between the base model and the classifier (none by default)."""

    def pooled_output(self, base_output: ModelOutput, inputs: dict[str, Any]):
        """``(batch, hidden)`` features the classifier reads."""
        pooled = getattr(base_output, "pooler_output", None)
        return pooled if pooled is not None else _first_token(base_output)

    def classifier_dropout(self, config: Any) -> float:
        rate = getattr(config, "classifier_dropout", None)
        return rate if rate is not None else getattr(config, "hidden_dropout_prob", 0.0)

    def num_outputs(self, config: Any) -> int:
        return config.num_labels

    def logits(self, base_output: ModelOutput, inputs: dict[str, Any]):
        return self.classifier(self.dropout(self.pooled_output(base_output, inputs)))

    def head_outputs(self, base_output, inputs, labels=None):
        logits = self.logits(base_output, inputs)
        loss = losses.sequence_classification_loss(logits, labels, self.config) if labels is not None else None
        return {"loss": loss, "logits": logits}


class ForMultipleChoice(ForSequenceClassification):
    """Scores each of ``num_choices`` inputs ``(batch, num_choices, ...)``: one classifier output per choice.

    The choices are run through the base model as ``batch * num_choices`` examples; pooling
    and dropout are the sequence classifier's (same hooks).
    """

    output_class = MultipleChoiceModelOutput

    def num_outputs(self, config: Any) -> int:
        return 1

    def base_model_inputs(self, inputs: dict[str, Any]) -> dict[str, Any]:
        layers.check_choice_inputs(self.main_input_name, inputs)
        return {name: flatten_choices(name, value) for name, value in inputs.items()}

    def head_outputs(self, base_output, inputs, labels=None):
        num_choices = _num_choices(inputs, self.main_input_name)
        logits = ops.reshape(self.logits(base_output, inputs), (-1, num_choices))
        loss = losses.multiple_choice_loss(logits, labels) if labels is not None else None
        return {"loss": loss, "logits": logits}


#: Inputs of a multiple-choice head with more than one trailing axis per example.
CHOICE_INNER_RANK = {"inputs_embeds": 2}
#: Inputs that are not per example, so not flattened (a head mask is per layer and head).
NOT_PER_CHOICE = ("head_mask",)


def flatten_choices(name: str, value: Any) -> Any:
    """``(batch, choices, *inner)`` -> ``(batch * choices, *inner)``; shared ``(1, seq)`` position ids stay.

    Sizes known while tracing stay static, so the layers after it keep their shapes inside ``tf.function``.
    """
    if value is None or name in NOT_PER_CHOICE or not hasattr(value, "shape"):
        return value
    inner = CHOICE_INNER_RANK.get(name, 1)
    rank = len(value.shape)
    sizes = [value.shape[axis] if value.shape[axis] is not None else ops.shape(value)[axis]
             for axis in range(rank - inner, rank)]
    return ops.reshape(value, [-1, *sizes])


def _num_choices(inputs: dict[str, Any], main_input_name: str):
    for name in (main_input_name, "inputs_embeds"):
        value = inputs.get(name)
        if value is not None and hasattr(value, "shape"):
            return value.shape[1] if value.shape[1] is not None else ops.shape(value)[1]
    raise ValueError(f"a multiple-choice model needs {main_input_name} or inputs_embeds of shape (batch, num_choices, ...)")


class ForTokenClassification(HeadModel):
    """One label per position: ``classifier(dropout(last_hidden_state))``; labels of -100 are ignored.

    Hook: :meth:`classifier_dropout` (as the sequence classifier's).
    """

    output_class = TokenClassifierOutput

    def build_head(self, config: Any) -> None:
        self.dropout = keras.layers.Dropout(self.classifier_dropout(config), dtype=self.dtype_policy)
        self.classifier = layers.Linear(config.hidden_size, config.num_labels, **self.layer_options)

    classifier_dropout = ForSequenceClassification.classifier_dropout

    def head_outputs(self, base_output, inputs, labels=None):
        logits = self.classifier(self.dropout(base_output.last_hidden_state))
        loss = losses.token_classification_loss(logits, labels) if labels is not None else None
        return {"loss": loss, "logits": logits}


class ForQuestionAnswering(HeadModel):
    """Span extraction: ``qa_outputs`` gives start and end logits per position.

    Hook: :meth:`qa_dropout` (default 0: no dropout before ``qa_outputs``).
    """

    output_class = QuestionAnsweringModelOutput
    loss_input_names = ("start_positions", "end_positions")

    def build_head(self, config: Any) -> None:
        if config.num_labels != 2:
            raise ValueError(
                f"{type(self).__name__} needs config.num_labels == 2 (start and end logits), got {config.num_labels}"
            )
        self.dropout = keras.layers.Dropout(self.qa_dropout(config), dtype=self.dtype_policy)
        self.qa_outputs = layers.Linear(config.hidden_size, config.num_labels, **self.layer_options)

    def qa_dropout(self, config: Any) -> float:
        return 0.0

    def head_outputs(self, base_output, inputs, start_positions=None, end_positions=None):
        logits = self.qa_outputs(self.dropout(base_output.last_hidden_state))
        start_logits, end_logits = logits[..., 0], logits[..., 1]
        loss = None
        if start_positions is not None and end_positions is not None:
            loss = losses.question_answering_loss(start_logits, end_logits, start_positions, end_positions)
        return {"loss": loss, "start_logits": start_logits, "end_logits": end_logits}


class ForMaskedLM(HeadModel):
    """Vocabulary logits per position; cross-entropy at the positions whose label is not -100.

    The architecture writes :meth:`build_head` (its transform and projection, an
    :class:`~polyformer.backends.keras.layers.OutputProjection` built on the word embeddings
    when ``config.tie_word_embeddings``), :meth:`lm_logits` and names the projection in
    :attr:`output_embeddings_name`; it lists the tie in ``tied_weights``.
    """

    output_class = MaskedLMOutput
    #: Attribute path of the vocabulary projection (``"cls.predictions.decoder"``).
    output_embeddings_name: str = ""

    def lm_logits(self, hidden_states):
        raise NotImplementedError

    def head_outputs(self, base_output, inputs, labels=None):
        logits = self.lm_logits(base_output.last_hidden_state)
        loss = losses.masked_lm_loss(logits, labels) if labels is not None else None
        return {"loss": loss, "logits": logits}

    def tied_input_embeddings(self) -> layers.Embedding | None:
        """The table the vocabulary projection is built on: the word embeddings when tied, else None."""
        return self.get_input_embeddings() if self.config.tie_word_embeddings else None

    def get_output_embeddings(self) -> layers.OutputProjection:
        layer = self
        for name in self.output_embeddings_name.split("."):
            layer = getattr(layer, layers.attribute_name(name))
        return layer

    def set_output_embeddings(self, value: layers.OutputProjection) -> None:
        parent_path, _, name = self.output_embeddings_name.rpartition(".")
        parent = self
        for part in parent_path.split(".") if parent_path else ():
            parent = getattr(parent, layers.attribute_name(part))
        layers.set_layer(parent, name, value)


class ForImageClassification(HeadModel):
    """One label (or score) per image: ``classifier(pooled)``, loss by ``problem_type``.

    Hook: :meth:`pooled_output` (default: the first position, e.g. a class token). With
    ``num_labels == 0`` the classifier is the identity and the logits are the features.
    """

    output_class = ImageClassifierOutput

    def build_head(self, config: Any) -> None:
        self.classifier = (layers.Linear(config.hidden_size, config.num_labels, **self.layer_options)
                           if config.num_labels > 0 else keras.layers.Identity(dtype=self.dtype_policy))

    def pooled_output(self, base_output: ModelOutput, inputs: dict[str, Any]):
        return _first_token(base_output)

    def head_outputs(self, base_output, inputs, labels=None):
        logits = self.classifier(self.pooled_output(base_output, inputs))
        loss = losses.sequence_classification_loss(logits, labels, self.config) if labels is not None else None
        return {"loss": loss, "logits": logits}


class ForMaskedImageModeling(HeadModel):
    """Reconstructs the pixels of masked patches (SimMIM): L1 loss over the masked patches.

    The architecture writes :meth:`build_head` (its decoder) and :meth:`reconstruct`; the loss
    needs ``bool_masked_pos`` ``(batch, num_patches)`` among the inputs, and
    ``config.patch_size`` equal to ``config.encoder_stride`` so the reconstruction has the
    input's size.
    """

    output_class = MaskedImageModelingOutput
    loss_input_names = ()

    def reconstruct(self, base_output: ModelOutput, inputs: dict[str, Any]):
        raise NotImplementedError

    def head_outputs(self, base_output, inputs):
        mask = inputs.get("bool_masked_pos")
        if mask is not None and getattr(self.config, "encoder_stride", None) not in (None, self.config.patch_size):
            raise ValueError(
                f"bool_masked_pos needs config.patch_size == config.encoder_stride, so that the reconstruction has the "
                f"input's size; got patch_size={self.config.patch_size}, encoder_stride={self.config.encoder_stride}"
            )
        reconstruction = self.reconstruct(base_output, inputs)
        loss = None
        if mask is not None:
            loss = losses.masked_image_modeling_loss(inputs[self.main_input_name], reconstruction, mask,
                                                     self.config.patch_size)
        return {"loss": loss, "reconstruction": reconstruction}


# ---- speech -----------------------------------------------------------------------------------
class AudioHead(HeadModel):
    """What the speech heads share: the frames each example really has, and the weighted layer sum.

    Hooks: :meth:`output_lengths` (default: the base model's ``output_lengths`` of the waveform
    lengths the ``attention_mask`` gives, or of the whole input without one), and
    :meth:`uses_weighted_layer_sum` (default ``config.use_weighted_layer_sum``): a head that
    calls :meth:`build_layer_weights` then reads a learned softmax-weighted sum of every
    layer's hidden states (``layer_weights``, one per layer and one for the input) through
    :meth:`head_hidden_states`, instead of the last layer's.
    """

    def output_lengths(self, inputs: dict[str, Any]):
        """``(batch,)`` number of output frames of each example (int32)."""
        mask, values = inputs.get("attention_mask"), inputs[self.main_input_name]
        if mask is not None:
            lengths = ops.sum(ops.cast(mask, "int32"), axis=-1)
        else:
            batch, samples = ops.shape(values)
            lengths = ops.full((batch,), samples, dtype="int32")
        return self.base_model.output_lengths(lengths)

    def frame_mask(self, inputs: dict[str, Any], frames: int):
        """``(batch, frames)`` True on real frames, or None when the inputs have no ``attention_mask``."""
        if inputs.get("attention_mask") is None:
            return None
        return ops.arange(frames, dtype="int32")[None, :] < self.output_lengths(inputs)[:, None]

    def uses_weighted_layer_sum(self, config: Any) -> bool:
        return bool(getattr(config, "use_weighted_layer_sum", False))

    def build_layer_weights(self, config: Any) -> None:
        """``layer_weights``: one weight per hidden state (the input and each layer), all equal at first."""
        if self.uses_weighted_layer_sum(config):
            count = config.num_hidden_layers + 1
            self.layer_weights = layers.Parameter((count,), initializer=layers.constant_initializer(1.0 / count),
                                                  dtype=self.dtype_policy)

    def needs_hidden_states(self) -> bool:
        return self.uses_weighted_layer_sum(self.config)

    def head_hidden_states(self, base_output: ModelOutput):
        """The frames the head reads: the weighted layer sum, or the last hidden state."""
        if not self.uses_weighted_layer_sum(self.config):
            return base_output.last_hidden_state
        stacked = ops.stack(base_output.hidden_states, axis=1)
        weights = ops.softmax(self.layer_weights.variable, axis=-1)
        return ops.sum(stacked * ops.reshape(weights, (-1, 1, 1)), axis=1)


class ForCTC(AudioHead):
    """Speech recognition with CTC: vocabulary logits for every output frame, ``lm_head(dropout(frames))``.

    The loss (given ``labels`` ``(batch, target_length)`` padded with -100) is CTC with
    ``config.pad_token_id`` as the blank, ``config.ctc_loss_reduction`` and
    ``config.ctc_zero_infinity``; each example's frames are :meth:`output_lengths`. Hooks:
    :meth:`lm_head_dropout` (default ``config.final_dropout``) and :meth:`lm_head_input_size`
    (default ``config.hidden_size``).
    """

    output_class = CausalLMOutput

    def build_head(self, config: Any) -> None:
        if getattr(config, "vocab_size", None) is None:
            raise ValueError(
                f"{type(self).__name__} needs config.vocab_size, the number of output tokens of its language model "
                f"head: set it in the config, or pass it to from_pretrained(..., vocab_size=...)"
            )
        self.dropout = keras.layers.Dropout(self.lm_head_dropout(config), dtype=self.dtype_policy)
        self.lm_head = layers.Linear(self.lm_head_input_size(config), config.vocab_size, **self.layer_options)

    def lm_head_dropout(self, config: Any) -> float:
        return getattr(config, "final_dropout", 0.0)

    def lm_head_input_size(self, config: Any) -> int:
        return config.hidden_size

    def head_outputs(self, base_output, inputs, labels=None):
        logits = self.lm_head(self.dropout(base_output.last_hidden_state))
        loss = None
        if labels is not None:
            config = self.config
            if config.pad_token_id is None:
                raise ValueError(f"{type(self).__name__} needs config.pad_token_id for its loss: it is the CTC blank")
            loss = losses.ctc_loss(logits, labels, self.output_lengths(inputs), blank=config.pad_token_id,
                                   reduction=getattr(config, "ctc_loss_reduction", "mean"),
                                   zero_infinity=getattr(config, "ctc_zero_infinity", False))
        return {"loss": loss, "logits": logits}


class ForAudioClassification(AudioHead):
    """One label per clip: frames projected (``projector``), averaged over the real frames, then ``classifier``.

    Reads the weighted layer sum when the config asks for it. The loss is the cross-entropy
    of integer labels ``(batch,)``, as transformers' speech classifiers compute it.
    """

    output_class = SequenceClassifierOutput

    def build_head(self, config: Any) -> None:
        self.build_layer_weights(config)
        self.projector = layers.Linear(config.hidden_size, config.classifier_proj_size, **self.layer_options)
        self.classifier = layers.Linear(config.classifier_proj_size, config.num_labels, **self.layer_options)

    def head_outputs(self, base_output, inputs, labels=None):
        frames = self.projector(self.head_hidden_states(base_output))
        mask = self.frame_mask(inputs, ops.shape(frames)[1])
        if mask is None:
            pooled = ops.mean(frames, axis=1)
        else:
            count = ops.sum(ops.cast(mask, frames.dtype), axis=1, keepdims=True)
            pooled = ops.sum(ops.where(mask[..., None], frames, 0.0), axis=1) / count
        logits = self.classifier(pooled)
        # One class per row of the logits, -100 ignored: the token-classification cross-entropy.
        loss = losses.token_classification_loss(logits, labels) if labels is not None else None
        return {"loss": loss, "logits": logits}


class ForAudioFrameClassification(AudioHead):
    """One label per output frame (e.g. speaker diarization): ``classifier(frames)``.

    Labels are one-hot rows ``(batch, frames, num_labels)``, as transformers takes them.
    """

    output_class = TokenClassifierOutput

    def build_head(self, config: Any) -> None:
        self.build_layer_weights(config)
        self.classifier = layers.Linear(config.hidden_size, config.num_labels, **self.layer_options)

    def head_outputs(self, base_output, inputs, labels=None):
        logits = self.classifier(self.head_hidden_states(base_output))
        loss = losses.frame_classification_loss(logits, labels) if labels is not None else None
        return {"loss": loss, "logits": logits}


class ForXVector(AudioHead):
    """Speaker embeddings (x-vectors): TDNN layers, statistics pooling, then the embedding and its logits.

    Frames are projected (``projector``), run through ``tdnn`` (:class:`~polyformer.backends.keras.layers.TDNNLayer`
    per entry of ``config.tdnn_dim`` / ``tdnn_kernel`` / ``tdnn_dilation``), and pooled into the mean
    and standard deviation over each example's real frames; ``feature_extractor`` makes the
    ``embeddings`` of that, ``classifier`` the ``logits`` (``xvector_output_dim`` wide). The
    loss is the additive-margin softmax of the logits (``objective``) against ``labels`` ``(batch,)``.
    """

    output_class = XVectorOutput

    def build_head(self, config: Any) -> None:
        self.build_layer_weights(config)
        dims, options = list(config.tdnn_dim), self.layer_options
        self.projector = layers.Linear(config.hidden_size, dims[0], **options)
        self.tdnn = [
            layers.TDNNLayer(dims[i - 1] if i else dims[0], dims[i], config.tdnn_kernel[i],
                             dilation=config.tdnn_dilation[i], **options)
            for i in range(len(dims))
        ]
        self.feature_extractor = layers.Linear(dims[-1] * 2, config.xvector_output_dim, **options)
        self.classifier = layers.Linear(config.xvector_output_dim, config.xvector_output_dim, **options)
        self.objective = losses.AMSoftmaxLoss(config.xvector_output_dim, config.num_labels, dtype=self.dtype_policy)

    def tdnn_output_lengths(self, lengths):
        """The frames pooled per example: ``kernel_size - 1`` fewer per TDNN layer, as transformers counts them.

        A dilated layer really drops ``dilation * (kernel_size - 1)`` frames (see
        :meth:`~polyformer.backends.keras.layers.TDNNLayer.output_lengths`), so a padded example's
        statistics also take in a few frames past its real ones; x-vector checkpoints were trained
        so. An unpadded example pools all its frames either way.
        """
        for tdnn in self.tdnn:
            lengths = lengths - (tdnn.kernel_size - 1)
        return lengths

    def head_outputs(self, base_output, inputs, labels=None):
        frames = self.projector(self.head_hidden_states(base_output))
        for tdnn in self.tdnn:
            frames = tdnn(frames)
        total = ops.shape(frames)[1]
        if inputs.get("attention_mask") is None:
            mask, count = None, ops.cast(total, frames.dtype)
            mean = ops.mean(frames, axis=1)
        else:
            lengths = ops.minimum(self.tdnn_output_lengths(self.output_lengths(inputs)), total)
            mask = (ops.arange(total, dtype="int32")[None, :] < lengths[:, None])[..., None]
            count = ops.cast(lengths, frames.dtype)[:, None]
            mean = ops.sum(ops.where(mask, frames, 0.0), axis=1) / count
        squares = ops.square(frames - mean[:, None])
        if mask is not None:
            squares = ops.where(mask, squares, 0.0)
        # Unbiased, as torch.std: divided by (frames - 1); a zero spread (a channel the ReLUs silenced) gets a
        # zero gradient, as torch.std gives it, where the square root's would be infinite (and NaN after it).
        variance = ops.sum(squares, axis=1) / (count - 1)
        std = ops.where(variance > 0, ops.sqrt(ops.where(variance > 0, variance, 1.0)), 0.0)
        embeddings = self.feature_extractor(ops.concatenate([mean, std], axis=-1))
        logits = self.classifier(embeddings)
        loss = self.objective(logits, labels) if labels is not None else None
        return {"loss": loss, "logits": logits, "embeddings": embeddings}
