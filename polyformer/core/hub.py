"""Turn a name or path into local files, downloading from the Hugging Face Hub when needed.

A "name or path" is a local folder, a local file, or a Hugging Face hub id (``org/name``).
For a hub id, the files a loader needs are downloaded through ``huggingface_hub`` into the
standard Hugging Face cache (``$HF_HUB_CACHE``, ``$HF_HOME/hub`` or
``~/.cache/huggingface/hub``), the one transformers uses, so each library finds what the
other downloaded. Only the files a class reads are fetched (a model: ``config.json`` and
its safetensors weights; a tokenizer: its vocabulary and settings files).

Every ``from_pretrained`` takes the same hub options (:data:`HUB_OPTIONS`): ``revision``
(branch, tag or commit), ``cache_dir``, ``token``, ``local_files_only`` and
``force_download``; ``HF_HUB_OFFLINE=1`` (read at each call) means ``local_files_only``,
and ``HF_ENDPOINT`` (also read at each call) names the server.

Everything that reads a checkpoint goes through :class:`SourceFolder` (or the
:func:`resolve_folder` / :func:`resolve_file` shortcuts), so that the error a user sees
for a missing file is the same everywhere, and a folder whose last save was interrupted
is refused everywhere.

A checkpoint never reads outside its folder: every file name that a file of the
checkpoint names (a shard in the index, a vocabulary in ``tokenizer_config.json``, a
commit in a hub cache ref) goes through :func:`contained_path`.
"""

from __future__ import annotations

import os
import re
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any, Iterable

from .io import CheckpointError, check_not_interrupted

__all__ = [
    "HUB_OPTIONS",
    "SourceFolder",
    "resolve_folder",
    "resolve_file",
    "resolve_model_folder",
    "download",
    "pop_hub_options",
    "contained_path",
    "hub_cache_dir",
    "hub_endpoint",
    "offline_mode",
    "NotCachedError",
    "HubError",
]

#: The keyword arguments of every ``from_pretrained`` that say where and how to get the files.
HUB_OPTIONS = ("cache_dir", "revision", "token", "local_files_only", "force_download")

#: What a part of a hub id (``org/name``) may be, as the Hugging Face hub allows.
_HUB_ID_PART = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,94}[A-Za-z0-9_])?")
#: What a commit folder of the cache may be named (normally 40 hex digits).
_COMMIT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")

_CONFIG_NAME = "config.json"
#: The files a tokenizer or preprocessor may read, besides those a class names itself.
_TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "tokenizer_config.json", "special_tokens_map.json",
                    "added_tokens.json")
_PREPROCESSOR_FILES = ("preprocessor_config.json", "processor_config.json")


class NotCachedError(FileNotFoundError):
    """A hub file that is not in the local cache and cannot be downloaded now (offline, or the Hub unreachable)."""


class HubError(OSError):
    """The Hub refused a file (gated, private, server error) or its download failed midway."""


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


def hub_endpoint() -> str:
    """The Hub server: ``$HF_ENDPOINT`` as it is now (huggingface_hub reads it once, at its import)."""
    endpoint = os.environ.get("HF_ENDPOINT")
    if endpoint:
        return endpoint.rstrip("/")
    from huggingface_hub import constants

    return constants.ENDPOINT.rstrip("/")


def offline_mode() -> bool:
    """True when ``HF_HUB_OFFLINE`` (or ``TRANSFORMERS_OFFLINE``) is set now, or was when huggingface_hub was imported."""
    for variable in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        if os.environ.get(variable, "").strip().upper() in {"1", "ON", "YES", "TRUE"}:
            return True
    import sys

    constants = sys.modules.get("huggingface_hub.constants")  # don't import it just to ask
    return bool(constants is not None and constants.HF_HUB_OFFLINE)


def pop_hub_options(kwargs: dict[str, Any]) -> dict[str, Any]:
    """Take the hub options (:data:`HUB_OPTIONS`) out of a ``from_pretrained``'s keyword arguments."""
    return {key: kwargs.pop(key) for key in HUB_OPTIONS if key in kwargs}


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


def _check_revision(revision: object) -> str:
    """``revision`` (None means "main"), refused when it could name a path outside the cache's ``refs/``."""
    revision = "main" if revision is None else revision
    rule = "it is not a string" if not isinstance(revision, str) else _unsafe_name_rule(revision)
    if rule:
        raise ValueError(f"revision {revision!r} is not a branch, tag or commit name: {rule}")
    return revision


