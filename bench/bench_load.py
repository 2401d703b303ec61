"""First load in a fresh process: time and peak memory of ``from_pretrained``, ours against transformers.

    python bench/bench_load.py [--repeats 5] [--models distilbert vit] [--frameworks transformers torch keras flax]

Checkpoints: DistilBERT-base and ViT-Base (224/16, with its pooler), random init (seed 0),
saved by ``transformers``. Each measurement is one child process that imports its library
(and framework), then calls ``from_pretrained`` once, as a user's first load does. Reported
per model and framework, medians and quartiles over ``--repeats`` interleaved runs (each
round runs every case once, in a rotating order, so that a busy machine slows all alike):

* ``load_s``: the ``from_pretrained`` call; ``import_s``: the imports before it;
* ``peak_over_checkpoint``: the child's peak resident memory during the load (VmHWM, reset
  just before loading through ``/proc/self/clear_refs``) minus its resident memory before the
  load, over the checkpoint's size on disk. Target: at most 1.2 in every framework;
* ``heavy_imports``: ``torch._dynamo`` or ``sympy`` if the load imported them (it should not);
* ratios: our load time over transformers' (target at most 1) and Keras over our PyTorch.

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

MODELS = {"distilbert": "DistilBertModel", "vit": "ViTModel"}
FRAMEWORKS = ("transformers", "torch", "keras", "flax")
_CLASS_PREFIX = {"torch": "", "keras": "TF", "flax": "Flax"}

# One measurement. Peak memory is the child's own VmHWM (ru_maxrss would count the parent's
# memory at fork time), reset right before the load so that the imports' peak does not count.
CHILD = r"""
import json, sys, time
start = time.perf_counter()
framework, class_name, folder = sys.argv[1:4]

def memory():
    status = open("/proc/self/status").read()
    return [int(status.split(key + ":")[1].split()[0]) * 1024 for key in ("VmRSS", "VmHWM")]

if framework == "transformers":
    import transformers
    cls = getattr(transformers, class_name)
else:
    import polyformer
    cls = getattr(polyformer, class_name)
imported = time.perf_counter()
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
heavy = sorted(m for m in set(sys.modules) - modules if m in ("torch._dynamo", "sympy"))
print("RESULT " + json.dumps({"import_s": imported - start, "load_s": loaded - began, "rss_before": rss_before,
                              "rss_after": rss_after, "peak": peak, "heavy_imports": heavy}))
"""

# Makes the checkpoints (in a child, so that this process stays free of torch and transformers).
MAKE = r"""
import sys, torch, transformers
folder, which = sys.argv[1:3]
torch.manual_seed(0)
if which == "distilbert":
    model = transformers.DistilBertModel(transformers.DistilBertConfig())
else:
    model = transformers.ViTModel(transformers.ViTConfig())
model.save_pretrained(folder)
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5, help="interleaved rounds (default 5)")
    parser.add_argument("--models", nargs="+", choices=sorted(MODELS), default=list(MODELS))
    parser.add_argument("--frameworks", nargs="+", choices=FRAMEWORKS, default=list(FRAMEWORKS))
    parser.add_argument("--checkpoints", help="folder to keep the checkpoints in (default: a temporary one)")
    parser.add_argument("--output", default="bench/results/load.json")
    return parser


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update({"TF_CPP_MIN_LOG_LEVEL": "3", "HF_HUB_OFFLINE": "1", "HF_HUB_DISABLE_PROGRESS_BARS": "1",
                "TRANSFORMERS_VERBOSITY": "error", "TOKENIZERS_PARALLELISM": "false"})
    return env


def make_checkpoint(folder: Path, model: str) -> Path:
    """The checkpoint of ``model`` in ``folder/model``, made by transformers unless it is there already."""
    target = folder / model
    if not (target / "model.safetensors").is_file():
        subprocess.run([sys.executable, "-c", MAKE, str(target), model], check=True, env=_child_env(),
                       capture_output=True, text=True)
    return target


