"""The conformance suite an architecture plugin runs against itself.

Subclass :class:`ArchitectureConformance` in a test module, name the ``model_type``
and give a tiny config::

    from polyformer.testing import ArchitectureConformance

    class TestMyArchConformance(ArchitectureConformance):
        model_type = "myarch"

        def make_config(self, **overrides):
            return MyArchConfig(vocab_size=99, hidden_size=32, num_hidden_layers=2, **overrides)

pytest then checks, for every head the plugin registers and every installed framework:

* the outputs equal the PyTorch implementation's on the same checkpoint, within float32
  rounding (:func:`~polyformer.testing.assert_outputs_close`);
* save -> load keeps every weight bit for bit, and the outputs within float32 rounding;
* torch -> flax -> keras -> torch through checkpoints is bit-exact;
* heads return a finite loss when given labels;
* a few optimizer steps lower the loss.

Each framework is driven through its backend's ``harness`` module (registered with the
backend), so a new backend plugin is covered by providing one.
"""

from __future__ import annotations

import copy
import importlib
from typing import Any

import numpy as np
import pytest

from ..core.checkpoint import find_weight_files, load_tensors
from ..core.plugins import get_registry
from ..core.registry import TASKS, import_object
from .compare import assert_outputs_close, assert_weights_equal

__all__ = ["ArchitectureConformance", "FRAMEWORKS"]

FRAMEWORKS = ("torch", "keras", "flax")


def _harness(framework: str):
    backend = get_registry().backends.get(framework)
    if backend is None or not backend.is_available():
        pytest.skip(f"framework {framework} is not installed")
    if not backend.harness:
        pytest.skip(f"backend {framework} provides no conformance harness")
    return importlib.import_module(backend.harness)


def _compare(reference: dict[str, Any], other: dict[str, Any], where: str) -> None:
    """The same outputs, each within float32 rounding of the reference's (tolerance from its magnitude)."""
    assert_outputs_close(reference, other, where=where)


