"""First load in a fresh process: time and peak memory of ``from_pretrained``, ours against transformers.

    python bench/bench_load.py [--repeats 5] [--models distilbert bert vit] [--frameworks transformers torch keras flax]

As a module (``python -m bench`` imports it): ``run(args) -> dict``, where ``args`` has the
runner's options (``quick``, ``repeats``, ``models``, ``frameworks``; others are ignored).

Checkpoints: DistilBERT-base (265 MB), BERT with all-MiniLM-L6-v2's shape and ViT-Base
(224/16), random init (seed 0), saved by ``transformers`` (by our PyTorch model when it is
not installed). Each measurement is one child process that imports its library, starts its
framework's runtime with one tiny operation, then calls ``from_pretrained`` once, as a user's
first load does. Per model and framework, over ``repeats`` interleaved rounds (each round
runs every case once, in a rotating order, so that a busy machine slows all alike):

* ``first_load_s``: the runtime start plus the ``from_pretrained`` call (``load_s`` alone is
  kept too); ``import_s``: the imports before them; ``import_and_load_s``: all three, what a
  user waits for in a fresh process;
* ``peak_over_checkpoint``: the child's peak resident memory during ``from_pretrained``
  (VmHWM, reset just before through ``/proc/self/clear_refs``) minus its resident memory
  before it, over the checkpoint's size on disk. Target: at most 1.2 in every framework;
* ``heavy_imports``: ``torch._dynamo``, ``torch._inductor`` or ``sympy`` if the load imported
  them (it should not);
* ratios, taken round by round (median and quartiles): our first load over transformers'
  (target at most 1) and Keras over our PyTorch (target at most 1), each also with the imports.

Absolute times depend on the machine and its load; compare the ratios of one run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

# name -> (base class, transformers config keyword arguments: full size, --quick size)
MODELS = {
    "distilbert": ("DistilBertModel", "DistilBertConfig", {},
                   dict(vocab_size=100, dim=32, hidden_dim=64, n_layers=2, n_heads=2, max_position_embeddings=64)),
    "bert": ("BertModel", "BertConfig",
             dict(hidden_size=384, num_hidden_layers=6, num_attention_heads=12, intermediate_size=1536),
             dict(vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                  max_position_embeddings=64)),
    "vit": ("ViTModel", "ViTConfig", {},
            dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, image_size=32,
                 patch_size=8)),
}
FRAMEWORKS = ("transformers", "torch", "keras", "flax")
HEAVY = ("torch._dynamo", "torch._inductor", "sympy")
#: quantity of the memory rows (bench.common.MEMORY_AT_LOAD, which the runner draws).
MEMORY_AT_LOAD = "load_peak_rss_over_checkpoint"
_CLASS_PREFIX = {"transformers": "", "torch": "", "keras": "TF", "flax": "Flax"}

# One measurement. Peak memory is the child's own VmHWM (ru_maxrss would count the parent's
# memory at fork time), reset right before the load so that the imports' peak does not count.
CHILD = r"""
import json, sys, time
start = time.perf_counter()
framework, class_name, folder, heavy = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4].split(",")

def memory():
    status = open("/proc/self/status").read()
    return [int(status.split(key + ":")[1].split()[0]) * 1024 for key in ("VmRSS", "VmHWM")]

library = __import__("transformers" if framework == "transformers" else "polyformer")
cls = getattr(library, class_name)  # imports the framework
imported = time.perf_counter()
# The framework's runtime starts on its first operation (its thread pools, XLA's CPU client):
# timed apart, and before the memory baseline, since it is no part of the checkpoint's cost.
if framework in ("transformers", "torch"):
    import torch; (torch.ones(2) + 1).sum().item()
elif framework == "keras":
    import tensorflow as tf; float(tf.reduce_sum(tf.ones(2) + 1))
else:
    import jax.numpy as jnp; float((jnp.ones(2) + 1).sum())
runtime = time.perf_counter()
try:
    with open("/proc/self/clear_refs", "w") as handle:
        handle.write("5")  # resets VmHWM to the current resident size
except OSError:
    pass
modules = set(sys.modules)
rss_before, _ = memory()
began = time.perf_counter()
model = cls.from_pretrained(folder)
loaded = time.perf_counter()
rss_after, peak = memory()
found = sorted(m for m in set(sys.modules) - modules if m in heavy)
print("RESULT " + json.dumps({"import_s": imported - start, "runtime_s": runtime - imported, "load_s": loaded - began,
                              "rss_before": rss_before, "rss_after": rss_after, "peak": peak, "heavy_imports": found}))
"""

# Makes a checkpoint (in a child, so that this process stays free of torch and transformers).
MAKE = r"""
import json, sys, torch
folder, class_name, config_name, kwargs = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
try:
    import transformers as library
except ImportError:
    import polyformer as library
