"""Registration without packaging, and a backend that is only a plugin.

The second half proves the backend contract: a minimal "numpy" framework, registered
in-process, runs DistilBERT from a PyTorch-saved checkpoint through the same
``from_pretrained`` every backend uses, with the same outputs.
"""

import math

import numpy as np
import pytest

import polyformer
from polyformer import AutoConfig, AutoModel, AutoTokenizer, DistilBertConfig, PretrainedConfig
from polyformer.core.modeling import PreTrainedModelMixin
from polyformer.core.outputs import BaseModelOutput
from polyformer.core.plugins import reset_registry
from polyformer.core.registry import Architecture, Backend, RegistrationError
from polyformer.testing import assert_close


@pytest.fixture(autouse=True)
def fresh_registry():
    reset_registry()
    yield
    reset_registry()


class MiniConfig(PretrainedConfig):
    model_type = "mini"

    def __init__(self, width=8, **kwargs):
        self.width = width
        super().__init__(**kwargs)


def test_autoconfig_register(tmp_path):
    AutoConfig.register("mini", MiniConfig)
    MiniConfig(width=3).save_pretrained(tmp_path)
    config = AutoConfig.from_pretrained(tmp_path)
    assert isinstance(config, MiniConfig) and config.width == 3
    assert polyformer.get_registry().architectures["mini"].plugin == "__main__"
    assert AutoConfig.for_model("mini", width=5).width == 5
    with pytest.raises(ValueError, match="already registered"):
        AutoConfig.register("mini", type("OtherConfig", (MiniConfig,), {}))
    with pytest.raises(ValueError, match="must be the same"):
        AutoConfig.register("maxi", MiniConfig)


def test_automodel_register_and_tokenizer_register(tmp_path):
    torch = pytest.importorskip("torch")

    from polyformer.backends.torch.modeling import PreTrainedModel

    class MiniModel(PreTrainedModel):
        config_class = MiniConfig
        base_model_prefix = "mini"

        def __init__(self, config):
            super().__init__(config)
            self.proj = torch.nn.Linear(config.width, config.width)

        def forward(self, x):
            return self.proj(x)

    AutoModel.register(MiniConfig, MiniModel)
    model = MiniModel(MiniConfig(width=4))
    model.save_pretrained(tmp_path)
    loaded = AutoModel.from_pretrained(tmp_path)
    assert type(loaded) is MiniModel
    assert torch.equal(loaded.proj.weight, model.proj.weight)
    assert polyformer.MiniModel is MiniModel  # registered names are top-level names too

    from polyformer import DistilBertTokenizerFast

    class MiniTokenizer(DistilBertTokenizerFast):
        pass

    AutoTokenizer.register(MiniConfig, fast_tokenizer_class=MiniTokenizer)
    (tmp_path / "vocab.txt").write_text("[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nhi\n")
    assert type(AutoTokenizer.from_pretrained(tmp_path)) is MiniTokenizer
    with pytest.raises(ValueError, match="already has a base model for torch"):
        AutoModel.register(MiniConfig, type("Other", (MiniModel,), {}))


def test_one_register_call_with_an_architecture():
    polyformer.register(Architecture(model_type="mini", config=MiniConfig))
    assert AutoConfig.for_model("mini").width == 8
    with pytest.raises(RegistrationError, match="already registered"):
        polyformer.register(Architecture(model_type="mini", config=MiniConfig))
    with pytest.raises(TypeError, match="an Architecture, a Backend or a Task"):
        polyformer.register("mini")


# ---- a minimal backend, as a plugin -------------------------------------------------
_erf = np.vectorize(math.erf)


def _layer_norm(x, weight, bias, eps=1e-12):
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * weight + bias


