"""The optional capabilities the Flax backend declares, against the PyTorch backend (the reference).

transformers v5 has neither head pruning nor head masks, so polyformer's PyTorch models are the
reference here: same checkpoint, same calls, same outputs (within float32 rounding, see
:mod:`polyformer.testing.compare`), same weights bit for bit where weights are only copied or
sliced, and the same error messages. Checkpoints are random PyTorch models (fixed seed) whose
every weight is then moved by noise, so that LayerNorms and biases differ from their fresh
values and a weight sliced or loaded wrongly changes the outputs.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from typing import Any

import jax
import numpy as np
import pytest
import torch

import polyformer
from polyformer import get_registry
from polyformer.backends.flax import heads, layers
from polyformer.backends.flax.modeling import BaseModule, FlaxPreTrainedModel
from polyformer.core.checkpoint import find_weight_files, load_tensors, save_tensors
from polyformer.core.numerics import to_pair
from polyformer.core.outputs import ModelOutput
from polyformer.models.vit.configuration import ViTConfig
from polyformer.models.distilbert.modeling_flax import FlaxDistilBertPreTrainedModel
from polyformer.testing import assert_close, assert_outputs_close, assert_weights_equal

#: Tiny configurations: two layers of four heads (head size 8), so that pruning can leave 1-3 heads per layer.
ARCHS = {
    "DistilBert": dict(vocab_size=50, dim=32, n_heads=4, n_layers=2, hidden_dim=40, max_position_embeddings=24),
    "Bert": dict(vocab_size=50, hidden_size=32, num_attention_heads=4, num_hidden_layers=2, intermediate_size=40,
                 max_position_embeddings=24, type_vocab_size=2),
}
FLAGS = dict(output_attentions=True, output_hidden_states=True)


def config(arch: str, **overrides: Any):
    return getattr(polyformer, f"{arch}Config")(**{**ARCHS[arch], **overrides})


def model_class(framework: str, arch: str, head: str):
    return getattr(polyformer, f"{'Flax' if framework == 'flax' else ''}{arch}{head}")


def torch_checkpoint(folder, arch: str, head: str = "ForSequenceClassification", seed: int = 0, **overrides):
    """A PyTorch model saved to ``folder``, every weight then moved by N(0, 0.02) noise."""
    torch.manual_seed(seed)
    model_class("torch", arch, head)(config(arch, **overrides)).save_pretrained(folder)
    rng = np.random.default_rng(seed)
    tensors = load_tensors(find_weight_files(folder))
    save_tensors({name: (array + rng.normal(0.0, 0.02, array.shape)).astype(array.dtype)
                  for name, array in tensors.items()}, folder)
    return folder


def load_both(folder, arch: str, head: str = "ForSequenceClassification", **overrides):
    """(PyTorch model, Flax model) from one checkpoint, both loading every weight."""
    loaded = []
    for framework in ("torch", "flax"):
        model, info = model_class(framework, arch, head).from_pretrained(folder, output_loading_info=True, **overrides)
        assert not any(info.values()), (framework, info)
        loaded.append(model.eval() if framework == "torch" else model)
    return loaded


def run_torch(model, inputs: dict, **kwargs):
    with torch.no_grad():
        return model(**inputs, **kwargs)


def inputs_of(model, batch: int = 2) -> dict[str, np.ndarray]:
    return model.config.example_inputs(batch, seed=3)


# ---- head pruning ------------------------------------------------------------------------
@pytest.mark.parametrize("arch", sorted(ARCHS))
def test_torch_pruned_checkpoint_loads_runs_and_converts_back_bit_exactly(tmp_path, arch):
    """A checkpoint with pruned weight shapes and config.pruned_heads (the transformers 4.x layout)."""
    torch_model = model_class("torch", arch, "ForSequenceClassification").from_pretrained(
        torch_checkpoint(tmp_path / "full", arch)).eval()
    torch_model.prune_heads({0: [0, 2], 1: [3]})
    torch_model.save_pretrained(tmp_path / "pruned")

    model, info = model_class("flax", arch, "ForSequenceClassification").from_pretrained(
        tmp_path / "pruned", output_loading_info=True
    )
    assert not any(info.values()), info
    assert model.config.pruned_heads == {0: [0, 2], 1: [3]}
    names = model._export_canonical()
    query = next(name for name in names if name.endswith((".layer.0.attention.q_lin.weight",
                                                          ".layer.0.attention.self.query.weight")))
    assert names[query].shape == (2 * 8, 32)  # two heads of size 8 left in layer 0
    inputs = inputs_of(model)
    assert_outputs_close(run_torch(torch_model, inputs, **FLAGS), model(**inputs, **FLAGS))

    # torch -> flax -> torch: every tensor bit-identical, and the reloaded torch model is pruned the same way.
    model.save_pretrained(tmp_path / "flax")
    again, info = model_class("torch", arch, "ForSequenceClassification").from_pretrained(
        tmp_path / "flax", output_loading_info=True
    )
    assert not any(info.values()), info
    assert_weights_equal(load_tensors(find_weight_files(tmp_path / "pruned")), load_tensors(find_weight_files(tmp_path / "flax")),
                         where="torch -> flax")
    assert_weights_equal(torch_model._export_canonical(), again._export_canonical(), where="torch -> flax -> torch")


@pytest.mark.parametrize("arch", sorted(ARCHS))
def test_prune_heads_matches_torch_and_keeps_other_weights(tmp_path, arch):
    torch_model, model = load_both(torch_checkpoint(tmp_path, arch, seed=1), arch)
    before = model._export_canonical()
    for step in ({0: [1], 1: [0, 3]}, {0: [2, 1], 1: [2]}):  # the second names heads as originally numbered
        torch_model.prune_heads(step)
        model.prune_heads(step)
    assert model.config.pruned_heads == torch_model.config.pruned_heads == {0: [1, 2], 1: [0, 2, 3]}
    after = model._export_canonical()
    # Sliced, not computed: bit for bit the PyTorch backend's weights; the others untouched.
    assert_weights_equal(torch_model._export_canonical(), after, where="pruned")
    unchanged = {name: value for name, value in before.items() if value.shape == after[name].shape}
    assert len(unchanged) < len(before)  # the attention projections of both layers did shrink
    assert_weights_equal(unchanged, {name: after[name] for name in unchanged}, where="weights pruning keeps")
    inputs = inputs_of(model)
    assert_outputs_close(run_torch(torch_model, inputs, **FLAGS), model(**inputs, **FLAGS))

    # Pruning every head left is refused with the same words, and nothing changes.
    with pytest.raises(ValueError) as torch_error:
        torch_model.prune_heads({1: [1]})
    with pytest.raises(ValueError) as flax_error:
        model.prune_heads({1: [1]})
    assert str(flax_error.value) == str(torch_error.value) == "cannot prune every head of an attention layer (it has 1 left)"
    assert model.config.pruned_heads == {0: [1, 2], 1: [0, 2, 3]}
    assert_weights_equal(after, model._export_canonical(), where="after a refused pruning")


def test_prune_heads_names_a_bad_layer_or_head(tmp_path):
    model = polyformer.FlaxDistilBertModel(config("DistilBert"))
    with pytest.raises(ValueError, match=r"^prune_heads: 2 is not a layer of this model \(0 to 1\)$"):
        model.prune_heads({2: [0]})
    with pytest.raises(ValueError, match=r"^prune_heads: layer 0 has heads 0 to 3, got \[4\]$"):
        model.prune_heads({0: [4]})
    with pytest.raises(ValueError, match=r"^prune_heads: layer 1 must map to a list of heads, got 3$"):
        model.prune_heads({1: 3})
    assert model.config.pruned_heads == {}
    model.prune_heads({"1": [3]})  # a layer key as JSON writes it
    assert model.config.pruned_heads == {1: [3]}


# ---- head masks --------------------------------------------------------------------------
@pytest.mark.parametrize("arch", sorted(ARCHS))
def test_head_mask_matches_torch(tmp_path, arch):
    torch_model, model = load_both(torch_checkpoint(tmp_path, arch, seed=2), arch)
    inputs = inputs_of(model)
    plain = np.asarray(model(**inputs, **FLAGS).hidden_states[-1])
    per_layer = np.array([[1.0, 0.0, 1.0, 0.5], [0.0, 1.0, 1.0, 1.0]], np.float32)
    for head_mask in (per_layer, per_layer[1]):  # (layers, heads), and (heads,) for every layer
        expected = run_torch(torch_model, inputs, head_mask=torch.from_numpy(head_mask), **FLAGS)
        actual = model(**inputs, head_mask=head_mask, **FLAGS)
        assert_outputs_close(expected, actual)
        # The mask did something: post-LayerNorm states (of order 1) move by far more than the tolerance (1e-5).
        assert np.abs(np.asarray(actual.hidden_states[-1]) - plain).max() > 1e-2
    assert np.all(np.asarray(actual.attentions[0])[:, 0] == 0)  # head 0 silenced in every layer

    with pytest.raises(ValueError) as torch_error:
        run_torch(torch_model, inputs, head_mask=torch.ones(3, 4))
    with pytest.raises(ValueError) as flax_error:
        model(**inputs, head_mask=np.ones((3, 4), np.float32))
    assert str(flax_error.value) == str(torch_error.value) == "head_mask must have shape (heads,) or (2, heads), got (3, 4)"


def test_multiple_choice_hands_the_head_mask_on_whole(tmp_path):
    """A head mask is per layer and head, not per choice: ``(heads,)`` acts as the same row for every layer."""
    model = polyformer.FlaxBertForMultipleChoice(config("Bert"), seed=4)
    inputs = {name: value.reshape(2, 3, -1) for name, value in model.config.example_inputs(6).items()}
    row = np.array([1.0, 0.0, 1.0, 1.0], np.float32)
    masked = model(**inputs, head_mask=row, output_hidden_states=True)
    assert_outputs_close(model(**inputs, head_mask=np.stack([row, row]), output_hidden_states=True), masked)
    plain = model(**inputs, output_hidden_states=True)  # the mask did something (post-LayerNorm states, order 1)
    assert np.abs(np.asarray(masked.hidden_states[-1]) - np.asarray(plain.hidden_states[-1])).max() > 1e-2


# ---- feed-forward chunking --------------------------------------------------------------------
def _matmuls(model, inputs) -> int:
    """How many matrix products the model's program makes (chunking repeats the feed-forward's)."""
    jaxpr = jax.make_jaxpr(lambda params: model.module.apply({"params": params}, **inputs))(model.params)
    return str(jaxpr).count("dot_general")


@pytest.mark.parametrize("arch", sorted(ARCHS))
def test_chunked_feed_forward_gives_the_same_outputs(tmp_path, arch):
    folder = torch_checkpoint(tmp_path, arch, seed=3)
    _, whole = load_both(folder, arch)
    torch_chunked, chunked = load_both(folder, arch, chunk_size_feed_forward=3)  # 7 positions: slices of 3, 3, 1
    inputs = inputs_of(whole)
    assert _matmuls(chunked, inputs) == _matmuls(whole, inputs) + 2 * 2 * 2  # 2 more slices x 2 linears x 2 layers
    expected = whole(**inputs, **FLAGS)
    assert_outputs_close(expected, chunked(**inputs, **FLAGS))
    assert_outputs_close(run_torch(torch_chunked, inputs, **FLAGS), chunked(**inputs, **FLAGS))


# ---- resizing the vocabulary --------------------------------------------------------------------
@pytest.mark.parametrize("arch, tied", [("DistilBert", True), ("Bert", True), ("Bert", False)])
def test_resize_token_embeddings_as_torch(tmp_path, arch, tied):
    folder = torch_checkpoint(tmp_path / "ckpt", arch, "ForMaskedLM", seed=5, tie_word_embeddings=tied)
    torch_model, model = load_both(folder, arch, "ForMaskedLM")
    old = model._export_canonical()
    old_table = np.asarray(model.get_input_embeddings())
    table = model.resize_token_embeddings(53, pad_to_multiple_of=8)  # -> 56 rows
    torch_model.resize_token_embeddings(53, pad_to_multiple_of=8)
    assert table.shape == (56, 32) and model.config.vocab_size == torch_model.config.vocab_size == 56
    np.testing.assert_array_equal(np.asarray(table), np.asarray(model.get_input_embeddings()))
    np.testing.assert_array_equal(np.asarray(table)[:50], old_table)  # old rows kept bit for bit
    assert 0.01 < np.std(np.asarray(table)[50:]) < 0.03  # new rows ~ N(0, initializer_range=0.02): 6 x 32 draws

    new = model._export_canonical()
    resized = {name for name in new if new[name].shape != old[name].shape}
    for name in resized:  # vocabulary rows (weights) or entries (biases): the old ones kept, the new biases zero
        np.testing.assert_array_equal(new[name][:50], old[name], err_msg=name)
        if name.endswith("bias"):
            assert np.all(new[name][50:] == 0), name
    assert_weights_equal({n: v for n, v in old.items() if n not in resized}, {n: new[n] for n in old if n not in resized})
    projection = "vocab_projector.weight" if arch == "DistilBert" else "cls.predictions.decoder.weight"
    assert (projection in resized) == (not tied)  # tied: no weight of its own, it reads the new table
    np.testing.assert_array_equal(new[next(iter(n for n in resized if "embeddings" in n))], table)

    # The resized model saves for PyTorch, which ties it the same way and computes the same logits.
    model.save_pretrained(tmp_path / "resized")
    reloaded, info = model_class("torch", arch, "ForMaskedLM").from_pretrained(tmp_path / "resized",
                                                                                output_loading_info=True)
    assert not any(info.values()), info
    inputs = {**inputs_of(model), "input_ids": np.array([[55, 1, 54, 7, 50, 2, 3], [4, 5, 6, 7, 8, 9, 10]])}
    assert_outputs_close(run_torch(reloaded.eval(), inputs), model(**inputs))

    shrunk = model.resize_token_embeddings(40)
    np.testing.assert_array_equal(np.asarray(shrunk), np.asarray(table)[:40])
    assert model(**inputs_of(model)).logits.shape[-1] == 40


def test_resize_token_embeddings_refuses_what_torch_refuses():
    for bad in (dict(pad_to_multiple_of=0), dict(new_num_tokens=-3), dict(new_num_tokens=2.5)):
        messages = []
        for framework in ("torch", "flax"):
            model = model_class(framework, "DistilBert", "ForMaskedLM")(config("DistilBert"))
            with pytest.raises(ValueError) as error:
                model.resize_token_embeddings(**bad)
            messages.append(str(error.value))
            assert model.config.vocab_size == 50
        assert messages[0] == messages[1], bad
    model = polyformer.FlaxDistilBertForMaskedLM(config("DistilBert"))
    assert np.array_equal(np.asarray(model.resize_token_embeddings()), np.asarray(model.get_input_embeddings()))
    with pytest.raises(ValueError, match=r"table has shape \(50, 32\), got \(51, 32\); to change the vocabulary size"):
        model.set_input_embeddings(np.zeros((51, 32), np.float32))


# ---- problem type -------------------------------------------------------------------------------
@pytest.mark.parametrize("num_labels, labels, problem_type", [
    (3, np.array([0, 2]), "single_label_classification"),
    (3, np.array([[1.0, 0.0, 1.0], [0.0, 0.0, 1.0]], np.float32), "multi_label_classification"),
    (1, np.array([0.5, -1.0], np.float32), "regression"),
])
def test_problem_type_is_written_to_the_config(tmp_path, num_labels, labels, problem_type):
    """As transformers (and the PyTorch backend) do: inferred from the first labels, then kept and saved."""
    model = polyformer.FlaxDistilBertForSequenceClassification(config("DistilBert", num_labels=num_labels))
    assert model.config.problem_type is None
    output = model(**inputs_of(model), labels=labels)
    assert np.isfinite(float(output.loss))
    assert model.config.problem_type == problem_type
    model.save_pretrained(tmp_path)
    assert json.loads((tmp_path / "config.json").read_text())["problem_type"] == problem_type


# ---- gradient checkpointing ---------------------------------------------------------------------
def test_gradient_checkpointing_is_refused_with_the_capability_error():
    with pytest.raises(NotImplementedError) as expected:
        get_registry().backend("flax").require("gradient_checkpointing")
    model = polyformer.FlaxBertModel(config("Bert"))
    with pytest.raises(NotImplementedError) as raised:
        model.gradient_checkpointing_enable()
    assert str(raised.value) == str(expected.value)
    assert "gradient checkpointing" in str(raised.value) and "flax" in str(raised.value)
    model.gradient_checkpointing_disable()  # nothing to turn off
    assert not model.is_gradient_checkpointing


# ---- a head with an output class defined outside polyformer -------------------------------------
@dataclasses.dataclass(repr=False, eq=False)
class TaggingOutput(ModelOutput):
    """An output class a plugin defines (after the Flax backend was imported)."""

    loss: Any = None
    logits: Any = None
    tags: Any = None
    hidden_states: Any = None
    attentions: Any = None


class TaggingHead(heads.ForTokenClassification, FlaxDistilBertPreTrainedModel):
    """A plugin's head on the generic token classifier: its own output, with the best tag per token."""

    output_class = TaggingOutput

    def head_outputs(self, base_output, inputs, labels=None):
        fields = heads.ForTokenClassification.head_outputs(self, base_output, inputs, labels)
        return {**fields, "tags": fields["logits"].argmax(-1)}


