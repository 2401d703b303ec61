"""Forward passes of every architecture in every framework, against transformers and against each other.

For each model (``--models``; see :mod:`bench.models`) and each framework the registry has a
base model of it in, one checkpoint is loaded by transformers and by our PyTorch, Keras and
Flax models, and inference forward passes are timed. What is run (every one returns the
main output, ``last_hidden_state``, as a numpy array, so each includes getting the result):

==============  ===========================================================================
transformers    transformers' model, eval mode, under ``torch.inference_mode()``
torch           our PyTorch model, the same way (no opt-in, no compilation)
keras           our Keras model inside ``tf.function(jit_compile=True)``: XLA, what we
                tell Keras users to do for speed
keras-predict   Keras' own compiled inference: ``model.compile(jit_compile=True)`` then
                ``model.predict_on_batch(inputs)`` (the predict step Keras builds and XLA-compiles)
keras-eager     our Keras model called as it is, ``model(inputs, training=False)``: what a
                user who opts into nothing gets
flax            our Flax model called as it is, ``model(**inputs)``: it jit-compiles itself
                and checks its inputs' values (ids in range, a 0/1 mask) before the jit
flax-apply      the bare compiled path of JAX: ``jax.jit(lambda p, x: module.apply({"params": p},
                **x))``, donating nothing, on the same parameters: no input checks, nothing
                around the call
==============  ===========================================================================

"Best compiled path" of a framework is the last two kinds: the fastest way its own API
offers to run the same module compiled, with nothing of ours around it. ``keras`` and
``flax`` are compared with them (target: within 1.1x), with our PyTorch (target: PyTorch
not slower than them by more than 1.1x), and our PyTorch with transformers (target:
<= 0.6x at the table's shape, issue 10).

Every kind is checked against our PyTorch before it is timed (max abs difference, in the
JSON). Timings are interleaved rounds (:func:`bench.common.interleaved`) after two warm-up
calls; ratios are per round, summarised by median and quartiles.

Besides the table's shape (``--batch`` x ``--seq``; images at the model's size, 1 s of
audio), the scaling sweeps time the four main kinds at other shapes (``--quick``: the two
PyTorch ones): text models over ``--seq-lengths`` (at ``--batch``), every model over ``--batch-sizes``.

Devices: the CPU always; an accelerator (``torch.cuda``, a JAX or TensorFlow GPU) when one is
present, with each framework that can use it (``--devices`` picks).
"""

from __future__ import annotations

import gc
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

from .common import CLOCKS, at_least, at_most, interleaved, ratio_row, summary
from .models import Shape, checkpoint, default_shapes, frameworks_of, get_spec, length_unit, make_inputs, model_class

TOPIC = "forward"
#: The kinds the scaling sweeps time; the table's shape times every kind.
MAIN_KINDS = ("transformers", "torch", "keras", "flax")
TORCH_VS_TRANSFORMERS = at_most(0.6, "issue 10: our PyTorch well ahead of transformers, <= 0.6x at 8x128")
VS_TORCH = at_least(1 / 1.1, "issue 10: our PyTorch not slower than our Keras / Flax by more than 1.1x")
VS_BEST_COMPILED = at_most(1.1, "issue 10: Keras and Flax within 1.1x of their framework's best compiled path")


def _ints(text: str) -> list[int]:
    import argparse

    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        values = []
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected positive integers separated by commas, e.g. 1,8,32; got {text!r}")
    return values


def add_arguments(parser) -> None:
    group = parser.add_argument_group("forward topic")
    group.add_argument("--batch", type=int, help="batch size of the table's shape (default 8; --quick 2)")
    group.add_argument("--seq", type=int, help="tokens per text input in the table's shape (default 128; --quick 16)")
    group.add_argument("--seq-lengths", type=_ints, metavar="N,N,...",
                       help="text sweep, tokens at --batch (default 64,128,256,512; --quick 8,16)")
    group.add_argument("--batch-sizes", type=_ints, metavar="N,N,...",
                       help="batch sweep, every model (default 1,8,32; --quick 1,2)")
    group.add_argument("--no-sweeps", action="store_true", help="time the table's shape only")
    group.add_argument("--clock", choices=sorted(CLOCKS), default="wall",
                       help="wall: the time a user waits (default); cpu: the process's CPU time, every thread's, "
                            "steadier on a machine so loaded that a forward mostly waits for a core")
    group.add_argument("--case-budget", type=float, default=60.0,
                       help="seconds of timing per shape, past which fewer rounds are run (at least 5; default 60)")


