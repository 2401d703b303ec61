"""Reading and writing weights in the Hugging Face safetensors layout.

A checkpoint folder holds ``model.safetensors``, or shards named
``model-00001-of-00003.safetensors`` listed by ``model.safetensors.index.json``.
Tensor names are the canonical (PyTorch ``transformers``) names; each backend maps
its own variables to and from them. Nothing here imports a framework: tensors are
read as numpy arrays (``framework="np"``) unless a backend asks safetensors for its
own type (``framework="pt"``), and written from numpy or torch tensors.

Legacy ``pytorch_model.bin`` files are read only when asked for explicitly, and then
with ``torch.load(weights_only=True)``: no pickle code from a checkpoint ever runs.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Mapping

from .io import atomic_path, atomic_write_text

__all__ = [
    "SAFE_WEIGHTS_NAME",
    "SAFE_WEIGHTS_INDEX_NAME",
    "LEGACY_WEIGHTS_NAME",
    "CheckpointError",
    "TensorInfo",
    "find_weight_files",
    "read_tensor_infos",
    "iter_tensors",
    "load_tensors",
    "save_tensors",
    "parse_size",
]

SAFE_WEIGHTS_NAME = "model.safetensors"
SAFE_WEIGHTS_INDEX_NAME = "model.safetensors.index.json"
LEGACY_WEIGHTS_NAME = "pytorch_model.bin"
_SHARD_RE = re.compile(r"^model-\d{5}-of-\d{5}\.safetensors$")

# safetensors dtype codes -> bytes per element
_DTYPE_SIZES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1, "BOOL": 1,
                "F8_E4M3": 1, "F8_E5M2": 1, "U16": 2, "U32": 4, "U64": 8}


class CheckpointError(ValueError):
    """A weights file that is missing, malformed, or does not fit the model."""


@dataclass(frozen=True)
class TensorInfo:
    """What a safetensors header says of one tensor, read without loading its data."""

    name: str
    shape: tuple[int, ...]
    dtype: str
    file: Path

    @property
    def nbytes(self) -> int:
        size = _DTYPE_SIZES.get(self.dtype, 4)
        for dim in self.shape:
            size *= dim
        return size


def parse_size(size: int | str) -> int:
    """``"500MB"``, ``"5GB"``, ``"100KiB"`` or an int -> bytes (decimal units for B, binary for iB)."""
    if isinstance(size, int) and not isinstance(size, bool):
        if size <= 0:
            raise ValueError(f"max_shard_size must be positive, got {size}")
        return size
    if not isinstance(size, str):
        raise ValueError(f"max_shard_size must be an int or a string like '5GB', got {size!r}")
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?I?B)\s*", size.upper())
    if not match:
        raise ValueError(f"max_shard_size {size!r} is not a size: expected e.g. '500MB', '5GB' or '2GiB'")
    number, unit = float(match.group(1)), match.group(2)
    scale = {"B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12,
             "KIB": 2**10, "MIB": 2**20, "GIB": 2**30, "TIB": 2**40}[unit]
    result = int(number * scale)
    if result <= 0:
        raise ValueError(f"max_shard_size must be positive, got {size!r}")
    return result


def find_weight_files(folder: str | os.PathLike, *, use_safetensors: bool | None = None) -> list[Path]:
    """The weight files of a checkpoint folder, shards in order.

    ``use_safetensors=False`` asks for the legacy ``pytorch_model.bin``; by default only
    safetensors files are used, and a folder that has only a ``.bin`` file gets an error
    that explains how to opt in.
    """
    folder = Path(folder)
    if use_safetensors is not False:
        index = folder / SAFE_WEIGHTS_INDEX_NAME
        if index.is_file():
            weight_map = _read_index(index)
            files = []
            for name in dict.fromkeys(weight_map.values()):
                path = folder / name
                if not path.is_file():
                    raise CheckpointError(f"{index} lists shard '{name}', which is missing from {folder}")
                files.append(path)
            return files
        single = folder / SAFE_WEIGHTS_NAME
        if single.is_file():
            return [single]
        if use_safetensors:
            raise CheckpointError(f"no {SAFE_WEIGHTS_NAME} or {SAFE_WEIGHTS_INDEX_NAME} in {folder}")
    legacy = folder / LEGACY_WEIGHTS_NAME
    if use_safetensors is False:
        if legacy.is_file():
            return [legacy]
        raise CheckpointError(f"no {LEGACY_WEIGHTS_NAME} in {folder}")
    hint = (
        f" It has {LEGACY_WEIGHTS_NAME} (a pickle file): pass use_safetensors=False to load it with "
        f"torch.load(weights_only=True), or convert it to safetensors."
        if legacy.is_file()
        else ""
    )
    raise CheckpointError(f"no weights in {folder}: expected {SAFE_WEIGHTS_NAME} or {SAFE_WEIGHTS_INDEX_NAME}.{hint}")


def _read_index(index: Path) -> dict[str, str]:
    try:
        data = json.loads(index.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"{index} is not valid JSON (line {exc.lineno}: {exc.msg})") from None
    weight_map = data.get("weight_map") if isinstance(data, dict) else None
    if not isinstance(weight_map, dict) or not all(isinstance(v, str) for v in weight_map.values()):
        raise CheckpointError(f"{index} must hold a 'weight_map' object of tensor name -> shard file name")
    return weight_map


def _read_header(path: Path) -> dict[str, Any]:
    """Parse a safetensors header by hand, so that a truncated file is caught before any read."""
    size = path.stat().st_size
    with open(path, "rb") as handle:
        head = handle.read(8)
        if len(head) < 8:
            raise CheckpointError(f"{path} is not a safetensors file: it is {size} bytes long (truncated?)")
        header_len = int.from_bytes(head, "little")
        if header_len <= 0 or 8 + header_len > size:
            raise CheckpointError(f"{path} is not a valid safetensors file: its header is cut off (truncated?)")
        try:
            header = json.loads(handle.read(header_len))
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise CheckpointError(f"{path} is not a valid safetensors file: its header is not JSON") from None
    data_end = max((info["data_offsets"][1] for key, info in header.items() if key != "__metadata__"), default=0)
    if 8 + header_len + data_end > size:
        raise CheckpointError(
            f"{path} is truncated: its header describes {data_end} bytes of tensor data, "
            f"but only {size - 8 - header_len} are there"
        )
    return header


def read_tensor_infos(files: list[Path]) -> dict[str, TensorInfo]:
    """Name -> :class:`TensorInfo` for every tensor in ``files``, from the headers only."""
    infos: dict[str, TensorInfo] = {}
    for path in files:
        if path.suffix == ".bin":
            continue
        for name, info in _read_header(path).items():
            if name == "__metadata__":
                continue
            infos[name] = TensorInfo(name, tuple(info["shape"]), info["dtype"], path)
    return infos


def iter_tensors(files: list[Path], framework: str = "np", names: set[str] | None = None) -> Iterator[tuple[str, Any]]:
    """Yield ``(name, tensor)`` file by file, so that at most one shard is held at a time.

    ``framework`` is safetensors' own: ``"np"`` (numpy) or ``"pt"`` (torch).
    ``names``, when given, restricts what is read.
    """
    from safetensors import safe_open

    for path in files:
        if path.suffix == ".bin":
            yield from _iter_legacy(path, framework, names)
            continue
        _read_header(path)  # clear error for a truncated file
        try:
            with safe_open(str(path), framework=framework) as handle:
                for name in handle.keys():
                    if names is None or name in names:
                        yield name, handle.get_tensor(name)
        except CheckpointError:
            raise
        except Exception as exc:  # safetensors raises its own error types
            raise CheckpointError(f"could not read {path}: {exc}") from exc


def _iter_legacy(path: Path, framework: str, names: set[str] | None):
    import torch

    state = torch.load(str(path), map_location="cpu", weights_only=True)
    for name, tensor in state.items():
        if names is None or name in names:
            yield name, (tensor if framework == "pt" else tensor.numpy())


def load_tensors(files: list[Path], framework: str = "np") -> dict[str, Any]:
    return dict(iter_tensors(files, framework))


def _nbytes(tensor: Any) -> int:
    if hasattr(tensor, "nbytes"):
        return int(tensor.nbytes)
    return int(tensor.numel() * tensor.element_size())


def save_tensors(
    tensors: Mapping[str, Any],
    save_directory: str | os.PathLike,
    *,
    max_shard_size: int | str = "5GB",
    metadata: dict[str, str] | None = None,
) -> list[Path]:
    """Write ``tensors`` (numpy arrays or torch tensors, not mixed) in the HF layout.

    One ``model.safetensors`` when everything fits in ``max_shard_size``, else shards and
    an index. Each file is written to a temporary name and moved into place, and weight
    files of an earlier save that this one does not use are removed afterwards, so the
    folder never mixes two saves.
    """
    save_directory = Path(save_directory)
    if save_directory.is_file():
        raise NotADirectoryError(f"save_directory '{save_directory}' is a file; expected a folder")
    limit = parse_size(max_shard_size)
    metadata = {"format": "pt", **(metadata or {})}
    if not tensors:
        raise CheckpointError("nothing to save: the model has no weights")

    shards: list[dict[str, Any]] = [{}]
    current = 0
    for name, tensor in tensors.items():
        size = _nbytes(tensor)
        if shards[-1] and current + size > limit:
            shards.append({})
            current = 0
        shards[-1][name] = tensor
        current += size

    is_torch = not hasattr(next(iter(tensors.values())), "__array_interface__")
    if is_torch:
        from safetensors.torch import save_file
    else:
        from safetensors.numpy import save_file

    save_directory.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    if len(shards) == 1:
        names = [SAFE_WEIGHTS_NAME]
    else:
        names = [f"model-{i + 1:05d}-of-{len(shards):05d}.safetensors" for i in range(len(shards))]
    # Every shard goes to a temporary file first; they are moved into place together
    # only when all were written, so a failure midway leaves the folder as it was.
    with contextlib.ExitStack() as stack:
        for shard, name in zip(shards, names):
            target = save_directory / name
            tmp = stack.enter_context(atomic_path(target))
            save_file(_contiguous(shard, is_torch), str(tmp), metadata=metadata)
            written.append(target)
    index = save_directory / SAFE_WEIGHTS_INDEX_NAME
    if len(shards) > 1:
        weight_map = {tensor_name: name for shard, name in zip(shards, names) for tensor_name in shard}
        total = sum(_nbytes(t) for t in tensors.values())
        atomic_write_text(
            index, json.dumps({"metadata": {"total_size": total}, "weight_map": weight_map}, indent=2, sort_keys=True) + "\n"
        )
        written.append(index)
    elif index.exists():
        index.unlink()
    for stale in save_directory.iterdir():
        if (_SHARD_RE.match(stale.name) or stale.name == SAFE_WEIGHTS_NAME) and stale not in written:
            stale.unlink()
    return written


def _contiguous(shard: dict[str, Any], is_torch: bool) -> dict[str, Any]:
    if is_torch:
        return {k: v.detach().contiguous() for k, v in shard.items()}
    import numpy as np

    return {k: np.ascontiguousarray(v) for k, v in shard.items()}
