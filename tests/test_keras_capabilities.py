"""The Keras backend's optional features, against the PyTorch backend (the reference) on the same checkpoints.

What the Keras backend declares (``Backend.capabilities``): head pruning (from
``config.pruned_heads`` at construction, and ``prune_heads``), head masks, feed-forward chunking
and vocabulary resizing; and what it does not (gradient checkpointing), which must be a clear
error. Plus what every backend now does: ``problem_type`` written to the config, and inputs
routed by the model's ``main_input_name`` whatever the modality. DistilBERT and BERT both,
since they reach the shared blocks differently (``TransformerLayer`` versus BERT's own layer
around ``AttentionBlock``). Checkpoints are random (fixed seeds) with every weight perturbed,
so that no bias or LayerNorm keeps its initial value and a weight pruned, masked or resized
in the wrong place changes the outputs.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("tensorflow")
pytest.importorskip("keras")

import polyformer  # noqa: E402
from polyformer import get_registry  # noqa: E402
from polyformer.backends.keras import heads, layers, losses as keras_losses  # noqa: E402
from polyformer.backends.keras.modeling import TFPreTrainedModel  # noqa: E402
from polyformer.backends.torch import losses as torch_losses  # noqa: E402
from polyformer.core.checkpoint import find_weight_files, load_tensors  # noqa: E402
from polyformer.core.configuration import PretrainedConfig  # noqa: E402
from polyformer.testing import assert_close, assert_outputs_close, assert_weights_equal  # noqa: E402

import keras  # noqa: E402  (on TensorFlow: see tests/conftest.py)
import tensorflow as tf  # noqa: E402

ARCHS = ["DistilBert", "Bert"]
SIZES = {
    "DistilBert": dict(vocab_size=99, dim=32, hidden_dim=37, n_layers=2, n_heads=4, max_position_embeddings=32),
    "Bert": dict(vocab_size=99, hidden_size=32, intermediate_size=37, num_hidden_layers=2, num_attention_heads=4,
                 max_position_embeddings=32),
}
LENGTH = 7  # config.example_inputs' sequence length


def make_config(arch: str, **overrides):
    return getattr(polyformer, f"{arch}Config")(**{**SIZES[arch], **overrides})


def torch_checkpoint(folder, arch: str, head: str, seed: int = 0, **overrides):
    """A perturbed random PyTorch model, saved to ``folder``; returned in eval mode."""
    torch.manual_seed(seed)
    model = getattr(polyformer, f"{arch}{head}")(make_config(arch, **overrides))
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in {id(p): p for p in model.parameters()}.values():
            param.add_(torch.randn(param.shape, generator=generator) * 0.1)
    model.save_pretrained(folder)
    return model.eval()


def keras_class(arch: str, head: str):
    return getattr(polyformer, f"TF{arch}{head}")


def run_torch(model, inputs, **kwargs) -> dict:
    tensors = {k: torch.from_numpy(np.asarray(v)) for k, v in inputs.items()}
    with torch.no_grad():
        output = model(**tensors, **kwargs)
    return {k: tuple(t.numpy() for t in v) if isinstance(v, tuple) else v.numpy() for k, v in output.items()}


def run_keras(model, inputs, **kwargs) -> dict:
    output = model(dict(inputs), **kwargs)
    return {k: tuple(np.asarray(t) for t in v) if isinstance(v, tuple) else np.asarray(v) for k, v in output.items()}


def exported(model) -> dict[str, np.ndarray]:
    """The canonical weights a model saves, as numpy (torch tensors included)."""
    return {name: np.asarray(t.detach().numpy() if hasattr(t, "detach") else t)
            for name, t in model._export_canonical().items()}


def saved(folder) -> dict[str, np.ndarray]:
    return load_tensors(find_weight_files(folder))


ALL_OUTPUTS = dict(output_hidden_states=True, output_attentions=True)


# ---- head pruning ------------------------------------------------------------------------------
@pytest.mark.parametrize("arch", ARCHS)
def test_torch_pruned_checkpoint_loads_and_runs_in_keras(arch, tmp_path):
    """A checkpoint with pruned weight shapes and config.pruned_heads (the transformers 4.x layout) loads in Keras."""
    reference = torch_checkpoint(tmp_path / "full", arch, "Model")
    reference.prune_heads({0: [1, 3], 1: [0]})
    reference.save_pretrained(tmp_path / "pruned")
    model, info = keras_class(arch, "Model").from_pretrained(tmp_path / "pruned", output_loading_info=True)
    assert info == {"missing_keys": [], "unexpected_keys": [], "mismatched_keys": []}
    assert model.config.pruned_heads == {0: [1, 3], 1: [0]}
    inputs = model.config.example_inputs(2, seed=0)
    actual = run_keras(model, inputs, **ALL_OUTPUTS)
    assert [a.shape[1] for a in actual["attentions"]] == [2, 3]
    assert_outputs_close(run_torch(reference, inputs, **ALL_OUTPUTS), actual)


@pytest.mark.parametrize("arch", ARCHS)
def test_prune_heads_matches_torch(arch, tmp_path):
    """Pruning the same checkpoint in both, in two steps (heads numbered as originally), gives the same model."""
    torch_checkpoint(tmp_path, arch, "ForSequenceClassification")
    reference = getattr(polyformer, f"{arch}ForSequenceClassification").from_pretrained(tmp_path)
    model = keras_class(arch, "ForSequenceClassification").from_pretrained(tmp_path)
    for step in ({0: [1]}, {0: [3], 1: [0, 2]}, {0: [1]}):  # the last one prunes nothing new
        reference.prune_heads(step)
        model.prune_heads(step)
    assert model.config.pruned_heads == reference.config.pruned_heads == {0: [1, 3], 1: [0, 2]}
    # Pruning selects weights and computes nothing: bit for bit the reference's.
    assert_weights_equal(exported(reference), exported(model), where="pruned in keras vs torch")
    assert model.num_parameters() == reference.num_parameters()
    inputs = model.config.example_inputs(2, seed=1)
    assert_outputs_close(run_torch(reference, inputs, **ALL_OUTPUTS), run_keras(model, inputs, **ALL_OUTPUTS))


@pytest.mark.parametrize("arch", ARCHS)
def test_pruned_model_converts_bit_exactly(arch, tmp_path):
    """torch (pruned) -> keras -> torch by checkpoints: every tensor and config.pruned_heads unchanged."""
    reference = torch_checkpoint(tmp_path / "full", arch, "ForMaskedLM")
    reference.prune_heads({1: [0, 1, 2]})
    reference.save_pretrained(tmp_path / "torch")
    keras_class(arch, "ForMaskedLM").from_pretrained(tmp_path / "torch").save_pretrained(tmp_path / "keras")
    back, info = getattr(polyformer, f"{arch}ForMaskedLM").from_pretrained(tmp_path / "keras", output_loading_info=True)
    assert info == {"missing_keys": [], "unexpected_keys": [], "mismatched_keys": []}
    back.save_pretrained(tmp_path / "back")
    assert_weights_equal(saved(tmp_path / "torch"), saved(tmp_path / "back"), where="torch -> keras -> torch")
    assert json.loads((tmp_path / "keras" / "config.json").read_text())["pruned_heads"] == {"1": [0, 1, 2]}


def test_pruning_errors_are_the_references():
    """Pruning every head left is refused with torch's message, and changes nothing."""
    config = make_config("DistilBert", pruned_heads={0: [0, 1]})
    model, reference = polyformer.TFDistilBertModel(config), polyformer.DistilBertModel(make_config("DistilBert", pruned_heads={0: [0, 1]}))
    errors = []
    for candidate in (reference, model):
        with pytest.raises(ValueError) as caught:
            candidate.prune_heads({0: [2, 3]})
        errors.append(str(caught.value))
    assert errors[0] == errors[1] == "cannot prune every head of an attention layer (it has 2 left)"
    attention = model.transformer.layer[0].attention
    assert attention.num_heads == 2 and model.config.pruned_heads == {0: [0, 1]}
    with pytest.raises(ValueError) as keras_error:
        layers.MultiHeadSelfAttention(8, 2, pruned_heads=(0, 1))
    with pytest.raises(ValueError) as torch_error:
        polyformer.backends.torch.layers.MultiHeadSelfAttention(8, 2, pruned_heads=(0, 1))
    assert str(keras_error.value) == str(torch_error.value)


