"""What the Keras ViT does beyond the cross-framework tests (tests/test_vit.py, test_vit_conformance.py).

Compiled with XLA (``tf.function(jit_compile=True)``) and traced with open batch sizes it
gives the eager outputs; head masks give the PyTorch ViT's outputs (transformers 5 dropped
head masks, so our PyTorch ViT is the reference); weights are initialised as transformers'
ViT does (truncated normal, bounds at -2 and 2); images whose size is unknown when traced
are one clear error.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("tensorflow")
pytest.importorskip("keras")

import polyformer  # noqa: E402
from polyformer.backends.keras import layers  # noqa: E402
from polyformer.testing import assert_outputs_close  # noqa: E402

import keras  # noqa: E402  (on TensorFlow: see tests/conftest.py)
import tensorflow as tf  # noqa: E402

CONFIG = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37, image_size=32,
              patch_size=8, encoder_stride=8, num_labels=3)


def pixels(batch=2, size=(32, 32), seed=0):
    return np.random.default_rng(seed).standard_normal((batch, 3, *size)).astype(np.float32)


def run_keras(model, inputs, **flags) -> dict:
    output = model(dict(inputs), **flags)
    return {k: tuple(np.asarray(t) for t in v) if isinstance(v, tuple) else np.asarray(v) for k, v in output.items()}


def compiled_inputs():
    """Each head with the inputs that take its less common paths (labels, head mask, mask, interpolation)."""
    rng = np.random.default_rng(1)
    mask = rng.random((2, 36)) < 0.5
    return {
        "ViTForImageClassification": {"pixel_values": pixels(), "labels": np.array([2, 0]),
                                      "head_mask": np.array([1.0, 0.0, 1.0, 1.0], np.float32)},
        "ViTForMaskedImageModeling": {"pixel_values": pixels(size=(48, 48)), "bool_masked_pos": mask},
        "ViTModel": {"pixel_values": pixels(size=(40, 56))},
    }


@pytest.mark.parametrize("head", ["ViTForImageClassification", "ViTForMaskedImageModeling", "ViTModel"])
def test_jit_compiled_call_gives_the_eager_outputs(head):
    keras.utils.set_random_seed(0)
    model = getattr(polyformer, f"TF{head}")(polyformer.ViTConfig(**CONFIG))
    inputs = compiled_inputs()[head]
    flags = dict(output_attentions=True, output_hidden_states=True, interpolate_pos_encoding=True)
    compiled = tf.function(lambda batch: model(batch, **flags), jit_compile=True)
    actual = compiled({k: tf.constant(v) for k, v in inputs.items()})
    assert_outputs_close(run_keras(model, inputs, **flags), dict(actual), where=f"TF{head} under XLA")


def test_traced_with_an_open_batch_size():
    """A signature that leaves the batch open (as fit and SavedModel exports do): eager outputs, and the mask checked.

    (TensorFlow adds the traced code's lines in front of an error raised while tracing, hence no ``^`` below.)
    """
    keras.utils.set_random_seed(0)
    model = polyformer.TFViTForMaskedImageModeling(polyformer.ViTConfig(**CONFIG))
    signature = [tf.TensorSpec((None, 3, 32, 32), tf.float32), tf.TensorSpec((None, 16), tf.bool)]
    traced = tf.function(lambda x, mask: model(pixel_values=x, bool_masked_pos=mask), input_signature=signature)
    mask = np.random.default_rng(1).random((2, 16)) < 0.5
    assert_outputs_close(run_keras(model, {"pixel_values": pixels(), "bool_masked_pos": mask}),
                         dict(traced(pixels(), mask)))
    wrong = tf.function(lambda x, mask: model(pixel_values=x, bool_masked_pos=mask),
                        input_signature=[signature[0], tf.TensorSpec((None, 5), tf.bool)])
    with pytest.raises(ValueError, match=r"bool_masked_pos has shape \(None, 5\), but the images have 16 patches"):
        wrong.get_concrete_function()


def test_image_size_unknown_when_traced_is_a_clear_error():
    model = polyformer.TFViTModel(polyformer.ViTConfig(**CONFIG))
    traced = tf.function(lambda x: model(x), input_signature=[tf.TensorSpec((None, 3, None, None), tf.float32)])
    with pytest.raises(ValueError, match=r"pixel_values has shape \(None, 3, None, None\): ViT needs the images' "
                                         r"height and width when the model is traced"):
        traced.get_concrete_function()


def test_head_mask_matches_torch(tmp_path):
    torch.manual_seed(0)
    reference = polyformer.ViTForImageClassification(polyformer.ViTConfig(**CONFIG))
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for param in reference.parameters():  # no weight keeps its initial value: a misplaced one shows
            param.add_(torch.randn(param.shape, generator=generator) * 0.1)
    reference.save_pretrained(tmp_path)
    model = polyformer.TFViTForImageClassification.from_pretrained(tmp_path)
    head_mask = np.array([[1.0, 0.0, 1.0, 0.5], [0.0, 1.0, 1.0, 1.0]], np.float32)
    with torch.no_grad():
        want = reference.eval()(torch.from_numpy(pixels()), head_mask=torch.from_numpy(head_mask),
                                output_attentions=True)
    got = run_keras(model, {"pixel_values": pixels(), "head_mask": head_mask}, output_attentions=True)
    assert_outputs_close({"logits": want.logits.numpy(), "attentions": tuple(a.numpy() for a in want.attentions)},
                         {"logits": got["logits"], "attentions": got["attentions"]})


def _initialised_weights(model) -> dict[str, np.ndarray]:
    """The weights transformers' ViT draws from a truncated normal: linear and conv weights, class token, positions."""
    drawn = {}
    for layer in layers.iter_layers(model):
        if isinstance(layer, (layers.Linear, layers.Conv2d)):
            drawn[layer.kernel.path] = np.asarray(layer.kernel)
    embeddings = model.vit.embeddings if hasattr(model, "vit") else model.embeddings
    drawn["cls_token"] = np.asarray(embeddings.cls_token.variable)
    drawn["position_embeddings"] = np.asarray(embeddings.position_embeddings.variable)
    return drawn


def _assert_truncated(weights: dict[str, np.ndarray], std: float) -> None:
    for name, values in weights.items():
        assert np.abs(values).max() <= 2.0, f"{name} has values outside [-2, 2]: {np.abs(values).max()}"
    # N(0, 1.5) truncated to [-2, 2] has std 1.5 * 0.68 = 1.02 (thousands of values: the sample std is within a few
    # percent); weights drawn with another std (0.02, or none) would be far off.
    everything = np.concatenate([v.ravel() for v in weights.values()])
    assert 0.9 < everything.std() < 1.25, everything.std()


def test_weights_are_initialised_as_transformers_vit_does(tmp_path):
    """std 1.5, so that torch's bounds (-2 and 2, absolute) matter: a plain normal would cross them 18% of the time."""
    std = 1.5
    config = polyformer.ViTConfig(**CONFIG, initializer_range=std)
    keras.utils.set_random_seed(0)
    model = polyformer.TFViTForMaskedImageModeling(config)
    _assert_truncated(_initialised_weights(model), std)
    assert not np.asarray(model.vit.embeddings.mask_token.variable).any()  # zeros, as transformers
    model.init_weights()
    _assert_truncated(_initialised_weights(model), std)

    polyformer.TFViTModel(config).save_pretrained(tmp_path)  # no classifier: loading draws it
    classifier, info = polyformer.TFViTForImageClassification.from_pretrained(tmp_path, output_loading_info=True)
    assert sorted(info["missing_keys"]) == ["classifier.bias", "classifier.weight"]
    kernel = np.asarray(classifier.classifier.kernel)
    assert np.abs(kernel).max() <= 2.0 and kernel.std() > 0.5  # 96 values: drawn with std 1.5, not 0.02
