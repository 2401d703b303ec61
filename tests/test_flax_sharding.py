"""Flax models with sharded parameters on a jax.sharding.Mesh (polyformer/backends/flax/sharding.py).

The device checks run in a child process (``tests/_flax_sharding_child.py``) with 4 host
devices, since JAX fixes its device count when it is imported; it runs once for the module
and every test reads its results. The rule checks need no devices and run here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("flax")
pytest.importorskip("optax")

CHILD = Path(__file__).with_name("_flax_sharding_child.py")
ARCHITECTURES = ("distilbert", "bert", "vit", "wav2vec2")


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    folder = tmp_path_factory.mktemp("flax-sharding")
    out = folder / "results.json"
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=4", JAX_PLATFORMS="cpu",
               PYTHONPATH=os.pathsep.join(sys.path))
    done = subprocess.run([sys.executable, str(CHILD), str(folder), str(out)], env=env, capture_output=True, text=True,
                          timeout=900)
    assert done.returncode == 0, f"child failed:\n{done.stderr[-4000:]}"
    return json.loads(out.read_text())


def within(diff_and_magnitude, tolerance=1e-5):
    # The sharded and unsharded programs compute the same function; they differ only in the order of
    # float32 sums (the row-split projections add per-device partial sums, then all-reduce). Each
    # reordering costs about one float32 rounding (6e-8) times the magnitudes summed (here below 1),
    # so 1e-5 (the bound), relative to the largest value compared, leaves a wide margin.
    diff, magnitude = diff_and_magnitude
    return diff <= tolerance * max(1.0, magnitude)


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_query_kernel_is_split_by_columns_over_the_model_axis(results, arch):
    r = results[arch]
    assert r["q_spec"] == [None, "model"]
    assert r["q_devices"] == 4  # replicated over "data", split over "model"
    assert r["q_shard_shape"] == [r["q_shape"][0], r["q_shape"][1] // 2]  # each device holds one of the 2 heads
    assert r["step_q_spec"] == [None, "model"]  # the jitted training step keeps the layout


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_no_device_holds_more_than_its_share(results, arch):
    # Each device holds half of every split weight and all of each replicated one, nothing more. (The
    # issue's "weights / N + one tensor" holds for real sizes, see bench/bench_distributed_jax.py; these
    # tiny models are mostly embeddings and norms, which stay replicated.)
    r = results[arch]
    assert r["max_device_bytes"] == r["share_bytes"], r
    assert r["max_device_bytes"] < r["weights_bytes"]  # never the whole model on one device


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_jitted_forward_and_training_step_give_the_unsharded_results(results, arch):
    r = results[arch]
    assert within(r["forward"]), r["forward"]
    assert within(r["loss"]), r["loss"]
    assert within(r["step"]), r["step"]  # every parameter after one SGD step


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_save_pretrained_gathers_to_an_ordinary_checkpoint(results, arch):
    assert results[arch]["saved_bit_exact"]  # weights as saved by the unsharded model, bit for bit
    assert results[arch]["reloaded_unsharded"]  # and it loads as an ordinary, single-device model


# ---- the rules themselves (one device is enough) --------------------------------------------

def _specs(model, mesh, rules):
    from flax.traverse_util import flatten_dict

    from polyformer.backends.flax.sharding import partition_specs, resolve_rules

    return {"/".join(p): tuple(s) for p, s in flatten_dict(
        partition_specs(model.params, resolve_rules(rules, mesh, type(model)), mesh)).items()}


def _mesh(**axes):
    import jax
    import numpy as np
    from jax.sharding import Mesh

    return Mesh(np.array(jax.devices()[:1]).reshape((1,) * len(axes)), tuple(axes))


def test_tensor_rules_are_megatron_style_and_leave_the_rest_replicated():
    import polyformer

    model = polyformer.FlaxBertForMaskedLM(polyformer.BertConfig(
        vocab_size=40, hidden_size=16, num_attention_heads=2, num_hidden_layers=1, intermediate_size=24,
        max_position_embeddings=16))
    specs = _specs(model, _mesh(data=1, model=1), "tensor")
    layer = "bert/encoder/layer.0/"
    assert specs[layer + "attention/self/key/kernel"] == (None, "model")
    assert specs[layer + "attention/self/key/bias"] == ("model",)
    assert specs[layer + "attention/output/dense/kernel"] == ("model", None)
    assert specs[layer + "attention/output/dense/bias"] == ()
    assert specs[layer + "intermediate/dense/kernel"] == (None, "model")
    assert specs[layer + "output/dense/kernel"] == ("model", None)
    for replicated in ("bert/embeddings/word_embeddings/embedding", layer + "output/LayerNorm/scale",
                       "cls/predictions/transform/dense/kernel"):
        assert specs[replicated] == ()
    assert set(_specs(model, _mesh(data=1), None).values()) == {()}  # no "model" axis: data parallel


def test_distilbert_and_wav2vec2_names_get_the_same_layout():
    import polyformer

    distil = _specs(polyformer.FlaxDistilBertModel(polyformer.DistilBertConfig(
        vocab_size=40, dim=16, n_heads=2, n_layers=1, hidden_dim=24, max_position_embeddings=16)),
        _mesh(model=1), "tensor")
    layer = "transformer/layer.0/"
    assert distil[layer + "attention/v_lin/kernel"] == (None, "model")
    assert distil[layer + "attention/out_lin/kernel"] == ("model", None)
    assert distil[layer + "ffn/lin1/kernel"] == (None, "model")
    assert distil[layer + "ffn/lin2/kernel"] == ("model", None)
    assert distil[layer + "ffn/lin2/bias"] == ()


def test_bad_rules_and_meshes_are_reported(tmp_path):
    import jax
    from jax.sharding import PartitionSpec

    import polyformer

    config = polyformer.DistilBertConfig(vocab_size=40, dim=16, n_heads=2, n_layers=1, hidden_dim=24,
                                         max_position_embeddings=16)
    polyformer.FlaxDistilBertModel(config).save_pretrained(tmp_path)
    cls = polyformer.FlaxDistilBertModel
    with pytest.raises(ValueError, match=r"partition_rules='tensor' splits weights over a mesh axis named 'model'"):
        cls.from_pretrained(tmp_path, mesh=_mesh(data=1), partition_rules="tensor")
    with pytest.raises(ValueError, match=r"partition_rules='fsdp': expected 'data', 'tensor' or a list"):
        cls.from_pretrained(tmp_path, mesh=_mesh(data=1), partition_rules="fsdp")
    with pytest.raises(ValueError, match=r"needs a mesh"):
        cls.from_pretrained(tmp_path, partition_rules="data")
    with pytest.raises(TypeError, match=r"mesh must be a jax.sharding.Mesh, got list"):
        cls.from_pretrained(tmp_path, mesh=jax.devices())
    with pytest.raises(ValueError, match=r"names mesh axis 'model'; the mesh has axes \('data',\)"):
        cls.from_pretrained(tmp_path, mesh=_mesh(data=1), partition_rules=[("q_lin/kernel", PartitionSpec(None, "model"))])
    with pytest.raises(ValueError, match=r"each rule must be a \(regex, PartitionSpec\) pair"):
        cls.from_pretrained(tmp_path, mesh=_mesh(data=1), partition_rules=[("q_lin", (None, "data"))])
    # A split that does not divide the dimension (3 columns over an axis of 2) names the weight; spec_for
    # only reads the mesh's axis names and sizes, so a 2-device mesh is described here without 2 devices.
    from types import SimpleNamespace

    from polyformer.backends.flax.sharding import spec_for

    two = SimpleNamespace(axis_names=("model",), shape={"model": 2})
    with pytest.raises(ValueError, match=r"'a/q_lin/kernel'.*splits a dimension of 3 over 2 devices"):
        spec_for("a/q_lin/kernel", (16, 3), [("q_lin", PartitionSpec(None, "model"))], two)