def settings(args) -> dict:
    quick = args.quick
    batch = args.batch or (2 if quick else 8)
    return {
        "batch": batch,
        "seq": args.seq or (16 if quick else 128),
        "seq_lengths": [] if args.no_sweeps else (args.seq_lengths or ([8, 16] if quick else [64, 128, 256, 512])),
        "batch_sizes": [] if args.no_sweeps else (args.batch_sizes or ([1, 2] if quick else [1, 8, 32])),
        # --quick is a smoke run: its sweeps time the two PyTorch kinds only (no XLA compile per shape)
        "sweep_kinds": ["transformers", "torch"] if quick else list(MAIN_KINDS),
        "repeats": args.repeats or (3 if quick else 10),
        "min_sample_s": 0.002 if quick else 0.05,
        "case_budget_s": args.case_budget,
        "clock": args.clock,
    }


# ---- the frameworks, each on a device --------------------------------------------------------
class Side:
    """How one library loads a checkpoint onto a device and runs it; ``kinds`` names what it times."""

    name = ""
    kinds: tuple[str, ...] = ()

    def __init__(self, device: str) -> None:
        self.device = device  # "cpu" or "accelerator"

    def load(self, spec, folder: Path):
        raise NotImplementedError

    def runners(self, model, inputs: dict[str, np.ndarray]) -> dict:
        raise NotImplementedError


class TorchSide(Side):
    name, kinds = "torch", ("torch",)

    @staticmethod
    def accelerator() -> str | None:
        import torch

        return torch.cuda.get_device_name(0) if torch.cuda.is_available() else None

    @property
    def torch_device(self) -> str:
        return "cuda" if self.device == "accelerator" else "cpu"

    def load(self, spec, folder):
        return model_class(spec, "torch").from_pretrained(folder).to(self.torch_device).eval()

    def runners(self, model, inputs):
        import torch

        tensors = {name: torch.from_numpy(value).to(self.torch_device) for name, value in inputs.items()}

        def run():
            with torch.inference_mode():
                return model(**tensors).last_hidden_state.cpu().numpy()

        return {self.kinds[0]: run}


class TransformersSide(TorchSide):
    name, kinds = "transformers", ("transformers",)

    def load(self, spec, folder):
        import transformers

        transformers.logging.set_verbosity_error()
        transformers.utils.logging.disable_progress_bar()
        return transformers.AutoModel.from_pretrained(folder).to(self.torch_device).eval()


class KerasSide(Side):
    name, kinds = "keras", ("keras", "keras-predict", "keras-eager")

    @staticmethod
    def accelerator() -> str | None:
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
        return gpus[0].name if gpus else None

    def scope(self):
        import tensorflow as tf

        return tf.device("/GPU:0" if self.device == "accelerator" else "/CPU:0")

    def load(self, spec, folder):
        with self.scope():
            model = model_class(spec, "keras").from_pretrained(folder)
        model.compile(jit_compile=True)  # for predict_on_batch: Keras' own XLA-compiled predict step
        return model

    def runners(self, model, inputs):
        import tensorflow as tf

        with self.scope():
            tensors = {name: tf.constant(_framework_dtype(value)) for name, value in inputs.items()}
        compiled = tf.function(lambda x: model(x, training=False).last_hidden_state, jit_compile=True)
        arrays = {name: _framework_dtype(value) for name, value in inputs.items()}

        def run_xla():
            with self.scope():
                return compiled(tensors).numpy()

        def run_predict():
            with self.scope():
                return model.predict_on_batch(arrays)["last_hidden_state"]

        def run_eager():
            with self.scope():
                return model(tensors, training=False).last_hidden_state.numpy()

        return {"keras": run_xla, "keras-predict": run_predict, "keras-eager": run_eager}


