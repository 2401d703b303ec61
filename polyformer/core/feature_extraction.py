"""Preprocessor configuration shared by feature extractors and image processors.

A preprocessor (audio feature extractor, image processor) is, like a model config, a
set of named settings saved as JSON: ``preprocessor_config.json``. This module holds
that part once: :class:`FeatureExtractionMixin` (settings as attributes, JSON repr,
``save_pretrained`` / ``from_pretrained`` with overrides), :class:`BatchFeature` (the
output, with ``return_tensors``), and :class:`SequenceFeatureExtractor` (padding of
variable-length sequences such as audio).
"""

from __future__ import annotations

import copy
import json
import math
import numbers
import os
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from .configuration import read_json_dict, set_existing_attributes
from .hub import SourceFolder, pop_hub_options, resolve_file
from .io import atomic_write_text, folder_transaction
from .tensors import stack_as_array, tensor_converter

__all__ = [
    "PREPROCESSOR_CONFIG_NAME",
    "PROCESSOR_CONFIG_NAME",
    "BatchFeature",
    "FeatureExtractionMixin",
    "SequenceFeatureExtractor",
]

PREPROCESSOR_CONFIG_NAME = "preprocessor_config.json"
PROCESSOR_CONFIG_NAME = "processor_config.json"


class BatchFeature(dict):
    """The output of a preprocessor (``input_values``, ``pixel_values``...), by key or attribute."""

    def __init__(self, data: dict | None = None, tensor_type: str | None = None) -> None:
        super().__init__(data or {})
        self.convert_to_tensors(tensor_type)

    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        try:
            return self[name]
        except KeyError:
            raise AttributeError(f"BatchFeature has no key or attribute '{name}'") from None

    def convert_to_tensors(self, tensor_type: str | None = None) -> "BatchFeature":
        """Turn every value into a ``tensor_type`` tensor ("np", "pt", "tf", "jax"...).

        With "np", a list of examples of different lengths (audio that was not padded)
        becomes a 1-D object array holding one array per example, as in transformers, with
        a warning; the other tensor types cannot hold that and raise.
        """
        convert = tensor_converter(tensor_type)
        if convert is None:
            return self
        for key, value in list(self.items()):
            if getattr(tensor_type, "value", tensor_type) == "np" and _lengths_differ(value):
                self[key] = _object_array(key, value)
                continue
            array = stack_as_array(key, value, "its items have different shapes. Pass padding=True.")
            if array.dtype == np.float64:
                array = array.astype(np.float32)
            self[key] = convert(array)
        return self


def _lengths_differ(value: Any) -> bool:
    """True for a list of examples (arrays or lists) whose lengths are not all the same."""
    if not isinstance(value, (list, tuple)) or not value:
        return False
    if not all(isinstance(item, (list, tuple, np.ndarray)) and np.ndim(item) > 0 for item in value):
        return False
    return len({len(item) for item in value}) > 1


def _object_array(key: str, value: list) -> np.ndarray:
    """A 1-D object array holding each example as its own array (float64 made float32, as stacked values are)."""
    warnings.warn(
        f"'{key}' holds examples of different lengths ({min(len(v) for v in value)} to "
        f"{max(len(v) for v in value)}), so return_tensors='np' gives them as a numpy object array of "
        "arrays, one per example. Pass padding=True for one (batch, length) array.",
        stacklevel=4,
    )
    result = np.empty(len(value), dtype=object)
    for index, item in enumerate(value):
        array = np.asarray(item)
        result[index] = array.astype(np.float32) if array.dtype == np.float64 else array
    return result


