"""Model configuration, in the Hugging Face ``config.json`` format.

A config is a plain object whose attributes are the JSON keys. Architecture
configs subclass :class:`PretrainedConfig`, take their own keys as explicit keyword
arguments with their defaults, and pass everything else to this base class, which
keeps unknown keys (so a ``config.json`` written by another library round-trips).

What is written to disk follows ``transformers``: ``to_diff_dict`` keeps every key
that is not one of the common keys below, plus every common key whose value differs
from its default. That is why ``print(DistilBertConfig())`` shows the DistilBERT
keys and ``pad_token_id`` but not ``num_labels``.

Bad values raise a ValueError that names the key, what was given and what was
expected, prefixed with the file when they were read from one. Unknown keys are kept
(configs carry custom keys), but one that is a single typo away from a parameter of
the class (``activaton``) gets a warning, once per class and key.
"""

from __future__ import annotations

import contextlib
import contextvars
import copy
import functools
import inspect
import json
import os
import warnings
from pathlib import Path
from typing import Any

from .hub import pop_hub_options, resolve_file
from .io import atomic_write_text, folder_transaction

__all__ = ["PretrainedConfig", "CONFIG_NAME", "VERSION_KEY", "ACTIVATIONS"]

CONFIG_NAME = "config.json"
#: Written into every saved config, in place of ``transformers_version``.
VERSION_KEY = "polyformer_version"

#: Activation names a config may use; every backend implements all of them.
ACTIVATIONS = (
    "gelu",
    "gelu_new",
    "gelu_fast",
    "gelu_pytorch_tanh",
    "quick_gelu",
    "relu",
    "silu",
    "swish",
    "tanh",
    "sigmoid",
    "linear",
)

# The keys every config has, with their defaults. A key is listed in the saved
# (diff) form only when its value differs from the default here.
_COMMON_DEFAULTS: dict[str, Any] = {
    "return_dict": True,
    "output_hidden_states": False,
    "output_attentions": False,
    "dtype": None,
    "tie_word_embeddings": True,
    "chunk_size_feed_forward": 0,
    "is_encoder_decoder": False,
    "is_decoder": False,
    "add_cross_attention": False,
    "architectures": None,
    "finetuning_task": None,
    "tokenizer_class": None,
    "prefix": None,
    "bos_token_id": None,
    "pad_token_id": None,
    "eos_token_id": None,
    "sep_token_id": None,
    "decoder_start_token_id": None,
    "problem_type": None,
    "pruned_heads": {},
}

PROBLEM_TYPES = ("regression", "single_label_classification", "multi_label_classification")

# Common keys that must be true or false (a string such as "no" would read as true).
_BOOLEAN_KEYS = ("return_dict", "output_hidden_states", "output_attentions", "tie_word_embeddings",
                 "is_encoder_decoder", "is_decoder", "add_cross_attention")
_TOKEN_ID_KEYS = ("bos_token_id", "pad_token_id", "eos_token_id", "sep_token_id", "decoder_start_token_id")

# Keys transformers writes into config.json (this version or earlier ones) that are not
# parameters here. They are kept like any unknown key but never taken for a typo.
_TRANSFORMERS_KEYS = frozenset({
    "transformers_version", "architectures", "torch_dtype", "torchscript", "use_bfloat16", "tf_legacy_loss",
    "tie_encoder_decoder", "cross_attention_hidden_size", "task_specific_params", "quantization_config",
    "gradient_checkpointing", "use_cache", "attn_implementation", "max_length", "min_length", "do_sample",
    "early_stopping", "num_beams", "num_beam_groups", "diversity_penalty", "temperature", "top_k", "top_p",
    "typical_p", "repetition_penalty", "length_penalty", "no_repeat_ngram_size", "encoder_no_repeat_ngram_size",
    "bad_words_ids", "num_return_sequences", "output_scores", "return_dict_in_generate", "forced_bos_token_id",
    "forced_eos_token_id", "remove_invalid_values", "exponential_decay_length_penalty", "suppress_tokens",
    "begin_suppress_tokens",
})

# The file being read, while a config is built from it (named in errors and warnings).
_SOURCE: contextvars.ContextVar[str | None] = contextvars.ContextVar("polyformer_config_source", default=None)
# (config class, key) pairs already warned about as likely typos.
_WARNED_NEAR_MISSES: set[tuple[type, str]] = set()


