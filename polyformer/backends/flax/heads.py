"""Task heads written once for every Flax architecture.

A head model holds the architecture's base model (at ``base_model_prefix``) and a few task
layers. What every head does the same way lives here: taking the inputs (positionally in the
base model's order, or by name), resolving the output switches from the config, running the
base model, and assembling the output (a dataclass, or a tuple with ``return_dict=False``).
Each task class below adds its layers, its logits and its loss. The classes, hooks and
arguments are those of the PyTorch backend's :mod:`polyformer.backends.torch.heads`.

An architecture writes one small class per head, as in PyTorch::

    class FlaxMyArchForSequenceClassification(heads.ForSequenceClassification, FlaxMyArchPreTrainedModel):
        '''Classification of the whole sequence from its first token.'''

How it works in Flax: a head class is the user-facing model (config + module + params, a
:class:`~polyformer.backends.flax.modeling.FlaxPreTrainedModel`), and its ``linen`` module is
made from it when the class is defined (``module_class``, named ``<class name>Module``): the
hooks run *inside that module*. So ``self`` in a hook is the module: ``self.classifier =
layers.dense(...)`` in :meth:`HeadModel.build_head` creates a submodule (hooks that build run
during ``setup``), and ``self.classifier(x)`` in :meth:`ForSequenceClassification.logits`
applies it. Every method of a head class that ``FlaxPreTrainedModel`` does not define is such
a hook (with ``make_base_model`` from the architecture's ``PreTrainedModel``); the others
(``resize_token_embeddings``...) act on the model object. A hook cannot call ``super()`` (its
``self`` is the module): call the generic one by name, ``heads.ForSequenceClassification.logits(self, ...)``.
Dropout layers of a head are :class:`HeadDropout`: on while the module runs with ``train=True``.
"""

from __future__ import annotations

import contextvars
import inspect
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from ...core import inputs as core_inputs
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
from .modeling import BaseModule, FlaxPreTrainedModel, bind_inputs, register_output_pytree

__all__ = [
    "HeadModel",
    "HeadModule",
    "HeadDropout",
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
    "assemble_output",
    "is_training",
]

# True while a head module runs with train=True: its HeadDropout layers are on.
_TRAINING: contextvars.ContextVar[bool] = contextvars.ContextVar("polyformer_flax_head_training", default=False)


def is_training() -> bool:
    """Whether the head module now running was called with ``train=True``.

    For a hook that takes no switch (its signature is the same in every backend) and calls a
    layer that does (``deterministic=not heads.is_training()``).
    """
    return _TRAINING.get()


class HeadDropout(nn.Module):
    """Dropout of a head's task layers: on while the head module runs with ``train=True``.

    The hooks that apply it (``logits(base_output, inputs)``...) take no ``deterministic``
    argument, as their signatures are the same in every backend, so the head module says
    whether it is training for the time of its call.
    """

    rate: float

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        return nn.Dropout(rate=self.rate)(x, deterministic=not _TRAINING.get())


