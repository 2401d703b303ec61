"""DistilBERT in Flax against ``transformers``' PyTorch DistilBERT: same checkpoints, same outputs.

Checkpoints are made by ``transformers`` (see ``_torch_oracle``); the Flax models here load
them with numpy only, and what they save loads back in ``transformers``. Tiny configs keep
every jit compile short; each test compiles a model's forward pass at most a few times.
"""

import json
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import torch

import polyformer
from polyformer.backends.flax import layers
from polyformer.backends.flax.modeling import resolve_dtype
from polyformer.core.configuration import ACTIVATIONS
from polyformer.core.numerics import sinusoidal_table
from polyformer.core.outputs import MaskedLMOutput
from polyformer.testing import assert_close, assert_outputs_close

from _torch_oracle import CONFIGS, HEADS, load_hf, make_inputs, pf_config, save_hf_checkpoint, transformers

FLAGS = dict(output_hidden_states=True, output_attentions=True)


def flax_class(head):
    return getattr(polyformer, "Flax" + HEADS[head])


def config_for(head, name):
    kwargs = dict(CONFIGS[name])
    if head == "question-answering":
        kwargs["num_labels"] = 2
    return kwargs


def numpy_inputs(inputs):
    return {key: value.numpy() for key, value in inputs.items()}


def torch_state(model):
    """transformers' state dict as numpy, without tied copies (saved once, under the source)."""
    state = {k: v.detach().numpy() for k, v in model.state_dict().items()}
    if model.config.tie_word_embeddings:
        state.pop("vocab_projector.weight", None)
    return state


# ---- transformers -> Flax -> transformers ----------------------------------------------