def _version() -> str:
    from .. import __version__

    return __version__


class PretrainedConfig:
    """Base class of every architecture's configuration.

    Subclasses set ``model_type`` and, optionally, ``attribute_map`` (common names
    such as ``hidden_size`` mapped to the architecture's own key such as ``dim``),
    and override :meth:`validate` to check their keys.
    """

    model_type: str = ""
    attribute_map: dict[str, str] = {}

    def __init__(self, **kwargs: Any) -> None:
        name = type(self).__name__
        # Labels first: num_labels and id2label may both be given.
        id2label = kwargs.pop("id2label", None)
        label2id = kwargs.pop("label2id", None)
        num_labels = kwargs.pop("num_labels", None)
        if "torch_dtype" in kwargs and "dtype" not in kwargs:  # older transformers key
            kwargs["dtype"] = kwargs.pop("torch_dtype")
        kwargs.pop("transformers_version", None)
        kwargs.pop(VERSION_KEY, None)
        model_type = kwargs.pop("model_type", None)
        if model_type is not None and (not isinstance(model_type, str) or not model_type):
            raise ValueError(f"{name}: model_type must be the architecture's name as a string "
                             f"(such as {type(self).model_type or 'distilbert'!r}), got {model_type!r}")

        for key, default in _COMMON_DEFAULTS.items():
            value = kwargs.pop(key, copy.deepcopy(default))
            setattr(self, key, value)
        if self.dtype is not None and not isinstance(self.dtype, str):
            self.dtype = _dtype_name(self.dtype)

        if num_labels is not None:
            _check_num_labels(name, num_labels)
        if id2label is None and label2id is not None:  # the names given one way round only
            id2label = _inverse(name, _label2id(name, label2id))
        if id2label is not None:
            self.id2label = _id2label(name, id2label)
            if num_labels is not None and num_labels != len(self.id2label):
                raise ValueError(
                    f"{name}: num_labels={num_labels} does not match id2label, which has {len(self.id2label)} labels"
                )
        else:
            self.num_labels = 2 if num_labels is None else num_labels
        if label2id is not None:
            self.label2id = _label2id(name, label2id)
        else:
            self.label2id = {label: index for index, label in self.id2label.items()}

        # Unknown keys are kept as attributes: they may belong to another library.
        self._warn_about_near_misses(kwargs)
        for key, value in kwargs.items():
            setattr(self, key, value)
        self.validate()

    @classmethod
    def _warn_about_near_misses(cls, unknown: dict[str, Any]) -> None:
        """Warn (once per class and key) about an unknown key one typo away from a parameter."""
        known = _known_keys(cls)
        for key in unknown:
            if key in known or key in _TRANSFORMERS_KEYS or key.startswith("_") or (cls, key) in _WARNED_NEAR_MISSES:
                continue
            close = sorted(k for k in known if _one_edit_apart(key, k))
            if not close:
                continue
            _WARNED_NEAR_MISSES.add((cls, key))
            source = _SOURCE.get()
            where = f" in {source}" if source else ""
            guesses = " or ".join(repr(k) for k in close)
            warnings.warn(
                f"{cls.__name__}: unknown key {key!r}{where} is kept as an extra setting; did you mean {guesses}?",
                stacklevel=4,
            )

    # -- aliases -------------------------------------------------------------------
    def __setattr__(self, key: str, value: Any) -> None:
        key = type(self).attribute_map.get(key, key)
        super().__setattr__(key, value)

    def __getattr__(self, key: str) -> Any:
        # Only called when normal lookup fails: resolve common-name aliases.
        mapped = type(self).attribute_map.get(key)
        if mapped is not None:
            return getattr(self, mapped)
        raise AttributeError(f"'{type(self).__name__}' has no attribute '{key}'")

    # -- labels --------------------------------------------------------------------
    @property
    def num_labels(self) -> int:
        return len(self.id2label)

    @num_labels.setter
    def num_labels(self, value: int) -> None:
        _check_num_labels(type(self).__name__, value)
        if getattr(self, "id2label", None) is None or len(self.id2label) != value:
            self.id2label = {i: f"LABEL_{i}" for i in range(value)}
            self.label2id = {name: i for i, name in self.id2label.items()}

    @property
    def use_return_dict(self) -> bool:
        return bool(self.return_dict)

    # -- validation ----------------------------------------------------------------
    def validate(self) -> None:
        """Raise a ValueError naming the key when a value is out of range.

        Subclasses call ``super().validate()`` and add their own checks, using the
        ``check_*`` helpers below so that every message has the same form.
        """
        name = type(self).__name__
        self.id2label = _id2label(name, self.id2label)
        self.label2id = _label2id(name, self.label2id)
        _check_labels_agree(name, self.id2label, self.label2id)
        if self.problem_type is not None and self.problem_type not in PROBLEM_TYPES:
            raise ValueError(
                f"{name}: problem_type must be one of {', '.join(PROBLEM_TYPES)} or None, got {self.problem_type!r}"
            )
        if self.problem_type == "single_label_classification" and self.num_labels == 1:
            raise ValueError(f"{name}: problem_type 'single_label_classification' needs num_labels >= 2, got 1 "
                             f"(use num_labels=2 for two classes, or problem_type 'regression')")
        for key in _BOOLEAN_KEYS:
            if not isinstance(getattr(self, key), bool):
                raise ValueError(f"{name}: {key} must be true or false, got {getattr(self, key)!r}")
        for key in _TOKEN_ID_KEYS:
            value = getattr(self, key)
            ids = value if key == "eos_token_id" and isinstance(value, list) else [value]  # eos may list several
            if value is not None and not all(isinstance(v, int) and not isinstance(v, bool) for v in ids):
                expected = "a token id (an integer)" + (" or a list of them" if key == "eos_token_id" else "")
                raise ValueError(f"{name}: {key} must be {expected} or None, got {value!r}")
        chunk = self.chunk_size_feed_forward
        if isinstance(chunk, bool) or not isinstance(chunk, int) or chunk < 0:
            raise ValueError(f"{name}: chunk_size_feed_forward must be an integer >= 0 (0: no chunking), got {chunk!r}")
        self.pruned_heads = self._checked_pruned_heads()

    def _checked_pruned_heads(self) -> dict[int, list[int]]:
        """``pruned_heads`` with integer keys, checked against the number of layers and heads when known."""
        name, heads = type(self).__name__, self.pruned_heads
        if heads is None:
            return {}
        expected = "a dict of layer index to the list of that layer's pruned heads, such as {0: [1, 2]}"
        if not isinstance(heads, dict):
            raise ValueError(f"{name}: pruned_heads must be {expected}, got {heads!r}")
        layers_key, layers = self._common_size("num_hidden_layers")
        heads_key, per_layer = self._common_size("num_attention_heads")
        checked = {}
        for layer, pruned in heads.items():
            if not _is_index(layer) or (layers is not None and int(layer) >= layers):
                within = f" below {layers_key}={layers}" if layers is not None else ""
                raise ValueError(f"{name}: pruned_heads has layer {layer!r}, which is not a layer index (an integer "
                                 f">= 0{within}); expected {expected}")
            if not isinstance(pruned, (list, tuple)) or not all(_is_index(h) for h in pruned):
                raise ValueError(f"{name}: pruned_heads[{layer!r}] must be a list of head indices, got {pruned!r}")
            pruned = [int(h) for h in pruned]
            if per_layer is not None:
                outside = [h for h in pruned if h >= per_layer]
                if outside:
                    raise ValueError(f"{name}: pruned_heads[{layer!r}] names head {outside[0]}, but {heads_key}="
                                     f"{per_layer} (heads are numbered 0 to {per_layer - 1})")
                if len(set(pruned)) >= per_layer:
                    raise ValueError(f"{name}: pruned_heads[{layer!r}] prunes all {per_layer} heads of layer {layer}; "
                                     f"at least one must remain")
            checked[int(layer)] = pruned
        return checked

    def _common_size(self, common_name: str) -> tuple[str, int | None]:
        """(the class's own key for a common size such as ``num_attention_heads``, its value if a positive int)."""
        key = type(self).attribute_map.get(common_name, common_name)
        value = getattr(self, key, None)
        return key, value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None

    def check_probability(self, *keys: str) -> None:
        for key in keys:
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
                raise ValueError(f"{type(self).__name__}: {key} must be a number in [0, 1], got {value!r}")

    def check_positive_int(self, *keys: str) -> None:
        for key in keys:
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"{type(self).__name__}: {key} must be a positive integer, got {value!r}")

    def check_activation(self, key: str) -> None:
        value = getattr(self, key)
        if value not in ACTIVATIONS:
            raise ValueError(
                f"{type(self).__name__}: {key}={value!r} is not a known activation; expected one of {', '.join(ACTIVATIONS)}"
            )

    def check_divisible(self, key: str, by_key: str) -> None:
        value, by = getattr(self, key), getattr(self, by_key)
        if value % by != 0:
            raise ValueError(f"{type(self).__name__}: {key}={value} must be divisible by {by_key}={by}")

    # -- dict and JSON -------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Every key, including the common defaults, as JSON-ready values."""
        output = copy.deepcopy({k: v for k, v in self.__dict__.items() if not k.startswith("_")})
        output["model_type"] = type(self).model_type
        output[VERSION_KEY] = _version()
        if output.get("dtype") is not None and not isinstance(output["dtype"], str):
            output["dtype"] = _dtype_name(output["dtype"])
        return output

    def to_diff_dict(self) -> dict[str, Any]:
        """Only what a reader needs: architecture keys, and common keys that differ from their default."""
        diff = {}
        for key, value in self.to_dict().items():
            if key in ("id2label", "label2id"):
                if value != _default_labels(key):
                    diff[key] = value
            elif key not in _COMMON_DEFAULTS or value != _COMMON_DEFAULTS[key]:
                diff[key] = value
        return diff

    def to_json_string(self, use_diff: bool = True) -> str:
        data = self.to_diff_dict() if use_diff else self.to_dict()
        return json.dumps(_jsonable(data), indent=2, sort_keys=True) + "\n"

    def to_json_file(self, json_file_path: str | os.PathLike, use_diff: bool = True) -> None:
        atomic_write_text(Path(json_file_path), self.to_json_string(use_diff=use_diff))

    def example_inputs(self, batch_size: int = 2, *, seed: int = 0) -> dict[str, Any]:
        """Small random inputs of the model this config describes, as numpy arrays, named as its
        ``forward`` names them (``input_ids``, ``pixel_values``, ``input_values``...).

        Framework-free, so every backend traces shapes with them and the conformance suite
        (``polyformer.testing``) feeds them to every framework. Each architecture's config
        implements it (text ones with :func:`polyformer.core.example_inputs.token_inputs`).
        """
        raise NotImplementedError(
            f"{type(self).__name__} does not implement example_inputs(batch_size, seed=...): an architecture's "
            f"config returns small random inputs for its models (see polyformer.core.example_inputs)"
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__} {self.to_json_string().rstrip()}"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PretrainedConfig) and self.to_dict() == other.to_dict()

    def __iter__(self):
        return iter(self.to_dict())

    def apply_overrides(self, overrides: dict[str, Any]) -> dict[str, Any]:
        """Set the overrides that name existing keys, validate, and return the others (unused)."""
        unused = set_existing_attributes(self, overrides)
        if len(unused) < len(overrides):
            self.validate()
        return unused

    def update(self, values: dict[str, Any]) -> None:
        """Set several keys at once, then validate."""
        for key, value in values.items():
            setattr(self, key, value)
        self.validate()

    # -- disk ----------------------------------------------------------------------
    def save_pretrained(self, save_directory: str | os.PathLike, **kwargs: Any) -> None:
        """Write ``config.json`` (diff form) into ``save_directory``, creating it if needed.

        Args:
            save_directory: the folder to write into (not a file).
            **kwargs: accepted for transformers' signature; any given is an error naming it
                (polyformer has no hub upload).
        """
        if kwargs:
            raise TypeError(f"save_pretrained() got unexpected arguments: {', '.join(sorted(kwargs))}")
        save_directory = Path(save_directory)
        if save_directory.is_file():
            raise NotADirectoryError(f"save_directory '{save_directory}' is a file; expected a folder")
        with folder_transaction(save_directory):  # joins the model's save when called from one
            self.to_json_file(save_directory / CONFIG_NAME)

    @classmethod
    def get_config_dict(cls, pretrained_model_name_or_path: str | os.PathLike, **hub_kwargs: Any) -> dict[str, Any]:
        """Read the JSON of a folder, a ``.json`` file or a hub id, with a clear error if malformed."""
        path = resolve_file(pretrained_model_name_or_path, CONFIG_NAME, **hub_kwargs)
        return read_json_dict(path)

    @classmethod
    def from_pretrained(
        cls,
        pretrained_model_name_or_path: str | os.PathLike,
        *,
        return_unused_kwargs: bool = False,
        **kwargs: Any,
    ):
        """Load from a folder, a ``config.json`` path or a hub id; kwargs override keys.

        A hub id's ``config.json`` is downloaded into the Hugging Face cache. A ``model_type``
        in the file other than this class's gets a warning (it is loaded anyway, as
        transformers does).

        Args:
            pretrained_model_name_or_path: a folder holding ``config.json``, the path of a
                JSON file, or a hub id.
            return_unused_kwargs: also return the ``kwargs`` that name no config key, as
                ``(config, unused)``; without it they are ignored, as in transformers.
            **kwargs: the hub options (``revision``, ``cache_dir``, ``token``,
                ``local_files_only``, ``force_download``), and config keys to override
                (``num_labels=3``); a bad value raises a ``ValueError`` naming the key.
        """
        path = resolve_file(pretrained_model_name_or_path, CONFIG_NAME, **pop_hub_options(kwargs))
        config_dict = read_json_dict(path)
        found = config_dict.get("model_type")
        if cls.model_type and isinstance(found, str) and found and found != cls.model_type:
            warnings.warn(
                f"{pretrained_model_name_or_path}: config.json has model_type '{found}', "
                f"loading it as {cls.__name__} ('{cls.model_type}')",
                stacklevel=2,
            )
        return cls.from_file_dict(path, config_dict, return_unused_kwargs=return_unused_kwargs, **kwargs)

    @classmethod
    def from_dict(cls, config_dict: dict[str, Any], *, return_unused_kwargs: bool = False, **kwargs: Any):
        """Build from a dict; kwargs naming existing keys override them, the others are returned as unused."""
        return cls.from_file_dict(None, config_dict, return_unused_kwargs=return_unused_kwargs, **kwargs)

    @classmethod
    def from_file_dict(cls, path: str | os.PathLike | None, config_dict: dict[str, Any], *,
                       return_unused_kwargs: bool = False, **kwargs: Any):
        """:meth:`from_dict` for a dict read from ``path``, which errors about its values then name."""
        if not isinstance(config_dict, dict):
            raise TypeError(f"from_dict expected a dict, got {type(config_dict).__name__}")
        with values_from(path):
            config = cls(**config_dict)
        unused = config.apply_overrides(kwargs)
        return (config, unused) if return_unused_kwargs else config

    @classmethod
    def from_json_file(cls, json_file: str | os.PathLike):
        config_dict = read_json_dict(Path(json_file))
        with values_from(json_file):
            return cls(**config_dict)