class FlaxSide(Side):
    name, kinds = "flax", ("flax", "flax-apply")

    @staticmethod
    def accelerator() -> str | None:
        import jax

        try:
            gpus = jax.devices("gpu")
        except RuntimeError:
            return None
        return str(gpus[0].device_kind) if gpus else None

    def jax_device(self):
        import jax

        return jax.devices("gpu" if self.device == "accelerator" else "cpu")[0]

    def load(self, spec, folder):
        import jax

        model = model_class(spec, "flax").from_pretrained(folder)
        model.params = jax.device_put(model.params, self.jax_device())
        return model

    def runners(self, model, inputs):
        import jax

        arrays = {name: jax.device_put(_framework_dtype(value), self.jax_device()) for name, value in inputs.items()}
        module = model.module

        def apply(params, x):
            return module.apply({"params": params}, **x, train=False, return_dict=True).last_hidden_state

        applied = jax.jit(apply)

        def run_model():
            return np.asarray(model(**arrays).last_hidden_state)

        def run_apply():
            return np.asarray(applied(model.params, arrays))

        return {"flax": run_model, "flax-apply": run_apply}


SIDES = {"transformers": TransformersSide, "torch": TorchSide, "keras": KerasSide, "flax": FlaxSide}


def _framework_dtype(value: np.ndarray) -> np.ndarray:
    """Integer inputs as int32 for TensorFlow and JAX (JAX has no int64 unless x64 is on)."""
    return value.astype(np.int32) if value.dtype == np.int64 else value


def accelerators(frameworks: list[str]) -> dict[str, str]:
    """The accelerator each framework sees, by framework (empty on a CPU-only machine)."""
    found = {}
    for framework in frameworks:
        side = SIDES["torch" if framework == "transformers" else framework]
        try:
            name = side.accelerator()
        except ImportError:
            name = None
        if name:
            found[framework] = name
    return found


# ---- measuring ---------------------------------------------------------------------------
def _say(message: str) -> None:
    print(f"[forward] {message}", file=sys.stderr, flush=True)


def _comparisons(kinds: set[str], table_shape: bool) -> list[tuple[str, str, dict | None]]:
    """(numerator, denominator, target) of the rows made from the kinds timed at one shape."""
    pairs = [("torch", "transformers", TORCH_VS_TRANSFORMERS if table_shape else None),
             ("keras", "torch", VS_TORCH), ("flax", "torch", VS_TORCH),
             ("keras", "keras-predict", VS_BEST_COMPILED), ("flax", "flax-apply", VS_BEST_COMPILED),
             ("keras-eager", "keras", None)]
    return [(a, b, target) for a, b, target in pairs if a in kinds and b in kinds]


def measure_shape(spec, config, shape: Shape, loaded: dict, device: str, plan: dict, table_shape: bool,
                  result: dict) -> None:
    """Time every kind of ``loaded`` at ``shape`` on ``device``; add rows, times and checks to ``result``."""
    inputs = make_inputs(spec, config, shape)
    size = shape.label(spec.modality)
    runners = {}
    for framework, (side, model) in loaded.items():
        for kind, run in side.runners(model, inputs).items():
            if table_shape or kind in plan["sweep_kinds"]:
                runners[kind] = run
    _say(f"{spec.name} {size} on {device}: compiling and checking {', '.join(runners)}")
    outputs = {}
    for kind, run in list(runners.items()):
        try:
            run()  # compiles
            outputs[kind] = run()
        except Exception as error:  # one framework failing must not hide the others' figures
            result["skipped"].append({"model": spec.name, "size": size, "device": device, "kind": kind,
                                      "reason": f"{type(error).__name__}: {error}"})
            _say(f"  {kind} failed, skipped: {type(error).__name__}: {error}")
            del runners[kind]
    reference = outputs.get("torch")
    for kind, output in outputs.items():
        if kind != "torch" and reference is not None:
            result["checks"].append({"model": spec.name, "size": size, "device": device, "kind": kind,
                                     "max_abs_diff_vs_torch": float(np.abs(output - reference).max()),
                                     "max_abs_output": float(np.abs(reference).max())})
    times = interleaved(runners, plan["repeats"], min_sample_s=plan["min_sample_s"], budget_s=plan["case_budget_s"],
                        clock=CLOCKS[plan["clock"]])
    for kind, samples in times.items():
        result["times"].append({"model": spec.name, "modality": spec.modality, "device": device, "kind": kind,
                                "batch": shape.batch, "length": shape.length, "size": size,
                                "table_shape": table_shape, "seconds": summary(samples)})
    for a, b, target in _comparisons(set(times), table_shape):
        diff = float(np.abs(outputs[a] - outputs[b]).max())
        result["rows"].append(ratio_row(TOPIC, spec.name, size, a, b, times[a], times[b], target=target, device=device,
                                        table_shape=table_shape, max_abs_diff=diff))
    line = ", ".join(f"{kind} {summary(samples)['median'] * 1e3:.1f} ms" for kind, samples in times.items())
    _say(f"  {line}")


