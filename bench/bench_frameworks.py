"""Forward time of Flax (jit) and Keras (XLA jit_compile) against our PyTorch, in one run.

    python bench/bench_frameworks.py [--batch 8] [--seq 128] [--repeats 10]

DistilBERT-base (random init, fixed seed) is saved once by our PyTorch model and loaded
in each framework; each forward is timed after its compilation, medians over
``--repeats`` interleaved runs. Target: both within 1.3x of PyTorch.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--seq", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--output", default="bench/results/frameworks.json")
    args = parser.parse_args()

    import jax
    import tensorflow as tf
    import torch

    from polyformer import DistilBertConfig, DistilBertModel, FlaxDistilBertModel, TFDistilBertModel

    rng = np.random.default_rng(0)
    ids = rng.integers(0, 30522, size=(args.batch, args.seq)).astype(np.int32)
    mask = np.ones_like(ids)
    with tempfile.TemporaryDirectory() as folder:
        torch.manual_seed(0)
        DistilBertModel(DistilBertConfig()).save_pretrained(folder)
        pt = DistilBertModel.from_pretrained(folder).eval()
        fx = FlaxDistilBertModel.from_pretrained(folder)
        tf_model = TFDistilBertModel.from_pretrained(folder)

    pt_ids, pt_mask = torch.from_numpy(ids.astype(np.int64)), torch.from_numpy(mask.astype(np.int64))

    def run_torch():
        with torch.inference_mode():
            return pt(pt_ids, attention_mask=pt_mask).last_hidden_state

    jax_ids, jax_mask = jax.numpy.asarray(ids), jax.numpy.asarray(mask)

    def run_flax():
        return fx(jax_ids, attention_mask=jax_mask).last_hidden_state.block_until_ready()

    tf_ids, tf_mask = tf.constant(ids), tf.constant(mask)
    keras_fn = tf.function(lambda i, m: tf_model(i, attention_mask=m, training=False).last_hidden_state, jit_compile=True)

    def run_keras():
        return keras_fn(tf_ids, tf_mask).numpy()

    reference = run_torch().numpy()
    results = {
        "flax_max_abs_diff": float(np.abs(np.asarray(run_flax()) - reference).max()),
        "keras_max_abs_diff": float(np.abs(run_keras() - reference).max()),
    }
    for fn in (run_torch, run_flax, run_keras):  # warm-up after compilation
        fn()
    times = {"torch": [], "flax": [], "keras": []}
    for _ in range(args.repeats):
        times["torch"].append(timed(run_torch))
        times["flax"].append(timed(run_flax))
        times["keras"].append(timed(run_keras))
    for name, values in times.items():
        results[f"forward_{name}_s"] = statistics.median(values)
    results["flax_over_torch"] = results["forward_flax_s"] / results["forward_torch_s"]
    results["keras_over_torch"] = results["forward_keras_s"] / results["forward_torch_s"]
    results.update(batch=args.batch, seq=args.seq, torch_threads=torch.get_num_threads(), jax=jax.__version__,
                   tensorflow=tf.__version__)
    for key, value in results.items():
        print(f"{key:<22} {value:.4g}" if isinstance(value, float) else f"{key:<22} {value}")
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