class HeadModule(BaseModule):
    """The ``linen`` module of a head model: the base model at ``base_model_prefix``, plus the task layers.

    Each head class gets a subclass of this one with its hooks (see the module docstring).
    """

    # Copied from the head class (plain class attributes: an annotation would make them dataclass fields).
    base_model_prefix = ""
    main_input_name = ""
    output_class = ModelOutput
    loss_input_names = ("labels",)
    uses_pooler = False

    def setup(self):
        setattr(self, self.base_model_prefix, self.make_base_model(self.config))
        self.build_head(self.config)

    def __call__(self, *args: Any, train: bool = False, output_attentions: bool | None = None,
                 output_hidden_states: bool | None = None, return_dict: bool | None = None, **kwargs: Any):
        """Run the base module and the task layers (what ``module.apply`` calls; models call it for you).

        Args:
            *args: the base model's inputs in its order (``input_ids``, ``attention_mask``... or
                ``pixel_values``...).
            train: dropout on (``module.apply`` then needs a ``"dropout"`` rng).
            output_attentions: also return each layer's attention weights (None: the config's value).
            output_hidden_states: also return the hidden states after the embeddings and each layer
                (None: the config's value).
            return_dict: return the output dataclass, or False for a tuple of its non-None fields
                (None: the config's value).
            **kwargs: the base model's inputs by name, and the task's loss inputs
                (``labels``; ``start_positions`` / ``end_positions`` for question answering):
                given them, the output has a ``loss``.

        Returns:
            The task's output (``logits``, ``loss`` when labels were given, and the hidden states
            and attentions asked for), or its tuple with ``return_dict=False``.
        """
        loss_inputs = {name: kwargs.pop(name) for name in self.loss_input_names if name in kwargs}
        base_model = getattr(self, self.base_model_prefix)
        inputs = bind_inputs(base_model, args, kwargs)
        output_attentions, output_hidden_states, return_dict = self.resolve_output_flags(
            output_attentions, output_hidden_states, return_dict
        )
        token = _TRAINING.set(bool(train))
        try:
            base_output = base_model(**self.base_model_inputs(inputs), train=train, output_attentions=output_attentions,
                                     output_hidden_states=output_hidden_states or self.needs_hidden_states(),
                                     return_dict=True)
            fields = self.head_outputs(base_output, inputs, **loss_inputs)
        finally:
            _TRAINING.reset(token)
        # Hidden states the head read without being asked for them are not returned.
        return assemble_output(self.output_class, fields, base_output, return_dict, hidden_states=output_hidden_states)


def assemble_output(output_class: type[ModelOutput], fields: dict[str, Any], base_output: ModelOutput,
                    return_dict: bool, hidden_states: bool = True):
    """The head's output: its own ``fields`` plus the base model's hidden states (unless
    ``hidden_states=False``) and attentions."""
    register_output_pytree(output_class)  # a plugin's own output class too, before JAX flattens it
    names = output_class.__dataclass_fields__
    carried = {name: getattr(base_output, name, None) for name in ("hidden_states", "attentions") if name in names}
    if not hidden_states:
        carried.pop("hidden_states", None)
    output = output_class(**fields, **carried)
    return output if return_dict else output.to_tuple()


#: Class attributes of a head class that its module reads.
_MODULE_ATTRIBUTES = ("base_model_prefix", "main_input_name", "output_class", "loss_input_names", "uses_pooler")


def head_module_class(model_class: type) -> type[HeadModule]:
    """The ``linen`` module class of a head class: :class:`HeadModule` with the head's hooks as its methods."""
    namespace: dict[str, Any] = {name: getattr(model_class, name) for name in _MODULE_ATTRIBUTES}
    for klass in reversed(model_class.__mro__):  # the most derived definition wins, as in the MRO
        for name, value in vars(klass).items():
            if not inspect.isfunction(value) or name.startswith("__") or hasattr(FlaxPreTrainedModel, name):
                continue
            if hasattr(nn.Module, name):
                raise TypeError(f"{model_class.__name__}.{name}: a head hook cannot be named as a flax.linen.Module "
                                f"attribute (it runs inside the head's module); rename it")
            namespace[name] = value
    namespace.update(__module__=model_class.__module__, __qualname__=f"{model_class.__qualname__}Module",
                     __doc__=f"The ``flax.linen`` module of :class:`{model_class.__name__}` (its hooks run here).")
    return type(f"{model_class.__name__}Module", (HeadModule,), namespace)