@contextlib.contextmanager
def values_from(path: str | os.PathLike | None):
    """Name the file ``path`` in the errors (and typo warnings) about the values read from it."""
    if path is None:
        yield
        return
    token = _SOURCE.set(os.fspath(path))
    try:
        yield
    except (ValueError, TypeError) as exc:
        raise (TypeError if isinstance(exc, TypeError) else ValueError)(f"{os.fspath(path)}: {exc}") from None
    finally:
        _SOURCE.reset(token)


def _is_index(value: Any) -> bool:
    """An integer >= 0, or a string of digits (JSON object keys are strings)."""
    if isinstance(value, str):
        return value.isdigit() and value.isascii()
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _check_num_labels(name: str, value: Any) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name}: num_labels must be a positive integer, got {value!r}")


def _id2label(name: str, id2label: Any) -> dict[int, str]:
    """``id2label`` with integer keys; an error naming the key when it is not index -> name."""
    expected = "a dict of label index to label name, such as {0: 'negative', 1: 'positive'}"
    if not isinstance(id2label, dict):
        raise ValueError(f"{name}: id2label must be {expected}, got {id2label!r}")
    checked: dict[int, str] = {}
    for index, label in id2label.items():
        if not _is_index(index):
            raise ValueError(f"{name}: id2label has key {index!r}, which is not a label index (an integer >= 0); "
                             f"expected {expected}")
        if isinstance(label, bool) or not isinstance(label, (str, int)):
            raise ValueError(f"{name}: id2label[{index!r}] must be a label name (a string), got {label!r}")
        if int(index) in checked:
            raise ValueError(f"{name}: id2label gives label index {int(index)} twice")
        checked[int(index)] = str(label)
    return checked


