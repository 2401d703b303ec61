"""What every model shares, whatever its framework: loading and saving checkpoints.

A backend's model base class (``backends/<framework>/modeling.py``) mixes in
:class:`PreTrainedModelMixin` and implements five small methods that speak in
*canonical names*: the ``transformers`` PyTorch tensor names and layouts
(``distilbert.transformer.layer.0.attention.q_lin.weight``, Linear weights as
``(out, in)``). Everything else lives here once: finding the files, reading the
config with overrides, matching checkpoint names to the model (with or without the
base model prefix), shape checks, missing / unexpected / mismatched reports, tied
weights, streaming shard by shard, and writing the safetensors layout.

The contract (see each method's docstring):

* ``_from_config_for_loading(config, dtype, **options)``: a model whose weights need not be
  initialised (``options`` are the model's ``module_options`` given to ``from_pretrained``);
* ``_canonical_shapes()``: canonical name -> shape, for every weight the model has;
* ``_load_canonical(tensors)``: put some weights in (called once per shard);
* ``_initialize_missing(names)``: random-initialise the weights the checkpoint lacked;
* ``_export_canonical()``: canonical name -> numpy array (or torch tensor) for saving.
"""

from __future__ import annotations

import copy
import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .checkpoint import FLOAT_DTYPES, CheckpointError, find_weight_files, iter_tensors, read_tensor_infos, save_tensors
from .configuration import PretrainedConfig
from .hub import resolve_folder
from .io import folder_transaction

__all__ = ["PreTrainedModelMixin", "LoadingInfo", "map_checkpoint_names"]

logger = logging.getLogger("polyformer")


@dataclass
class LoadingInfo:
    """What ``from_pretrained`` found: returned with ``output_loading_info=True``."""

    missing_keys: list[str] = field(default_factory=list)
    unexpected_keys: list[str] = field(default_factory=list)
    mismatched_keys: list[tuple[str, tuple, tuple]] = field(default_factory=list)

    def as_dict(self) -> dict[str, list]:
        return {
            "missing_keys": self.missing_keys,
            "unexpected_keys": self.unexpected_keys,
            "mismatched_keys": self.mismatched_keys,
        }


def map_checkpoint_names(checkpoint_names: list[str], model_names: set[str], prefix: str) -> dict[str, str]:
    """Checkpoint name -> model name, adding or removing the base model ``prefix`` as needed.

    A head model (names start with ``prefix.``) loading a base checkpoint gets the prefix
    added; a base model loading a head checkpoint gets it removed. Names of the
    checkpoint that match nothing map to themselves (and are reported as unexpected).
    """
    if not prefix:
        return {name: name for name in checkpoint_names}
    dotted = prefix + "."
    model_has_prefix = any(name.startswith(dotted) for name in model_names)
    checkpoint_has_prefix = any(name.startswith(dotted) for name in checkpoint_names)
    mapping = {}
    for name in checkpoint_names:
        target = name
        if model_has_prefix and not checkpoint_has_prefix:
            target = dotted + name
        elif not model_has_prefix and checkpoint_has_prefix and name.startswith(dotted):
            target = name[len(dotted):]
        mapping[name] = target
    return mapping


