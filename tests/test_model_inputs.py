"""Token ids a model cannot embed get the same clear error in every framework.

Without the check PyTorch and TensorFlow fail deep inside an embedding lookup and JAX
silently clamps the ids, giving wrong outputs with no error at all.
"""

import numpy as np
import pytest

import polyformer
from polyformer import AutoModel, DistilBertConfig

FRAMEWORKS = ["torch", "keras", "flax"]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    pytest.importorskip("torch")
    folder = tmp_path_factory.mktemp("inputs")
    config = DistilBertConfig(vocab_size=30, dim=8, hidden_dim=16, n_layers=1, n_heads=2, max_position_embeddings=8)
    polyformer.DistilBertModel(config).save_pretrained(folder)
    return folder


def call(model, framework, ids):
    if framework == "torch":
        import torch

        return model(torch.from_numpy(ids))
    return model(ids)


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_too_long_for_the_position_table(checkpoint, framework):
    model = AutoModel.from_pretrained(checkpoint, framework=framework)
    with pytest.raises(ValueError, match=r"input_ids has 9 positions, but the model has only 8 position embeddings.*truncation=True"):
        call(model, framework, np.ones((2, 9), dtype=np.int64))
    assert call(model, framework, np.ones((2, 8), dtype=np.int64)) is not None  # the longest allowed


@pytest.mark.parametrize("framework", FRAMEWORKS)
@pytest.mark.parametrize("bad", [30, -1])
def test_ids_outside_the_vocabulary(checkpoint, framework, bad):
    model = AutoModel.from_pretrained(checkpoint, framework=framework)
    ids = np.array([[1, 2, bad, 3]], dtype=np.int64)
    with pytest.raises(ValueError, match=rf"input_ids contains {bad}, outside the vocabulary of 30 tokens"):
        call(model, framework, ids)