def test_pruned_model_trains_after_compiling_again():
    """Pruning replaces variables: the model's weights are the new ones only, and fit trains them."""
    keras.utils.set_random_seed(0)
    model = polyformer.TFBertForSequenceClassification(make_config("Bert", hidden_dropout_prob=0.0,
                                                                   attention_probs_dropout_prob=0.0))
    inputs = {**model.config.example_inputs(4, seed=0), "labels": np.array([0, 1, 1, 0])}
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    model.fit(inputs, batch_size=4, epochs=1, verbose=0)
    model.prune_heads({0: [0, 1], 1: [3]})
    reference = polyformer.BertForSequenceClassification(make_config("Bert"))
    reference.prune_heads({0: [0, 1], 1: [3]})
    assert model.num_parameters() == model.num_parameters(only_trainable=True) == reference.num_parameters()
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    before = model.evaluate(inputs, batch_size=4, verbose=0)
    model.fit(inputs, batch_size=4, epochs=3, verbose=0)
    assert model.evaluate(inputs, batch_size=4, verbose=0) < before


def test_errors_inside_a_call_reach_the_user_as_raised():
    """Keras rewrites an error raised inside a layer's call (call name, ANSI escapes, arguments): the user sees ours."""
    model = polyformer.TFDistilBertForSequenceClassification(make_config("DistilBert"))
    ids = np.ones((1, 3), np.int64)
    with pytest.raises(TypeError) as caught:
        model(input_ids=ids, token_type_ids=np.zeros_like(ids))
    assert str(caught.value) == (
        "TFDistilBertModel inputs: got an unexpected keyword argument 'token_type_ids'; it takes input_ids, "
        "attention_mask, head_mask, inputs_embeds, position_ids")
    with pytest.raises(ValueError) as caught:
        model(input_ids=ids, head_mask=np.ones((2, 2, 2), np.float32))
    assert str(caught.value) == "head_mask must have shape (heads,) or (2, heads), got (2, 2, 2)"


