"""Downloads from the Hugging Face Hub, end to end, against a local Hub server.

``tests/_local_hub.py`` serves folders these tests build, on 127.0.0.1, speaking the
protocol huggingface_hub uses (revision API, resolve URLs with ETag / X-Repo-Commit
headers, 302 redirects of large files to a CDN on another port, the Hub's error codes).
``HF_ENDPOINT`` points polyformer at it and ``HF_HUB_CACHE`` at a fresh cache, so every
test runs the real download path (polyformer -> huggingface_hub -> HTTP) and nothing of
polyformer is mocked. The conftest's ``HF_HUB_OFFLINE=1`` is removed here, except in the
tests of offline mode.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from huggingface_hub import constants as hf_constants
import numpy as np
import pytest

import polyformer
from polyformer.core.checkpoint import find_weight_files, load_tensors
from polyformer.core.hub import HubError, NotCachedError, download
from polyformer.core.io import CheckpointError
from polyformer.testing import assert_weights_equal

sys.path.insert(0, str(Path(__file__).parent))
from _local_hub import LocalHub  # noqa: E402

SMALL = dict(vocab_size=30, dim=16, n_heads=2, n_layers=1, hidden_dim=20, max_position_embeddings=20)
WORDS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "hello", "world", "the", "model", "!"]


@pytest.fixture()
def hub(tmp_path, monkeypatch):
    """A local Hub, with polyformer pointed at it and at an empty cache."""
    server = LocalHub()
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", server.endpoint)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "cache"))
    # huggingface_hub read HF_HUB_OFFLINE once, at its import; make its switch match this test's environment.
    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", False)
    yield server
    server.stop()


def make_checkpoint(folder: Path, *, seed: int = 0, shards: bool = False, tokenizer: bool = True, **config) -> Path:
    """A tiny DistilBERT (PyTorch) with its tokenizer, saved as a Hub repo would hold it."""
    import torch

    torch.manual_seed(seed)
    model = polyformer.DistilBertModel(polyformer.DistilBertConfig(**{**SMALL, **config}))
    model.save_pretrained(folder, max_shard_size="10KB" if shards else "5GB")
    if tokenizer:
        vocab = folder.parent / f"{folder.name}-vocab.txt"
        vocab.write_text("\n".join(WORDS + [f"w{i}" for i in range(SMALL["vocab_size"] - len(WORDS))]) + "\n")
        polyformer.DistilBertTokenizerFast(vocab_file=str(vocab)).save_pretrained(folder)
    return folder


def weights_of(folder: Path) -> dict[str, np.ndarray]:
    return load_tensors(find_weight_files(folder))


def downloaded(hub: LocalHub) -> set[str]:
    """The files the client fetched (GET) from the Hub or its CDN."""
    names = set()
    for server, method, path, _ in hub.requests:
        if method != "GET":
            continue
        if server == "hub" and "/resolve/" in path:
            names.add(path.split("/resolve/", 1)[1].split("/", 1)[1])
        elif server == "cdn":
            names.add(path.split("file=", 1)[1])
    return names


def snapshot_of(cache: Path, repo_id: str, commit: str) -> Path:
    return cache / ("models--" + repo_id.replace("/", "--")) / "snapshots" / commit


# ---- first download, then the cache --------------------------------------------------------
def test_first_download_then_cached_load_with_the_server_stopped(hub, tmp_path):
    source = make_checkpoint(tmp_path / "src", shards=True)
    commit = hub.publish("org/tiny", source)
    model = polyformer.DistilBertModel.from_pretrained("org/tiny")
    assert_weights_equal(weights_of(source), model._export_canonical(), where="downloaded model")
    # Only what a model needs: config.json, the index and its shards; no tokenizer file.
    shards = {p.name for p in find_weight_files(source)}
    assert downloaded(hub) == {"config.json", "model.safetensors.index.json", *shards}
    # The standard cache layout: snapshot files are symlinks into blobs/, refs/main names the commit.
    cache = tmp_path / "cache"
    snapshot = snapshot_of(cache, "org/tiny", commit)
    assert (cache / "models--org--tiny" / "refs" / "main").read_text() == commit
    assert (snapshot / "config.json").is_symlink() and (snapshot / "config.json").resolve().parent.name == "blobs"
    # Large files went through the CDN redirect, and the Hub was asked for the revision once.
    assert len(hub.requests_for("/blobs/", server="cdn")) == len(shards)
    assert len(hub.requests_for("/api/models/org/tiny/revision/main")) == 1

    tokenizer = polyformer.AutoTokenizer.from_pretrained("org/tiny")
    assert tokenizer("hello world")["input_ids"] == [2, 5, 6, 3]
    # The tokenizer's own files, those the repo has; no weights.
    tokenizer_files = {p.name for p in source.iterdir() if p.name.startswith(("tokenizer", "vocab", "special_tokens"))}
    assert "vocab.txt" in tokenizer_files and "tokenizer.json" in tokenizer_files
    assert downloaded(hub) == {"config.json", "model.safetensors.index.json", *shards, *tokenizer_files}
    assert len(hub.requests_for("/blobs/", server="cdn")) == len(shards)

    hub.stop()  # everything again, from the cache alone
    again = polyformer.DistilBertModel.from_pretrained("org/tiny")
    assert_weights_equal(weights_of(source), again._export_canonical(), where="cached model")
    assert polyformer.AutoTokenizer.from_pretrained("org/tiny")("hello world")["input_ids"] == [2, 5, 6, 3]
    assert polyformer.AutoConfig.from_pretrained("org/tiny").n_layers == SMALL["n_layers"]


@pytest.mark.parametrize("framework", ["torch", "keras", "flax"])
def test_every_framework_downloads_its_model(hub, tmp_path, framework):
    source = make_checkpoint(tmp_path / "src", shards=True, tokenizer=False)
    hub.publish("org/tiny", source)
    model = polyformer.AutoModel.from_pretrained("org/tiny", framework=framework, cache_dir=tmp_path / "own-cache")
    assert type(model).framework == framework
    assert_weights_equal(weights_of(source), model._export_canonical(), where=f"{framework} model")
    assert (tmp_path / "own-cache" / "models--org--tiny").is_dir() and not (tmp_path / "cache").exists()


def test_every_preprocessor_class_downloads_only_its_files(hub, tmp_path):
    from polyformer.models.wav2vec2.feature_extraction import Wav2Vec2FeatureExtractor
    from polyformer.models.wav2vec2.processing import Wav2Vec2Processor
    from polyformer.models.wav2vec2.tokenization import Wav2Vec2CTCTokenizer

    folder = tmp_path / "w2v"
    (tmp_path / "vocab.json").write_text(json.dumps({"<pad>": 0, "<s>": 1, "</s>": 2, "<unk>": 3, "|": 4, "A": 5,
                                                     "B": 6}))
    processor = Wav2Vec2Processor(feature_extractor=Wav2Vec2FeatureExtractor(sampling_rate=8000, padding_value=0.5),
                                  tokenizer=Wav2Vec2CTCTokenizer(tmp_path / "vocab.json"))
    processor.save_pretrained(folder)
    polyformer.Wav2Vec2Config(hidden_size=32, num_attention_heads=4, num_hidden_layers=1,
                              num_conv_pos_embedding_groups=4).save_pretrained(folder)
    (folder / "model.safetensors").write_bytes(b"never downloaded by a preprocessor")
    vit = tmp_path / "vit"
    polyformer.ViTImageProcessor(size={"height": 8, "width": 8}, image_mean=[0.3, 0.3, 0.3]).save_pretrained(vit)
    hub.publish("org/w2v", folder)
    hub.publish("org/vit", vit)

    loaded = polyformer.AutoProcessor.from_pretrained("org/w2v")
    assert type(loaded).__name__ == "Wav2Vec2Processor"
    audio = np.linspace(-1, 1, 40, dtype=np.float32)
    np.testing.assert_array_equal(loaded(audio, sampling_rate=8000)["input_values"][0],
                                  processor(audio, sampling_rate=8000)["input_values"][0])
    assert loaded.tokenizer("AB")["input_ids"] == processor.tokenizer("AB")["input_ids"]
    assert polyformer.AutoFeatureExtractor.from_pretrained("org/w2v").padding_value == 0.5
    assert Wav2Vec2FeatureExtractor.from_pretrained("org/w2v").sampling_rate == 8000
    assert polyformer.AutoConfig.from_pretrained("org/w2v").hidden_size == 32
    image_processor = polyformer.AutoImageProcessor.from_pretrained("org/vit")
    assert image_processor.size == {"height": 8, "width": 8} and image_processor.image_mean == [0.3, 0.3, 0.3]
    assert "model.safetensors" not in downloaded(hub) and not hub.requests_for("/blobs/", server="cdn")


# ---- revisions -------------------------------------------------------------------------------
def test_revision_branch_tag_and_commit(hub, tmp_path, monkeypatch):
    first = make_checkpoint(tmp_path / "v1", seed=1, tokenizer=False)
    second = make_checkpoint(tmp_path / "v2", seed=2, tokenizer=False)
    commit1 = hub.publish("org/tiny", first, tags=("v1",))
    hub.publish("org/tiny", second)
    hub.publish("org/tiny", first, branch="dev")

    def weights(**options):
        return polyformer.DistilBertModel.from_pretrained("org/tiny", **options)._export_canonical()

    assert_weights_equal(weights_of(second), weights(), where="main")
    assert_weights_equal(weights_of(first), weights(revision="v1"), where="tag v1")
    assert_weights_equal(weights_of(first), weights(revision=commit1), where="commit of v1")
    assert_weights_equal(weights_of(first), weights(revision="dev"), where="branch dev")
    with pytest.raises(FileNotFoundError, match=r"'org/tiny' on http://127\.0\.0\.1:\d+ has no revision 'nope'"):
        polyformer.DistilBertConfig.from_pretrained("org/tiny", revision="nope")
    # The cache remembers each name, so each loads offline too.
    hub.stop()
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert_weights_equal(weights_of(first), weights(revision="v1"), where="tag v1, offline")
    assert_weights_equal(weights_of(second), weights(), where="main, offline")


# ---- missing files, gated repos ------------------------------------------------------------
def test_missing_repo_file_and_weights_are_clear_errors(hub, tmp_path):
    source = make_checkpoint(tmp_path / "src")
    config_only = tmp_path / "config-only"
    polyformer.DistilBertConfig(**SMALL).save_pretrained(config_only)
    legacy = tmp_path / "legacy"
    polyformer.DistilBertConfig(**SMALL).save_pretrained(legacy)
    (legacy / "pytorch_model.bin").write_bytes(b"not downloaded just to say it is there")
    hub.publish("org/tiny", source)
    hub.publish("org/config-only", config_only)
    hub.publish("org/legacy", legacy)

    with pytest.raises(HubError, match=r"has no repository 'org/nothing' that an anonymous request can read"):
        polyformer.DistilBertModel.from_pretrained("org/nothing")
    with pytest.raises(FileNotFoundError, match=r"'org/tiny' \(revision 'main'\) on http://127\.0\.0\.1:\d+ has no "
                                                r"file preprocessor_config\.json"):
        polyformer.ViTImageProcessor.from_pretrained("org/tiny")
    readme_only = tmp_path / "readme-only"
    readme_only.mkdir()
    (readme_only / "README.md").write_text("# nothing to load\n")
    hub.publish("org/readme-only", readme_only)
    with pytest.raises(FileNotFoundError, match=r"'org/readme-only' \(revision 'main'\) on http://.* has none of the "
                                                r"files tokenizer_config\.json, config\.json\.$"):
        polyformer.AutoTokenizer.from_pretrained("org/readme-only")
    with pytest.raises(CheckpointError, match=r"no weights in 'org/config-only' \(revision 'main'\) on http://.*"
                                              r"expected model\.safetensors or model\.safetensors\.index\.json\.$"):
        polyformer.DistilBertModel.from_pretrained("org/config-only")
    with pytest.raises(CheckpointError, match=r"no weights in 'org/legacy'.*It has pytorch_model\.bin \(a pickle "
                                              r"file\): pass use_safetensors=False"):
        polyformer.DistilBertModel.from_pretrained("org/legacy")
    assert "pytorch_model.bin" not in downloaded(hub)
    # A shard the index lists but the commit lacks.
    broken = make_checkpoint(tmp_path / "broken", shards=True, tokenizer=False)
    last = find_weight_files(broken)[-1]
    last.unlink()
    hub.publish("org/broken", broken)
    with pytest.raises(FileNotFoundError, match=f"'org/broken' .* has no file {last.name}"):
        polyformer.DistilBertModel.from_pretrained("org/broken")


def test_gated_repo_needs_the_right_token(hub, tmp_path):
    source = make_checkpoint(tmp_path / "src", tokenizer=False)
    hub.publish("org/gated", source)
    hub.repos["org/gated"].gated_token = "hf_right"
    for token in (None, "hf_wrong"):
        with pytest.raises(HubError, match=r"'org/gated' \(revision 'main'\) on http://.* is gated: config\.json can "
                                           r"only be downloaded with a token .* pass token=\.\.\."):
            polyformer.DistilBertModel.from_pretrained("org/gated", token=token)
    assert not (tmp_path / "cache" / "models--org--gated" / "snapshots").exists()
    model = polyformer.DistilBertModel.from_pretrained("org/gated", token="hf_right")
    assert_weights_equal(weights_of(source), model._export_canonical(), where="gated model")
    # The token went to the Hub, never to the CDN the large file was redirected to.
    assert hub.requests_for("/resolve/", server="hub")[-1][3].get("authorization") == "Bearer hf_right"
    cdn = hub.requests_for("/blobs/", server="cdn")
    assert cdn and all("authorization" not in headers for _, _, _, headers in cdn)


def test_private_repo_needs_its_token(hub, tmp_path):
    source = make_checkpoint(tmp_path / "src")
    hub.publish("org/private", source)
    hub.repos["org/private"].private_token = "hf_mine"
    for token, who in ((None, "an anonymous request"), ("hf_other", "this token")):
        with pytest.raises(HubError, match=rf"'org/private' is not a local folder, and http://127\.0\.0\.1:\d+ has no "
                                           rf"repository 'org/private' that {who} can read\. .*private, pass token="):
            polyformer.AutoTokenizer.from_pretrained("org/private", token=token)
    assert not (tmp_path / "cache" / "models--org--private" / "snapshots").exists()
    tokenizer = polyformer.AutoTokenizer.from_pretrained("org/private", token="hf_mine")
    assert tokenizer("hello world")["input_ids"] == [2, 5, 6, 3]
    model = polyformer.DistilBertModel.from_pretrained("org/private", token="hf_mine")
    assert_weights_equal(weights_of(source), model._export_canonical(), where="private model")


def test_safetensors_first_and_the_legacy_file_only_when_asked(hub, tmp_path):
    import torch

    source = make_checkpoint(tmp_path / "src", tokenizer=False)
    tensors = weights_of(source)
    # The legacy copy holds other numbers, so the test sees which file was read.
    torch.save({name: torch.from_numpy(value) + 1 for name, value in tensors.items()}, source / "pytorch_model.bin")
    hub.publish("org/both", source)
    model = polyformer.DistilBertModel.from_pretrained("org/both")
    assert_weights_equal(tensors, model._export_canonical(), where="safetensors first")
    assert downloaded(hub) == {"config.json", "model.safetensors"}
    legacy = polyformer.DistilBertModel.from_pretrained("org/both", use_safetensors=False)
    assert_weights_equal({name: value + 1 for name, value in tensors.items()}, legacy._export_canonical(),
                         where="use_safetensors=False")
    assert downloaded(hub) == {"config.json", "model.safetensors", "pytorch_model.bin"}


# ---- a download that breaks ----------------------------------------------------------------
def _leftovers(cache: Path) -> list[Path]:
    return [p for p in cache.rglob("*") if p.name.endswith(".incomplete")]


def test_server_dropping_mid_file_leaves_no_corrupt_cache_entry(hub, tmp_path):
    import hashlib

    source = make_checkpoint(tmp_path / "src", tokenizer=False)
    commit = hub.publish("org/tiny", source)
    data = (source / "model.safetensors").read_bytes()
    sha256 = hashlib.sha256(data).hexdigest()
    hub.faults[sha256] = "drop"  # half the file, connection closed, then 503 for the retry
    with pytest.raises(HubError, match=r"'org/tiny' \(revision 'main'\) on http://.* answered HTTP 503 for "
                                       r"model\.safetensors .*Nothing was stored in the cache"):
        polyformer.DistilBertModel.from_pretrained("org/tiny")
    cache = tmp_path / "cache"
    blobs = cache / "models--org--tiny" / "blobs"
    assert not (blobs / sha256).exists() and not _leftovers(cache)
    assert not (snapshot_of(cache, "org/tiny", commit) / "model.safetensors").exists()

    hub.faults[sha256] = "drop-once"  # this time huggingface_hub's retry gets the whole file
    model = polyformer.DistilBertModel.from_pretrained("org/tiny")
    assert_weights_equal(weights_of(source), model._export_canonical(), where="after a dropped download")
    assert hashlib.sha256((blobs / sha256).read_bytes()).hexdigest() == sha256 and not _leftovers(cache)


def test_force_download_fetches_again(hub, tmp_path):
    source = make_checkpoint(tmp_path / "src", tokenizer=False)
    commit = hub.publish("org/tiny", source)
    polyformer.DistilBertModel.from_pretrained("org/tiny")
    blob = (snapshot_of(tmp_path / "cache", "org/tiny", commit) / "model.safetensors").resolve()
    blob.write_bytes(b"\0" * 8)  # a damaged cache entry
    with pytest.raises(CheckpointError):
        polyformer.DistilBertModel.from_pretrained("org/tiny")
    fetched = len(hub.requests_for("/blobs/", server="cdn"))
    model = polyformer.DistilBertModel.from_pretrained("org/tiny", force_download=True)
    assert len(hub.requests_for("/blobs/", server="cdn")) == fetched + 1
    assert_weights_equal(weights_of(source), model._export_canonical(), where="after force_download")


@pytest.mark.parametrize("shown", [True, False])
def test_download_progress_bar_follows_the_switch(hub, tmp_path, capsys, shown):
    from huggingface_hub import utils as hf_utils

    from polyformer.core.progress import set_progress_bars

    source = make_checkpoint(tmp_path / "src", tokenizer=False)
    hub.publish("org/tiny", source)
    capsys.readouterr()
    # tests/_torch_oracle.py turns huggingface_hub's bars off for the session (it must stay able to).
    was_disabled = hf_utils.are_progress_bars_disabled()
    hf_utils.enable_progress_bars()
    set_progress_bars(shown)
    try:
        polyformer.DistilBertModel.from_pretrained("org/tiny")
    finally:
        set_progress_bars(None)
        if was_disabled:
            hf_utils.disable_progress_bars()
    err = capsys.readouterr().err
    # huggingface_hub's per-file bar for each downloaded file, and ours for reading the weights.
    assert ("config.json: 100%" in err and "model.safetensors: 100%" in err and "Loading weights" in err) is shown, err
    if not shown:
        assert err == ""


def test_hub_options_of_the_wrong_type_are_clear_errors(tmp_path):
    polyformer.DistilBertConfig(**SMALL).save_pretrained(tmp_path)
    cases = [
        (dict(token=123), "token must be a token string, True/False, or None, got 123 (int)"),
        (dict(cache_dir=7), "cache_dir must be a folder path or None, got 7 (int)"),
        (dict(local_files_only="yes"), "local_files_only must be True or False, got 'yes' (str)"),
        (dict(force_download=None), "force_download must be True or False, got None (NoneType)"),
    ]
    for options, message in cases:
        for load in (polyformer.DistilBertConfig.from_pretrained, polyformer.AutoTokenizer.from_pretrained,
                     polyformer.DistilBertModel.from_pretrained):
            with pytest.raises(TypeError, match=re.escape(message)):
                load("org/tiny", **options)
    with pytest.raises(ValueError, match=r"revision 5 is not a branch, tag or commit name: it is not a string"):
        polyformer.DistilBertConfig.from_pretrained("org/tiny", revision=5)


# ---- offline ---------------------------------------------------------------------------------
def test_offline_mode_reads_the_cache_and_never_the_network(hub, tmp_path, monkeypatch):
    source = make_checkpoint(tmp_path / "src", shards=True)
    hub.publish("org/tiny", source)
    hub.publish("org/other", source)
    polyformer.DistilBertModel.from_pretrained("org/tiny")
    polyformer.DistilBertTokenizerFast.from_pretrained("org/tiny")
    seen = len(hub.requests)

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # the server still runs: no request may reach it
    model = polyformer.DistilBertModel.from_pretrained("org/tiny")
    assert_weights_equal(weights_of(source), model._export_canonical(), where="offline model")
    assert polyformer.DistilBertTokenizerFast.from_pretrained("org/tiny")("hello")["input_ids"] == [2, 5, 3]
    with pytest.raises(NotCachedError, match=r"'org/other' \(revision 'main'\): config\.json is not in the Hugging "
                                             r"Face cache .*downloads are off \(HF_HUB_OFFLINE is set\)"):
        polyformer.DistilBertModel.from_pretrained("org/other")
    for auto in (polyformer.AutoTokenizer, polyformer.AutoImageProcessor, polyformer.AutoProcessor):
        with pytest.raises(NotCachedError, match=r"'org/other' \(revision 'main'\): none of the files .*config\.json "
                                                 r"is not in the Hugging Face cache .*downloads are off"):
            auto.from_pretrained("org/other")
    assert len(hub.requests) == seen

    monkeypatch.delenv("HF_HUB_OFFLINE")  # local_files_only=True is the same, for one call
    assert polyformer.DistilBertConfig.from_pretrained("org/tiny", local_files_only=True).dim == SMALL["dim"]
    with pytest.raises(NotCachedError, match=r"downloads are off \(local_files_only=True\)"):
        polyformer.DistilBertConfig.from_pretrained("org/other", local_files_only=True)
    with pytest.raises(ValueError, match="force_download=True cannot download 'org/tiny' while downloads are off"):
        polyformer.DistilBertConfig.from_pretrained("org/tiny", local_files_only=True, force_download=True)
    assert len(hub.requests) == seen


def test_unreachable_hub_falls_back_to_the_cache_at_once(hub, tmp_path):
    source = make_checkpoint(tmp_path / "src")
    hub.publish("org/tiny", source)
    polyformer.AutoTokenizer.from_pretrained("org/tiny")
    # A Hub that answers 503: one request (the revision), then the cache, with no request per file.
    hub.down = True
    before = len(hub.requests)
    assert polyformer.DistilBertTokenizerFast.from_pretrained("org/tiny")("world")["input_ids"] == [2, 6, 3]
    assert [(server, method, path.split("?")[0]) for server, method, path, _ in hub.requests[before:]] == [
        ("hub", "GET", "/api/models/org/tiny/revision/main")]
    with pytest.raises(NotCachedError, match=r"'org/tiny' \(revision 'main'\): config\.json is not in the Hugging "
                                             r"Face cache .*http://127\.0\.0\.1:\d+ cannot be reached \(.*503"):
        polyformer.DistilBertModel.from_pretrained("org/tiny")
    # A Hub that refuses connections (stopped): the same, from the cache.
    hub.stop()
    assert polyformer.DistilBertTokenizerFast.from_pretrained("org/tiny")("world")["input_ids"] == [2, 6, 3]
    with pytest.raises(NotCachedError, match=r"'org/tiny' \(revision 'main'\): config\.json is not in the Hugging "
                                             r"Face cache .*http://127\.0\.0\.1:\d+ cannot be reached"):
        polyformer.DistilBertModel.from_pretrained("org/tiny")


# ---- the cache is shared with transformers -------------------------------------------------
def test_transformers_loads_what_polyformer_downloaded(hub, tmp_path):
    import torch

    transformers = pytest.importorskip("transformers")
    source = make_checkpoint(tmp_path / "src", shards=True)
    hub.publish("org/tiny", source)
    ours = polyformer.DistilBertModel.from_pretrained("org/tiny")
    polyformer.DistilBertTokenizerFast.from_pretrained("org/tiny")
    hub.stop()
    theirs = transformers.DistilBertModel.from_pretrained("org/tiny", cache_dir=tmp_path / "cache",
                                                          local_files_only=True)
    tokenizer = transformers.AutoTokenizer.from_pretrained("org/tiny", cache_dir=tmp_path / "cache",
                                                           local_files_only=True)
    assert tokenizer("hello world")["input_ids"] == [2, 5, 6, 3]
    assert_weights_equal({k: v.numpy() for k, v in ours.state_dict().items()},
                         {k: v.numpy() for k, v in theirs.state_dict().items() if k in ours.state_dict()},
                         where="transformers from polyformer's download")


def test_polyformer_loads_offline_what_transformers_downloaded(hub, tmp_path, monkeypatch):
    pytest.importorskip("transformers")
    source = make_checkpoint(tmp_path / "src", shards=True)
    hub.publish("org/tiny", source)
    code = ("import transformers\n"
            "transformers.DistilBertModel.from_pretrained('org/tiny')\n"
            "print(transformers.AutoTokenizer.from_pretrained('org/tiny')('hello world')['input_ids'])\n")
    env = dict(os.environ, HF_HOME=str(tmp_path / "hf-home"), HF_HUB_DISABLE_PROGRESS_BARS="1")
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().splitlines()[-1] == "[2, 5, 6, 3]"
    assert downloaded(hub) >= {"config.json", "model.safetensors.index.json", "vocab.txt"}
    hub.stop()
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    model = polyformer.DistilBertModel.from_pretrained("org/tiny")
    assert_weights_equal(weights_of(source), model._export_canonical(), where="polyformer from transformers' download")
    assert polyformer.DistilBertTokenizerFast.from_pretrained("org/tiny")("hello world")["input_ids"] == [2, 5, 6, 3]


# ---- download(): what `polyformer download` calls ------------------------------------------
def test_download_fetches_what_polyformer_loads(hub, tmp_path, monkeypatch):
    source = make_checkpoint(tmp_path / "src", shards=True)
    (source / "README.md").write_text("# tiny\n")
    (source / "pytorch_model.bin").write_bytes(b"legacy copy, not needed")
    commit = hub.publish("org/tiny", source)
    folder = download("org/tiny", filenames=["README.md"])
    assert folder == snapshot_of(tmp_path / "cache", "org/tiny", commit)
    expected = {"config.json", "model.safetensors.index.json", "tokenizer.json", "vocab.txt", "tokenizer_config.json",
                "special_tokens_map.json", "README.md", *(p.name for p in find_weight_files(source))}
    assert {p.name for p in folder.iterdir()} == expected == downloaded(hub)
    hub.stop()
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert_weights_equal(weights_of(source), polyformer.DistilBertModel.from_pretrained("org/tiny")._export_canonical())
    with pytest.raises(ValueError, match="repo_id must be a hub id such as 'org/name', got '../x'"):
        download("../x")
