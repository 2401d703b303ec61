"""Reading and writing weights in the Hugging Face safetensors layout.

A checkpoint folder holds ``model.safetensors``, or shards named
``model-00001-of-00003.safetensors`` listed by ``model.safetensors.index.json``.
Tensor names are the canonical (PyTorch ``transformers``) names; each backend maps
its own variables to and from them. Nothing here imports a framework: tensors are
read as numpy arrays (``framework="np"``), as :class:`StoredTensor` handles that a
backend reads whole or by blocks of rows into fresh memory (``framework="stored"``), or
as safetensors' own torch tensors (``framework="pt"``, memory-mapped); they are written
from numpy or torch tensors.

Legacy ``pytorch_model.bin`` files are read only when asked for explicitly, and then
with ``torch.load(weights_only=True)``: no pickle code from a checkpoint ever runs.

Nothing a checkpoint holds is trusted: shard names in the index must stay inside the
folder (:func:`~polyformer.core.hub.contained_path`), and a safetensors header is
checked whole (types, dtypes, offsets inside the file, no overlap, byte lengths) before
any tensor is read, so a bad file is one :class:`CheckpointError` naming it.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Mapping

from .hub import contained_path
from .io import CheckpointError, check_not_interrupted, folder_transaction

__all__ = [
    "SAFE_WEIGHTS_NAME",
    "SAFE_WEIGHTS_INDEX_NAME",
    "LEGACY_WEIGHTS_NAME",
    "CheckpointError",
    "TensorInfo",
    "StoredTensor",
    "FLOAT_DTYPES",
    "numpy_dtype",
    "aligned_empty",
    "aligned_copy",
    "shard_names",
    "index_json",
    "remove_stale_weight_files",
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
#: The floating-point safetensors dtype codes.
FLOAT_DTYPES = frozenset({"F64", "F32", "F16", "BF16", "F8_E4M3", "F8_E5M2"})
#: safetensors' own limit on the header's size.
_MAX_HEADER = 100_000_000
# safetensors dtype codes -> numpy dtypes (the format is little-endian); the others come from ml_dtypes.
_NUMPY_DTYPES = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "I64": "<i8", "I32": "<i4", "I16": "<i2", "I8": "i1",
                 "U8": "u1", "BOOL": "?", "U16": "<u2", "U32": "<u4", "U64": "<u8"}
_ML_DTYPES = {"BF16": "bfloat16", "F8_E4M3": "float8_e4m3fn", "F8_E5M2": "float8_e5m2"}
# Alignment of the arrays StoredTensor reads: what JAX and TensorFlow need to use an array's memory as it is.
_ALIGNMENT = 64


@dataclass(frozen=True)
class TensorInfo:
    """What a safetensors header says of one tensor, read without loading its data.

    ``start`` / ``end`` are absolute byte offsets of its data in ``file``.
    """

    name: str
    shape: tuple[int, ...]
    dtype: str
    file: Path
    start: int = 0
    end: int = 0

    @property
    def nbytes(self) -> int:
        return _expected_nbytes(self.dtype, self.shape)


def _expected_nbytes(dtype: str, shape: tuple[int, ...]) -> int:
    size = _DTYPE_SIZES[dtype]
    for dim in shape:
        size *= dim
    return size


def shard_names(count: int) -> list[str]:
    """The file names of a save in ``count`` files: ``model.safetensors``, or numbered shards."""
    if count == 1:
        return [SAFE_WEIGHTS_NAME]
    return [f"model-{i + 1:05d}-of-{count:05d}.safetensors" for i in range(count)]


def remove_stale_weight_files(transaction, folder: Path, written: list[str]) -> None:
    """Have ``transaction`` delete the weight files of an older save that ``written`` does not replace.

    Otherwise an old index would keep pointing at old shards, or an old
    ``model.safetensors`` would sit beside new shards.
    """
    for path in folder.iterdir():
        name = path.name
        if name not in written and (_SHARD_RE.match(name) or name in (SAFE_WEIGHTS_NAME, SAFE_WEIGHTS_INDEX_NAME)):
            transaction.remove(path)


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
    check_not_interrupted(folder)
    if use_safetensors is not False:
        index = folder / SAFE_WEIGHTS_INDEX_NAME
        if index.is_file():
            contained_path(folder, index.name, named_by=f"the folder {folder}")
            files: dict[str, Path] = {}
            for tensor, name in _read_index(index).items():
                if name not in files:
                    path = contained_path(folder, name, named_by=f"{index}: weight_map entry '{tensor}'")
                    if not path.is_file():
                        raise CheckpointError(f"{index} lists shard '{name}', which is missing from {folder}")
                    files[name] = path
            return list(files.values())
        single = folder / SAFE_WEIGHTS_NAME
        if single.is_file():
            return [contained_path(folder, single.name, named_by=f"the folder {folder}")]
        if use_safetensors:
            raise CheckpointError(f"no {SAFE_WEIGHTS_NAME} or {SAFE_WEIGHTS_INDEX_NAME} in {folder}")
    legacy = folder / LEGACY_WEIGHTS_NAME
    if use_safetensors is False:
        if legacy.is_file():
            return [contained_path(folder, legacy.name, named_by=f"the folder {folder}")]
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


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _read_header(path: Path) -> list[TensorInfo]:
    """The tensors of a safetensors file, from its header, checked whole before any data is read.

    Checks what safetensors itself requires, so that every bad file gets one
    :class:`CheckpointError` naming it: a JSON object of tensor name -> ``dtype`` (a
    known code), ``shape`` (non-negative ints) and ``data_offsets`` ([start, end] ints);
    ``end - start`` equal to dtype size x shape; the tensors' data back to back, without
    overlap or gap, filling the file exactly.
    """

    def bad(problem: str) -> CheckpointError:
        return CheckpointError(f"{path} is not a valid safetensors file: {problem}")

    size = path.stat().st_size
    with open(path, "rb") as handle:
        head = handle.read(8)
        if len(head) < 8:
            raise CheckpointError(f"{path} is not a safetensors file: it is {size} bytes long (truncated?)")
        header_len = int.from_bytes(head, "little")
        if header_len <= 0 or 8 + header_len > size:
            raise bad(f"its header is cut off (it says {header_len} bytes; the file has {size}; truncated?)")
        if header_len > _MAX_HEADER:
            raise bad(f"its header is {header_len} bytes, more than the format allows ({_MAX_HEADER})")
        try:
            header = json.loads(handle.read(header_len))
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise bad("its header is not JSON") from None
    if not isinstance(header, dict):
        raise bad(f"its header must be a JSON object of tensor name -> entry, found {type(header).__name__}")
    metadata = header.get("__metadata__", {})
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise bad("its __metadata__ must be an object of string -> string")

    data_size = size - 8 - header_len
    infos = []
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        where = f"tensor '{name}'"
        if not isinstance(entry, dict):
            raise bad(f"{where} must be an object with dtype, shape and data_offsets, found {type(entry).__name__}")
        missing = [key for key in ("dtype", "shape", "data_offsets") if key not in entry]
        if missing:
            raise bad(f"{where} has no {' or '.join(missing)}")
        dtype, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
        if dtype not in _DTYPE_SIZES:
            raise bad(f"{where} has dtype {dtype!r}; expected one of {', '.join(_DTYPE_SIZES)}")
        if not isinstance(shape, list) or not all(_is_int(d) and d >= 0 for d in shape):
            raise bad(f"{where} has shape {shape!r}; expected a list of non-negative integers")
        if not (isinstance(offsets, list) and len(offsets) == 2 and all(_is_int(o) for o in offsets)
                and 0 <= offsets[0] <= offsets[1]):
            raise bad(f"{where} has data_offsets {offsets!r}; expected [start, end] with 0 <= start <= end")
        expected = _expected_nbytes(dtype, tuple(shape))
        if offsets[1] - offsets[0] != expected:
            raise bad(f"{where} takes {offsets[1] - offsets[0]} bytes, but {dtype} x {shape} is {expected} bytes")
        if offsets[1] > data_size:
            raise CheckpointError(
                f"{path} is truncated: {where} ends at byte {offsets[1]} of the tensor data, but only {data_size} "
                f"bytes are there"
            )
        infos.append(TensorInfo(name, tuple(shape), dtype, path, 8 + header_len + offsets[0], 8 + header_len + offsets[1]))

    position, previous = 8 + header_len, None
    for info in sorted(infos, key=lambda i: (i.start, i.end)):
        if info.start < position:
            raise bad(f"tensor '{info.name}' overlaps tensor '{previous}'")
        if info.start > position:
            raise bad(f"bytes {position - 8 - header_len} to {info.start - 8 - header_len} of the tensor data belong "
                      f"to no tensor")
        position, previous = info.end, info.name
    if position != size:
        raise bad(f"{size - position} bytes after the last tensor belong to no tensor")
    return infos


def read_tensor_infos(files: list[Path]) -> dict[str, TensorInfo]:
    """Name -> :class:`TensorInfo` for every tensor in ``files``, from the headers only."""
    infos: dict[str, TensorInfo] = {}
    for path in files:
        if path.suffix == ".bin":
            continue
        for info in _read_header(path):
            infos[info.name] = info
    return infos


def iter_tensors(files: list[Path], framework: str = "np", names: set[str] | None = None) -> Iterator[tuple[str, Any]]:
    """Yield ``(name, tensor)`` file by file, so that at most one shard is held at a time.

    ``framework`` is ``"np"`` (numpy arrays), ``"pt"`` (torch tensors, memory-mapped by
    safetensors) or ``"stored"`` (:class:`StoredTensor` handles, in file order, read by the
    caller; a legacy ``.bin`` file gives numpy arrays). ``names``, when given, restricts what is read.
    """
    from safetensors import safe_open

    for path in files:
        if path.suffix == ".bin":
            yield from _iter_legacy(path, "np" if framework == "stored" else framework, names)
            continue
        infos = _read_header(path)  # one clear error for a truncated or malformed file
        if framework == "stored":
            for info in sorted(infos, key=lambda i: i.start):
                if names is None or info.name in names:
                    yield info.name, StoredTensor(info)
            continue
        try:
            with safe_open(str(path), framework=framework) as handle:
                for name in handle.keys():
                    if names is None or name in names:
                        yield name, handle.get_tensor(name)
        except CheckpointError:
            raise
        except Exception as exc:  # safetensors raises its own error types
            raise CheckpointError(f"could not read {path}: {exc}") from exc


def numpy_dtype(code: str):
    """The numpy dtype of a safetensors dtype code (bfloat16 and float8 through ``ml_dtypes``)."""
    import numpy as np

    if code in _NUMPY_DTYPES:
        return np.dtype(_NUMPY_DTYPES[code])
    try:
        import ml_dtypes  # installed with JAX and TensorFlow
    except ImportError:
        raise CheckpointError(f"reading {code} tensors into numpy needs the ml_dtypes package (pip install ml_dtypes)") from None
    return np.dtype(getattr(ml_dtypes, _ML_DTYPES[code]))


def aligned_empty(shape: tuple[int, ...], dtype) -> Any:
    """An uninitialised numpy array whose memory starts at a multiple of 64 bytes.

    JAX (``jax.device_put``) and TensorFlow (through DLPack) use such memory as it is,
    where they would copy an array that numpy placed at a 16-byte boundary.
    """
    import numpy as np

    dtype = np.dtype(dtype)
    size = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    raw = np.empty(size + _ALIGNMENT, dtype=np.uint8)
    offset = -raw.ctypes.data % _ALIGNMENT
    return raw[offset:offset + size].view(dtype).reshape(shape)


def aligned_copy(array: Any, rows: int = 128) -> Any:
    """A C-contiguous, 64-byte aligned copy of ``array`` (often a transposed view).

    Copied a block of ``rows`` rows at a time: for a transposed matrix, each block reads
    short runs of every source row, which the cache serves, where one strided copy of the
    whole matrix is several times slower.
    """
    out = aligned_empty(array.shape, array.dtype)
    if array.ndim < 2:
        out[...] = array
        return out
    for start in range(0, array.shape[0], rows):
        out[start:start + rows] = array[start:start + rows]
    return out


class StoredTensor:
    """A tensor of a safetensors file, not read yet: read it whole, or a block of rows at a time.

    What backends that copy weights into memory of their own (Keras variables, JAX arrays)
    load from. Each read goes from the file straight into one new numpy array, aligned to
    64 bytes so that JAX and TensorFlow can take its memory without copying it: no
    memory map stays behind (its pages would count as the process's memory until the
    file is closed), and a large tensor can be copied block by block instead of whole.
    """

    def __init__(self, info: TensorInfo) -> None:
        self.info = info
        self.name = info.name
        self.shape = info.shape
        self.dtype = numpy_dtype(info.dtype)
        self.nbytes = info.nbytes

    def __repr__(self) -> str:
        return f"StoredTensor({self.name!r}, shape={self.shape}, dtype={self.dtype}, file={str(self.info.file)!r})"

    @property
    def _row_bytes(self) -> int:
        return self.nbytes // self.shape[0] if self.shape and self.shape[0] else self.nbytes

    def read(self, start: int = 0, stop: int | None = None):
        """Rows ``start:stop`` of the first axis (the whole tensor by default) as a new array."""
        import numpy as np

        if not self.shape:  # a scalar has no rows
            start, stop, shape = 0, 1, ()
        else:
            stop = self.shape[0] if stop is None else stop
            if not 0 <= start <= stop <= self.shape[0]:
                raise ValueError(f"rows {start}:{stop} are outside tensor '{self.name}' of shape {self.shape}")
            shape = (stop - start, *self.shape[1:])
        size = (stop - start) * self._row_bytes
        buffer = aligned_empty((size,), np.uint8)
        view, filled = memoryview(buffer), 0
        with open(self.info.file, "rb", buffering=0) as handle:
            handle.seek(self.info.start + start * self._row_bytes)
            while filled < size:
                count = handle.readinto(view[filled:])
                if not count:
                    raise CheckpointError(f"{self.info.file} is truncated while reading tensor '{self.name}'")
                filled += count
        return buffer.view(self.dtype).reshape(shape)

    def row_blocks(self, max_bytes: int) -> Iterator[tuple[int, int]]:
        """``(start, stop)`` row ranges that cover the tensor, each at most ``max_bytes`` (at least one row)."""
        rows = self.shape[0] if self.shape else 1
        step = max(1, max_bytes // max(1, self._row_bytes))
        for start in range(0, rows, step):
            yield start, min(rows, start + step)


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
    an index. The files, and the removal of weight files of an earlier save that this
    one does not replace, are committed together (:func:`~polyformer.core.io.folder_transaction`,
    joined with the caller's when there is one), so the folder never mixes two saves.
    """
    save_directory = Path(save_directory)
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

    names = shard_names(len(shards))
    written = [save_directory / name for name in names]
    with folder_transaction(save_directory) as transaction:
        for shard, target in zip(shards, written):
            save_file(_contiguous(shard, is_torch), str(transaction.path(target)), metadata=metadata)
        if len(shards) > 1:
            weight_map = {tensor_name: name for shard, name in zip(shards, names) for tensor_name in shard}
            total = sum(_nbytes(t) for t in tensors.values())
            written.append(transaction.write_text(save_directory / SAFE_WEIGHTS_INDEX_NAME, index_json(weight_map, total)))
        remove_stale_weight_files(transaction, save_directory, [path.name for path in written])
    return written


def index_json(weight_map: dict[str, str], total_size: int) -> str:
    """The text of ``model.safetensors.index.json``."""
    return json.dumps({"metadata": {"total_size": total_size}, "weight_map": weight_map}, indent=2, sort_keys=True) + "\n"


def _contiguous(shard: dict[str, Any], is_torch: bool) -> dict[str, Any]:
    if is_torch:
        return {k: v.detach().contiguous() for k, v in shard.items()}
    import numpy as np

    return {k: np.ascontiguousarray(v) for k, v in shard.items()}
