"""Processors: the preprocessing parts of a multimodal model held as one object.

A speech recognition model needs a feature extractor (audio in) and a tokenizer (text
out); a vision-language model an image processor and a tokenizer. A processor holds
those parts under fixed names (``attributes``), sends each input to the part that
handles it, and saves / loads every part in one folder, in the files each part
writes on its own (so the folder is also a feature extractor folder and a tokenizer
folder, here and in transformers).
"""

from __future__ import annotations

import inspect
import json
import os
from pathlib import Path
from typing import Any

from .feature_extraction import PROCESSOR_CONFIG_NAME, BatchFeature
from .hub import pop_hub_options, resolve_folder
from .io import folder_transaction
from .registry import class_name, import_object

__all__ = ["ProcessorMixin", "route_kwargs"]

# What each kind of part is: the base class it must be an instance of, and the input it takes.
# Base classes are named by import path, so a processor without images never imports image code.
_KINDS = {
    "feature_extractor": ("polyformer.core.feature_extraction:FeatureExtractionMixin", "audio"),
    "image_processor": ("polyformer.core.image_processing:ImageProcessingMixin", "images"),
    "tokenizer": ("polyformer.core.tokenization:PreTrainedTokenizerBase", "text"),
}


def _kind(attribute: str) -> str:
    """``"feature_extractor"``, ``"image_processor"`` or ``"tokenizer"``: the end of the attribute's name."""
    for kind in _KINDS:
        if attribute.endswith(kind):
            return kind
    raise TypeError(f"processor attribute {attribute!r} must end in one of: {', '.join(_KINDS)}")


