"""PretrainedConfig and DistilBertConfig: the guide's blocks, HF compatibility, bad input."""

import json
import os
import re
import warnings

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
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # downloads themselves: tests/test_hub.py
    with pytest.raises(FileNotFoundError, match="config.json is not in the Hugging Face cache.*downloads are off.*hf download "
                                                "distilbert-base-uncased"):
        DistilBertConfig.from_pretrained("distilbert-base-uncased")


def test_cached_hub_id_is_found(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    snapshot = cache / "models--org--tiny" / "snapshots" / "abc123"
    DistilBertConfig(n_layers=2).save_pretrained(snapshot)
    (cache / "models--org--tiny" / "refs").mkdir()
    (cache / "models--org--tiny" / "refs" / "main").write_text("abc123")
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # the cache alone; downloads: tests/test_hub.py
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


# ---- bad settings get one clear error naming the key (and the file) -------------------------------

@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"id2label": {"x": "a"}}, r"DistilBertConfig: id2label has key 'x', which is not a label index \(an integer >= 0\)"),
        ({"id2label": {"-1": "a"}}, "id2label has key '-1', which is not a label index"),
        ({"id2label": ["a", "b"]}, "id2label must be a dict of label index to label name"),
        ({"id2label": {0: "a", "0": "b"}}, "id2label gives label index 0 twice"),
        ({"id2label": {0: ["a"]}}, r"id2label\[0\] must be a label name \(a string\), got \['a'\]"),
        ({"label2id": {"a": "x"}}, "label2id\\['a'\\] is 'x', which is not a label index"),
        ({"label2id": {"a": 0, "b": 0}}, "label2id puts both 'a' and 'b' at index 0"),
        ({"id2label": {0: "neg", 1: "pos"}, "label2id": {"neg": 1, "pos": 0}},
         "label2id does not match id2label: label2id puts 'neg' at index 1, but id2label has it at 0"),
        ({"num_labels": -1}, "DistilBertConfig: num_labels must be a positive integer, got -1"),
        ({"num_labels": 2.0}, "num_labels must be a positive integer, got 2.0"),
        ({"num_labels": "3"}, "num_labels must be a positive integer, got '3'"),
        ({"num_labels": 3, "id2label": {0: "a", 1: "b"}}, "num_labels=3 does not match id2label, which has 2 labels"),
        ({"problem_type": "ranking"}, "DistilBertConfig: problem_type must be one of regression, "),
        ({"problem_type": "single_label_classification", "num_labels": 1},
         "problem_type 'single_label_classification' needs num_labels >= 2, got 1"),
        ({"pruned_heads": {"0": [5]}, "n_heads": 4, "dim": 32},
         r"pruned_heads\['0'\] names head 5, but n_heads=4 \(heads are numbered 0 to 3\)"),
        ({"pruned_heads": {"0": [0, 1, 2, 3]}, "n_heads": 4, "dim": 32},
         r"pruned_heads\['0'\] prunes all 4 heads of layer 0; at least one must remain"),
        ({"pruned_heads": {"6": [1]}}, "pruned_heads has layer '6', which is not a layer index \\(an integer >= 0 below n_layers=6\\)"),
        ({"pruned_heads": {"0": 1}}, r"pruned_heads\['0'\] must be a list of head indices, got 1"),
        ({"pruned_heads": [1, 2]}, "pruned_heads must be a dict of layer index to the list of that layer's pruned heads"),
        ({"model_type": ["distilbert"]}, "model_type must be the architecture's name as a string .* got \\['distilbert'\\]"),
        ({"output_hidden_states": "no"}, "DistilBertConfig: output_hidden_states must be true or false, got 'no'"),
        ({"return_dict": None}, "return_dict must be true or false, got None"),
        ({"pad_token_id": "0"}, "pad_token_id must be a token id \\(an integer\\) or None, got '0'"),
        ({"eos_token_id": [1, "2"]}, "eos_token_id must be a token id \\(an integer\\) or a list of them or None"),
        ({"chunk_size_feed_forward": -1}, "chunk_size_feed_forward must be an integer >= 0"),
    ],
)
def test_bad_common_settings_name_the_key(kwargs, message):
    with pytest.raises(ValueError, match=message):
        DistilBertConfig(**kwargs)


