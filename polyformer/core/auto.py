"""Auto classes: pick the right config, tokenizer or model class from what plugins registered.

Nothing here knows any architecture: ``config.json``'s ``model_type`` (or the
``tokenizer_class`` of ``tokenizer_config.json``) is looked up in the registry, and
the model class is chosen by task and framework. The framework is, in order: the
``framework=`` argument, the ``POLYFORMER_FRAMEWORK`` environment variable, or the
first installed backend by priority (torch, keras, flax).
"""

from __future__ import annotations

import os
from typing import Any

from .configuration import CONFIG_NAME, PretrainedConfig, read_json_dict
from .hub import HUB_OPTIONS, SourceFolder, pop_hub_options, resolve_file
from .plugins import get_registry, register
from .registry import Architecture, class_name, import_object

__all__ = [
    "choose_framework",
    "AutoConfig",
    "AutoTokenizer",
    "AutoImageProcessor",
    "AutoFeatureExtractor",
    "AutoProcessor",
    "auto_model_class",
]

# Other spellings users reach for.
_FRAMEWORK_ALIASES = {"pt": "torch", "pytorch": "torch", "tf": "keras", "tensorflow": "keras", "jax": "flax"}
FRAMEWORK_ENV = "POLYFORMER_FRAMEWORK"


def choose_framework(framework: str | None = None) -> str:
    """The framework to build models in; raises with the extra to install when it is missing.

    Args:
        framework: ``"torch"``, ``"keras"`` or ``"flax"`` (or an alias: ``"pt"``, ``"tf"``,
            ``"jax"``...; case does not matter). None: ``$POLYFORMER_FRAMEWORK``, else the
            first installed backend by priority (torch, keras, flax).
    """
    registry = get_registry()
    source = "framework"
    if framework is None and os.environ.get(FRAMEWORK_ENV):
        framework, source = os.environ[FRAMEWORK_ENV], f"${FRAMEWORK_ENV}"
    if framework is None:
        for backend in registry.frameworks_by_priority():
            if backend.is_available():
                return backend.name
        extras = ", ".join(f"polyformer[{b.extra or b.name}]" for b in registry.frameworks_by_priority())
        raise ImportError(f"No framework is installed for polyformer models: install one of {extras or 'a backend plugin'}")
    if not isinstance(framework, str):
        raise TypeError(f"{source} must be a string such as 'torch', 'keras' or 'flax', got {type(framework).__name__}")
    name = _framework_name(framework)
    if name not in registry.backends:
        raise ValueError(f"{source}={framework!r} is not a known framework; expected one of: {_known_frameworks(registry)}")
    backend = registry.backends[name]
    if not backend.is_available():
        raise ImportError(
            f"{source}={framework!r}: the {name} framework is not installed "
            f"(needs {', '.join(backend.requires)}). Install it with: pip install 'polyformer[{backend.extra or name}]'"
        )
    return name


def _framework_name(framework: str) -> str:
    """The backend name ``framework`` stands for: case-insensitive, aliases resolved (``"PyTorch"`` -> ``"torch"``)."""
    return _FRAMEWORK_ALIASES.get(framework.lower(), framework.lower())


def _known_frameworks(registry) -> str:
    """Every name ``framework=`` accepts, for errors: the backends, then the aliases of those registered."""
    known = ", ".join(sorted(registry.backends)) or "none"
    aliases = ", ".join(f"{alias} (= {name})" for alias, name in sorted(_FRAMEWORK_ALIASES.items())
                        if name in registry.backends)
    return f"{known}, or an alias: {aliases}; case does not matter" if aliases else known


def _model_type_of(config_dict: dict[str, Any], where: Any) -> str:
    if "model_type" not in config_dict:
        raise ValueError(f"{where}: config.json has no 'model_type' key, so the architecture cannot be chosen")
    model_type = config_dict["model_type"]
    if not isinstance(model_type, str) or not model_type:
        raise ValueError(
            f"{where}: 'model_type' must be the architecture's name as a non-empty string (such as 'distilbert'), "
            f"got {model_type!r}"
        )
    return model_type