def _check_hub_options(*, cache_dir: object, token: object, local_files_only: object, force_download: object) -> None:
    """A clear error for a hub option of the wrong type (before huggingface_hub fails on it somewhere deep)."""
    expected = {
        "cache_dir": (cache_dir, (str, os.PathLike, type(None)), "a folder path or None"),
        "token": (token, (str, bool, type(None)), "a token string, True/False, or None"),
        "local_files_only": (local_files_only, bool, "True or False"),
        "force_download": (force_download, bool, "True or False"),
    }
    for name, (value, types, what) in expected.items():
        if not isinstance(value, types):
            raise TypeError(f"{name} must be {what}, got {value!r} ({type(value).__name__})")


def _cached_commit(repo_dir: Path, repo_id: str, revision: str) -> str:
    """The commit the cache's ``refs/<revision>`` holds (or ``revision`` itself), checked to be a plain name.

    The revision and the commit a ref file holds become names inside the cache folder:
    neither may lead out of it.
    """
    ref_file = contained_path(repo_dir / "refs", revision, named_by=f"revision {revision!r} of '{repo_id}'")
    if not ref_file.is_file():
        return revision
    commit = ref_file.read_text(encoding="utf-8", errors="replace").strip()
    if not _COMMIT.fullmatch(commit) or ".." in commit:
        raise CheckpointError(
            f"{ref_file} holds {commit[:80]!r}, which is not a commit name (letters, digits, '.', '_', '-'): "
            f"the hub cache is damaged; delete {repo_dir} and download it again"
        )
    return commit


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


def _is_transport_error(exc: BaseException) -> bool:
    """An error of the network or of the HTTP client (not of polyformer or of the caller)."""
    return isinstance(exc, OSError) or type(exc).__module__.split(".")[0] in {"httpx", "httpx2", "httpcore", "h11"}


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return f"{type(exc).__name__}: {lines[0] if lines else text}"


