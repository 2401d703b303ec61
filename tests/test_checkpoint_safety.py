"""A checkpoint cannot read outside its folder, and bad files get one clear error naming them.

Covers: shard names of the index, files a tokenizer_config.json names, symlinks leading
out (except the Hugging Face cache's own snapshots -> blobs links), hub ids, revisions
and ref files; malformed safetensors headers; a file given where a folder is expected;
an integer tensor where a floating-point weight is expected.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file

import polyformer
from polyformer.core.checkpoint import CheckpointError, find_weight_files, load_tensors, read_tensor_infos
from polyformer.core.convert import convert_checkpoint

SMALL = dict(vocab_size=64, dim=16, hidden_dim=32, n_layers=1, n_heads=2, max_position_embeddings=16)
FRAMEWORKS = ["torch", "keras", "flax"]
_MODULES = {"torch": "torch", "keras": "keras", "flax": "flax"}


def _need(framework: str) -> None:
    pytest.importorskip(_MODULES[framework])


@pytest.fixture(scope="module")
def sharded(tmp_path_factory):
    """A PyTorch-written DistilBERT checkpoint in 3 shards."""
    pytest.importorskip("torch")
    import torch

    folder = tmp_path_factory.mktemp("sharded")
    torch.manual_seed(0)
    polyformer.DistilBertModel(polyformer.DistilBertConfig(**SMALL)).save_pretrained(folder, max_shard_size="6KB")
    assert len(find_weight_files(folder)) == 3
    return folder


def _copy(folder: Path, destination: Path) -> Path:
    shutil.copytree(folder, destination, symlinks=True)
    return destination


def _point_first_entry_at(folder: Path, name: str) -> str:
    """Make the index's first tensor live in the shard ``name``; returns the tensor name."""
    index_path = folder / "model.safetensors.index.json"
    index = json.loads(index_path.read_text())
    tensor = next(iter(index["weight_map"]))
    index["weight_map"][tensor] = name
    index_path.write_text(json.dumps(index))
    return tensor


def _evil_shard(path: Path, folder: Path, tensor: str) -> None:
    """A valid shard outside the checkpoint holding ``tensor``: before the fix it was loaded silently."""
    infos = read_tensor_infos(find_weight_files(folder))
    save_file({tensor: np.full(infos[tensor].shape, 7.0, np.float32)}, str(path), metadata={"format": "pt"})


# ---- shard names --------------------------------------------------------------------------
@pytest.mark.parametrize("framework", FRAMEWORKS)
@pytest.mark.parametrize("kind", ["absolute", "dotdot", "etc-passwd", "symlink"])
def test_index_cannot_name_a_shard_outside_the_folder(sharded, tmp_path, framework, kind):
    _need(framework)
    folder = _copy(sharded, tmp_path / "ckpt")
    evil = tmp_path / "evil.safetensors"
    tensor = next(iter(json.loads((folder / "model.safetensors.index.json").read_text())["weight_map"]))
    _evil_shard(evil, folder, tensor)
    name, rule = {
        "absolute": (str(evil), "it is an absolute path"),
        "dotdot": ("../evil.safetensors", "it contains '..'"),
        "etc-passwd": ("/etc/passwd", "it is an absolute path"),
        "symlink": ("linked.safetensors", "it leads out of the folder"),
    }[kind]
    if kind == "symlink":
        (folder / "linked.safetensors").symlink_to(evil)
    _point_first_entry_at(folder, name)
    with pytest.raises(CheckpointError) as info:
        polyformer.AutoModel.from_pretrained(folder, framework=framework)
    message = str(info.value)
    assert str(folder / "model.safetensors.index.json") in message and f"'{tensor}'" in message
    assert repr(name) in message and rule in message and "must stay inside its folder" in message


def test_a_weights_file_that_is_a_symlink_out_is_refused(sharded, tmp_path):
    folder = tmp_path / "ckpt"
    folder.mkdir()
    shutil.copy(sharded / "config.json", folder)
    outside = tmp_path / "outside.safetensors"
    convert_checkpoint(sharded, tmp_path / "single")
    shutil.copy(tmp_path / "single" / "model.safetensors", outside)
    (folder / "model.safetensors").symlink_to(outside)
    with pytest.raises(CheckpointError, match="'model.safetensors', which is refused: it leads out of the folder"):
        polyformer.DistilBertModel.from_pretrained(folder)
    # A symlink that stays inside the folder is fine.
    (folder / "model.safetensors").unlink()
    os.rename(outside, folder / "real.safetensors")
    (folder / "model.safetensors").symlink_to("real.safetensors")
    polyformer.DistilBertModel.from_pretrained(folder)