# ---- head masks --------------------------------------------------------------------------------
@pytest.mark.parametrize("arch", ARCHS)
def test_head_mask_matches_torch(arch, tmp_path):
    """Attention weights are multiplied by the mask, per layer ((layers, heads)) or for all layers ((heads,))."""
    reference = torch_checkpoint(tmp_path, arch, "Model")
    model = keras_class(arch, "Model").from_pretrained(tmp_path)
    inputs = model.config.example_inputs(2, seed=0)
    plain = run_keras(model, inputs)["last_hidden_state"]
    for head_mask in (np.array([[1.0, 0.0, 1.0, 0.5], [0.0, 1.0, 1.0, 1.0]], np.float32),
                      np.array([1.0, 1.0, 0.0, 1.0], np.float32)):
        masked = {**inputs, "head_mask": head_mask}
        actual = run_keras(model, masked, **ALL_OUTPUTS)
        assert_outputs_close(run_torch(reference, masked, **ALL_OUTPUTS), actual)
        rows = np.broadcast_to(head_mask, (2, 4))
        for layer, row in enumerate(rows):
            assert not np.any(actual["attentions"][layer][:, row == 0])  # silenced heads attend to nothing
        assert not np.allclose(actual["last_hidden_state"], plain)
    errors = []
    for run, candidate in ((run_torch, reference), (run_keras, model)):
        with pytest.raises(ValueError) as caught:
            run(candidate, {**inputs, "head_mask": np.ones((3, 4), np.float32)})
        errors.append(str(caught.value))
    assert errors[0] == errors[1] == "head_mask must have shape (heads,) or (2, heads), got (3, 4)"


