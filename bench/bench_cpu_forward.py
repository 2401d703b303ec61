"""CPU forward of our PyTorch models against transformers, and against the CPU's GEMM rate.

    python bench/bench_cpu_forward.py [--shapes 1x128,8x128,32x128,8x512] [--dtypes float32,bfloat16]
                                      [--repeats 5] [--layers 6] [--output bench/results/cpu_forward.json]

Two parts, both in float32 and bfloat16:

* **GEMM rate per library**, one library per subprocess (so that no library's threads or
  allocator settings affect another's): PyTorch's ``torch.mm`` (MKL sgemm in float32),
  oneDNN's linear through PyTorch with prepacked weights (``torch.ops.mkldnn._linear_pointwise``),
  ``jax.jit`` of a matmul, TensorFlow's ``tf.matmul`` in a ``tf.function``. Each runs the three
  GEMMs of a DistilBERT-base layer (768x768, 768x3072, 3072x768) on ``--gemm-rows`` rows;
  its rate is their FLOPs over the sum of their median times.
* **Forward** of DistilBERT-base (``--layers`` layers; random init, fixed seed, saved by
  transformers in a temporary folder) at each batch x sequence shape: transformers, ours on the
  plain path, ours after ``optimize_for_inference()`` (measured choice, as a user gets it),
  interleaved, medians. Reported: the time ratios, the forward's rate in GFLOP/s (the FLOPs of
  its matmuls) as a fraction of the best library's GEMM rate, and the largest difference of the
  fast path from the plain one relative to the output's magnitude.

Timings interleave the candidates and report medians and quartiles, so machine noise hits
all alike; nothing here is a test. ``run(...)`` returns the figures as a dict (for
``python -m bench``); ``__main__`` prints them and writes JSON.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

LIBRARIES = ("torch_mm", "torch_onednn", "jax", "tensorflow")
SHAPES = ("1x128", "8x128", "32x128", "8x512")
DTYPES = ("float32", "bfloat16")
GEMMS = ((768, 768), (768, 3072), (3072, 768))  # (in, out) of DistilBERT-base's linears


def _spread(values: list[float]) -> dict[str, float]:
    """Median and quartiles of a list of timings."""
    if len(values) == 1:
        return {"median": values[0], "q1": values[0], "q3": values[0]}
    q1, median, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return {"median": median, "q1": q1, "q3": q3}


def _interleaved(fns: dict, repeats: int, warmup: int = 1) -> dict[str, list[float]]:
    """Seconds per call of each function, the functions called in turn ``repeats`` times."""
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return times


# ---- GEMM rate, one library per process --------------------------------------------------
def _gemm_calls(library: str, dtype: str, rows: int) -> list:
    """One zero-argument function per GEMM of :data:`GEMMS`, each returning when its result is ready."""
    import numpy as np

    rng = np.random.default_rng(0)
    pairs = [(rng.standard_normal((rows, k), dtype=np.float32), rng.standard_normal((k, n), dtype=np.float32))
             for k, n in GEMMS]
    if library in ("torch_mm", "torch_onednn"):
        import torch

        torch_dtype = getattr(torch, dtype)
        calls = []
        for a, b in pairs:
            x, w = torch.from_numpy(a).to(torch_dtype), torch.from_numpy(b).to(torch_dtype)
            if library == "torch_mm":
                calls.append(lambda x=x, w=w: torch.mm(x, w))
            else:
                packed = torch.ops.mkldnn._reorder_linear_weight(w.t().contiguous(), rows)
                calls.append(lambda x=x, p=packed: torch.ops.mkldnn._linear_pointwise(x, p, None, "none", [], ""))
        return [lambda c=c: _torch_no_grad(c) for c in calls]
    if library == "jax":
        import jax
        import jax.numpy as jnp

        matmul = jax.jit(jnp.matmul)
        arrays = [(jnp.asarray(a, dtype=dtype), jnp.asarray(b, dtype=dtype)) for a, b in pairs]
        return [lambda x=x, w=w: matmul(x, w).block_until_ready() for x, w in arrays]
    if library == "tensorflow":
        import tensorflow as tf

        matmul = tf.function(tf.matmul)
        tensors = [(tf.constant(a, dtype=dtype), tf.constant(b, dtype=dtype)) for a, b in pairs]
        return [lambda x=x, w=w: matmul(x, w).numpy() for x, w in tensors]
    raise ValueError(f"library must be one of {', '.join(LIBRARIES)}, got {library!r}")


def _torch_no_grad(call):
    import torch

    with torch.inference_mode():
        return call()


def gemm_rate(library: str, dtype: str, rows: int, repeats: int) -> dict:
    """GFLOP/s of ``library`` on :data:`GEMMS` at ``rows`` rows (run in this process)."""
    calls = _gemm_calls(library, dtype, rows)
    times = _interleaved(dict(enumerate(calls)), repeats, warmup=2)
    flops = sum(2 * rows * k * n for k, n in GEMMS)
    seconds = sum(statistics.median(t) for t in times.values())
    return {"gflops": flops / seconds / 1e9, "seconds": seconds}


def gemm_rate_in_subprocess(library: str, dtype: str, rows: int, repeats: int) -> dict:
    """:func:`gemm_rate` in a fresh interpreter; ``{"error": ...}`` when the library cannot run it."""
    command = [sys.executable, str(Path(__file__).resolve()), "--gemm", library, "--dtypes", dtype,
               "--gemm-rows", str(rows), "--repeats", str(repeats)]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        return {"error": (done.stderr.strip().splitlines() or ["exit status %d" % done.returncode])[-1]}
    return json.loads(done.stdout.strip().splitlines()[-1])


# ---- forward ---------------------------------------------------------------------------------
def forward_flops(config, batch: int, seq: int) -> int:
    """FLOPs of a DistilBERT forward's matmuls: the linears, and attention's two products per layer."""
    tokens = batch * seq
    linears = 4 * config.dim * config.dim + 2 * config.dim * config.hidden_dim
    attention = 2 * 2 * batch * seq * seq * config.dim
    return config.n_layers * (2 * tokens * linears + attention)


def forward_case(models: dict, config, batch: int, seq: int, repeats: int) -> dict:
    """Interleaved forward times of ``models`` (name -> model) at ``batch`` x ``seq``, and their ratios."""
    import torch

    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(0, config.vocab_size, (batch, seq), generator=generator)
    mask = torch.ones_like(ids)

    def call(model):
        return lambda: model(input_ids=ids, attention_mask=mask).last_hidden_state

    with torch.inference_mode():
        plain = call(models["ours_plain"])().float()
        fast = call(models["ours_fast"])().float()
        times = _interleaved({name: call(model) for name, model in models.items()}, repeats)
    spreads = {name: _spread(values) for name, values in times.items()}
    median = {name: spread["median"] for name, spread in spreads.items()}
    flops = forward_flops(config, batch, seq)
    return {
        "seconds": spreads,
        "fast_over_transformers": median["ours_fast"] / median["transformers"],
        "plain_over_transformers": median["ours_plain"] / median["transformers"],
        "fast_over_plain": median["ours_fast"] / median["ours_plain"],
        "gflops": {name: flops / seconds / 1e9 for name, seconds in median.items()},
        "fast_vs_plain_max_abs_diff": float((fast - plain).abs().max()),
        "fast_vs_plain_max_rel_diff": float((fast - plain).abs().max() / plain.abs().max()),
    }


def run(shapes=SHAPES, dtypes=DTYPES, repeats: int = 5, layers: int = 6, libraries=LIBRARIES,
        gemm_rows: int = 1024, threads: int = 0) -> dict:
    """Measure everything the module docstring lists; returns the figures as a JSON-ready dict."""
    import torch
    import transformers

    import polyformer

    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()
    if threads:
        torch.set_num_threads(threads)
    parsed = [tuple(int(n) for n in shape.split("x")) for shape in shapes]
    results: dict = {"machine": _machine(), "threads": torch.get_num_threads(), "torch": torch.__version__,
                     "transformers": transformers.__version__, "gemm_rows": gemm_rows, "repeats": repeats,
                     "gemm": {}, "forward": {}}
    for dtype in dtypes:
        rates = {lib: gemm_rate_in_subprocess(lib, dtype, gemm_rows, repeats) for lib in libraries}
        best = max((r["gflops"], lib) for lib, r in rates.items() if "gflops" in r) if any(
            "gflops" in r for r in rates.values()) else (None, None)
        results["gemm"][dtype] = {"rates": rates, "best_library": best[1], "best_gflops": best[0]}
        print(f"[{dtype} GEMM] {json.dumps(rates)}", file=sys.stderr, flush=True)

    with tempfile.TemporaryDirectory() as folder:
        torch.manual_seed(0)
        reference_config = transformers.DistilBertConfig(n_layers=layers)
        transformers.DistilBertModel(reference_config).save_pretrained(folder)
        for dtype in dtypes:
            torch_dtype = getattr(torch, dtype)
            models = {
                "transformers": transformers.DistilBertModel.from_pretrained(folder, dtype=torch_dtype).eval(),
                "ours_plain": polyformer.DistilBertModel.from_pretrained(folder, dtype=torch_dtype).eval(),
                "ours_fast": polyformer.DistilBertModel.from_pretrained(folder, dtype=torch_dtype).eval(),
            }
            choices = models["ours_fast"].optimize_for_inference()
            config = models["ours_plain"].config
            cases = {}
            for batch, seq in parsed:
                case = forward_case(models, config, batch, seq, repeats)
                best = results["gemm"][dtype]["best_gflops"]
                if best:
                    case["fast_fraction_of_best_gemm"] = case["gflops"]["ours_fast"] / best
                    case["transformers_fraction_of_best_gemm"] = case["gflops"]["transformers"] / best
                cases[f"{batch}x{seq}"] = case
                print(f"[{dtype} {batch}x{seq}] fast/transformers {case['fast_over_transformers']:.2f}, "
                      f"fast/plain {case['fast_over_plain']:.2f}", file=sys.stderr, flush=True)
            paths = [choice.path for choice in choices.values()]
            results["forward"][dtype] = {
                "fast_path_linears": {"onednn": paths.count("onednn"), "plain": paths.count("plain")},
                "cases": cases,
            }
            del models
    return results


def _machine() -> str:
    """The CPU's model name and core count, as the OS reports them."""
    import os
    import platform

    name = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{name}, {os.cpu_count()} logical CPUs"


