"""Turn a name or path into local files.

polyformer never downloads anything. A "name or path" is either a local folder, a
local file, or a Hugging Face hub id (``org/name``) that is already in the local
Hugging Face cache (``$HF_HUB_CACHE``, ``$HF_HOME/hub`` or ``~/.cache/huggingface/hub``).
Everything that reads a checkpoint goes through :func:`resolve_file` so that the
error a user sees for a missing file is the same everywhere.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["resolve_folder", "resolve_file", "hub_cache_dir", "NotCachedError"]


class NotCachedError(FileNotFoundError):
    """A hub id that is not a local folder and not in the local cache."""


def hub_cache_dir() -> Path:
    """The Hugging Face hub cache folder, following the same variables as huggingface_hub."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    if os.environ.get("HUGGINGFACE_HUB_CACHE"):
        return Path(os.environ["HUGGINGFACE_HUB_CACHE"]).expanduser()
    hf_home = os.environ.get("HF_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.join("~", ".cache")), "huggingface"
    )
    return Path(hf_home).expanduser() / "hub"


def _cached_snapshot(repo_id: str, revision: str | None, cache_dir: str | os.PathLike | None) -> Path | None:
    """The snapshot folder of ``repo_id`` in the cache, or None when it is not there."""
    cache = Path(cache_dir).expanduser() if cache_dir else hub_cache_dir()
    repo_dir = cache / ("models--" + repo_id.replace("/", "--"))
    if not repo_dir.is_dir():
        return None
    revision = revision or "main"
    ref_file = repo_dir / "refs" / revision
    commit = ref_file.read_text().strip() if ref_file.is_file() else revision
    snapshot = repo_dir / "snapshots" / commit
    return snapshot if snapshot.is_dir() else None


def _looks_like_hub_id(name: str) -> bool:
    parts = name.split("/")
    return 1 <= len(parts) <= 2 and all(parts) and not name.startswith((".", "~")) and "\\" not in name


def resolve_folder(
    name_or_path: str | os.PathLike,
    *,
    cache_dir: str | os.PathLike | None = None,
    revision: str | None = None,
) -> Path:
    """The local folder behind ``name_or_path``: the folder itself, or a cached hub snapshot.

    A path to a file is answered with the file's folder. Raises :class:`NotCachedError`
    that says how to get the files when nothing local matches.
    """
    if not isinstance(name_or_path, (str, os.PathLike)):
        raise TypeError(
            f"pretrained_model_name_or_path must be a folder, a file path or a hub id (str), "
            f"got {type(name_or_path).__name__}"
        )
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        return path
    if path.is_file():
        return path.parent
    name = os.fspath(name_or_path)
    if _looks_like_hub_id(name):
        snapshot = _cached_snapshot(name, revision, cache_dir)
        if snapshot is not None:
            return snapshot
        raise NotCachedError(
            f"'{name}' is not a local folder, and the hub id '{name}' is not in the local Hugging Face "
            f"cache ({Path(cache_dir).expanduser() if cache_dir else hub_cache_dir()}). polyformer never "
            f"downloads at run time: fetch it first, e.g. `hf download {name}` (huggingface_hub), or "
            f"pass the path of a local folder that holds config.json and the weights."
        )
    raise FileNotFoundError(f"'{name}' does not exist: expected a local folder, a file or a cached hub id.")


def resolve_file(
    name_or_path: str | os.PathLike,
    filename: str,
    *,
    required: bool = True,
    cache_dir: str | os.PathLike | None = None,
    revision: str | None = None,
) -> Path | None:
    """The local path of ``filename`` for ``name_or_path``.

    ``name_or_path`` may be a folder (the file is looked up inside it), a path to the
    file itself, or a cached hub id. Returns None for a missing optional file.
    """
    path = Path(name_or_path).expanduser() if isinstance(name_or_path, (str, os.PathLike)) else None
    if path is not None and path.is_file():
        return path
    folder = resolve_folder(name_or_path, cache_dir=cache_dir, revision=revision)
    candidate = folder / filename
    if candidate.is_file():
        return candidate
    if required:
        raise FileNotFoundError(f"{filename} not found in '{folder}': expected a file named {filename} there.")
    return None
