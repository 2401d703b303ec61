"""Tied weights load from whichever of the two names a checkpoint used, in every framework."""

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

from polyformer import AutoModelForMaskedLM, DistilBertConfig
from polyformer.core.checkpoint import find_weight_files, load_tensors

SOURCE = "distilbert.embeddings.word_embeddings.weight"
TARGET = "vocab_projector.weight"


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    torch = pytest.importorskip("torch")
    import polyformer

    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("tied")
    config = DistilBertConfig(vocab_size=40, dim=16, hidden_dim=24, n_layers=1, n_heads=2, max_position_embeddings=16)
    polyformer.DistilBertForMaskedLM(config).save_pretrained(folder / "normal")
    tensors = load_file(str(folder / "normal" / "model.safetensors"))
    assert TARGET not in tensors  # saved once, under the source name
    # An older writer that kept only the projection's name for the shared matrix:
    renamed = dict(tensors)
    renamed[TARGET] = renamed.pop(SOURCE)
    (folder / "target_only").mkdir()
    save_file(renamed, str(folder / "target_only" / "model.safetensors"), metadata={"format": "pt"})
    (folder / "target_only" / "config.json").write_text((folder / "normal" / "config.json").read_text())
    # And one that wrote both names (a different copy under the target: the source must win):
    both = dict(tensors)
    both[TARGET] = np.zeros_like(tensors[SOURCE])
    (folder / "both").mkdir()
    save_file(both, str(folder / "both" / "model.safetensors"), metadata={"format": "pt"})
    (folder / "both" / "config.json").write_text((folder / "normal" / "config.json").read_text())
    return folder, tensors[SOURCE]


@pytest.mark.parametrize("framework", ["torch", "keras", "flax"])
@pytest.mark.parametrize("variant", ["target_only", "both"])
def test_tied_weight_found_under_either_name(checkpoints, framework, variant, tmp_path):
    folder, embeddings = checkpoints
    model, info = AutoModelForMaskedLM.from_pretrained(folder / variant, framework=framework, output_loading_info=True)
    assert info["missing_keys"] == [] and info["unexpected_keys"] == []
    model.save_pretrained(tmp_path)
    saved = load_tensors(find_weight_files(tmp_path))
    assert TARGET not in saved
    np.testing.assert_array_equal(saved[SOURCE], embeddings)
