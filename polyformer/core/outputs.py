"""Model outputs, the same classes in every framework.

An output reads by attribute (``out.logits``), by key (``out["logits"]``) and by
index (``out[0]``). Fields left as None are absent from keys and indices, so
``out[0]`` is the loss when labels were given and the logits otherwise, as in
``transformers``.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, fields
from typing import Any

__all__ = [
    "ModelOutput",
    "BaseModelOutput",
    "BaseModelOutputWithPooling",
    "MaskedLMOutput",
    "SequenceClassifierOutput",
    "TokenClassifierOutput",
    "QuestionAnsweringModelOutput",
    "MultipleChoiceModelOutput",
    "ImageClassifierOutput",
    "MaskedImageModelingOutput",
    "CausalLMOutput",
    "XVectorOutput",
    "Wav2Vec2BaseModelOutput",
    "Wav2Vec2ForPreTrainingOutput",
]


class ModelOutput(OrderedDict):
    """Base of every output dataclass: an ordered dict of the fields that are not None."""

    def __post_init__(self) -> None:
        names = [f.name for f in fields(self)]
        first = getattr(self, names[0])
        if _is_pairs(first) and all(getattr(self, name) is None for name in names[1:]):
            # Rebuilt from (key, value) pairs, as tf.function and pytree code do: Cls(items).
            values = dict(first)
            unknown = set(values) - set(names)
            if unknown:
                raise TypeError(f"{type(self).__name__} has no field(s) {', '.join(sorted(unknown))}")
            OrderedDict.clear(self)
            for name in names:  # field order, whatever the order of the pairs
                setattr(self, name, values.get(name))
            return
        for name in names:
            value = getattr(self, name)
            if value is not None:
                super().__setitem__(name, value)

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            return super().__getitem__(key)
        return self.to_tuple()[key]

    def __setattr__(self, name: str, value: Any) -> None:
        if name in self.__dataclass_fields__ and value is not None:
            super().__setitem__(name, value)
        super().__setattr__(name, value)

    def __setitem__(self, key: str, value: Any) -> None:
        super().__setitem__(key, value)
        super().__setattr__(key, value)

    def __reduce__(self):
        return type(self), tuple(getattr(self, f.name) for f in fields(self))

    def to_tuple(self) -> tuple:
        return tuple(self[k] for k in self.keys())


def _is_pairs(value: Any) -> bool:
    """True for an iterable of (key, value) pairs (a dict's items, a zip), not for a tensor or tuple of tensors."""
    if value is None or hasattr(value, "shape") or isinstance(value, (tuple, list, str, bytes, dict)):
        return False
    return hasattr(value, "__iter__")


@dataclass(repr=False, eq=False)
class BaseModelOutput(ModelOutput):
    last_hidden_state: Any = None
    hidden_states: Any = None
    attentions: Any = None


@dataclass(repr=False, eq=False)
class BaseModelOutputWithPooling(ModelOutput):
    last_hidden_state: Any = None
    pooler_output: Any = None
    hidden_states: Any = None
    attentions: Any = None


@dataclass(repr=False, eq=False)
class MaskedLMOutput(ModelOutput):
    loss: Any = None
    logits: Any = None
    hidden_states: Any = None
    attentions: Any = None


@dataclass(repr=False, eq=False)
class SequenceClassifierOutput(ModelOutput):
    loss: Any = None
    logits: Any = None
    hidden_states: Any = None
    attentions: Any = None


@dataclass(repr=False, eq=False)
class TokenClassifierOutput(ModelOutput):
    loss: Any = None
    logits: Any = None
    hidden_states: Any = None
    attentions: Any = None


@dataclass(repr=False, eq=False)
class QuestionAnsweringModelOutput(ModelOutput):
    loss: Any = None
    start_logits: Any = None
    end_logits: Any = None
    hidden_states: Any = None
    attentions: Any = None


@dataclass(repr=False, eq=False)
class MultipleChoiceModelOutput(ModelOutput):
    loss: Any = None
    logits: Any = None
    hidden_states: Any = None
    attentions: Any = None


@dataclass(repr=False, eq=False)
class ImageClassifierOutput(ModelOutput):
    loss: Any = None
    logits: Any = None
    hidden_states: Any = None
    attentions: Any = None


@dataclass(repr=False, eq=False)
class MaskedImageModelingOutput(ModelOutput):
    """``reconstruction``: the predicted pixel values, ``(batch, channels, height, width)``."""

    loss: Any = None
    reconstruction: Any = None
    hidden_states: Any = None
    attentions: Any = None


@dataclass(repr=False, eq=False)
class CausalLMOutput(ModelOutput):
    """Per-position vocabulary logits; what transformers' CTC heads return."""

    loss: Any = None
    logits: Any = None
    hidden_states: Any = None
    attentions: Any = None


@dataclass(repr=False, eq=False)
class XVectorOutput(ModelOutput):
    """Speaker verification: classification ``logits`` and the utterance ``embeddings``."""

    loss: Any = None
    logits: Any = None
    embeddings: Any = None
    hidden_states: Any = None
    attentions: Any = None


@dataclass(repr=False, eq=False)
class Wav2Vec2BaseModelOutput(ModelOutput):
    """A speech encoder's output: the frames' hidden states and ``extract_features``, the
    convolutional features (after their LayerNorm) the transformer's input was projected from."""

    last_hidden_state: Any = None
    extract_features: Any = None
    hidden_states: Any = None
    attentions: Any = None


@dataclass(repr=False, eq=False)
class Wav2Vec2ForPreTrainingOutput(ModelOutput):
    """Contrastive pre-training: the projected frames and quantised targets, the codebook perplexity,
    and (given ``sampled_negative_indices``) the loss = contrastive + weight * diversity."""

    loss: Any = None
    projected_states: Any = None
    projected_quantized_states: Any = None
    codevector_perplexity: Any = None
    hidden_states: Any = None
    attentions: Any = None
    contrastive_loss: Any = None
    diversity_loss: Any = None
