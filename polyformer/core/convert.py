"""Re-shard and re-type a checkpoint, streaming tensor by tensor.

The on-disk format is the same for every framework (canonical PyTorch names in
safetensors), so converting a checkpoint "for" a framework is only re-sharding and,
optionally, a dtype change. This module never holds more than one output shard plus
one tensor in memory: tensors are read from the source files by byte range and
written straight into the output shard, so peak memory stays near ``max_shard_size``
whatever the size of the checkpoint. Without a dtype change, bytes are copied as they
are (bit-exact, any dtype, bfloat16 included).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from .checkpoint import (
    LEGACY_WEIGHTS_NAME,
    SAFE_WEIGHTS_INDEX_NAME,
    CheckpointError,
    TensorInfo,
    find_weight_files,
    index_json,
    parse_size,
    read_tensor_infos,
    remove_stale_weight_files,
    shard_names,
)
from .configuration import CONFIG_NAME, read_json_dict
from .hub import contained_path
from .io import JOURNAL_NAME, check_not_interrupted, folder_transaction

__all__ = ["convert_checkpoint", "ConvertedCheckpoint", "DTYPE_CODES"]

#: User-facing dtype names -> safetensors dtype codes.
DTYPE_CODES = {"float32": "F32", "float16": "F16", "bfloat16": "BF16", "float64": "F64"}
_FLOAT_CODES = {"F32", "F16", "BF16", "F64"}


def _numpy_dtype(code: str):
    import numpy as np

    if code == "BF16":
        try:
            import ml_dtypes
        except ImportError:
            raise CheckpointError("converting to or from bfloat16 needs the ml_dtypes package (pip install ml_dtypes)") from None
        return np.dtype(ml_dtypes.bfloat16)
    return np.dtype({"F32": "float32", "F16": "float16", "F64": "float64"}[code])


def _read_bytes(info: TensorInfo) -> bytes:
    with open(info.file, "rb") as handle:
        handle.seek(info.start)
        data = handle.read(info.end - info.start)
    if len(data) != info.end - info.start:
        raise CheckpointError(f"{info.file} is truncated while reading tensor '{info.name}'")
    return data


def _cast(data: bytes, info: TensorInfo, code: str) -> bytes:
    import numpy as np

    array = np.frombuffer(data, dtype=_numpy_dtype(info.dtype)).reshape(info.shape)
    return array.astype(_numpy_dtype(code)).tobytes()


def _write_shard(path: Path, entries: list[tuple[str, str, tuple[int, ...], bytes]], metadata: dict[str, str]) -> None:
    header: dict[str, object] = {"__metadata__": metadata}
    offset = 0
    for name, code, shape, data in entries:
        header[name] = {"dtype": code, "shape": list(shape), "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
    header_bytes = json.dumps(header, separators=(",", ":")).encode("utf-8")
    header_bytes += b" " * (-len(header_bytes) % 8)
    with open(path, "wb") as handle:
        handle.write(len(header_bytes).to_bytes(8, "little"))
        handle.write(header_bytes)
        for _, _, _, data in entries:
            handle.write(data)


@dataclass
class ConvertedCheckpoint:
    """What :func:`convert_checkpoint` wrote into ``folder`` (full paths)."""

    folder: Path
    shards: list[Path]
    index: Path | None
    copied: list[Path] = field(default_factory=list)  # the source's other files, subfolders included
    config_dtype: str | None = None  # set when config.json was rewritten with a new dtype
    tensors: int = 0
    weight_bytes: int = 0  # tensor data in the shards

    @property
    def weight_files(self) -> list[Path]:
        """The shards, then the index if there is one."""
        return self.shards + ([self.index] if self.index else [])


def convert_checkpoint(
    source: str | os.PathLike,
    destination: str | os.PathLike,
    *,
    dtype: str | None = None,
    max_shard_size: int | str = "5GB",
    weights_only: bool = False,
    progress: Callable[[int, int], None] | None = None,
    on_shard: Callable[[str, int, int, int], None] | None = None,
) -> ConvertedCheckpoint:
    """Copy the checkpoint folder ``source`` to ``destination``, re-sharded and optionally re-typed.

    What ``polyformer convert`` runs. The folder's other files are copied as they are,
    subfolders included (a sentence-transformers folder's ``1_Pooling/`` and ``modules.json``,
    the tokenizer, the README), with the config's ``dtype`` updated. The destination's files
    are committed together, as every save is (:func:`~polyformer.core.io.folder_transaction`).

    Args:
        source: the checkpoint folder to read (``config.json`` plus safetensors weights,
            one file or shards with their index).
        destination: the folder to write; created if needed, and must differ from ``source``.
        dtype: ``"float32"``, ``"float16"``, ``"bfloat16"`` or ``"float64"`` for the
            floating-point tensors (other tensors keep theirs); None copies the bytes as they
            are, bit-exact.
        max_shard_size: the largest output file, in bytes or as text (``"500MB"``); larger
            checkpoints are split into shards plus ``model.safetensors.index.json``.
        weights_only: write the weights alone, without copying the folder's other files.
        progress: called as ``progress(done_bytes, total_bytes)`` after each tensor
            (``print_progress`` draws a bar on stderr); None for silence.
        on_shard: called as ``on_shard(name, number, count, file_size)`` after each weight file.

    Returns:
        What was written: the weight files (shards and index) and the other files copied.
    """
    source, destination = Path(source), Path(destination)
    if not source.is_dir():
        raise FileNotFoundError(f"source '{source}' is not a checkpoint folder")
    if destination.resolve() == source.resolve():
        raise ValueError("destination must differ from source")
    if destination.is_file():
        raise NotADirectoryError(f"destination '{destination}' is a file; expected a folder")
    if dtype is not None and dtype not in DTYPE_CODES:
        raise ValueError(f"dtype {dtype!r} is not supported; expected one of {', '.join(DTYPE_CODES)}")
    limit = parse_size(max_shard_size)
    check_not_interrupted(source)
    files = find_weight_files(source, use_safetensors=True)
    infos = read_tensor_infos(files)
    target_code = DTYPE_CODES[dtype] if dtype else None

    def out_code(info: TensorInfo) -> str:
        return target_code if target_code and info.dtype in _FLOAT_CODES else info.dtype

    def out_size(info: TensorInfo) -> int:
        return info.nbytes // max(1, _itemsize(info.dtype)) * _itemsize(out_code(info))

    # Plan the shards from the headers, so their names (which carry the count) are known up front.
    plan: list[list[TensorInfo]] = [[]]
    current = 0
    for info in infos.values():
        size = out_size(info)
        if plan[-1] and current + size > limit:
            plan.append([])
            current = 0
        plan[-1].append(info)
        current += size
    names = shard_names(len(plan))
    others = [] if weights_only else _other_files(source, destination)
    config = read_json_dict(contained_path(source, CONFIG_NAME, named_by=f"the folder {source}")) \
        if dtype and CONFIG_NAME in others else None

    total = sum(out_size(info) for info in infos.values())
    result = ConvertedCheckpoint(folder=destination, shards=[], index=None, tensors=len(infos), weight_bytes=total)
    done = 0
    with folder_transaction(destination) as transaction:
        for number, (shard, name) in enumerate(zip(plan, names), start=1):
            entries = []
            for info in shard:
                data = _read_bytes(info)
                code = out_code(info)
                if code != info.dtype:
                    data = _cast(data, info, code)
                entries.append((info.name, code, info.shape, data))
                done += len(data)
                if progress:
                    progress(done, total)
            staged = transaction.path(destination / name)
            _write_shard(staged, entries, {"format": "pt"})
            result.shards.append(destination / name)
            if on_shard:
                on_shard(name, number, len(plan), staged.stat().st_size)
            del entries
        if len(plan) > 1:
            weight_map = {info.name: name for shard, name in zip(plan, names) for info in shard}
            result.index = transaction.write_text(destination / SAFE_WEIGHTS_INDEX_NAME, index_json(weight_map, total))
        remove_stale_weight_files(transaction, destination, [path.name for path in result.weight_files])

        for name in others:
            target = destination / name
            if config is not None and name == CONFIG_NAME:
                config["dtype"] = dtype
                config.pop("torch_dtype", None)
                transaction.write_text(target, json.dumps(config, indent=2, sort_keys=True) + "\n")
                result.config_dtype = dtype
            else:
                original = contained_path(source, name, named_by=f"the folder {source}")
                shutil.copyfile(original, transaction.path(target))
            result.copied.append(target)
    return result


def _other_files(source: Path, destination: Path) -> list[str]:
    """The files convert copies, as relative names: all but the weights it rewrites.

    Subfolders are included (``1_Pooling/config.json``); hidden folders (``.git``, a
    download tool's ``.cache``, polyformer's staging folders), commit journals and a
    destination inside the source are not. Symlinked folders are not followed.
    """
    names = []
    skip = os.path.realpath(destination)
    for root, folders, file_names in os.walk(source):
        folders[:] = sorted(name for name in folders if not name.startswith(".")
                            and os.path.realpath(os.path.join(root, name)) != skip)
        relative = Path(root).relative_to(source)
        for name in sorted(file_names):
            if name == JOURNAL_NAME or (relative == Path(".") and _is_weight_or_internal(name)):
                continue
            names.append((relative / name).as_posix())
    return names


def _is_weight_or_internal(name: str) -> bool:
    """Files convert writes itself (weights) or never copies (a commit journal)."""
    return (name.endswith(".safetensors") or name == SAFE_WEIGHTS_INDEX_NAME or name == LEGACY_WEIGHTS_NAME
            or name.endswith(".bin") or name == JOURNAL_NAME)


def _itemsize(code: str) -> int:
    return {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1, "BOOL": 1}.get(code, 4)


def format_size(nbytes: int) -> str:
    """``612 B``, ``4.1 kB``, ``90.9 MB``: decimal units, as ``max_shard_size`` reads them."""
    if nbytes < 1000:
        return f"{nbytes} B"
    value = float(nbytes)
    for unit in ("kB", "MB", "GB", "TB"):
        value /= 1000
        if value < 1000:
            break
    return f"{value:.1f} {unit}"


def print_progress(done: int, total: int) -> None:
    """A one-line progress bar on stderr, redrawn in place: for a terminal (no dependency)."""
    width = 30
    filled = int(width * done / total) if total else width
    sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done / 1e6:8.1f} / {total / 1e6:.1f} MB")
    if done >= total:
        sys.stderr.write("\n")
    sys.stderr.flush()


def print_shard(name: str, number: int, count: int, nbytes: int) -> None:
    """One line on stderr per weight file: progress for logs and pipes, where a redrawn bar is noise."""
    sys.stderr.write(f"[{number}/{count}] {name} ({format_size(nbytes)})\n")
    sys.stderr.flush()