class AutoConfig:
    """``AutoConfig.from_pretrained(path)`` -> the architecture's config class, from ``model_type``."""

    def __init__(self) -> None:
        raise OSError("AutoConfig is built with AutoConfig.from_pretrained(...) or AutoConfig.for_model(...)")

    @staticmethod
    def config_class(model_type: str) -> type[PretrainedConfig]:
        return import_object(get_registry().architecture(model_type).config)

    @classmethod
    def for_model(cls, model_type: str, **kwargs: Any) -> PretrainedConfig:
        """A new config of the architecture ``model_type``.

        Args:
            model_type: a registered architecture (``"distilbert"``, ``"vit"``...).
            **kwargs: the config's keys (``num_labels=3``).
        """
        return cls.config_class(model_type)(**kwargs)

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, **kwargs: Any):
        """The config of a saved folder or hub id, as the class its ``config.json``'s ``model_type`` names.

        Args:
            pretrained_model_name_or_path: a folder holding ``config.json``, the path of a JSON
                file, or a hub id (downloaded into the Hugging Face cache).
            **kwargs: the hub options (``revision``, ``cache_dir``, ``token``,
                ``local_files_only``, ``force_download``), and config keys to override
                (``num_labels=3``); see ``PretrainedConfig.from_pretrained``.
        """
        hub_kwargs = pop_hub_options(kwargs)
        path = resolve_file(pretrained_model_name_or_path, CONFIG_NAME, **hub_kwargs)
        config_dict = read_json_dict(path)
        config_class = cls.config_class(_model_type_of(config_dict, path))
        return config_class.from_file_dict(path, config_dict, **kwargs)

    @staticmethod
    def register(model_type: str, config_class: type[PretrainedConfig], exist_ok: bool = False) -> None:
        """Register ``config_class`` for ``model_type`` in-process: the notebook path, same effect as a plugin.

        Args:
            model_type: the architecture's name; must equal ``config_class.model_type``.
            config_class: the config class to register.
            exist_ok: replace the config of an architecture already registered.
        """
        if getattr(config_class, "model_type", None) != model_type:
            raise ValueError(
                f"config_class.model_type is {getattr(config_class, 'model_type', None)!r}, but it is registered as "
                f"'{model_type}': they must be the same"
            )
        arch = get_registry().architectures.get(model_type)
        if arch is None:
            register(Architecture(model_type=model_type, config=config_class))
        elif not exist_ok and import_object(arch.config) is not config_class:
            raise ValueError(f"model_type '{model_type}' is already registered (plugin '{arch.plugin}'); pass exist_ok=True to replace its config")
        else:
            arch.config = config_class
            get_registry().names[config_class.__name__] = config_class


