"""Checkpoint folders with PyTorch models: sharding, partial loads, overrides, bad files, atomic saves."""

import json
import logging

import pytest
import torch

import polyformer
from polyformer.core import checkpoint
from polyformer.core.checkpoint import CheckpointError
from polyformer.testing import assert_close, assert_outputs_close

from _torch_oracle import (
    CONFIGS,
    load_hf,
    make_inputs,
    pf_config,
    run_both,
    save_hf_checkpoint,
)

SMALL = dict(CONFIGS["learned-gelu-4heads"], num_labels=3)


@pytest.fixture(scope="module")
def hf_classifier(tmp_path_factory):
    """A transformers sequence-classification checkpoint, and the model that wrote it."""
    folder = tmp_path_factory.mktemp("hf_classifier")
    model = save_hf_checkpoint(folder, "sequence-classification", seed=4, **SMALL)
    return folder, model


def _weight_files(folder):
    return sorted(p.name for p in folder.iterdir() if "safetensors" in p.name)


def test_sharded_save_loads_here_and_in_transformers(tmp_path, hf_classifier):
    folder, hf_model = hf_classifier
    model = polyformer.DistilBertForSequenceClassification.from_pretrained(folder)
    model.save_pretrained(tmp_path, max_shard_size="20KB")
    files = _weight_files(tmp_path)
    assert "model.safetensors.index.json" in files and len(files) > 3
    assert "model.safetensors" not in files
    index = json.loads((tmp_path / "model.safetensors.index.json").read_text())
    assert set(index["weight_map"].values()) == set(files) - {"model.safetensors.index.json"}
    assert json.loads((tmp_path / "config.json").read_text())["architectures"] == ["DistilBertForSequenceClassification"]

    inputs = make_inputs(SMALL, "sequence-classification")
    again = polyformer.DistilBertForSequenceClassification.from_pretrained(tmp_path)
    hf_again, info = load_hf(tmp_path, "sequence-classification", output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"]
    expected, actual = run_both(hf_model, again, inputs)
    assert_outputs_close(expected, actual)
    with torch.no_grad():
        assert_outputs_close(expected, hf_again(**inputs))

    # saving again unsharded replaces the shards and the index
    again.save_pretrained(tmp_path)
    assert _weight_files(tmp_path) == ["model.safetensors"]


def test_transformers_sharded_checkpoint_loads(tmp_path):
    hf_model = save_hf_checkpoint(tmp_path / "src", "masked-lm", **SMALL)
    hf_model.save_pretrained(tmp_path / "sharded", max_shard_size="20KB")
    assert (tmp_path / "sharded" / "model.safetensors.index.json").is_file()
    model, info = polyformer.DistilBertForMaskedLM.from_pretrained(tmp_path / "sharded", output_loading_info=True)
    assert info["missing_keys"] == [] and info["unexpected_keys"] == []
    expected, actual = run_both(hf_model, model, make_inputs(SMALL, "masked-lm"))
    assert_outputs_close(expected, actual)


def test_head_from_base_checkpoint_reports_missing_head(tmp_path, caplog):
    hf_base = save_hf_checkpoint(tmp_path, "base", **SMALL)
    with caplog.at_level(logging.WARNING, logger="polyformer"):
        model, info = polyformer.DistilBertForSequenceClassification.from_pretrained(tmp_path, output_loading_info=True)
    assert info["missing_keys"] == ["classifier.bias", "classifier.weight", "pre_classifier.bias", "pre_classifier.weight"]
    assert info["unexpected_keys"] == []
    assert "classifier.weight" in caplog.text and "newly initialised" in caplog.text
    inputs = make_inputs(SMALL, "base")
    with torch.no_grad():
        assert_close(model.distilbert(**inputs).last_hidden_state, hf_base(**inputs).last_hidden_state)


def test_base_from_head_checkpoint(tmp_path, hf_classifier):
    folder, hf_model = hf_classifier
    model, info = polyformer.DistilBertModel.from_pretrained(folder, output_loading_info=True)
    assert info["missing_keys"] == []
    assert sorted(info["unexpected_keys"]) == ["classifier.bias", "classifier.weight", "pre_classifier.bias", "pre_classifier.weight"]
    inputs = make_inputs(SMALL, "base")
    with torch.no_grad():
        assert_close(model(**inputs).last_hidden_state, hf_model.distilbert(**inputs).last_hidden_state)


def test_mlm_loads_from_base_checkpoint_and_ties(tmp_path):
    save_hf_checkpoint(tmp_path, "base", **SMALL)
    model, info = polyformer.DistilBertForMaskedLM.from_pretrained(tmp_path, output_loading_info=True)
    assert "vocab_projector.weight" not in info["missing_keys"]  # tied: comes with the embeddings
    assert "vocab_projector.bias" in info["missing_keys"]
    assert model.vocab_projector.weight is model.distilbert.embeddings.word_embeddings.weight


def test_config_override_and_config_kwargs(tmp_path, hf_classifier):
    folder, _ = hf_classifier
    inputs = make_inputs(SMALL, "sequence-classification", with_labels=False)
    model = polyformer.DistilBertForSequenceClassification.from_pretrained(folder, output_hidden_states=True)
    assert model.config.output_hidden_states is True
    assert len(model(**inputs).hidden_states) == SMALL["n_layers"] + 1

    config = polyformer.DistilBertConfig.from_pretrained(folder, output_attentions=True, id2label={0: "a", 1: "b", 2: "c"})
    model = polyformer.DistilBertForSequenceClassification.from_pretrained(folder, config=config)
    assert model.config.id2label[2] == "c" and model.config is not config
    assert len(model(**inputs).attentions) == SMALL["n_layers"]

    with pytest.raises(TypeError, match="not_a_key"):
        polyformer.DistilBertForSequenceClassification.from_pretrained(folder, not_a_key=1)


def test_mismatched_sizes(tmp_path, hf_classifier, caplog):
    folder, hf_model = hf_classifier
    with pytest.raises(CheckpointError, match=r"classifier\.weight: checkpoint \(3, 32\), model \(5, 32\).*ignore_mismatched_sizes"):
        polyformer.DistilBertForSequenceClassification.from_pretrained(folder, num_labels=5)
    model, info = polyformer.DistilBertForSequenceClassification.from_pretrained(
        folder, num_labels=5, ignore_mismatched_sizes=True, output_loading_info=True
    )
    assert sorted(n for n, _, _ in info["mismatched_keys"]) == ["classifier.bias", "classifier.weight"]
    assert model.classifier.weight.shape == (5, 32) and torch.all(model.classifier.bias == 0)
    assert torch.equal(model.pre_classifier.weight, hf_model.pre_classifier.weight)  # loaded weights: bit for bit


def test_truncated_safetensors_names_the_file(tmp_path, hf_classifier):
    folder, _ = hf_classifier
    (tmp_path / "config.json").write_bytes((folder / "config.json").read_bytes())
    data = (folder / "model.safetensors").read_bytes()
    (tmp_path / "model.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match=r"model\.safetensors is truncated"):
        polyformer.DistilBertForSequenceClassification.from_pretrained(tmp_path)
    (tmp_path / "model.safetensors").write_bytes(data[:5])
    with pytest.raises(CheckpointError, match=r"model\.safetensors is not a safetensors file"):
        polyformer.DistilBertForSequenceClassification.from_pretrained(tmp_path)


def test_missing_weights_and_missing_shard(tmp_path, hf_classifier):
    folder, _ = hf_classifier
    (tmp_path / "config.json").write_bytes((folder / "config.json").read_bytes())
    with pytest.raises(CheckpointError, match="no weights in"):
        polyformer.DistilBertModel.from_pretrained(tmp_path)
    model = polyformer.DistilBertModel.from_pretrained(folder)
    model.save_pretrained(tmp_path / "sharded", max_shard_size="20KB")
    shard = sorted((tmp_path / "sharded").glob("model-00002-of-*.safetensors"))[0]
    shard.unlink()
    with pytest.raises(CheckpointError, match=f"lists shard '{shard.name}', which is missing"):
        polyformer.DistilBertModel.from_pretrained(tmp_path / "sharded")


def test_missing_config_is_clear(tmp_path):
    with pytest.raises(FileNotFoundError, match="config.json"):
        polyformer.DistilBertModel.from_pretrained(tmp_path)


def test_legacy_bin_needs_use_safetensors_false(tmp_path, hf_classifier):
    folder, hf_model = hf_classifier
    (tmp_path / "config.json").write_bytes((folder / "config.json").read_bytes())
    torch.save(hf_model.state_dict(), tmp_path / "pytorch_model.bin")
    with pytest.raises(CheckpointError, match="use_safetensors=False"):
        polyformer.DistilBertForSequenceClassification.from_pretrained(tmp_path)
    model = polyformer.DistilBertForSequenceClassification.from_pretrained(tmp_path, use_safetensors=False)
    expected, actual = run_both(hf_model, model, make_inputs(SMALL, "sequence-classification"))
    assert_outputs_close(expected, actual)


def test_failed_save_leaves_nothing_half_written(tmp_path, monkeypatch):
    model = polyformer.DistilBertForMaskedLM(pf_config(**SMALL))
    model.save_pretrained(tmp_path)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}

    import safetensors.torch

    real_save = safetensors.torch.save_file
    calls = []

    def failing_save(tensors, filename, metadata=None):
        calls.append(filename)
        if len(calls) == 3:  # fail in the middle of a sharded save
            real_save(tensors, filename, metadata=metadata)
            with open(filename, "r+b") as handle:
                handle.truncate(10)
            raise OSError("disk full")
        real_save(tensors, filename, metadata=metadata)

    monkeypatch.setattr(safetensors.torch, "save_file", failing_save)
    other = polyformer.DistilBertForMaskedLM(pf_config(**SMALL))
    with pytest.raises(OSError, match="disk full"):
        other.save_pretrained(tmp_path, max_shard_size="20KB")
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before  # no shard, no temp file, no new index
    calls.clear()
    with pytest.raises(OSError, match="disk full"):
        other.save_pretrained(tmp_path / "new", max_shard_size="20KB")
    assert not (tmp_path / "new").exists() or list((tmp_path / "new").iterdir()) == []

    monkeypatch.setattr(safetensors.torch, "save_file", real_save)
    loaded = polyformer.DistilBertForMaskedLM.from_pretrained(tmp_path)
    assert torch.equal(loaded.vocab_transform.weight, model.vocab_transform.weight)  # saved weights: bit for bit


def test_save_writes_canonical_names_without_tied_copy(tmp_path):
    model = polyformer.DistilBertForMaskedLM(pf_config(**SMALL))
    model.save_pretrained(tmp_path)
    names = set(checkpoint.read_tensor_infos([tmp_path / "model.safetensors"]))
    assert "vocab_projector.weight" not in names and "distilbert.embeddings.position_ids" not in names
    assert {"distilbert.embeddings.word_embeddings.weight", "distilbert.transformer.layer.1.attention.q_lin.weight",
            "distilbert.transformer.layer.0.ffn.lin1.bias", "vocab_projector.bias"} <= names
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["dtype"] == "float32" and "polyformer_version" in config
    with pytest.raises(TypeError, match="unexpected"):
        model.save_pretrained(tmp_path, push_to_hub=True)