class HeadModel(FlaxPreTrainedModel):
    """A base model plus task layers, with the plumbing every head shares.

    Subclasses set :attr:`output_class` and :attr:`loss_input_names`, build their layers in
    :meth:`build_head` and compute their outputs in :meth:`head_outputs`. The architecture's
    ``PreTrainedModel`` provides ``make_base_model(config)``, which returns the base model's
    module (built with ``dtype=self.dtype``).
    """

    #: The output dataclass of the task.
    output_class: type[ModelOutput] = ModelOutput
    #: Keyword arguments that feed the loss only (they do not go to the base model).
    loss_input_names: tuple[str, ...] = ("labels",)
    #: Whether the head reads the base model's pooled output (architectures with an optional pooler build it then).
    uses_pooler: bool = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.module_class = head_module_class(cls)

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


def _first_token(base_output: ModelOutput) -> jax.Array:
    return base_output.last_hidden_state[:, 0]


def _check_class_labels(output: ModelOutput, loss_inputs: dict, what: str = "classes") -> None:
    """Class ids within the logits' classes (or -100), checked on their values after the run."""
    if "labels" in loss_inputs:
        core_inputs.check_class_labels(loss_inputs["labels"], tuple(output.logits.shape), what=what)


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
        self.dropout = HeadDropout(self.classifier_dropout(config))
        self.classifier = layers.dense(self.num_outputs(config), config.initializer_range, self.dtype)

    def build_pooling(self, config: Any) -> None:
        """Layers between the base model and the classifier (none by default)."""

    def pooled_output(self, base_output: ModelOutput, inputs: dict[str, Any]) -> jax.Array:
        """``(batch, hidden)`` features the classifier reads."""
        pooled = getattr(base_output, "pooler_output", None)
        return pooled if pooled is not None else _first_token(base_output)

    def classifier_dropout(self, config: Any) -> float:
        rate = getattr(config, "classifier_dropout", None)
        return rate if rate is not None else getattr(config, "hidden_dropout_prob", 0.0)

    def num_outputs(self, config: Any) -> int:
        return config.num_labels

    def logits(self, base_output: ModelOutput, inputs: dict[str, Any]) -> jax.Array:
        return self.classifier(self.dropout(self.pooled_output(base_output, inputs)))

    def head_outputs(self, base_output, inputs, labels=None):
        logits = self.logits(base_output, inputs)
        loss = losses.sequence_classification_loss(logits, labels, self.config) if labels is not None else None
        return {"loss": loss, "logits": logits}

    def _check_labels(self, output, loss_inputs):
        labels, shape = loss_inputs.get("labels"), tuple(output.logits.shape)
        if labels is None:
            return
        if self.config.problem_type == "single_label_classification":  # written by the loss while tracing
            core_inputs.check_class_labels(labels, shape)
        elif self.config.problem_type == "multi_label_classification":
            core_inputs.check_multi_label_targets(labels, shape)


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
        logits = self.logits(base_output, inputs).reshape(-1, _num_choices(inputs, self.main_input_name))
        loss = losses.multiple_choice_loss(logits, labels) if labels is not None else None
        return {"loss": loss, "logits": logits}

    def _dummy_inputs(self) -> dict[str, Any]:
        return {name: value[:, None] for name, value in super()._dummy_inputs().items()}  # one choice

    def _check_labels(self, output, loss_inputs):
        _check_class_labels(output, loss_inputs, what="choices")


#: Inputs of a multiple-choice head with more than one trailing axis per example.
CHOICE_INNER_RANK = {"inputs_embeds": 2}


def flatten_choices(name: str, value: Any) -> Any:
    """``(batch, choices, *inner)`` -> ``(batch * choices, *inner)``; shared ``(1, seq)`` position ids stay.

    A ``head_mask`` is per layer and head, not per choice: it is handed on as it is.
    """
    if not hasattr(value, "shape") or name == "head_mask":
        return value
    inner = CHOICE_INNER_RANK.get(name, 1)
    return value.reshape(-1, *value.shape[value.ndim - inner:])


def _num_choices(inputs: dict[str, Any], main_input_name: str) -> int:
    for name in (main_input_name, "inputs_embeds"):
        value = inputs.get(name)
        if hasattr(value, "shape"):
            return value.shape[1]
    raise ValueError(f"a multiple-choice model needs {main_input_name} or inputs_embeds of shape (batch, num_choices, ...)")