def _print(results: dict) -> None:
    print(f"{results['machine']}; torch {results['torch']} ({results['threads']} threads), "
          f"transformers {results['transformers']}")
    for dtype, gemm in results["gemm"].items():
        rates = ", ".join(f"{lib} {r['gflops']:.0f}" if "gflops" in r else f"{lib} n/a ({r['error'][:60]})"
                          for lib, r in gemm["rates"].items())
        print(f"GEMM GFLOP/s {dtype} at {results['gemm_rows']} rows: {rates}")
    header = f"{'dtype':<9} {'shape':<7} {'fast/tf':>8} {'plain/tf':>9} {'fast/plain':>11} {'fast GF/s':>10} " \
             f"{'of best':>8} {'tf of best':>11} {'rel diff':>9}  (medians; fast [q1, q3] s)"
    print(header)
    for dtype, forward in results["forward"].items():
        for shape, case in forward["cases"].items():
            fast = case["seconds"]["ours_fast"]
            print(f"{dtype:<9} {shape:<7} {case['fast_over_transformers']:>8.2f} {case['plain_over_transformers']:>9.2f} "
                  f"{case['fast_over_plain']:>11.2f} {case['gflops']['ours_fast']:>10.0f} "
                  f"{case.get('fast_fraction_of_best_gemm', float('nan')):>8.2f} "
                  f"{case.get('transformers_fraction_of_best_gemm', float('nan')):>11.2f} "
                  f"{case['fast_vs_plain_max_rel_diff']:>9.1e}  [{fast['q1']:.3f}, {fast['q3']:.3f}]")
        print(f"{dtype}: linears on oneDNN after optimize_for_inference(): {forward['fast_path_linears']}")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shapes", default=",".join(SHAPES), help="batch x sequence cases, comma-separated")
    parser.add_argument("--dtypes", default=",".join(DTYPES))
    parser.add_argument("--libraries", default=",".join(LIBRARIES))
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--layers", type=int, default=6, help="DistilBERT layers (6: DistilBERT-base)")
    parser.add_argument("--gemm-rows", type=int, default=1024, help="rows of the GEMM-rate inputs (8x128 tokens)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: leave the default)")
    parser.add_argument("--output", default="bench/results/cpu_forward.json")
    parser.add_argument("--gemm", choices=LIBRARIES, help=argparse.SUPPRESS)  # the per-library subprocess
    args = parser.parse_args(argv)
    dtypes = args.dtypes.split(",")
    if args.gemm:
        print(json.dumps(gemm_rate(args.gemm, dtypes[0], args.gemm_rows, args.repeats)))
        return
    results = run(shapes=args.shapes.split(","), dtypes=dtypes, repeats=args.repeats, layers=args.layers,
                  libraries=args.libraries.split(","), gemm_rows=args.gemm_rows, threads=args.threads)
    _print(results)
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
