"""polyformer.set_seed: one call makes Python, numpy and every installed framework repeatable."""

import random
import subprocess
import sys

import numpy as np
import pytest

import polyformer
from polyformer.core import seeding


def draws():
    """One random draw from each generator set_seed must reach."""
    import jax  # noqa: F401  (JAX has no global state: see test_flax_models_take_the_seed)
    import tensorflow as tf
    import torch

    return {
        "random": random.random(),
        "numpy": float(np.random.rand()),
        "torch": float(torch.rand(1)),
        "tensorflow": float(tf.random.uniform(())),
    }


def test_set_seed_reaches_python_numpy_torch_and_tensorflow():
    polyformer.set_seed(1234)
    first = draws()
    polyformer.set_seed(1234)
    assert draws() == first  # bit for bit: the same generators in the same state
    polyformer.set_seed(4321)
    other = draws()
    assert all(other[name] != first[name] for name in first), (first, other)


def model_weights(framework, **kwargs):
    config = polyformer.DistilBertConfig(dim=16, n_heads=2, n_layers=1, hidden_dim=16, vocab_size=20)
    model = polyformer.AutoModel.from_config(config, framework=framework, **kwargs)
    return {name: np.asarray(value) for name, value in model._export_canonical().items()}


@pytest.mark.parametrize("framework", ["torch", "keras", "flax"])
def test_random_initialisation_follows_the_seed(framework):
    polyformer.set_seed(7)
    first = model_weights(framework)
    polyformer.set_seed(7)
    again = model_weights(framework)
    polyformer.set_seed(8)
    other = model_weights(framework)
    name = "embeddings.word_embeddings.weight"
    assert all(np.array_equal(first[key], again[key]) for key in first)
    assert not np.array_equal(first[name], other[name])


def test_flax_models_take_the_seed_unless_given_one():
    polyformer.set_seed(5, frameworks=["flax"])
    assert seeding.get_seed() == 5
    from_set_seed = model_weights("flax")
    explicit = model_weights("flax", seed=5)
    assert all(np.array_equal(from_set_seed[key], explicit[key]) for key in explicit)
    polyformer.set_seed(6, frameworks=["flax"])
    assert polyformer.AutoModel.from_config(polyformer.DistilBertConfig(dim=16, n_heads=2, n_layers=1, hidden_dim=16,
                                                                        vocab_size=20), framework="flax").seed == 6


@pytest.mark.parametrize("bad", [-1, 2**32, 1.5, "3", True, None])
def test_bad_seed(bad):
    with pytest.raises(ValueError) as error:
        polyformer.set_seed(bad)
    assert str(error.value) == f"set_seed(seed): seed must be an integer from 0 to 2**32 - 1, got {bad!r}"


def test_bad_frameworks(monkeypatch):
    with pytest.raises(ValueError) as error:
        polyformer.set_seed(0, frameworks=["tensorflow"])
    assert str(error.value) == "set_seed(frameworks=...): unknown framework 'tensorflow'; expected some of torch, keras, flax"
    monkeypatch.setitem(sys.modules, "torch", None)  # how Python marks a module that cannot be imported
    with pytest.raises(ImportError) as error:
        polyformer.set_seed(0, frameworks="torch")
    assert str(error.value) == ("set_seed(frameworks=...): torch is not installed (needs torch). "
                                "Install it with: pip install 'polyformer[torch]'")
    polyformer.set_seed(3, frameworks=["flax"])  # the others are still fine without torch
    assert seeding.get_seed() == 3


def test_only_installed_frameworks_are_seeded_by_default(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)
    polyformer.set_seed(11)  # no ImportError: torch is skipped, as a framework that is not installed
    first = random.random(), float(np.random.rand())
    polyformer.set_seed(11)
    assert (random.random(), float(np.random.rand())) == first


def test_set_seed_and_the_command_line_import_no_framework_until_used():
    code = """
import sys
import polyformer, polyformer.cli, polyformer.logging
polyformer.set_seed  # found lazily: the name alone imports no framework
frameworks = ("torch", "tensorflow", "keras", "jax", "flax")
assert not [m for m in frameworks if m in sys.modules], [m for m in frameworks if m in sys.modules]
polyformer.set_seed(0, frameworks=["torch"])
print(sorted(m for m in frameworks if m in sys.modules))
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "['torch']"  # seeding one framework imports that one alone