class ForTokenClassification(HeadModel):
    """One label per position: ``classifier(dropout(last_hidden_state))``; labels of -100 are ignored.

    Hook: :meth:`classifier_dropout` (as the sequence classifier's).
    """

    output_class = TokenClassifierOutput

    def build_head(self, config: Any) -> None:
        self.dropout = HeadDropout(self.classifier_dropout(config))
        self.classifier = layers.dense(config.num_labels, config.initializer_range, self.dtype)

    classifier_dropout = ForSequenceClassification.classifier_dropout

    def head_outputs(self, base_output, inputs, labels=None):
        logits = self.classifier(self.dropout(base_output.last_hidden_state))
        loss = losses.token_classification_loss(logits, labels) if labels is not None else None
        return {"loss": loss, "logits": logits}

    def _check_labels(self, output, loss_inputs):
        _check_class_labels(output, loss_inputs)


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
        self.dropout = HeadDropout(self.qa_dropout(config))
        self.qa_outputs = layers.dense(config.num_labels, config.initializer_range, self.dtype)

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

    The architecture writes :meth:`build_head` (its transform and projection, a
    :class:`~polyformer.backends.flax.layers.OutputProjection`), :meth:`lm_logits` (which passes
    :meth:`tied_input_embeddings` to the projection) and names the projection in
    :attr:`output_embeddings_name`; it lists the tie of the projection to the word embeddings
    in ``tied_weights``.
    """

    output_class = MaskedLMOutput
    #: Attribute path of the vocabulary projection (``"cls.predictions.decoder"``).
    output_embeddings_name: str = ""

    def lm_logits(self, hidden_states: jax.Array) -> jax.Array:
        raise NotImplementedError

    def tied_input_embeddings(self) -> jax.Array | None:
        """The base model's word embedding table when the projection is tied to it (``tie_word_embeddings``), else None."""
        if not getattr(self.config, "tie_word_embeddings", True):
            return None
        return getattr(self, self.base_model_prefix).embeddings.word_embeddings.embedding

    def head_outputs(self, base_output, inputs, labels=None):
        logits = self.lm_logits(base_output.last_hidden_state)
        loss = losses.masked_lm_loss(logits, labels) if labels is not None else None
        return {"loss": loss, "logits": logits}

    def get_output_embeddings(self) -> dict[str, jax.Array]:
        """The vocabulary projection's own parameters (Flax layout: ``kernel`` ``(hidden, vocab)`` when untied,
        ``bias``); tied, its weight is the word embedding table, :meth:`get_input_embeddings`."""
        params = self.params
        for part in self.output_embeddings_name.split("."):
            params = params.get(part, {})
        return dict(params)

    def set_output_embeddings(self, value: dict[str, Any]) -> None:
        """Replace the projection's parameters by arrays of the same shapes (resizing is ``resize_token_embeddings``'s)."""
        current = self.get_output_embeddings()
        if set(value) != set(current) or any(tuple(value[k].shape) != tuple(current[k].shape) for k in current):
            expected = {k: tuple(v.shape) for k, v in current.items()}
            raise ValueError(f"set_output_embeddings: expected parameters {expected}, got "
                             f"{ {k: tuple(getattr(v, 'shape', ())) for k, v in value.items()} }")
        *parents, last = self.output_embeddings_name.split(".")
        params = dict(self.params)
        node = params
        for part in parents:
            node[part] = dict(node[part])
            node = node[part]
        node[last] = {k: jnp.asarray(v, current[k].dtype) for k, v in value.items()}
        self.params = params

    def _check_labels(self, output, loss_inputs):
        _check_class_labels(output, loss_inputs, what="vocabulary tokens")


