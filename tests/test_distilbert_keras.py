"""DistilBERT in Keras against the oracle: transformers' PyTorch DistilBERT.

Checkpoints are written by transformers and read here (and the reverse), on tiny
configs so the whole file runs in well under a minute. Models are cached per module:
TensorFlow start-up and model building dominate the run time.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
pytest.importorskip("tensorflow")
pytest.importorskip("keras")

from polyformer.backends.keras import layers as keras_layers  # noqa: E402
from polyformer.models.distilbert import modeling_keras  # noqa: E402
from polyformer.models.distilbert.configuration import DistilBertConfig  # noqa: E402
from polyformer.testing import assert_close, assert_outputs_close  # noqa: E402

import keras  # noqa: E402  (on TensorFlow: see tests/conftest.py)
import tensorflow as tf  # noqa: E402

CONFIGS = {
    "learned-gelu-2heads": dict(vocab_size=99, dim=32, hidden_dim=37, n_layers=2, n_heads=2,
                                max_position_embeddings=64, activation="gelu", sinusoidal_pos_embds=False),
    "sinusoidal-relu-4heads": dict(vocab_size=99, dim=32, hidden_dim=37, n_layers=2, n_heads=4,
                                   max_position_embeddings=64, activation="relu", sinusoidal_pos_embds=True),
}
HEADS = ["Model", "ForMaskedLM", "ForSequenceClassification", "ForTokenClassification",
         "ForQuestionAnswering", "ForMultipleChoice"]
BATCH, SEQ, CHOICES = 2, 7, 3


def make_inputs(head: str, seed: int = 0, labels: str = "int") -> dict[str, np.ndarray]:
    """Token ids with padding in the second row, and the labels of ``head``."""
    rng = np.random.RandomState(seed)
    ids = rng.randint(1, 99, size=(BATCH, SEQ))
    mask = np.ones_like(ids)
    mask[1, 5:] = 0
    inputs = {"input_ids": ids, "attention_mask": mask}
    if head == "ForMultipleChoice":
        inputs = {"input_ids": rng.randint(1, 99, size=(BATCH, CHOICES, SEQ)),
                  "attention_mask": np.broadcast_to(mask[:, None, :], (BATCH, CHOICES, SEQ)).copy(),
                  "labels": np.array([2, 0])}
    elif head == "ForMaskedLM":
        inputs["labels"] = np.where(rng.rand(BATCH, SEQ) < 0.4, ids, -100)
    elif head == "ForTokenClassification":
        inputs["labels"] = np.where(mask == 1, rng.randint(0, 2, size=(BATCH, SEQ)), -100)
    elif head == "ForQuestionAnswering":
        inputs["start_positions"] = np.array([1, 3])
        inputs["end_positions"] = np.array([4, 30])  # out of range: ignored, as in transformers
    elif head == "ForSequenceClassification":
        inputs["labels"] = {"int": np.array([1, 0]), "float": np.array([0.5, -1.25]),
                            "multi": np.array([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]])}[labels]
    return inputs


def run_torch(model, inputs) -> dict[str, np.ndarray]:
    with torch.no_grad():
        out = model(**{k: torch.tensor(v) for k, v in inputs.items()}, output_hidden_states=True,
                    output_attentions=True)
    return to_numpy(out)


def run_keras(model, inputs, **kwargs) -> dict[str, np.ndarray]:
    return to_numpy(model(inputs, output_hidden_states=True, output_attentions=True, **kwargs))


def to_numpy(output) -> dict:
    result = {}
    for key, value in output.items():
        if isinstance(value, tuple):
            result[key] = [np.asarray(v) for v in value]
        else:
            result[key] = np.asarray(value)
    return result


def torch_config(name: str, **overrides):
    return transformers.DistilBertConfig(**{**CONFIGS[name], **overrides}, attn_implementation="eager")


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("distilbert_keras")


@pytest.fixture(scope="module")
def torch_checkpoint(workdir):
    """(config name, head, overrides) -> (transformers model, folder it was saved to), built once."""
    cache = {}

    def get(name: str, head: str, **overrides):
        key = (name, head, tuple(sorted(overrides.items())))
        if key not in cache:
            torch.manual_seed(len(cache))
            model = getattr(transformers, f"DistilBert{head}")(torch_config(name, **overrides)).eval()
            folder = workdir / f"torch-{len(cache)}-{name}-{head}"
            model.save_pretrained(folder)
            cache[key] = (model, folder)
        return cache[key]

    return get


@pytest.fixture(scope="module")
def keras_from_torch(torch_checkpoint):
    """The Keras model loaded from each torch checkpoint, with its loading info, built once."""
    cache = {}

    def get(name: str, head: str, **overrides):
        key = (name, head, tuple(sorted(overrides.items())))
        if key not in cache:
            _, folder = torch_checkpoint(name, head, **overrides)
            cls = getattr(modeling_keras, f"TFDistilBert{head}")
            cache[key] = cls.from_pretrained(folder, output_loading_info=True)
        return cache[key]

    return get


# ---- same outputs as transformers ------------------------------------------------------
@pytest.mark.parametrize("head", HEADS)
@pytest.mark.parametrize("name", list(CONFIGS))
def test_torch_checkpoint_gives_same_outputs(name, head, torch_checkpoint, keras_from_torch):
    torch_model, _ = torch_checkpoint(name, head)
    model, info = keras_from_torch(name, head)
    assert info == {"missing_keys": [], "unexpected_keys": [], "mismatched_keys": []}
    inputs = make_inputs(head)
    expected = run_torch(torch_model, inputs)
    actual = run_keras(model, inputs)
    if head != "Model":
        assert "loss" in actual
    assert_outputs_close(expected, actual)


@pytest.mark.parametrize("head", HEADS)
@pytest.mark.parametrize("name", list(CONFIGS))
def test_keras_checkpoint_loads_in_transformers(name, head, workdir):
    keras.utils.set_random_seed(1)
    model = getattr(modeling_keras, f"TFDistilBert{head}")(DistilBertConfig(**CONFIGS[name]))
    folder = workdir / f"keras-{name}-{head}"
    model.save_pretrained(folder)
    assert json.loads((folder / "config.json").read_text())["architectures"] == [f"DistilBert{head}"]
    torch_model, info = getattr(transformers, f"DistilBert{head}").from_pretrained(
        folder, output_loading_info=True, attn_implementation="eager")
    assert not info["missing_keys"] and not info["unexpected_keys"] and not info["mismatched_keys"]
    inputs = make_inputs(head, seed=1)
    assert_outputs_close(run_torch(torch_model.eval(), inputs), run_keras(model, inputs))


@pytest.mark.parametrize("labels, num_labels, problem_type", [
    ("int", 2, "single_label_classification"),
    ("float", 1, "regression"),
    ("multi", 3, "multi_label_classification"),
])
def test_sequence_classification_problem_types(labels, num_labels, problem_type, torch_checkpoint, keras_from_torch):
    name = "learned-gelu-2heads"
    torch_model, _ = torch_checkpoint(name, "ForSequenceClassification", num_labels=num_labels)
    model, _ = keras_from_torch(name, "ForSequenceClassification", num_labels=num_labels)
    inputs = make_inputs("ForSequenceClassification", labels=labels)
    assert_outputs_close(run_torch(torch_model, inputs), run_keras(model, inputs))
    assert model.config.problem_type == torch_model.config.problem_type == problem_type


def test_untied_masked_lm_round_trip(workdir):
    config = DistilBertConfig(**CONFIGS["learned-gelu-2heads"], tie_word_embeddings=False)
    model = modeling_keras.TFDistilBertForMaskedLM(config)
    names = model._canonical_shapes()
    assert model.vocab_projector.weight is not None and "vocab_projector.weight" in names
    folder = workdir / "untied"
    model.save_pretrained(folder)
    torch_model, info = transformers.DistilBertForMaskedLM.from_pretrained(folder, output_loading_info=True,
                                                                          attn_implementation="eager")
    assert not info["missing_keys"] and not info["unexpected_keys"]
    inputs = make_inputs("ForMaskedLM")
    assert_outputs_close(run_torch(torch_model.eval(), inputs), run_keras(model, inputs))


# ---- building and calling ----------------------------------------------------------
def test_weights_exist_right_after_construction():
    config = DistilBertConfig(**CONFIGS["learned-gelu-2heads"])
    model = modeling_keras.TFDistilBertForMaskedLM(config)
    torch_model = transformers.DistilBertForMaskedLM(torch_config("learned-gelu-2heads"))
    assert model.built and model.weights
    assert model.num_parameters() == torch_model.num_parameters()
    assert model.num_parameters(exclude_embeddings=True) == torch_model.num_parameters(exclude_embeddings=True)
    assert set(model._canonical_shapes()) == set(torch_model.state_dict())
    assert model.get_input_embeddings().embeddings.shape == (99, 32)
    # the padding row starts at zero, as nn.Embedding(padding_idx=...) does
    assert not np.any(keras.ops.convert_to_numpy(model.get_input_embeddings().embeddings)[config.pad_token_id])


def test_call_forms(keras_from_torch):
    model, _ = keras_from_torch("learned-gelu-2heads", "Model")
    inputs = make_inputs("Model")
    reference = model(inputs).last_hidden_state.numpy()
    as_tensors = model(input_ids=tf.constant(inputs["input_ids"]), attention_mask=tf.constant(inputs["attention_mask"]))
    assert_close(as_tensors.last_hidden_state, reference)
    positional = model(inputs["input_ids"], inputs["attention_mask"])
    assert_close(positional[0], reference)
    as_tuple = model(inputs, return_dict=False)
    assert isinstance(as_tuple, tuple) and len(as_tuple) == 1
    embeds = tf.gather(model.get_input_embeddings().embeddings, inputs["input_ids"])
    from_embeds = model(inputs_embeds=embeds, attention_mask=inputs["attention_mask"])
    assert_close(from_embeds.last_hidden_state, reference)
    with pytest.raises(ValueError, match="exactly one of input_ids or inputs_embeds"):
        model(attention_mask=inputs["attention_mask"])


def test_tokenizer_style_inputs(keras_from_torch):
    """A tokenizer's output (a dict subclass) and Python lists are accepted as they are."""

    class Encoding(dict):
        pass

    model, _ = keras_from_torch("learned-gelu-2heads", "Model")
    inputs = make_inputs("Model")
    reference = model(inputs).last_hidden_state.numpy()
    from_encoding = model(Encoding(inputs)).last_hidden_state.numpy()
    from_lists = model({key: value.tolist() for key, value in inputs.items()}).last_hidden_state.numpy()
    assert_close(from_encoding, reference)
    assert_close(from_lists, reference)


