"""Task heads written once for every PyTorch architecture.

A head model holds the architecture's base model (at ``base_model_prefix``) and a few task
layers. What every head does the same way lives in :class:`HeadModel`: taking the inputs
(positionally in the base model's order, or by name), resolving the output switches from the
config, running the base model, and assembling the output (a dataclass, or a tuple with
``return_dict=False``). Each task class below adds its layers, its logits and its loss.

An architecture writes one small class per head, naming its base model and, where it
differs from the default, how it pools or which dropout rate it uses::

    class MyArchForSequenceClassification(heads.ForSequenceClassification, MyArchPreTrainedModel):
        '''Classification of the whole sequence from its first token.'''

The hooks an architecture may override are listed in each class's docstring; all of them
exist with the same names and arguments in the Keras and Flax backends.
"""

from __future__ import annotations

import inspect
from typing import Any

import torch
from torch import nn

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
from .modeling import PreTrainedModel

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


class HeadModel(PreTrainedModel):
    """A base model plus task layers, with the plumbing every head shares.

    Subclasses set :attr:`output_class` and :attr:`loss_input_names`, build their layers in
    :meth:`build_head` and compute their outputs in :meth:`head_outputs`. The architecture's
    ``PreTrainedModel`` provides :meth:`make_base_model`.
    """

    #: The output dataclass of the task.
    output_class: type[ModelOutput] = ModelOutput
    #: Keyword arguments that feed the loss only (they do not go to the base model).
    loss_input_names: tuple[str, ...] = ("labels",)
    #: Whether the head reads the base model's pooled output (architectures with an optional pooler build it then).
    uses_pooler: bool = False

    def __init__(self, config: Any) -> None:
        super().__init__(config)
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
    def forward(self, *args: Any, output_attentions: bool | None = None, output_hidden_states: bool | None = None,
                return_dict: bool | None = None, **kwargs: Any):
        """Run the base model and the task layers: the same call for every head of every architecture.

        Args:
            *args: the base model's inputs in its order (``input_ids``, ``attention_mask``... or
                ``pixel_values``...).
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


def bind_inputs(base_model: nn.Module, args: tuple, kwargs: dict[str, Any]) -> dict[str, Any]:
    """Name the positional ``args`` after the base model's ``forward`` parameters; refuse unknown names."""
    signature = _input_signature(type(base_model))
    try:
        bound = signature.bind_partial(*args, **kwargs)
    except TypeError as exc:
        names = ", ".join(signature.parameters)
        raise TypeError(f"{type(base_model).__name__} inputs: {exc}; it takes {names}") from None
    return dict(bound.arguments)


_SIGNATURES: dict[type, inspect.Signature] = {}
_FLAGS = ("output_attentions", "output_hidden_states", "return_dict")


def _input_signature(cls: type) -> inspect.Signature:
    """The input parameters of ``cls.forward`` (self and the output switches left out), cached per class."""
    signature = _SIGNATURES.get(cls)
    if signature is None:
        parameters = list(inspect.signature(cls.forward).parameters.values())[1:]
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


def _first_token(base_output: ModelOutput) -> torch.Tensor:
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
        self.dropout = nn.Dropout(self.classifier_dropout(config))
        self.classifier = nn.Linear(config.hidden_size, self.num_outputs(config))

    def build_pooling(self, config: Any) -> None:
        """Layers between the base model and the classifier (none by default)."""

    def pooled_output(self, base_output: ModelOutput, inputs: dict[str, Any]) -> torch.Tensor:
        """``(batch, hidden)`` features the classifier reads."""
        pooled = getattr(base_output, "pooler_output", None)
        return pooled if pooled is not None else _first_token(base_output)

    def classifier_dropout(self, config: Any) -> float:
        rate = getattr(config, "classifier_dropout", None)
        return rate if rate is not None else getattr(config, "hidden_dropout_prob", 0.0)

    def num_outputs(self, config: Any) -> int:
        return config.num_labels

    def logits(self, base_output: ModelOutput, inputs: dict[str, Any]) -> torch.Tensor:
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
        logits = self.logits(base_output, inputs).view(-1, num_choices)
        loss = losses.multiple_choice_loss(logits, labels) if labels is not None else None
        return {"loss": loss, "logits": logits}


#: Inputs of a multiple-choice head with more than one trailing axis per example.
CHOICE_INNER_RANK = {"inputs_embeds": 2}


def flatten_choices(name: str, value: Any) -> Any:
    """``(batch, choices, *inner)`` -> ``(batch * choices, *inner)``; shared ``(1, seq)`` position ids stay,
    and so does a head mask (per layer and head, not per example)."""
    if not isinstance(value, torch.Tensor) or name == "head_mask":
        return value
    inner = CHOICE_INNER_RANK.get(name, 1)
    return value.reshape(-1, *value.shape[value.dim() - inner:])


