"""A progress bar while loading large checkpoints, only where a person watches.

Loading streams the checkpoint shard by shard; for a large one (:data:`LARGE_CHECKPOINT_BYTES`
and up) that takes long enough to want feedback, so a bar counts the bytes of the tensors
read, on stderr, when stderr is a terminal. Logs, pipes and CI output get nothing (no
carriage-return lines), and small checkpoints load silently.

:func:`set_progress_bars` overrides the choice for the process (``True``: always,
``False``: never, ``None``: the rule above), for tests and for ``polyformer.logging``.
Downloads from the Hub show huggingface_hub's own bar (also only on a terminal).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, Iterable, Iterator, TextIO

__all__ = ["LARGE_CHECKPOINT_BYTES", "set_progress_bars", "progress_bars_shown", "loading_progress"]

#: From this size on (all weight files together) a load shows a bar: about a second of reading.
LARGE_CHECKPOINT_BYTES = 256 * 2**20

_forced: bool | None = None


def set_progress_bars(enabled: bool | None) -> None:
    """Show loading bars always (True), never (False), or on a terminal for large checkpoints (None)."""
    global _forced
    if enabled is not None and not isinstance(enabled, bool):
        raise TypeError(f"set_progress_bars takes True, False or None, got {enabled!r}")
    _forced = enabled


def progress_bars_shown(total_bytes: int, stream: TextIO | None = None) -> bool:
    """Whether loading ``total_bytes`` shows a bar on ``stream`` (stderr by default)."""
    if _forced is not None:
        return _forced
    stream = sys.stderr if stream is None else stream
    is_terminal = getattr(stream, "isatty", None)
    return total_bytes >= LARGE_CHECKPOINT_BYTES and bool(is_terminal and is_terminal())


def _nbytes(tensor: Any) -> int:
    if hasattr(tensor, "nbytes"):
        return int(tensor.nbytes)
    return int(tensor.numel() * tensor.element_size())  # torch


def loading_progress(tensors: Iterable[tuple[str, Any]], files: list[Path], *, desc: str = "Loading weights",
                     stream: TextIO | None = None) -> Iterator[tuple[str, Any]]:
    """Yield ``tensors`` unchanged, advancing a bar by each tensor's bytes when :func:`progress_bars_shown`.

    The total is the size of ``files`` (headers and tensors the model skips included), so
    the bar is set to its end once every file was read.
    """
    total = sum(os.path.getsize(path) for path in files)
    stream = sys.stderr if stream is None else stream
    if not progress_bars_shown(total, stream):
        yield from tensors
        return
    from tqdm.auto import tqdm

    bar = tqdm(total=total, desc=desc, unit="B", unit_scale=True, unit_divisor=1024, file=stream)
    try:
        for name, tensor in tensors:
            yield name, tensor
            bar.update(min(_nbytes(tensor), total - bar.n))
        bar.update(total - bar.n)
    finally:
        bar.close()