# ---- feed-forward chunking -----------------------------------------------------------------------
@pytest.mark.parametrize("arch", ARCHS)
def test_feed_forward_chunking_gives_the_same_outputs(arch, tmp_path, monkeypatch):
    """chunk_size_feed_forward=3 runs each layer's feed-forward on 3 slices of the 7 positions: same outputs."""
    reference = torch_checkpoint(tmp_path, arch, "Model", chunk_size_feed_forward=3)
    chunked = keras_class(arch, "Model").from_pretrained(tmp_path)
    whole = keras_class(arch, "Model").from_pretrained(tmp_path, chunk_size_feed_forward=0)
    owner = layers.FeedForward if arch == "DistilBert" else type(chunked.encoder.layer[0])
    method = "_block" if arch == "DistilBert" else "_feed_forward"
    calls = []
    original = getattr(owner, method)

    def counted(self, x):
        calls.append(tuple(x.shape))
        return original(self, x)

    monkeypatch.setattr(owner, method, counted)
    inputs = chunked.config.example_inputs(2, seed=0)
    actual = run_keras(chunked, inputs, output_hidden_states=True)
    assert [shape[1] for shape in calls] == [3, 3, 1] * 2  # two layers, three slices each
    calls.clear()
    assert_outputs_close(run_keras(whole, inputs, output_hidden_states=True), actual)
    assert [shape[1] for shape in calls] == [LENGTH] * 2
    assert_outputs_close(run_torch(reference, inputs, output_hidden_states=True), actual)
    # With the length unknown while tracing, the block runs whole: the same numbers.
    dynamic = tf.function(lambda ids: chunked(input_ids=ids).last_hidden_state,
                          input_signature=[tf.TensorSpec((None, None), tf.int64)])
    assert_close(dynamic(tf.constant(inputs["input_ids"])), run_keras(chunked, {"input_ids": inputs["input_ids"]})[
        "last_hidden_state"])


# ---- resizing the vocabulary ----------------------------------------------------------------------
@pytest.mark.parametrize("tied", [True, False], ids=["tied", "untied"])
@pytest.mark.parametrize("arch", ARCHS)
def test_resize_token_embeddings_matches_torch(arch, tied, tmp_path):
    reference = torch_checkpoint(tmp_path, arch, "ForMaskedLM", tie_word_embeddings=tied)
    model = keras_class(arch, "ForMaskedLM").from_pretrained(tmp_path)
    before = exported(model)
    vocab, table = 99, f"{reference.base_model_prefix}.embeddings.word_embeddings.weight"

    # Growing, padded to a multiple of 8: 99 + 3 -> 104. Old rows and bias entries kept, new bias entries 0.
    embeddings = model.resize_token_embeddings(vocab + 3, pad_to_multiple_of=8)
    reference.resize_token_embeddings(vocab + 3, pad_to_multiple_of=8)
    assert embeddings is model.get_input_embeddings() and embeddings.num_embeddings == 104
    assert model.config.vocab_size == reference.config.vocab_size == 104
    grown, expected = exported(model), exported(reference)
    assert {k: v.shape for k, v in grown.items()} == {k: v.shape for k, v in expected.items()}
    assert_weights_equal({table: before[table]}, {table: grown[table][:vocab]}, where="kept rows")
    for name, value in grown.items():
        if value.shape[:1] == (104,):  # vocabulary-sized: the table, an untied projection, the biases
            assert_weights_equal({name: expected[name][:vocab]}, {name: value[:vocab]}, where="kept rows")
            if value.ndim == 1:
                assert not np.any(value[vocab:]), f"{name}: new bias entries must be 0"
    projection = model.get_output_embeddings()
    assert (projection._matrix() is embeddings.embeddings) == tied
    inputs = model.config.example_inputs(2, seed=0)
    assert run_keras(model, inputs)["logits"].shape == (2, LENGTH, 104)

    # Shrinking keeps the first rows only: nothing random, so the whole model equals the reference's.
    model.resize_token_embeddings(50)
    reference.resize_token_embeddings(50)
    assert_weights_equal(exported(reference), exported(model), where="shrunk")
    inputs = {**inputs, "input_ids": inputs["input_ids"] % 50}
    assert_outputs_close(run_torch(reference, inputs), run_keras(model, inputs))
    model.save_pretrained(tmp_path / "shrunk")
    assert json.loads((tmp_path / "shrunk" / "config.json").read_text())["vocab_size"] == 50
    assert saved(tmp_path / "shrunk")[table].shape == (50, SIZES[arch].get("dim", 32))


