"""Every save goes through one helper, :func:`folder_transaction`: all its files, or none.

A save writes several files that only make sense together (``config.json``, the
weight shards and their index, the tokenizer files). Their names are fixed (the
Hugging Face ones, which transformers reads), so the new files cannot simply appear
under new names. A save therefore commits like this (``docs/design.md`` has the why):

1. every new file is written into a hidden staging folder inside the target folder
   (``.polyformer-staging-<random>/<name>``, so on the same file system) and flushed
   to disk; whatever temporary files a writer makes itself land there too;
2. one small journal, ``.polyformer-commit.json``, is written atomically: it lists the
   renames (staged -> final) and the files of the old save to delete;
3. the renames and deletions are done, the staging folder is removed, then the journal.

A kill before step 2 leaves the old files untouched (plus a staging folder the next save
deletes). A kill during step 3 leaves the journal: every loader refuses such a folder
with :class:`InterruptedSaveError`, and the next save into it (or
:func:`complete_interrupted_save`) finishes the interrupted commit first, which is always
possible because every new file was complete before the journal was written. So a
folder never loads as a mix of two saves.

Saves nest: a save that runs inside another one's transaction on the same folder (or a
subfolder of it), such as the config written by a model's ``save_pretrained`` or the
parts of a processor, joins that transaction and is committed with it.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import os
import secrets
import shutil
import signal
from pathlib import Path, PurePosixPath
from typing import Iterator

__all__ = [
    "JOURNAL_NAME",
    "CheckpointError",
    "InterruptedSaveError",
    "FolderTransaction",
    "folder_transaction",
    "atomic_path",
    "atomic_write_text",
    "check_not_interrupted",
    "complete_interrupted_save",
]

#: The commit journal; present only while a save is committing (or after it was killed doing so).
JOURNAL_NAME = ".polyformer-commit.json"
#: Prefix of the hidden folders new files are written in before they are renamed into place.
STAGING_PREFIX = ".polyformer-staging-"
#: Test hook (see tests/test_atomic_save.py): SIGKILL this process at the k-th commit step.
KILL_AT_STEP_ENV = "POLYFORMER_TEST_KILL_AT_COMMIT_STEP"

_active: contextvars.ContextVar["FolderTransaction | None"] = contextvars.ContextVar("polyformer_save", default=None)
_steps_taken = 0


class CheckpointError(ValueError):
    """A checkpoint folder or file that is missing, malformed, unsafe, or does not fit the model.

    Defined here, the lowest module, so that every loader can raise it;
    :mod:`polyformer.core.checkpoint` exports it.
    """


class InterruptedSaveError(CheckpointError):
    """A folder whose last save was killed while it committed its files (its journal is still there)."""


def _step() -> None:
    """A point where a commit can be interrupted; the test hook kills the process at the chosen one.

    Steps: each staged file created (the previous one is then fully written), the start
    of a commit (all files written), the journal's temporary file written, the journal in
    place, each rename, each deletion, the journal removed. Unset (always, outside the kill
    tests), this costs one environment lookup.
    """
    target = os.environ.get(KILL_AT_STEP_ENV)
    if not target:
        return
    global _steps_taken
    _steps_taken += 1
    if _steps_taken == int(target):
        os.kill(os.getpid(), getattr(signal, "SIGKILL", signal.SIGTERM))


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDWR if os.name == "nt" else os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    """Make renames in ``path`` durable (POSIX only; some file systems refuse, which costs durability, not atomicity)."""
    if os.name == "nt":
        return
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _lock_dir(path: Path, stack: contextlib.ExitStack) -> None:
    """Hold an exclusive lock on the folder itself (no lock file), so two saves into it take turns."""
    try:
        import fcntl
    except ImportError:  # Windows: concurrent saves into one folder are not serialised
        return
    fd = os.open(path, os.O_RDONLY)
    stack.callback(os.close, fd)
    with contextlib.suppress(OSError):  # file systems without flock (some network mounts): no lock
        fcntl.flock(fd, fcntl.LOCK_EX)


def _remove_staging(folder: Path) -> None:
    """Delete the staging folders of earlier saves in ``folder`` (interrupted, or whose clean-up was)."""
    for entry in os.scandir(folder):
        if entry.name.startswith(STAGING_PREFIX) and entry.is_dir(follow_symlinks=False):
            shutil.rmtree(entry.path, ignore_errors=True)


def _within(path: Path, root: Path) -> bool:
    real, base = os.path.realpath(path), os.path.realpath(root)
    return real == base or real.startswith(base.rstrip(os.sep) + os.sep)


class FolderTransaction:
    """The files one save writes under ``root``, committed together when the ``with`` block ends.

    Use :meth:`path` to get the staged path a new file is written to, :meth:`write_text`
    for text files, and :meth:`remove` for files of an older save that this one replaces.
    Paths are full paths inside ``root`` (subfolders included).
    """

    def __init__(self, root: Path, stack: contextlib.ExitStack, outer: "FolderTransaction | None") -> None:
        self.root = root
        self.outer = outer  # the transaction this one runs inside, if any (nesting is found through it)
        self._stack = stack
        self._journaled = False
        self._renames: list[tuple[Path, Path]] = []
        self._removals: list[Path] = []
        self._staging: dict[str, Path] = {}  # real path of each folder used -> its staging folder
        self._modes: dict[Path, int] = {}

    def _staging_for(self, folder: Path) -> Path:
        """First use of a folder: create and lock it, finish an interrupted save there, delete stale staging."""
        key = os.path.realpath(folder)  # one lock per folder, however it is spelled
        if key in self._staging:
            return self._staging[key]
        if not _within(folder, self.root):
            raise ValueError(f"{folder} is outside the folder being saved, {self.root}")
        folder.mkdir(parents=True, exist_ok=True)
        _lock_dir(folder, self._stack)
        if (folder / JOURNAL_NAME).exists():
            _roll_forward(folder)
        _remove_staging(folder)
        staging = folder / f"{STAGING_PREFIX}{secrets.token_hex(4)}"
        staging.mkdir()
        self._staging[key] = staging
        return staging

    def path(self, target: str | os.PathLike) -> Path:
        """A new, empty staged file for ``target``; at commit it becomes ``target``."""
        target = Path(target).expanduser().absolute()
        if any(final == target for _, final in self._renames):
            raise ValueError(f"{target} is written twice in one save")
        staged = self._staging_for(target.parent) / target.name
        _step()
        os.close(os.open(staged, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        # The usual permissions (0666 less the umask); restored at commit if a writer replaced
        # the file with its own private temporary file (safetensors does).
        self._modes[staged] = os.stat(staged).st_mode & 0o777
        self._renames.append((staged, target))
        return staged

    def write_text(self, target: str | os.PathLike, text: str) -> Path:
        """Write ``text`` (UTF-8) as ``target``; returns ``target``."""
        self.path(target).write_text(text, encoding="utf-8")
        return Path(target).expanduser().absolute()

    def remove(self, target: str | os.PathLike) -> None:
        """Delete ``target`` (a file of an older save that this one does not write) at commit."""
        target = Path(target).expanduser().absolute()
        self._staging_for(target.parent)
        if os.path.lexists(target) and target not in self._removals:
            self._removals.append(target)

    # -- commit ------------------------------------------------------------------------
    def _commit(self) -> None:
        removals = [path for path in self._removals if all(path != final for _, final in self._renames)]
        if not self._renames and not removals:
            self._finish()
            return
        _step()
        for staged, _ in self._renames:
            os.chmod(staged, self._modes[staged])
            _fsync_file(staged)
        if len(self._renames) + len(removals) <= 1:
            # One rename (or one deletion) is atomic on its own: no journal needed.
            _apply(self._renames, removals)
            self._finish()
            return
        journal = {
            "renames": [[self._relative(staged), self._relative(final)] for staged, final in self._renames],
            "remove": [self._relative(path) for path in removals],
        }
        journal_tmp = self._staging[os.path.realpath(self.root)] / JOURNAL_NAME
        with open(journal_tmp, "w", encoding="utf-8") as handle:
            json.dump(journal, handle)
            handle.flush()
            os.fsync(handle.fileno())
        _step()
        os.replace(journal_tmp, self.root / JOURNAL_NAME)
        self._journaled = True
        _fsync_dir(self.root)
        _step()
        _apply(self._renames, removals)
        self._finish()
        os.unlink(self.root / JOURNAL_NAME)
        _fsync_dir(self.root)
        _step()

    def _finish(self) -> None:
        """After the renames: make them durable and delete the (now empty) staging folders."""
        for staging in self._staging.values():
            _fsync_dir(staging.parent)
            shutil.rmtree(staging, ignore_errors=True)

    def _abort(self) -> None:
        if self._journaled:
            return  # the commit began: the journal needs the staged files to finish it later
        for staging in self._staging.values():
            shutil.rmtree(staging, ignore_errors=True)

    def _relative(self, path: Path) -> str:
        """``path`` relative to the root, as the journal stores it (folders compared by real path)."""
        folder = os.path.relpath(os.path.realpath(path.parent), os.path.realpath(self.root))
        return Path(folder, path.name).as_posix()


def _apply(renames: list[tuple[Path, Path]], removals: list[Path]) -> None:
    """Rename each staged file that is still there, then delete the old files; idempotent."""
    for staged, final in renames:
        if os.path.lexists(staged):
            os.replace(staged, final)
        _step()
    for path in removals:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        _step()


def _roll_forward(root: Path) -> None:
    """Finish the commit a killed save left in ``root`` (its journal lists every step)."""
    journal_path = root / JOURNAL_NAME
    try:
        journal = json.loads(journal_path.read_text(encoding="utf-8"))
        renames = [(_journal_path(root, staged, staged=True), _journal_path(root, final))
                   for staged, final in journal["renames"]]
        removals = [_journal_path(root, name) for name in journal["remove"]]
    except (ValueError, KeyError, TypeError) as exc:
        raise InterruptedSaveError(
            f"{journal_path} is not a commit journal polyformer wrote ({exc}); the folder's files may mix two saves. "
            f"Check them, then delete {JOURNAL_NAME}."
        ) from None
    _apply(renames, removals)
    for staging in {staged.parent for staged, _ in renames}:
        _fsync_dir(staging.parent)
        shutil.rmtree(staging, ignore_errors=True)
    os.unlink(journal_path)
    _fsync_dir(root)
    _step()


def _journal_path(root: Path, name: str, staged: bool = False) -> Path:
    """A path the journal names: relative, inside ``root``, and in a staging folder where one is expected."""
    pure = PurePosixPath(name) if isinstance(name, str) else None
    if pure is None or pure.is_absolute() or ".." in pure.parts or "\\" in name:
        raise ValueError(f"entry {name!r} is not a relative path inside the folder")
    if staged and not (len(pure.parts) >= 2 and pure.parts[-2].startswith(STAGING_PREFIX)):
        raise ValueError(f"entry {name!r} is not in a staging folder")
    path = root.joinpath(*pure.parts)
    if not _within(path.parent, root):
        raise ValueError(f"entry {name!r} leads out of the folder through a symlink")
    return path


@contextlib.contextmanager
def folder_transaction(folder: str | os.PathLike) -> Iterator[FolderTransaction]:
    """Commit every file written through the yielded transaction together, or none of them.

    The folder (created if needed) is locked for the duration; an interrupted save found
    there is finished first, and stale staging folders are deleted. If the block raises,
    the new files are discarded and the folder is left as it was. Inside another
    transaction whose folder contains ``folder``, that transaction is reused.
    """
    folder = Path(folder).expanduser().absolute()
    if folder.is_file():
        raise NotADirectoryError(f"save_directory '{folder}' is a file; expected a folder")
    active = outer = _active.get()
    while outer is not None and not _within(folder, outer.root):
        outer = outer.outer
    if outer is not None:
        yield outer
        return
    if (folder.parent / JOURNAL_NAME).exists():
        # A processor save into the folder above was interrupted; its journal may rename files in here.
        check_not_interrupted(folder.parent)
    created = not folder.exists()
    with contextlib.ExitStack() as stack:
        transaction = FolderTransaction(folder, stack, active)
        token = _active.set(transaction)
        try:
            transaction._staging_for(folder)
            yield transaction
            transaction._commit()
        except BaseException:
            transaction._abort()
            if created:
                with contextlib.suppress(OSError):
                    folder.rmdir()  # only if still empty
            raise
        finally:
            _active.reset(token)


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a staged path for ``target``; it becomes ``target`` when the enclosing save commits.

    Outside any save, the file is its own transaction (one atomic rename).
    """
    target = Path(target).expanduser().absolute()
    with folder_transaction(target.parent) as transaction:
        yield transaction.path(target)


