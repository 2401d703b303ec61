"""Model configuration, in the Hugging Face ``config.json`` format.

A config is a plain object whose attributes are the JSON keys. Architecture
configs subclass :class:`PretrainedConfig`, take their own keys as explicit keyword
arguments with their defaults, and pass everything else to this base class, which
keeps unknown keys (so a ``config.json`` written by another library round-trips).

What is written to disk follows ``transformers``: ``to_diff_dict`` keeps every key
that is not one of the common keys below, plus every common key whose value differs
from its default. That is why ``print(DistilBertConfig())`` shows the DistilBERT
keys and ``pad_token_id`` but not ``num_labels``.
"""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import Any

from .hub import resolve_file
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
        # Labels first: num_labels and id2label may both be given.
        id2label = kwargs.pop("id2label", None)
        label2id = kwargs.pop("label2id", None)
        num_labels = kwargs.pop("num_labels", None)
        if "torch_dtype" in kwargs and "dtype" not in kwargs:  # older transformers key
            kwargs["dtype"] = kwargs.pop("torch_dtype")
        kwargs.pop("transformers_version", None)
        kwargs.pop(VERSION_KEY, None)
        kwargs.pop("model_type", None)

        for key, default in _COMMON_DEFAULTS.items():
            value = kwargs.pop(key, copy.deepcopy(default))
            setattr(self, key, value)
        if self.dtype is not None and not isinstance(self.dtype, str):
            self.dtype = _dtype_name(self.dtype)
        if self.pruned_heads:
            self.pruned_heads = {int(k): list(v) for k, v in self.pruned_heads.items()}

        if id2label is not None:
            if not isinstance(id2label, dict):
                raise ValueError(f"id2label must be a dict of label index to name, got {type(id2label).__name__}")
            self.id2label = {int(k): str(v) for k, v in id2label.items()}
            if num_labels is not None and num_labels != len(self.id2label):
                raise ValueError(
                    f"num_labels={num_labels} does not match id2label, which has {len(self.id2label)} labels"
                )
        else:
            self.num_labels = 2 if num_labels is None else num_labels
        if label2id is not None:
            self.label2id = {str(k): int(v) for k, v in label2id.items()}
        else:
            self.label2id = {name: index for index, name in self.id2label.items()}

        # Unknown keys are kept as attributes: they may belong to another library.
        for key, value in kwargs.items():
            setattr(self, key, value)
        self.validate()

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
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"num_labels must be a positive integer, got {value!r}")
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
        if self.problem_type is not None and self.problem_type not in PROBLEM_TYPES:
            raise ValueError(f"problem_type must be one of {', '.join(PROBLEM_TYPES)} or None, got {self.problem_type!r}")

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
        """Write ``config.json`` (diff form) into ``save_directory``, creating it if needed."""
        if kwargs:
            raise TypeError(f"save_pretrained() got unexpected arguments: {', '.join(sorted(kwargs))}")
        save_directory = Path(save_directory)
        if save_directory.is_file():
            raise NotADirectoryError(f"save_directory '{save_directory}' is a file; expected a folder")
        with folder_transaction(save_directory):  # joins the model's save when called from one
            self.to_json_file(save_directory / CONFIG_NAME)

    @classmethod
    def get_config_dict(cls, pretrained_model_name_or_path: str | os.PathLike, **hub_kwargs: Any) -> dict[str, Any]:
        """Read the JSON of a folder, a ``.json`` file or a cached hub id, with a clear error if malformed."""
        path = resolve_file(pretrained_model_name_or_path, CONFIG_NAME, **hub_kwargs)
        return read_json_dict(path)

    @classmethod
    def from_pretrained(
        cls,
        pretrained_model_name_or_path: str | os.PathLike,
        *,
        return_unused_kwargs: bool = False,
        cache_dir: str | os.PathLike | None = None,
        revision: str | None = None,
        **kwargs: Any,
    ):
        """Load from a folder, a ``config.json`` path or a cached hub id; kwargs override keys."""
        config_dict = cls.get_config_dict(pretrained_model_name_or_path, cache_dir=cache_dir, revision=revision)
        found = config_dict.get("model_type")
        if cls.model_type and found and found != cls.model_type:
            import warnings

            warnings.warn(
                f"{pretrained_model_name_or_path}: config.json has model_type '{found}', "
                f"loading it as {cls.__name__} ('{cls.model_type}')",
                stacklevel=2,
            )
        return cls.from_dict(config_dict, return_unused_kwargs=return_unused_kwargs, **kwargs)

    @classmethod
    def from_dict(cls, config_dict: dict[str, Any], *, return_unused_kwargs: bool = False, **kwargs: Any):
        """Build from a dict; kwargs naming existing keys override them, the others are returned as unused."""
        if not isinstance(config_dict, dict):
            raise TypeError(f"from_dict expected a dict, got {type(config_dict).__name__}")
        config = cls(**config_dict)
        unused = config.apply_overrides(kwargs)
        return (config, unused) if return_unused_kwargs else config

    @classmethod
    def from_json_file(cls, json_file: str | os.PathLike):
        return cls(**read_json_dict(Path(json_file)))


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
