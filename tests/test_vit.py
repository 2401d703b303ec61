"""ViT against transformers, in every framework that has ViT models.

transformers builds the checkpoints (random init, every weight perturbed so that a weight
loaded under a wrong name shows); each framework here loads them and must give the same
outputs, and transformers must load each framework's save with no missing or unexpected
keys. Configurations cover ViT's options: non-square image and patch sizes, no q/k/v bias,
other activations and epsilons, one and four channels, another encoder stride, a pooler of
another width and activation. Comparisons use float32-rounding tolerances from the magnitude
of the values compared (:func:`polyformer.testing.assert_outputs_close`).
"""

from __future__ import annotations

import importlib

import numpy as np
import pytest
import torch

import polyformer
from polyformer.testing import assert_close, assert_outputs_close

from _torch_oracle import perturb, transformers

HEADS = {
    "base": "ViTModel",
    "image-classification": "ViTForImageClassification",
    "masked-image-modeling": "ViTForMaskedImageModeling",
}
PREFIX = {"torch": "", "keras": "TF", "flax": "Flax"}
CONFIGS = {
    "square": dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37, image_size=32,
                   patch_size=8, encoder_stride=8, num_labels=3),
    "nonsquare-nobias": dict(hidden_size=24, num_hidden_layers=2, num_attention_heads=2, intermediate_size=30,
                             image_size=(32, 48), patch_size=(8, 16), qkv_bias=False, hidden_act="gelu_new",
                             layer_norm_eps=1e-5, num_channels=1, pooler_output_size=20, pooler_act="relu",
                             encoder_stride=8, num_labels=2),
    "four-channels": dict(hidden_size=16, num_hidden_layers=1, num_attention_heads=4, intermediate_size=20,
                          image_size=24, patch_size=4, encoder_stride=4, num_channels=4, hidden_act="quick_gelu",
                          layer_norm_eps=1e-6, num_labels=5),
}


def _frameworks():
    registry = polyformer.get_registry()
    models = registry.architecture("vit").models
    return [b.name for b in registry.frameworks_by_priority() if b.name in models and b.is_available()]


FRAMEWORKS = _frameworks()


def _harness(framework):
    return importlib.import_module(polyformer.get_registry().backend(framework).harness)


def our_class(framework, head):
    return getattr(polyformer, PREFIX[framework] + HEADS[head])


def hf_checkpoint(folder, head, seed=0, **config):
    """A transformers checkpoint in ``folder`` (perturbed) and the model reloaded with eager attention."""
    torch.manual_seed(seed)
    model = perturb(getattr(transformers, HEADS[head])(transformers.ViTConfig(**config)), seed)
    model.save_pretrained(folder)
    return getattr(transformers, HEADS[head]).from_pretrained(folder, attn_implementation="eager").eval()


def images(config, batch=2, seed=0, size=None):
    height, width = size or ((config["image_size"],) * 2 if isinstance(config["image_size"], int) else config["image_size"])
    rng = np.random.default_rng(seed)
    return rng.standard_normal((batch, config.get("num_channels", 3), height, width)).astype(np.float32)


def hf_outputs(model, inputs, **flags):
    tensors = {k: torch.from_numpy(np.asarray(v)) for k, v in inputs.items()}
    with torch.no_grad():
        out = model(**tensors, **flags)
    return {k: (tuple(t.numpy() for t in v) if isinstance(v, tuple) else v.numpy()) for k, v in out.items()}


def loss_inputs(head, config, pixels, seed=1):
    rng = np.random.default_rng(seed)
    if head == "image-classification":
        return {"labels": rng.integers(0, config["num_labels"], size=(len(pixels),))}
    if head == "masked-image-modeling":
        grid = polyformer.core.numerics.patch_grid(pixels.shape[-2:], config["patch_size"])
        mask = rng.random((len(pixels), grid[0] * grid[1])) < 0.5
        mask[:, 0] = True
        return {"bool_masked_pos": mask}
    return {}


def _applies(head, config):
    # transformers' masked image modelling reshapes patches into a square grid: square configs only
    return head != "masked-image-modeling" or (isinstance(config["image_size"], int) and isinstance(config["patch_size"], int))


CASES = [(f, h, c) for f in FRAMEWORKS for h in HEADS for c in CONFIGS if _applies(h, CONFIGS[c])]