class AutoTokenizer:
    """``AutoTokenizer.from_pretrained(path)``: the fast tokenizer by default, ``use_fast=False`` for slow."""

    def __init__(self) -> None:
        raise OSError("AutoTokenizer is built with AutoTokenizer.from_pretrained(...)")

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, *, use_fast: bool = True, **kwargs: Any):
        """The tokenizer of a saved folder: the class ``tokenizer_config.json`` names, else its architecture's.

        Args:
            pretrained_model_name_or_path: a folder (or a hub id already in the local Hugging
                Face cache) with the tokenizer's files (``tokenizer_config.json``,
                ``vocab.txt`` / ``tokenizer.json``) and, to find the architecture when the
                tokenizer's class is not named, ``config.json``.
            use_fast: the fast (``tokenizers``) class when the architecture has one; False
                for the slow, pure Python one.
            **kwargs: ``cache_dir`` and ``revision`` (where to find a hub id), and what the
                tokenizer class's ``from_pretrained`` takes (special tokens,
                ``do_lower_case``, ``model_max_length``...).
        """
        arch = _architecture_for(pretrained_model_name_or_path, kwargs,
                                 (("tokenizer_config.json", ("tokenizer_class",), ("tokenizer", "tokenizer_fast")),),
                                 "tokenizer")
        path = arch.tokenizer_fast if (use_fast and arch.tokenizer_fast) else arch.tokenizer
        if path is None:
            raise ValueError(f"Architecture '{arch.model_type}' registers no tokenizer")
        return import_object(path).from_pretrained(pretrained_model_name_or_path, **kwargs)

    @staticmethod
    def register(config_class: type[PretrainedConfig], slow_tokenizer_class: type | None = None,
                 fast_tokenizer_class: type | None = None, exist_ok: bool = False) -> None:
        """Register tokenizer classes for ``config_class.model_type``, in-process.

        Args:
            config_class: the architecture's config class (registered too when new).
            slow_tokenizer_class: the pure Python tokenizer, or None to leave it as it is.
            fast_tokenizer_class: the ``tokenizers``-backed tokenizer, or None to leave it as it is.
            exist_ok: replace tokenizers already registered.
        """
        registry = get_registry()
        arch = registry.architectures.get(config_class.model_type)
        if arch is None:
            AutoConfig.register(config_class.model_type, config_class)
            arch = registry.architectures[config_class.model_type]
        for slot, new in (("tokenizer", slow_tokenizer_class), ("tokenizer_fast", fast_tokenizer_class)):
            if new is None:
                continue
            old = getattr(arch, slot)
            if old is not None and import_object(old) is not new and not exist_ok:
                raise ValueError(f"'{arch.model_type}' already has a {slot.replace('_', ' ')}: {old}")
            setattr(arch, slot, new)
            registry.names[new.__name__] = new


def _short(path) -> str:
    return class_name(path) if path else ""


def _class_stem(name: str) -> str:
    """A class name without the suffixes that vary between library versions (Fast, FeatureExtractor/ImageProcessor)."""
    if name.endswith("Fast"):
        name = name[:-4]
    return name.replace("FeatureExtractor", "ImageProcessor") if name.endswith("FeatureExtractor") else name


def _architecture_for(name_or_path, kwargs: dict, sources: tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...],
                      what: str) -> Architecture:
    """The architecture whose classes a saved folder names, else the one of its config.json.

    ``sources`` are ``(json file, keys that may name a class, registry slots to match)``,
    tried in order: e.g. ``preprocessor_config.json``'s ``feature_extractor_type`` against
    the ``feature_extractor`` slot. Names of other library versions match too
    (``BertTokenizerFast`` or ``BertTokenizer``, ``ViTFeatureExtractor`` or ``ViTImageProcessor``).
    """
    hub_kwargs = {k: kwargs[k] for k in HUB_OPTIONS if k in kwargs}
    registry = get_registry()
    for json_name, class_keys, slots in sources:
        saved = resolve_file(name_or_path, json_name, required=False, **hub_kwargs)
        if saved is None:
            continue
        data = read_json_dict(saved)
        for key in class_keys:
            wanted = data.get(key)
            if not isinstance(wanted, str) or not wanted:
                continue
            for arch in registry.architectures.values():
                names = {_class_stem(_short(getattr(arch, slot))) for slot in slots if getattr(arch, slot)}
                if _class_stem(wanted) in names:
                    return arch
    config_path = resolve_file(name_or_path, CONFIG_NAME, required=False, **hub_kwargs)
    if config_path is None:
        source = SourceFolder(name_or_path, **hub_kwargs)
        if source.is_hub:  # none of the files at all: say whether the cache lacks them or the repo does
            source.fetch(optional_files=[*(json_name for json_name, _, _ in sources), CONFIG_NAME])
        files = " or ".join(json_name for json_name, _, _ in sources)
        raise ValueError(
            f"Cannot tell which {what} '{name_or_path}' needs: it has no {files} naming a registered class, "
            f"and no config.json with a model_type"
        )
    return registry.architecture(_model_type_of(read_json_dict(config_path), config_path))