def test_resize_token_embeddings_bad_arguments_are_the_references():
    model, reference = polyformer.TFDistilBertForMaskedLM(make_config("DistilBert")), polyformer.DistilBertForMaskedLM(
        make_config("DistilBert"))
    for kwargs in (dict(new_num_tokens=0), dict(new_num_tokens=2.5), dict(new_num_tokens=100, pad_to_multiple_of=0)):
        with pytest.raises(ValueError) as keras_error:
            model.resize_token_embeddings(**kwargs)
        with pytest.raises(ValueError) as torch_error:
            reference.resize_token_embeddings(**kwargs)
        assert str(keras_error.value) == str(torch_error.value)
    assert model.config.vocab_size == 99 and model.get_input_embeddings().num_embeddings == 99


# ---- problem type --------------------------------------------------------------------------------
@pytest.mark.parametrize("labels, num_labels, problem_type", [
    (np.array([2, 0]), 3, "single_label_classification"),
    (np.array([0.5, -1.5], np.float32), 1, "regression"),
    (np.array([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]], np.float32), 3, "multi_label_classification"),
])
def test_problem_type_is_written_to_the_config(labels, num_labels, problem_type, tmp_path):
    """The loss kind is inferred from the first labels and kept in the config (and its saves), as in torch."""
    reference = torch_checkpoint(tmp_path / "torch", "Bert", "ForSequenceClassification", num_labels=num_labels)
    model = polyformer.TFBertForSequenceClassification.from_pretrained(tmp_path / "torch")
    assert model.config.problem_type is None
    inputs = {**model.config.example_inputs(2, seed=0), "labels": labels}
    assert_outputs_close(run_torch(reference, inputs), run_keras(model, inputs))
    assert model.config.problem_type == reference.config.problem_type == problem_type
    model.save_pretrained(tmp_path / "keras")
    assert json.loads((tmp_path / "keras" / "config.json").read_text())["problem_type"] == problem_type


# ---- gradient checkpointing ------------------------------------------------------------------------
def test_gradient_checkpointing_is_a_clear_error():
    with pytest.raises(NotImplementedError) as expected:
        get_registry().backend("keras").require("gradient_checkpointing")
    model = polyformer.TFDistilBertModel(make_config("DistilBert"))
    for switch in (model.gradient_checkpointing_enable, model.gradient_checkpointing_disable):
        with pytest.raises(NotImplementedError) as caught:
            switch()
        assert str(caught.value) == str(expected.value)
    assert "gradient checkpointing" in str(expected.value) and "framework='torch'" in str(expected.value)


# ---- compiled with XLA ---------------------------------------------------------------------------
@pytest.mark.parametrize("arch", ARCHS)
def test_jit_compiled_call_gives_the_eager_outputs(arch):
    """tf.function(jit_compile=True) with a head mask, chunking and labels: the outputs of the eager call."""
    keras.utils.set_random_seed(0)
    model = keras_class(arch, "ForSequenceClassification")(make_config(arch, chunk_size_feed_forward=4))
    inputs = {**model.config.example_inputs(2, seed=0), "labels": np.array([1, 0]),
              "head_mask": np.array([1.0, 0.0, 1.0, 1.0], np.float32)}
    compiled = tf.function(lambda batch: model(batch, output_attentions=True), jit_compile=True)
    actual = compiled({k: tf.constant(v) for k, v in inputs.items()})
    assert_outputs_close(run_keras(model, inputs, output_attentions=True), dict(actual))


# ---- modality-neutral base classes: a model whose main input is pixel_values -----------------------
class ToyVisionConfig(PretrainedConfig):
    model_type = "toy-vision"

    def __init__(self, hidden_size=8, num_heads=2, patch_size=2, num_channels=3, image_size=4, initializer_range=0.02,
                 **kwargs):
        self.hidden_size, self.num_heads, self.patch_size = hidden_size, num_heads, patch_size
        self.initializer_range = initializer_range
        self.num_channels, self.image_size = num_channels, image_size
        super().__init__(**kwargs)


class TFToyVisionPreTrainedModel(TFPreTrainedModel):
    config_class = ToyVisionConfig
    base_model_prefix = "vision"
    main_input_name = "pixel_values"

    def make_base_model(self, config):
        return TFToyVisionModel(config, dtype=self.dtype_policy)


