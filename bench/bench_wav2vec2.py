"""wav2vec2-base on 10-second clips: our PyTorch forward against transformers', time and peak memory.

    python bench/bench_wav2vec2.py [--batch 4] [--seconds 10] [--repeats 5] [--memory-runs 3]

A wav2vec2-base model (95M parameters, random init, fixed seed) is saved by transformers and
loaded by both libraries. Measured in one run, as ratios ours / transformers:

* forward time on a batch of ``--batch`` clips of ``--seconds`` s at 16 kHz (eval mode, no
  gradients), medians over interleaved repeats so that machine noise hits both alike
  (target <= 0.9x);
* our Keras and Flax forwards on the same folder and clips, each on its framework's compiled
  path (``tf.function(jit_compile=True)``, ``jax.jit``), timed in the same interleaved rounds,
  as ratios to our PyTorch (target <= 1.3x);
* peak memory of the forward: each library runs it in a fresh process, which resets its peak
  resident-set size (``/proc/self/clear_refs``) after loading the model and making the inputs,
  and reads it (``VmHWM``) after the forward; the figure is that peak minus the memory held
  before the forward, the median over ``--memory-runs`` processes (target <= 1x).

Nothing here is a test: it prints the figures and writes them as JSON.
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

import numpy as np

SAMPLING_RATE = 16000


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field}")


def measure_memory(library: str, folder: str, batch: int, seconds: float, threads: int) -> None:
    """In a fresh process: load, make inputs, reset the peak, run one forward; print the forward's peak (bytes)."""
    import torch

    if threads:
        torch.set_num_threads(threads)
    if library == "transformers":
        import transformers

        transformers.utils.logging.disable_progress_bar()
        model = transformers.Wav2Vec2Model.from_pretrained(folder).eval()
    else:
        import polyformer

        model = polyformer.Wav2Vec2Model.from_pretrained(folder)
    values = torch.from_numpy(_clips(batch, seconds))
    with torch.inference_mode():
        model(values)  # the first call's one-off allocations (kernels, caches) are not the forward's
    Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current resident size
    before = _status_kib("VmRSS")
    with torch.inference_mode():
        model(values)
    print((_status_kib("VmHWM") - before) * 1024)


def _compiled_forward(framework: str, folder: str, values: np.ndarray):
    """Our ``framework`` model's forward on ``values``, compiled once (outside the timing): a function returning numpy."""
    import polyformer

    model = polyformer.AutoModel.from_pretrained(folder, framework=framework)
    if framework == "keras":
        import tensorflow as tf

        inputs = tf.constant(values)
        forward = tf.function(lambda x: model({"input_values": x}, training=False).last_hidden_state, jit_compile=True)
        run = lambda: forward(inputs).numpy()  # noqa: E731
    elif framework == "flax":
        import jax

        inputs = jax.numpy.asarray(values)
        forward = jax.jit(lambda params, x: model(x, params=params).last_hidden_state)
        run = lambda: np.asarray(forward(model.params, inputs).block_until_ready())  # noqa: E731
    else:
        raise ValueError(f"--frameworks: {framework!r} is not one of keras, flax")
    run()  # compile
    return run


def _clips(batch: int, seconds: float) -> np.ndarray:
    rng = np.random.default_rng(0)
    return (rng.standard_normal((batch, int(seconds * SAMPLING_RATE))) * 0.1).astype(np.float32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--memory-runs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: leave the default)")
    parser.add_argument("--frameworks", default="keras,flax",
                        help="our other frameworks to time against our PyTorch (comma-separated; '' for none)")
    parser.add_argument("--output", default="bench/results/wav2vec2.json")
    parser.add_argument("--memory-child", nargs=2, metavar=("LIBRARY", "FOLDER"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        measure_memory(*args.memory_child, args.batch, args.seconds, args.threads)
        return

    import torch
    import transformers

    import polyformer

    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    if args.threads:
        torch.set_num_threads(args.threads)
    results: dict = {}
    with tempfile.TemporaryDirectory() as folder:
        torch.manual_seed(0)
        transformers.Wav2Vec2Model(transformers.Wav2Vec2Config()).save_pretrained(folder)
        theirs = transformers.Wav2Vec2Model.from_pretrained(folder).eval()
        ours = polyformer.Wav2Vec2Model.from_pretrained(folder)
        results["parameters"] = ours.num_parameters()
        values = torch.from_numpy(_clips(args.batch, args.seconds))

        def run_theirs():
            with torch.inference_mode():
                return theirs(values).last_hidden_state

        def run_ours():
            with torch.inference_mode():
                return ours(values).last_hidden_state

        reference = run_ours().numpy()
        results["max_abs_diff"] = float(np.abs(run_theirs().numpy() - reference).max())
        runners = {"transformers": run_theirs, "polyformer": run_ours}
        for framework in filter(None, args.frameworks.split(",")):
            runners[framework] = _compiled_forward(framework, folder, values.numpy())
            results[f"max_abs_diff_{framework}"] = float(np.abs(np.asarray(runners[framework]()) - reference).max())
        times = {name: [] for name in runners}
        for _ in range(args.repeats):
            for name, run in runners.items():
                times[name].append(timed(run))
        for name, values_ in times.items():
            results[f"forward_{name}_s"] = statistics.median(values_)
        results["forward_ratio"] = results["forward_polyformer_s"] / results["forward_transformers_s"]
        for framework in runners:
            if framework not in ("transformers", "polyformer"):
                # paired round by round, so that a busy moment of the machine hits both
                ratios = [a / b for a, b in zip(times[framework], times["polyformer"])]
                results[f"forward_{framework}_over_torch"] = statistics.median(ratios)
        del theirs, ours

        peaks = {"transformers": [], "polyformer": []}
        for _ in range(args.memory_runs):
            for library in peaks:
                command = [sys.executable, __file__, "--memory-child", library, folder, "--batch", str(args.batch),
                           "--seconds", str(args.seconds), "--threads", str(args.threads)]
                peaks[library].append(int(subprocess.check_output(command, text=True).split()[-1]))
        for library, values_ in peaks.items():
            results[f"forward_peak_{library}_mb"] = statistics.median(values_) / 2**20
        results["peak_memory_ratio"] = results["forward_peak_polyformer_mb"] / results["forward_peak_transformers_mb"]

    results.update(batch=args.batch, seconds=args.seconds, threads=torch.get_num_threads(), torch=torch.__version__,
                   transformers=transformers.__version__)
    for key, value in results.items():
        print(f"{key:<32} {value:.4g}" if isinstance(value, float) else f"{key:<32} {value}")
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
