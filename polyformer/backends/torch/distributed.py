"""polyformer models under ``torch.distributed``: FSDP2 sharding, sharded loading, saving a sharded model.

polyformer brings no launcher and no wrapper of its own: models are ordinary ``nn.Module``s,
so ``DistributedDataParallel(model)`` and ``torch.distributed.fsdp.fully_shard`` take them as
they are (see ``docs/scaling.md``). This module adds only what the checkpoint layer must
know about sharding:

* :func:`shard_model`: the usual FSDP2 recipe, ``fully_shard`` on each transformer block
  (the shared ``TransformerLayer``), then on the root;
* :func:`load_sharded`: ``from_pretrained`` straight into a sharded model. The model is
  built on the meta device and sharded there, then each rank reads from the safetensors
  files only the rows of each tensor that it owns, so no rank ever holds the full weights
  (at most its shards plus one tensor, for placements other than one ``Shard``);
* :func:`save_sharded`: what ``save_pretrained`` does for a sharded model (it is called
  from there): every rank takes part in gathering the full state onto rank 0's CPU
  (``get_model_state_dict(full_state_dict=True, cpu_offload=True)``), and rank 0 alone
  writes one ordinary checkpoint, loadable anywhere.
"""

from __future__ import annotations

import logging
import os
from typing import Any, Callable

import torch
import torch.distributed as dist
from torch import nn
from torch.distributed.tensor import DeviceMesh, DTensor, Replicate, Shard, distribute_tensor

from ...core.checkpoint import FLOAT_DTYPES, CheckpointError, find_weight_files, read_tensor_infos
from ...core.hub import pop_hub_options, resolve_model_folder
from ...core.modeling import _check_float_kinds, _route_tied_weights, map_checkpoint_names
from . import layers

logger = logging.getLogger(__name__)

__all__ = ["shard_model", "load_sharded", "save_sharded", "default_mesh"]


def default_mesh() -> DeviceMesh:
    """A 1-D mesh over every rank of the default process group, on CUDA when the backend is NCCL."""
    if not dist.is_initialized():
        raise RuntimeError(
            "torch.distributed is not initialised: call torch.distributed.init_process_group() "
            "(torchrun sets the environment it reads) before sharding or loading a sharded model"
        )
    device_type = "cuda" if dist.get_backend() == "nccl" else "cpu"
    return DeviceMesh.from_group(dist.group.WORLD, device_type)


def shard_model(model: nn.Module, mesh: DeviceMesh | None = None, **fsdp_options: Any) -> nn.Module:
    """``fully_shard`` each transformer block, then the root (``fsdp_options``: e.g. ``mp_policy``).

    One FSDP group per block lets a block's weights be gathered just before it runs and
    freed after, so a rank holds its shards plus about one block at a time.
    """
    from torch.distributed.fsdp import fully_shard

    mesh = mesh if mesh is not None else default_mesh()
    blocks = [module for module in model.modules() if isinstance(module, layers.TransformerLayer)]
    if not blocks:
        raise ValueError(
            f"{type(model).__name__} has no TransformerLayer blocks to shard: pass shard_fn= to shard it your way"
        )
    for block in blocks:
        fully_shard(block, mesh=mesh, **fsdp_options)
    fully_shard(model, mesh=mesh, **fsdp_options)
    return model


