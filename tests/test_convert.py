"""`polyformer convert`: streaming re-shard / re-type, bit-exact without a dtype change."""

import json
import subprocess
import sys

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
    assert len(written) > 2 and (tmp_path / "dst" / "model.safetensors.index.json").is_file()
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
    assert "MB" in result.stderr  # the progress bar
    back = load_tensors(find_weight_files(tmp_path / "c"))
    assert all(np.array_equal(back[k], tensors[k]) for k in tensors)
    result = subprocess.run([sys.executable, "-m", "polyformer", "convert", str(tmp_path / "nope"), str(tmp_path / "d")],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "nope" in result.stderr and "Traceback" not in result.stderr
