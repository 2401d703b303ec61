"""Bad model inputs get one clear error, the same in PyTorch, Keras and Flax.

Without the shared checks of ``polyformer.core.inputs`` the three frameworks fail each in
their own way: PyTorch and TensorFlow raise deep inside an op (``index out of range in
self``), Keras wraps the message in ANSI escapes and argument dumps, JAX clamps out-of-range
ids silently (and wraps int64 ids to int32 first), and a mask of 0.5 just computes something.

The table test runs every bad input in every framework and asserts one error type and one
message, word for word, naming the argument. ``transformers`` (the test-only oracle) gives
the reference for what is accepted, and its default (SDPA) attention the output of a fully
masked row.
"""

from __future__ import annotations

import logging

import numpy as np
import pytest

import polyformer
from polyformer.core import inputs as core_inputs
from polyformer.core.inputs import Facts, ModelInputError, ModelInputTypeError, TextLimits

FRAMEWORKS = ["torch", "keras", "flax"]
PREFIX = {"torch": "", "keras": "TF", "flax": "Flax"}

DISTILBERT = dict(vocab_size=30, dim=8, hidden_dim=16, n_layers=1, n_heads=2, max_position_embeddings=8)
BERT = dict(vocab_size=30, hidden_size=8, intermediate_size=16, num_hidden_layers=1, num_attention_heads=2,
            max_position_embeddings=8, type_vocab_size=2)
HEADS = {
    "base": "Model",
    "masked-lm": "ForMaskedLM",
    "sequence-classification": "ForSequenceClassification",
    "token-classification": "ForTokenClassification",
    "question-answering": "ForQuestionAnswering",
    "multiple-choice": "ForMultipleChoice",
}

IDS = np.array([[1, 2, 3, 4], [5, 6, 7, 8]])
ONES = np.ones((2, 4), dtype=np.int64)


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    """A random base checkpoint per architecture, saved by polyformer's PyTorch models."""
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    folders = {}
    for arch, config in (("DistilBert", polyformer.DistilBertConfig(**DISTILBERT)), ("Bert", polyformer.BertConfig(**BERT))):
        folders[arch] = tmp_path_factory.mktemp(arch)
        getattr(polyformer, f"{arch}Model")(config).save_pretrained(folders[arch])
    return folders


_MODELS: dict = {}


def load(checkpoints, framework: str, arch: str = "DistilBert", head: str = "base", **config):
    """The model, loaded once per module (heads get their missing layers random-initialised).

    Sequence classifiers are loaded afresh: the Keras one, as transformers, writes the problem type
    it infers from the first labels into its config, and the cases give labels of each kind.
    """
    key = (framework, arch, head, tuple(sorted(config.items())))
    if key not in _MODELS or head == "sequence-classification":
        cls = getattr(polyformer, f"{PREFIX[framework]}{arch}{HEADS[head]}")
        logging.disable(logging.WARNING)  # "newly initialised" head weights: expected here
        try:
            _MODELS[key] = cls.from_pretrained(checkpoints[arch], **config)
        finally:
            logging.disable(logging.NOTSET)
    return _MODELS[key]


def run(model, framework: str, inputs: dict):
    """Call ``model``: numpy inputs become torch tensors for PyTorch; lists stay lists everywhere."""
    if framework == "torch":
        import torch

        inputs = {k: torch.from_numpy(v) if isinstance(v, np.ndarray) else v for k, v in inputs.items()}
        with torch.no_grad():
            return model(**inputs)
    return model(**inputs)


def numpy(value):
    return value.detach().float().numpy() if hasattr(value, "detach") else np.asarray(value)


# ---- the table: every bad input x every framework ------------------------------------------
VOCAB = r"outside the vocabulary of 30 tokens \(ids 0\.\.29\)"