def test_convert_refuses_a_shard_outside_and_writes_nothing(sharded, tmp_path):
    folder = _copy(sharded, tmp_path / "ckpt")
    tensor = _point_first_entry_at(folder, "../evil.safetensors")
    _evil_shard(tmp_path / "evil.safetensors", sharded, tensor)
    with pytest.raises(CheckpointError, match="contains '..'"):
        convert_checkpoint(folder, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    result = subprocess.run([sys.executable, "-m", "polyformer", "convert", str(folder), str(tmp_path / "out")],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "weight_map entry" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()


def test_convert_refuses_to_copy_a_file_that_leads_out(sharded, tmp_path):
    folder = _copy(sharded, tmp_path / "ckpt")
    (tmp_path / "secret.txt").write_text("not part of the checkpoint")
    (folder / "tokenizer.json").symlink_to(tmp_path / "secret.txt")
    with pytest.raises(CheckpointError, match="'tokenizer.json', which is refused: it leads out of the folder"):
        convert_checkpoint(folder, tmp_path / "out")
    assert not (tmp_path / "out").exists()


# ---- the Hugging Face cache ----------------------------------------------------------------
def _as_hub_cache(checkpoint: Path, cache: Path, repo: str = "org/tiny", commit: str = "a" * 40) -> Path:
    """Lay ``checkpoint`` out as huggingface_hub does: snapshot files are symlinks into blobs/."""
    repo_dir = cache / ("models--" + repo.replace("/", "--"))
    snapshot = repo_dir / "snapshots" / commit
    (repo_dir / "blobs").mkdir(parents=True)
    snapshot.mkdir(parents=True)
    for index, path in enumerate(sorted(checkpoint.iterdir())):
        blob = repo_dir / "blobs" / f"{index:040x}"
        shutil.copy(path, blob)
        (snapshot / path.name).symlink_to(Path("..", "..", "blobs", blob.name))
    (repo_dir / "refs").mkdir()
    (repo_dir / "refs" / "main").write_text(commit)
    return repo_dir


def test_hub_cache_snapshot_symlinks_into_blobs_load(sharded, tmp_path, monkeypatch):
    repo_dir = _as_hub_cache(sharded, tmp_path / "cache")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # the cache alone (tests/test_hub.py downloads into one)
    model = polyformer.DistilBertModel.from_pretrained("org/tiny")
    expected = load_tensors(find_weight_files(sharded))
    for name, value in model._export_canonical().items():
        np.testing.assert_array_equal(value.numpy(), expected[name])  # bit-exact: the same bytes, read again
    # ...but a snapshot file that leads anywhere else is refused.
    shard = repo_dir / "snapshots" / ("a" * 40) / "model-00002-of-00003.safetensors"
    outside = tmp_path / "outside.safetensors"
    shutil.copy(shard, outside)
    shard.unlink()
    shard.symlink_to(outside)
    with pytest.raises(CheckpointError, match="leads out of the folder"):
        polyformer.DistilBertModel.from_pretrained("org/tiny")


def test_revision_and_ref_file_cannot_leave_the_repo(sharded, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    repo_dir = _as_hub_cache(sharded, cache)
    # A folder two levels up from snapshots/: before the fix, "../../planted" reached it.
    planted = cache / "planted"
    polyformer.DistilBertConfig(n_layers=5).save_pretrained(planted)
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ValueError, match=r"revision '\.\./\.\./\.\./planted' is not a branch.*'\.\.'"):
        polyformer.DistilBertConfig.from_pretrained("org/tiny", revision="../../../planted")
    with pytest.raises(ValueError, match="absolute path"):
        polyformer.DistilBertConfig.from_pretrained("org/tiny", revision=str(planted))
    (repo_dir / "refs" / "main").write_text("../../../planted")
    with pytest.raises(CheckpointError, match=r"refs/main holds '\.\./\.\./\.\./planted', which is not a commit name"):
        polyformer.DistilBertConfig.from_pretrained("org/tiny")
    (repo_dir / "refs" / "main").write_text("a" * 40)
    assert polyformer.DistilBertConfig.from_pretrained("org/tiny").n_layers == SMALL["n_layers"]


@pytest.mark.parametrize("hub_id", ["org/..", "org/a..b", "org/na--me", "org/-x"])
def test_hub_ids_must_be_valid(tmp_path, monkeypatch, hub_id):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "cache"))
    with pytest.raises(FileNotFoundError, match=f"'{hub_id}' is not a local folder or file, and not a valid hub id"):
        polyformer.DistilBertConfig.from_pretrained(hub_id)