# Where a saved folder names its classes (transformers v5 keeps a processor's parts inside
# processor_config.json, hence the second source of the preprocessors).
_PROCESSOR_SOURCE = ("processor_config.json", ("processor_class",), ("processor",))


class AutoImageProcessor:
    """``AutoImageProcessor.from_pretrained(path)``: the image processor the folder names, or its architecture's."""

    def __init__(self) -> None:
        raise OSError("AutoImageProcessor is built with AutoImageProcessor.from_pretrained(...)")

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, **kwargs: Any):
        """The image processor a folder's ``preprocessor_config.json`` names, else its architecture's.

        Args:
            pretrained_model_name_or_path: a folder (or a hub id already in the local Hugging
                Face cache) with ``preprocessor_config.json`` and, to find the architecture when
                the class is not named, ``config.json``.
            **kwargs: ``cache_dir`` and ``revision`` (where to find a hub id), and settings to
                override (``size``, ``do_normalize``...).
        """
        arch = _architecture_for(pretrained_model_name_or_path, kwargs, (
            ("preprocessor_config.json", ("image_processor_type", "feature_extractor_type"), ("image_processor",)),
            _PROCESSOR_SOURCE), "image processor")
        if arch.image_processor is None:
            raise ValueError(f"Architecture '{arch.model_type}' registers no image processor")
        return import_object(arch.image_processor).from_pretrained(pretrained_model_name_or_path, **kwargs)


class AutoFeatureExtractor:
    """``AutoFeatureExtractor.from_pretrained(path)``: the feature extractor the folder names, or its architecture's."""

    def __init__(self) -> None:
        raise OSError("AutoFeatureExtractor is built with AutoFeatureExtractor.from_pretrained(...)")

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, **kwargs: Any):
        """The feature extractor a folder's ``preprocessor_config.json`` names, else its architecture's.

        An architecture with an image processor and no feature extractor gets its image
        processor, as in transformers.

        Args:
            pretrained_model_name_or_path: a folder (or a hub id already in the local Hugging
                Face cache) with ``preprocessor_config.json`` and, to find the architecture when
                the class is not named, ``config.json``.
            **kwargs: ``cache_dir`` and ``revision`` (where to find a hub id), and settings to
                override (``sampling_rate``, ``do_normalize``...).
        """
        arch = _architecture_for(pretrained_model_name_or_path, kwargs, (
            ("preprocessor_config.json", ("feature_extractor_type",), ("feature_extractor", "image_processor")),
            _PROCESSOR_SOURCE), "feature extractor")
        path = arch.feature_extractor or arch.image_processor
        if path is None:
            raise ValueError(f"Architecture '{arch.model_type}' registers no feature extractor")
        return import_object(path).from_pretrained(pretrained_model_name_or_path, **kwargs)


class AutoProcessor:
    """``AutoProcessor.from_pretrained(path)``: the architecture's processor, else its tokenizer,
    image processor or feature extractor (whichever it has), as transformers does."""

    def __init__(self) -> None:
        raise OSError("AutoProcessor is built with AutoProcessor.from_pretrained(...)")

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, **kwargs: Any):
        """The processor of a saved folder, else its tokenizer, image processor or feature extractor.

        Args:
            pretrained_model_name_or_path: a folder (or a hub id already in the local Hugging
                Face cache) with the files of the processor or of its parts, and ``config.json``
                when ``processor_config.json`` does not name the class.
            **kwargs: ``cache_dir`` and ``revision`` (where to find a hub id), and what the
                chosen class's ``from_pretrained`` takes.
        """
        arch = _architecture_for(pretrained_model_name_or_path, kwargs, (_PROCESSOR_SOURCE,), "processor")
        if arch.processor is not None:
            return import_object(arch.processor).from_pretrained(pretrained_model_name_or_path, **kwargs)
        if arch.tokenizer_fast or arch.tokenizer:
            return AutoTokenizer.from_pretrained(pretrained_model_name_or_path, **kwargs)
        path = arch.image_processor or arch.feature_extractor
        if path is None:
            raise ValueError(f"Architecture '{arch.model_type}' registers no processor, tokenizer or preprocessor")
        return import_object(path).from_pretrained(pretrained_model_name_or_path, **kwargs)


