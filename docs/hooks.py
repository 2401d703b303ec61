"""mkdocs hooks: the README as home page, and the docstrings' Sphinx roles shown as plain code.

The README is the one front page (PyPI and GitHub show it too); copying it into docs/
would make two texts to keep in step, so it is added to the site at build time.

Docstrings name other objects the Sphinx way (``:class:`Name```, ``:meth:`~pkg.mod.f```),
which Python's ``help()`` and editors show as they are; mkdocstrings renders the role before
the code. The role, the ``~`` and an explicit ``<target>`` are dropped from the page.
"""

import re
from pathlib import Path

from mkdocs.structure.files import File

README = Path(__file__).resolve().parents[1] / "README.md"
_ROLE = re.compile(r":(?:class|meth|func|attr|mod|data|exc|obj):<code>~?([^<]*?)(?:\s*&lt;[^<]*&gt;)?</code>")


def on_files(files, config):
    if files.get_file_from_path("index.md") is None:
        files.append(File.generated(config, "index.md", content=README.read_text(encoding="utf-8")))
    return files


def on_page_content(html, page, config, files):
    return _ROLE.sub(r"<code>\1</code>", html)