class PreTrainedModelMixin:
    """Framework-independent ``from_pretrained`` / ``save_pretrained`` for every backend."""

    #: The architecture's config class.
    config_class: type[PretrainedConfig] | None = None
    #: Attribute name (and weight-name prefix) of the base model inside a head model.
    base_model_prefix: str = ""
    #: Name of the input that carries the data (``input_ids``, ``pixel_values``, ``input_values``).
    main_input_name: str = ""
    #: The backend's name: "torch", "keras" or "flax".
    framework: str = ""
    #: safetensors' framework used to read tensors for this backend ("np" or "pt").
    checkpoint_framework: str = "np"
    #: Tied weights: canonical target name -> canonical source name (saved once, under the source).
    tied_weights: dict[str, str] = {}
    #: Regexes of checkpoint names never reported as unexpected (e.g. buffers of other versions).
    keys_to_ignore_on_load_unexpected: tuple[str, ...] = ()
    #: Constructor options that are not config keys (``add_pooling_layer``) with their defaults;
    #: ``from_pretrained`` accepts them and hands them to ``_from_config_for_loading``.
    module_options: dict[str, Any] = {}

    # ---- the backend contract ---------------------------------------------------
    @classmethod
    def _from_config_for_loading(cls, config: PretrainedConfig, dtype: Any = None, **options: Any):
        """A model built from ``config`` (and ``module_options``) whose weights will all be set by loading."""
        raise NotImplementedError

    def _canonical_shapes(self) -> dict[str, tuple[int, ...]]:
        """Canonical name -> shape of every weight, tied targets included."""
        raise NotImplementedError

    def _load_canonical(self, tensors: dict[str, Any]) -> None:
        """Set the weights named in ``tensors`` (canonical names and layouts)."""
        raise NotImplementedError

    def _initialize_missing(self, names: list[str]) -> None:
        """Random-initialise ``names`` (absent from the checkpoint), then tie weights."""
        raise NotImplementedError

    def _export_canonical(self) -> dict[str, Any]:
        """Canonical name -> array of every weight to save (tied targets left out)."""
        raise NotImplementedError

    def _non_float_weights(self) -> set[str]:
        """Canonical names of the weights that are not floating point (integer buffers); by default none.

        Loading refuses a checkpoint tensor whose kind (floating or not) differs from the
        model's weight, in every framework alike.
        """
        return set()

    # ---- names --------------------------------------------------------------------
    @classmethod
    def canonical_class_name(cls) -> str:
        """The PyTorch ``transformers`` class name (``TFDistilBertModel`` -> ``DistilBertModel``)."""
        name = cls.__name__
        for prefix in ("TF", "Flax"):
            if name.startswith(prefix) and name[len(prefix):][:1].isupper():
                return name[len(prefix):]
        return name

    def _tied_targets(self) -> set[str]:
        if not getattr(self.config, "tie_word_embeddings", True):
            return set()
        return set(self.tied_weights)

    # ---- loading ------------------------------------------------------------------
    @classmethod
    def _resolve_config(cls, folder: Path, config: PretrainedConfig | str | os.PathLike | None, kwargs: dict) -> PretrainedConfig:
        if cls.config_class is None:
            raise TypeError(f"{cls.__name__} has no config_class")
        if config is None:
            config, unused = cls.config_class.from_pretrained(folder, return_unused_kwargs=True, **kwargs)
        elif isinstance(config, (str, os.PathLike)):
            config, unused = cls.config_class.from_pretrained(config, return_unused_kwargs=True, **kwargs)
        elif isinstance(config, PretrainedConfig):
            config = copy.deepcopy(config)
            unused = config.apply_overrides(kwargs)
        else:
            raise TypeError(f"config must be a PretrainedConfig or a path, got {type(config).__name__}")
        if unused:
            raise TypeError(
                f"{cls.__name__}.from_pretrained() got arguments that are neither loading options nor config keys: "
                f"{', '.join(sorted(unused))}"
            )
        return config

    @classmethod
    def from_pretrained(
        cls,
        pretrained_model_name_or_path: str | os.PathLike,
        *,
        config: PretrainedConfig | str | os.PathLike | None = None,
        cache_dir: str | os.PathLike | None = None,
        revision: str | None = None,
        ignore_mismatched_sizes: bool = False,
        dtype: Any = None,
        use_safetensors: bool | None = None,
        output_loading_info: bool = False,
        **kwargs: Any,
    ):
        """Build the model from a checkpoint folder (or cached hub id) in the HF layout.

        ``config`` replaces the saved config; other keyword arguments override config keys.
        Missing weights are random-initialised and reported; weights of the wrong shape are
        an error naming them unless ``ignore_mismatched_sizes=True``.
        """
        if "torch_dtype" in kwargs and dtype is None:
            dtype = kwargs.pop("torch_dtype")
        options = {key: kwargs.pop(key) for key in list(kwargs) if key in cls.module_options}
        if isinstance(pretrained_model_name_or_path, (str, os.PathLike)) and Path(pretrained_model_name_or_path).is_file():
            path = Path(pretrained_model_name_or_path)
            raise ValueError(
                f"{cls.__name__}.from_pretrained: '{path}' is a file; a model loads from a checkpoint folder "
                f"(config.json with model.safetensors, or shards and their index) or a cached hub id: pass the "
                f"folder, '{path.parent}'."
            )
        folder = resolve_folder(pretrained_model_name_or_path, cache_dir=cache_dir, revision=revision)
        config = cls._resolve_config(folder, config, kwargs)
        files = find_weight_files(folder, use_safetensors=use_safetensors)

        model = cls._from_config_for_loading(config, dtype, **options)
        model_shapes = model._canonical_shapes()
        info = LoadingInfo()

        legacy = files[0].suffix == ".bin"
        if legacy:
            checkpoint_shapes, checkpoint_floats, where = {}, {}, {}
            for name, tensor in iter_tensors(files, "np"):
                checkpoint_shapes[name] = tuple(tensor.shape)
                checkpoint_floats[name] = (str(tensor.dtype), tensor.dtype.kind == "f")
                where[name] = files[0]
        else:
            infos = read_tensor_infos(files)
            checkpoint_shapes = {name: ti.shape for name, ti in infos.items()}
            checkpoint_floats = {name: (ti.dtype, ti.dtype in FLOAT_DTYPES) for name, ti in infos.items()}
            where = {name: ti.file for name, ti in infos.items()}
        mapping = map_checkpoint_names(list(checkpoint_shapes), set(model_shapes), cls.base_model_prefix)
        ignore = [re.compile(p) for p in cls.keys_to_ignore_on_load_unexpected]

        wanted: dict[str, str] = {}
        for name, target in mapping.items():
            if target not in model_shapes:
                if not any(p.search(name) for p in ignore):
                    info.unexpected_keys.append(name)
                continue
            if tuple(checkpoint_shapes[name]) != tuple(model_shapes[target]):
                info.mismatched_keys.append((target, tuple(checkpoint_shapes[name]), tuple(model_shapes[target])))
                continue
            wanted[name] = target
        _route_tied_weights(wanted, model._tied_targets(), cls.tied_weights)
        _check_float_kinds(wanted, checkpoint_floats, model._non_float_weights(), where)
        if info.mismatched_keys and not ignore_mismatched_sizes:
            lines = "; ".join(f"{n}: checkpoint {c}, model {m}" for n, c, m in info.mismatched_keys)
            raise CheckpointError(
                f"{folder}: tensors do not fit the config ({lines}). Check config.json, or pass "
                f"ignore_mismatched_sizes=True to re-initialise them."
            )

        loaded: set[str] = set()
        batch: dict[str, Any] = {}
        for name, tensor in iter_tensors(files, cls.checkpoint_framework, set(wanted)):
            batch[wanted[name]] = tensor
            loaded.add(wanted[name])
            if len(batch) >= 64:  # hand weights over in batches to bound the memory held
                model._load_canonical(batch)
                batch = {}
        if batch:
            model._load_canonical(batch)

        tied = model._tied_targets()
        info.missing_keys = sorted(n for n in model_shapes if n not in loaded and n not in tied)
        to_init = info.missing_keys + [n for n, _, _ in info.mismatched_keys]
        model._initialize_missing(to_init)

        if info.missing_keys:
            logger.warning(
                "%s: weights not in the checkpoint %s, newly initialised: %s. Train the model before using it.",
                cls.__name__, folder, ", ".join(info.missing_keys),
            )
        if info.unexpected_keys:
            logger.warning(
                "%s: checkpoint %s has weights the model does not use: %s", cls.__name__, folder,
                ", ".join(sorted(info.unexpected_keys)),
            )
        if info.mismatched_keys:
            logger.warning(
                "%s: re-initialised weights whose shape differs from the checkpoint: %s", cls.__name__,
                ", ".join(f"{n} {c} -> {m}" for n, c, m in info.mismatched_keys),
            )
        model._after_loading()
        return (model, info.as_dict()) if output_loading_info else model

    def _after_loading(self) -> None:
        """Hook for backends: e.g. switch to eval mode."""

    # ---- saving -------------------------------------------------------------------
    def save_pretrained(
        self,
        save_directory: str | os.PathLike,
        *,
        max_shard_size: int | str = "5GB",
        safe_serialization: bool = True,
        **kwargs: Any,
    ) -> None:
        """Write ``config.json`` and safetensors weights (sharded above ``max_shard_size``)."""
        if kwargs:
            raise TypeError(f"save_pretrained() got unexpected arguments: {', '.join(sorted(kwargs))}")
        if not safe_serialization:
            raise ValueError("polyformer writes safetensors only (safe_serialization=False is not supported)")
        self._write_pretrained(save_directory, self._export_canonical(), self.canonical_class_name(),
                               max_shard_size=max_shard_size)

    def _write_pretrained(self, save_directory: str | os.PathLike, tensors: dict[str, Any], class_name: str, *,
                          max_shard_size: int | str = "5GB") -> None:
        """Write ``tensors`` (canonical names) and the config, together. Also used by sharded saves,
        whose tensors are gathered first (``backends/torch/distributed.py``)."""
        save_directory = Path(save_directory)
        if save_directory.is_file():
            raise NotADirectoryError(f"save_directory '{save_directory}' is a file; expected a folder")
        config = copy.deepcopy(self.config)
        config.architectures = [class_name]
        config.dtype = _weights_dtype(tensors) or config.dtype  # as transformers does, so dtype="auto" works
        with folder_transaction(save_directory):  # weights and config are committed together
            save_tensors(tensors, save_directory, max_shard_size=max_shard_size)
            config.save_pretrained(save_directory)