CASES = [
    # (id, arch, head, config overrides, inputs, error type, message regex)
    ("id-past-vocab", "DistilBert", "base", {}, dict(input_ids=np.array([[1, 2, 30, 3]])),
     ModelInputError, rf"^input_ids contains 30, {VOCAB}: was the text tokenized with this model's tokenizer"),
    ("negative-id", "DistilBert", "base", {}, dict(input_ids=np.array([[1, -1, 3]])),
     ModelInputError, rf"^input_ids contains -1, {VOCAB}"),
    # Flax used to cast to int32 first: 2**32+5 ran as 5, 2**40 as 0, and 2**31+7 was named -2147483641.
    ("id-2**32+5", "DistilBert", "base", {}, dict(input_ids=np.array([[1, 2**32 + 5, 2]])),
     ModelInputError, rf"^input_ids contains 4294967301, {VOCAB}"),
    ("id-2**40", "DistilBert", "base", {}, dict(input_ids=np.array([[1, 2**40, 2]])),
     ModelInputError, rf"^input_ids contains 1099511627776, {VOCAB}"),
    ("id-2**31+7", "DistilBert", "base", {}, dict(input_ids=np.array([[1, 2**31 + 7, 2]])),
     ModelInputError, rf"^input_ids contains 2147483655, {VOCAB}"),
    ("too-long", "DistilBert", "base", {}, dict(input_ids=np.ones((2, 9), dtype=np.int64)),
     ModelInputError, r"^input_ids has 9 positions, but the model has only 8 position embeddings.*truncation=True"),
    ("embeds-too-long", "DistilBert", "base", {}, dict(inputs_embeds=np.zeros((1, 9, 8), np.float32)),
     ModelInputError, r"^inputs_embeds has 9 positions, but the model has only 8 position embeddings"),
    ("empty-batch", "DistilBert", "base", {}, dict(input_ids=IDS[:0]),
     ModelInputError, r"^input_ids has shape \(0, 4\): a batch needs at least one sequence"),
    ("empty-sequence", "DistilBert", "base", {}, dict(input_ids=IDS[:, :0]),
     ModelInputError, r"^input_ids has shape \(2, 0\): a batch needs at least one sequence, and a sequence at least one token"),
    ("float-ids", "DistilBert", "base", {}, dict(input_ids=IDS.astype(np.float32)),
     ModelInputTypeError, r"^input_ids must hold token ids as integers of dtype int32 or int64, got dtype float32"),
    ("bool-ids", "DistilBert", "base", {}, dict(input_ids=IDS > 4),
     ModelInputTypeError, r"^input_ids must hold token ids as integers of dtype int32 or int64, got dtype bool"),
    ("uint8-ids", "DistilBert", "base", {}, dict(input_ids=IDS.astype(np.uint8)),
     ModelInputTypeError, r"^input_ids must hold token ids as integers of dtype int32 or int64, got dtype uint8"),
    ("1d-ids", "DistilBert", "base", {}, dict(input_ids=IDS[0]),
     ModelInputError, r"^input_ids must have shape \(batch, sequence\), got shape \(4,\): for one sequence add a batch axis"),
    ("3d-ids", "DistilBert", "base", {}, dict(input_ids=IDS[None]),
     ModelInputError, r"^input_ids must have shape \(batch, sequence\), got shape \(1, 2, 4\)"),
    ("ragged-list", "DistilBert", "base", {}, dict(input_ids=[[1, 2, 3], [4]]),
     ModelInputError, r"^input_ids is a list whose rows have different lengths.*padding=True"),
    ("mask-wider", "DistilBert", "base", {}, dict(input_ids=IDS, attention_mask=np.ones((2, 5), np.int64)),
     ModelInputError, r"^attention_mask has shape \(2, 5\), but the inputs have shape \(2, 4\)"),
    ("mask-1d", "DistilBert", "base", {}, dict(input_ids=IDS, attention_mask=np.ones(4, np.int64)),
     ModelInputError, r"^attention_mask has shape \(4,\), but the inputs have shape \(2, 4\)"),
    ("mask-0.5", "DistilBert", "base", {}, dict(input_ids=IDS, attention_mask=np.array([[1, 1, 0.5, 1], [1, 1, 1, 1]])),
     ModelInputError, r"^attention_mask contains 0\.5, but must hold only 1 \(a token to attend to\) and 0 \(padding\)"),
    ("mask-2", "DistilBert", "base", {}, dict(input_ids=IDS, attention_mask=np.array([[1, 1, 2, 1], [1, 1, 1, 1]])),
     ModelInputError, r"^attention_mask contains 2, but must hold only 1"),
    ("ids-and-embeds", "DistilBert", "base", {}, dict(input_ids=IDS, inputs_embeds=np.zeros((2, 4, 8), np.float32)),
     ModelInputError, r"^got both input_ids and inputs_embeds: pass exactly one of input_ids or inputs_embeds"),
    ("neither-ids-nor-embeds", "DistilBert", "base", {}, dict(attention_mask=ONES),
     ModelInputError, r"^got neither input_ids nor inputs_embeds: pass exactly one of input_ids or inputs_embeds"),
    ("embeds-rank-2", "DistilBert", "base", {}, dict(inputs_embeds=np.zeros((4, 8), np.float32)),
     ModelInputError, r"^inputs_embeds must have shape \(batch, sequence, 8\), got shape \(4, 8\)"),
    ("embeds-width", "DistilBert", "base", {}, dict(inputs_embeds=np.zeros((2, 4, 7), np.float32)),
     ModelInputError, r"^inputs_embeds has shape \(2, 4, 7\), but the model's hidden size is 8"),
    ("integer-embeds", "DistilBert", "base", {}, dict(inputs_embeds=np.zeros((2, 4, 8), np.int64)),
     ModelInputTypeError, r"^inputs_embeds must be floating point \(e\.g\. float32\), got dtype int64"),
    ("position-ids-shape", "DistilBert", "base", {}, dict(input_ids=IDS, position_ids=np.zeros((2, 5), np.int64)),
     ModelInputError, r"^position_ids has shape \(2, 5\), but input_ids has shape \(2, 4\)"),
    ("position-id-8", "DistilBert", "base", {}, dict(input_ids=IDS, position_ids=np.full((2, 4), 8)),
     ModelInputError, r"^position_ids contains 8, outside the 8 position embeddings of this model \(0\.\.7"),
    ("bert-token-type-2", "Bert", "base", {}, dict(input_ids=IDS, token_type_ids=np.array([[0, 0, 1, 2], [0] * 4])),
     ModelInputError, r"^token_type_ids contains 2, outside the 2 token types of this model \(0\.\.1, type_vocab_size\)"),
    ("bert-token-types-shape", "Bert", "base", {}, dict(input_ids=IDS, token_type_ids=np.zeros((2, 5), np.int64)),
     ModelInputError, r"^token_type_ids has shape \(2, 5\), but input_ids has shape \(2, 4\)"),
    ("bert-float-token-types", "Bert", "base", {}, dict(input_ids=IDS, token_type_ids=np.zeros((2, 4), np.float32)),
     ModelInputTypeError, r"^token_type_ids must hold token type ids as integers of dtype int32 or int64, got dtype float32"),
    ("bert-position-ids-shape", "Bert", "base", {}, dict(input_ids=IDS, position_ids=np.zeros((3, 4), np.int64)),
     ModelInputError, r"^position_ids has shape \(3, 4\), but input_ids has shape \(2, 4\)"),
    # multiple choice: (batch, num_choices, sequence)
    ("choices-rank-2", "DistilBert", "multiple-choice", {}, dict(input_ids=IDS),
     ModelInputError, r"^input_ids must have shape \(batch, num_choices, sequence\) for a multiple-choice model, got shape \(2, 4\)"),
    ("choices-embeds-rank-3", "DistilBert", "multiple-choice", {}, dict(inputs_embeds=np.zeros((2, 4, 8), np.float32)),
     ModelInputError, r"^inputs_embeds must have shape \(batch, num_choices, sequence, hidden_size\)"),
    ("choices-mask-shape", "DistilBert", "multiple-choice", {}, dict(input_ids=IDS[:, None], attention_mask=ONES),
     ModelInputError, r"^attention_mask has shape \(2, 4\), but the choices have shape \(2, 1, 4\)"),
    ("bert-choices-token-types", "Bert", "multiple-choice", {},
     dict(input_ids=IDS[:, None], token_type_ids=np.zeros((2, 2, 4), np.int64)),
     ModelInputError, r"^token_type_ids has shape \(2, 2, 4\), but the choices have shape \(2, 1, 4\)"),
    ("choice-label-2", "DistilBert", "multiple-choice", {}, dict(input_ids=np.stack([IDS, IDS], 1), labels=np.array([0, 2])),
     ModelInputError, r"^labels contains 2, outside the 2 choices of this head \(0\.\.1, or -100 to ignore one\)"),
    # labels of each head
    ("class-label-2", "DistilBert", "sequence-classification", {}, dict(input_ids=IDS, labels=np.array([1, 2])),
     ModelInputError, r"^labels contains 2, outside the 2 classes of this head \(0\.\.1, or -100 to ignore one\)"),
    ("class-labels-shape", "DistilBert", "sequence-classification", {}, dict(input_ids=IDS, labels=np.array([1, 0, 1])),
     ModelInputError, r"^labels has shape \(3,\), but the model predicts logits of shape \(2, 2\): expected one label per prediction, shape \(2,\)"),
    ("float-labels-are-multi-label", "DistilBert", "sequence-classification", {}, dict(input_ids=IDS, labels=np.array([1.0, 0.0])),
     ModelInputError, r"^labels has shape \(2,\), but a multi-label classification expects one 0/1 target per label, shape \(2, 2\)"),
    ("multi-label-target-2", "DistilBert", "sequence-classification", {},
     dict(input_ids=IDS, labels=np.array([[1.0, 0.0], [2.0, 1.0]], np.float32)),
     ModelInputError, r"^labels contains 2\.0, but multi-label targets must lie between 0 and 1"),
    ("regression-labels-shape", "DistilBert", "sequence-classification", dict(num_labels=1),
     dict(input_ids=IDS, labels=np.zeros((2, 3), np.float32)),
     ModelInputError, r"^labels has shape \(2, 3\), but a regression with 1 label expects \(2,\) or \(2, 1\)"),
    ("token-label-5", "DistilBert", "token-classification", {}, dict(input_ids=IDS, labels=np.array([[0, 1, -100, 5]] * 2)),
     ModelInputError, r"^labels contains 5, outside the 2 classes of this head"),
    ("token-labels-shape", "DistilBert", "token-classification", {}, dict(input_ids=IDS, labels=np.zeros((2, 5), np.int64)),
     ModelInputError, r"^labels has shape \(2, 5\), but the model predicts logits of shape \(2, 4, 2\)"),
    ("token-labels-float", "DistilBert", "token-classification", {}, dict(input_ids=IDS, labels=np.zeros((2, 4), np.float32)),
     ModelInputTypeError, r"^labels must hold class ids as integers of dtype int32 or int64, got dtype float32"),
    ("mlm-label-30", "DistilBert", "masked-lm", {}, dict(input_ids=IDS, labels=np.array([[-100, 30, -100, -100]] * 2)),
     ModelInputError, r"^labels contains 30, outside the 30 vocabulary tokens of this head \(0\.\.29, or -100 to ignore one\)"),
    ("mlm-labels-shape", "DistilBert", "masked-lm", {}, dict(input_ids=IDS, labels=np.zeros((2,), np.int64)),
     ModelInputError, r"^labels has shape \(2,\), but the model predicts logits of shape \(2, 4, 30\)"),
    ("bert-mlm-label-negative", "Bert", "masked-lm", {}, dict(input_ids=IDS, labels=np.array([[-100, -3, 1, 1]] * 2)),
     ModelInputError, r"^labels contains -3, outside the 30 vocabulary tokens of this head"),
    ("span-positions-shape", "DistilBert", "question-answering", {},
     dict(input_ids=IDS, start_positions=np.zeros((2, 3), np.int64), end_positions=np.zeros(2, np.int64)),
     ModelInputError, r"^start_positions has shape \(2, 3\): expected one token index per sequence, shape \(2,\)"),
    ("span-positions-float", "DistilBert", "question-answering", {},
     dict(input_ids=IDS, start_positions=np.zeros(2, np.int64), end_positions=np.zeros(2, np.float32)),
     ModelInputTypeError, r"^end_positions must hold token indices as integers of dtype int32 or int64, got dtype float32"),
]


