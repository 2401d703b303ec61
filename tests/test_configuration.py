"""PretrainedConfig and DistilBertConfig: the guide's blocks, HF compatibility, bad input."""

import json
import os

import pytest

from polyformer import AutoConfig, DistilBertConfig, PretrainedConfig

GUIDE_KEYS = {
    "activation", "attention_dropout", "dim", "dropout", "hidden_dim", "initializer_range",
    "max_position_embeddings", "model_type", "n_heads", "n_layers", "pad_token_id", "polyformer_version",
    "qa_dropout", "seq_classif_dropout", "sinusoidal_pos_embds", "vocab_size",
}


def test_print_matches_the_guide():
    text = repr(DistilBertConfig())
    assert text.startswith("DistilBertConfig {\n")
    body = json.loads(text[len("DistilBertConfig "):])
    assert set(body) == GUIDE_KEYS
    assert list(body) == sorted(body)
    assert body["activation"] == "gelu" and body["dim"] == 768 and body["hidden_dim"] == 3072
    assert body["pad_token_id"] == 0 and body["sinusoidal_pos_embds"] is False and body["vocab_size"] == 30522


def test_kwargs_override_and_aliases():
    config = DistilBertConfig(activation="relu", attention_dropout=0.4)
    assert config.activation == "relu" and config.attention_dropout == 0.4
    config = DistilBertConfig(hidden_size=64, num_attention_heads=4, num_hidden_layers=2)
    assert (config.dim, config.n_heads, config.n_layers) == (64, 4, 2)
    assert (config.hidden_size, config.num_attention_heads, config.num_hidden_layers) == (64, 4, 2)
    config.hidden_size = 128
    assert config.dim == 128


def test_labels():
    config = DistilBertConfig(num_labels=3)
    assert config.id2label == {0: "LABEL_0", 1: "LABEL_1", 2: "LABEL_2"}
    assert config.label2id == {"LABEL_0": 0, "LABEL_1": 1, "LABEL_2": 2}
    config = DistilBertConfig(id2label={"0": "neg", "1": "pos"})
    assert config.num_labels == 2 and config.id2label == {0: "neg", 1: "pos"} and config.label2id == {"neg": 0, "pos": 1}
    config.num_labels = 5
    assert len(config.id2label) == 5
    with pytest.raises(ValueError, match="num_labels"):
        DistilBertConfig(num_labels=3, id2label={0: "a", 1: "b"})
    with pytest.raises(ValueError, match="problem_type"):
        DistilBertConfig(problem_type="ranking")
    assert DistilBertConfig(problem_type="regression").problem_type == "regression"


def test_save_and_load_folder_and_file(tmp_path):
    config = DistilBertConfig(activation="relu", attention_dropout=0.4, num_labels=3, my_custom_key=[1, 2])
    config.save_pretrained(save_directory=tmp_path / "out")
    saved = json.loads((tmp_path / "out" / "config.json").read_text())
    assert saved["activation"] == "relu" and saved["my_custom_key"] == [1, 2]
    assert "transformers_version" not in saved and saved["polyformer_version"]
    for source in (tmp_path / "out", tmp_path / "out" / "config.json", str(tmp_path / "out")):
        loaded = DistilBertConfig.from_pretrained(source)
        assert loaded == config
        assert loaded.id2label == {0: "LABEL_0", 1: "LABEL_1", 2: "LABEL_2"}


def test_from_pretrained_overrides_and_unused(tmp_path):
    DistilBertConfig().save_pretrained(tmp_path)
    config = DistilBertConfig.from_pretrained(tmp_path, activation="relu", attention_dropout=0.4)
    assert config.activation == "relu" and config.attention_dropout == 0.4
    config, unused = DistilBertConfig.from_pretrained(tmp_path, return_unused_kwargs=True, dim=96, foo="bar")
    assert config.dim == 96 and unused == {"foo": "bar"}
    with pytest.raises(ValueError, match="dim=100 must be divisible by n_heads"):
        DistilBertConfig.from_pretrained(tmp_path, dim=100)


def test_to_dict_and_diff_dict():
    config = DistilBertConfig(dim=96, n_heads=4)
    full = config.to_dict()
    assert full["id2label"] == {0: "LABEL_0", 1: "LABEL_1"}
    assert full["output_hidden_states"] is False and full["return_dict"] is True
    diff = config.to_diff_dict()
    assert "output_hidden_states" not in diff and diff["dim"] == 96
    config.output_hidden_states = True
    assert config.to_diff_dict()["output_hidden_states"] is True
    assert json.loads(config.to_json_string(use_diff=False))["return_dict"] is True


def test_to_json_file(tmp_path):
    config = DistilBertConfig(n_layers=2)
    config.to_json_file(tmp_path / "c.json")
    assert DistilBertConfig.from_json_file(tmp_path / "c.json") == config
    assert DistilBertConfig.from_pretrained(tmp_path / "c.json").n_layers == 2