def test_good_common_settings_are_normalised():
    config = DistilBertConfig(n_heads=4, dim=32, pruned_heads={"0": [1, 3], 2: ["0"]}, eos_token_id=[1, 2])
    assert config.pruned_heads == {0: [1, 3], 2: [0]} and config.eos_token_id == [1, 2]
    config = DistilBertConfig(label2id={"neg": 0, "pos": 1})  # one map given: the other is derived
    assert config.id2label == {0: "neg", 1: "pos"} and config.num_labels == 2
    config = DistilBertConfig(id2label={"0": "neg", "1": "pos"}, label2id={"neg": "0", "pos": "1"})
    assert config.label2id == {"neg": 0, "pos": 1}
    assert DistilBertConfig(pad_token_id=None).pad_token_id is None


def test_overrides_are_checked_like_the_constructor(tmp_path):
    DistilBertConfig(n_heads=4, dim=32).save_pretrained(tmp_path)
    with pytest.raises(ValueError, match=r"pruned_heads\['1'\] names head 4, but n_heads=4"):
        DistilBertConfig.from_pretrained(tmp_path, pruned_heads={"1": [4]})
    config = DistilBertConfig.from_pretrained(tmp_path, pruned_heads={"1": [3]}, id2label={"0": "a", "1": "b"})
    assert config.pruned_heads == {1: [3]} and config.id2label == {0: "a", 1: "b"}


def _write_config(folder, **values):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps({"model_type": "distilbert", **values}))
    return folder / "config.json"


@pytest.mark.parametrize(
    "values, message",
    [
        ({"id2label": {"x": "a"}}, "DistilBertConfig: id2label has key 'x', which is not a label index"),
        ({"n_heads": 4, "dim": 32, "pruned_heads": {"0": [5]}}, r"DistilBertConfig: pruned_heads\['0'\] names head 5"),
        ({"label2id": {"a": 0, "b": "one"}}, r"label2id\['b'\] is 'one', which is not a label index"),
        ({"dim": 100}, "DistilBertConfig: dim=100 must be divisible by n_heads=12"),
    ],
)
def test_bad_values_in_config_json_name_the_file(tmp_path, values, message):
    path = _write_config(tmp_path, **values)
    prefix = f"{path}: "
    for load in (DistilBertConfig.from_pretrained, AutoConfig.from_pretrained):
        with pytest.raises(ValueError) as caught:
            load(tmp_path)
        assert str(caught.value).startswith(prefix) and re.search(message, str(caught.value)), caught.value
    with pytest.raises(ValueError) as caught:
        DistilBertConfig.from_json_file(path)
    assert str(caught.value).startswith(prefix) and re.search(message, str(caught.value))
    # A bad override is the caller's, not the file's: it is not blamed on the file.
    _write_config(tmp_path)
    with pytest.raises(ValueError, match="^DistilBertConfig: dropout must be a number in"):
        DistilBertConfig.from_pretrained(tmp_path, dropout=2.0)


def test_model_type_of_the_wrong_type_in_config_json(tmp_path):
    path = _write_config(tmp_path, model_type=["distilbert"])
    expected = (f"{path}: 'model_type' must be the architecture's name as a non-empty string (such as 'distilbert'), "
                f"got ['distilbert']")
    with pytest.raises(ValueError) as caught:
        AutoConfig.from_pretrained(tmp_path)
    assert str(caught.value) == expected
    with pytest.raises(ValueError, match=re.escape(f"{path}: DistilBertConfig: model_type must be the architecture's")):
        DistilBertConfig.from_pretrained(tmp_path)


def test_pruned_heads_beyond_the_heads_fail_before_the_model_is_built(tmp_path):
    pytest.importorskip("torch")
    from polyformer import AutoModel

    path = _write_config(tmp_path, n_heads=4, dim=32, hidden_dim=16, n_layers=1, vocab_size=30,
                         pruned_heads={"0": [5]})
    with pytest.raises(ValueError, match=re.escape(f"{path}: DistilBertConfig: pruned_heads['0'] names head 5, but n_heads=4")):
        AutoModel.from_pretrained(tmp_path, framework="torch")


def test_a_stale_label2id_written_by_transformers_still_loads(tmp_path):
    # transformers writes label2id unchanged when id2label is replaced afterwards; the model reads only id2label.
    transformers = pytest.importorskip("transformers")
    theirs = transformers.DistilBertConfig(num_labels=3)
    theirs.id2label = {0: "neg", 1: "neutral", 2: "pos"}
    theirs.save_pretrained(tmp_path)
    assert json.loads((tmp_path / "config.json").read_text())["label2id"] == {"LABEL_0": 0, "LABEL_1": 1, "LABEL_2": 2}
    config = DistilBertConfig.from_pretrained(tmp_path)
    assert config.id2label == {0: "neg", 1: "neutral", 2: "pos"} and config.num_labels == 3