def _num_choices(inputs: dict[str, Any], main_input_name: str) -> int:
    for name in (main_input_name, "inputs_embeds"):
        value = inputs.get(name)
        if isinstance(value, torch.Tensor):
            return value.shape[1]
    raise ValueError(f"a multiple-choice model needs {main_input_name} or inputs_embeds of shape (batch, num_choices, ...)")


class ForTokenClassification(HeadModel):
    """One label per position: ``classifier(dropout(last_hidden_state))``; labels of -100 are ignored.

    Hook: :meth:`classifier_dropout` (as the sequence classifier's).
    """

    output_class = TokenClassifierOutput

    def build_head(self, config: Any) -> None:
        self.dropout = nn.Dropout(self.classifier_dropout(config))
        self.classifier = nn.Linear(config.hidden_size, config.num_labels)

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
        self.dropout = nn.Dropout(self.qa_dropout(config))
        self.qa_outputs = nn.Linear(config.hidden_size, config.num_labels)

    def qa_dropout(self, config: Any) -> float:
        return 0.0

    def head_outputs(self, base_output, inputs, start_positions=None, end_positions=None):
        logits = self.qa_outputs(self.dropout(base_output.last_hidden_state))
        start, end = logits.split(1, dim=-1)
        start_logits, end_logits = start.squeeze(-1).contiguous(), end.squeeze(-1).contiguous()
        loss = None
        if start_positions is not None and end_positions is not None:
            loss = losses.question_answering_loss(start_logits, end_logits, start_positions, end_positions)
        return {"loss": loss, "start_logits": start_logits, "end_logits": end_logits}