torch.manual_seed(0)
getattr(library, class_name)(getattr(library, config_name)(**kwargs)).save_pretrained(folder)
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=None, help="interleaved rounds (default 5; --quick 1)")
    parser.add_argument("--models", nargs="+", choices=sorted(MODELS), default=list(MODELS))
    parser.add_argument("--frameworks", nargs="+", choices=FRAMEWORKS, default=list(FRAMEWORKS))
    parser.add_argument("--quick", action="store_true", help="tiny models, one round: a smoke run")
    parser.add_argument("--checkpoints", help="folder to keep the checkpoints in (default: a temporary one)")
    parser.add_argument("--output", default="bench/results/load.json", help="JSON file to write")
    return parser


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update({"TF_CPP_MIN_LOG_LEVEL": "3", "HF_HUB_OFFLINE": "1", "HF_HUB_DISABLE_PROGRESS_BARS": "1",
                "TRANSFORMERS_VERBOSITY": "error", "TOKENIZERS_PARALLELISM": "false"})
    # The child imports what this process imports (polyformer and its plugins, from a checkout too).
    env["PYTHONPATH"] = os.pathsep.join(p for p in [*sys.path, env.get("PYTHONPATH", "")] if p)
    return env


def _run_child(code: str, *argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code, *argv], env=_child_env(), capture_output=True, text=True)


def make_checkpoint(folder: Path, model: str, quick: bool) -> Path:
    """The checkpoint of ``model`` in ``folder/model`` (made by transformers), unless it is there already."""
    class_name, config_name, full, tiny = MODELS[model]
    target = folder / (f"{model}-tiny" if quick else model)
    if not (target / "model.safetensors").is_file():
        result = _run_child(MAKE, str(target), class_name, config_name, json.dumps(tiny if quick else full))
        if result.returncode != 0:
            raise RuntimeError(f"making the {model} checkpoint failed:\n{result.stderr[-4000:]}")
    return target


def measure(framework: str, model: str, folder: Path) -> dict:
    """One fresh-process load; raises with the child's output when it fails."""
    class_name = _CLASS_PREFIX[framework] + MODELS[model][0]
    result = _run_child(CHILD, framework, class_name, str(folder), ",".join(HEAVY))
    lines = [line for line in result.stdout.splitlines() if line.startswith("RESULT ")]
    if result.returncode != 0 or not lines:
        raise RuntimeError(f"loading {model} with {framework} failed:\n{result.stdout}\n{result.stderr[-4000:]}")
    sample = json.loads(lines[-1][len("RESULT "):])
    sample["first_load_s"] = sample["runtime_s"] + sample["load_s"]
    sample["import_and_load_s"] = sample["import_s"] + sample["first_load_s"]
    return sample


def _available(frameworks: list[str], models: list[str]) -> tuple[list[tuple[str, str]], list[dict]]:
    """The (model, framework) cases that can run here, and the reasons for those that cannot."""
    import importlib.util

    import polyformer

    needs = {"transformers": "transformers", "torch": "torch", "keras": "tensorflow", "flax": "flax"}
    cases, skipped = [], []
    for model in models:
        for framework in frameworks:
            if importlib.util.find_spec(needs[framework]) is None:
                skipped.append({"model": model, "kind": framework, "reason": f"{needs[framework]} is not installed"})
            elif framework != "transformers" and _CLASS_PREFIX[framework] + MODELS[model][0] not in dir(polyformer):
                skipped.append({"model": model, "kind": framework, "reason": "no such model registered"})
            else:
                cases.append((model, framework))
    return cases, skipped


def _spread(values: list[float]) -> dict[str, float]:
    """Median and quartiles (the extremes below four values), and how many values there were."""
    values = sorted(values)
    if len(values) < 4:
        return {"median": statistics.median(values), "q1": values[0], "q3": values[-1], "n": len(values)}
    q1, median, q3 = statistics.quantiles(values, n=4)
    return {"median": median, "q1": q1, "q3": q3, "n": len(values)}


