"""Sharded Flax models on 4 host devices, for ``tests/test_flax_sharding.py``.

    XLA_FLAGS=--xla_force_host_platform_device_count=4 python _flax_sharding_child.py FOLDER OUT_JSON

JAX fixes its device count when it is imported, so this runs in its own process. For each
architecture it saves a tiny random model in FOLDER, loads it unsharded and sharded on a
("data"=2, "model"=2) mesh with the tensor-parallel rules, and writes to OUT_JSON what the
test asserts: the q kernel's sharding, forward and training-step differences with the
magnitudes compared, and whether the checkpoint saved from the sharded model is bit-exact.
"""

import json
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import Mesh, NamedSharding, PartitionSpec

import polyformer

folder, out = Path(sys.argv[1]), Path(sys.argv[2])
assert jax.device_count() == 4, f"expected 4 host devices (XLA_FLAGS), got {jax.device_count()}"
mesh = Mesh(np.array(jax.devices()).reshape(2, 2), ("data", "model"))

WAV2VEC2 = dict(vocab_size=12, hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=20,
                conv_dim=(8, 8, 8), conv_kernel=(10, 3, 3), conv_stride=(5, 2, 2), num_conv_pos_embeddings=5,
                num_conv_pos_embedding_groups=2)
CASES = {
    # name: (model class, config, path of a query kernel in the params)
    "distilbert": ("FlaxDistilBertForSequenceClassification",
                   polyformer.DistilBertConfig(vocab_size=40, dim=16, n_heads=2, n_layers=1, hidden_dim=24,
                                               max_position_embeddings=16),
                   "distilbert/transformer/layer.0/attention/q_lin/kernel"),
    "bert": ("FlaxBertForMaskedLM",
             polyformer.BertConfig(vocab_size=40, hidden_size=16, num_attention_heads=2, num_hidden_layers=1,
                                   intermediate_size=24, max_position_embeddings=16),
             "bert/encoder/layer.0/attention/self/query/kernel"),
    "vit": ("FlaxViTForImageClassification",
            polyformer.ViTConfig(hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=24,
                                 image_size=16, patch_size=8, num_labels=3),
            "vit/encoder/layer.0/attention/attention/query/kernel"),
    "wav2vec2": ("FlaxWav2Vec2ForCTC", polyformer.Wav2Vec2Config(**WAV2VEC2),
                 "wav2vec2/encoder/layers.0/attention/q_proj/kernel"),
}


def leaf(params, path):
    for key in path.split("/"):
        params = params[key]
    return params


def train_step(module, inputs):
    """One jitted SGD step on mean(logits**2): a loss every head has, with no dropout (train=False), so both
    models compute the same function and only the order of float32 sums differs."""
    optimizer = optax.sgd(0.1)

    @jax.jit
    def step(params):
        def loss_fn(p):
            return jnp.mean(module.apply({"params": p}, **inputs, train=False).logits ** 2)

        loss, grads = jax.value_and_grad(loss_fn)(params)
        updates, _ = optimizer.update(grads, optimizer.init(params))
        return loss, optax.apply_updates(params, updates)

    return step


def max_diff(a, b):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.max(np.abs(a - b))), float(np.max(np.abs(b)))


results = {}
for name, (class_name, config, q_path) in CASES.items():
    cls = getattr(polyformer, class_name)
    source = folder / name
    original = cls(config, seed=1)
    original.save_pretrained(source)
    expected = original._export_canonical()

    plain = cls.from_pretrained(source)
    sharded = cls.from_pretrained(source, mesh=mesh, partition_rules="tensor")
    q_kernel = leaf(sharded.params, q_path)
    inputs = {k: np.asarray(v) for k, v in config.example_inputs(4, seed=0).items()}
    # The batch is split over the "data" axis, the heads and FFN width over "model".
    sharded_inputs = {k: jax.device_put(v, NamedSharding(mesh, PartitionSpec("data"))) for k, v in inputs.items()}

    forward = max_diff(sharded(**sharded_inputs).logits, plain(**inputs).logits)
    loss_s, new_s = train_step(sharded.module, sharded_inputs)(sharded.params)
    loss_p, new_p = train_step(plain.module, inputs)(plain.params)
    pairs = [max_diff(a, b) for a, b in zip(jax.tree_util.tree_leaves(new_s), jax.tree_util.tree_leaves(new_p))]
    step = [max(d for d, _ in pairs), max(m for _, m in pairs)]
    still_sharded = leaf(new_s, q_path).sharding.spec

    saved = folder / f"{name}-saved"
    sharded.save_pretrained(saved)
    reloaded = cls.from_pretrained(saved)
    exported = reloaded._export_canonical()
    bit_exact = sorted(expected) == sorted(exported) and all(
        expected[k].dtype == exported[k].dtype and np.array_equal(expected[k], exported[k]) for k in expected)
    reloaded_unsharded = all(len(x.sharding.device_set) == 1 for x in jax.tree_util.tree_leaves(reloaded.params))

    per_device = {}
    for array in jax.tree_util.tree_leaves(sharded.params):
        for shard in array.addressable_shards:
            per_device[shard.device.id] = per_device.get(shard.device.id, 0) + shard.data.nbytes

    results[name] = {
        "max_device_bytes": max(per_device.values()),
        "share_bytes": sum(int(a.nbytes) // (2 if any(a.sharding.spec) else 1)  # split over "model" (2) or whole
                           for a in jax.tree_util.tree_leaves(sharded.params)),
        "weights_bytes": sum(int(a.nbytes) for a in expected.values()),
        "largest_bytes": max(int(a.nbytes) for a in expected.values()),
        "q_spec": [None if a is None else str(a) for a in q_kernel.sharding.spec],
        "q_shard_shape": list(q_kernel.addressable_shards[0].data.shape),
        "q_shape": list(q_kernel.shape),
        "q_devices": len(q_kernel.sharding.device_set),
        "step_q_spec": [None if a is None else str(a) for a in still_sharded],
        "forward": forward,
        "loss": max_diff(loss_s, loss_p),
        "step": step,
        "saved_bit_exact": bit_exact,
        "reloaded_unsharded": reloaded_unsharded,
    }
out.write_text(json.dumps(results, indent=1))