@pytest.mark.parametrize(
    "kwargs, key",
    [
        ({"dim": 100, "n_heads": 12}, "dim"),
        ({"dropout": 1.5}, "dropout"),
        ({"attention_dropout": -0.1}, "attention_dropout"),
        ({"qa_dropout": "high"}, "qa_dropout"),
        ({"activation": "swishy"}, "activation"),
        ({"n_layers": 0}, "n_layers"),
        ({"vocab_size": -3}, "vocab_size"),
    ],
)
def test_invalid_values_name_the_key(kwargs, key):
    with pytest.raises(ValueError, match=key):
        DistilBertConfig(**kwargs)


def test_every_known_activation_is_accepted():
    from polyformer.core.configuration import ACTIVATIONS

    for name in ACTIVATIONS:
        assert DistilBertConfig(activation=name).activation == name


def test_missing_and_malformed_config(tmp_path):
    with pytest.raises(FileNotFoundError, match="config.json"):
        DistilBertConfig.from_pretrained(tmp_path)
    (tmp_path / "config.json").write_text('{"dim": 768,,}')
    with pytest.raises(ValueError, match=r"config.json is not valid JSON \(line 1"):
        DistilBertConfig.from_pretrained(tmp_path)
    (tmp_path / "config.json").write_text("[1, 2]")
    with pytest.raises(ValueError, match="JSON object"):
        DistilBertConfig.from_pretrained(tmp_path)


def test_save_into_a_file_path_fails_cleanly(tmp_path):
    target = tmp_path / "afile"
    target.write_text("x")
    with pytest.raises(NotADirectoryError, match="afile"):
        DistilBertConfig().save_pretrained(target)
    assert target.read_text() == "x"


def test_failed_write_leaves_no_partial_file(tmp_path, monkeypatch):
    DistilBertConfig(n_layers=3).save_pretrained(tmp_path)
    before = (tmp_path / "config.json").read_text()

    class Boom(Exception):
        pass

    def boom(*args, **kwargs):
        raise Boom()

    monkeypatch.setattr(DistilBertConfig, "to_json_string", boom)
    with pytest.raises(Boom):
        DistilBertConfig(n_layers=4).save_pretrained(tmp_path)
    assert (tmp_path / "config.json").read_text() == before
    assert sorted(os.listdir(tmp_path)) == ["config.json"]


def test_uncached_hub_id_says_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "cache"))
    with pytest.raises(FileNotFoundError, match="not in the local Hugging Face cache.*hf download distilbert-base-uncased"):
        DistilBertConfig.from_pretrained("distilbert-base-uncased")


def test_cached_hub_id_is_found(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    snapshot = cache / "models--org--tiny" / "snapshots" / "abc123"
    DistilBertConfig(n_layers=2).save_pretrained(snapshot)
    (cache / "models--org--tiny" / "refs").mkdir()
    (cache / "models--org--tiny" / "refs" / "main").write_text("abc123")
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    assert DistilBertConfig.from_pretrained("org/tiny").n_layers == 2
    assert AutoConfig.from_pretrained("org/tiny").n_layers == 2


def test_autoconfig(tmp_path):
    DistilBertConfig(activation="relu").save_pretrained(tmp_path)
    config = AutoConfig.from_pretrained(tmp_path, attention_dropout=0.3)
    assert type(config).__name__ == "DistilBertConfig" and config.attention_dropout == 0.3
    assert AutoConfig.for_model("distilbert", n_layers=1).n_layers == 1
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "nonesuch"}))
    with pytest.raises(ValueError, match="Unknown model_type 'nonesuch'.*distilbert"):
        AutoConfig.from_pretrained(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"dim": 3}))
    with pytest.raises(ValueError, match="no 'model_type'"):
        AutoConfig.from_pretrained(tmp_path)


def test_transformers_reads_our_config_and_we_read_theirs(tmp_path):
    transformers = pytest.importorskip("transformers")
    ours = DistilBertConfig(activation="relu", dim=96, n_heads=4, num_labels=3, sinusoidal_pos_embds=True)
    ours.save_pretrained(tmp_path / "ours")
    theirs = transformers.DistilBertConfig.from_pretrained(tmp_path / "ours")
    for key in ("activation", "dim", "n_heads", "sinusoidal_pos_embds", "num_labels", "pad_token_id", "vocab_size"):
        assert getattr(theirs, key) == getattr(ours, key), key
    theirs = transformers.DistilBertConfig(activation="silu", n_layers=3, id2label={0: "a", 1: "b", 2: "c"})
    theirs.save_pretrained(tmp_path / "theirs")
    back = DistilBertConfig.from_pretrained(tmp_path / "theirs")
    assert back.activation == "silu" and back.n_layers == 3 and back.id2label == {0: "a", 1: "b", 2: "c"}


def test_base_config_keeps_unknown_keys():
    config = PretrainedConfig(foo=1, architectures=["X"])
    assert config.foo == 1 and config.to_diff_dict()["foo"] == 1 and config.architectures == ["X"]
