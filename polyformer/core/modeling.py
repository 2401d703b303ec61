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
* ``_load_canonical(tensors)``: put some weights in (called with a batch of tensors at a time, of the
  kind ``checkpoint_framework`` names);
* ``_initialize_missing(names)``: random-initialise the weights the checkpoint lacked;
* ``_export_canonical()``: canonical name -> numpy array (or torch tensor) for saving.
"""

from __future__ import annotations

import copy
import functools
import gc
import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .checkpoint import FLOAT_DTYPES, CheckpointError, find_weight_files, iter_tensors, read_tensor_infos, save_tensors
from .configuration import PretrainedConfig
from .hub import pop_hub_options, resolve_model_folder
from .io import folder_transaction
from .progress import loading_progress

__all__ = ["PreTrainedModelMixin", "LoadingInfo", "map_checkpoint_names", "rename_legacy_names"]

logger = logging.getLogger("polyformer")

#: Numpy arrays read (``checkpoint_framework="np"``) before they are handed to the model.
_LOAD_BATCH_BYTES = 16 * 2**20


def _collector_paused(function):
    """``function`` run with Python's cyclic garbage collector paused (then resumed as it was).

    Building a model makes thousands of objects that all stay alive. A full collection that
    they happen to set off (the first one after a framework's import is due soon) walks every
    object of the process and finds no garbage: it was most of a first PyTorch load (0.34 s
    of 0.43 s measured). Reference counting frees memory as usual meanwhile.
    """

    @functools.wraps(function)
    def paused(*args, **kwargs):
        if not gc.isenabled():
            return function(*args, **kwargs)
        gc.disable()
        try:
            return function(*args, **kwargs)
        finally:
            gc.enable()

    return paused


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


def rename_legacy_names(checkpoint_names: list[str], rules: tuple[tuple[str, str], ...]) -> dict[str, str]:
    """Checkpoint name -> the name it has today, by a model class's ``legacy_checkpoint_names`` rules.

    Each rule is ``(pattern, replacement)`` for :func:`re.sub`; the first rule whose pattern
    matches a name rewrites it, and names no rule matches stay as they are. When a checkpoint
    holds a tensor under both its old and its new name, the new name is read and the old
    one is left unmapped (it is then reported as unexpected).
    """
    compiled = [(re.compile(pattern), replacement) for pattern, replacement in rules]
    renamed = {}
    for name in checkpoint_names:
        for pattern, replacement in compiled:
            if pattern.search(name):
                renamed[name] = pattern.sub(replacement, name)
                break
        else:
            renamed[name] = name
    present = set(checkpoint_names)
    return {old: (old if new != old and new in present else new) for old, new in renamed.items()}


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
    #: How ``_load_canonical`` receives tensors (see :func:`~polyformer.core.checkpoint.iter_tensors`):
    #: "np" (numpy arrays), "pt" (torch tensors, memory-mapped) or "stored" (StoredTensor handles
    #: that the backend reads whole or by rows into its own memory; numpy arrays for a legacy .bin).
    checkpoint_framework: str = "np"
    #: Tied weights: canonical target name -> canonical source name (saved once, under the source).
    tied_weights: dict[str, str] = {}
    #: Regexes of checkpoint names never reported as unexpected (e.g. buffers of other versions).
    keys_to_ignore_on_load_unexpected: tuple[str, ...] = ()
    #: Constructor options that are not config keys (``add_pooling_layer``) with their defaults;
    #: ``from_pretrained`` accepts them and hands them to ``_from_config_for_loading``.
    module_options: dict[str, Any] = {}
    #: Names older writers gave some weights: ``(regex, replacement)`` pairs rewriting a checkpoint name
    #: into today's before it is matched (see :func:`rename_legacy_names`). Saving always writes today's
    #: names. Wav2Vec2's weight-normed convolution, for one, was ``conv.weight_g`` / ``conv.weight_v``
    #: before PyTorch's parametrizations made it ``conv.parametrizations.weight.original0`` / ``original1``.
    legacy_checkpoint_names: tuple[tuple[str, str], ...] = ()

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
    def _resolve_config(cls, folder: Path, config: PretrainedConfig | str | os.PathLike | None, kwargs: dict,
                        hub_options: dict) -> PretrainedConfig:
        if cls.config_class is None:
            raise TypeError(f"{cls.__name__} has no config_class")
        if config is None:
            config, unused = cls.config_class.from_pretrained(folder, return_unused_kwargs=True, **kwargs)
        elif isinstance(config, (str, os.PathLike)):
            config, unused = cls.config_class.from_pretrained(config, return_unused_kwargs=True, **hub_options,
                                                              **kwargs)
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
    @_collector_paused
    def from_pretrained(
        cls,
        pretrained_model_name_or_path: str | os.PathLike,
        *,
        config: PretrainedConfig | str | os.PathLike | None = None,
        ignore_mismatched_sizes: bool = False,
        dtype: Any = None,
        use_safetensors: bool | None = None,
        output_loading_info: bool = False,
        **kwargs: Any,
    ):
        """Build the model from a checkpoint folder or hub id in the HF layout.

        A hub id's ``config.json`` and weights are downloaded into the Hugging Face cache.
        The same for every framework: only the header of each weight file is read to match
        names and check shapes before any data; then the tensors stream in, file by file.
        Missing weights are random-initialised and reported; weights of the wrong shape are
        an error naming them unless ``ignore_mismatched_sizes=True``.

        Args:
            pretrained_model_name_or_path: a checkpoint folder (``config.json`` plus
                ``model.safetensors``, or shards and their index) or a hub id.
            config: a config (or a folder / ``config.json`` path to read one from) used instead
                of the checkpoint's ``config.json``.
            ignore_mismatched_sizes: re-initialise weights whose shape differs from the
                checkpoint's (e.g. a classifier with another number of labels) instead of failing.
            dtype: the weights' dtype (``"float16"``, ``"bfloat16"``, a framework dtype). By
                default ``"auto"``, as in transformers 5: the dtype ``config.json`` records,
                else that of the checkpoint's first floating-point tensor; ``torch_dtype=`` is
                accepted as its old name.
            use_safetensors: False also accepts a legacy ``pytorch_model.bin`` (read with
                ``weights_only=True``); by default only safetensors are read.
            output_loading_info: also return a dict of ``missing_keys``, ``unexpected_keys``
                and ``mismatched_keys``, as ``(model, info)``.
            **kwargs: the hub options (``revision``, ``cache_dir``, ``token``,
                ``local_files_only``, ``force_download``), config keys to override
                (``num_labels=3``, ``output_hidden_states=True``), and the model's
                ``module_options`` (BERT's ``add_pooling_layer``); any other name is an error
                naming it.

        Returns:
            The model, in eval mode where the framework has one.
        """
        torch_dtype = kwargs.pop("torch_dtype", None)  # transformers 4's name; dtype wins when both are given
        if dtype is None:
            dtype = torch_dtype if torch_dtype is not None else "auto"
        hub_options = pop_hub_options(kwargs)
        options = {key: kwargs.pop(key) for key in list(kwargs) if key in cls.module_options}
        if isinstance(pretrained_model_name_or_path, (str, os.PathLike)) and Path(pretrained_model_name_or_path).is_file():
            path = Path(pretrained_model_name_or_path)
            raise ValueError(
                f"{cls.__name__}.from_pretrained: '{path}' is a file; a model loads from a checkpoint folder "
                f"(config.json with model.safetensors, or shards and their index) or a cached hub id: pass the "
                f"folder, '{path.parent}'."
            )
        folder = resolve_model_folder(pretrained_model_name_or_path, config=config is None,
                                      use_safetensors=use_safetensors, **hub_options)
        config = cls._resolve_config(folder, config, kwargs, hub_options)
        files = find_weight_files(folder, use_safetensors=use_safetensors)
        if isinstance(dtype, str) and dtype == "auto":
            dtype = config.dtype or _first_float_dtype(files)

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
        current = rename_legacy_names(list(checkpoint_shapes), cls.legacy_checkpoint_names)
        by_current = map_checkpoint_names(list(current.values()), set(model_shapes), cls.base_model_prefix)
        mapping = {name: by_current[current[name]] for name in checkpoint_shapes}
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

        loaded = model._load_files(files, wanted)

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

    def _load_files(self, files: list[Path], wanted: dict[str, str]) -> set[str]:
        """Stream the tensors ``wanted`` (checkpoint name -> model name) into the model, file by file.

        Tensors are handed over in batches that end with each file, and with every
        ``_LOAD_BATCH_BYTES`` of arrays already read (``"np"``), so that loading holds at
        most about one batch beyond the model's own weights. Memory-mapped torch tensors
        and :class:`~polyformer.core.checkpoint.StoredTensor` handles hold no memory yet.
        Returns the model names loaded.
        """
        def tensors_by_file():
            for path in files:
                for name, tensor in iter_tensors([path], self.checkpoint_framework, set(wanted)):
                    yield (path, name), tensor

        loaded: set[str] = set()
        batch: dict[str, Any] = {}
        held, current = 0, None
        # the progress bar (large checkpoints, on a terminal) advances by each tensor's bytes
        for (path, name), tensor in loading_progress(tensors_by_file(), files):
            if path != current and batch:  # a batch ends with its file
                self._load_canonical(batch)
                batch, held = {}, 0
            current = path
            batch[wanted[name]] = tensor
            loaded.add(wanted[name])
            if self.checkpoint_framework == "np":
                held += tensor.nbytes
            if held >= _LOAD_BATCH_BYTES:
                self._load_canonical(batch)
                batch, held = {}, 0
        if batch:
            self._load_canonical(batch)
        return loaded

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
        """Write ``config.json`` and safetensors weights, all files or none.

        Weights are saved under their canonical (PyTorch ``transformers``) names and layouts,
        so the folder loads in every framework and in ``transformers``; ``config.json``
        records the class (``architectures``) and the weights' dtype.

        Args:
            save_directory: the folder to write (created if needed; stale weight files of an
                earlier save are removed).
            max_shard_size: the largest weight file, in bytes or as text (``"500MB"``);
                larger models are split into shards plus ``model.safetensors.index.json``.
            safe_serialization: must be True: polyformer writes safetensors only.
            **kwargs: accepted for transformers' signature; any given is an error naming it.
        """
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


#: safetensors' codes of the floating-point dtypes a model can be built in -> their names. float8
#: is left out, as transformers leaves it out: no framework builds a whole model in it.
_FLOAT_DTYPE_NAMES = {"F64": "float64", "F32": "float32", "F16": "float16", "BF16": "bfloat16"}


def _first_float_dtype(files: list[Path]) -> str | None:
    """The dtype of the first floating-point tensor stored in the first weight file (headers only).

    What ``dtype="auto"`` means when ``config.json`` records no dtype, as in transformers;
    None (the framework's default, float32) for a legacy ``.bin`` file, whose header cannot
    be read without unpickling it, or a checkpoint with no such tensor.
    """
    infos = [info for info in read_tensor_infos(files[:1]).values() if info.dtype in _FLOAT_DTYPE_NAMES]
    return _FLOAT_DTYPE_NAMES[min(infos, key=lambda info: info.start).dtype] if infos else None


def _weights_dtype(tensors: dict[str, Any]) -> str | None:
    """The dtype name ("float32", "bfloat16"...) of the first floating-point tensor, if any."""
    for tensor in tensors.values():
        name = str(tensor.dtype).rpartition(".")[2]
        if "float" in name:
            return name
    return None
