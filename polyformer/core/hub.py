"""Turn a name or path into local files.

polyformer never downloads anything. A "name or path" is either a local folder, a
local file, or a Hugging Face hub id (``org/name``) that is already in the local
Hugging Face cache (``$HF_HUB_CACHE``, ``$HF_HOME/hub`` or ``~/.cache/huggingface/hub``).
Everything that reads a checkpoint goes through :func:`resolve_folder` /
:func:`resolve_file` so that the error a user sees for a missing file is the same
everywhere, and a folder whose last save was interrupted is refused everywhere.

A checkpoint never reads outside its folder: every file name that a file of the
checkpoint names (a shard in the index, a vocabulary in ``tokenizer_config.json``, a
commit in a hub cache ref) goes through :func:`contained_path`.
"""

from __future__ import annotations

import os
import re
from pathlib import Path, PurePosixPath, PureWindowsPath

from .io import CheckpointError, check_not_interrupted

__all__ = ["resolve_folder", "resolve_file", "contained_path", "hub_cache_dir", "NotCachedError"]

#: What a part of a hub id (``org/name``) may be, as the Hugging Face hub allows.
_HUB_ID_PART = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,94}[A-Za-z0-9_])?")
#: What a commit folder of the cache may be named (normally 40 hex digits).
_COMMIT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


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


def _unsafe_name_rule(name: str) -> str | None:
    """Why ``name`` cannot name a file inside a folder (None when it can)."""
    if not name:
        return "it is empty"
    if "\0" in name:
        return "it contains a NUL character"
    if name.startswith(("/", "\\")) or PureWindowsPath(name).drive or PurePosixPath(name).is_absolute():
        return "it is an absolute path"
    if "\\" in name:
        return "it contains a backslash"
    if ".." in PurePosixPath(name).parts:
        return "it contains '..'"
    return None


def _hub_cache_blobs(folder: Path) -> list[str]:
    """The ``blobs`` folder of the hub cache repository that ``folder`` is a snapshot of (or inside), if any.

    In the Hugging Face cache, ``<repo>/snapshots/<commit>/<file>`` is a symlink into
    ``<repo>/blobs/``: that is the one place outside its folder a checkpoint file may lead.
    """
    found = []
    for start in (Path(os.path.abspath(folder)), Path(os.path.realpath(folder))):
        for ancestor in (start, *start.parents):
            if ancestor.parent.name == "snapshots" and (ancestor.parent.parent / "blobs").is_dir():
                found.append(os.path.realpath(ancestor.parent.parent / "blobs"))
                break
    return found


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def contained_path(folder: str | os.PathLike, name: object, *, named_by: str) -> Path:
    """``folder / name``, refused unless it stays inside ``folder``.

    ``name`` comes from a file of the checkpoint (``named_by`` says which file and
    entry, for the error). It must be a relative name without ``..``, and must not be a
    symlink that leads out of the folder, except into the hub cache's ``blobs/``.
    Anything else is a :class:`CheckpointError` naming the file, the entry and the rule.
    """
    folder = Path(folder)
    rule = "it is not a string" if not isinstance(name, str) else _unsafe_name_rule(name)
    path = folder.joinpath(*PurePosixPath(name).parts) if rule is None else None
    if path is not None:
        real = os.path.realpath(path)
        roots = [os.path.realpath(folder), *_hub_cache_blobs(folder)]
        if not any(_inside(real, root) for root in roots):
            rule = f"it leads out of the folder (to {real}) through a symlink"
    if rule is not None:
        raise CheckpointError(
            f"{named_by} names the file {name!r}, which is refused: {rule}. Files a checkpoint names must stay "
            f"inside its folder {folder} (a relative name, no '..', no symlink leading out)."
        )
    return path


def _cached_snapshot(repo_id: str, revision: str | None, cache_dir: str | os.PathLike | None) -> Path | None:
    """The snapshot folder of ``repo_id`` in the cache, or None when it is not there.

    The revision and the commit a ref file holds are names inside the cache folder:
    neither may lead out of it.
    """
    cache = Path(cache_dir).expanduser() if cache_dir else hub_cache_dir()
    repo_dir = cache / ("models--" + repo_id.replace("/", "--"))
    if not repo_dir.is_dir():
        return None
    revision = "main" if revision is None else revision
    if not isinstance(revision, str) or _unsafe_name_rule(revision):
        raise ValueError(
            f"revision {revision!r} is not a branch, tag or commit name: "
            f"{_unsafe_name_rule(revision) if isinstance(revision, str) else 'it is not a string'}"
        )
    ref_file = contained_path(repo_dir / "refs", revision, named_by=f"revision {revision!r} of '{repo_id}'")
    if ref_file.is_file():
        commit = ref_file.read_text(encoding="utf-8", errors="replace").strip()
        if not _COMMIT.fullmatch(commit) or ".." in commit:
            raise CheckpointError(
                f"{ref_file} holds {commit[:80]!r}, which is not a commit name (letters, digits, '.', '_', '-'): "
                f"the hub cache is damaged; delete {repo_dir} and download it again"
            )
        where = f"{ref_file}"
    else:
        commit, where = revision, f"revision {revision!r} of '{repo_id}'"
    snapshot = contained_path(repo_dir / "snapshots", commit, named_by=where)
    return snapshot if snapshot.is_dir() else None


def _looks_like_hub_id(name: str) -> bool:
    parts = name.split("/")
    return 1 <= len(parts) <= 2 and all(parts) and not name.startswith((".", "~")) and "\\" not in name


def _hub_id_rule(name: str) -> str | None:
    """Why ``name`` is not a valid hub id (None when it is)."""
    for part in name.split("/"):
        if not _HUB_ID_PART.fullmatch(part):
            return (f"'{part}' must be 1 to 96 letters, digits, '.', '_' or '-', starting with a letter or digit "
                    f"and not ending with '.' or '-'")
        if ".." in part or "--" in part:
            return f"'{part}' contains '..' or '--'"
    return None


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
        check_not_interrupted(path)
        return path
    if path.is_file():
        check_not_interrupted(path.parent)
        return path.parent
    name = os.fspath(name_or_path)
    if _looks_like_hub_id(name):
        rule = _hub_id_rule(name)
        if rule:
            raise FileNotFoundError(f"'{name}' is not a local folder or file, and not a valid hub id: {rule}.")
        snapshot = _cached_snapshot(name, revision, cache_dir)
        if snapshot is not None:
            check_not_interrupted(snapshot)
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
        if filename.endswith(".json") and path.suffix != ".json":
            raise ValueError(
                f"'{path}' is a file, not a checkpoint folder or a .json file: pass the folder that holds "
                f"{filename} ('{path.parent}'), a cached hub id, or the path of a .json file."
            )
        check_not_interrupted(path.parent)
        return path
    folder = resolve_folder(name_or_path, cache_dir=cache_dir, revision=revision)
    candidate = folder / filename
    if candidate.is_file():
        return candidate
    if required:
        raise FileNotFoundError(f"{filename} not found in '{folder}': expected a file named {filename} there.")
    return None