@pytest.mark.parametrize("case", CASES, ids=[case[0] for case in CASES])
def test_every_bad_input_gets_one_clear_error_in_every_framework(checkpoints, case):
    _, arch, head, config, bad_inputs, error_type, pattern = case
    seen = {}
    for framework in FRAMEWORKS:
        model = load(checkpoints, framework, arch, head, **config)
        with pytest.raises(error_type, match=pattern) as raised:
            run(model, framework, bad_inputs)
        assert type(raised.value) is error_type, framework  # not a framework error that happens to match
        message = str(raised.value)
        assert "\x1b" not in message and "Exception encountered" not in message, framework  # Keras' wrapping
        seen[framework] = message
    assert len(set(seen.values())) == 1, seen  # word for word the same


# ---- what is accepted, as transformers accepts it ---------------------------------------------
ACCEPTED = [
    # (id, inputs, whether transformers' PyTorch model takes them too)
    ("int32-ids", dict(input_ids=IDS.astype(np.int32)), True),
    ("bool-mask", dict(input_ids=IDS, attention_mask=np.array([[True, True, False, False], [True] * 4])), True),
    ("float-mask", dict(input_ids=IDS, attention_mask=np.array([[1.0, 1.0, 0.0, 0.0], [1.0] * 4], np.float32)), True),
    ("positions-(seq,)", dict(input_ids=IDS, position_ids=np.array([3, 2, 1, 0])), True),
    ("positions-(1,seq)", dict(input_ids=IDS, position_ids=np.array([[3, 2, 1, 0]])), True),
    # transformers fails on these (a list has no .numel; float64 meets float32 weights); Keras and Flax take them.
    ("list-of-ids", dict(input_ids=IDS.tolist(), attention_mask=[[1, 1, 1, 0], [1, 1, 1, 1]]), False),
    ("float64-embeds", dict(inputs_embeds=np.random.default_rng(0).normal(size=(2, 4, 8))), False),
]


