"""The PyTorch CPU inference fast path (``optimize_for_inference``): when it runs, when it steps aside.

Every architecture's outputs on the fast path are compared with the plain path by the
conformance suite (``test_inference_fast_path_matches_plain``, float32 and bfloat16). Here:
the fast path really runs where oneDNN can, and never where it must not (training, autograd,
autocast, oneDNN disabled, a dtype it lacks), packed weights follow changes of the weights,
and the model's parameters, names and saves are unchanged.
"""

from __future__ import annotations

import copy

import pytest

torch = pytest.importorskip("torch")

from polyformer import DistilBertConfig, DistilBertForSequenceClassification, DistilBertModel  # noqa: E402
from polyformer.backends.torch import fast_path  # noqa: E402
from polyformer.testing import assert_outputs_close, assert_weights_equal  # noqa: E402

needs_onednn = pytest.mark.skipif(fast_path.onednn_supports(torch.float32) is not None,
                                  reason=f"oneDNN's linear is not available: {fast_path.onednn_supports(torch.float32)}")


def tiny_config(**overrides):
    return DistilBertConfig(vocab_size=99, dim=32, hidden_dim=64, n_layers=2, n_heads=4, max_position_embeddings=32,
                            dropout=0.0, attention_dropout=0.0, seq_classif_dropout=0.0, **overrides)


def make_inputs():
    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(0, 99, (3, 16), generator=generator)
    mask = torch.ones_like(ids)
    mask[1, 10:] = 0
    return {"input_ids": ids, "attention_mask": mask}


@pytest.fixture
def onednn_calls(monkeypatch):
    """Counts the calls of oneDNN's linear (and still makes them)."""
    calls = []
    real = fast_path._onednn_linear

    def counting(x, weight, bias):
        calls.append(tuple(x.shape))
        return real(x, weight, bias)

    monkeypatch.setattr(fast_path, "_onednn_linear", counting)
    return calls


def run(model, **inputs):
    with torch.no_grad():
        return model(**(inputs or make_inputs()))


@needs_onednn
@pytest.mark.parametrize("prepack", [True, False])
def test_fast_path_runs_every_linear_and_matches_plain(onednn_calls, prepack):
    torch.manual_seed(0)
    model = DistilBertForSequenceClassification(tiny_config()).eval()
    plain = run(model)
    choices = model.optimize_for_inference(measure=False, prepack=prepack)
    linears = {name for name, module in model.named_modules() if isinstance(module, torch.nn.Linear)}
    assert set(choices) == linears and {c.path for c in choices.values()} == {"onednn"}
    fast = run(model)
    assert len(onednn_calls) == len(linears)  # each linear once: 2 layers x 6, pre_classifier, classifier
    # Float32, another order of summation: the default tolerance (1e-5 relative, see polyformer.testing.compare).
    assert_outputs_close(plain, fast, where="fast path vs plain")


@needs_onednn
def test_training_autograd_and_autocast_keep_the_plain_path(onednn_calls):
    torch.manual_seed(0)
    model = DistilBertForSequenceClassification(tiny_config())
    reference = copy.deepcopy(model)
    model.optimize_for_inference(measure=False)
    inputs = make_inputs()
    labels = torch.tensor([0, 1, 1])

    for m in (model, reference):  # training: same loss and gradients as the model never optimised
        m.train()
        m(**inputs, labels=labels).loss.backward()
    assert onednn_calls == []
    for (name, param), other in zip(model.named_parameters(), reference.parameters()):
        # Same kernels on the same numbers: only thread scheduling could differ, so float32 rounding bounds it.
        assert_outputs_close({name: other.grad}, {name: param.grad}, where="gradients after optimize_for_inference")

    model.eval()
    model(**inputs)  # eval, but autograd on and the weights require grad: it would be recorded
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        model(**inputs)  # autocast casts inputs itself (transformers' numerics)
    with torch.no_grad(), torch.backends.mkldnn.flags(enabled=False):
        model(**inputs)  # the user turned oneDNN off
    assert onednn_calls == []
    run(model)
    assert onednn_calls  # and in plain no-grad eval inference it does run


def test_falls_back_when_onednn_is_disabled_or_lacks_the_dtype(onednn_calls):
    torch.manual_seed(0)
    model = DistilBertModel(tiny_config()).eval()
    plain = run(model).last_hidden_state
    with torch.backends.mkldnn.flags(enabled=False):
        choices = model.optimize_for_inference()
    assert {c.path for c in choices.values()} == {"plain"}
    assert all("disabled" in c.reason for c in choices.values())
    assert torch.equal(run(model).last_hidden_state, plain)  # the same F.linear calls as before

    model.to(torch.float64)
    choices = model.optimize_for_inference()
    assert {c.reason for c in choices.values()} == {"oneDNN's linear does not take float64"}
    run(model)
    assert onednn_calls == []