def test_a_plugin_head_returns_its_own_output_class_through_jit():
    model = TaggingHead(config("DistilBert", num_labels=3), seed=6)
    inputs = inputs_of(model)
    output = model(**inputs, labels=np.zeros((2, 7), np.int64), output_hidden_states=True)
    assert type(output) is TaggingOutput and list(output.keys()) == ["loss", "logits", "tags", "hidden_states"]
    np.testing.assert_array_equal(np.asarray(output.tags), np.asarray(output.logits).argmax(-1))
    reference = polyformer.FlaxDistilBertForTokenClassification(copy.deepcopy(model.config), seed=6)
    assert_close(output.logits, reference(**inputs).logits)  # same weights (same seed and names), same head


# ---- a model without text: the base class and the image heads ----------------------------------
class TinyImageConfig(ViTConfig):
    """ViT's config, with the example inputs an image architecture gives (pixels, NCHW as in PyTorch)."""

    def example_inputs(self, batch_size: int = 2, *, seed: int = 0) -> dict[str, np.ndarray]:
        height, width = to_pair(self.image_size)
        rng = np.random.default_rng(seed)
        return {"pixel_values": rng.standard_normal((batch_size, self.num_channels, height, width)).astype(np.float32)}


def _patches(pixels, patch: int):
    """(batch, channels, H, W) -> (batch, patches, channels * patch * patch), patches in row-major order."""
    batch, channels, height, width = pixels.shape
    grid = pixels.reshape(batch, channels, height // patch, patch, width // patch, patch)
    return grid.transpose(0, 2, 4, 1, 3, 5).reshape(batch, (height // patch) * (width // patch), -1)


class TinyPatchEncoder(BaseModule):
    """A stand-in for ViT: patches embedded by one linear (masked ones zeroed), one shared transformer layer."""

    def setup(self):
        c = self.config
        self.embeddings = layers.dense(c.hidden_size, c.initializer_range, self.dtype)
        self.encoder = layers.Encoder([layers.TransformerLayer(c.hidden_size, c.num_attention_heads, c.intermediate_size,
                                                               c.hidden_act, norm_first=True, dtype=self.dtype)])

    def __call__(self, pixel_values=None, bool_masked_pos=None, head_mask=None, train=False, output_attentions=None,
                 output_hidden_states=None, return_dict=None):
        output_attentions, output_hidden_states, return_dict = self.resolve_output_flags(
            output_attentions, output_hidden_states, return_dict)
        hidden = self.embeddings(_patches(pixel_values, self.config.patch_size))
        if bool_masked_pos is not None:
            hidden = hidden * (1 - bool_masked_pos[..., None].astype(hidden.dtype))
        output = self.encoder(hidden, None, head_mask, output_attentions, output_hidden_states, deterministic=not train)
        return output if return_dict else output.to_tuple()


class TinyImagePreTrainedModel(FlaxPreTrainedModel):
    config_class = TinyImageConfig
    base_model_prefix = "vit"
    main_input_name = "pixel_values"

    def make_base_model(self, config):
        return TinyPatchEncoder(config, self.dtype)


class TinyForImageClassification(heads.ForImageClassification, TinyImagePreTrainedModel):
    """The generic image classifier: the first position's features, classified."""


class TinyForMaskedImageModeling(heads.ForMaskedImageModeling, TinyImagePreTrainedModel):
    """The generic SimMIM head, with a decoder from each position back to its patch's pixels."""

    def build_head(self, config):
        self.decoder = layers.dense(config.num_channels * config.patch_size**2, config.initializer_range, self.dtype)

    def reconstruct(self, base_output, inputs):
        c, pixels = self.config, inputs["pixel_values"]
        batch, channels, height, width = pixels.shape
        grid = self.decoder(base_output.last_hidden_state).reshape(
            batch, height // c.patch_size, width // c.patch_size, channels, c.patch_size, c.patch_size)
        return grid.transpose(0, 3, 1, 4, 2, 5).reshape(batch, channels, height, width)


TINY_IMAGE = dict(hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=24, image_size=8,
                  patch_size=4, encoder_stride=4, num_channels=3)


def test_an_image_model_uses_the_base_class_and_the_image_heads_without_text():
    """Traced on the config's own example inputs (pixels, no token ids); losses as the PyTorch backend computes them."""
    from polyformer.backends.torch import losses as torch_losses

    classifier = TinyForImageClassification(TinyImageConfig(**TINY_IMAGE, num_labels=3))
    pixels = classifier.config.example_inputs(2, seed=1)["pixel_values"]
    labels = np.array([2, 0])
    output = classifier(pixels, labels=labels)  # positionally: the main input
    assert output.logits.shape == (2, 3) and classifier.config.problem_type == "single_label_classification"
    expected = torch.nn.functional.cross_entropy(torch.from_numpy(np.array(output.logits)), torch.from_numpy(labels))
    assert_close(output.loss, expected, name="loss")  # cross-entropy of values of order 1: float32 rounding only

    mim = TinyForMaskedImageModeling(TinyImageConfig(**TINY_IMAGE))
    mask = np.array([[True, False, False, True], [False, True, False, False]])
    output = mim(pixel_values=pixels, bool_masked_pos=mask)
    assert output.reconstruction.shape == pixels.shape
    expected = torch_losses.masked_image_modeling_loss(torch.from_numpy(pixels), torch.from_numpy(np.array(output.reconstruction)),
                                                       torch.from_numpy(mask), 4)
    assert_close(output.loss, expected, name="loss")
    assert "loss" not in mim(pixel_values=pixels)
    with pytest.raises(TypeError, match=r"^TinyPatchEncoder inputs: got an unexpected keyword argument 'input_ids'; "
                                        r"it takes pixel_values, bool_masked_pos, head_mask$"):
        mim(input_ids=np.zeros((2, 3), np.int64))


# ---- fixed sinusoidal positions -------------------------------------------------------------------
@pytest.mark.parametrize("sinusoidal", [True, False])
def test_sinusoidal_positions_are_not_trained(sinusoidal):
    """As in PyTorch (and transformers), the sin/cos table is fixed: no gradient reaches it, and it is not counted
    as trainable; a learned table gets gradients."""
    model = polyformer.FlaxDistilBertForMaskedLM(config("DistilBert", sinusoidal_pos_embds=sinusoidal))
    torch_model = polyformer.DistilBertForMaskedLM(config("DistilBert", sinusoidal_pos_embds=sinusoidal))
    assert model.num_parameters(only_trainable=True) == torch_model.num_parameters(only_trainable=True)
    assert model.num_parameters() == torch_model.num_parameters()
    inputs = inputs_of(model)
    labels = np.where(np.arange(7) % 2, inputs["input_ids"], -100)

    def loss(params):
        return model.module.apply({"params": params}, **inputs, labels=labels).loss

    grads = jax.grad(loss)(model.params)["distilbert"]["embeddings"]["position_embeddings"]["embedding"]
    assert bool(np.any(np.asarray(grads) != 0)) is not sinusoidal


# ---- the rest of the one model API -----------------------------------------------------------------
def test_init_weights_and_tie_checks():
    model = polyformer.FlaxBertForMaskedLM(config("Bert"), seed=7)
    fresh = model._export_canonical()
    model.params = jax.tree_util.tree_map(lambda leaf: leaf * 0, model.params)
    model.init_weights()  # the draws of a fresh model with this seed, every weight
    assert_weights_equal(fresh, model._export_canonical(), where="init_weights")
    assert model.get_output_embeddings() == {}  # tied: the decoder reads the word table and cls.predictions.bias

    class Misdeclared(polyformer.FlaxBertForMaskedLM):
        tied_weights = {"cls.predictions.transform.dense.weight": "bert.embeddings.word_embeddings.weight"}

    with pytest.raises(RuntimeError, match=r"tied weights cls\.predictions\.transform\.dense\.weight have "
                                           r"parameters of their own"):
        Misdeclared(config("Bert"))


def test_a_model_without_weights_is_not_saved(tmp_path):
    """Built for loading (shapes only) and never loaded: refused by name, and nothing written."""
    model = polyformer.FlaxDistilBertModel(config("DistilBert"), _do_init=False)
    with pytest.raises(RuntimeError, match=r"^FlaxDistilBertModel\.save_pretrained: weights have no value yet: "
                                           r"embeddings\.LayerNorm\.bias, .* \(call post_init\(\) or load a checkpoint"):
        model.save_pretrained(tmp_path / "saved")
    assert not (tmp_path / "saved").exists()
    model.post_init()
    model.save_pretrained(tmp_path / "saved")
    assert (tmp_path / "saved" / "model.safetensors").is_file()