class ArchitectureConformance:
    """pytest mix-in: set ``model_type`` and implement ``make_config``."""

    model_type: str = ""
    batch_size = 2
    seq_length = 7
    num_choices = 3
    train_steps = 4
    learning_rate = 1e-3

    # ---- what a plugin provides ------------------------------------------------------
    def make_config(self, **overrides: Any):
        """A tiny config of the architecture (a few layers, width 32 or so)."""
        raise NotImplementedError("set make_config() in your conformance test class")

    def config_for(self, task: str, **overrides: Any):
        """The tiny config for ``task``: question answering heads have two labels (start, end)."""
        config = self.make_config(**overrides)
        if task == "question-answering":
            config.num_labels = 2
        return config

    def make_inputs(self, task: str, config) -> dict[str, np.ndarray]:
        """Model inputs for ``task``; override to add e.g. ``token_type_ids``."""
        rng = np.random.default_rng(0)
        shape = (self.batch_size, self.num_choices, self.seq_length) if task == "multiple-choice" else (
            self.batch_size, self.seq_length)
        input_ids = rng.integers(1, config.vocab_size, size=shape, dtype=np.int64)
        attention_mask = np.ones(shape, dtype=np.int64)
        attention_mask[..., -2:][0] = 0  # padding in the first example
        return {"input_ids": input_ids, "attention_mask": attention_mask}

    def make_labels(self, task: str, config) -> dict[str, np.ndarray]:
        """Labels for ``task`` (none for the base model)."""
        rng = np.random.default_rng(1)
        b, s = self.batch_size, self.seq_length
        if task == "masked-lm":
            labels = rng.integers(0, config.vocab_size, size=(b, s), dtype=np.int64)
            labels[:, ::2] = -100
            return {"labels": labels}
        if task == "sequence-classification":
            return {"labels": rng.integers(0, config.num_labels, size=(b,), dtype=np.int64)}
        if task == "token-classification":
            return {"labels": rng.integers(0, config.num_labels, size=(b, s), dtype=np.int64)}
        if task == "question-answering":
            return {"start_positions": rng.integers(0, s, size=(b,), dtype=np.int64),
                    "end_positions": rng.integers(0, s, size=(b,), dtype=np.int64)}
        if task == "multiple-choice":
            return {"labels": rng.integers(0, self.num_choices, size=(b,), dtype=np.int64)}
        return {}

    # ---- parametrisation --------------------------------------------------------------
    def pytest_generate_tests(self, metafunc) -> None:
        """Generate only the (framework, task) cases a check applies to.

        Tasks are those the architecture registers; the PyTorch comparison leaves out
        PyTorch itself, and the loss checks leave out the base model. A framework that is
        registered but not installed is still generated, and skipped with the reason.
        """
        arch = get_registry().architecture(self.model_type)
        tasks = [t for t in TASKS if any(t in heads for heads in arch.models.values())]
        if metafunc.function.__name__ in ("test_loss_with_labels", "test_training_lowers_the_loss"):
            tasks = [t for t in tasks if t != "base"]
        frameworks = [f for f in FRAMEWORKS if f in arch.models]
        if metafunc.function.__name__ == "test_outputs_match_pytorch":
            frameworks = [f for f in frameworks if f != "torch"]
        if "framework" in metafunc.fixturenames:
            metafunc.parametrize("framework", frameworks)
        if "task" in metafunc.fixturenames:
            metafunc.parametrize("task", tasks)

    def model_class(self, framework: str, task: str):
        arch = get_registry().architecture(self.model_type)
        path = arch.models.get(framework, {}).get(task)
        if path is None:
            pytest.skip(f"{self.model_type} has no {task} model for {framework}")
        _harness(framework)
        return import_object(path)

    def _quiet_config(self, task: str):
        """The tiny config with every dropout at zero, so training steps are deterministic."""
        config = self.config_for(task)
        for key, value in list(vars(config).items()):
            if "dropout" in key and isinstance(value, float):
                setattr(config, key, 0.0)
        return config

    # ---- the checks ------------------------------------------------------------------
    def test_outputs_match_pytorch(self, framework, task, tmp_path):
        """Same checkpoint, same outputs as the PyTorch implementation (hidden states and attentions too)."""
        reference_class = self.model_class("torch", task)
        other_class = self.model_class(framework, task)
        import torch

        torch.manual_seed(0)
        config = self.config_for(task)
        reference = reference_class(config)
        reference.save_pretrained(tmp_path)
        other = other_class.from_pretrained(tmp_path)
        inputs = {**self.make_inputs(task, config), **self.make_labels(task, config)}
        flags = {"output_hidden_states": True, "output_attentions": True}
        want = _harness("torch").forward(reference, inputs, **flags)
        got = _harness(framework).forward(other, inputs, **flags)
        _compare(want, got, f"{other_class.__name__} vs {reference_class.__name__}")

    def test_save_load_round_trip(self, framework, task, tmp_path):
        """save -> load: every weight bit for bit; the outputs within float32 rounding.

        Outputs are not compared bit for bit: the reloaded weights sit at other addresses,
        and BLAS may pick other kernels (another order of summation) for them.
        """
        model_class = self.model_class(framework, task)
        config = self.config_for(task)
        model = model_class(copy.deepcopy(config))
        model.save_pretrained(tmp_path)
        loaded = model_class.from_pretrained(tmp_path)
        where = f"{model_class.__name__} reloaded"
        assert_weights_equal(model._export_canonical(), loaded._export_canonical(), where=where)
        inputs = self.make_inputs(task, config)
        harness = _harness(framework)
        _compare(harness.forward(model, inputs), harness.forward(loaded, inputs), where)

    def test_cross_framework_round_trip_is_bit_exact(self, task, tmp_path):
        """torch -> flax -> keras -> torch through checkpoints: every tensor bit-identical."""
        chain = [f for f in FRAMEWORKS if get_registry().backends.get(f) and get_registry().backends[f].is_available()]
        classes = [self.model_class(f, task) for f in chain]
        order = [classes[0]] + [c for c in classes[1:] if c.framework == "flax"] + [
            c for c in classes[1:] if c.framework == "keras"] + [classes[0]]
        first = order[0](self.config_for(task))
        folder = tmp_path / "0"
        first.save_pretrained(folder)
        original = load_tensors(find_weight_files(folder))
        for step, model_class in enumerate(order[1:], start=1):
            model = model_class.from_pretrained(folder)
            folder = tmp_path / str(step)
            model.save_pretrained(folder)
        final = load_tensors(find_weight_files(folder))
        assert_weights_equal(original, final, where=" -> ".join(c.__name__ for c in order))

    def test_loss_with_labels(self, framework, task):
        model_class = self.model_class(framework, task)
        config = self.config_for(task)
        model = model_class(config)
        inputs = {**self.make_inputs(task, config), **self.make_labels(task, config)}
        outputs = _harness(framework).forward(model, inputs)
        assert "loss" in outputs, f"{model_class.__name__} returned no loss with labels"
        loss = np.asarray(outputs["loss"])
        assert loss.shape == () and np.isfinite(loss)

    def test_training_lowers_the_loss(self, framework, task):
        model_class = self.model_class(framework, task)
        config = self._quiet_config(task)
        model = model_class(config)
        inputs = {**self.make_inputs(task, config), **self.make_labels(task, config)}
        losses = _harness(framework).train_losses(model, inputs, steps=self.train_steps, learning_rate=self.learning_rate)
        assert all(np.isfinite(losses)), losses
        assert losses[-1] < losses[0], f"{model_class.__name__}: loss did not go down: {losses}"
