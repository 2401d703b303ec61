"""polyformer.testing.compare: outputs within float32 rounding, weights bit for bit.

The tolerance must be wide enough for any CPU's rounding (checked against the float64
result) and narrow enough to catch real bugs (checked by planting them).
"""

import copy

import numpy as np
import pytest
import torch

import polyformer
from polyformer.backends.torch import layers
from polyformer.testing import (
    ATOL_SCALE,
    RTOL,
    ArchitectureConformance,
    assert_close,
    assert_outputs_close,
    assert_weights_equal,
)
from polyformer.testing import conformance

from _torch_oracle import CONFIGS, HEADS, make_hf_model, make_inputs, pf_class, run_both, save_hf_checkpoint

FLAGS = dict(output_hidden_states=True, output_attentions=True)


# ---- the rule ------------------------------------------------------------------------------
def test_tolerance_follows_the_magnitude_of_the_tensor():
    rng = np.random.default_rng(0)
    values = rng.normal(size=(4, 8)).astype(np.float32)
    for scale in (1e-3, 1.0, 1e3):  # the same relative error passes at every magnitude
        expected = values * scale
        assert_close(expected * (1 + 5e-6), expected)
        with pytest.raises(AssertionError):
            assert_close(expected * (1 + 5e-5), expected)
    # an element near zero gets the tensor's scale, not its own: 1e-6 off a 1e-9 value passes...
    expected = np.array([1e-9, 0.5, -1.0])
    assert_close(expected + [1e-6, 0, 0], expected)
    # ...but not 1e-4 (that is 1e-4 of max|expected|)
    with pytest.raises(AssertionError, match=r"worst at index \(0,\)"):
        assert_close(expected + [1e-4, 0, 0], expected)


def test_assert_close_says_where_and_by_how_much():
    expected = np.zeros((2, 3), np.float32)
    expected[0, 0] = 2.0
    actual = expected.copy()
    actual[1, 2] = 1e-3
    with pytest.raises(AssertionError) as error:
        assert_close(actual, expected, name="logits")
    message = str(error.value)
    assert message.startswith("logits: 1 of 6 elements differ")
    assert "worst at index (1, 2): got 0.00100000005, expected 0" in message
    assert "allowed 2e-05" in message and "max|expected|=2" in message
    with pytest.raises(AssertionError, match=r"logits: shape \(3, 2\), expected \(2, 3\)"):
        assert_close(actual.T, expected, name="logits")
    with pytest.raises(AssertionError, match="got nan"):
        assert_close(np.where(actual > 0, np.nan, actual), expected)
    assert_close([np.inf, 1.0], [np.inf, 1.0])  # identical values pass, infinities included


def test_outputs_compare_every_tensor_and_the_same_names():
    expected = {"logits": np.ones((2, 3)), "hidden_states": (np.ones(4), np.full(4, 100.0))}
    assert_outputs_close(expected, {"logits": np.ones((2, 3)), "hidden_states": [np.ones(4), np.full(4, 100.0)]})
    # each tensor has its own scale: an error of 1e-3 is fine on values of 100, not on values of 1
    assert_outputs_close(expected, {**expected, "hidden_states": (np.ones(4), np.full(4, 100.001))})
    with pytest.raises(AssertionError, match=r"outputs: hidden_states\.0: 4 of 4 elements differ"):
        assert_outputs_close(expected, {**expected, "hidden_states": (np.full(4, 1.001), np.full(4, 100.0))})
    with pytest.raises(AssertionError, match=r"outputs \['logits'\], expected \['hidden_states.0', 'hidden_states.1'"):
        assert_outputs_close(expected, {"logits": np.ones((2, 3))})


def test_weights_must_be_bit_identical():
    weights = {"a.weight": np.arange(6, dtype=np.float32).reshape(2, 3), "a.bias": np.zeros(3, np.float32)}
    assert_weights_equal(weights, {name: torch.from_numpy(value.copy()) for name, value in weights.items()})
    one_ulp = dict(weights, **{"a.weight": np.nextafter(weights["a.weight"], np.inf)})
    with pytest.raises(AssertionError, match=r"a.weight is not bit-identical: 6 of 6 elements differ; first at index \(0, 0\)"):
        assert_weights_equal(weights, one_ulp)
    with pytest.raises(AssertionError, match="a.bias is not bit-identical"):  # -0.0 is another number
        assert_weights_equal(weights, dict(weights, **{"a.bias": -weights["a.bias"]}))
    with pytest.raises(AssertionError, match="a.bias has dtype float64, expected float32"):
        assert_weights_equal(weights, dict(weights, **{"a.bias": np.zeros(3)}))
    with pytest.raises(AssertionError, match=r"missing \['a.bias'\], unexpected \['b.bias'\]"):
        assert_weights_equal(weights, {"a.weight": weights["a.weight"], "b.bias": weights["a.bias"]})
    bf16 = torch.randn(3, 4).to(torch.bfloat16)
    assert_weights_equal({"w": bf16}, {"w": bf16.clone()})
    with pytest.raises(AssertionError, match="w has dtype float32, expected bfloat16"):
        assert_weights_equal({"w": bf16}, {"w": bf16.float()})