@pytest.mark.parametrize("framework,head,config_name", CASES)
def test_transformers_checkpoint_gives_the_same_outputs(tmp_path, framework, head, config_name):
    config = CONFIGS[config_name]
    reference = hf_checkpoint(tmp_path, head, **config)
    model, info = our_class(framework, head).from_pretrained(tmp_path, output_loading_info=True)
    assert not any(info.values()), info
    pixels = images(config)
    inputs = {"pixel_values": pixels, **loss_inputs(head, config, pixels)}
    flags = {"output_hidden_states": True, "output_attentions": True}
    want = hf_outputs(reference, inputs, **flags)
    got = _harness(framework).forward(model, inputs, **flags)
    assert_outputs_close(want, got, where=f"{framework} {HEADS[head]} ({config_name})")


@pytest.mark.parametrize("framework,head", [(f, h) for f in FRAMEWORKS for h in HEADS])
def test_our_save_loads_in_transformers(tmp_path, framework, head):
    config = CONFIGS["square"]
    hf_checkpoint(tmp_path / "hf", head, **config)
    model = our_class(framework, head).from_pretrained(tmp_path / "hf")
    model.save_pretrained(tmp_path / "ours")
    reloaded, info = getattr(transformers, HEADS[head]).from_pretrained(
        tmp_path / "ours", output_loading_info=True, attn_implementation="eager")
    assert not any(info.values()), info
    pixels = images(config)
    inputs = {"pixel_values": pixels, **loss_inputs(head, config, pixels)}
    assert_outputs_close(hf_outputs(reloaded.eval(), inputs), _harness(framework).forward(model, inputs))


@pytest.mark.parametrize("framework", FRAMEWORKS)
@pytest.mark.parametrize("size", [(48, 48), (40, 56), (16, 24)])
def test_interpolated_positions_match_transformers(tmp_path, framework, size):
    """Larger, non-square and smaller images with interpolate_pos_encoding=True (a square trained grid)."""
    config = CONFIGS["square"]
    reference = hf_checkpoint(tmp_path, "image-classification", **config)
    model = our_class(framework, "image-classification").from_pretrained(tmp_path)
    inputs = {"pixel_values": images(config, size=size)}
    want = hf_outputs(reference, inputs, interpolate_pos_encoding=True, output_hidden_states=True)
    got = _harness(framework).forward(model, inputs, interpolate_pos_encoding=True, output_hidden_states=True)
    assert_outputs_close(want, got)


@pytest.mark.parametrize("framework", FRAMEWORKS)
@pytest.mark.parametrize("num_labels,problem", [(1, "regression"), (3, "single"), (3, "multi")])
def test_classification_losses_match_transformers(tmp_path, framework, num_labels, problem):
    config = dict(CONFIGS["square"], num_labels=num_labels)
    reference = hf_checkpoint(tmp_path, "image-classification", **config)
    model = our_class(framework, "image-classification").from_pretrained(tmp_path)
    rng = np.random.default_rng(3)
    if problem == "regression":
        labels = rng.standard_normal(2).astype(np.float32)
    elif problem == "single":
        labels = rng.integers(0, num_labels, size=(2,))
    else:
        labels = (rng.random((2, num_labels)) < 0.5).astype(np.float32)
    inputs = {"pixel_values": images(config), "labels": labels}
    want, got = hf_outputs(reference, inputs), _harness(framework).forward(model, inputs)
    assert_outputs_close(want, got)
    assert model.config.problem_type == reference.config.problem_type  # written to the config, as transformers does


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_masked_image_modelling_on_other_sizes_and_non_square_grids(tmp_path, framework):
    """Beyond transformers (square grids only): the reconstruction has the input's size, the loss is finite."""
    config = dict(CONFIGS["nonsquare-nobias"], patch_size=8, encoder_stride=8)
    model = our_class(framework, "masked-image-modeling")(polyformer.ViTConfig(**config))
    pixels = images(config)
    outputs = _harness(framework).forward(model, {"pixel_values": pixels, **loss_inputs("masked-image-modeling", config, pixels)})
    assert outputs["reconstruction"].shape == pixels.shape
    assert np.isfinite(outputs["loss"])
    bigger = images(config, size=(48, 64))
    outputs = _harness(framework).forward(
        model, {"pixel_values": bigger, **loss_inputs("masked-image-modeling", config, bigger)}, interpolate_pos_encoding=True)
    assert outputs["reconstruction"].shape == bigger.shape and np.isfinite(outputs["loss"])