# ---- files a tokenizer_config.json names -----------------------------------------------------
@pytest.fixture()
def tokenizer_folder(tmp_path):
    vocab = tmp_path / "vocab-source.txt"
    vocab.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "hello", "world"]) + "\n")
    folder = tmp_path / "tok"
    polyformer.DistilBertTokenizerFast(vocab_file=str(vocab)).save_pretrained(folder)
    return folder


@pytest.mark.parametrize("named, rule", [("/etc/passwd", "absolute path"), ("../vocab-source.txt", "contains '..'")])
def test_tokenizer_config_cannot_name_a_file_outside(tokenizer_folder, named, rule):
    (tokenizer_folder / "vocab.txt").unlink()  # the slow tokenizer then looks at what the config names
    config_path = tokenizer_folder / "tokenizer_config.json"
    config = json.loads(config_path.read_text())
    config["vocab_file"] = named
    config_path.write_text(json.dumps(config))
    with pytest.raises(CheckpointError) as info:
        polyformer.DistilBertTokenizer.from_pretrained(tokenizer_folder)
    assert str(config_path) in str(info.value) and "'vocab_file'" in str(info.value) and rule in str(info.value)


def test_tokenizer_config_may_name_a_file_inside(tokenizer_folder):
    os.rename(tokenizer_folder / "vocab.txt", tokenizer_folder / "my_vocab.txt")
    config_path = tokenizer_folder / "tokenizer_config.json"
    config_path.write_text(json.dumps({**json.loads(config_path.read_text()), "vocab_file": "my_vocab.txt"}))
    tokenizer = polyformer.DistilBertTokenizer.from_pretrained(tokenizer_folder)
    assert tokenizer.convert_tokens_to_ids("world") == 6


def test_tokenizer_files_that_lead_out_are_refused(tokenizer_folder, tmp_path):
    (tokenizer_folder / "vocab.txt").unlink()
    (tokenizer_folder / "vocab.txt").symlink_to(tmp_path / "vocab-source.txt")
    with pytest.raises(CheckpointError, match="'vocab.txt', which is refused: it leads out of the folder"):
        polyformer.DistilBertTokenizer.from_pretrained(tokenizer_folder)


# ---- malformed safetensors headers -----------------------------------------------------------
def _raw_safetensors(path: Path, header, data: bytes = b"", header_bytes: bytes | None = None) -> Path:
    raw = header_bytes if header_bytes is not None else json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + data)
    return path


F32x2 = {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}
BAD_HEADERS = {
    "a list": ([1, 2, 3], b"", "header must be a JSON object of tensor name -> entry, found list"),
    "no data_offsets": ({"w": {"dtype": "F32", "shape": [2]}}, bytes(8), "tensor 'w' has no data_offsets"),
    "data_offsets a string": ({"w": {**F32x2, "data_offsets": "ab"}}, bytes(8),
                              "tensor 'w' has data_offsets 'ab'; expected [start, end]"),
    "entry not an object": ({"w": [0, 8]}, bytes(8), "tensor 'w' must be an object"),
    "unknown dtype": ({"w": {**F32x2, "dtype": "F7"}}, bytes(8), "tensor 'w' has dtype 'F7'"),
    "negative shape": ({"w": {**F32x2, "shape": [-2]}}, bytes(8), "tensor 'w' has shape [-2]"),
    "float shape": ({"w": {**F32x2, "shape": [2.0]}}, bytes(8), "tensor 'w' has shape [2.0]"),
    "wrong byte length": ({"w": {**F32x2, "shape": [3]}}, bytes(8), "tensor 'w' takes 8 bytes, but F32 x [3] is 12"),
    "reversed offsets": ({"w": {**F32x2, "data_offsets": [8, 0]}}, bytes(8), "expected [start, end] with 0 <= start"),
    "past the end": ({"w": {**F32x2, "data_offsets": [8, 16]}}, bytes(8), "is truncated: tensor 'w' ends at byte 16"),
    "overlap": ({"a": F32x2, "b": {**F32x2, "data_offsets": [4, 12]}}, bytes(12), "overlaps tensor 'a'"),
    "gap": ({"a": F32x2, "b": {**F32x2, "data_offsets": [12, 20]}}, bytes(20), "bytes 8 to 12 of the tensor data"),
    "trailing bytes": ({"a": F32x2}, bytes(12), "4 bytes after the last tensor"),
    "bad metadata": ({"__metadata__": {"format": 1}, "a": F32x2}, bytes(8), "__metadata__ must be an object"),
}


