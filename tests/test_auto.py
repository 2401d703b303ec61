"""Auto classes and the run-time framework choice."""

import subprocess
import sys
import textwrap

import numpy as np
import pytest

import polyformer
from polyformer import (
    AutoConfig,
    AutoModel,
    AutoModelForMaskedLM,
    AutoModelForMultipleChoice,
    AutoModelForQuestionAnswering,
    AutoModelForSequenceClassification,
    AutoModelForTokenClassification,
    AutoTokenizer,
    DistilBertConfig,
)
from polyformer.core.auto import choose_framework
from polyformer.testing import assert_close

TINY = dict(vocab_size=60, dim=16, hidden_dim=32, n_layers=1, n_heads=2, max_position_embeddings=32)
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "hello", "world", "!", "the", "model"]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A tiny DistilBERT MLM checkpoint with a vocabulary, saved by our PyTorch model."""
    folder = tmp_path_factory.mktemp("auto")
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    polyformer.DistilBertForMaskedLM(DistilBertConfig(**TINY)).save_pretrained(folder)
    (folder / "vocab.txt").write_text("\n".join(VOCAB) + "\n")
    return folder


@pytest.mark.parametrize(
    "auto_class, task_class",
    [
        (AutoModel, "DistilBertModel"),
        (AutoModelForMaskedLM, "DistilBertForMaskedLM"),
        (AutoModelForSequenceClassification, "DistilBertForSequenceClassification"),
        (AutoModelForTokenClassification, "DistilBertForTokenClassification"),
        (AutoModelForQuestionAnswering, "DistilBertForQuestionAnswering"),
        (AutoModelForMultipleChoice, "DistilBertForMultipleChoice"),
    ],
)
def test_each_auto_class_picks_its_head(checkpoint, auto_class, task_class):
    model = auto_class.from_pretrained(checkpoint, framework="torch")
    assert type(model).__name__ == task_class


@pytest.mark.parametrize("framework, prefix", [("torch", ""), ("keras", "TF"), ("flax", "Flax")])
def test_framework_argument_and_same_outputs(checkpoint, framework, prefix):
    model = AutoModel.from_pretrained(checkpoint, framework=framework)
    assert type(model).__name__ == f"{prefix}DistilBertModel"
    reference = AutoModel.from_pretrained(checkpoint, framework="torch")
    ids = np.array([[2, 5, 6, 7, 3]])
    from polyformer.testing.conformance import _harness

    want = _harness("torch").forward(reference, {"input_ids": ids})["last_hidden_state"]
    got = _harness(framework).forward(model, {"input_ids": ids})["last_hidden_state"]
    assert_close(got, want)


def test_framework_aliases():
    assert choose_framework("pt") == "torch" and choose_framework("PyTorch") == "torch"
    assert choose_framework("tf") == "keras" and choose_framework("jax") == "flax"


def test_environment_variable_and_default(checkpoint, monkeypatch):
    monkeypatch.setenv("POLYFORMER_FRAMEWORK", "flax")
    assert type(AutoModel.from_pretrained(checkpoint)).__name__ == "FlaxDistilBertModel"
    assert choose_framework("torch") == "torch"  # the argument wins over the environment
    monkeypatch.setenv("POLYFORMER_FRAMEWORK", "caffe")
    with pytest.raises(ValueError, match=r"\$POLYFORMER_FRAMEWORK='caffe' is not a known framework"):
        choose_framework()
    monkeypatch.delenv("POLYFORMER_FRAMEWORK")
    assert choose_framework() == "torch"  # first installed by priority


def test_unknown_and_missing_framework(monkeypatch):
    with pytest.raises(ValueError, match="framework='mxnet' is not a known framework; expected one of: flax, keras, torch"):
        choose_framework("mxnet")
    backend = polyformer.get_registry().backends["flax"]
    monkeypatch.setattr(backend, "requires", ("polyformer_no_such_module",))
    with pytest.raises(ImportError, match=r"flax framework is not installed.*pip install 'polyformer\[flax\]'"):
        choose_framework("flax")


def test_default_skips_frameworks_that_are_not_installed(monkeypatch):
    registry = polyformer.get_registry()
    monkeypatch.setattr(registry.backends["torch"], "requires", ("polyformer_no_such_module",))
    assert choose_framework() == "keras"


def test_from_config_and_config_override(checkpoint):
    config = AutoConfig.from_pretrained(checkpoint)
    model = AutoModelForSequenceClassification.from_config(config, framework="torch")
    assert type(model).__name__ == "DistilBertForSequenceClassification"
    model = AutoModel.from_pretrained(checkpoint, framework="torch", output_hidden_states=True)
    assert model.config.output_hidden_states is True
    with pytest.raises(TypeError, match="PretrainedConfig"):
        AutoModel.from_config({"model_type": "distilbert"})


def test_auto_tokenizer_fast_by_default(checkpoint):
    fast = AutoTokenizer.from_pretrained(checkpoint)
    slow = AutoTokenizer.from_pretrained(checkpoint, use_fast=False)
    assert type(fast).__name__ == "DistilBertTokenizerFast"
    assert type(slow).__name__ == "DistilBertTokenizer"
    assert fast("hello world!")["input_ids"] == slow("hello world!")["input_ids"] == [2, 5, 6, 7, 3]


def test_auto_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="config.json"):
        AutoModel.from_pretrained(tmp_path)
    (tmp_path / "config.json").write_text('{"model_type": "gpt9"}')
    with pytest.raises(ValueError, match="Unknown model_type 'gpt9'"):
        AutoModel.from_pretrained(tmp_path, framework="torch")
    with pytest.raises(OSError, match="from_pretrained"):
        AutoModel()


def test_one_framework_only_in_a_subprocess(checkpoint):
    """With torch and tensorflow unimportable, the flax extra alone loads a torch-saved checkpoint."""
    code = textwrap.dedent(
        f"""
        import sys
        for name in ("torch", "tensorflow", "keras"):
            sys.modules[name] = None
        import numpy as np
        from polyformer import AutoModel
        from polyformer.core.auto import choose_framework
        model = AutoModel.from_pretrained({str(checkpoint)!r})  # default: the first framework that imports
        print(type(model).__name__, choose_framework())
        """
    )
    # find_spec ignores sys.modules[name] = None for the availability check, so hide them from it too.
    code = code.replace("import numpy as np", "import importlib.util as u; _f = u.find_spec\n"
                        "u.find_spec = lambda n, *a: None if n in ('torch', 'tensorflow', 'keras') else _f(n, *a)\n"
                        "import numpy as np")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ["FlaxDistilBertModel", "flax"]


@pytest.mark.parametrize("tensor_type, module", [("np", "numpy"), ("pt", "torch"), ("tf", "tensorflow"), ("jax", "jax")])
def test_return_tensors_of_every_backend(checkpoint, tensor_type, module):
    tokenizer = AutoTokenizer.from_pretrained(checkpoint)
    batch = tokenizer(["hello world", "the model !"], padding=True, return_tensors=tensor_type)
    ids = batch["input_ids"]
    assert type(ids).__module__.split(".")[0] in {module, "jaxlib"}, type(ids)
    np.testing.assert_array_equal(np.asarray(ids), [[2, 5, 6, 3, 0], [2, 8, 9, 7, 3]])
    with pytest.raises(ValueError, match="return_tensors"):
        tokenizer("hello", return_tensors="mxnet")


def test_uncached_hub_id_for_a_model(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # downloads themselves: tests/test_hub.py
    with pytest.raises(FileNotFoundError, match="hf download org/missing-model"):
        AutoModel.from_pretrained("org/missing-model", framework="torch")