def test_inside_tf_function(keras_from_torch):
    model, _ = keras_from_torch("learned-gelu-2heads", "ForSequenceClassification")
    inputs = make_inputs("Model")
    compiled = tf.function(lambda ids, mask: model(input_ids=ids, attention_mask=mask))
    output = compiled(tf.constant(inputs["input_ids"]), tf.constant(inputs["attention_mask"]))
    assert list(output.keys()) == ["logits"]
    assert_close(output.logits, model(inputs).logits)


def test_dropout_only_when_training():
    config = DistilBertConfig(**CONFIGS["learned-gelu-2heads"], dropout=0.5, attention_dropout=0.5,
                              seq_classif_dropout=0.5)
    model = modeling_keras.TFDistilBertForSequenceClassification(config)
    inputs = make_inputs("Model")
    first, second = model(inputs).logits.numpy(), model(inputs, training=False).logits.numpy()
    assert_close(second, first)  # with dropout: off by their own size
    trained = [model(inputs, training=True).logits.numpy() for _ in range(2)]
    assert not np.allclose(trained[0], first) and not np.allclose(trained[0], trained[1])


def test_fit_lowers_the_loss():
    keras.utils.set_random_seed(0)
    config = DistilBertConfig(**CONFIGS["learned-gelu-2heads"], dropout=0.0, attention_dropout=0.0,
                              seq_classif_dropout=0.0)
    model = modeling_keras.TFDistilBertForSequenceClassification(config)
    x = make_inputs("ForSequenceClassification")
    names = model._canonical_shapes()
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    before = model.evaluate(x, batch_size=BATCH, verbose=0)
    history = model.fit(x, batch_size=BATCH, epochs=3, verbose=0)  # labels inside the input dict
    after = model.evaluate(x, batch_size=BATCH, verbose=0)
    assert len(history.history["loss"]) == 3
    assert after < before
    # labels given as y go to the model too
    y = x.pop("labels")
    model.fit(x, y, batch_size=BATCH, epochs=1, verbose=0)
    assert model.evaluate(x, y, batch_size=BATCH, verbose=0) < before
    assert model.predict(x, batch_size=BATCH, verbose=0)["logits"].shape == (BATCH, 2)
    assert model._canonical_shapes() == names  # compiling adds no weights to the checkpoint