class SourceFolder:
    """The folder one ``from_pretrained`` call reads: a local folder, or a commit of a Hub repo.

    For a hub id, the revision is resolved once, through the Hub's revision API, to a
    commit and the list of its files; :meth:`get` then downloads a file of that commit
    into the Hugging Face cache (or finds it there), and the folder is the cache's snapshot
    of the commit. So every file of one load comes from the same commit even if the
    branch moves meanwhile (an index and its shards always match), and a file the commit
    does not have costs no request. Offline, or when the Hub cannot be reached, the
    commit is the one the cache recorded for the revision and files come from the cache.
    """

    def __init__(
        self,
        name_or_path: str | os.PathLike,
        *,
        cache_dir: str | os.PathLike | None = None,
        revision: str | None = None,
        token: str | bool | None = None,
        local_files_only: bool = False,
        force_download: bool = False,
    ) -> None:
        if not isinstance(name_or_path, (str, os.PathLike)):
            raise TypeError(
                f"pretrained_model_name_or_path must be a folder, a file path or a hub id (str), "
                f"got {type(name_or_path).__name__}"
            )
        _check_hub_options(cache_dir=cache_dir, token=token, local_files_only=local_files_only,
                           force_download=force_download)
        self.name = os.fspath(name_or_path)
        self.repo_id: str | None = None
        self._folder: Path | None = None
        path = Path(name_or_path).expanduser()
        if path.is_dir():
            check_not_interrupted(path)
            self._folder = path
            return
        if path.is_file():
            check_not_interrupted(path.parent)
            self._folder = path.parent
            return
        if not _looks_like_hub_id(self.name):
            raise FileNotFoundError(f"'{self.name}' does not exist: expected a local folder, a file or a hub id.")
        rule = _hub_id_rule(self.name)
        if rule:
            raise FileNotFoundError(f"'{self.name}' is not a local folder or file, and not a valid hub id: {rule}.")
        if force_download and (local_files_only or offline_mode()):
            raise ValueError(
                f"force_download=True cannot download '{self.name}' while downloads are off "
                f"({'local_files_only=True' if local_files_only else 'HF_HUB_OFFLINE is set'})"
            )
        self.repo_id = self.name
        self.revision = _check_revision(revision)
        self.cache = Path(cache_dir).expanduser() if cache_dir is not None else hub_cache_dir()
        self.repo_dir = self.cache / ("models--" + self.repo_id.replace("/", "--"))
        self.token = token
        self.local_files_only = bool(local_files_only)
        self.offline = self.local_files_only or offline_mode()
        self.force_download = bool(force_download)
        self.endpoint = hub_endpoint()
        self.unreachable: str | None = None  # why the Hub could not be asked, when it could not
        self._commit: str | None = None
        self._listing: set[str] | None = None  # the commit's files, when the Hub said
        self._resolved = False
        _cached_commit(self.repo_dir, self.repo_id, self.revision)  # a damaged ref is an error before any use

    @property
    def is_hub(self) -> bool:
        return self.repo_id is not None

    def _where(self) -> str:
        return f"'{self.repo_id}' (revision '{self.revision}') on {self.endpoint}"

    @property
    def path(self) -> Path:
        """The local folder: for a hub id, the cache's snapshot folder of the commit."""
        if self._folder is not None:
            return self._folder
        self._resolve()
        snapshot = contained_path(self.repo_dir / "snapshots", self._commit,
                                  named_by=f"revision {self.revision!r} of '{self.repo_id}'")
        if not snapshot.is_dir():
            raise NotCachedError(
                f"'{self.repo_id}' (revision '{self.revision}') is not in the Hugging Face cache {self.cache}: "
                f"none of its files was downloaded."
            )
        check_not_interrupted(snapshot)
        self._folder = snapshot
        return snapshot

    def get(self, filename: str, *, required: bool = True) -> Path | None:
        """The local path of ``filename``, downloaded first for a hub id; None for a missing optional file."""
        if not self.is_hub:
            candidate = self._folder / filename
            if candidate.is_file():
                return candidate
            if required:
                raise FileNotFoundError(
                    f"{filename} not found in '{self._folder}': expected a file named {filename} there.")
            return None
        rule = _unsafe_name_rule(filename)
        if rule:
            raise CheckpointError(f"'{filename}' cannot be fetched from {self._where()}: {rule}")
        self._resolve()
        if self._listing is not None and filename not in self._listing:
            if required:
                raise FileNotFoundError(f"{self._where()} has no file {filename} (commit {self._commit}).")
            return None
        return self._download(filename, required=required)

    def has(self, filename: str) -> bool:
        """Whether the commit has ``filename``, without downloading it (offline: whether the cache has it)."""
        if not self.is_hub:
            return (self._folder / filename).is_file()
        self._resolve()
        if self._listing is not None:
            return filename in self._listing
        from huggingface_hub import try_to_load_from_cache

        found = try_to_load_from_cache(self.repo_id, filename, cache_dir=str(self.cache), revision=self._commit)
        return isinstance(found, str)

    def fetch(self, files: Iterable[str] = (), optional_files: Iterable[str] = ()) -> Path:
        """Get ``files`` (each must exist) and those of ``optional_files`` that exist; the folder.

        A hub repo that has none of the files asked for is an error naming them.
        """
        files, optional_files = list(files), list(optional_files)
        for filename in files:
            self.get(filename)
        found = [name for name in optional_files if self.get(name, required=False) is not None]
        if self.is_hub and not files and optional_files and not found:
            if self.offline:
                raise self._not_cached(f"none of the files {', '.join(optional_files)} is")
            raise FileNotFoundError(f"{self._where()} has none of the files {', '.join(optional_files)}.")
        return self.path

    # ---- hub ----------------------------------------------------------------------
    def _resolve(self) -> None:
        """Find the commit (and its files) of the revision: from the Hub, else from the cache's record."""
        if self._resolved:
            return
        self._resolved = True
        if not self.offline:
            info = self._ask_hub()
            if info is not None:
                commit = info.sha
                if not isinstance(commit, str) or not _COMMIT.fullmatch(commit) or ".." in commit:
                    raise HubError(f"{self._where()}: the server named the commit {commit!r}, which is not a "
                                   f"plain commit name; is HF_ENDPOINT a Hugging Face Hub?")
                self._commit = commit
                self._listing = {sibling.rfilename for sibling in (info.siblings or [])}
                self._record_ref()
                return
            self.offline = True  # the Hub cannot be reached: use what the cache has, without retrying per file
        self._commit = _cached_commit(self.repo_dir, self.repo_id, self.revision)

    def _ask_hub(self):
        """The Hub's answer for the revision (``model_info``), or None when the Hub cannot be reached."""
        import huggingface_hub
        from huggingface_hub import constants, errors

        from .. import __version__

        api = huggingface_hub.HfApi(endpoint=self.endpoint, library_name="polyformer", library_version=__version__)
        try:
            return api.model_info(self.repo_id, revision=self.revision, token=self.token,
                                  timeout=constants.HF_HUB_ETAG_TIMEOUT)
        except errors.RevisionNotFoundError:
            raise FileNotFoundError(
                f"'{self.repo_id}' on {self.endpoint} has no revision '{self.revision}' (a branch, tag or commit)."
            ) from None
        except errors.RepositoryNotFoundError:  # also what the Hub answers for a private repo without a token
            raise HubError(
                f"'{self.repo_id}' is not a local folder, and {self.endpoint} has no repository '{self.repo_id}' "
                f"that {'this token' if self.token else 'an anonymous request'} can read. Check the name; if the "
                f"repository is private, pass token=... (or log in with `hf auth login`)."
            ) from None
        except errors.HfHubHTTPError as exc:
            if exc.response is not None and exc.response.status_code >= 500:
                self.unreachable = _first_line(exc)
                return None
            raise HubError(f"{self._where()} refused the request: HTTP "
                           f"{getattr(exc.response, 'status_code', '?')} ({_first_line(exc)})") from None
        except Exception as exc:  # the HTTP client's connection errors and timeouts
            if not _is_transport_error(exc):
                raise
            self.unreachable = _first_line(exc)
            return None

    def _record_ref(self) -> None:
        """Write ``refs/<revision>`` -> commit in the cache, as huggingface_hub does, so offline loads find it."""
        if self._commit == self.revision:
            return
        ref_file = contained_path(self.repo_dir / "refs", self.revision,
                                  named_by=f"revision {self.revision!r} of '{self.repo_id}'")
        try:
            if ref_file.is_file() and ref_file.read_text(encoding="utf-8").strip() == self._commit:
                return
            ref_file.parent.mkdir(parents=True, exist_ok=True)
            temporary = ref_file.with_name(f"{ref_file.name}.{os.getpid()}.tmp")
            temporary.write_text(self._commit, encoding="utf-8")
            os.replace(temporary, ref_file)
        except OSError:
            pass  # a read-only cache: loading still works, only later offline loads of the branch name need it

    def _not_cached(self, what: str, reason: str | None = None) -> NotCachedError:
        """The error for ``what`` (a file, or "none of the files ...") missing from the cache, not downloadable now."""
        reason = reason or self.unreachable
        if reason:
            why = f"{self.endpoint} cannot be reached ({reason})"
            advice = "Check the connection (and HF_ENDPOINT), or pass the path of a local folder."
        else:
            why = f"downloads are off ({'local_files_only=True' if self.local_files_only else 'HF_HUB_OFFLINE is set'})"
            advice = (f"Download it first (allow downloads, or `hf download {self.repo_id}`), or pass the path of a "
                      f"local folder.")
        return NotCachedError(
            f"'{self.repo_id}' (revision '{self.revision}'): {what} not in the Hugging Face cache {self.cache}, and "
            f"{why}. {advice}"
        )

    def _download(self, filename: str, *, required: bool) -> Path | None:
        """``filename`` from the cache or, online, downloaded into it; None for a missing optional file."""
        from huggingface_hub import try_to_load_from_cache

        if self.offline:  # the cache only, without any of huggingface_hub's HTTP machinery
            found = try_to_load_from_cache(self.repo_id, filename, cache_dir=str(self.cache), revision=self._commit)
            if isinstance(found, str):
                return self._in_snapshot(Path(found), filename)
            if required:
                raise self._not_cached(f"{filename} is")
            return None

        import huggingface_hub
        from huggingface_hub import errors

        from .. import __version__
        from .progress import download_bar_class

        try:
            path = huggingface_hub.hf_hub_download(
                self.repo_id, filename, revision=self._commit, cache_dir=str(self.cache), token=self.token,
                force_download=self.force_download, endpoint=self.endpoint, library_name="polyformer",
                library_version=__version__, tqdm_class=download_bar_class(),
            )
        except errors.GatedRepoError:
            raise HubError(
                f"{self._where()} is gated: {filename} can only be downloaded with a token of an account that was "
                f"granted access. Ask for access at {self.endpoint}/{self.repo_id}, then pass token=... (or log in "
                f"with `hf auth login`)."
            ) from None
        except errors.RepositoryNotFoundError:
            raise HubError(
                f"{self._where()} refused {filename} to {'this token' if self.token else 'an anonymous request'}: "
                f"the repository is private or its files need a token; pass token=... (or log in with "
                f"`hf auth login`)."
            ) from None
        except errors.LocalEntryNotFoundError as exc:  # the Hub stopped answering, and the cache lacks the file
            if not required:
                return None  # as transformers does: an optional file that cannot be had counts as absent
            raise self._not_cached(f"{filename} is", _first_line(exc.__cause__ or exc)) from None
        except errors.EntryNotFoundError:  # on the Hub: listed, yet not served
            if not required:
                return None
            raise FileNotFoundError(f"{self._where()} has no file {filename}.") from None
        except errors.HfHubHTTPError as exc:
            raise HubError(
                f"{self._where()} answered HTTP {getattr(exc.response, 'status_code', '?')} for {filename} "
                f"({_first_line(exc)}). Nothing was stored in the cache {self.cache} for it; try again."
            ) from None
        except Exception as exc:  # the connection dropped midway, a size mismatch, a timeout...
            if not _is_transport_error(exc):
                raise
            raise HubError(
                f"downloading {filename} of {self._where()} failed ({_first_line(exc)}). Nothing was stored in the "
                f"cache {self.cache} for it; try again."
            ) from None
        return self._in_snapshot(Path(path), filename)

    def _in_snapshot(self, path: Path, filename: str) -> Path:
        """``path`` (where huggingface_hub put ``filename``), checked to be in this commit's snapshot folder."""
        folder = path.parents[len(PurePosixPath(filename).parts) - 1]
        expected = os.path.realpath(self.repo_dir / "snapshots" / self._commit) if self._commit else None
        in_snapshots = os.path.realpath(folder.parent) == os.path.realpath(self.repo_dir / "snapshots")
        if not in_snapshots or (expected and os.path.realpath(folder) != expected) or not _COMMIT.fullmatch(
                folder.name):
            raise CheckpointError(
                f"{self._where()}: {filename} was stored at {path}, which is not in the snapshot folder of commit "
                f"{self._commit} in {self.repo_dir}"
            )
        check_not_interrupted(folder)
        self._commit, self._folder = folder.name, folder
        return folder.joinpath(*PurePosixPath(filename).parts)