class _AutoModel:
    """Shared logic of the ``AutoModelFor...`` classes; ``task`` says which head."""

    task = "base"

    def __init__(self) -> None:
        raise OSError(f"{type(self).__name__} is built with .from_pretrained(...) or .from_config(...)")

    @classmethod
    def model_class(cls, model_type: str, framework: str | None = None):
        """The class of this task's model for ``model_type`` in ``framework``.

        Args:
            model_type: a registered architecture (``"distilbert"``).
            framework: as for ``choose_framework``.
        """
        framework = choose_framework(framework)
        arch: Architecture = get_registry().architecture(model_type)
        path = arch.models.get(framework, {}).get(cls.task)
        if path is None:
            offered = sorted(f for f, heads in arch.models.items() if cls.task in heads)
            raise ValueError(
                f"Architecture '{model_type}' has no {cls.task} model for {framework}"
                + (f"; it has one for: {', '.join(offered)}" if offered else "")
            )
        return import_object(path)

    @classmethod
    def from_config(cls, config: PretrainedConfig, *, framework: str | None = None, **kwargs: Any):
        """A new model with random weights, of the architecture and task ``config`` and this class say.

        Args:
            config: the architecture's config (``DistilBertConfig(...)``, ``AutoConfig.from_pretrained(...)``).
            framework: ``"torch"``, ``"keras"`` or ``"flax"``; None: ``$POLYFORMER_FRAMEWORK``,
                else the first installed (see ``choose_framework``).
            **kwargs: given to the model class's constructor (Keras and Flax: ``dtype``; Flax: ``seed``).
        """
        if not isinstance(config, PretrainedConfig):
            raise TypeError(f"from_config expects a PretrainedConfig, got {type(config).__name__}")
        return cls.model_class(config.model_type, framework)(config, **kwargs)

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, *, framework: str | None = None, **kwargs: Any):
        """Load a checkpoint as this task's model (``AutoModel``: the base model) of its architecture.

        The architecture is the ``model_type`` of the checkpoint's ``config.json``; the class is
        the one the architecture registers for this task in ``framework``
        (``AutoModelForSequenceClassification`` + ``framework="keras"`` ->
        ``TFDistilBertForSequenceClassification``). Every framework reads the same folder.

        Args:
            pretrained_model_name_or_path: a checkpoint folder (``config.json`` plus
                safetensors weights) or a hub id already in the local Hugging Face cache.
            framework: ``"torch"``, ``"keras"`` or ``"flax"`` (aliases ``"pt"``, ``"tf"``,
                ``"jax"``); None: ``$POLYFORMER_FRAMEWORK``, else the first installed of
                torch, keras, flax (see ``choose_framework``).
            **kwargs: the model class's ``from_pretrained`` options (``config``, ``dtype``,
                ``cache_dir``, ``revision``, ``ignore_mismatched_sizes``,
                ``output_loading_info``...) and config keys to override; see
                ``PreTrainedModelMixin.from_pretrained``
                (``polyformer.core.modeling``).
        """
        config = kwargs.get("config")
        if isinstance(config, PretrainedConfig):
            model_type = config.model_type
        else:
            hub_kwargs = {k: kwargs[k] for k in HUB_OPTIONS if k in kwargs}
            source = config if isinstance(config, (str, os.PathLike)) else pretrained_model_name_or_path
            path = resolve_file(source, CONFIG_NAME, **hub_kwargs)
            model_type = _model_type_of(read_json_dict(path), path)
        return cls.model_class(model_type, framework).from_pretrained(pretrained_model_name_or_path, **kwargs)

    @classmethod
    def for_architecture(cls, pretrained_model_name_or_path, *, framework: str | None = None, **kwargs: Any):
        """The model the checkpoint's ``config.json`` names in ``architectures`` (its head), in ``framework``.

        ``AutoModel.from_pretrained`` builds the base model, as transformers does; this builds
        the head the checkpoint was saved from (``DistilBertForSequenceClassification`` ->
        its class in the chosen framework), falling back to the base model when the name is
        not one the registry knows.

        Args:
            pretrained_model_name_or_path: a checkpoint folder or a hub id already in the local
                Hugging Face cache.
            framework: as for ``from_pretrained``.
            **kwargs: as for ``from_pretrained``.
        """
        hub_kwargs = {k: kwargs[k] for k in HUB_OPTIONS if k in kwargs}
        path = resolve_file(pretrained_model_name_or_path, CONFIG_NAME, **hub_kwargs)
        config_dict = read_json_dict(path)
        model_type = _model_type_of(config_dict, path)
        names = config_dict.get("architectures") or []
        task = get_registry().task_of_class(model_type, names[0]) if names and isinstance(names[0], str) else None
        auto = auto_model_class(get_registry().task(task).auto_class) if task else _base_auto_class()
        return auto.from_pretrained(pretrained_model_name_or_path, framework=framework, **kwargs)

    @classmethod
    def register(cls, config_class: type[PretrainedConfig], model_class: type, *, framework: str | None = None,
                 exist_ok: bool = False) -> None:
        """Register ``model_class`` as this task's model for ``config_class.model_type``, in-process.

        The framework is read from ``model_class.framework`` unless given. Registers the
        config too when its ``model_type`` is new.

        Args:
            config_class: the architecture's config class (its ``model_type`` is the key).
            model_class: the model class of this task.
            framework: the backend ``model_class`` runs in, when it has no ``framework`` attribute.
            exist_ok: replace a model already registered for this task and framework.
        """
        registry = get_registry()
        framework = framework or getattr(model_class, "framework", "")
        if isinstance(framework, str):
            framework = _framework_name(framework)
        if framework not in registry.backends:
            raise ValueError(f"{model_class.__name__}: unknown framework {framework!r}; pass framework= one of "
                             f"{_known_frameworks(registry)}")
        arch = registry.architectures.get(config_class.model_type)
        if arch is None:
            AutoConfig.register(config_class.model_type, config_class)
            arch = registry.architectures[config_class.model_type]
        heads = arch.models.setdefault(framework, {})
        if cls.task in heads and import_object(heads[cls.task]) is not model_class and not exist_ok:
            raise ValueError(f"'{config_class.model_type}' already has a {cls.task} model for {framework}: "
                             f"{heads[cls.task]}; pass exist_ok=True to replace it")
        heads[cls.task] = model_class
        registry.names[model_class.__name__] = model_class