def _label2id(name: str, label2id: Any) -> dict[str, int]:
    """``label2id`` with integer values; an error naming the key when it is not name -> index."""
    expected = "a dict of label name to label index, such as {'negative': 0, 'positive': 1}"
    if not isinstance(label2id, dict):
        raise ValueError(f"{name}: label2id must be {expected}, got {label2id!r}")
    for label, index in label2id.items():
        if not _is_index(index):
            raise ValueError(f"{name}: label2id[{label!r}] is {index!r}, which is not a label index (an integer "
                             f">= 0); expected {expected}")
    return {str(label): int(index) for label, index in label2id.items()}


def _inverse(name: str, label2id: dict[str, int]) -> dict[int, str]:
    """The id2label that a label2id given alone stands for."""
    id2label: dict[int, str] = {}
    for label, index in label2id.items():
        if index in id2label:
            raise ValueError(f"{name}: label2id puts both {id2label[index]!r} and {label!r} at index {index}; "
                             f"each label needs its own index")
        id2label[index] = label
    return id2label


def _check_labels_agree(name: str, id2label: dict[int, str], label2id: dict[str, int]) -> None:
    """Refuse a label2id that puts a label id2label also names at another index.

    A label2id naming labels id2label does not have is accepted: that is what a
    config.json holds when id2label was changed after label2id was written (transformers
    writes such files), and the model reads only id2label.
    """
    indices: dict[str, list[int]] = {}
    for index, label in id2label.items():
        indices.setdefault(label, []).append(index)
    for label, index in label2id.items():
        if label in indices and index not in indices[label]:
            where = " and ".join(str(i) for i in indices[label])
            raise ValueError(f"{name}: label2id does not match id2label: label2id puts {label!r} at index {index}, "
                             f"but id2label has it at {where}. Pass id2label alone and label2id is derived from it")


