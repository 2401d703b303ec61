"""Memory per device when loading a Flax model onto a mesh (tensor parallel) versus onto one device.

    python bench/bench_distributed_jax.py [--devices 4] [--dim 512] [--layers 4] [--vocab 8000]

Saves a random DistilBERT checkpoint, then, in a child process with ``--devices`` host
devices (``XLA_FLAGS=--xla_force_host_platform_device_count``, fixed at JAX import), loads
it twice: ``from_pretrained(folder)`` and ``from_pretrained(folder, mesh=Mesh(devices,
("model",)), partition_rules="tensor")``. Reported for each, in bytes:

* ``max_device_bytes``: the most any one device holds once loaded (sum of its shards);
* ``host_peak_bytes``: the peak of host (numpy) memory allocated while loading (tracemalloc),
  i.e. the tensors read from the checkpoint before they are placed;
* ``target_bytes``: weights / N + the largest tensor, the issue's bound for a sharded device.

On host devices all "devices" live in one process, so a process RSS would count every
device at once; the per-device figure is read from the arrays' shards instead.
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
import json, sys, tracemalloc
import jax, numpy as np
from jax.sharding import Mesh
import polyformer

folder, sharded = sys.argv[1], sys.argv[2] == "sharded"
cls = polyformer.FlaxDistilBertModel
kwargs = {}
if sharded:
    kwargs = dict(mesh=Mesh(np.array(jax.devices()), ("model",)), partition_rules="tensor")
tracemalloc.start()
model = cls.from_pretrained(folder, **kwargs)
jax.block_until_ready(model.params)
host_peak = tracemalloc.get_traced_memory()[1]
tracemalloc.stop()
per_device = {str(d): 0 for d in jax.devices()}
for leaf in jax.tree_util.tree_leaves(model.params):
    for shard in leaf.addressable_shards:
        per_device[str(shard.device)] += shard.data.nbytes
print(json.dumps({"max_device_bytes": max(per_device.values()), "host_peak_bytes": host_peak,
                  "devices": jax.device_count()}))
"""


def _load_in_child(folder: Path, mode: str, devices: int) -> dict:
    env = dict(os.environ, XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}", JAX_PLATFORMS="cpu",
               PYTHONPATH=os.pathsep.join([str(ROOT), *sys.path]))
    out = subprocess.run([sys.executable, "-c", CHILD, str(folder), mode], env=env, capture_output=True, text=True,
                         check=False)
    if out.returncode != 0:
        raise RuntimeError(f"bench_distributed_jax: the {mode} load failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def run(devices: int = 4, dim: int = 512, layers: int = 4, vocab: int = 8000, heads: int = 8) -> dict:
    """Load one checkpoint unsharded and sharded over ``devices`` host devices; the figures and the target."""
    import polyformer
    from polyformer.core.checkpoint import read_tensor_infos

    config = polyformer.DistilBertConfig(vocab_size=vocab, dim=dim, n_heads=heads, n_layers=layers, hidden_dim=4 * dim,
                                         max_position_embeddings=512)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "model"
        polyformer.FlaxDistilBertModel(config, seed=0).save_pretrained(folder)
        infos = read_tensor_infos(sorted(folder.glob("*.safetensors")))
        sizes = [info.nbytes for info in infos.values()]
        unsharded = _load_in_child(folder, "unsharded", devices)
        sharded = _load_in_child(folder, "sharded", devices)
    weights, largest = sum(sizes), max(sizes)
    target = weights // devices + largest
    return {
        "devices": devices,
        "config": {"dim": dim, "layers": layers, "vocab": vocab, "heads": heads},
        "weights_bytes": weights,
        "largest_tensor_bytes": largest,
        "target_bytes": target,
        "unsharded": unsharded,
        "sharded": sharded,
        "device_ratio": sharded["max_device_bytes"] / unsharded["max_device_bytes"],
        "within_target": sharded["max_device_bytes"] <= target,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--devices", type=int, default=4)
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--vocab", type=int, default=8000)
    parser.add_argument("--heads", type=int, default=8)
    args = parser.parse_args()
    print(json.dumps(run(args.devices, args.dim, args.layers, args.vocab, args.heads), indent=1))


if __name__ == "__main__":
    main()
