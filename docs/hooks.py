"""mkdocs hook: the site's home page is the repository's README.md, read at build time.

The README is the one front page (PyPI and GitHub show it too); copying it into docs/
would make two texts to keep in step.
"""

from pathlib import Path

from mkdocs.structure.files import File

README = Path(__file__).resolve().parents[1] / "README.md"


def on_files(files, config):
    if files.get_file_from_path("index.md") is None:
        files.append(File.generated(config, "index.md", content=README.read_text(encoding="utf-8")))
    return files