@functools.lru_cache(maxsize=None)
def _known_keys(cls: type) -> frozenset[str]:
    """The keys a config class knows: its ``__init__`` parameters (through its bases), the common keys, the aliases."""
    known = set(_COMMON_DEFAULTS) | {"id2label", "label2id", "num_labels", "model_type", VERSION_KEY}
    for klass in cls.__mro__:
        if "__init__" in vars(klass) and issubclass(klass, PretrainedConfig):
            for parameter in inspect.signature(vars(klass)["__init__"]).parameters.values():
                if parameter.kind not in (parameter.VAR_KEYWORD, parameter.VAR_POSITIONAL) and parameter.name != "self":
                    known.add(parameter.name)
    known.update(cls.attribute_map)
    known.update(cls.attribute_map.values())
    return frozenset(known)


def _one_edit_apart(a: str, b: str) -> bool:
    """Damerau-Levenshtein distance exactly 1: one insertion, deletion, substitution or adjacent swap."""
    if a == b or abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        diff = [i for i in range(len(a)) if a[i] != b[i]]
        if len(diff) == 1:
            return True
        return len(diff) == 2 and diff[1] == diff[0] + 1 and a[diff[0]] == b[diff[1]] and a[diff[1]] == b[diff[0]]
    shorter, longer = (a, b) if len(a) < len(b) else (b, a)
    return any(longer[:i] + longer[i + 1:] == shorter for i in range(len(longer)))