def route_kwargs(owner: str, kwargs: dict[str, Any], targets: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Send each keyword argument to every function in ``targets`` that takes it (by name).

    Returns ``{target key: its kwargs}``; an argument that no target takes is a TypeError
    naming it, so a typo never passes silently.
    """
    routed: dict[str, dict[str, Any]] = {key: {} for key in targets}
    for name, value in kwargs.items():
        takers = [key for key, function in targets.items() if _takes(function, name)]
        if not takers:
            names = " or ".join(getattr(f, "__qualname__", repr(f)) for f in targets.values())
            raise TypeError(f"{owner}: {name!r} is not an argument of {names}")
        for key in takers:
            routed[key][name] = value
    return routed


def _takes(function, name: str) -> bool:
    parameters = inspect.signature(function).parameters.values()
    return any((p.name == name and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)) or p.kind is p.VAR_KEYWORD
               for p in parameters)


class ProcessorMixin:
    """Base class of processors: named parts, input routing, one folder on disk.

    A subclass sets ``attributes`` (part names ending in ``feature_extractor``,
    ``image_processor`` or ``tokenizer``) and ``part_classes`` (the class, or import path,
    that ``from_pretrained`` loads each part with). Each part must be an instance of its
    kind's base class; anything else is a TypeError naming the argument.

    Calling the processor sends ``audio`` to the feature extractor, ``images`` to the
    image processor and ``text`` to the tokenizer; a lone positional input goes to the
    first part. Each keyword argument goes to every called part that takes it
    (``padding=True`` pads audio and text), or only to one with ``audio_kwargs``,
    ``images_kwargs``, ``text_kwargs``. Given audio (or images) and text, the text is
    the target: its ``input_ids`` come back as ``labels`` (``labels_from_text = False``
    merges the tokenizer's outputs instead, for models that read text as input).
    """

    attributes: list[str] = ["feature_extractor", "tokenizer"]
    part_classes: dict[str, Any] = {}
    labels_from_text: bool = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        name = type(self).__name__
        if len(args) > len(self.attributes):
            raise TypeError(
                f"{name}() takes {len(self.attributes)} parts ({', '.join(self.attributes)}), got {len(args)}")
        parts = dict(zip(self.attributes, args))
        for key, value in kwargs.items():
            if key not in self.attributes:
                raise TypeError(
                    f"{name}() got an unexpected argument {key!r}; its parts are {', '.join(self.attributes)}")
            if key in parts:
                raise TypeError(f"{name}() got two values for {key!r}")
            parts[key] = value
        missing = [attribute for attribute in self.attributes if attribute not in parts]
        if missing:
            raise TypeError(f"{name}() is missing {', '.join(missing)}")
        for attribute in self.attributes:
            base = import_object(_KINDS[_kind(attribute)][0])
            part = parts[attribute]
            if not isinstance(part, base):
                expected = self.part_classes.get(attribute)
                such_as = f" such as {class_name(expected)}" if expected else ""
                raise TypeError(f"{name}: {attribute} must be a {base.__name__}{such_as}, got {type(part).__name__}")
            setattr(self, attribute, part)

    # -- parts -----------------------------------------------------------------------------
    def _part_for(self, modality: str) -> str | None:
        """The first attribute whose kind takes ``modality`` (``audio``, ``images`` or ``text``)."""
        return next((a for a in self.attributes if _KINDS[_kind(a)][1] == modality), None)

    @property
    def model_input_names(self) -> list[str]:
        """Every part's model inputs, once each, in the order of the parts."""
        names: list[str] = []
        for attribute in self.attributes:
            names.extend(n for n in getattr(self, attribute).model_input_names if n not in names)
        return names

    # -- preprocessing ---------------------------------------------------------------------
    def __call__(self, *args: Any, audio=None, images=None, text=None, audio_kwargs: dict | None = None,
                 images_kwargs: dict | None = None, text_kwargs: dict | None = None, **kwargs: Any):
        name = type(self).__name__
        inputs = {"audio": audio, "images": images, "text": text}
        accepted = [modality for modality in inputs if self._part_for(modality)]
        if args:
            first = _KINDS[_kind(self.attributes[0])][1]
            if len(args) > 1:
                raise TypeError(f"{name}() takes one positional input (its {first}); pass the others by name")
            if inputs[first] is not None:
                raise TypeError(f"{name}() got two values for {first!r}")
            inputs[first] = args[0]
        given = {modality: value for modality, value in inputs.items() if value is not None}
        if not given:
            raise ValueError(f"{name} needs something to process: {' and/or '.join(accepted)}")
        for modality in given:
            if modality not in accepted:
                raise TypeError(f"{name} cannot process {modality}: it takes {' and '.join(accepted)}")

        parts = {modality: getattr(self, self._part_for(modality)) for modality in given}
        per_part = route_kwargs(name, kwargs, {modality: part.__call__ for modality, part in parts.items()})
        explicit = {"audio": audio_kwargs, "images": images_kwargs, "text": text_kwargs}
        for modality in parts:
            per_part[modality].update(explicit[modality] or {})
        outputs = {modality: parts[modality](value, **per_part[modality]) for modality, value in given.items()}
        if len(outputs) == 1:
            return next(iter(outputs.values()))
        text_output = outputs.pop("text", None)
        result = BatchFeature()
        for output in outputs.values():
            result.update(output)
        if text_output is not None:
            if self.labels_from_text:
                result["labels"] = text_output["input_ids"]
            else:
                result.update(text_output)
        return result

    # -- decoding --------------------------------------------------------------------------
    def _tokenizer(self):
        attribute = self._part_for("text")
        if attribute is None:
            raise TypeError(f"{type(self).__name__} has no tokenizer to decode with")
        return getattr(self, attribute)

    def batch_decode(self, *args: Any, **kwargs: Any):
        """The tokenizer's ``batch_decode``."""
        return self._tokenizer().batch_decode(*args, **kwargs)

    def decode(self, *args: Any, **kwargs: Any):
        """The tokenizer's ``decode``."""
        return self._tokenizer().decode(*args, **kwargs)

    # -- saving and loading ----------------------------------------------------------------
    @classmethod
    def _part_folders(cls, folder: Path) -> dict[str, Path]:
        """Where each part lives: the first of each kind in ``folder``, any other in a subfolder named after it."""
        seen, result = set(), {}
        for attribute in cls.attributes:
            kind = _kind(attribute)
            result[attribute] = folder if kind not in seen else folder / attribute
            seen.add(kind)
        return result

    def save_pretrained(self, save_directory: str | os.PathLike, **kwargs: Any) -> list[str]:
        """Save every part into ``save_directory``, plus ``processor_config.json`` naming this class."""
        if kwargs:
            raise TypeError(f"save_pretrained() got unexpected arguments: {', '.join(sorted(kwargs))}")
        folder = Path(save_directory).expanduser()
        if folder.is_file():
            raise NotADirectoryError(f"save_directory '{folder}' is a file; expected a folder")
        files: list[str] = []
        with folder_transaction(folder) as transaction:  # every part, and this file, committed together
            for attribute, part_folder in self._part_folders(folder).items():
                files.extend(str(f) for f in getattr(self, attribute).save_pretrained(part_folder))
            config_path = transaction.write_text(
                folder / PROCESSOR_CONFIG_NAME, json.dumps({"processor_class": type(self).__name__}, indent=2) + "\n")
        files.append(str(config_path))
        return files

    @classmethod
    def from_pretrained(
        cls,
        pretrained_model_name_or_path: str | os.PathLike,
        **kwargs: Any,
    ):
        """Load every part with its class from one folder (or hub id).

        Keyword arguments naming a setting of the feature extractor / image processor
        override it there; the rest go to the tokenizer(s), as in transformers. For a hub
        id, the files of every part are downloaded first, from one commit.

        Args:
            pretrained_model_name_or_path: a folder (or a hub id) holding every part's files.
            **kwargs: the hub options (``revision``, ``cache_dir``, ``token``,
                ``local_files_only``, ``force_download``), and settings of the parts, routed as
                said above.
        """
        wanted = [PROCESSOR_CONFIG_NAME]
        for attribute, part_folder in cls._part_folders(Path()).items():
            prefix = "" if part_folder == Path() else f"{part_folder.as_posix()}/"
            wanted.extend(prefix + file for file in cls._part_class(attribute).pretrained_file_names())
        folder = resolve_folder(pretrained_model_name_or_path, optional_files=dict.fromkeys(wanted),
                                **pop_hub_options(kwargs))
        name = cls.__name__
        part_folders = cls._part_folders(folder)
        parts: dict[str, Any] = {}
        remaining = dict(kwargs)
        for attribute in cls.attributes:  # preprocessors first: they take the settings they have
            if _kind(attribute) != "tokenizer":
                part_class = cls._part_class(attribute)
                parts[attribute], remaining = part_class.from_pretrained(
                    part_folders[attribute], return_unused_kwargs=True, **remaining)
        tokenizers = [attribute for attribute in cls.attributes if _kind(attribute) == "tokenizer"]
        if remaining and not tokenizers:
            raise TypeError(f"{name}.from_pretrained() got unexpected arguments: {', '.join(sorted(remaining))}")
        for attribute in tokenizers:
            parts[attribute] = cls._part_class(attribute).from_pretrained(part_folders[attribute], **remaining)
        return cls(**parts)

    @classmethod
    def _part_class(cls, attribute: str):
        path = cls.part_classes.get(attribute)
        if path is None:
            raise TypeError(f"{cls.__name__}.part_classes names no class for {attribute!r}, so it cannot be loaded")
        return import_object(path)

    def __repr__(self) -> str:
        parts = "\n".join(f"- {attribute}: {getattr(self, attribute)!r}" for attribute in self.attributes)
        return f"{type(self).__name__}:\n{parts}"