@pytest.mark.parametrize("name, good_inputs, in_transformers", ACCEPTED, ids=[case[0] for case in ACCEPTED])
def test_accepted_inputs_give_the_same_output_everywhere(checkpoints, name, good_inputs, in_transformers):
    """What transformers takes (int32 ids, bool / float 0-1 masks, positions shared by the batch) gives its
    output; Python lists and float64 embeddings (taken in the model's dtype) give one output in every framework."""
    outputs = {fw: numpy(run(load(checkpoints, fw), fw, good_inputs).last_hidden_state) for fw in FRAMEWORKS}
    if in_transformers:
        transformers = pytest.importorskip("transformers")
        reference = transformers.DistilBertModel.from_pretrained(checkpoints["DistilBert"]).eval()
        outputs["transformers"] = numpy(run(reference, "torch", good_inputs).last_hidden_state)
    # Post-LayerNorm values of order 1, float32 in every framework: 1e-5 covers the rounding of
    # different kernels; a dropped mask or wrong position moves values by 1e-2 or more.
    for framework in set(outputs) - {"torch"}:
        np.testing.assert_allclose(outputs[framework], outputs["torch"], rtol=1e-5, atol=1e-5, err_msg=framework)


def test_torch_takes_python_lists_and_numpy_like_tensors(checkpoints):
    import torch

    model = load(checkpoints, "torch")
    with torch.no_grad():
        reference = model(input_ids=torch.from_numpy(IDS), attention_mask=torch.from_numpy(ONES)).last_hidden_state
        from_list = model(IDS.tolist(), ONES.tolist()).last_hidden_state  # positionally, too
        from_numpy = model(input_ids=IDS, attention_mask=ONES).last_hidden_state
    assert torch.equal(from_list, reference) and torch.equal(from_numpy, reference)


