"""The files around the code: licence, type marker, changelog, and a design page that holds up."""

import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import polyformer
from polyformer.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))

#: SPDX identifier -> lines its licence text starts with.
LICENCE_HEADINGS = {"Apache-2.0": ["Apache License", "Version 2.0, January 2004", "http://www.apache.org/licenses/"]}


def test_licence_file_is_the_licence_pyproject_declares():
    project = PYPROJECT["project"]
    assert project["license"] in LICENCE_HEADINGS, f"pyproject.toml declares {project['license']!r}"
    assert project["license-files"] == ["LICENSE"]
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert [line.strip() for line in text.strip().splitlines()[:3]] == LICENCE_HEADINGS[project["license"]]
    assert "END OF TERMS AND CONDITIONS" in text  # the whole text, not a heading alone
    assert len(re.findall(r"^ +\d\. [A-Z]", text, re.M)) == 9  # Apache 2.0's nine numbered sections


def test_package_is_typed():
    assert (ROOT / "polyformer" / "py.typed").is_file()
    assert "py.typed" in PYPROJECT["tool"]["setuptools"]["package-data"]["polyformer"]


def test_wheel_ships_the_licence_and_the_type_marker(tmp_path):
    """Built as pip would, from a copy (the build writes build/ and *.egg-info next to pyproject.toml)."""
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(ROOT / "polyformer", source / "polyformer", ignore=shutil.ignore_patterns("__pycache__"))
    code = "import sys; from setuptools import build_meta; print(build_meta.build_wheel(sys.argv[1]))"
    result = subprocess.run([sys.executable, "-c", code, str(tmp_path / "dist")], cwd=source, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    wheel = tmp_path / "dist" / result.stdout.strip().splitlines()[-1]
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        metadata = archive.read(next(name for name in names if name.endswith(".dist-info/METADATA"))).decode()
    assert "polyformer/py.typed" in names
    assert any(name.endswith(".dist-info/licenses/LICENSE") for name in names), names
    assert "License-Expression: Apache-2.0" in metadata.splitlines()


def test_changelog_covers_the_current_version():
    text = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    versions = re.findall(r"^## \[([^\]]+)\]", text, re.M)
    assert versions[0] == "Unreleased" and polyformer.__version__ in versions
    assert PYPROJECT["project"]["version"] == polyformer.__version__


def _repo_files() -> list[str]:
    return [path.relative_to(ROOT).as_posix() for path in ROOT.rglob("*")
            if path.is_file() and ".git" not in path.parts and "__pycache__" not in path.parts]


#: A file name in prose: with a folder (a/b.json), or a repository kind of file (x.md, y.py).
FILE_NAME = re.compile(r"(?<![\w/.-])((?:[\w<>.-]+/)+[\w<>.-]+\.\w+|[\w-]+(?:\.[\w-]+)*\.(?:md|py|toml|cfg))\b")


def test_design_page_names_no_file_outside_the_repository():
    """A reader has the repository: every file the design page names is in it (relative to the
    root, or to polyformer/ as the layout tree writes them), and no path is absolute."""
    text = (ROOT / "docs" / "design.md").read_text(encoding="utf-8")
    files = _repo_files()
    assert not re.findall(r"(?:^|[\s`(])((?:/|~/)[\w.-]+/[\w./-]*)", text)  # /work/..., ~/..., /tmp/...
    missing = []
    for name in sorted(set(FILE_NAME.findall(text))):
        pattern = re.escape(name).replace(re.escape("<arch>"), r"[\w-]+").replace(re.escape("<fw>"), r"[\w-]+")
        if not any(re.fullmatch(rf"(?:.*/)?{pattern}", path) for path in files):
            missing.append(name)
    assert missing == []


def test_file_name_pattern_catches_a_file_outside_the_repository():
    """The check above would have caught the page's old pointer to shared/DESIGN.md."""
    assert FILE_NAME.findall("described in `shared/DESIGN.md`, with") == ["shared/DESIGN.md"]
    assert FILE_NAME.findall("see NOTES.md and polyformer/core/hub.py.") == ["NOTES.md", "polyformer/core/hub.py"]


def test_design_page_lists_every_command():
    parser = build_parser()
    [commands] = [action.choices for action in parser._subparsers._group_actions]
    text = (ROOT / "docs" / "design.md").read_text(encoding="utf-8")
    section = text.split("## The command line", 1)[1].split("\n## ", 1)[0]
    assert set(commands) >= {"demo", "inspect", "convert", "download", "env", "plugins"}
    listed = set(re.findall(r"^- `polyformer (\w+)", section, re.M))
    assert listed == set(commands)
