"""The conformance suite an architecture plugin runs against itself.

Subclass :class:`ArchitectureConformance` in a test module, name the ``model_type``
and give a tiny config::

    from polyformer.testing import ArchitectureConformance

    class TestMyArchConformance(ArchitectureConformance):
        model_type = "myarch"

        def make_config(self, **overrides):
            return MyArchConfig(vocab_size=99, hidden_size=32, num_hidden_layers=2, **overrides)

pytest then checks, for every task the plugin registers and every framework it
implements that is installed (whatever the modality: inputs come from
``config.example_inputs()``, adapted by the task record, and labels from the task record):

* the outputs equal the reference framework's (PyTorch when the plugin has it) within
  float32 rounding (:func:`~polyformer.testing.assert_outputs_close`), on the same
  checkpoint, whose every weight is first moved away from its initial value, so that a
  weight loaded under a wrong name cannot pass by still holding its fresh value; loading
  must report no missing, unexpected or mismatched weights;
* save -> load gives bit-identical weights and the same outputs;
* a round trip through every framework (in the registry's order, back to the first)
  through checkpoints is bit-exact;
* heads return a finite loss when given labels, and a few optimizer steps lower it;
* in every framework whose backend declares ``optimize_for_inference`` (its harness then has
  ``fast_path_outputs``): the fast path gives the plain path's outputs in float32 and bfloat16;
* in every framework whose backend declares ``prune_heads``: a checkpoint pruned in the
  reference framework loads and gives its outputs, and pruning the same heads there gives
  the same model (weights bit for bit).

Each framework is driven through its backend's ``harness`` module (registered with the
backend), so a new backend plugin is covered by providing one.
"""

from __future__ import annotations

import copy
import importlib
from typing import Any, Callable

import numpy as np
import pytest

from ..core.checkpoint import find_weight_files, load_tensors, save_tensors
from ..core.plugins import get_registry
from ..core.registry import import_object
from .compare import assert_outputs_close, assert_weights_equal

__all__ = ["ArchitectureConformance"]


def _harness(framework: str):
    backend = get_registry().backends.get(framework)
    if backend is None or not backend.is_available():
        pytest.skip(f"framework {framework} is not installed")
    if not backend.harness:
        pytest.skip(f"backend {framework} provides no conformance harness")
    return importlib.import_module(backend.harness)


def _saved_tensors(folder) -> dict[str, np.ndarray]:
    return load_tensors(find_weight_files(folder))


def _perturb_checkpoint(folder, seed: int = 0) -> None:
    """Move every floating weight of a saved checkpoint away from where initialisation put it.

    A fresh LayerNorm is all ones and a fresh bias all zeros, in every framework: a model
    that loads such a weight under a wrong name would still match. After this, it cannot.
    """
    rng = np.random.default_rng(seed)
    tensors = {}
    for name, array in _saved_tensors(folder).items():
        if np.issubdtype(array.dtype, np.floating):
            noise = rng.normal(0.0, 0.02, size=array.shape)
            array = (array.astype(np.float64) + noise).astype(array.dtype)
        tensors[name] = array
    save_tensors(tensors, folder)


def _assert_clean_load(info: dict[str, list], where: str) -> None:
    problems = {kind: names for kind, names in info.items() if names}
    assert not problems, f"{where}: loading the checkpoint reported {problems}"


