"""The loading progress bar: on a terminal for large checkpoints, never in logs or pipes.

The bar is drawn by ``polyformer.core.progress`` (also what ``polyformer.logging`` and the
command line switch); downloads' bars are tested with the local Hub in ``test_hub.py``.
"""

from __future__ import annotations

import io

import pytest
from tqdm import tqdm

import polyformer
from polyformer.core import progress
from polyformer.core.checkpoint import find_weight_files

SMALL = dict(vocab_size=30, dim=16, n_heads=2, n_layers=2, hidden_dim=20, max_position_embeddings=20)


class Terminal(io.StringIO):
    """A text stream that says it is a terminal, as stderr is in an interactive shell."""

    def isatty(self) -> bool:
        return True


@pytest.fixture()
def checkpoint(tmp_path):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    polyformer.DistilBertModel(polyformer.DistilBertConfig(**SMALL)).save_pretrained(tmp_path, max_shard_size="20KB")
    return tmp_path


@pytest.fixture(autouse=True)
def _default_switch(monkeypatch):
    monkeypatch.delenv("HF_HUB_DISABLE_PROGRESS_BARS", raising=False)
    yield
    progress.set_progress_bars(None)


def _load_with_stderr(monkeypatch, checkpoint, stream):
    monkeypatch.setattr("sys.stderr", stream)
    return polyformer.DistilBertModel.from_pretrained(checkpoint)


def test_a_large_checkpoint_shows_a_bar_on_a_terminal(checkpoint, monkeypatch):
    total = sum(path.stat().st_size for path in find_weight_files(checkpoint))
    monkeypatch.setattr(progress, "LARGE_CHECKPOINT_BYTES", total)  # this checkpoint counts as large
    terminal = Terminal()
    _load_with_stderr(monkeypatch, checkpoint, terminal)
    text = terminal.getvalue()
    assert "Loading weights" in text and "100%" in text, text
    # The bar ends at the size of the weight files (tqdm writes sizes base 1024, 3 digits).
    size = tqdm.format_sizeof(total, divisor=1024)
    assert f"{size}/{size}" in text.rsplit("\r", 1)[-1], text


def test_no_bar_for_a_small_checkpoint_a_pipe_or_when_turned_off(checkpoint, monkeypatch):
    total = sum(path.stat().st_size for path in find_weight_files(checkpoint))
    assert total < progress.LARGE_CHECKPOINT_BYTES
    terminal = Terminal()
    _load_with_stderr(monkeypatch, checkpoint, terminal)  # small: silent even on a terminal
    assert terminal.getvalue() == ""
    monkeypatch.setattr(progress, "LARGE_CHECKPOINT_BYTES", 0)
    pipe = io.StringIO()  # large, but stderr is a pipe or a log file: no carriage-return lines
    _load_with_stderr(monkeypatch, checkpoint, pipe)
    assert pipe.getvalue() == ""
    progress.set_progress_bars(False)  # large, on a terminal, but turned off
    _load_with_stderr(monkeypatch, checkpoint, terminal)
    assert terminal.getvalue() == ""
    progress.set_progress_bars(None)
    monkeypatch.setenv("HF_HUB_DISABLE_PROGRESS_BARS", "1")  # huggingface_hub's variable turns it off too
    _load_with_stderr(monkeypatch, checkpoint, terminal)
    assert terminal.getvalue() == ""


def test_the_switch_forces_a_bar_where_the_rule_would_not(checkpoint, monkeypatch):
    pipe = io.StringIO()
    progress.set_progress_bars(True)
    _load_with_stderr(monkeypatch, checkpoint, pipe)
    assert "Loading weights" in pipe.getvalue() and "100%" in pipe.getvalue()
    monkeypatch.setenv("HF_HUB_DISABLE_PROGRESS_BARS", "1")  # the variable wins over the switch
    assert not progress.progress_bars_enabled(pipe) and not progress.progress_bars_shown(10**12, pipe)


def test_progress_bar_helper_for_other_long_jobs():
    pipe, terminal = io.StringIO(), Terminal()
    for stream in (pipe, terminal):
        with progress.progress_bar(3, desc="shards", stream=stream) as bar:
            for _ in range(3):
                bar.update(1)
    assert pipe.getvalue() == "" and "shards" in terminal.getvalue() and "3/3" in terminal.getvalue()
    with pytest.raises(TypeError, match=r"set_progress_bars takes True, False or None, got 'yes'"):
        progress.set_progress_bars("yes")