def resolve_folder(
    name_or_path: str | os.PathLike,
    *,
    files: Iterable[str] = (),
    optional_files: Iterable[str] = (),
    **hub_options: Any,
) -> Path:
    """The local folder behind ``name_or_path``: the folder itself, or a hub repo's snapshot in the cache.

    For a hub id, ``files`` are downloaded (each must exist) and ``optional_files`` too
    when the repo has them. A path to a file is answered with the file's folder.
    """
    return SourceFolder(name_or_path, **hub_options).fetch(files, optional_files)


def resolve_file(
    name_or_path: str | os.PathLike,
    filename: str,
    *,
    required: bool = True,
    **hub_options: Any,
) -> Path | None:
    """The local path of ``filename`` for ``name_or_path``, downloaded first for a hub id.

    ``name_or_path`` may be a folder (the file is looked up inside it), a path to the
    file itself, or a hub id. Returns None for a missing optional file.
    """
    path = Path(name_or_path).expanduser() if isinstance(name_or_path, (str, os.PathLike)) else None
    if path is not None and path.is_file():
        if filename.endswith(".json") and path.suffix != ".json":
            raise ValueError(
                f"'{path}' is a file, not a checkpoint folder or a .json file: pass the folder that holds "
                f"{filename} ('{path.parent}'), a hub id, or the path of a .json file."
            )
        check_not_interrupted(path.parent)
        return path
    return SourceFolder(name_or_path, **hub_options).get(filename, required=required)