def test_compile_with_a_loss_is_refused():
    model = modeling_keras.TFDistilBertModel(DistilBertConfig(**CONFIGS["learned-gelu-2heads"]))
    with pytest.raises(ValueError, match="computes its loss"):
        model.compile(optimizer="adam", loss="mse")


def test_resize_token_embeddings(workdir):
    config = DistilBertConfig(**CONFIGS["learned-gelu-2heads"])
    model = modeling_keras.TFDistilBertForMaskedLM(config)
    old = keras.ops.convert_to_numpy(model.get_input_embeddings().embeddings)
    count = model.num_parameters()
    embeddings = model.resize_token_embeddings(105)
    assert embeddings is model.get_input_embeddings() and embeddings.embeddings.shape == (105, 32)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(embeddings.embeddings)[:99], old)
    assert model.config.vocab_size == 105 and model.num_parameters() == count + 6 * 32 + 6
    assert model(make_inputs("Model")).logits.shape == (BATCH, SEQ, 105)
    folder = workdir / "resized"
    model.save_pretrained(folder)
    torch_model, info = transformers.DistilBertForMaskedLM.from_pretrained(folder, output_loading_info=True)
    assert torch_model.config.vocab_size == 105 and not info["missing_keys"] and not info["unexpected_keys"]


def test_set_input_embeddings_then_tie_weights():
    """A new table replaces the old one in the model's weights; tie_weights makes the tied projection read it."""
    config = DistilBertConfig(**CONFIGS["learned-gelu-2heads"])
    model = modeling_keras.TFDistilBertForMaskedLM(config)
    count = model.num_parameters()
    table = keras_layers.Embedding(99, 32, initializer_range=0.5)
    model.set_input_embeddings(table)
    assert model.get_input_embeddings() is table and model.vocab_projector._matrix() is not table.embeddings
    model.tie_weights()
    assert model.vocab_projector._matrix() is table.embeddings
    assert model.num_parameters() == count  # the old table is no weight of the model any more
    reference = keras.ops.convert_to_numpy(table.embeddings)
    assert_close(model._export_canonical()["distilbert.embeddings.word_embeddings.weight"], reference)


