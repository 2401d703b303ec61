"""ViT-Base/16 at 224x224: our PyTorch against transformers, and our Keras and Flax against our PyTorch.

    python bench/bench_vit.py [--batch 8] [--repeats 10]

A ViT-Base/16 image classifier (random init, fixed seed) is saved by transformers and
loaded by each library and framework. Forward passes are timed in eval mode without
gradients, after compilation (Keras: ``tf.function(jit_compile=True)``; Flax: the model's
own ``jax.jit``), as medians over interleaved repeats so that machine noise hits all alike.
Targets: our PyTorch <= 0.9x transformers; Keras and Flax within 1.3x of our PyTorch.
Nothing here is a test: it prints the figures and writes them as JSON.
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
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--output", default="bench/results/vit.json")
    args = parser.parse_args()

    import torch
    import transformers

    import polyformer

    transformers.logging.set_verbosity_error()
    pixels = np.random.default_rng(0).standard_normal((args.batch, 3, 224, 224)).astype(np.float32)
    runners, results = {}, {}
    with tempfile.TemporaryDirectory() as folder:
        torch.manual_seed(0)
        transformers.ViTForImageClassification(transformers.ViTConfig(num_labels=1000)).save_pretrained(folder)
        theirs = transformers.ViTForImageClassification.from_pretrained(folder).eval()
        ours = polyformer.ViTForImageClassification.from_pretrained(folder)
        torch_pixels = torch.from_numpy(pixels)

        def run_transformers():
            with torch.inference_mode():
                return theirs(pixel_values=torch_pixels).logits.numpy()

        def run_torch():
            with torch.inference_mode():
                return ours(pixel_values=torch_pixels).logits.numpy()

        runners["transformers"], runners["torch"] = run_transformers, run_torch
        registry = polyformer.get_registry()
        models = registry.architecture("vit").models
        if "keras" in models and registry.backend("keras").is_available():
            import tensorflow as tf

            keras_model = polyformer.TFViTForImageClassification.from_pretrained(folder)
            keras_fn = tf.function(lambda x: keras_model(x, training=False).logits, jit_compile=True)
            tf_pixels = tf.constant(pixels)
            runners["keras"] = lambda: keras_fn(tf_pixels).numpy()
        if "flax" in models and registry.backend("flax").is_available():
            import jax

            flax_model = polyformer.FlaxViTForImageClassification.from_pretrained(folder)
            jax_pixels = jax.numpy.asarray(pixels)
            runners["flax"] = lambda: np.asarray(flax_model(jax_pixels).logits.block_until_ready())

    reference = runners["transformers"]()
    for name, run in runners.items():
        results[f"{name}_max_abs_diff"] = float(np.abs(run() - reference).max())
        run()  # warm-up after compilation
    times = {name: [] for name in runners}
    for _ in range(args.repeats):
        for name, run in runners.items():
            times[name].append(timed(run))
    for name, values in times.items():
        results[f"forward_{name}_s"] = statistics.median(values)
    results["torch_over_transformers"] = results["forward_torch_s"] / results["forward_transformers_s"]
    for name in ("keras", "flax"):
        if name in runners:
            results[f"{name}_over_torch"] = results[f"forward_{name}_s"] / results["forward_torch_s"]
    results.update(batch=args.batch, torch_threads=torch.get_num_threads(), torch=torch.__version__,
                   transformers=transformers.__version__)
    for key, value in results.items():
        print(f"{key:<28} {value:.4g}" if isinstance(value, float) else f"{key:<28} {value}")
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