# ---- a fully masked row: transformers' default (SDPA) output everywhere -------------------------
@pytest.fixture(scope="module")
def transformers_checkpoints(tmp_path_factory):
    """transformers' own random models (perturbed, so that every weight matters), saved to disk."""
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    transformers.logging.set_verbosity_error()
    built = {}
    for arch, config in (("DistilBert", transformers.DistilBertConfig(**{**DISTILBERT, "dim": 16, "hidden_dim": 32, "n_layers": 2})),
                         ("Bert", transformers.BertConfig(**{**BERT, "hidden_size": 16, "num_hidden_layers": 2}))):
        torch.manual_seed(0)
        model = getattr(transformers, f"{arch}Model")(config).eval()
        generator = torch.Generator().manual_seed(1)
        with torch.no_grad():
            for param in model.parameters():
                param.add_(torch.randn(param.shape, generator=generator) * 0.1)
        folder = tmp_path_factory.mktemp(f"hf-{arch}")
        model.save_pretrained(folder)
        built[arch] = (folder, model)
    return built


@pytest.mark.parametrize("arch", ["DistilBert", "Bert"])
def test_fully_masked_row_matches_transformers_sdpa(transformers_checkpoints, arch):
    """A sequence whose every token is masked attends to nothing (zero context), as the fused kernel
    transformers uses by default computes it; Keras and Flax used to average all tokens (0.0134 away)."""
    import torch

    folder, reference_model = transformers_checkpoints[arch]
    assert reference_model.config._attn_implementation == "sdpa"  # the default is the oracle
    mask = np.array([[1, 1, 0, 0], [0, 0, 0, 0]])
    with torch.no_grad():
        expected = reference_model(input_ids=torch.from_numpy(IDS), attention_mask=torch.from_numpy(mask)).last_hidden_state.numpy()
    for framework in FRAMEWORKS:
        model = getattr(polyformer, f"{PREFIX[framework]}{arch}Model").from_pretrained(folder)
        for flags in ({}, {"output_attentions": True}):  # the fused path, and the explicit one that returns weights
            output = run(model, framework, dict(input_ids=IDS, attention_mask=mask, **flags))
            # Values of order 1 after LayerNorm, float32: 1e-5 is rounding; the old difference was 1e-2.
            np.testing.assert_allclose(numpy(output.last_hidden_state), expected, rtol=1e-5, atol=1e-5,
                                       err_msg=f"{framework} {flags}")
            if flags:
                for weights in output.attentions:
                    weights = numpy(weights)
                    assert np.all(weights[1] == 0), framework  # nothing to attend to
                    np.testing.assert_allclose(weights[0].sum(-1), 1.0, rtol=1e-6)  # the other row is unchanged


