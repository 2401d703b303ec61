"""The Keras models on every Keras 3 backend that is installed: TensorFlow, JAX and PyTorch.

Keras fixes its backend when it is first imported, so this process (TensorFlow, see
``conftest.py``) cannot try the others: each other installed backend runs the Keras cases of the
architectures' conformance suites in a pytest process of its own, with ``KERAS_BACKEND`` set.
Those cases compare each Keras model's outputs with the PyTorch model's on the same checkpoint,
save and load it, take the loss from labels, train it with ``fit``, prune heads, and pass its
checkpoint through every framework and back bit for bit (``polyformer.testing.conformance``).
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

keras = pytest.importorskip("keras")

ROOT = Path(__file__).resolve().parents[1]

#: Each Keras backend, and the module it needs.
BACKENDS = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}

#: The conformance suites of the architectures with Keras models (BERT's comes with its plugin).
CONFORMANCE = [
    "tests/test_distilbert_conformance.py",
    "tests/test_vit_conformance.py",
    "tests/test_wav2vec2_conformance.py",
    "plugins/polyformer-bert/tests/test_bert_conformance.py",
]


@pytest.mark.parametrize("backend", sorted(BACKENDS))
def test_keras_conformance_on_backend(backend):
    if keras.backend.backend() == backend:
        pytest.skip(f"this process runs Keras on {backend}: the conformance files run here directly")
    if importlib.util.find_spec(BACKENDS[backend]) is None:
        pytest.skip(f"{BACKENDS[backend]} is not installed")
    files = [path for path in CONFORMANCE if (ROOT / path).exists()]
    env = {**os.environ, "KERAS_BACKEND": backend}
    # Only the cases of the Keras framework, and the round trip through every framework; DistilBERT's
    # sinusoidal variant repeats the same layers (it runs on TensorFlow in this process).
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *files,
               "-k", "(keras or cross_framework) and not Sinusoidal", "-o", "addopts="]
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=1500)
    tail = result.stdout[-8000:] + result.stderr[-2000:]
    assert result.returncode == 0, f"Keras on {backend}:\n{tail}"
    summary = result.stdout.strip().splitlines()[-1]
    passed = int(re.search(r"(\d+) passed", summary).group(1))
    # Every architecture contributes cases (over 20 each): a run that skipped them all says nothing.
    assert passed >= 20 * len(files), f"Keras on {backend}: only {passed} cases ran\n{tail}"
    assert "skipped" not in summary, f"Keras on {backend}: cases were skipped\n{tail}"


NO_TENSORFLOW = """
import sys
import numpy as np
from polyformer import AutoModelForSequenceClassification, DistilBertConfig, TFDistilBertForSequenceClassification

model = TFDistilBertForSequenceClassification(DistilBertConfig(vocab_size=50, dim=16, n_layers=1, n_heads=2,
                                                               hidden_dim=20))
batch = {"input_ids": np.ones((2, 5), "int64"), "labels": np.array([0, 1])}
model.compile(optimizer="sgd")
model.fit(batch, epochs=1, verbose=0)
model.save_pretrained(sys.argv[1])
AutoModelForSequenceClassification.from_pretrained(sys.argv[1], framework="keras")(batch)
print("tensorflow imported:", "tensorflow" in sys.modules)
"""


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_no_tensorflow_on_the_model_path(backend, tmp_path):
    """Building, training, saving and loading a Keras model on JAX or PyTorch never imports TensorFlow."""
    if importlib.util.find_spec(BACKENDS[backend]) is None:
        pytest.skip(f"{BACKENDS[backend]} is not installed")
    result = subprocess.run([sys.executable, "-c", NO_TENSORFLOW, str(tmp_path / "saved")], cwd=tmp_path,
                            env={**os.environ, "KERAS_BACKEND": backend}, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-4000:]
    assert "tensorflow imported: False" in result.stdout, result.stdout
