"""The PyTorch backend's PreTrainedModel: init, loading without waste, dtypes, resizing,
pruning, gradient checkpointing, training."""

import subprocess
import sys

import pytest
import torch

import polyformer
from polyformer.backends.torch import layers
from polyformer.backends.torch.modeling import to_torch_dtype
from polyformer.models.distilbert.modeling_torch import DistilBertPreTrainedModel
from polyformer.testing import assert_close, assert_outputs_close

from _torch_oracle import (
    CONFIGS,
    load_hf,
    make_hf_model,
    make_inputs,
    pf_config,
    run_both,
    save_hf_checkpoint,
)

SMALL = CONFIGS["learned-gelu-4heads"]


def test_import_polyformer_does_not_import_torch():
    code = "import sys, polyformer; polyformer.DistilBertConfig; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


# What a first from_pretrained may not import: PyTorch's Python references for meta tensors
# pull these in (over a second of a first load) when an initialiser runs on the meta device.
HEAVY_ON_LOAD = ("torch._dynamo", "torch._inductor", "sympy")


def test_first_from_pretrained_imports_no_dynamo_or_sympy(tmp_path):
    torch.manual_seed(0)
    polyformer.DistilBertForMaskedLM(pf_config(**SMALL)).save_pretrained(tmp_path / "distilbert")
    vit = polyformer.ViTConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64,
                               image_size=32, patch_size=8, num_labels=3)
    polyformer.ViTForImageClassification(vit).save_pretrained(tmp_path / "vit")
    # A fresh process, as a user's first load: the modules are compared before and after each load.
    code = (
        "import sys, torch, polyformer\n"
        f"heavy = {HEAVY_ON_LOAD!r}\n"
        "assert not [m for m in heavy if m in sys.modules], 'imported before loading'\n"
        "for cls, folder in [(polyformer.DistilBertForMaskedLM, sys.argv[1]), "
        "(polyformer.ViTForImageClassification, sys.argv[2])]:\n"
        "    model = cls.from_pretrained(folder)\n"
        "    assert not any(p.is_meta for p in model.parameters())\n"
        "    found = [m for m in heavy if m in sys.modules]\n"
        "    assert not found, f'{cls.__name__}.from_pretrained imported {found}'\n"
    )
    result = subprocess.run([sys.executable, "-c", code, str(tmp_path / "distilbert"), str(tmp_path / "vit")],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]


def test_from_pretrained_pauses_the_garbage_collector(tmp_path, monkeypatch):
    """A full collection during a load finds nothing to free; paused, then resumed as it was."""
    import gc

    torch.manual_seed(0)
    polyformer.DistilBertModel(pf_config(**SMALL)).save_pretrained(tmp_path)
    seen = []
    real = DistilBertPreTrainedModel._load_files

    def spy(self, files, wanted):
        seen.append(gc.isenabled())
        return real(self, files, wanted)

    monkeypatch.setattr(DistilBertPreTrainedModel, "_load_files", spy)
    assert gc.isenabled()
    polyformer.DistilBertModel.from_pretrained(tmp_path)
    assert seen == [False] and gc.isenabled()
    with pytest.raises(OSError):
        polyformer.DistilBertModel.from_pretrained(tmp_path / "missing")
    assert gc.isenabled()  # resumed after an error too
    gc.disable()
    try:  # a caller's own pause is kept
        polyformer.DistilBertModel.from_pretrained(tmp_path)
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_random_init_follows_initializer_range():
    torch.manual_seed(0)
    config = pf_config(**dict(SMALL, initializer_range=0.05, vocab_size=400, dim=64, hidden_dim=256))
    model = polyformer.DistilBertForMaskedLM(config)
    lin1 = model.distilbert.transformer.layer[0].ffn.lin1
    assert abs(lin1.weight.std().item() - 0.05) < 0.005 and torch.all(lin1.bias == 0)
    words = model.distilbert.embeddings.word_embeddings
    assert abs(words.weight.std().item() - 0.05) < 0.005
    assert torch.all(words.weight[config.pad_token_id] == 0)
    norm = model.distilbert.transformer.layer[1].output_layer_norm
    assert torch.all(norm.weight == 1) and torch.all(norm.bias == 0)
    assert torch.all(model.vocab_projector.bias == 0)