def test_init_weights_starts_again():
    """Every weight gets a fresh initial value: LayerNorms 1, biases 0, N(0, initializer_range) elsewhere."""
    keras.utils.set_random_seed(0)
    model = modeling_keras.TFDistilBertForMaskedLM(DistilBertConfig(**CONFIGS["learned-gelu-2heads"]))
    for variable in model.weights:
        variable.assign(keras.ops.convert_to_numpy(variable) + 1.0)
    model.init_weights()
    weights = model._export_canonical()
    assert set(weights) == set(model._canonical_shapes()) - {"vocab_projector.weight"}  # tied: saved once
    assert np.all(weights["vocab_layer_norm.weight"] == 1) and not np.any(weights["vocab_projector.bias"])
    table = weights["distilbert.embeddings.word_embeddings.weight"]
    assert not np.any(table[0]) and abs(table[1:].std() - 0.02) < 0.005  # the padding row is zero again


def test_invalid_dtype_is_a_clear_error():
    with pytest.raises(ValueError, match="cannot hold Keras model weights"):
        modeling_keras.TFDistilBertModel(DistilBertConfig(**CONFIGS["learned-gelu-2heads"]), dtype="int8")


def test_float16_loading(torch_checkpoint, keras_from_torch):
    _, folder = torch_checkpoint("learned-gelu-2heads", "Model")
    model = modeling_keras.TFDistilBertModel.from_pretrained(folder, dtype="float16")
    assert all(v.dtype == "float16" for v in model.weights)
    reference, _ = keras_from_torch("learned-gelu-2heads", "Model")
    inputs = make_inputs("Model")
    # Every matmul rounds to float16 (eps 2**-10): 2 layers end a few of its rounding units (eps / 2) away
    # from float32; 8 eps (16 units) leaves room for any CPU's kernels.
    tolerance = 8 * float(np.finfo(np.float16).eps)
    assert_close(model(inputs).last_hidden_state, reference(inputs).last_hidden_state, rtol=tolerance,
                 atol_scale=tolerance)