# ---- value checks stay out of the way of tracing -------------------------------------------------
def test_torch_compile_keeps_shape_and_dtype_checks(checkpoints):
    import torch

    model = load(checkpoints, "torch", head="sequence-classification")
    compiled = torch.compile(model, backend="eager")  # dynamo's tracing, without a compiler's minutes
    ids, mask, labels = torch.from_numpy(IDS), torch.tensor([[1, 1, 1, 0], [1, 1, 1, 1]]), torch.tensor([0, 1])
    with torch.no_grad():
        expected = model(input_ids=ids, attention_mask=mask, labels=labels)
        traced = compiled(input_ids=ids, attention_mask=mask, labels=labels)
        torch.testing.assert_close(traced.logits, expected.logits)
        torch.testing.assert_close(traced.loss, expected.loss)
        with pytest.raises(ModelInputTypeError, match="input_ids must hold token ids as integers"):
            compiled(input_ids=ids.float())


def test_jax_jit_keeps_shape_and_dtype_checks(checkpoints):
    import jax
    import jax.numpy as jnp

    model = load(checkpoints, "flax")
    apply = jax.jit(lambda params, ids, mask: model.module.apply({"params": params}, ids, mask).last_hidden_state)
    mask = jnp.asarray([[1, 1, 1, 0], [1, 1, 1, 1]])
    traced = apply(model.params, jnp.asarray(IDS), mask)
    np.testing.assert_allclose(np.asarray(traced), np.asarray(model(IDS, mask).last_hidden_state), rtol=1e-6, atol=1e-6)
    with pytest.raises(ModelInputError, match=r"input_ids must have shape \(batch, sequence\), got shape \(4,\)"):
        apply(model.params, jnp.asarray(IDS[0]), mask)
    with pytest.raises(ModelInputError, match=r"attention_mask has shape \(2, 5\)"):
        apply(model.params, jnp.asarray(IDS), jnp.ones((2, 5), jnp.int32))