class ForMaskedLM(HeadModel):
    """Vocabulary logits per position; cross-entropy at the positions whose label is not -100.

    The architecture writes :meth:`build_head` (its transform and projection), :meth:`lm_logits`
    and names the projection in :attr:`output_embeddings_name`; it lists the tie of the
    projection to the word embeddings in ``tied_weights``.
    """

    output_class = MaskedLMOutput
    #: Attribute path of the vocabulary projection (``"cls.predictions.decoder"``).
    output_embeddings_name: str = ""

    def lm_logits(self, hidden_states: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def head_outputs(self, base_output, inputs, labels=None):
        logits = self.lm_logits(base_output.last_hidden_state)
        loss = losses.masked_lm_loss(logits, labels) if labels is not None else None
        return {"loss": loss, "logits": logits}

    def get_output_embeddings(self) -> nn.Linear:
        return self.get_submodule(self.output_embeddings_name)

    def set_output_embeddings(self, value: nn.Linear) -> None:
        parent, _, name = self.output_embeddings_name.rpartition(".")
        setattr(self.get_submodule(parent) if parent else self, name, value)


class ForImageClassification(HeadModel):
    """One label (or score) per image: ``classifier(pooled)``, loss by ``problem_type``.

    Hook: :meth:`pooled_output` (default: the first position, e.g. a class token). With
    ``num_labels == 0`` the classifier is the identity and the logits are the features.
    """

    output_class = ImageClassifierOutput

    def build_head(self, config: Any) -> None:
        self.classifier = nn.Linear(config.hidden_size, config.num_labels) if config.num_labels > 0 else nn.Identity()

    def pooled_output(self, base_output: ModelOutput, inputs: dict[str, Any]) -> torch.Tensor:
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

    def reconstruct(self, base_output: ModelOutput, inputs: dict[str, Any]) -> torch.Tensor:
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

    def output_lengths(self, inputs: dict[str, Any]) -> torch.Tensor:
        """``(batch,)`` number of output frames of each example."""
        mask, values = inputs.get("attention_mask"), inputs[self.main_input_name]
        if mask is not None:
            lengths = mask.to(torch.long).sum(-1)
        else:
            lengths = torch.full((values.shape[0],), values.shape[1], dtype=torch.long, device=values.device)
        return self.base_model.output_lengths(lengths)

    def frame_mask(self, inputs: dict[str, Any], frames: int) -> torch.Tensor | None:
        """``(batch, frames)`` True on real frames, or None when the inputs have no ``attention_mask``."""
        if inputs.get("attention_mask") is None:
            return None
        lengths = self.output_lengths(inputs)
        return torch.arange(frames, device=lengths.device)[None, :] < lengths[:, None]

    def uses_weighted_layer_sum(self, config: Any) -> bool:
        return bool(getattr(config, "use_weighted_layer_sum", False))

    def build_layer_weights(self, config: Any) -> None:
        """``layer_weights``: one weight per hidden state (the input and each layer), all equal at first."""
        if self.uses_weighted_layer_sum(config):
            count = config.num_hidden_layers + 1
            self.layer_weights = nn.Parameter(torch.full((count,), 1.0 / count))

    def needs_hidden_states(self) -> bool:
        return self.uses_weighted_layer_sum(self.config)

    def head_hidden_states(self, base_output: ModelOutput) -> torch.Tensor:
        """The frames the head reads: the weighted layer sum, or the last hidden state."""
        if not self.uses_weighted_layer_sum(self.config):
            return base_output.last_hidden_state
        stacked = torch.stack(base_output.hidden_states, dim=1)
        weights = torch.softmax(self.layer_weights, dim=-1)
        return (stacked * weights.view(-1, 1, 1)).sum(dim=1)

    def _init_weights(self, module: nn.Module, only: set[str] | None = None) -> None:
        if module is self and getattr(self, "layer_weights", None) is not None and (only is None or "layer_weights" in only):
            with torch.no_grad():
                self.layer_weights.fill_(1.0 / self.layer_weights.numel())
        super()._init_weights(module, only)


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
        self.dropout = nn.Dropout(self.lm_head_dropout(config))
        self.lm_head = nn.Linear(self.lm_head_input_size(config), config.vocab_size)

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
        self.projector = nn.Linear(config.hidden_size, config.classifier_proj_size)
        self.classifier = nn.Linear(config.classifier_proj_size, config.num_labels)

    def head_outputs(self, base_output, inputs, labels=None):
        frames = self.projector(self.head_hidden_states(base_output))
        mask = self.frame_mask(inputs, frames.shape[1])
        if mask is None:
            pooled = frames.mean(dim=1)
        else:
            pooled = frames.masked_fill(~mask[..., None], 0.0).sum(dim=1) / mask.sum(dim=1, keepdim=True).to(frames.dtype)
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
        self.classifier = nn.Linear(config.hidden_size, config.num_labels)

    def head_outputs(self, base_output, inputs, labels=None):
        logits = self.classifier(self.head_hidden_states(base_output))
        loss = losses.frame_classification_loss(logits, labels) if labels is not None else None
        return {"loss": loss, "logits": logits}


class ForXVector(AudioHead):
    """Speaker embeddings (x-vectors): TDNN layers, statistics pooling, then the embedding and its logits.

    Frames are projected (``projector``), run through ``tdnn`` (:class:`~polyformer.backends.torch.layers.TDNNLayer`
    per entry of ``config.tdnn_dim`` / ``tdnn_kernel`` / ``tdnn_dilation``), and pooled into the mean
    and standard deviation over each example's real frames; ``feature_extractor`` makes the
    ``embeddings`` of that, ``classifier`` the ``logits`` (``xvector_output_dim`` wide). The
    loss is the additive-margin softmax of the logits (``objective``) against ``labels`` ``(batch,)``.
    """

    output_class = XVectorOutput

    def build_head(self, config: Any) -> None:
        self.build_layer_weights(config)
        dims = list(config.tdnn_dim)
        self.projector = nn.Linear(config.hidden_size, dims[0])
        self.tdnn = nn.ModuleList(
            layers.TDNNLayer(dims[i - 1] if i else dims[0], dims[i], config.tdnn_kernel[i],
                             dilation=config.tdnn_dilation[i])
            for i in range(len(dims))
        )
        self.feature_extractor = nn.Linear(dims[-1] * 2, config.xvector_output_dim)
        self.classifier = nn.Linear(config.xvector_output_dim, config.xvector_output_dim)
        self.objective = losses.AMSoftmaxLoss(config.xvector_output_dim, config.num_labels)

    def tdnn_output_lengths(self, lengths: torch.Tensor) -> torch.Tensor:
        """The frames pooled per example: ``kernel_size - 1`` fewer per TDNN layer, as transformers counts them.

        A dilated layer really drops ``dilation * (kernel_size - 1)`` frames (see
        :meth:`~polyformer.backends.torch.layers.TDNNLayer.output_lengths`), so a padded example's
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
            mean, std = frames.mean(dim=1), frames.std(dim=1)
        else:
            lengths = self.tdnn_output_lengths(self.output_lengths(inputs)).clamp(max=frames.shape[1])
            mask = (torch.arange(frames.shape[1], device=frames.device)[None, :] < lengths[:, None])[..., None]
            count = lengths.to(frames.dtype)[:, None]
            mean = frames.masked_fill(~mask, 0.0).sum(dim=1) / count
            # Unbiased, as torch.std: divided by (frames - 1).
            std = ((frames - mean[:, None]).masked_fill(~mask, 0.0).pow(2).sum(dim=1) / (count - 1)).sqrt()
        embeddings = self.feature_extractor(torch.cat([mean, std], dim=-1))
        logits = self.classifier(embeddings)
        loss = self.objective(logits, labels) if labels is not None else None
        return {"loss": loss, "logits": logits, "embeddings": embeddings}