class FeatureExtractionMixin:
    """Settings saved as ``preprocessor_config.json``; subclasses take them as keyword arguments.

    Like :class:`~polyformer.core.configuration.PretrainedConfig`, unknown keys are kept
    as attributes (they may belong to another library), and ``print(obj)`` shows the
    class name followed by the JSON with sorted keys.
    """

    #: The key naming the class in the saved JSON (image processors use the same key,
    #: which transformers still reads).
    type_key = "feature_extractor_type"
    #: The key of this part's settings inside a transformers v5 ``processor_config.json``.
    processor_config_key = "feature_extractor"

    def __init__(self, **kwargs: Any) -> None:
        kwargs.pop(self.type_key, None)
        kwargs.pop("image_processor_type", None)
        kwargs.pop("processor_class", None)
        for key, value in kwargs.items():
            setattr(self, key, value)

    # -- dict and JSON ---------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        output = copy.deepcopy({k: v for k, v in self.__dict__.items() if not k.startswith("_")})
        output[self.type_key] = type(self).__name__
        return output

    def to_json_string(self) -> str:
        return json.dumps(_jsonable(self.to_dict()), indent=2, sort_keys=True) + "\n"

    def to_json_file(self, json_file_path: str | os.PathLike) -> None:
        atomic_write_text(Path(json_file_path), self.to_json_string())

    def __repr__(self) -> str:
        return f"{type(self).__name__} {self.to_json_string().rstrip()}"

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and self.to_dict() == other.to_dict()

    # -- disk ------------------------------------------------------------------------
    def save_pretrained(self, save_directory: str | os.PathLike, **kwargs: Any) -> list[Path]:
        """Write ``preprocessor_config.json`` into ``save_directory`` (created if needed)."""
        if kwargs:
            raise TypeError(f"save_pretrained() got unexpected arguments: {', '.join(sorted(kwargs))}")
        save_directory = Path(save_directory)
        if save_directory.is_file():
            raise NotADirectoryError(f"save_directory '{save_directory}' is a file; expected a folder")
        path = save_directory / PREPROCESSOR_CONFIG_NAME
        with folder_transaction(save_directory):  # joins a processor's save when called from one
            self.to_json_file(path)
        return [path]

    @classmethod
    def pretrained_file_names(cls) -> tuple[str, ...]:
        """The files :meth:`from_pretrained` reads from a folder (those a hub repo has are downloaded)."""
        return (PROCESSOR_CONFIG_NAME, PREPROCESSOR_CONFIG_NAME)

    @classmethod
    def get_preprocessor_dict(cls, pretrained_model_name_or_path: str | os.PathLike, **hub_kwargs: Any) -> dict[str, Any]:
        """The saved settings: this part's entry in ``processor_config.json``, else ``preprocessor_config.json``.

        transformers v5 saves a processor's feature extractor / image processor inside
        ``processor_config.json`` (under ``processor_config_key``) and reads that first;
        older folders, and ours, have ``preprocessor_config.json``.
        """
        path = Path(pretrained_model_name_or_path).expanduser()
        if path.is_file():
            return read_json_dict(resolve_file(path, PREPROCESSOR_CONFIG_NAME))
        source = SourceFolder(pretrained_model_name_or_path, **hub_kwargs)  # one commit for both files
        nested = source.get(PROCESSOR_CONFIG_NAME, required=False)
        if nested is not None:
            data = read_json_dict(nested).get(cls.processor_config_key)
            if isinstance(data, dict):
                return data
        return read_json_dict(source.get(PREPROCESSOR_CONFIG_NAME))

    @classmethod
    def from_pretrained(
        cls,
        pretrained_model_name_or_path: str | os.PathLike,
        *,
        return_unused_kwargs: bool = False,
        **kwargs: Any,
    ):
        """Load from a folder, a ``preprocessor_config.json`` path or a hub id; kwargs override.

        Image processors load the same way (they share this class's file handling). A hub
        id's settings files are downloaded into the Hugging Face cache.

        Args:
            pretrained_model_name_or_path: a folder holding ``preprocessor_config.json``, the
                path of that file, or a hub id.
            return_unused_kwargs: also return the ``kwargs`` that name no setting, as
                ``(preprocessor, unused)``.
            **kwargs: the hub options (``revision``, ``cache_dir``, ``token``,
                ``local_files_only``, ``force_download``), and settings overriding the saved
                ones (``sampling_rate``, ``size``, ``do_normalize``...).
        """
        data = cls.get_preprocessor_dict(pretrained_model_name_or_path, **pop_hub_options(kwargs))
        return cls.from_dict(data, return_unused_kwargs=return_unused_kwargs, **kwargs)

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, return_unused_kwargs: bool = False, **kwargs: Any):
        """Build from saved settings; kwargs naming settings override them, the others are returned as unused."""
        preprocessor = cls(**data)
        unused = set_existing_attributes(preprocessor, kwargs)
        return (preprocessor, unused) if return_unused_kwargs else preprocessor

    @classmethod
    def from_json_file(cls, json_file: str | os.PathLike):
        return cls(**read_json_dict(Path(json_file)))