def test_tf_function_keeps_shape_and_dtype_checks(checkpoints):
    import tensorflow as tf

    model = load(checkpoints, "keras")
    # autograph=False: with autograph, TensorFlow re-raises any Python error of traced code as a
    # StagingError (message included); the point here is which checks run while tracing.
    call = tf.function(lambda ids, mask: model(input_ids=ids, attention_mask=mask).last_hidden_state, autograph=False)
    mask = tf.constant([[1, 1, 1, 0], [1, 1, 1, 1]])
    np.testing.assert_allclose(call(tf.constant(IDS), mask).numpy(), model(IDS, attention_mask=mask).last_hidden_state.numpy(),
                               rtol=1e-6, atol=1e-6)
    with pytest.raises(ModelInputTypeError, match=r"got dtype float32"):
        call(tf.constant(IDS, tf.float32), mask)
    # Unknown sizes (a dynamic input signature) leave only what is known to check.
    dynamic = tf.function(lambda ids: model(input_ids=ids).last_hidden_state,
                          input_signature=[tf.TensorSpec((None, None), tf.int64)])
    assert dynamic(tf.constant(IDS)).shape == (2, 4, 8)


# ---- the rules themselves, without a framework -------------------------------------------------
LIMITS = TextLimits(vocab_size=30, max_positions=8, hidden_size=8, type_vocab_size=2)


def test_rules_without_values_check_only_what_is_known():
    """While tracing, values are None and sizes may be None: nothing unknown is judged."""
    traced_ids = Facts("input_ids", "int32", (None, None))
    core_inputs.check_text_inputs(LIMITS, input_ids=traced_ids)  # nothing known is wrong
    core_inputs.check_attention_mask(Facts("attention_mask", "int32", (None, 4)), (2, None))
    with pytest.raises(ModelInputError, match=r"got shape \(\?,\)"):
        core_inputs.check_text_inputs(LIMITS, input_ids=Facts("input_ids", "int32", (None,)))
    with pytest.raises(ModelInputError, match="outside the vocabulary"):
        core_inputs.check_text_inputs(LIMITS, input_ids=Facts("input_ids", "int64", (1, 2), np.array([[1, 99]])))


def test_messages_name_the_first_bad_value_as_given():
    facts = core_inputs.array_facts("attention_mask", np.array([[1.0, 2.0, 0.5]]))
    with pytest.raises(ModelInputError, match=r"attention_mask contains 2\.0,"):
        core_inputs.check_mask_values(facts)
    nan_targets = core_inputs.array_facts("labels", np.array([[0.0, np.nan]]))
    with pytest.raises(ModelInputError, match=r"labels contains nan"):
        core_inputs.check_multi_label_targets(nan_targets, (1, 2))


def test_ignored_labels_and_clamped_positions_stay_allowed(checkpoints):
    """-100 labels are skipped by the losses and answer positions past the sequence are ignored, as in transformers."""
    for framework in FRAMEWORKS:
        token = load(checkpoints, framework, head="token-classification")
        loss = run(token, framework, dict(input_ids=IDS, labels=np.array([[0, 1, -100, 1]] * 2))).loss
        assert np.isfinite(numpy(loss)), framework
        qa = load(checkpoints, framework, head="question-answering")
        loss = run(qa, framework, dict(input_ids=IDS, start_positions=np.array([1, 40]), end_positions=np.array([-5, 2]))).loss
        assert np.isfinite(numpy(loss)), framework