# ---- wide enough: float32 rounding passes ----------------------------------------------------
@pytest.mark.parametrize("config_name", sorted(CONFIGS))
@pytest.mark.parametrize("head", sorted(HEADS))
def test_default_tolerance_admits_float32_rounding(head, config_name):
    """float32 itself is within a quarter of the default tolerance of the float64 result, on every tiny config
    (1e-6 of |x| + max|x| at worst, on multiple-choice logits): so any two float32 implementations, whatever
    their kernels, agree within half of it."""
    kwargs = dict(CONFIGS[config_name], **({"num_labels": 2} if head == "question-answering" else {}))
    model = make_hf_model(head, seed=1, **kwargs)
    model.set_attn_implementation("eager")
    inputs = make_inputs(kwargs, head)
    exact = copy.deepcopy(model).double()
    exact_inputs = {k: v.double() if v.is_floating_point() else v for k, v in inputs.items()}
    with torch.no_grad():
        float32, float64 = model(**inputs, **FLAGS), exact(**exact_inputs, **FLAGS)
    assert_outputs_close(float64, float32, rtol=RTOL / 4, atol_scale=ATOL_SCALE / 4)


class TestDistilBertRoundTrip(ArchitectureConformance):
    """The conformance suite's save -> load check, on a tiny DistilBERT."""

    model_type = "distilbert"

    def make_config(self, **overrides):
        return polyformer.DistilBertConfig(vocab_size=99, dim=32, hidden_dim=37, n_layers=2, n_heads=4,
                                           max_position_embeddings=64, **overrides)

    __test__ = False  # not collected: the tests below call its round-trip check


def test_round_trip_accepts_outputs_that_differ_by_rounding(tmp_path, monkeypatch):
    """Reloaded weights sit at other addresses, and BLAS may sum in another order: the outputs
    then differ in the last bits (5e-10 on one CPU). The check passes; it demanded bit-identical
    outputs before."""
    real = conformance._harness("torch")
    calls = []

    class OtherKernels:
        @staticmethod
        def forward(model, inputs, **flags):
            outputs = real.forward(model, inputs, **flags)
            calls.append(model)
            if len(calls) == 2:  # the reloaded model: one ulp off everywhere
                outputs = {k: np.nextafter(v, np.inf) for k, v in outputs.items()}
            return outputs

    monkeypatch.setattr(conformance, "_harness", lambda framework: OtherKernels)
    TestDistilBertRoundTrip().test_save_load_round_trip("torch", "multiple-choice", tmp_path)
    assert len(calls) == 2


def test_round_trip_catches_a_weight_one_ulp_off(tmp_path, monkeypatch):
    """What save -> load does promise is the weights, bit for bit."""
    model_class = polyformer.DistilBertForMultipleChoice
    load = model_class.from_pretrained.__func__

    def lossy_load(cls, *args, **kwargs):
        loaded = load(cls, *args, **kwargs)
        model = loaded[0] if isinstance(loaded, tuple) else loaded  # (model, info) with output_loading_info
        with torch.no_grad():
            weight = model.classifier.weight
            weight.copy_(torch.nextafter(weight, torch.tensor(np.inf)))
        return loaded

    monkeypatch.setattr(model_class, "from_pretrained", classmethod(lossy_load))
    with pytest.raises(AssertionError, match="DistilBertForMultipleChoice reloaded: classifier.weight is not bit-identical"):
        TestDistilBertRoundTrip().test_save_load_round_trip("torch", "multiple-choice", tmp_path)


# ---- narrow enough: real bugs fail -----------------------------------------------------------
BUGS = [(config, bug) for config in sorted(CONFIGS) for bug in ("layer norm eps 1e-5", "no attention output bias")]
BUGS.append(("learned-gelu-4heads", "tanh gelu"))  # the one config with the exact GELU


@pytest.mark.parametrize("config_name, bug", BUGS)
def test_default_tolerance_catches_small_bugs(tmp_path, config_name, bug):
    """A LayerNorm eps of 1e-5 instead of 1e-12, one missing bias, the tanh approximation of GELU:
    each moves some output by six times the default tolerance or more."""
    kwargs = CONFIGS[config_name]
    hf_model = save_hf_checkpoint(tmp_path, "masked-lm", seed=1, **kwargs)
    hf_model.set_attn_implementation("eager")
    model = pf_class("masked-lm").from_pretrained(tmp_path)
    inputs = make_inputs(kwargs, "masked-lm")
    assert_outputs_close(*run_both(hf_model, model, inputs, **FLAGS))  # as loaded: the same
    if bug == "layer norm eps 1e-5":
        for module in model.modules():
            if isinstance(module, torch.nn.LayerNorm):
                module.eps = 1e-5
    elif bug == "no attention output bias":
        with torch.no_grad():
            model.distilbert.transformer.layer[0].attention.out_lin.bias.zero_()
    else:
        for layer in model.distilbert.transformer.layer:
            layer.ffn.activation = layers.get_activation("gelu_new")
    with pytest.raises(AssertionError, match="elements differ"):
        assert_outputs_close(*run_both(hf_model, model, inputs, **FLAGS))
