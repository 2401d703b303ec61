"""The `polyformer` command: demo, inspect, and its errors."""

import ast
import re
import subprocess
import sys

import pytest


def run(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "polyformer", *args], capture_output=True, text=True, timeout=timeout)


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
    assert "model_type:    distilbert" in inspect.stdout
    assert "embeddings.word_embeddings.weight" in inspect.stdout

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
    assert inspect.returncode == 0 and "model_type:    wav2vec2" in inspect.stdout, inspect.stderr


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