_AUTO_CLASSES: dict[str, type] = {}


def auto_model_class(name: str) -> type:
    """The Auto class called ``name`` (``"AutoModelForImageClassification"``), made from its registered task.

    One class per name for the life of the process, so ``isinstance`` and identity checks hold.

    Args:
        name: the Auto class's name, as a registered task's ``auto_class`` spells it.
    """
    cls = _AUTO_CLASSES.get(name)
    if cls is not None:
        return cls
    task = get_registry().task_for_auto_class(name)
    if task is None:
        known = ", ".join(t.auto_class for t in get_registry().tasks.values())
        raise AttributeError(f"No task registers the Auto class '{name}'; registered Auto classes: {known}")
    doc = (f"``{name}.from_pretrained(path, framework=...)``: the '{task.name}' model "
           f"(``<Architecture>{task.class_suffix}``) of the checkpoint's architecture.")
    cls = type(name, (_AutoModel,), {"task": task.name, "__doc__": doc, "__module__": __name__})
    _AUTO_CLASSES[name] = cls
    return cls


def _base_auto_class() -> type:
    """The Auto class of the ``base`` task (``AutoModel``)."""
    return auto_model_class(get_registry().task("base").auto_class)


def __getattr__(name: str):
    """``from polyformer.core.auto import AutoModelForX``: Auto classes come from the task registry."""
    if name.startswith("AutoModel"):
        return auto_model_class(name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