def sweep_shapes(spec, table: Shape, plan: dict) -> list[Shape]:
    shapes = []
    if spec.modality == "text":
        shapes += [Shape(table.batch, n) for n in plan["seq_lengths"]]
    shapes += [Shape(n, table.length) for n in plan["batch_sizes"]]
    unique = []
    for shape in shapes:
        if shape != table and shape not in unique:
            unique.append(shape)
    return unique


def measure_model(spec, folder: Path, device: str, frameworks: list[str], plan: dict, quick: bool,
                  result: dict) -> None:
    from polyformer import AutoConfig

    config = AutoConfig.from_pretrained(folder)
    loaded = {}
    for framework in frameworks:
        side = SIDES[framework](device)
        try:
            loaded[framework] = (side, side.load(spec, folder))
        except Exception as error:
            result["skipped"].append({"model": spec.name, "device": device, "kind": framework,
                                      "reason": f"load failed: {type(error).__name__}: {error}"})
            _say(f"{spec.name}: {framework} could not load the checkpoint, skipped: {error}")
    table = default_shapes(spec, config, quick, plan["batch"], plan["seq"])
    measure_shape(spec, config, table, loaded, device, plan, True, result)
    for shape in sweep_shapes(spec, table, plan):
        measure_shape(spec, config, shape, loaded, device, plan, False, result)
    loaded.clear()
    gc.collect()


def run(args) -> dict:
    """Measure and return ``{"rows", "times", "checks", "skipped", "settings", "models", "accelerators"}``."""
    import importlib.util

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    plan = settings(args)
    wanted = set(args.frameworks)
    result = {"rows": [], "times": [], "checks": [], "skipped": [], "settings": plan, "models": {}}
    if importlib.util.find_spec("torch") is None:
        result["skipped"].append({"reason": "PyTorch is not installed: every comparison here is to our PyTorch "
                                            "model (pip install 'polyformer[torch]')"})
        return result
    have_transformers = importlib.util.find_spec("transformers") is not None
    if not have_transformers and "transformers" in wanted:
        result["skipped"].append({"kind": "transformers", "reason": "transformers is not installed"})
    candidates = ["transformers"] if have_transformers and "transformers" in wanted else []
    found = accelerators([f for f in ("torch", "keras", "flax") if f in wanted or f == "torch"]
                         ) if "accelerator" in args.devices else {}
    result["accelerators"] = found
    with tempfile.TemporaryDirectory(prefix="polyformer-bench-") as tmp:
        for name in args.models:
            spec = get_spec(name)
            ours = [f for f in frameworks_of(spec) if f in wanted or f == "torch"]
            missing = [f for f in ("torch", "keras", "flax") if f in wanted and f not in ours]
            if missing:
                result["skipped"].append({"model": name, "kind": ", ".join(missing),
                                          "reason": "no base model registered in this framework (or its library "
                                                    "is not installed)"})
            if "torch" not in ours:
                _say(f"{name}: no PyTorch model registered, skipped")
                continue
            folder, weights = checkpoint(spec, Path(tmp) / name, args.quick)
            result["models"][name] = {"title": spec.title if not args.quick else f"tiny {spec.model_type} (--quick)",
                                      "weights": weights, "modality": spec.modality,
                                      "length_unit": length_unit(spec.modality), "frameworks": ours}
            for device in args.devices:
                if device == "accelerator":
                    on_device = [f for f in candidates + ours if (found.get("torch") if f == "transformers"
                                                                    else found.get(f))]
                    if not on_device:
                        continue
                else:
                    on_device = candidates + ours
                measure_model(spec, folder, device, on_device, plan, args.quick, result)
    return result