def atomic_write_text(target: str | os.PathLike, text: str) -> None:
    """Write ``text`` (UTF-8) to ``target`` as part of the enclosing save (or atomically on its own)."""
    with atomic_path(target) as tmp:
        tmp.write_text(text, encoding="utf-8")


def check_not_interrupted(folder: str | os.PathLike) -> None:
    """Refuse to read a folder whose last save was killed mid-commit (or is committing right now).

    Loaders call this (through :mod:`polyformer.core.hub`); it costs one ``stat``. The
    parent is checked too, because a processor saves its extra parts in subfolders
    under one journal.
    """
    folder = Path(folder)
    for candidate in (folder, folder.parent):
        if (candidate / JOURNAL_NAME).exists():
            raise InterruptedSaveError(
                f"{candidate} holds an unfinished save: a save_pretrained into it was interrupted (or is still "
                f"running) while it replaced its files, so they may mix two saves and are not loaded. Its new "
                f"files are complete: finish it with polyformer.core.io.complete_interrupted_save('{candidate}'), "
                f"or save into the folder again."
            )


def complete_interrupted_save(folder: str | os.PathLike) -> bool:
    """Finish a save that was killed while committing (see :func:`check_not_interrupted`).

    Returns True when there was one to finish. Waits for a save that is still running.
    """
    folder = Path(folder).expanduser().absolute()
    if not (folder / JOURNAL_NAME).exists():
        return False
    with contextlib.ExitStack() as stack:
        _lock_dir(folder, stack)
        if not (folder / JOURNAL_NAME).exists():  # the running save finished while we waited
            return False
        _roll_forward(folder)
        _remove_staging(folder)
    return True