@pytest.mark.parametrize("config_name", sorted(CONFIGS))
@pytest.mark.parametrize("head", sorted(HEADS))
def test_torch_checkpoint_same_outputs_and_round_trip(tmp_path, head, config_name):
    kwargs = config_for(head, config_name)
    hf_model = save_hf_checkpoint(tmp_path / "torch", head, seed=1, **kwargs)
    hf_model.set_attn_implementation("eager")

    model, info = flax_class(head).from_pretrained(tmp_path / "torch", output_loading_info=True)
    assert info == {"missing_keys": [], "unexpected_keys": [], "mismatched_keys": []}
    assert model.num_parameters() == hf_model.num_parameters()

    inputs = make_inputs(kwargs, head)
    with torch.no_grad():
        expected = hf_model(**inputs, **FLAGS)
    actual = model(**numpy_inputs(inputs), **FLAGS)
    assert_outputs_close(expected, actual)

    # Saved from Flax: the same tensors, bit for bit, and transformers loads them cleanly.
    model.save_pretrained(tmp_path / "flax")
    reloaded, info = load_hf(tmp_path / "flax", head, output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"] and not info["mismatched_keys"], info
    original, roundtrip = torch_state(hf_model), torch_state(reloaded)
    assert original.keys() == roundtrip.keys()
    for name in original:
        assert np.array_equal(original[name], roundtrip[name]), name


@pytest.mark.parametrize("problem", ["regression", "multi_label_classification"])
def test_sequence_classification_problem_types(tmp_path, problem):
    kwargs = dict(CONFIGS["learned-gelu-4heads"], num_labels=1 if problem == "regression" else 3)
    head = "sequence-classification"
    hf_model = save_hf_checkpoint(tmp_path, head, seed=3, **kwargs)
    model = flax_class(head).from_pretrained(tmp_path)
    inputs = make_inputs(kwargs, head, problem=problem)
    with torch.no_grad():
        expected = hf_model(**inputs)
    actual = model(**numpy_inputs(inputs))
    assert hf_model.config.problem_type == problem  # what transformers inferred
    assert_outputs_close(expected, actual)


def test_fresh_flax_model_saves_for_transformers(tmp_path):
    kwargs = CONFIGS["sinusoidal-relu-2heads"]
    model = polyformer.FlaxDistilBertForMaskedLM(pf_config(**kwargs), seed=4)
    params = model._export_canonical()
    assert "vocab_projector.weight" not in params  # tied: stored once, as the word embeddings
    assert np.all(params["distilbert.embeddings.word_embeddings.weight"][0] == 0)  # padding row
    # initialised by this very function: bit for bit
    np.testing.assert_array_equal(params["distilbert.embeddings.position_embeddings.weight"],
                                  sinusoidal_table(kwargs["max_position_embeddings"], kwargs["dim"]))
    model.save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "config.json").read_text())
    assert saved["architectures"] == ["DistilBertForMaskedLM"]

    hf_model, info = load_hf(tmp_path, "masked-lm", output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"], info
    inputs = make_inputs(kwargs, "masked-lm")
    with torch.no_grad():
        expected = hf_model(**inputs, **FLAGS)
    assert_outputs_close(expected, model(**numpy_inputs(inputs), **FLAGS))


def test_base_checkpoint_into_head_and_back(tmp_path):
    kwargs = CONFIGS["learned-gelu-4heads"]
    hf_base = save_hf_checkpoint(tmp_path / "base", "base", seed=5, **kwargs)
    head, info = polyformer.FlaxDistilBertForSequenceClassification.from_pretrained(
        tmp_path / "base", output_loading_info=True
    )
    assert info["missing_keys"] == ["classifier.bias", "classifier.weight", "pre_classifier.bias", "pre_classifier.weight"]
    assert not info["unexpected_keys"]
    exported = head._export_canonical()
    for name, value in torch_state(hf_base).items():
        assert np.array_equal(exported["distilbert." + name], value), name
    assert np.all(exported["classifier.bias"] == 0)  # initialised like transformers: zero biases

    head.save_pretrained(tmp_path / "head")
    base, info = polyformer.FlaxDistilBertModel.from_pretrained(tmp_path / "head", output_loading_info=True)
    assert sorted(info["unexpected_keys"]) == ["classifier.bias", "classifier.weight", "pre_classifier.bias",
                                               "pre_classifier.weight"]
    assert not info["missing_keys"]


def test_loading_keeps_the_memory_it_reads_into(tmp_path, monkeypatch):
    """No second copy per tensor: each parameter is the very memory its checkpoint tensor was read into."""
    from polyformer.core.checkpoint import StoredTensor

    kwargs = CONFIGS["learned-gelu-4heads"]
    hf_model = save_hf_checkpoint(tmp_path, "base", seed=3, **kwargs)
    reads = {}
    real_read = StoredTensor.read

    def spy(self, start=0, stop=None):
        array = real_read(self, start, stop)
        reads[self.name] = array
        return array

    monkeypatch.setattr(StoredTensor, "read", spy)
    model = polyformer.FlaxDistilBertModel.from_pretrained(tmp_path)
    params = model._flat_params()
    assert set(reads) == set(model._paths)  # every weight read once, through StoredTensor
    for name, path in model._paths.items():
        if path[-1] != "kernel":  # Dense kernels are transposed (one copy); the rest are used as read
            assert params[path].unsafe_buffer_pointer() == reads[name].ctypes.data, name
    exported = model._export_canonical()
    for name, value in torch_state(hf_model).items():
        assert np.array_equal(exported[name], value), name


# ---- the model object and the module ----------------------------------------------------

@pytest.fixture(scope="module")
def tiny_config():
    return pf_config(vocab_size=40, dim=16, n_heads=2, n_layers=2, hidden_dim=24, max_position_embeddings=16,
                     dropout=0.3, attention_dropout=0.3, seq_classif_dropout=0.3)


def test_dropout_only_when_training_and_compiles_once_per_flags(tiny_config):
    model = polyformer.FlaxDistilBertModel(tiny_config)
    ids = np.arange(10).reshape(2, 5) % 40
    eval_1 = model(ids).last_hidden_state
    eval_2 = model(ids + 0).last_hidden_state
    assert_close(eval_2, eval_1)  # with dropout: off by their own size
    assert model._jitted._cache_size() == 1  # same shapes and flags: no recompilation

    key_a, key_b = jax.random.split(jax.random.PRNGKey(0))
    train_a = model(ids, train=True, dropout_rng=key_a).last_hidden_state
    train_a2 = model(ids, train=True, dropout_rng=key_a).last_hidden_state
    train_b = model(ids, train=True, dropout_rng=key_b).last_hidden_state
    assert_close(train_a2, train_a)  # the same key draws the same masks
    assert not np.allclose(train_a, eval_1) and not np.allclose(train_a, train_b)
    assert not np.allclose(model(ids, train=True).last_hidden_state, model(ids, train=True).last_hidden_state)
    assert model._jitted._cache_size() == 2


def test_optax_training_loop_over_module_apply_lowers_the_loss(tiny_config):
    model = polyformer.FlaxDistilBertForMaskedLM(tiny_config, seed=1)
    assert "kernel" not in model.params["vocab_projector"]  # the weight is the word embedding matrix
    rng = np.random.default_rng(0)
    ids = rng.integers(1, 40, size=(4, 6))
    mask = np.ones_like(ids)
    mask[0, -2:] = 0
    labels = np.where(rng.random(ids.shape) < 0.5, ids, -100)

    def loss_fn(params, key):
        out = model.module.apply({"params": params}, ids, attention_mask=mask, labels=labels, train=True,
                                 rngs={"dropout": key})
        return out.loss

    optimizer = optax.adam(1e-2)

    @jax.jit
    def step(params, opt_state, key):
        loss, grads = jax.value_and_grad(loss_fn)(params, key)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    params, opt_state = model.params, optimizer.init(model.params)
    before = float(model(ids, attention_mask=mask, labels=labels).loss)
    for key in jax.random.split(jax.random.PRNGKey(0), 8):
        params, opt_state, _ = step(params, opt_state, key)
    after = model(ids, attention_mask=mask, labels=labels, params=params)
    assert isinstance(after, MaskedLMOutput)
    assert float(after.loss) < before * 0.8
    # The tied projection trained the word embeddings (its only weight).
    embedding = ("distilbert", "embeddings", "word_embeddings", "embedding")
    old, new = model.params, params
    for key in embedding:
        old, new = old[key], new[key]
    assert not np.allclose(old, new)
    model.params = params
    assert_close(model(ids, attention_mask=mask, labels=labels).loss, after.loss, name="loss")
    assert model._jitted._cache_size() == 1


def test_return_dict_false_and_output_pytrees(tiny_config):
    model = polyformer.FlaxDistilBertForMaskedLM(tiny_config)
    ids = np.array([[5, 6, 7, 8]])
    out = model(ids, labels=ids)
    assert isinstance(out, MaskedLMOutput) and out[0] is out.loss and list(out.keys()) == ["loss", "logits"]
    as_tuple = model(ids, labels=ids, return_dict=False)
    assert isinstance(as_tuple, tuple) and len(as_tuple) == 2
    leaves, treedef = jax.tree_util.tree_flatten(out)
    assert len(leaves) == 2 and isinstance(jax.tree_util.tree_unflatten(treedef, leaves), MaskedLMOutput)


def test_resize_token_embeddings_and_num_parameters(tiny_config):
    import copy

    model = polyformer.FlaxDistilBertForMaskedLM(copy.deepcopy(tiny_config))
    dim = tiny_config.dim
    before = model.num_parameters()
    old_embedding = np.asarray(model.params["distilbert"]["embeddings"]["word_embeddings"]["embedding"])
    old_bias = np.asarray(model.params["vocab_projector"]["bias"])
    model.resize_token_embeddings(43, pad_to_multiple_of=8)  # -> 48
    assert model.config.vocab_size == 48
    assert model.num_parameters() == before + 8 * dim + 8
    positions = tiny_config.max_position_embeddings
    assert model.num_parameters(exclude_embeddings=True) == model.num_parameters() - (48 + positions) * dim
    embedding = np.asarray(model.params["distilbert"]["embeddings"]["word_embeddings"]["embedding"])
    np.testing.assert_array_equal(embedding[:40], old_embedding)
    assert embedding.shape == (48, dim) and np.std(embedding[40:]) > 0
    np.testing.assert_array_equal(np.asarray(model.params["vocab_projector"]["bias"])[:40], old_bias)
    assert model(np.array([[47, 1]])).logits.shape == (1, 2, 48)


def test_bad_input_is_reported(tiny_config, tmp_path):
    with pytest.raises(ValueError, match="floating"):
        polyformer.FlaxDistilBertModel(tiny_config, dtype="int32")
    with pytest.raises(ValueError, match="jax_enable_x64"):
        resolve_dtype("float64")
    with pytest.raises(ValueError, match="num_labels == 2"):
        polyformer.FlaxDistilBertForQuestionAnswering(pf_config(vocab_size=40, dim=16, n_heads=2, n_layers=1,
                                                                hidden_dim=24, num_labels=3))
    with pytest.raises(TypeError, match="DistilBertConfig"):
        polyformer.FlaxDistilBertModel(polyformer.PretrainedConfig())
    assert resolve_dtype(None) == jnp.float32 and resolve_dtype(torch.bfloat16) == jnp.bfloat16


def test_bfloat16_loading(tmp_path):
    kwargs = CONFIGS["learned-gelu-4heads"]
    hf_model = save_hf_checkpoint(tmp_path / "torch", "base", seed=6, **kwargs)
    model = polyformer.FlaxDistilBertModel.from_pretrained(tmp_path / "torch", dtype="bfloat16")
    leaf = model.params["transformer"]["layer.0"]["attention"]["q_lin"]["kernel"]
    assert leaf.dtype == jnp.bfloat16
    inputs = make_inputs(kwargs, "base")
    with torch.no_grad():
        expected = hf_model(**inputs).last_hidden_state.numpy()
    actual = model(**numpy_inputs(inputs)).last_hidden_state
    # Every matmul rounds to bfloat16 (eps 2**-7): 2 layers end a few of its rounding units (eps / 2) away
    # from float32; 8 eps (16 units) leaves room for any CPU's kernels.
    tolerance = 8 * float(jnp.finfo(jnp.bfloat16).eps)
    assert_close(actual, expected, rtol=tolerance, atol_scale=tolerance)
    model.save_pretrained(tmp_path / "bf16")
    from polyformer.core.checkpoint import find_weight_files, read_tensor_infos

    infos = read_tensor_infos(find_weight_files(tmp_path / "bf16"))
    assert {info.dtype for info in infos.values()} == {"BF16"}
    reloaded = transformers.DistilBertModel.from_pretrained(tmp_path / "bf16", dtype=torch.bfloat16)
    assert torch.equal(reloaded.transformer.layer[0].attention.q_lin.weight,
                       hf_model.transformer.layer[0].attention.q_lin.weight.to(torch.bfloat16))

    # dtype="auto": the dtype transformers recorded in config.json.
    hf_model.to(torch.bfloat16).save_pretrained(tmp_path / "torch-bf16")
    auto = polyformer.FlaxDistilBertModel.from_pretrained(tmp_path / "torch-bf16", dtype="auto")
    assert auto.dtype == jnp.bfloat16
    assert polyformer.FlaxDistilBertModel.from_pretrained(tmp_path / "torch-bf16").dtype == jnp.bfloat16  # the default
    assert polyformer.FlaxDistilBertModel.from_pretrained(tmp_path / "torch-bf16", dtype="float32").dtype == jnp.float32


# ---- building blocks ----------------------------------------------------------------------

def test_activations_match_torch():
    from transformers.activations import ACT2FN

    x = np.linspace(-6, 6, 401, dtype=np.float32)
    for name in ACTIVATIONS:
        expected = ACT2FN[name](torch.from_numpy(x)).numpy()
        assert_close(layers.get_activation(name)(jnp.asarray(x)), expected, name=name)
    with pytest.raises(ValueError, match="unknown activation"):
        layers.get_activation("gelu_unknown")


def test_param_path_conversion():
    path = ("distilbert", "transformer", "layer.3", "ffn", "lin1", "kernel")
    assert layers.canonical_name(path) == "distilbert.transformer.layer.3.ffn.lin1.weight"
    assert layers.canonical_name(("embeddings", "LayerNorm", "scale")) == "embeddings.LayerNorm.weight"
    assert layers.canonical_name(("embeddings", "word_embeddings", "embedding")) == "embeddings.word_embeddings.weight"
    dense_kernel = np.arange(6).reshape(2, 3)
    assert layers.to_canonical_layout(path, dense_kernel).shape == (3, 2)
    conv = np.arange(2 * 3 * 4 * 5).reshape(2, 3, 4, 5)  # torch (out, in, kh, kw)
    flax_conv = layers.to_flax_layout(("conv", "kernel"), conv)
    assert flax_conv.shape == (4, 5, 3, 2)
    np.testing.assert_array_equal(layers.to_canonical_layout(("conv", "kernel"), flax_conv), conv)
    assert layers.to_flax_layout(("ln", "scale"), dense_kernel) is dense_kernel


def test_return_tensors_jax():
    from polyformer.backends.flax.tensors import to_tensor

    tensor = to_tensor(np.arange(4).reshape(2, 2))
    assert isinstance(tensor, jax.Array) and tensor.shape == (2, 2)


# ---- without torch or tensorflow -----------------------------------------------------------

def test_loads_torch_checkpoint_with_torch_and_tensorflow_blocked(tmp_path):
    kwargs = config_for("question-answering", "learned-gelu-4heads")
    hf_model = save_hf_checkpoint(tmp_path / "ckpt", "question-answering", seed=7, **kwargs)
    inputs = make_inputs(kwargs, "question-answering", with_labels=False)
    with torch.no_grad():
        expected = hf_model(**inputs)
    np.savez(tmp_path / "inputs.npz", **numpy_inputs(inputs))
    script = textwrap.dedent(
        f"""
        import sys
        for name in ("torch", "tensorflow", "keras", "transformers"):
            sys.modules[name] = None  # any import of them now fails
        import numpy as np
        import polyformer
        assert "jax" not in sys.modules and "flax" not in sys.modules, "import polyformer imported jax"
        model = polyformer.FlaxDistilBertForQuestionAnswering.from_pretrained({str(tmp_path / "ckpt")!r})
        inputs = dict(np.load({str(tmp_path / "inputs.npz")!r}))
        out = model(**inputs)
        np.savez({str(tmp_path / "out.npz")!r}, start=np.asarray(out.start_logits), end=np.asarray(out.end_logits))
        assert all(sys.modules[name] is None for name in ("torch", "tensorflow", "keras", "transformers"))
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    out = np.load(tmp_path / "out.npz")
    assert_close(out["start"], expected.start_logits, name="start_logits")
    assert_close(out["end"], expected.end_logits, name="end_logits")