class ArchitectureConformance:
    """pytest mix-in: set ``model_type`` and implement ``make_config``."""

    model_type: str = ""
    batch_size = 2
    train_steps = 4
    learning_rate = 1e-3
    #: Framework whose outputs the others must match; the first one the plugin has when absent.
    reference_framework = "torch"
    #: Label makers for tasks whose record has none (``{"pretraining": fn}``), same signature as
    #: :attr:`polyformer.core.registry.Task.labels`.
    label_makers: dict[str, Callable] = {}

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

    def example_inputs(self, config, batch_size: int) -> dict[str, np.ndarray]:
        """The architecture's example inputs (``config.example_inputs``); override to vary them."""
        return config.example_inputs(batch_size, seed=0)

    def make_inputs(self, task: str, config) -> dict[str, np.ndarray]:
        """Inputs for ``task``: the example inputs, adapted by the task record when it says how."""
        record = get_registry().task(task)
        if record.inputs:
            adapt = import_object(record.inputs)
            return adapt(lambda batch: self.example_inputs(config, batch), self.batch_size, np.random.default_rng(0))
        return self.example_inputs(config, self.batch_size)

    def label_maker(self, task: str) -> Callable | None:
        """How to make the labels of ``task``: this class's :attr:`label_makers`, else the task record's."""
        if task in self.label_makers:
            return self.label_makers[task]
        record = get_registry().task(task)
        return import_object(record.labels) if record.labels else None

    def make_labels(self, task: str, config, inputs: dict[str, np.ndarray], outputs: dict[str, Any]) -> dict[str, np.ndarray]:
        """Labels for ``task`` that fit ``outputs`` (the model's outputs without labels)."""
        maker = self.label_maker(task)
        return maker(config, inputs, outputs, np.random.default_rng(1)) if maker is not None else {}

    def quiet_config(self, task: str):
        """The tiny config with every random drop (dropout, layer drop, masking probabilities) at zero."""
        config = self.config_for(task)
        for key, value in list(vars(config).items()):
            if isinstance(value, float) and ("dropout" in key or "layerdrop" in key or key.endswith("_prob")):
                setattr(config, key, 0.0)
        return config

    # ---- what applies ---------------------------------------------------------------------
    def _architecture(self):
        return get_registry().architecture(self.model_type)

    def frameworks(self) -> list[str]:
        """The frameworks this architecture has models for, in the registry's order (installed or not)."""
        models = self._architecture().models
        return [backend.name for backend in get_registry().frameworks_by_priority() if backend.name in models]

    def _reference(self) -> str:
        frameworks = self.frameworks()
        return self.reference_framework if self.reference_framework in frameworks else frameworks[0]

    def pytest_generate_tests(self, metafunc) -> None:
        """Generate only the (framework, task) cases each check applies to.

        Tasks are those the architecture serves; frameworks those it has models for (a
        framework that is not installed is still generated, and skipped with the reason).
        The comparison leaves out the reference framework itself, and the loss checks
        leave out tasks without labels.
        """
        arch = self._architecture()
        name = metafunc.function.__name__
        tasks = arch.served_tasks()
        if name in ("test_loss_with_labels", "test_training_lowers_the_loss"):
            tasks = [t for t in tasks if self.label_maker(t) is not None]
        frameworks = self.frameworks()
        reason = ""
        if name == "test_outputs_match_reference":
            frameworks = [f for f in frameworks if f != self._reference()]
            reason = f"{self.model_type} has no other framework than {self._reference()} to compare with"
        if name == "test_pruned_heads_in_every_framework":
            registry = get_registry()
            frameworks = [f for f in frameworks if "prune_heads" in registry.backends[f].capabilities]
            tasks = [t for t in tasks if t == "base"]
            reason = "no backend of this architecture declares prune_heads"
            if not hasattr(self.make_config(), "num_attention_heads"):
                frameworks, reason = [], f"{self.model_type} has no attention heads (no num_attention_heads)"
        if name == "test_inference_fast_path_matches_plain":
            registry = get_registry()
            frameworks = [f for f in frameworks if "optimize_for_inference" in registry.backends[f].capabilities]
            reason = "no backend of this architecture declares optimize_for_inference"
        if "framework" in metafunc.fixturenames:
            if not frameworks:  # say why, rather than pytest's "got empty parameter set"
                frameworks = [pytest.param(None, marks=pytest.mark.skip(reason=reason or "no framework applies"))]
            metafunc.parametrize("framework", frameworks)
        if "task" in metafunc.fixturenames:
            metafunc.parametrize("task", tasks)

    def model_class(self, framework: str, task: str):
        path = self._architecture().models.get(framework, {}).get(task)
        if path is None:
            pytest.skip(f"{self.model_type} has no {task} model for {framework}")
        _harness(framework)
        return import_object(path)

    def _inputs_and_labels(self, task: str, config, model, framework: str) -> dict[str, np.ndarray]:
        inputs = self.make_inputs(task, config)
        outputs = _harness(framework).forward(model, inputs)
        return {**inputs, **self.make_labels(task, config, inputs, outputs)}

    # ---- the checks ------------------------------------------------------------------
    def test_outputs_match_reference(self, framework, task, tmp_path):
        """Same checkpoint, same outputs as the reference framework (hidden states and attentions too)."""
        reference_framework = self._reference()
        reference_class = self.model_class(reference_framework, task)
        other_class = self.model_class(framework, task)
        config = self.config_for(task)
        reference_class(copy.deepcopy(config)).save_pretrained(tmp_path)
        _perturb_checkpoint(tmp_path)
        reference, info = reference_class.from_pretrained(tmp_path, output_loading_info=True)
        _assert_clean_load(info, reference_class.__name__)
        other, info = other_class.from_pretrained(tmp_path, output_loading_info=True)
        _assert_clean_load(info, other_class.__name__)

        inputs = self._inputs_and_labels(task, config, reference, reference_framework)
        flags = {"output_hidden_states": True, "output_attentions": True}
        want = _harness(reference_framework).forward(reference, inputs, **flags)
        got = _harness(framework).forward(other, inputs, **flags)
        assert_outputs_close(want, got, where=f"{other_class.__name__} vs {reference_class.__name__}")

    def test_save_load_round_trip(self, framework, task, tmp_path):
        """Saved and loaded again: the very same weights, and the same outputs."""
        model_class = self.model_class(framework, task)
        config = self.config_for(task)
        model = model_class(copy.deepcopy(config))
        model.save_pretrained(tmp_path / "first")
        loaded, info = model_class.from_pretrained(tmp_path / "first", output_loading_info=True)
        _assert_clean_load(info, model_class.__name__)
        loaded.save_pretrained(tmp_path / "second")
        where = f"{model_class.__name__} reloaded"
        assert_weights_equal(_saved_tensors(tmp_path / "first"), _saved_tensors(tmp_path / "second"), where=where)
        inputs = self.make_inputs(task, config)
        harness = _harness(framework)
        assert_outputs_close(harness.forward(model, inputs), harness.forward(loaded, inputs), where=where)

    def test_cross_framework_round_trip_is_bit_exact(self, task, tmp_path):
        """Through every framework and back to the first, by checkpoints: every tensor bit-identical."""
        chain = [f for f in self.frameworks() if get_registry().backends[f].is_available()]
        if len(chain) < 2:
            pytest.skip(f"{self.model_type} has models in only one installed framework ({', '.join(chain) or 'none'})")
        classes = [self.model_class(f, task) for f in chain] + [self.model_class(chain[0], task)]
        first = classes[0](self.config_for(task))
        folder = tmp_path / "0"
        first.save_pretrained(folder)
        original = _saved_tensors(folder)
        for step, model_class in enumerate(classes[1:], start=1):
            model, info = model_class.from_pretrained(folder, output_loading_info=True)
            _assert_clean_load(info, model_class.__name__)
            folder = tmp_path / str(step)
            model.save_pretrained(folder)
        assert_weights_equal(original, _saved_tensors(folder), where=" -> ".join(c.__name__ for c in classes))

    def test_loss_with_labels(self, framework, task):
        model_class = self.model_class(framework, task)
        config = self.config_for(task)
        model = model_class(config)
        inputs = self._inputs_and_labels(task, config, model, framework)
        outputs = _harness(framework).forward(model, inputs)
        assert "loss" in outputs, f"{model_class.__name__} returned no loss with labels"
        loss = np.asarray(outputs["loss"])
        assert loss.shape == () and np.isfinite(loss)

    def test_training_lowers_the_loss(self, framework, task):
        model_class = self.model_class(framework, task)
        config = self.quiet_config(task)
        model = model_class(config)
        inputs = self._inputs_and_labels(task, config, model, framework)
        losses = _harness(framework).train_losses(model, inputs, steps=self.train_steps, learning_rate=self.learning_rate)
        assert all(np.isfinite(losses)), losses
        assert losses[-1] < losses[0], f"{model_class.__name__}: loss did not go down: {losses}"

    @pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
    def test_inference_fast_path_matches_plain(self, framework, task, dtype):
        """A backend's inference fast path (PyTorch: ``optimize_for_inference``) gives the plain path's outputs.

        float32: within the default tolerance (1e-5 of each value and of the tensor's magnitude):
        the fast path only sums in another order. bfloat16: every layer rounds its outputs to
        8 bits of mantissa (eps 7.8e-3), and two kernels may round a value to neighbouring
        bfloat16 numbers, an error the next layers carry on; four eps of the magnitude
        (3.1e-2) allows that for a few layers while a wrong weight or bias moves outputs by far more.
        """
        harness = _harness(framework)
        model_class = self.model_class(framework, task)
        config = self.quiet_config(task)
        model = model_class(copy.deepcopy(config))
        plain, fast, _ = harness.fast_path_outputs(model, self.make_inputs(task, config), dtype)
        tolerance = {} if dtype == "float32" else {"rtol": 4 * 2.0 ** -7, "atol_scale": 4 * 2.0 ** -7}
        assert_outputs_close(plain, fast, where=f"{model_class.__name__} ({dtype}) fast path vs plain", **tolerance)

    def heads_to_prune(self, config) -> dict[int, list[int]]:
        """Heads the pruning check removes: the first head of the first layer, two of the last."""
        layers, heads = config.num_hidden_layers, config.num_attention_heads
        return {0: [0], layers - 1: sorted({heads - 1, heads // 2})} if layers > 1 else {0: [0, heads - 1]}

    def test_pruned_heads_in_every_framework(self, framework, task, tmp_path):
        """A pruned checkpoint (transformers 4.x layout) loads everywhere; pruning there gives the same weights."""
        reference_framework = self._reference()
        reference_class, model_class = self.model_class(reference_framework, task), self.model_class(framework, task)
        config = self.config_for(task)
        reference_class(copy.deepcopy(config)).save_pretrained(tmp_path / "full")
        _perturb_checkpoint(tmp_path / "full")
        to_prune = self.heads_to_prune(config)

        reference = reference_class.from_pretrained(tmp_path / "full")
        reference.prune_heads(to_prune)
        reference.save_pretrained(tmp_path / "pruned")
        loaded, info = model_class.from_pretrained(tmp_path / "pruned", output_loading_info=True)
        _assert_clean_load(info, f"{model_class.__name__} (pruned checkpoint)")
        assert {int(k): sorted(v) for k, v in loaded.config.pruned_heads.items()} == to_prune
        inputs = self.make_inputs(task, config)
        want = _harness(reference_framework).forward(reference, inputs)
        assert_outputs_close(want, _harness(framework).forward(loaded, inputs), where=f"{model_class.__name__} pruned")

        pruned_here = model_class.from_pretrained(tmp_path / "full")
        pruned_here.prune_heads(to_prune)
        pruned_here.save_pretrained(tmp_path / "pruned-here")
        assert_weights_equal(_saved_tensors(tmp_path / "pruned"), _saved_tensors(tmp_path / "pruned-here"),
                             where=f"{model_class.__name__}.prune_heads vs {reference_class.__name__}.prune_heads")