def run(args: argparse.Namespace | None = None) -> dict:
    """Measure every (model, framework) case over interleaved rounds; return the results as a dict.

    ``args`` may be the command line of this file or of ``python -m bench`` (options missing
    from it take their defaults). The dict holds ``cases`` (per ``model/framework``: spreads of
    each quantity), ``ratios`` (per-round ratios' spreads), ``rows`` (the runner's table rows,
    when :mod:`bench.common` is there), ``skipped`` and the run's settings.
    """
    defaults = build_parser().parse_args([])
    option = lambda name: getattr(args, name, None) or getattr(defaults, name)  # noqa: E731
    quick = bool(getattr(args, "quick", False))
    repeats = getattr(args, "repeats", None) or (1 if quick else 5)
    models = [m for m in option("models") if m in MODELS]
    cases, skipped = _available([f for f in option("frameworks") if f in FRAMEWORKS], models)
    skipped += [{"model": m, "reason": "not measured by this topic"} for m in option("models") if m not in MODELS]

    with tempfile.TemporaryDirectory(prefix="polyformer-bench-load-") as tmp:
        kept = getattr(args, "checkpoints", None)
        root = Path(kept) if kept else Path(tmp)
        root.mkdir(parents=True, exist_ok=True)
        folders = {model: make_checkpoint(root, model, quick) for model in {model for model, _ in cases}}
        sizes = {model: sum(p.stat().st_size for p in folder.glob("*.safetensors")) for model, folder in folders.items()}
        samples: dict[tuple[str, str], list[dict]] = {case: [] for case in cases}
        for round_ in range(repeats):
            shift = round_ % max(1, len(cases))
            for model, framework in cases[shift:] + cases[:shift]:
                print(f"[load] round {round_ + 1}/{repeats}: {model} {framework}", file=sys.stderr, flush=True)
                samples[model, framework].append(measure(framework, model, folders[model]))

    results: dict = {"repeats": repeats, "quick": quick, "cpus": os.cpu_count(), "loadavg": list(os.getloadavg()),
                     "checkpoint_bytes": sizes, "cases": {}, "ratios": {}, "skipped": skipped}
    for (model, framework), runs in samples.items():
        increases = [run["peak"] - run["rss_before"] for run in runs]
        results["cases"][f"{model}/{framework}"] = {
            **{key: _spread([run[key] for run in runs]) for key in ("first_load_s", "load_s", "runtime_s", "import_s", "import_and_load_s")},
            "peak_increase_mb": _spread([value / 1e6 for value in increases]),
            "peak_over_checkpoint": _spread([value / sizes[model] for value in increases]),
            "heavy_imports": sorted({name for run in runs for name in run["heavy_imports"]}),
        }
    pairs = {}
    for model in models:
        ours = [f for f in ("torch", "keras", "flax") if (model, f) in samples]
        pairs.update({f"{model}/{f} first load / transformers": (model, f, "transformers") for f in ours})
        pairs[f"{model}/keras first load / our torch"] = (model, "keras", "torch")
    for name, (model, a, b) in pairs.items():
        if (model, a) in samples and (model, b) in samples:  # rounds pair the runs: ratios per round
            for key, label in (("first_load_s", "first load"), ("import_and_load_s", "import and first load")):
                results["ratios"][name.replace("first load", label)] = _spread(
                    [x[key] / y[key] for x, y in zip(samples[model, a], samples[model, b])])
    results["rows"] = _rows(samples, sizes, pairs)
    return results


def _rows(samples: dict, sizes: dict, pairs: dict) -> list[dict]:
    """The rows of ``python -m bench``'s table (bench.common's format); none when run on its own."""
    try:
        from bench import common
    except ImportError:  # this file run alone, without the bench package
        return []
    rows = []
    for (model, framework), runs in samples.items():
        rows.append(common.value_row(
            "load", model, "", f"{framework} peak RSS at load / checkpoint",
            [(run["peak"] - run["rss_before"]) / sizes[model] for run in runs], quantity=MEMORY_AT_LOAD,
            unit="x", framework=framework, target=common.at_most(1.2, "issue 10: no second copy of the model")))
    for name, (model, a, b) in pairs.items():
        if (model, a) in samples and (model, b) in samples:
            for key, label in (("first_load_s", "first load"), ("import_and_load_s", "import and first load")):
                rows.append(common.ratio_row(
                    "load", model, "", f"{a} {label}", f"{b} {label}",
                    [run[key] for run in samples[model, a]], [run[key] for run in samples[model, b]],
                    target=common.at_most(1.0, "issue 10: first load") if key == "first_load_s" else None))
    return rows


def print_table(results: dict) -> None:
    print(f"{'case':<26}{'first load s (q1-q3)':>26}{'import s':>10}{'peak MB':>10}{'peak/ckpt':>11}  heavy imports")
    for case, row in results["cases"].items():
        load = row["first_load_s"]
        print(f"{case:<26}{load['median']:>11.3f} ({load['q1']:.3f}-{load['q3']:.3f})"
              f"{row['import_s']['median']:>10.2f}{row['peak_increase_mb']['median']:>10.0f}"
              f"{row['peak_over_checkpoint']['median']:>11.2f}  {', '.join(row['heavy_imports']) or '-'}")
    for name, ratio in results["ratios"].items():
        print(f"{name:<58}{ratio['median']:>7.2f} ({ratio['q1']:.2f}-{ratio['q3']:.2f})")
    for skip in results["skipped"]:
        print(f"skipped {skip.get('model', '')} {skip.get('kind', '')}: {skip['reason']}")
    print(f"({results['repeats']} interleaved rounds; {results['cpus']} CPUs, load average "
          f"{results['loadavg'][0]:.1f} at the end: compare ratios, not absolute times)")


def main(argv: list[str] | None = None) -> dict:
    args = build_parser().parse_args(argv)
    if args.repeats is not None and args.repeats < 1:
        raise SystemExit(f"--repeats must be at least 1, got {args.repeats}")
    results = run(args)
    print_table(results)
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    return results


if __name__ == "__main__":
    main()
