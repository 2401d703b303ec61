"""``dtype="auto"`` is the default of ``from_pretrained`` in every framework, as in transformers 5.

A model loads in the dtype its ``config.json`` records, else in that of the checkpoint's
first floating-point tensor; an explicit ``dtype`` (or the older ``torch_dtype``) wins.
The checkpoints are written by transformers in bfloat16 and compared with what
transformers itself loads. bfloat16 -> bfloat16 is no cast at all, so weights are
compared bit for bit.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

import polyformer  # noqa: E402
from polyformer.core.checkpoint import find_weight_files, load_tensors  # noqa: E402
from polyformer.testing import assert_weights_equal  # noqa: E402

SMALL = dict(vocab_size=40, dim=16, n_heads=2, n_layers=1, hidden_dim=24, max_position_embeddings=20)
FRAMEWORKS = ["torch", "keras", "flax"]


def _float_dtypes(model) -> set[str]:
    """The dtype names of the model's floating-point weights, whatever its framework."""
    names = {str(value.dtype).rpartition(".")[2] for value in model._export_canonical().values()}
    return {name for name in names if "float" in name}


def _as_float32(value):
    if hasattr(value, "detach"):
        return value.detach().float().numpy()
    return np.asarray(value).astype(np.float32)


@pytest.fixture(scope="module")
def bf16_checkpoint(tmp_path_factory):
    """A bfloat16 DistilBERT written by transformers (its config.json says "dtype": "bfloat16")."""
    folder = tmp_path_factory.mktemp("bf16")
    torch.manual_seed(0)
    model = transformers.DistilBertModel(transformers.DistilBertConfig(**SMALL)).to(torch.bfloat16)
    model.save_pretrained(folder)
    assert json.loads((folder / "config.json").read_text())["dtype"] == "bfloat16"
    return folder


@pytest.fixture(scope="module")
def bf16_checkpoint_without_dtype(bf16_checkpoint, tmp_path_factory):
    """The same weights, with a config.json that records no dtype (as older or hand-written ones)."""
    folder = tmp_path_factory.mktemp("bf16-no-dtype")
    for path in bf16_checkpoint.iterdir():
        (folder / path.name).write_bytes(path.read_bytes())
    config = json.loads((folder / "config.json").read_text())
    config.pop("dtype", None)
    config.pop("torch_dtype", None)
    (folder / "config.json").write_text(json.dumps(config))
    return folder


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_a_bfloat16_checkpoint_loads_in_bfloat16_by_default(bf16_checkpoint, framework):
    model = polyformer.AutoModel.from_pretrained(bf16_checkpoint, framework=framework)
    assert _float_dtypes(model) == {"bfloat16"}
    # bfloat16 -> bfloat16 is no cast: the values are the checkpoint's, compared through float32 (exact).
    expected = {k: v.float().numpy() for k, v in load_tensors(find_weight_files(bf16_checkpoint), "pt").items()}
    assert_weights_equal(expected, {k: _as_float32(v) for k, v in model._export_canonical().items()},
                         where=f"{framework} model")
    # An explicit dtype still wins.
    as_float = polyformer.AutoModel.from_pretrained(bf16_checkpoint, framework=framework, dtype="float32")
    assert _float_dtypes(as_float) == {"float32"}


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_without_a_recorded_dtype_the_weights_decide(bf16_checkpoint_without_dtype, framework):
    theirs = transformers.DistilBertModel.from_pretrained(bf16_checkpoint_without_dtype)
    assert theirs.dtype == torch.bfloat16  # what transformers 5 does, which we follow
    model = polyformer.AutoModel.from_pretrained(bf16_checkpoint_without_dtype, framework=framework)
    assert _float_dtypes(model) == {"bfloat16"}


def test_torch_defaults_match_transformers(bf16_checkpoint):
    theirs = transformers.DistilBertModel.from_pretrained(bf16_checkpoint)
    ours = polyformer.DistilBertModel.from_pretrained(bf16_checkpoint)
    assert ours.dtype == theirs.dtype == torch.bfloat16
    assert_weights_equal({k: v for k, v in theirs.state_dict().items() if k in ours.state_dict()},
                         ours.state_dict(), where="PyTorch weights")
    # transformers 4's torch_dtype still works, and dtype wins over it when both are given.
    assert polyformer.DistilBertModel.from_pretrained(bf16_checkpoint, torch_dtype=torch.float16).dtype == torch.float16
    both = polyformer.DistilBertModel.from_pretrained(bf16_checkpoint, dtype="float32", torch_dtype=torch.float16)
    assert both.dtype == torch.float32


def test_a_float32_checkpoint_stays_float32(tmp_path):
    torch.manual_seed(0)
    transformers.DistilBertModel(transformers.DistilBertConfig(**SMALL)).save_pretrained(tmp_path)
    assert polyformer.DistilBertModel.from_pretrained(tmp_path).dtype == torch.float32