def test_num_parameters_matches_transformers():
    hf_model = make_hf_model("masked-lm", **SMALL)
    model = polyformer.DistilBertForMaskedLM(pf_config(**SMALL))
    for kwargs in ({}, {"exclude_embeddings": True}, {"only_trainable": True}):
        assert model.num_parameters(**kwargs) == hf_model.num_parameters(**kwargs), kwargs
    model.distilbert.embeddings.LayerNorm.weight.requires_grad_(False)
    assert model.num_parameters(only_trainable=True) == model.num_parameters() - SMALL["dim"]


def test_embeddings_accessors_and_tying():
    model = polyformer.DistilBertForMaskedLM(pf_config(**SMALL))
    assert model.get_input_embeddings() is model.distilbert.embeddings.word_embeddings
    assert model.get_output_embeddings() is model.vocab_projector
    assert model.vocab_projector.weight is model.get_input_embeddings().weight
    assert polyformer.DistilBertModel(pf_config(**SMALL)).get_output_embeddings() is None
    untied = polyformer.DistilBertForMaskedLM(pf_config(**dict(SMALL, tie_word_embeddings=False)))
    assert untied.vocab_projector.weight is not untied.get_input_embeddings().weight
    new = torch.nn.Embedding(SMALL["vocab_size"], SMALL["dim"])
    model.set_input_embeddings(new)
    model.tie_weights()
    assert model.vocab_projector.weight is new.weight


def test_loading_builds_on_meta_and_initialises_nothing_in_vain(tmp_path, monkeypatch):
    save_hf_checkpoint(tmp_path, "base", **SMALL)
    calls = []
    original = DistilBertPreTrainedModel._init_weights

    def spy(self, module, only=None):
        calls.append((type(module).__name__, only))
        return original(self, module, only)

    monkeypatch.setattr(DistilBertPreTrainedModel, "_init_weights", spy)
    model = polyformer.DistilBertModel.from_pretrained(tmp_path)
    assert calls == []  # every weight came from the checkpoint
    tensors = [*model.parameters(), *model.buffers()]
    assert not any(t.is_meta for t in tensors)
    # the non-persistent buffer, never in a checkpoint, is rebuilt
    assert torch.equal(model.embeddings.position_ids, torch.arange(SMALL["max_position_embeddings"])[None, :])

    head = polyformer.DistilBertForTokenClassification.from_pretrained(tmp_path)
    assert sorted(calls) == [("Linear", {"bias"}), ("Linear", {"weight"})]  # just the classifier
    assert not any(t.is_meta for t in head.parameters())
    assert torch.all(head.classifier.bias == 0)


def test_dtype_names():
    assert to_torch_dtype("float16") is torch.float16
    assert to_torch_dtype("torch.bfloat16") is torch.bfloat16
    assert to_torch_dtype(torch.float32) is torch.float32
    with pytest.raises(ValueError, match="dtype"):
        to_torch_dtype("float17")


@pytest.mark.parametrize("dtype", [torch.float16, "bfloat16"])
def test_from_pretrained_in_half_precision(tmp_path, dtype):
    hf_model = save_hf_checkpoint(tmp_path, "sequence-classification", **SMALL)
    model = polyformer.DistilBertForSequenceClassification.from_pretrained(tmp_path, dtype=dtype)
    want = to_torch_dtype(dtype)
    assert model.dtype is want and all(p.dtype is want for p in model.parameters())
    assert model.distilbert.embeddings.position_ids.dtype is torch.long
    inputs = make_inputs(SMALL, "sequence-classification")
    expected, actual = run_both(hf_model, model, inputs)
    assert actual.logits.dtype is want
    # Every matmul rounds to the half type: 2 layers end a few units of its rounding (eps / 2) away from
    # float32; 8 eps (16 units) leaves room for any CPU's kernels.
    tolerance = 8 * torch.finfo(want).eps
    assert_close(actual.logits, expected.logits, rtol=tolerance, atol_scale=tolerance)

    model.save_pretrained(tmp_path / "half")
    assert polyformer.DistilBertConfig.from_pretrained(tmp_path / "half").dtype == str(want).removeprefix("torch.")
    again = polyformer.DistilBertForSequenceClassification.from_pretrained(tmp_path / "half", dtype="auto")
    assert again.dtype is want
    default = polyformer.DistilBertForSequenceClassification.from_pretrained(tmp_path / "half")
    assert default.dtype is want  # dtype="auto" is the default, as in transformers 5
    as_float = polyformer.DistilBertForSequenceClassification.from_pretrained(tmp_path / "half", dtype="float32")
    assert as_float.dtype is torch.float32
    assert polyformer.DistilBertForSequenceClassification.from_pretrained(tmp_path, dtype="auto").dtype is torch.float32