# ---- checkpoints that do not match the model exactly ---------------------------------------
def test_missing_tensors_are_reported(torch_checkpoint, workdir, caplog):
    from safetensors.numpy import load_file, save_file

    _, folder = torch_checkpoint("learned-gelu-2heads", "ForSequenceClassification")
    tensors = load_file(str(folder / "model.safetensors"))
    dropped = ["classifier.weight", "distilbert.transformer.layer.1.ffn.lin1.bias"]
    for name in dropped:
        del tensors[name]
    damaged = workdir / "damaged"
    damaged.mkdir()
    save_file(tensors, str(damaged / "model.safetensors"), metadata={"format": "pt"})
    (damaged / "config.json").write_text((folder / "config.json").read_text())
    with caplog.at_level("WARNING", logger="polyformer"):
        model, info = modeling_keras.TFDistilBertForSequenceClassification.from_pretrained(
            damaged, output_loading_info=True)
    assert sorted(info["missing_keys"]) == sorted(dropped)
    assert "classifier.weight" in caplog.text
    assert model(make_inputs("Model")).logits.shape == (BATCH, 2)


def test_base_and_head_checkpoints_load_into_each_other(torch_checkpoint):
    head_model, head_folder = torch_checkpoint("learned-gelu-2heads", "ForSequenceClassification")
    base, info = modeling_keras.TFDistilBertModel.from_pretrained(head_folder, output_loading_info=True)
    assert not info["missing_keys"]
    assert sorted(info["unexpected_keys"]) == sorted(
        ["pre_classifier.weight", "pre_classifier.bias", "classifier.weight", "classifier.bias"])
    inputs = make_inputs("Model")
    expected = run_torch(head_model.distilbert, inputs)
    assert_outputs_close(expected, run_keras(base, inputs))

    _, base_folder = torch_checkpoint("learned-gelu-2heads", "Model")
    head, info = modeling_keras.TFDistilBertForTokenClassification.from_pretrained(base_folder,
                                                                                  output_loading_info=True)
    assert sorted(info["missing_keys"]) == ["classifier.bias", "classifier.weight"]
    assert not info["unexpected_keys"]