class TFToyVisionModel(TFToyVisionPreTrainedModel):
    """Non-overlapping patches of a ``(batch, channels, height, width)`` image, through one pre-norm layer."""

    def __init__(self, config, **kwargs):
        super().__init__(config, **kwargs)
        patch = config.num_channels * config.patch_size ** 2
        self.patch_embeddings = layers.Linear(patch, config.hidden_size, **self.layer_options)
        self.encoder = layers.Encoder([layers.TransformerLayer(config.hidden_size, config.num_heads, 16, "gelu",
                                                               norm_first=True, **self.layer_options)],
                                      **self.layer_options)
        self.post_init()

    def call(self, pixel_values=None, head_mask=None, output_attentions=None, output_hidden_states=None,
             return_dict=None):
        output_attentions, output_hidden_states, return_dict = self.resolve_output_flags(
            output_attentions, output_hidden_states, return_dict)
        p, channels, size = self.config.patch_size, self.config.num_channels, self.config.image_size
        grid = keras.ops.reshape(pixel_values, (-1, channels, size // p, p, size // p, p))
        patches = keras.ops.reshape(keras.ops.transpose(grid, (0, 2, 4, 1, 3, 5)), (-1, (size // p) ** 2, channels * p * p))
        output = self.encoder(self.patch_embeddings(patches), None, head_mask, output_attentions=output_attentions,
                              output_hidden_states=output_hidden_states)
        return output if return_dict else output.to_tuple()


class TFToyVisionForImageClassification(heads.ForImageClassification, TFToyVisionPreTrainedModel):
    """Classifies the image from its first patch."""


def test_a_model_whose_main_input_is_pixel_values_trains_and_predicts():
    """Inputs and labels go by main_input_name: fit(x, y), predict(x) and evaluate(x, y) with a bare array."""
    keras.utils.set_random_seed(0)
    model = TFToyVisionForImageClassification(ToyVisionConfig(num_labels=3))
    rng = np.random.default_rng(0)
    pixels = rng.standard_normal((4, 3, 4, 4)).astype(np.float32)
    labels = np.array([0, 2, 1, 2])
    logits = model(pixels).logits.numpy()
    assert logits.shape == (4, 3)
    assert_close(model({"pixel_values": pixels}).logits, logits)
    assert_close(model(pixel_values=pixels).logits, logits)
    shifted = logits - logits.max(-1, keepdims=True)
    expected = -np.mean((shifted - np.log(np.exp(shifted).sum(-1, keepdims=True)))[np.arange(4), labels])
    # One softmax cross-entropy over 4 x 3 float32 logits of magnitude ~1: a few float32 ulps.
    assert_close(model(pixels, labels=labels).loss, expected, rtol=1e-6, atol_scale=1e-6)
    assert model.config.problem_type == "single_label_classification"
    assert model.predict(pixels, batch_size=4, verbose=0)["logits"].shape == (4, 3)
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    before = model.evaluate(pixels, labels, batch_size=4, verbose=0)
    model.fit(pixels, labels, batch_size=4, epochs=5, verbose=0)
    assert model.evaluate(pixels, labels, batch_size=4, verbose=0) < before
    with pytest.raises(ValueError, match="^pixel_values is a list whose rows have different lengths"):
        model([[0.0, 1.0], [2.0]])


def test_masked_image_modeling_loss_matches_torch():
    """The SimMIM loss of ForMaskedImageModeling (ViT's), against the PyTorch backend's, on random images."""
    rng = np.random.default_rng(0)
    pixels, reconstruction = (rng.standard_normal((2, 3, 8, 12)).astype(np.float32) for _ in range(2))
    mask = rng.random((2, (8 // 4) * (12 // 2))) < 0.5
    mask[:, 0] = True
    expected = torch_losses.masked_image_modeling_loss(torch.from_numpy(pixels), torch.from_numpy(reconstruction),
                                                       torch.from_numpy(mask), (4, 2))
    actual = keras_losses.masked_image_modeling_loss(tf.constant(pixels), tf.constant(reconstruction),
                                                     tf.constant(mask), (4, 2))
    # A mean of ~300 absolute differences of magnitude ~1: float32 sums in another order, a few ulps apart.
    assert_close(actual, expected.numpy(), rtol=1e-6, atol_scale=1e-6)
