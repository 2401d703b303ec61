"""Progress bars, only where a person watches.

Loading streams the checkpoint shard by shard; for a large one (:data:`LARGE_CHECKPOINT_BYTES`
and up) that takes long enough to want feedback, so a bar counts the bytes of the tensors
read, on stderr, when stderr is a terminal. Logs, pipes and CI output get nothing (no
carriage-return lines), and small checkpoints load silently. Downloads from the Hub show
huggingface_hub's bar per file, under the same switch (:func:`download_bar_class`).

One switch for the process: :func:`set_progress_bars` (``True``: always, ``False``:
never, ``None``: the rule above), for tests and for ``polyformer.logging``.
``HF_HUB_DISABLE_PROGRESS_BARS=1`` turns every bar off whatever the switch says, as it
does in huggingface_hub and transformers. Other long jobs (a command, a dataset) take a
bar from :func:`progress_bar` and so follow the same rule.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, Iterable, Iterator, TextIO

__all__ = [
    "LARGE_CHECKPOINT_BYTES",
    "set_progress_bars",
    "progress_bars_enabled",
    "progress_bars_shown",
    "progress_bar",
    "loading_progress",
    "download_bar_class",
]

#: From this size on (all weight files together) a load shows a bar: about a second of reading.
LARGE_CHECKPOINT_BYTES = 256 * 2**20

_forced: bool | None = None


def set_progress_bars(enabled: bool | None) -> None:
    """Show progress bars always (True), never (False), or by the default rule (None)."""
    global _forced
    if enabled is not None and not isinstance(enabled, bool):
        raise TypeError(f"set_progress_bars takes True, False or None, got {enabled!r}")
    _forced = enabled


def progress_bars_enabled(stream: TextIO | None = None) -> bool:
    """Whether a bar may be drawn on ``stream`` (stderr by default).

    Never with ``HF_HUB_DISABLE_PROGRESS_BARS``; else as :func:`set_progress_bars` says;
    else when ``stream`` is a terminal.
    """
    if _disabled_by_environment():
        return False
    if _forced is not None:
        return _forced
    stream = sys.stderr if stream is None else stream
    is_terminal = getattr(stream, "isatty", None)
    return bool(is_terminal and is_terminal())


def _disabled_by_environment() -> bool:
    return os.environ.get("HF_HUB_DISABLE_PROGRESS_BARS", "").strip().upper() in {"1", "ON", "YES", "TRUE"}


def progress_bars_shown(total_bytes: int, stream: TextIO | None = None) -> bool:
    """Whether loading ``total_bytes`` shows a bar on ``stream``: when forced, else for large checkpoints."""
    if _forced is not None:
        return progress_bars_enabled(stream)
    return total_bytes >= LARGE_CHECKPOINT_BYTES and progress_bars_enabled(stream)


def progress_bar(total: int | None = None, *, desc: str, unit: str = "it", stream: TextIO | None = None,
                 shown: bool | None = None, **options: Any):
    """A tqdm bar on ``stream`` (stderr by default); a silent one (same methods, draws nothing) when not shown.

    ``shown`` defaults to :func:`progress_bars_enabled`; ``options`` go to tqdm
    (``unit_scale``, ``leave``...).
    """
    from tqdm.auto import tqdm

    stream = sys.stderr if stream is None else stream
    shown = progress_bars_enabled(stream) if shown is None else shown
    return tqdm(total=total, desc=desc, unit=unit, file=stream, disable=not shown, **options)


_download_bar: type | None = None


def download_bar_class() -> type:
    """The tqdm class ``hf_hub_download`` draws its per-file bar with: huggingface_hub's own, under our switch.

    Without the switch it is huggingface_hub's bar unchanged (on a terminal only, off with
    ``HF_HUB_DISABLE_PROGRESS_BARS``); :func:`set_progress_bars` turns it on or off (the
    variable still wins: huggingface_hub's class applies it).
    """
    global _download_bar
    if _download_bar is None:
        from huggingface_hub.utils import tqdm as hub_tqdm

        class DownloadBar(hub_tqdm):
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                if _forced is not None:
                    kwargs["disable"] = not _forced
                super().__init__(*args, **kwargs)

        _download_bar = DownloadBar
    return _download_bar


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
    bar = progress_bar(total, desc=desc, unit="B", stream=stream, shown=True, unit_scale=True, unit_divisor=1024)
    try:
        for name, tensor in tensors:
            yield name, tensor
            bar.update(min(_nbytes(tensor), total - bar.n))
        bar.update(total - bar.n)
    finally:
        bar.close()