def fetch_weights(source: SourceFolder, *, use_safetensors: bool | None = None) -> None:
    """Download the weight files a model loads from a hub repo, by the rules ``find_weight_files`` applies.

    Safetensors first: the sharded index and its shards, else ``model.safetensors``; the
    legacy ``pytorch_model.bin`` only with ``use_safetensors=False``. Nothing to do for a
    local folder. When a repo has no safetensors weights, the error says whether it has a
    legacy file instead, as it does for a local folder.
    """
    if not source.is_hub:
        return
    from .checkpoint import LEGACY_WEIGHTS_NAME, SAFE_WEIGHTS_INDEX_NAME, SAFE_WEIGHTS_NAME, _read_index

    if use_safetensors is not False:
        index = source.get(SAFE_WEIGHTS_INDEX_NAME, required=False)
        if index is not None:
            shards: dict[str, str] = {}
            for tensor, shard in _read_index(index).items():
                shards.setdefault(shard, tensor)
            for shard, tensor in shards.items():
                contained_path(source.path, shard, named_by=f"{index}: weight_map entry '{tensor}'")
                source.get(shard)
            return
        if source.get(SAFE_WEIGHTS_NAME, required=False) is not None:
            return
        if use_safetensors:
            raise CheckpointError(f"{source._where()} has no {SAFE_WEIGHTS_NAME} or {SAFE_WEIGHTS_INDEX_NAME}")
    if use_safetensors is False:
        if source.get(LEGACY_WEIGHTS_NAME, required=False) is None:
            raise CheckpointError(f"{source._where()} has no {LEGACY_WEIGHTS_NAME}")
        return
    hint = (
        f" It has {LEGACY_WEIGHTS_NAME} (a pickle file): pass use_safetensors=False to load it with "
        f"torch.load(weights_only=True), or convert it to safetensors."
        if source.has(LEGACY_WEIGHTS_NAME)
        else ""
    )
    raise CheckpointError(
        f"no weights in {source._where()}: expected {SAFE_WEIGHTS_NAME} or {SAFE_WEIGHTS_INDEX_NAME}.{hint}")