class SequenceFeatureExtractor(FeatureExtractionMixin):
    """A feature extractor for variable-length sequences (audio), with padding.

    ``feature_size`` is the size of one frame (1 for raw audio), ``sampling_rate`` the
    rate the extractor expects, ``padding_value`` what padded positions hold.
    """

    model_input_names = ["input_values", "attention_mask"]

    def __init__(self, feature_size: int, sampling_rate: int, padding_value: float, **kwargs: Any) -> None:
        self.feature_size = feature_size
        self.sampling_rate = sampling_rate
        self.padding_value = padding_value
        self.padding_side = kwargs.pop("padding_side", "right")
        self.return_attention_mask = kwargs.pop("return_attention_mask", True)
        super().__init__(**kwargs)
        SequenceFeatureExtractor.validate(self)  # a subclass checks its own settings once they are set

    def validate(self) -> None:
        """Raise a ValueError naming the setting when one is invalid.

        Run at construction, after ``from_dict`` / ``from_pretrained`` overrides, and at every
        call, so a bad value (a negative rate, a NaN padding value) never reaches the output.
        """
        name = type(self).__name__
        if not _is_positive_int(self.feature_size):
            raise ValueError(
                f"{name}: feature_size must be a positive integer (the number of values per frame, 1 for raw "
                f"audio), got {self.feature_size!r}"
            )
        if not _is_positive_int(self.sampling_rate):
            raise ValueError(
                f"{name}: sampling_rate must be a positive integer (samples per second, e.g. 16000), "
                f"got {self.sampling_rate!r}"
            )
        value = self.padding_value
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
            raise ValueError(f"{name}: padding_value must be a finite number (e.g. 0.0), got {value!r}")
        if self.padding_side not in ("left", "right"):
            raise ValueError(f"{name}: padding_side must be 'left' or 'right', got {self.padding_side!r}")
        if not isinstance(self.return_attention_mask, (bool, np.bool_)):
            raise ValueError(f"{name}: return_attention_mask must be True or False, got {self.return_attention_mask!r}")

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, return_unused_kwargs: bool = False, **kwargs: Any):
        """As the base class, then check the settings, so a bad override fails at load time."""
        result = super().from_dict(data, return_unused_kwargs=return_unused_kwargs, **kwargs)
        (result[0] if return_unused_kwargs else result).validate()
        return result

    def pad(
        self,
        processed_features: BatchFeature | dict[str, Any],
        padding: bool | str = True,
        max_length: int | None = None,
        truncation: bool = False,
        pad_to_multiple_of: int | None = None,
        return_attention_mask: bool | None = None,
        return_tensors: str | None = None,
    ) -> BatchFeature:
        """Pad (or truncate) every sequence of the main input to one length.

        ``padding``: True / "longest" (to the longest), "max_length" (to ``max_length``),
        False / "do_not_pad". The attention mask marks real frames with 1.
        """
        if isinstance(processed_features, (list, tuple)) and processed_features and all(
                isinstance(item, dict) for item in processed_features):
            # A list of examples, as a data collator gets them: made a dict of lists.
            processed_features = {key: [item[key] for item in processed_features] for key in processed_features[0]}
        if not isinstance(processed_features, dict) or not processed_features:
            raise ValueError("pad() expects a dict of features such as {'input_values': [...]}, or a list of those")
        main = self.model_input_names[0]
        if main not in processed_features:
            raise ValueError(f"pad() needs the key '{main}', got keys {sorted(processed_features)}")
        padding = self._padding_strategy(padding, max_length, truncation)
        self.validate()
        sequences = [self._as_sequence(main, index, s) for index, s in enumerate(processed_features[main])]
        batch = self._pad_sequences(sequences, padding, max_length, truncation, pad_to_multiple_of)
        want_mask = self.return_attention_mask if return_attention_mask is None else return_attention_mask
        return self._batch_feature(processed_features, batch, want_mask, return_tensors)

    @staticmethod
    def _padding_strategy(padding: bool | str, max_length: int | None, truncation: bool) -> str:
        """``padding`` as "longest", "max_length" or "do_not_pad", after checking it goes with the other arguments."""
        if padding is True:
            padding = "longest"
        elif padding is False:
            padding = "do_not_pad"
        if padding not in ("longest", "max_length", "do_not_pad"):
            raise ValueError(f"padding must be True, False, 'longest', 'max_length' or 'do_not_pad', got {padding!r}")
        if padding == "max_length" and max_length is None:
            raise ValueError("padding='max_length' needs max_length")
        if truncation and max_length is None:
            raise ValueError("truncation=True needs max_length")
        return padding

    def _pad_sequences(
        self,
        sequences: list[np.ndarray],
        padding: str,
        max_length: int | None,
        truncation: bool,
        pad_to_multiple_of: int | None,
        write: Callable[[np.ndarray, np.ndarray], None] | None = None,
    ) -> "PaddedSequences":
        """Truncate and pad float32 ``sequences`` (checked by :meth:`_as_sequence`) on ``padding_side``.

        The usual case, where every example ends up with the same length, fills one
        preallocated ``(batch, frames, ...)`` array: each example is copied once into its
        row and only the padded frames are written with ``padding_value``. When lengths
        still differ (no padding, or ``max_length`` shorter than an untruncated example),
        each example gets its own array. Either way the result is new memory, never the
        caller's arrays, so a subclass may normalise it in place.

        ``write(sequence, out)``, when given, puts an example's real frames into ``out`` (its
        place in the row) instead of a plain copy: a subclass that transforms each example
        (Wav2Vec2's normalisation) does it while copying, one pass over the batch fewer.
        """
        if truncation:
            # As transformers: the cut is rounded up to pad_to_multiple_of, so the two options agree.
            limit = _round_up(max_length, pad_to_multiple_of)
            sequences = [s[:limit] for s in sequences]
        lengths = [len(s) for s in sequences]
        target = None
        if padding == "longest":
            target = max(lengths)
        elif padding == "max_length":
            target = max_length
        if target is not None:
            target = _round_up(target, pad_to_multiple_of)
        widths = [max(target or length, length) for length in lengths]
        right = self.padding_side == "right"
        starts = [0 if right else width - length for width, length in zip(widths, lengths)]
        if len(set(widths)) == 1:
            values = np.empty((len(sequences), widths[0]) + sequences[0].shape[1:], dtype=np.float32)
            rows = list(values)
        else:
            rows = [np.empty((width,) + s.shape[1:], dtype=np.float32) for width, s in zip(widths, sequences)]
            values = rows
        for row, sequence, start, length in zip(rows, sequences, starts, lengths):
            row[:start] = self.padding_value
            if write is None:
                row[start : start + length] = sequence
            else:
                write(sequence, row[start : start + length])
            row[start + length :] = self.padding_value
        return PaddedSequences(values, starts, lengths)

    def _batch_feature(
        self,
        features: dict[str, Any],
        batch: "PaddedSequences",
        want_mask: bool,
        return_tensors: str | None,
    ) -> BatchFeature:
        """The output of :meth:`pad`: ``features`` with the main input padded, and its mask when asked for.

        Without ``return_tensors`` each example is its own array, as before padding; with
        it, a batch padded to one length goes to the tensor type as the one array it already is.
        """
        data = dict(features)
        stacked = isinstance(batch.values, np.ndarray) and return_tensors is not None
        data[self.model_input_names[0]] = batch.values if stacked else list(batch.values)
        if want_mask:
            mask = batch.attention_mask()
            data["attention_mask"] = mask if stacked else list(mask)
        return BatchFeature(data, tensor_type=return_tensors)

    def _as_sequence(self, key: str, index: int, sequence: Any) -> np.ndarray:
        """One example as float32, of the shape ``feature_size`` asks for: (frames,) or (frames, feature_size)."""
        array = np.asarray(sequence, dtype=np.float32)
        expected = (array.ndim == 1) if self.feature_size == 1 else (
            array.ndim == 2 and array.shape[1] == self.feature_size)
        if not expected:
            want = "a 1-D sequence (frames,)" if self.feature_size == 1 else f"(frames, {self.feature_size})"
            raise ValueError(
                f"{type(self).__name__}.pad(): {key}[{index}] has shape {array.shape}, but feature_size="
                f"{self.feature_size} means each example is {want}"
            )
        return array