def measure(framework: str, model: str, folder: Path) -> dict:
    """One fresh-process load; raises with the child's output when it fails."""
    class_name = MODELS[model] if framework == "transformers" else _CLASS_PREFIX[framework] + MODELS[model]
    result = subprocess.run([sys.executable, "-c", CHILD, framework, class_name, str(folder)], env=_child_env(),
                            capture_output=True, text=True)
    lines = [line for line in result.stdout.splitlines() if line.startswith("RESULT ")]
    if result.returncode != 0 or not lines:
        raise RuntimeError(f"loading {model} with {framework} failed:\n{result.stdout}\n{result.stderr[-4000:]}")
    return json.loads(lines[-1][len("RESULT "):])


def _spread(values: list[float]) -> dict[str, float]:
    """Median and quartiles (the quartiles are the extremes below four values)."""
    values = sorted(values)
    if len(values) < 4:
        return {"median": statistics.median(values), "q1": values[0], "q3": values[-1]}
    q1, median, q3 = statistics.quantiles(values, n=4)
    return {"median": median, "q1": q1, "q3": q3}


def run(args: argparse.Namespace) -> dict:
    """Measure every (model, framework) case ``args.repeats`` times, interleaved; return the results."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(args.checkpoints) if args.checkpoints else Path(tmp)
        root.mkdir(parents=True, exist_ok=True)
        folders = {model: make_checkpoint(root, model) for model in args.models}
        sizes = {model: sum(p.stat().st_size for p in folder.glob("*.safetensors")) for model, folder in folders.items()}
        cases = [(model, framework) for model in args.models for framework in args.frameworks]
        samples: dict[tuple[str, str], list[dict]] = {case: [] for case in cases}
        for round_ in range(args.repeats):
            shift = round_ % len(cases)
            for model, framework in cases[shift:] + cases[:shift]:
                samples[model, framework].append(measure(framework, model, folders[model]))

    results: dict = {"repeats": args.repeats, "cpus": os.cpu_count(), "loadavg": os.getloadavg(),
                     "checkpoint_bytes": sizes, "cases": {}, "ratios": {}}
    for (model, framework), runs in samples.items():
        increases = [run["peak"] - run["rss_before"] for run in runs]
        results["cases"][f"{model}/{framework}"] = {
            "load_s": _spread([run["load_s"] for run in runs]),
            "import_s": _spread([run["import_s"] for run in runs]),
            "peak_increase_mb": _spread([value / 1e6 for value in increases]),
            "peak_over_checkpoint": _spread([value / sizes[model] for value in increases]),
            "heavy_imports": sorted({name for run in runs for name in run["heavy_imports"]}),
        }
    for model in args.models:
        # Ratios of medians of runs taken in the same rounds.
        load = {fw: results["cases"][f"{model}/{fw}"]["load_s"]["median"] for fw in args.frameworks}
        if "transformers" in load:
            for framework in args.frameworks:
                if framework != "transformers":
                    results["ratios"][f"{model}/{framework} load / transformers"] = load[framework] / load["transformers"]
        if "keras" in load and "torch" in load:
            results["ratios"][f"{model}/keras load / our torch"] = load["keras"] / load["torch"]
    return results


def print_table(results: dict) -> None:
    print(f"{'case':<26}{'load s (q1-q3)':>24}{'import s':>10}{'peak MB':>10}{'peak/ckpt':>11}  heavy imports")
    for case, row in results["cases"].items():
        load = row["load_s"]
        print(f"{case:<26}{load['median']:>9.3f} ({load['q1']:.3f}-{load['q3']:.3f})"
              f"{row['import_s']['median']:>10.2f}{row['peak_increase_mb']['median']:>10.0f}"
              f"{row['peak_over_checkpoint']['median']:>11.2f}  {', '.join(row['heavy_imports']) or '-'}")
    for name, ratio in results["ratios"].items():
        print(f"{name:<44}{ratio:>7.2f}")
    print(f"({results['repeats']} interleaved rounds; {results['cpus']} CPUs, load average "
          f"{results['loadavg'][0]:.1f} at the end: compare ratios, not absolute times)")


def main(argv: list[str] | None = None) -> dict:
    args = build_parser().parse_args(argv)
    results = run(args)
    print_table(results)
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    return results


if __name__ == "__main__":
    main()
