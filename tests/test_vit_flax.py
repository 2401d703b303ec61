"""What is Flax's own in ViT: the functional module under ``jax.jit``, static switches, numpy initialisation.

The outputs against transformers, saving, losses, interpolation and bad inputs are checked for
every framework in ``test_vit.py`` and ``test_vit_conformance.py``; here is what only Flax has:
``model.module.apply`` under ``jax.jit`` (``interpolate_pos_encoding`` static, as the shapes it
decides must be), the model object keeping a Python bool input out of the traced arrays, and a
fresh model drawn with numpy from torch ViT's distributions without any XLA compile.
"""

from __future__ import annotations

import functools
import math

import jax
import jax.monitoring
import numpy as np
import pytest

import polyformer
from polyformer.backends.flax import layers
from polyformer.testing import assert_close, assert_outputs_close

CONFIG = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37, image_size=32,
              patch_size=8, encoder_stride=8, num_labels=3)
HEADS = ("FlaxViTModel", "FlaxViTForImageClassification", "FlaxViTForMaskedImageModeling")


def images(size=(32, 32), batch=2, seed=0):
    return np.random.default_rng(seed).standard_normal((batch, 3, *size)).astype(np.float32)


def as_numpy(output) -> dict:
    return {k: (tuple(np.asarray(t) for t in v) if isinstance(v, tuple) else np.asarray(v))
            for k, v in output.items() if v is not None}