BAD_INPUTS = [
    ("channels", lambda c: {"pixel_values": images(c)[:, :1]}, r"^pixel_values has shape \(2, 1, 32, 32\), with 1 channel\(s\), but the model takes 3"),
    ("channels-last", lambda c: {"pixel_values": images(c).transpose(0, 2, 3, 1)[:, :, :, :3].copy()[:, :3]},
     r"^pixel_values has shape \(2, 3, 32, 3\)"),
    ("one-image", lambda c: {"pixel_values": images(c)[0]}, r"^pixel_values must have shape \(batch, 3, height, width\), got shape \(3, 32, 32\): for one image add a batch axis"),
    ("size", lambda c: {"pixel_values": images(c, size=(40, 40))}, r"^Input image size \(40\*40\) doesn't match model \(32\*32\).*interpolate_pos_encoding=True"),
    ("tiny", lambda c: {"pixel_values": images(c, size=(4, 40))}, r"^pixel_values has shape \(2, 3, 4, 40\): images of 4x40 pixels hold no whole 8x8 patch"),
    ("mask-shape", lambda c: {"pixel_values": images(c), "bool_masked_pos": np.ones((2, 5), bool)},
     r"^bool_masked_pos has shape \(2, 5\), but the images have 16 patches"),
]


@pytest.mark.parametrize("framework", FRAMEWORKS)
@pytest.mark.parametrize("name,make,pattern", BAD_INPUTS, ids=[b[0] for b in BAD_INPUTS])
def test_bad_images_get_one_clear_error(framework, name, make, pattern):
    config = CONFIGS["square"]
    model = our_class(framework, "masked-image-modeling")(polyformer.ViTConfig(**config))
    with pytest.raises(ValueError, match=pattern):
        _harness(framework).forward(model, make(config))


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_mask_needs_the_mask_token_and_a_matching_stride(framework):
    config = CONFIGS["square"]
    classifier = our_class(framework, "image-classification")(polyformer.ViTConfig(**config))
    pixels = images(config)
    with pytest.raises(ValueError, match="bool_masked_pos needs a model with a mask token"):
        _harness(framework).forward(classifier, {"pixel_values": pixels, "bool_masked_pos": np.ones((2, 16), bool)})
    mim = our_class(framework, "masked-image-modeling")(polyformer.ViTConfig(**dict(config, encoder_stride=4)))
    with pytest.raises(ValueError, match="patch_size == config.encoder_stride"):
        _harness(framework).forward(mim, {"pixel_values": pixels, "bool_masked_pos": np.ones((2, 16), bool)})


def _pil_images():
    from PIL import Image

    rng = np.random.default_rng(7)
    rgb = Image.fromarray(rng.integers(0, 256, (57, 83, 3), dtype=np.uint8), "RGB")
    gray = Image.fromarray(rng.integers(0, 256, (40, 40), dtype=np.uint8), "L").convert("RGB")
    rgba = Image.fromarray(rng.integers(0, 256, (64, 30, 4), dtype=np.uint8), "RGBA").convert("RGB")
    return [rgb, gray, rgba]


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_image_processor_and_auto_model_end_to_end(tmp_path, framework):
    """PIL images of mixed sizes and modes -> AutoImageProcessor -> AutoModelForImageClassification: transformers' logits."""
    config = CONFIGS["square"]
    reference = hf_checkpoint(tmp_path, "image-classification", **config)
    transformers.ViTImageProcessor(size={"height": 32, "width": 32}).save_pretrained(tmp_path)
    processor = polyformer.AutoImageProcessor.from_pretrained(tmp_path)
    model = polyformer.AutoModelForImageClassification.from_pretrained(tmp_path, framework=framework)
    assert type(model).__name__ == PREFIX[framework] + "ViTForImageClassification"
    pil = _pil_images()
    ours = processor(pil, return_tensors="np")
    theirs = transformers.AutoImageProcessor.from_pretrained(tmp_path)(pil, return_tensors="pt")
    assert_close(ours["pixel_values"], theirs["pixel_values"].numpy())
    want = hf_outputs(reference, {"pixel_values": theirs["pixel_values"].numpy()})
    got = _harness(framework).forward(model, {"pixel_values": ours["pixel_values"]})
    assert_outputs_close(want, got)
    assert [reference.config.id2label[i] for i in want["logits"].argmax(-1)] == \
        [model.config.id2label[i] for i in got["logits"].argmax(-1)]