# ---- unknown keys one typo away from a parameter: a warning, once ----------------------------------

@pytest.fixture
def fresh_typo_warnings(monkeypatch):
    from polyformer.core import configuration

    monkeypatch.setattr(configuration, "_WARNED_NEAR_MISSES", set())


def _near_miss_warnings(caught):
    return [str(w.message) for w in caught if "did you mean" in str(w.message)]


@pytest.mark.parametrize(
    "key, guess",
    [
        ("activaton", "'activation'"),   # deletion
        ("activationn", "'activation'"),  # insertion
        ("activatiom", "'activation'"),   # substitution
        ("actiavtion", "'activation'"),   # transposition
        ("n_head", "'n_heads'"),          # a parameter
        ("hiden_size", "'hidden_size'"),  # an attribute_map alias
        ("num_label", "'num_labels'"),    # a common key
        ("return_dicts", "'return_dict'"),
    ],
)
def test_a_key_one_edit_from_a_parameter_warns_once(key, guess, fresh_typo_warnings):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        config = DistilBertConfig(**{key: 4})
        DistilBertConfig(**{key: 4})
    assert getattr(config, key) == 4  # still kept, as transformers does
    assert _near_miss_warnings(caught) == [
        f"DistilBertConfig: unknown key '{key}' is kept as an extra setting; did you mean {guess}?"
    ]


def test_near_miss_warning_is_per_class_and_names_the_file(tmp_path, fresh_typo_warnings):
    from polyformer import ViTConfig

    path = _write_config(tmp_path, hiden_size=8)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        DistilBertConfig.from_pretrained(tmp_path)
        ViTConfig(hiden_size=8)
        AutoConfig.from_pretrained(tmp_path)
    assert _near_miss_warnings(caught) == [
        f"DistilBertConfig: unknown key 'hiden_size' in {path} is kept as an extra setting; did you mean 'hidden_size'?",
        "ViTConfig: unknown key 'hiden_size' is kept as an extra setting; did you mean 'hidden_size'?",
    ]


def test_keys_further_away_or_written_by_transformers_do_not_warn(tmp_path, fresh_typo_warnings):
    transformers = pytest.importorskip("transformers")
    from polyformer import ViTConfig, Wav2Vec2Config

    pairs = [(transformers.DistilBertConfig, DistilBertConfig), (transformers.ViTConfig, ViTConfig),
             (transformers.Wav2Vec2Config, Wav2Vec2Config)]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        DistilBertConfig(my_custom_key=1, actvaton="relu", dims=None)  # two edits; dims -> dim is one: warns
        for theirs, ours in pairs:
            theirs(num_labels=3).save_pretrained(tmp_path / ours.model_type)
            full = theirs().to_dict()  # every key, not only the diff
            (tmp_path / ours.model_type / "full.json").write_text(json.dumps(full, default=str))
            ours.from_pretrained(tmp_path / ours.model_type)
            ours.from_json_file(tmp_path / ours.model_type / "full.json")
        # Keys older transformers versions wrote into every config.json.
        older = {"_name_or_path": "x", "torch_dtype": "float32", "torchscript": False, "use_bfloat16": False,
                 "tf_legacy_loss": False, "top_k": 50, "top_p": 1.0, "max_length": 20, "min_length": 0,
                 "num_beams": 1, "temperature": 1.0, "output_scores": False, "use_cache": True,
                 "_commit_hash": None, "_attn_implementation_autoset": True, "task_specific_params": None}
        DistilBertConfig.from_json_file(_write_config(tmp_path / "older", **older))
    assert _near_miss_warnings(caught) == [
        "DistilBertConfig: unknown key 'dims' is kept as an extra setting; did you mean 'dim'?"
    ]


def test_one_edit_apart():
    from polyformer.core.configuration import _one_edit_apart

    for a, b in [("ab", "abc"), ("abc", "ab"), ("abc", "abd"), ("abc", "acb"), ("a", ""), ("ba", "ab")]:
        assert _one_edit_apart(a, b), (a, b)
    for a, b in [("abc", "abc"), ("abc", "cba"), ("abcd", "ab"), ("abc", "bca"), ("abcd", "badc"), ("ab", "xy")]:
        assert not _one_edit_apart(a, b), (a, b)