@pytest.mark.parametrize("head", HEADS)
def test_jit_of_module_apply_gives_the_model_outputs(head):
    """The stateless module under the user's own jax.jit, at the trained size and (interpolated) at another."""
    model = getattr(polyformer, head)(polyformer.ViTConfig(**CONFIG), seed=3)

    @functools.partial(jax.jit, static_argnames=("interpolate_pos_encoding",))
    def run(params, pixel_values, bool_masked_pos, interpolate_pos_encoding):
        return model.module.apply({"params": params}, pixel_values, bool_masked_pos=bool_masked_pos,
                                  interpolate_pos_encoding=interpolate_pos_encoding, output_hidden_states=True)

    for size, interpolate in (((32, 32), False), ((40, 56), True)):
        pixels = images(size)
        mask = None
        if head == "FlaxViTForMaskedImageModeling":
            mask = np.random.default_rng(1).random((2, (size[0] // 8) * (size[1] // 8))) < 0.5
        want = model(pixels, bool_masked_pos=mask, interpolate_pos_encoding=interpolate, output_hidden_states=True)
        got = run(model.params, pixels, mask, interpolate)
        # two compiled programs of the same computation: float32 rounding apart at most
        assert_outputs_close(as_numpy(want), as_numpy(got), where=f"{head} {size}")
    if head == "FlaxViTForMaskedImageModeling":
        assert got.reconstruction.shape == (2, 3, 40, 56) and np.isfinite(float(got.loss))


def test_a_traced_interpolate_pos_encoding_is_refused_clearly():
    model = polyformer.FlaxViTModel(polyformer.ViTConfig(**CONFIG))
    run = jax.jit(lambda params, pixels, flag: model.module.apply({"params": params}, pixels,
                                                                   interpolate_pos_encoding=flag))
    with pytest.raises(TypeError, match=r"^interpolate_pos_encoding must be a Python bool, got a traced array"):
        run(model.params, images(), True)


def test_interpolate_pos_encoding_is_a_static_switch_of_the_model():
    """A Python (or numpy) bool input is kept out of the traced arrays: one compile per value, and it can decide shapes."""
    model = polyformer.FlaxViTForImageClassification(polyformer.ViTConfig(**CONFIG))
    bigger = images((48, 40))
    logits = model(bigger, interpolate_pos_encoding=True).logits
    assert logits.shape == (2, 3)
    assert_close(model(bigger, interpolate_pos_encoding=np.True_).logits, logits)  # same program, same numbers
    assert model._jitted._cache_size() == 1
    with pytest.raises(ValueError, match=r"^Input image size \(48\*40\) doesn't match model \(32\*32\)"):
        model(bigger, interpolate_pos_encoding=False)
    # at the trained size the positions are the learned ones, resized or not
    trained = images()
    assert_close(model(trained, interpolate_pos_encoding=True).logits, model(trained).logits)


def _truncated_std(std: float, bound: float) -> float:
    """Standard deviation of N(0, std) truncated to [-bound, bound]."""
    alpha = bound / std
    density = math.exp(-alpha * alpha / 2) / math.sqrt(2 * math.pi)
    mass = math.erf(alpha / math.sqrt(2))
    return std * math.sqrt(1 - 2 * alpha * density / mass)


def test_truncated_normal_init_draws_torchs_distribution_in_numpy_and_jax():
    """torch's trunc_normal_(std=1.5): bounds +-2 (absolute), so about 18% of a plain normal's draws would fall outside."""
    init = layers.truncated_normal_init(1.5)
    drawn = {"numpy": init.numpy(np.random.default_rng(0), (200, 100)),
             "jax": np.asarray(init(jax.random.PRNGKey(0), (200, 100)))}
    want = _truncated_std(1.5, 2.0)  # 1.023
    for how, values in drawn.items():
        assert np.abs(values).max() <= 2.0, how
        # 20000 draws: the sample std is within 1% of the true one (its standard error is ~0.5%); 3% leaves margin
        assert abs(values.std() / want - 1) < 0.03, (how, values.std(), want)
        assert abs(values.mean()) < 0.03, how  # standard error 1.023 / sqrt(20000) = 0.007


def test_fresh_model_is_torch_vit_init_drawn_with_numpy_without_compiling():
    """Kernels, class token and positions truncated normal; mask token and biases zero; LayerNorms one; no XLA compile."""
    polyformer.FlaxViTModel(polyformer.ViTConfig(**CONFIG))  # warm-up: the model's PRNG keys compile once per process
    compiles = []

    def listener(event, seconds, **kwargs):
        if event == "/jax/core/compile/backend_compile_duration":
            compiles.append(event)

    config = polyformer.ViTConfig(**dict(CONFIG, hidden_size=64, intermediate_size=128, initializer_range=1.5))
    jax.monitoring.register_event_duration_secs_listener(listener)
    try:
        model = polyformer.FlaxViTForMaskedImageModeling(config, seed=5)
    finally:
        jax.monitoring.unregister_event_duration_listener(listener)
    assert compiles == []
    assert set(model._initializers) == set(model._paths.values())  # every weight had a numpy-capable initialiser

    weights = model._export_canonical()
    truncated = [name for name in weights if name.endswith(("weight", "cls_token", "position_embeddings"))
                 and "layernorm" not in name]
    assert "vit.embeddings.patch_embeddings.projection.weight" in truncated and "decoder.0.weight" in truncated
    for name in truncated:
        assert np.abs(weights[name]).max() <= 2.0, name  # N(0, 1.5) would exceed 2 in 18% of the draws
    intermediate = weights["vit.encoder.layer.0.intermediate.dense.weight"]  # 8192 draws: std within 3% (s.e. 0.8%)
    assert abs(intermediate.std() / _truncated_std(1.5, 2.0) - 1) < 0.03
    assert not weights["vit.embeddings.mask_token"].any()
    for name, value in weights.items():
        if name.endswith("bias"):
            assert not value.any(), name
        if "layernorm" in name and name.endswith("weight"):
            assert (value == 1).all(), name
    again = polyformer.FlaxViTForMaskedImageModeling(config, seed=5)._export_canonical()
    assert all(np.array_equal(weights[name], again[name]) for name in weights)  # seeded per weight name


def test_pixels_jax_cannot_hold_get_the_clear_error_before_jit():
    """Checked as given, before jnp.asarray would fail on them with JAX's own message."""
    model = polyformer.FlaxViTModel(polyformer.ViTConfig(**CONFIG))
    text = np.full((2, 3, 32, 32), "a")
    with pytest.raises(ValueError, match=r"^pixel_values must hold numbers \(e\.g\. float32\), got dtype <U1$"):
        model(text)