def load_sharded(
    cls: type,
    pretrained_model_name_or_path: str | os.PathLike,
    *,
    mesh: DeviceMesh | None = None,
    shard_fn: Callable[[nn.Module, DeviceMesh], nn.Module] | None = None,
    dtype: Any = None,
    config: Any = None,
    **kwargs: Any,
):
    """``cls.from_pretrained`` into a sharded model, without the full weights on any rank.

    Every rank calls it with the same arguments. ``shard_fn(model, mesh)`` shards the model
    built on the meta device (default: :func:`shard_model`); then each parameter is read
    from the checkpoint as the rows its placement gives this rank. Weights the checkpoint
    lacks (a new task head) are initialised identically on every rank from one seed drawn
    on rank 0, then sharded. Other keyword arguments override config keys, as in
    ``from_pretrained``. The model is returned in eval mode, as ``from_pretrained`` returns it.
    """
    from .modeling import PreTrainedModel

    if not (isinstance(cls, type) and issubclass(cls, PreTrainedModel)):
        raise TypeError(f"load_sharded(cls, ...) expects a polyformer PyTorch model class, got {cls!r}")
    mesh = mesh if mesh is not None else default_mesh()
    shard_fn = shard_fn if shard_fn is not None else shard_model
    options = {key: kwargs.pop(key) for key in list(kwargs) if key in cls.module_options}
    hub_options = pop_hub_options(kwargs)  # a hub id downloads as for from_pretrained (safetensors only)
    folder = resolve_model_folder(pretrained_model_name_or_path, config=config is None, use_safetensors=True,
                                  **hub_options)
    config = cls._resolve_config(folder, config, kwargs, hub_options)
    files = find_weight_files(folder, use_safetensors=True)  # safetensors only: each rank reads its rows alone

    model = cls._from_config_for_loading(config, dtype, **options)
    model = shard_fn(model, mesh) or model
    params = dict(model.named_parameters(remove_duplicate=False))
    model_shapes = model._canonical_shapes()

    # Which checkpoint tensor goes where: the same rules (and errors) as from_pretrained.
    infos = read_tensor_infos(files)
    mapping = map_checkpoint_names(list(infos), set(model_shapes), cls.base_model_prefix)
    wanted = {name: target for name, target in mapping.items() if target in model_shapes}
    mismatched = [f"{t}: checkpoint {infos[n].shape}, model {model_shapes[t]}" for n, t in wanted.items()
                  if tuple(infos[n].shape) != tuple(model_shapes[t])]
    if mismatched:
        raise CheckpointError(f"{folder}: tensors do not fit the config ({'; '.join(mismatched)}); check config.json")
    _route_tied_weights(wanted, model._tied_targets(), cls.tied_weights)
    _check_float_kinds(wanted, {n: (i.dtype, i.dtype in FLOAT_DTYPES) for n, i in infos.items()},
                       model._non_float_weights(), {n: i.file for n, i in infos.items()})

    from safetensors import safe_open

    new_state: dict[str, torch.Tensor] = {}
    by_file: dict[Any, list[str]] = {}
    for name in wanted:
        by_file.setdefault(infos[name].file, []).append(name)
    for path, names in by_file.items():
        with safe_open(str(path), framework="pt") as handle:
            for name in names:
                target = wanted[name]
                old = params.get(target)
                if old is None:  # a persistent buffer: small, and never sharded
                    new_state[target] = handle.get_tensor(name)
                    continue
                local = _read_placed(handle.get_slice(name), old, mesh.device_type)
                new_state[target] = nn.Parameter(local, requires_grad=old.requires_grad)

    tied = model._tied_targets()
    missing = [name for name in params if name not in new_state and name not in tied]
    if missing:
        _initialize_missing_sharded(model, missing, params, new_state, mesh)
        logger.warning("%s: weights not in the checkpoint %s, newly initialised: %s. Train the model before using it.",
                       cls.__name__, folder, ", ".join(missing))
    unexpected = sorted(name for name, target in mapping.items() if target not in model_shapes)
    if unexpected:
        logger.warning("%s: checkpoint %s has weights the model does not use: %s", cls.__name__, folder,
                       ", ".join(unexpected))
    for target in tied:  # the very same Parameter under both names keeps the tie
        new_state[target] = new_state[cls.tied_weights[target]]
    # assign=True makes these the model's parameters; FSDP2's post-load hook re-registers its shards.
    model.load_state_dict(new_state, strict=False, assign=True)
    device = mesh.device_type
    for module in model.modules():
        reset = getattr(module, "reset_buffers", None)
        if reset is not None and any(b is not None and b.is_meta for b in module._buffers.values()):
            reset()
        for key, buffer in module._buffers.items():
            if buffer is not None and buffer.device.type != device:
                module._buffers[key] = buffer.to(device)
    left = [n for n, t in [*model.named_parameters(), *model.named_buffers()] if t.is_meta]
    if left:
        raise RuntimeError(f"{cls.__name__}: tensors still unset after sharded loading: {', '.join(left)}")
    model.eval()
    return model