@pytest.mark.parametrize("case", list(BAD_HEADERS))
def test_malformed_headers_name_the_file(tmp_path, case):
    header, data, expected = BAD_HEADERS[case]
    path = _raw_safetensors(tmp_path / "model.safetensors", header, data)
    with pytest.raises(CheckpointError) as info:
        read_tensor_infos([path])
    assert str(path) in str(info.value) and expected in str(info.value)


@pytest.mark.parametrize("case", ["a list", "no data_offsets", "data_offsets a string"])
def test_inspect_reports_a_malformed_header_in_one_line(sharded, tmp_path, case):
    folder = tmp_path / "ckpt"
    folder.mkdir()
    shutil.copy(sharded / "config.json", folder)
    header, data, expected = BAD_HEADERS[case]
    _raw_safetensors(folder / "model.safetensors", header, data)
    result = subprocess.run([sys.executable, "-m", "polyformer", "inspect", str(folder)], capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert str(folder / "model.safetensors") in result.stderr and expected in result.stderr
    assert "model.safetensors" in result.stdout  # the summary still lists the files
    with pytest.raises(CheckpointError, match="not a valid safetensors file"):
        polyformer.DistilBertModel.from_pretrained(folder)


def test_valid_files_of_every_dtype_still_read(tmp_path):
    tensors = {name: (np.arange(6) % 2).astype(dtype).reshape(2, 3) for name, dtype in
               [("f64", np.float64), ("f32", np.float32), ("f16", np.float16), ("i64", np.int64), ("i8", np.int8),
                ("u8", np.uint8), ("b", np.bool_)]}
    tensors["empty"] = np.zeros((0, 4), np.float32)
    save_file(tensors, str(tmp_path / "x.safetensors"))
    infos = read_tensor_infos([tmp_path / "x.safetensors"])
    assert {name: info.shape for name, info in infos.items()} == {name: t.shape for name, t in tensors.items()}
    back = load_tensors([tmp_path / "x.safetensors"])
    assert all(np.array_equal(back[name], tensors[name]) for name in tensors)


# ---- a file where a folder is expected ------------------------------------------------------------
def test_a_weights_file_is_not_a_model_path(sharded, tmp_path):
    convert_checkpoint(sharded, tmp_path / "single")
    file = tmp_path / "single" / "model.safetensors"
    with pytest.raises(ValueError) as info:
        polyformer.AutoModel.from_pretrained(file, framework="torch")
    assert f"'{file}' is a file, not a checkpoint folder" in str(info.value) and str(tmp_path / "single") in str(info.value)
    with pytest.raises(ValueError, match="a model loads from a checkpoint folder"):
        polyformer.DistilBertModel.from_pretrained(file)
    with pytest.raises(ValueError, match="is a file, not a checkpoint folder or a .json file"):
        polyformer.AutoConfig.from_pretrained(file)


def test_a_binary_file_named_json_is_a_clear_error(tmp_path):
    (tmp_path / "config.json").write_bytes(b"\x80\x81 not text")
    with pytest.raises(ValueError, match="config.json is not a JSON file: it is not UTF-8 text"):
        polyformer.AutoConfig.from_pretrained(tmp_path)


# ---- integer tensors for floating-point weights ------------------------------------------------
@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_an_integer_tensor_for_a_float_weight_is_refused(sharded, tmp_path, framework):
    _need(framework)
    convert_checkpoint(sharded, tmp_path / "ckpt")
    path = tmp_path / "ckpt" / "model.safetensors"
    tensors = load_tensors([path])
    name = "transformer.layer.0.attention.q_lin.weight"
    tensors[name] = tensors[name].astype(np.int64)
    save_file(tensors, str(path), metadata={"format": "pt"})
    with pytest.raises(CheckpointError) as info:
        polyformer.AutoModel.from_pretrained(tmp_path / "ckpt", framework=framework)
    message = str(info.value)
    assert str(path) in message and f"tensor '{name}' is I64" in message and "is floating point" in message
