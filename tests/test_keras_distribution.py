"""Keras models under keras.distribution (Keras 3 on JAX, 2 host devices): fit sharded gives the one-device result.

Keras fixes its backend at import and JAX its device count at start-up, so the runs happen in
a child process (``_keras_distribution_child.py``) with ``KERAS_BACKEND=jax`` and
``XLA_FLAGS=--xla_force_host_platform_device_count=2``. For DistilBERT, BERT, ViT and Wav2Vec2
classification models it fits 2 SGD steps on one device, under ``DataParallel`` and under
``ModelParallel`` with the model's ``layout_map``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("keras")
pytest.importorskip("jax")

CHILD = Path(__file__).with_name("_keras_distribution_child.py")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    env = {**os.environ, "KERAS_BACKEND": "jax", "XLA_FLAGS": "--xla_force_host_platform_device_count=2",
           "PYTHONWARNINGS": "ignore"}
    result = subprocess.run([sys.executable, str(CHILD), str(tmp_path_factory.mktemp("keras_distribution"))],
                            env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-6000:]
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    return {line.get("architecture", "errors"): line for line in lines}


ARCHITECTURES = ["distilbert", "bert", "vit", "wav2vec2"]


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_fit_sharded_gives_the_one_device_result(runs, architecture):
    run = runs[architecture]
    # Training did something: two SGD steps of 0.5 move the weights by ~0.1 (measured 0.14-0.28).
    assert run["training_moved_weights"] > 1e-2
    # Same weights after training. They are O(0.1-1); splitting the batch or the matmuls over devices only
    # reorders float32 sums (measured differences up to 1.2e-7), so 1e-5 is far above noise and far below a
    # wrong gradient (which would move weights by ~1e-2).
    assert run["data_parallel_max_diff"] < 1e-5
    assert run["model_parallel_max_diff"] < 1e-5
    for kind in ("data", "model"):
        np.testing.assert_allclose(run["losses"][kind], run["losses"]["single"], rtol=1e-5)


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_layout_map_splits_each_layer_over_the_model_axis(runs, architecture):
    run = runs[architecture]
    split = run["split"]
    # Per layer: q, k, v weights and biases (column), the attention output weight (row), the feed-forward's
    # first weight and bias (column) and second weight (row). Row biases, norms, embeddings, heads: whole.
    assert len(split) == 10 * run["num_layers"], sorted(split)
    for name, layout in split.items():
        shape, shards = layout["shape"], layout["shards"]
        assert len(shards) == 2
        halved = [axis for axis in range(len(shape)) if shards[0][axis] * 2 == shape[axis]]
        assert len(halved) == 1, (name, layout)  # each device holds one half, along one axis
    assert not any("embeddings" in name or "norm" in name.lower() or "classifier" in name for name in split)


def test_layout_map_bad_input(runs):
    errors = runs["errors"]["errors"]
    assert errors["no_model_axis"].startswith("ValueError: layout_map: the tensor-parallel splits go over a mesh "
                                              "axis named 'model'; the mesh has axes ('batch',)")
    assert errors["not_a_mesh"] == "TypeError: layout_map(mesh): expected a keras.distribution.DeviceMesh, got str"