class PaddedSequences:
    """Padded examples and where their real frames are, from :meth:`SequenceFeatureExtractor._pad_sequences`.

    ``values`` is one ``(batch, frames, ...)`` float32 array when every example has the same
    padded length, else a list of arrays. Example ``i`` holds its real frames at
    ``values[i][starts[i] : starts[i] + lengths[i]]`` and ``padding_value`` elsewhere.
    """

    def __init__(self, values: np.ndarray | list[np.ndarray], starts: list[int], lengths: list[int]) -> None:
        self.values = values
        self.starts = starts
        self.lengths = lengths

    def real_frames(self, index: int) -> slice:
        """Where example ``index``'s real (unpadded) frames are in its row."""
        return slice(self.starts[index], self.starts[index] + self.lengths[index])

    def attention_mask(self) -> np.ndarray | list[np.ndarray]:
        """int32, 1 on real frames and 0 on padding, in the same form as ``values`` (built only when asked for)."""
        if isinstance(self.values, np.ndarray):
            mask = np.zeros(self.values.shape[:2], dtype=np.int32)
            rows = list(mask)
        else:
            rows = [np.zeros(len(row), dtype=np.int32) for row in self.values]
            mask = rows
        for index, row in enumerate(rows):
            row[self.real_frames(index)] = 1
        return mask


def _is_positive_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool) and value > 0


def _round_up(length: int, multiple: int | None) -> int:
    return -(-length // multiple) * multiple if multiple else length


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)