def test_loading_draws_no_random_values_in_vain(torch_checkpoint, monkeypatch):
    """from_pretrained builds weights uninitialised: random values would be overwritten (time and memory)."""
    head_model, folder = torch_checkpoint("learned-gelu-2heads", "ForSequenceClassification")
    drawn = []
    real_normal = np.random.normal

    def spy(*args, size=None, **kwargs):
        drawn.append(tuple(size))
        return real_normal(*args, size=size, **kwargs)

    monkeypatch.setattr(np.random, "normal", spy)
    model = modeling_keras.TFDistilBertForSequenceClassification.from_pretrained(folder)
    assert drawn == []  # every weight came from the checkpoint
    for name, weight in model._canonical_weights().items():
        np.testing.assert_array_equal(weight.numpy(), head_model.state_dict()[name].numpy(), err_msg=name)

    _, base_folder = torch_checkpoint("learned-gelu-2heads", "Model")
    head = modeling_keras.TFDistilBertForTokenClassification.from_pretrained(base_folder)
    assert drawn == [(32, 2)]  # just the new classifier's kernel (Keras layout: in, out)
    kernel = keras.ops.convert_to_numpy(head.classifier.kernel)
    assert np.all(np.isfinite(kernel)) and 0 < np.abs(kernel).max() < 0.2  # N(0, 0.02), not uninitialised memory


# ---- generic building blocks -----------------------------------------------------------
def test_every_activation_matches_transformers():
    from polyformer.core.configuration import ACTIVATIONS
    from transformers.activations import ACT2FN

    x = np.linspace(-6, 6, 1001, dtype=np.float32)
    for name in ACTIVATIONS:
        expected = ACT2FN[name](torch.tensor(x)).numpy()
        actual = keras_layers.get_activation(name)(tf.constant(x)).numpy()
        assert_close(actual, expected, name=name)


def test_sinusoidal_positions_match_transformers():
    """The fixed table is transformers', and frozen (not trained), as in PyTorch."""
    from transformers.models.distilbert.modeling_distilbert import create_sinusoidal_embeddings

    model = modeling_keras.TFDistilBertModel(DistilBertConfig(**CONFIGS["sinusoidal-relu-4heads"]))
    positions = model.embeddings.position_embeddings
    expected = create_sinusoidal_embeddings(64, 32, torch.empty(64, 32))
    # Both compute sin / cos in float64 and round once to float32; the float64 libm / SIMD routines
    # may differ in the last bit, which can move a float32 by one ulp (1.2e-7 at 1.0, the largest value).
    assert_close(keras.ops.convert_to_numpy(positions.embeddings), expected, rtol=0, atol_scale=1.2e-7)
    assert not positions.embeddings.trainable and not any(v is positions.embeddings for v in model.trainable_weights)


# ---- without torch ---------------------------------------------------------------------
def test_loads_torch_checkpoint_without_torch(torch_checkpoint, workdir):
    """A PyTorch-saved folder loads and runs where torch cannot be imported at all."""
    torch_model, folder = torch_checkpoint("sinusoidal-relu-4heads", "ForQuestionAnswering")
    inputs = make_inputs("ForQuestionAnswering")
    expected = run_torch(torch_model, inputs)
    np.savez(workdir / "qa_inputs.npz", **inputs)
    script = textwrap.dedent(f"""
        import importlib.abc
        import sys

        # Any `import torch` fails as if torch were not installed. (Not sys.modules["torch"] = None:
        # libraries that look for an already-imported torch in sys.modules, such as scipy's array API
        # layer pulled in by keras' scikit-learn wrappers, would then crash instead of finding none.)
        class NoTorch(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name == "torch" or name.startswith("torch."):
                    raise ModuleNotFoundError(f"No module named {{name!r}}")
                return None

        sys.meta_path.insert(0, NoTorch())
        import numpy as np
        import polyformer
        assert "tensorflow" not in sys.modules and "keras" not in sys.modules, "import polyformer loaded a framework"
        from polyformer import TFDistilBertForQuestionAnswering
        inputs = dict(np.load({str(workdir / "qa_inputs.npz")!r}))
        model = TFDistilBertForQuestionAnswering.from_pretrained({str(folder)!r})
        out = model(inputs)
        np.savez({str(workdir / "qa_outputs.npz")!r}, start_logits=out.start_logits.numpy(),
                 end_logits=out.end_logits.numpy(), loss=out.loss.numpy())
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    actual = dict(np.load(workdir / "qa_outputs.npz"))
    for key in ("start_logits", "end_logits", "loss"):
        assert_close(actual[key], expected[key], name=key)