def test_resize_token_embeddings_keeps_rows_and_reties(tmp_path):
    torch.manual_seed(0)
    model = polyformer.DistilBertForMaskedLM(pf_config(**SMALL)).eval()
    old_weight = model.get_input_embeddings().weight.detach().clone()
    old_bias = model.vocab_projector.bias.detach().clone()
    new = model.resize_token_embeddings(110, pad_to_multiple_of=8)
    assert new.num_embeddings == 112 and model.config.vocab_size == 112
    assert torch.equal(new.weight[:99], old_weight)  # rows are copied, bit for bit
    assert model.vocab_projector.weight is new.weight
    assert model.vocab_projector.bias.shape == (112,) and model.vocab_projector.out_features == 112
    assert torch.equal(model.vocab_projector.bias[:99], old_bias)
    assert torch.all(model.vocab_projector.bias[99:] == 0)

    inputs = make_inputs(dict(SMALL, vocab_size=112), "masked-lm")
    inputs["input_ids"][0, 0] = 111  # a new token
    model.save_pretrained(tmp_path)
    hf_model, info = load_hf(tmp_path, "masked-lm", output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"]
    expected, actual = run_both(hf_model, model, inputs)
    assert_outputs_close(expected, actual)

    shrunk = model.resize_token_embeddings(50)
    assert shrunk.num_embeddings == 50 and model.vocab_projector.bias.shape == (50,)
    assert torch.equal(shrunk.weight, old_weight[:50])


def test_resize_untied_output_layer():
    model = polyformer.DistilBertForMaskedLM(pf_config(**dict(SMALL, tie_word_embeddings=False)))
    old_projector = model.vocab_projector.weight.detach().clone()
    model.resize_token_embeddings(120)
    assert model.vocab_projector.weight.shape == (120, SMALL["dim"])
    assert model.vocab_projector.weight is not model.get_input_embeddings().weight
    assert torch.equal(model.vocab_projector.weight[:99], old_projector)


def test_prune_heads_equals_zeroed_heads_in_transformers(tmp_path):
    """transformers v5 has no pruning: a pruned head must act as a head whose out_lin columns are zero."""
    hf_model = save_hf_checkpoint(tmp_path, "sequence-classification", **SMALL)
    model = polyformer.DistilBertForSequenceClassification.from_pretrained(tmp_path)
    to_prune = {0: [0, 2], 1: [3]}
    model.prune_heads(to_prune)
    size = SMALL["dim"] // SMALL["n_heads"]
    with torch.no_grad():
        for layer, heads in to_prune.items():
            for head in heads:
                hf_model.distilbert.transformer.layer[layer].attention.out_lin.weight[:, head * size:(head + 1) * size] = 0
    attention = model.distilbert.transformer.layer[0].attention
    assert attention.num_heads == 2 and attention.q_lin.weight.shape == (2 * size, SMALL["dim"])
    assert attention.out_lin.weight.shape == (SMALL["dim"], 2 * size)
    assert model.config.pruned_heads == {0: [0, 2], 1: [3]}
    inputs = make_inputs(SMALL, "sequence-classification")
    expected, actual = run_both(hf_model, model, inputs, output_hidden_states=True)
    assert_outputs_close(expected, actual)

    # pruning more of a layer uses the original numbering; pruning a pruned head is a no-op
    model.prune_heads({0: [2, 3]})
    assert model.config.pruned_heads == {0: [0, 2, 3], 1: [3]}
    assert model.distilbert.transformer.layer[0].attention.num_heads == 1
    with torch.no_grad():
        hf_model.distilbert.transformer.layer[0].attention.out_lin.weight[:, 3 * size:] = 0
    expected, actual = run_both(hf_model, model, inputs)
    assert_outputs_close(expected, actual)

    # a pruned checkpoint is rebuilt pruned from config.pruned_heads
    model.save_pretrained(tmp_path / "pruned")
    reloaded, info = polyformer.DistilBertForSequenceClassification.from_pretrained(
        tmp_path / "pruned", output_loading_info=True
    )
    assert info["missing_keys"] == [] and info["mismatched_keys"] == []
    assert reloaded.distilbert.transformer.layer[0].attention.num_heads == 1
    with torch.no_grad():
        assert_close(reloaded(**inputs).logits, model(**inputs).logits)

    with pytest.raises(ValueError, match="every head"):
        model.prune_heads({0: [1]})


def test_kept_head_features_count_earlier_pruning():
    from polyformer.core.numerics import kept_head_features

    index = kept_head_features(4, 2, already_pruned={0}, to_prune={1, 3})
    assert index.tolist() == [2, 3]  # of the current heads (1, 2, 3) only original head 2 stays


def test_gradient_checkpointing_gives_the_same_gradients():
    kwargs = dict(SMALL, n_layers=3)
    inputs = make_inputs(kwargs, "masked-lm")

    def grads(checkpointing):
        torch.manual_seed(0)
        model = polyformer.DistilBertForMaskedLM(pf_config(**kwargs))
        if checkpointing:
            model.gradient_checkpointing_enable()
            assert model.is_gradient_checkpointing
        torch.manual_seed(1)  # same dropout masks in both runs
        model(**inputs).loss.backward()
        return {n: p.grad for n, p in model.named_parameters() if p.grad is not None}

    plain, checkpointed = grads(False), grads(True)
    assert plain.keys() == checkpointed.keys() and len(plain) > 10
    for name in plain:
        assert_close(checkpointed[name], plain[name], name=name)
    model = polyformer.DistilBertModel(pf_config(**kwargs))
    model.gradient_checkpointing_enable()
    model.gradient_checkpointing_disable()
    assert not model.is_gradient_checkpointing


@pytest.mark.parametrize("head", ["masked-lm", "question-answering", "multiple-choice"])
def test_a_few_optimizer_steps_lower_the_loss(head):
    kwargs = dict(SMALL, dropout=0.0, attention_dropout=0.0, seq_classif_dropout=0.0, qa_dropout=0.0)
    if head == "question-answering":
        kwargs["num_labels"] = 2
    torch.manual_seed(0)
    model = getattr(polyformer, {"masked-lm": "DistilBertForMaskedLM", "question-answering": "DistilBertForQuestionAnswering",
                                 "multiple-choice": "DistilBertForMultipleChoice"}[head])(pf_config(**kwargs))
    inputs = make_inputs(kwargs, head)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    losses = []
    for _ in range(5):
        loss = model(**inputs).loss
        losses.append(loss.item())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert all(later < earlier for earlier, later in zip(losses, losses[1:])), losses


def test_device_property_and_move():
    model = polyformer.DistilBertModel(pf_config(**SMALL))
    assert model.device == torch.device("cpu")
    model.to(torch.float64)
    assert model.dtype is torch.float64


def test_model_needs_a_config():
    with pytest.raises(TypeError, match="from_pretrained"):
        polyformer.DistilBertModel("distilbert-base-uncased")


@pytest.mark.parametrize("name", sorted(layers._ACTIVATION_FUNCTIONS))
def test_activation_in_place_form_is_the_same(name):
    activation = layers.get_activation(name)
    x = torch.randn(4, 9) * 3
    expected = activation(x)
    overwritten = x.clone()
    # the same elementwise kernel on the same values, once each: bit for bit
    assert torch.equal(activation(overwritten, inplace=True), expected)
    assert not torch.equal(x, expected) or name == "linear"  # the default form leaves its input alone


def test_checkpointing_goes_through_torch_utils_checkpoint(monkeypatch):
    import torch.utils.checkpoint as tuc

    calls = []
    real = tuc.checkpoint
    monkeypatch.setattr(tuc, "checkpoint", lambda *a, **k: calls.append(1) or real(*a, **k))
    model = polyformer.DistilBertModel(pf_config(**SMALL))
    model.gradient_checkpointing_enable()
    inputs = make_inputs(SMALL, "base")
    model(**inputs).last_hidden_state.sum().backward()
    assert len(calls) == SMALL["n_layers"]
    model.eval()
    model(**inputs)
    assert len(calls) == SMALL["n_layers"]  # not while evaluating


def test_multiple_choice_takes_a_head_mask_for_every_layer():
    """A head mask is per layer and head, not per example: the choices' reshaping leaves it alone."""
    config = pf_config(**dict(SMALL, n_layers=2))
    model = polyformer.DistilBertForMultipleChoice(config).eval()
    ids = torch.randint(1, config.vocab_size, (2, 3, 5))
    heads = torch.ones(config.n_heads)
    heads[0] = 0.0
    with torch.no_grad():
        masked = model(ids, head_mask=heads).logits
        per_layer = model(ids, head_mask=heads.expand(2, -1).clone()).logits
        plain = model(ids).logits
    assert_close(masked, per_layer)
    assert not torch.allclose(masked, plain)