def resolve_model_folder(
    name_or_path: str | os.PathLike,
    *,
    config: bool = True,
    use_safetensors: bool | None = None,
    **hub_options: Any,
) -> Path:
    """The folder a model loads from, with ``config.json`` (when ``config``) and its weights downloaded for a hub id."""
    source = SourceFolder(name_or_path, **hub_options)
    if source.is_hub:
        if config:
            source.get(_CONFIG_NAME)
        fetch_weights(source, use_safetensors=use_safetensors)
    return source.path


def download(
    repo_id: str,
    *,
    filenames: Iterable[str] = (),
    revision: str | None = None,
    cache_dir: str | os.PathLike | None = None,
    token: str | bool | None = None,
    local_files_only: bool = False,
    force_download: bool = False,
) -> Path:
    """Download what polyformer loads from the hub repo ``repo_id`` into the cache; its snapshot folder.

    That is ``config.json``, the safetensors weights (index and shards, or one file), the
    tokenizer files and the preprocessor / processor settings, those the repo has, plus
    every name in ``filenames`` (each must exist). The folder then loads offline with any
    ``from_pretrained``, here or in transformers.
    """
    if not isinstance(repo_id, str) or not _looks_like_hub_id(repo_id) or _hub_id_rule(repo_id):
        raise ValueError(f"repo_id must be a hub id such as 'org/name', got {repo_id!r}")
    source = SourceFolder(repo_id, revision=revision, cache_dir=cache_dir, token=token,
                          local_files_only=local_files_only, force_download=force_download)
    if not source.is_hub:  # a local folder of that name shadows the hub id, as everywhere else
        raise ValueError(f"'{repo_id}' is a local path here, not a hub id: nothing to download")
    for filename in filenames:
        source.get(filename)
    has_config = source.get(_CONFIG_NAME, required=False) is not None
    if has_config:
        fetch_weights(source)
    extras = [name for name in (*_TOKENIZER_FILES, *_PREPROCESSOR_FILES) if source.get(name, required=False)]
    if not has_config and not extras and not list(filenames):
        raise FileNotFoundError(
            f"{source._where()} has none of the files polyformer loads ({_CONFIG_NAME}, "
            f"{', '.join(_TOKENIZER_FILES + _PREPROCESSOR_FILES)})"
        )
    return source.path