class ForImageClassification(HeadModel):
    """One label (or score) per image: ``classifier(pooled)``, loss by ``problem_type``.

    Hook: :meth:`pooled_output` (default: the first position, e.g. a class token). With
    ``num_labels == 0`` there is no classifier and the logits are the features.
    """

    output_class = ImageClassifierOutput

    def build_head(self, config: Any) -> None:
        self.classifier = layers.dense(config.num_labels, config.initializer_range, self.dtype) if config.num_labels > 0 else None

    def pooled_output(self, base_output: ModelOutput, inputs: dict[str, Any]) -> jax.Array:
        return _first_token(base_output)

    def head_outputs(self, base_output, inputs, labels=None):
        pooled = self.pooled_output(base_output, inputs)
        logits = self.classifier(pooled) if self.classifier is not None else pooled
        loss = losses.sequence_classification_loss(logits, labels, self.config) if labels is not None else None
        return {"loss": loss, "logits": logits}

    _check_labels = ForSequenceClassification._check_labels


class ForMaskedImageModeling(HeadModel):
    """Reconstructs the pixels of masked patches (SimMIM): L1 loss over the masked patches.

    The architecture writes :meth:`build_head` (its decoder) and :meth:`reconstruct`; the loss
    needs ``bool_masked_pos`` ``(batch, num_patches)`` among the inputs, and
    ``config.patch_size`` equal to ``config.encoder_stride`` so the reconstruction has the
    input's size.
    """

    output_class = MaskedImageModelingOutput
    loss_input_names = ()

    def reconstruct(self, base_output: ModelOutput, inputs: dict[str, Any]) -> jax.Array:
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
    layer's hidden states (``layer_weights``, one per layer and one for the input, all equal at
    first) through :meth:`head_hidden_states`, instead of the last layer's. Frame counts are
    arrays computed from the mask inside the program; the frame axis itself is static.
    """

    def output_lengths(self, inputs: dict[str, Any]) -> jax.Array:
        """``(batch,)`` number of output frames of each example."""
        mask, values = inputs.get("attention_mask"), inputs[self.main_input_name]
        if mask is not None:
            lengths = jnp.asarray(mask).astype(jnp.int32).sum(-1)
        else:
            lengths = jnp.full((values.shape[0],), values.shape[1], dtype=jnp.int32)
        return getattr(self, self.base_model_prefix).output_lengths(lengths)

    def frame_mask(self, inputs: dict[str, Any], frames: int) -> jax.Array | None:
        """``(batch, frames)`` True on real frames, or None when the inputs have no ``attention_mask``."""
        if inputs.get("attention_mask") is None:
            return None
        lengths = self.output_lengths(inputs)
        return jnp.arange(frames)[None, :] < lengths[:, None]

    def uses_weighted_layer_sum(self, config: Any) -> bool:
        return bool(getattr(config, "use_weighted_layer_sum", False))

    def build_layer_weights(self, config: Any) -> None:
        """``layer_weights``: one weight per hidden state (the input and each layer), all equal at first."""
        if self.uses_weighted_layer_sum(config):
            count = config.num_hidden_layers + 1
            self.layer_weights = self.param("layer_weights", layers.constant_init(1.0 / count), (count,), self.dtype)

    def needs_hidden_states(self) -> bool:
        return self.uses_weighted_layer_sum(self.config)

    def head_hidden_states(self, base_output: ModelOutput) -> jax.Array:
        """The frames the head reads: the weighted layer sum, or the last hidden state."""
        if not self.uses_weighted_layer_sum(self.config):
            return base_output.last_hidden_state
        stacked = jnp.stack(base_output.hidden_states, axis=1)
        weights = jax.nn.softmax(self.layer_weights, axis=-1)
        return (stacked * weights[None, :, None, None]).sum(axis=1)


class ForCTC(AudioHead):
    """Speech recognition with CTC: vocabulary logits for every output frame, ``lm_head(dropout(frames))``.

    The loss (given ``labels`` ``(batch, target_length)`` padded with -100) is CTC with
    ``config.pad_token_id`` as the blank, ``config.ctc_loss_reduction`` and
    ``config.ctc_zero_infinity``; each example's frames are :meth:`output_lengths`. The model
    checks the labels' values before the run (they must fit their frames), as ``jit`` cannot
    raise. Hooks: :meth:`lm_head_dropout` (default ``config.final_dropout``) and
    :meth:`lm_head_input_size` (default ``config.hidden_size``).
    """

    output_class = CausalLMOutput

    def build_head(self, config: Any) -> None:
        if getattr(config, "vocab_size", None) is None:
            raise ValueError(
                f"{type(self).__name__.removesuffix('Module')} needs config.vocab_size, the number of output tokens "
                f"of its language model head: set it in the config, or pass it to from_pretrained(..., vocab_size=...)"
            )
        self.dropout = HeadDropout(self.lm_head_dropout(config))
        # Flax reads the input width from the frames; lm_head_input_size is kept for the one API.
        self.lm_head = layers.dense(config.vocab_size, config.initializer_range, self.dtype)

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
                raise ValueError(f"{type(self).__name__.removesuffix('Module')} needs config.pad_token_id for its "
                                 f"loss: it is the CTC blank")
            loss = losses.ctc_loss(logits, labels, self.output_lengths(inputs), blank=config.pad_token_id,
                                   reduction=getattr(config, "ctc_loss_reduction", "mean"),
                                   zero_infinity=getattr(config, "ctc_zero_infinity", False))
        return {"loss": loss, "logits": logits}

    def _check_inputs_before_jit(self, facts: dict[str, core_inputs.Facts]) -> None:
        """The transcripts' values: token ids in the vocabulary, each short enough for its example's frames."""
        super()._check_inputs_before_jit(facts)
        labels, values, config = facts.get("labels"), facts.get(self.main_input_name), self.config
        if labels is None or values is None or config.pad_token_id is None:  # no blank: the module says so
            return
        mask = facts.get("attention_mask")
        frames = None
        if mask is None:
            frames = self._base_module().output_lengths(np.full(values.shape[0], values.shape[1]))
        elif mask.values is not None:
            frames = self._base_module().output_lengths(np.asarray(mask.values).astype(bool).sum(-1))
        core_inputs.check_ctc_labels(labels, values.shape[0], config.vocab_size, frames, config.pad_token_id,
                                     getattr(config, "ctc_zero_infinity", False))


class ForAudioClassification(AudioHead):
    """One label per clip: frames projected (``projector``), averaged over the real frames, then ``classifier``.

    Reads the weighted layer sum when the config asks for it. The loss is the cross-entropy
    of integer labels ``(batch,)``, as transformers' speech classifiers compute it.
    """

    output_class = SequenceClassifierOutput

    def build_head(self, config: Any) -> None:
        self.build_layer_weights(config)
        self.projector = layers.dense(config.classifier_proj_size, config.initializer_range, self.dtype)
        self.classifier = layers.dense(config.num_labels, config.initializer_range, self.dtype)

    def head_outputs(self, base_output, inputs, labels=None):
        frames = self.projector(self.head_hidden_states(base_output))
        mask = self.frame_mask(inputs, frames.shape[1])
        if mask is None:
            pooled = frames.mean(axis=1)
        else:
            summed = jnp.where(mask[..., None], frames, 0.0).sum(axis=1)
            pooled = summed / mask.sum(axis=1, keepdims=True).astype(frames.dtype)
        logits = self.classifier(pooled)
        # One class per row of the logits, -100 ignored: the token-classification cross-entropy.
        loss = losses.token_classification_loss(logits, labels) if labels is not None else None
        return {"loss": loss, "logits": logits}

    def _check_labels(self, output, loss_inputs):
        _check_class_labels(output, loss_inputs)


class ForAudioFrameClassification(AudioHead):
    """One label per output frame (e.g. speaker diarization): ``classifier(frames)``.

    Labels are one-hot rows ``(batch, frames, num_labels)``, as transformers takes them.
    """

    output_class = TokenClassifierOutput

    def build_head(self, config: Any) -> None:
        self.build_layer_weights(config)
        self.classifier = layers.dense(config.num_labels, config.initializer_range, self.dtype)

    def head_outputs(self, base_output, inputs, labels=None):
        logits = self.classifier(self.head_hidden_states(base_output))
        loss = losses.frame_classification_loss(logits, labels) if labels is not None else None
        return {"loss": loss, "logits": logits}


class ForXVector(AudioHead):
    """Speaker embeddings (x-vectors): TDNN layers, statistics pooling, then the embedding and its logits.

    Frames are projected (``projector``), run through ``tdnn`` (:class:`~polyformer.backends.flax.layers.TDNNLayer`
    per entry of ``config.tdnn_dim`` / ``tdnn_kernel`` / ``tdnn_dilation``), and pooled into the mean
    and standard deviation over each example's real frames; ``feature_extractor`` makes the
    ``embeddings`` of that, ``classifier`` the ``logits`` (``xvector_output_dim`` wide). The
    loss is the additive-margin softmax of the logits (``objective``) against ``labels`` ``(batch,)``.
    """

    output_class = XVectorOutput

    def build_head(self, config: Any) -> None:
        self.build_layer_weights(config)
        std, dims = config.initializer_range, list(config.tdnn_dim)
        self.projector = layers.dense(dims[0], std, self.dtype)
        self.tdnn = [
            layers.TDNNLayer(dims[i - 1] if i else dims[0], dims[i], config.tdnn_kernel[i],
                             dilation=config.tdnn_dilation[i], initializer_range=std, dtype=self.dtype, name=f"tdnn.{i}")
            for i in range(len(dims))
        ]
        self.feature_extractor = layers.dense(config.xvector_output_dim, std, self.dtype)
        self.classifier = layers.dense(config.xvector_output_dim, std, self.dtype)
        self.objective = losses.AMSoftmaxLoss(config.xvector_output_dim, config.num_labels, dtype=self.dtype)

    def tdnn_output_lengths(self, lengths: jax.Array) -> jax.Array:
        """The frames pooled per example: ``kernel_size - 1`` fewer per TDNN layer, as transformers counts them.

        A dilated layer really drops ``dilation * (kernel_size - 1)`` frames (see
        :meth:`~polyformer.backends.flax.layers.TDNNLayer.output_lengths`), so a padded example's
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
        if inputs.get("attention_mask") is None:
            mean, std = frames.mean(axis=1), frames.std(axis=1, ddof=1)
        else:
            lengths = jnp.minimum(self.tdnn_output_lengths(self.output_lengths(inputs)), frames.shape[1])
            mask = (jnp.arange(frames.shape[1])[None, :] < lengths[:, None])[..., None]
            count = lengths.astype(frames.dtype)[:, None]
            mean = jnp.where(mask, frames, 0.0).sum(axis=1) / count
            # Unbiased, as torch.std: divided by (frames - 1).
            std = jnp.sqrt((jnp.where(mask, frames - mean[:, None], 0.0) ** 2).sum(axis=1) / (count - 1))
        embeddings = self.feature_extractor(jnp.concatenate([mean, std], axis=-1))
        logits = self.classifier(embeddings)
        loss = self.objective(logits, labels)  # None without labels (its weight is made all the same)
        return {"loss": loss, "logits": logits, "embeddings": embeddings}

    def _check_labels(self, output, loss_inputs):
        """Speaker ids within ``config.num_labels`` (the objective's classes, not the logits' width)."""
        if "labels" in loss_inputs:
            core_inputs.check_class_labels(loss_inputs["labels"], (output.logits.shape[0], self.config.num_labels))