def _route_tied_weights(wanted: dict[str, str], tied: set[str], tied_weights: dict[str, str]) -> None:
    """Load each tied pair once, from whichever name the checkpoint has.

    ``wanted`` maps checkpoint names to model names. When both a tied target and its
    source are in the checkpoint, the source wins and the copy is not read; when only the
    target is (an older writer saved the tie under the other name), it is read into the source.
    """
    by_model_name = {target: name for name, target in wanted.items()}
    for target in tied:
        source = tied_weights[target]
        if target not in by_model_name:
            continue
        if source in by_model_name:
            del wanted[by_model_name[target]]
        else:
            wanted[by_model_name[target]] = source


def _check_float_kinds(wanted: dict[str, str], kinds: dict[str, tuple[str, bool]], non_float: set[str],
                       where: dict[str, Path]) -> None:
    """Refuse an integer tensor for a floating-point weight (and the reverse), naming it.

    Frameworks disagree here (PyTorch raises deep inside, Flax keeps an integer
    parameter, Keras casts silently), so it is decided once, from the header dtypes.
    """
    for name, target in wanted.items():
        dtype, is_float = kinds[name]
        expects_float = target not in non_float
        if is_float != expects_float:
            raise CheckpointError(
                f"{where[name]}: tensor '{name}' is {dtype}, but the model's weight '{target}' is "
                f"{'floating point' if expects_float else 'an integer buffer'}: the checkpoint does not fit this model "
                f"(or was written wrongly); no cast is made between integer and floating-point weights."
            )


def _weights_dtype(tensors: dict[str, Any]) -> str | None:
    """The dtype name ("float32", "bfloat16"...) of the first floating-point tensor, if any."""
    for tensor in tensors.values():
        name = str(tensor.dtype).rpartition(".")[2]
        if "float" in name:
            return name
    return None