def _read_placed(tensor_slice: Any, old: torch.Tensor, device: str) -> torch.Tensor:
    """This rank's part of one checkpoint tensor, as a tensor placed like ``old``.

    For one ``Shard(dim)`` (FSDP2) only this rank's rows are read, chunked as DTensor
    chunks (``torch.chunk``: sizes rounded up, the last ones shorter or empty).
    """
    dtype = old.dtype
    if not isinstance(old, DTensor):  # a parameter shard_fn left whole
        return tensor_slice[:].to(dtype).to(device)
    mesh, placements = old.device_mesh, old.placements
    if mesh.ndim == 1 and isinstance(placements[0], Shard):
        dim = placements[0].dim
        size, world, rank = old.shape[dim], mesh.size(), mesh.get_local_rank()
        chunk = -(-size // world)
        start, end = min(size, rank * chunk), min(size, (rank + 1) * chunk)
        index = tuple(slice(None) for _ in range(dim)) + (slice(start, end),)
        local = tensor_slice[index].to(dtype).to(mesh.device_type)
        return DTensor.from_local(local, mesh, placements, run_check=False, shape=old.shape, stride=old.stride())
    if all(isinstance(p, Replicate) for p in placements):
        full = tensor_slice[:].to(dtype).to(mesh.device_type)
        return DTensor.from_local(full, mesh, placements, run_check=False)
    # Any other layout: read the tensor whole (one at a time) and keep this rank's part.
    return distribute_tensor(tensor_slice[:].to(dtype).to(mesh.device_type), mesh, placements, src_data_rank=None)


def _initialize_missing_sharded(model: nn.Module, missing: list[str], params: dict, new_state: dict,
                                mesh: DeviceMesh) -> None:
    """Initialise weights the checkpoint lacks, the same on every rank, then keep this rank's part.

    Each is initialised whole (one at a time) by the model's own ``_init_weights``, under
    a seed drawn from rank 0's generator and broadcast, so the ranks agree.
    """
    device = mesh.device_type
    group = mesh.get_group() if mesh.ndim == 1 else dist.group.WORLD
    seed = torch.randint(0, 2**62, (1,), dtype=torch.int64).to(device)
    dist.broadcast(seed, src=dist.get_global_rank(group, 0), group=group)
    for number, name in enumerate(missing):
        old = params[name]
        module_name, _, attr = name.rpartition(".")
        module = model.get_submodule(module_name)
        full = nn.Parameter(torch.empty(old.shape, dtype=old.dtype), requires_grad=old.requires_grad)
        module._parameters[attr] = full
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(seed) + number)
            model._init_weights(module, only={attr})
        module._parameters[attr] = old
        placed = full.detach()
        if not isinstance(old, DTensor):  # a parameter shard_fn left whole
            placed = placed.to(device)
        else:
            placed = distribute_tensor(placed.to(old.device_mesh.device_type), old.device_mesh, old.placements,
                                       src_data_rank=None)
        new_state[name] = nn.Parameter(placed, requires_grad=old.requires_grad)


def unsharded_class(model: nn.Module) -> type:
    """The model's own class: FSDP2 swaps in a subclass named ``FSDP<name>``."""
    from torch.distributed.fsdp import FSDPModule

    for klass in type(model).__mro__:
        if not issubclass(klass, FSDPModule):
            return klass
    return type(model)


def save_sharded(model: nn.Module, save_directory: str | os.PathLike, **kwargs: Any) -> None:
    """Save a sharded model as one ordinary checkpoint: gather on every rank, write on rank 0.

    Every rank must call it (the gather is collective); the other ranks write nothing, and
    all ranks return once rank 0 has finished, so the folder is complete when they go on.
    """
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

    # Checked on every rank before the gather, so a bad argument fails everywhere alike.
    max_shard_size = kwargs.pop("max_shard_size", "5GB")
    if kwargs.pop("safe_serialization", True) is not True:
        raise ValueError("polyformer writes safetensors only (safe_serialization=False is not supported)")
    if kwargs:
        raise TypeError(f"save_pretrained() got unexpected arguments: {', '.join(sorted(kwargs))}")
    # The ranks that hold the model: its mesh's group (1-D mesh), else every rank. With
    # cpu_offload, the full state lands on global rank 0 only, which therefore writes.
    mesh = next(p.device_mesh for p in model.parameters() if isinstance(p, DTensor))
    group = mesh.get_group() if mesh.ndim == 1 else dist.group.WORLD
    state = get_model_state_dict(model, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
    error: list[BaseException | None] = [None]
    if dist.get_rank() == 0:
        tied = model._tied_targets()
        tensors = {name: tensor for name, tensor in state.items() if name not in tied}
        try:
            model._write_pretrained(save_directory, tensors, unsharded_class(model).canonical_class_name(),
                                     max_shard_size=max_shard_size)
        except BaseException as exc:  # tell the other ranks, so that none goes on as if it were saved
            error[0] = exc
    report = [repr(error[0]) if error[0] is not None else None]
    dist.broadcast_object_list(report, src=0, group=group)
    if error[0] is not None:
        raise error[0]
    if report[0] is not None:
        raise RuntimeError(f"save_pretrained failed on rank 0: {report[0]}")
