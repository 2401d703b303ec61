"""Every code block in README.md and docs/*.md runs.

* ``python`` blocks of one file run in order, in one namespace, in a fresh working folder
  (so a later block can use what an earlier one made, as a reader would);
* ``bash`` / ``console`` / ``shell`` blocks: each ``polyformer ...`` command runs (as
  ``python -m polyformer``) and must exit 0; ``pip install`` lines are the set-up commands,
  checked against ``.ci/run`` instead of being run again;
* ``toml`` blocks must parse.

Blocks without a language (folder trees, output) are text, not code.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import tomllib
import types
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```", re.M | re.S)


def blocks(path: Path, *languages: str) -> list[str]:
    return [body for lang, body in FENCE.findall(path.read_text(encoding="utf-8")) if lang in languages]


@pytest.fixture
def fresh_registry():
    from polyformer.core.plugins import reset_registry

    reset_registry()
    yield
    reset_registry()


@pytest.mark.parametrize("path", [p for p in DOCS if blocks(p, "python")], ids=lambda p: p.name)
def test_python_blocks_run(path, tmp_path, monkeypatch, fresh_registry):
    monkeypatch.chdir(tmp_path)
    # A real module, as a reader's script is: dataclasses (Flax modules) look their module up.
    module = types.ModuleType(f"docs_{path.stem.replace('-', '_')}")
    monkeypatch.setitem(sys.modules, module.__name__, module)
    namespace = module.__dict__
    for number, code in enumerate(blocks(path, "python"), start=1):
        try:
            exec(compile(code, f"{path.name} (python block {number})", "exec"), namespace)
        except Exception as exc:
            raise AssertionError(f"{path.name}: python block {number} raised {type(exc).__name__}: {exc}\n{code}") from exc


def _commands(path: Path) -> list[str]:
    lines = []
    for body in blocks(path, "bash", "console", "shell", "sh"):
        for line in body.splitlines():
            line = line.strip().removeprefix("$ ")
            if line and not line.startswith("#"):
                lines.append(line)
    return lines


@pytest.mark.parametrize("path", [p for p in DOCS if _commands(p)], ids=lambda p: p.name)
def test_shell_commands_run(path, tmp_path):
    for line in _commands(path):
        for command in line.split("&&"):
            words = shlex.split(command.strip())
            if words[:2] == ["pip", "install"] or words[:3] == ["python", "-m", "pytest"]:
                continue  # the set-up commands: see test_readme_set_up_commands_are_what_ci_runs
            assert words[0] == "polyformer", f"{path.name}: don't know how to run {command!r}"
            result = subprocess.run([sys.executable, "-m", "polyformer", *words[1:]], cwd=tmp_path, capture_output=True,
                                    text=True, timeout=600, env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)))
            assert result.returncode == 0, f"{path.name}: {command!r} failed:\n{result.stderr[-3000:]}"


@pytest.mark.parametrize("path", [p for p in DOCS if blocks(p, "toml")], ids=lambda p: p.name)
def test_toml_blocks_parse(path):
    for body in blocks(path, "toml"):
        tomllib.loads(body)


def test_readme_set_up_commands_are_what_ci_runs():
    """The README's test command is the one `.ci/run` runs, word for word."""
    commands = [line for line in _commands(ROOT / "README.md") if "pytest" in line]
    assert len(commands) == 1, commands
    assert commands[0] in (ROOT / ".ci" / "run").read_text(), "the README's test command differs from .ci/run's"