class NumpyDistilBertModel(PreTrainedModelMixin):
    """DistilBERT's base model in plain numpy: weights are a dict of canonical names."""

    config_class = DistilBertConfig
    base_model_prefix = "distilbert"
    framework = "numpy"

    def __init__(self, config):
        self.config = config
        self.weights = {name: np.zeros(shape, np.float32) for name, shape in self._shapes(config).items()}

    @staticmethod
    def _shapes(config):
        d, h = config.dim, config.hidden_dim
        shapes = {"embeddings.word_embeddings.weight": (config.vocab_size, d),
                  "embeddings.position_embeddings.weight": (config.max_position_embeddings, d),
                  "embeddings.LayerNorm.weight": (d,), "embeddings.LayerNorm.bias": (d,)}
        for i in range(config.n_layers):
            p = f"transformer.layer.{i}."
            for lin in ("q_lin", "k_lin", "v_lin", "out_lin"):
                shapes[p + f"attention.{lin}.weight"], shapes[p + f"attention.{lin}.bias"] = (d, d), (d,)
            for norm in ("sa_layer_norm", "output_layer_norm"):
                shapes[p + f"{norm}.weight"], shapes[p + f"{norm}.bias"] = (d,), (d,)
            shapes[p + "ffn.lin1.weight"], shapes[p + "ffn.lin1.bias"] = (h, d), (h,)
            shapes[p + "ffn.lin2.weight"], shapes[p + "ffn.lin2.bias"] = (d, h), (d,)
        return shapes

    # the five-method contract
    @classmethod
    def _from_config_for_loading(cls, config, dtype=None):
        return cls(config)

    def _canonical_shapes(self):
        return {name: w.shape for name, w in self.weights.items()}

    def _load_canonical(self, tensors):
        self.weights.update({name: np.asarray(t, np.float32) for name, t in tensors.items()})

    def _initialize_missing(self, names):
        rng = np.random.default_rng(0)
        for name in names:
            self.weights[name] = rng.normal(0, 0.02, self.weights[name].shape).astype(np.float32)

    def _export_canonical(self):
        return dict(self.weights)

    def __call__(self, input_ids, attention_mask=None):
        w, c = self.weights, self.config
        ids = np.asarray(input_ids)
        mask = np.ones_like(ids) if attention_mask is None else np.asarray(attention_mask)
        x = w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][: ids.shape[1]]
        x = _layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
        heads, size = c.n_heads, c.dim // c.n_heads
        for i in range(c.n_layers):
            p = f"transformer.layer.{i}."

            def lin(v, name):
                return v @ w[p + name + ".weight"].T + w[p + name + ".bias"]

            def split(v):
                return v.reshape(v.shape[0], v.shape[1], heads, size).transpose(0, 2, 1, 3)

            q, k, v = (split(lin(x, f"attention.{n}")) for n in ("q_lin", "k_lin", "v_lin"))
            scores = q @ k.transpose(0, 1, 3, 2) / math.sqrt(size)
            scores = np.where(mask[:, None, None, :] == 0, np.finfo(np.float32).min, scores)
            probs = np.exp(scores - scores.max(-1, keepdims=True))
            probs /= probs.sum(-1, keepdims=True)
            context = (probs @ v).transpose(0, 2, 1, 3).reshape(x.shape)
            x = _layer_norm(lin(context, "attention.out_lin") + x, w[p + "sa_layer_norm.weight"], w[p + "sa_layer_norm.bias"])
            hidden = lin(x, "ffn.lin1")
            hidden = 0.5 * hidden * (1 + _erf(hidden / math.sqrt(2)))
            x = _layer_norm(lin(hidden, "ffn.lin2") + x, w[p + "output_layer_norm.weight"], w[p + "output_layer_norm.bias"])
        return BaseModelOutput(last_hidden_state=x.astype(np.float32))


def test_a_backend_plugin_runs_a_model(tmp_path):
    torch = pytest.importorskip("torch")
    polyformer.register(Backend(name="numpy", requires=("numpy",), tensor_type="numpy-arrays",
                                to_tensor="numpy:asarray", extra="", priority=99))
    AutoModel.register(DistilBertConfig, NumpyDistilBertModel)
    assert "numpy" in polyformer.get_registry().backends

    torch.manual_seed(0)
    config = DistilBertConfig(vocab_size=50, dim=16, hidden_dim=24, n_layers=2, n_heads=2, max_position_embeddings=20)
    reference = polyformer.DistilBertForMaskedLM(config).eval()
    reference.save_pretrained(tmp_path)  # a head checkpoint: the base model drops the prefix and the head

    model, info = AutoModel.from_pretrained(tmp_path, framework="numpy", output_loading_info=True)
    assert isinstance(model, NumpyDistilBertModel)
    assert info["missing_keys"] == [] and all(k.startswith("vocab_") for k in info["unexpected_keys"])
    ids = np.array([[1, 5, 7, 9, 2, 0], [1, 4, 4, 2, 0, 0]])
    mask = (ids != 0).astype(np.int64)
    got = model(ids, attention_mask=mask).last_hidden_state
    with torch.no_grad():
        want = reference.distilbert(torch.from_numpy(ids), attention_mask=torch.from_numpy(mask)).last_hidden_state.numpy()
    assert_close(got, want)

    # and the numpy backend saves the same canonical checkpoint back
    model.save_pretrained(tmp_path / "again")
    torch_again = polyformer.DistilBertModel.from_pretrained(tmp_path / "again")
    for name, tensor in torch_again.state_dict().items():
        if name in model.weights:
            assert np.array_equal(tensor.numpy(), model.weights[name]), name