@needs_onednn
def test_packed_weights_follow_changes_of_the_weights():
    torch.manual_seed(0)
    model = DistilBertModel(tiny_config()).eval()
    other = DistilBertModel(tiny_config()).eval()  # other random weights
    model.optimize_for_inference(measure=False)
    run(model)  # packs the weights
    model.load_state_dict(other.state_dict())  # copies in place: same storage, new version
    assert_outputs_close(run(other), run(model), where="after load_state_dict")
    with torch.no_grad():
        for param in (*model.parameters(), *other.parameters()):
            param.mul_(1.5)
    assert_outputs_close(run(other), run(model), where="after an in-place change")
    model.to(torch.bfloat16)  # new storage, new dtype: packed again, in bfloat16
    assert run(model).last_hidden_state.dtype == torch.bfloat16


def test_names_parameters_and_saves_are_unchanged(tmp_path):
    torch.manual_seed(0)
    model = DistilBertForSequenceClassification(tiny_config()).eval()
    before = {name: param for name, param in model.named_parameters()}
    keys = list(model.state_dict())
    model.optimize_for_inference(measure=False)
    run(model)
    assert {name: param for name, param in model.named_parameters()} == before  # the very same Parameter objects
    assert list(model.state_dict()) == keys
    model.save_pretrained(tmp_path / "optimised")
    loaded = DistilBertForSequenceClassification.from_pretrained(tmp_path / "optimised")
    assert_weights_equal({k: v.numpy() for k, v in model.state_dict().items()},
                         {k: v.numpy() for k, v in loaded.state_dict().items()})
    model.optimize_for_inference(False)
    assert all(type(m) is not fast_path.FastLinear for m in model.modules())
    assert {name: param for name, param in model.named_parameters()} == before


@needs_onednn
def test_an_optimised_model_deep_copies(onednn_calls):
    """The packed weight (an opaque oneDNN tensor, which cannot be copied) is left out and packed again."""
    torch.manual_seed(0)
    model = DistilBertModel(tiny_config()).eval()
    model.optimize_for_inference(measure=False)
    want = run(model).last_hidden_state
    twin = copy.deepcopy(model)
    calls = len(onednn_calls)
    # The same kernels on the same weights: float32 rounding at most (default tolerance).
    assert_outputs_close({"out": want}, {"out": run(twin).last_hidden_state}, where="copy of an optimised model")
    assert len(onednn_calls) > calls  # the copy runs the fast path too


def test_measured_choice_follows_the_timings():
    model = DistilBertModel(tiny_config()).eval()
    choices = fast_path.optimize_for_inference(model, rows=8, repeats=1)
    for name, choice in choices.items():
        if choice.reason == "measured":
            assert choice.plain_s > 0 and choice.onednn_s > 0, name
            assert (choice.path == "onednn") == (choice.onednn_s <= 0.95 * choice.plain_s), (name, choice)
        else:  # no oneDNN here: the reason says why
            assert choice.path == "plain" and choice.reason == fast_path.onednn_supports(torch.float32)


@pytest.mark.parametrize("argument, value", [("rows", 0), ("repeats", -1), ("rows", 2.5)])
def test_bad_arguments_name_themselves(argument, value):
    model = DistilBertModel(tiny_config())
    with pytest.raises(ValueError, match=rf"optimize_for_inference: {argument} must be a positive integer, got {value}"):
        fast_path.optimize_for_inference(model, **{argument: value})
    assert all(type(m) is not fast_path.FastLinear for m in model.modules())  # nothing changed


@pytest.mark.parametrize("framework, class_name", [("keras", "TFDistilBertModel"), ("flax", "FlaxDistilBertModel")])
def test_keras_and_flax_refuse_with_the_capability_error(framework, class_name):
    """The one API: Keras and Flax models have the method; enabling it says the backend lacks it."""
    pytest.importorskip("keras" if framework == "keras" else "flax")
    import polyformer

    model = getattr(polyformer, class_name)(tiny_config())
    with pytest.raises(NotImplementedError,
                       match=rf"the CPU inference fast path \(optimize_for_inference\) is not available in the "
                             rf"{framework} backend .*framework='torch'"):
        model.optimize_for_inference()
    assert model.optimize_for_inference(False) == {}  # nothing to undo