def set_existing_attributes(obj: Any, values: dict[str, Any]) -> dict[str, Any]:
    """Set each value whose key ``obj`` already has; return the others (the caller decides if unused is an error).

    The override rule of every ``from_pretrained(path, key=value)`` that loads settings
    (configs, feature extractors, image processors).
    """
    unused = {}
    for key, value in values.items():
        if hasattr(obj, key):
            setattr(obj, key, value)
        else:
            unused[key] = value
    return unused


def read_json_dict(path: Path) -> dict[str, Any]:
    """Read a JSON object from ``path``; errors name the file and what was expected."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FileNotFoundError(f"{path} does not exist") from None
    except UnicodeDecodeError:
        raise ValueError(f"{path} is not a JSON file: it is not UTF-8 text (a weights file?)") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path} is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path} must hold a JSON object, found {type(data).__name__}")
    return data


def _default_labels(key: str) -> dict:
    labels = {0: "LABEL_0", 1: "LABEL_1"}
    return labels if key == "id2label" else {v: k for k, v in labels.items()}


def _dtype_name(dtype: Any) -> str:
    text = str(dtype)
    return text.rpartition(".")[2] if "." in text else text


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if hasattr(value, "tolist"):  # numpy scalars and arrays
        return value.tolist()
    if hasattr(value, "to_dict"):
        return _jsonable(value.to_dict())
    return str(value)
