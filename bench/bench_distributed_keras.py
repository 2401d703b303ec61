"""Keras on JAX under keras.distribution: memory per device with ModelParallel, and DataParallel throughput.

    python bench/bench_distributed_keras.py [--devices 2] [--dim 256] [--layers 4] [--vocab 8000] [--steps 10]

Saves a random DistilBERT checkpoint, then, in child processes with ``KERAS_BACKEND=jax`` and
``--devices`` host devices (``XLA_FLAGS=--xla_force_host_platform_device_count``, fixed when JAX
starts), reports:

* memory: ``TFDistilBertModel.from_pretrained`` on one device, and inside
  ``ModelParallel(layout_map=TFDistilBertModel.layout_map(mesh))`` on a ``("batch" 1, "model" N)``
  mesh: ``max_device_bytes``, the most any device holds (the sum of its shards), and the issue's
  bound, weights / N + the largest tensor. The embeddings are replicated by the layout map, so
  the bound is met only where the layers outweigh them.
* throughput: ``fit`` of a sequence classifier, ``--steps`` steps of batch 8 x 128 tokens, on
  one device and under ``DataParallel`` over N (the global batch split). Host devices share
  the machine's cores, so the ratio says what the engine costs here, not what N accelerators
  would gain.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, sys, time
import keras, numpy as np
import polyformer
from polyformer.backends.keras.layers import named_canonical_weights

folder, mode, steps = sys.argv[1], sys.argv[2], int(sys.argv[3])
devices = keras.distribution.list_devices()
if mode == "model":
    mesh = keras.distribution.DeviceMesh((1, len(devices)), ("batch", "model"), devices)
    scope = keras.distribution.ModelParallel(layout_map=polyformer.TFDistilBertModel.layout_map(mesh),
                                             batch_dim_name="batch").scope()
elif mode == "data":
    scope = keras.distribution.DataParallel(devices=devices).scope()
else:
    import contextlib
    scope = contextlib.nullcontext()
result = {"mode": mode, "devices": len(devices)}
with scope:
    base = polyformer.TFDistilBertModel.from_pretrained(folder)
    per_device = {}
    for weight in named_canonical_weights(base).values():
        for shard in weight.variable.value.addressable_shards:
            per_device[str(shard.device)] = per_device.get(str(shard.device), 0) + shard.data.nbytes
    result["max_device_bytes"] = max(per_device.values())
    if steps:
        model = polyformer.TFDistilBertForSequenceClassification.from_pretrained(folder, num_labels=2)
        model.compile(optimizer=keras.optimizers.SGD(1e-3))
        rng = np.random.RandomState(0)
        batch = {"input_ids": rng.randint(1, model.config.vocab_size, (8, 128)), "labels": rng.randint(0, 2, (8,))}
        model.fit(batch, epochs=2, batch_size=8, verbose=0)  # compile
        start = time.perf_counter()
        model.fit(batch, epochs=steps, batch_size=8, verbose=0)
        result["steps_per_second"] = steps / (time.perf_counter() - start)
print(json.dumps(result))
"""


def _child(folder: Path, mode: str, devices: int, steps: int) -> dict:
    env = dict(os.environ, KERAS_BACKEND="jax", JAX_PLATFORMS="cpu", PYTHONWARNINGS="ignore",
               XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}",
               PYTHONPATH=os.pathsep.join([str(ROOT), *sys.path]))
    out = subprocess.run([sys.executable, "-c", CHILD, str(folder), mode, str(steps)], env=env, capture_output=True,
                         text=True, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"bench_distributed_keras: the {mode} run failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def run(devices: int = 2, dim: int = 256, layers: int = 4, vocab: int = 8000, heads: int = 8, steps: int = 10) -> dict:
    """The memory and throughput figures for one random checkpoint (see the module docstring)."""
    import polyformer
    from polyformer.core.checkpoint import read_tensor_infos

    config = polyformer.DistilBertConfig(vocab_size=vocab, dim=dim, n_heads=heads, n_layers=layers, hidden_dim=4 * dim,
                                         max_position_embeddings=512)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "model"
        polyformer.DistilBertModel(config).save_pretrained(folder)
        sizes = [info.nbytes for info in read_tensor_infos(sorted(folder.glob("*.safetensors"))).values()]
        single = _child(folder, "single", 1, steps)
        data = _child(folder, "data", devices, steps)
        model = _child(folder, "model", devices, 0)
    weights, largest = sum(sizes), max(sizes)
    return {
        "devices": devices,
        "config": {"dim": dim, "layers": layers, "vocab": vocab, "heads": heads},
        "weights_bytes": weights,
        "target_bytes": weights // devices + largest,
        "single_device_bytes": single["max_device_bytes"],
        "model_parallel_max_device_bytes": model["max_device_bytes"],
        "device_ratio": model["max_device_bytes"] / single["max_device_bytes"],
        "within_target": model["max_device_bytes"] <= weights // devices + largest,
        "single_steps_per_second": single["steps_per_second"],
        "data_parallel_steps_per_second": data["steps_per_second"],
        "data_parallel_over_single": data["steps_per_second"] / single["steps_per_second"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--devices", type=int, default=2)
    parser.add_argument("--dim", type=int, default=256)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--vocab", type=int, default=8000)
    parser.add_argument("--heads", type=int, default=8)
    parser.add_argument("--steps", type=int, default=10)
    args = parser.parse_args()
    print(json.dumps(run(args.devices, args.dim, args.layers, args.vocab, args.heads, args.steps), indent=1))


if __name__ == "__main__":
    main()
