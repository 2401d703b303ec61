"""A save is all-or-nothing: killed at any step, a folder loads as the old save or the new one, or refuses.

The kill tests run a real save in a child process (``tests/_save_child.py``, or
``polyformer convert``) that SIGKILLs itself at the k-th step of the commit
(``POLYFORMER_TEST_KILL_AT_COMMIT_STEP``, see ``polyformer/core/io.py``). After each
kill the folder must load as exactly the old files or exactly the new ones, or every
loader must refuse it with InterruptedSaveError; and the next save into it must leave
exactly its own files, with no journal or temporary file behind.

Every step is killed for ``polyformer convert``, the PyTorch model save, the tokenizer
and the processor. Keras and Flax share that commit code after exporting their
weights, so they are killed at one step of each outcome (old, refused, new), in both
directions, which keeps their interpreter start-ups (seconds each) few.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

import polyformer
from polyformer.core.checkpoint import find_weight_files, load_tensors
from polyformer.core.io import (
    JOURNAL_NAME,
    KILL_AT_STEP_ENV,
    InterruptedSaveError,
    complete_interrupted_save,
    folder_transaction,
)

pytestmark = pytest.mark.skipif(os.name != "posix", reason="the kill tests use SIGKILL")

CHILD = Path(__file__).with_name("_save_child.py")
SMALL = dict(vocab_size=64, dim=16, hidden_dim=32, n_layers=1, n_heads=2, max_position_embeddings=16)
SHARDED = "6KB"  # the tiny model (~14 kB of weights) in 3 shards
SINGLE = "1GB"


# ---- helpers ---------------------------------------------------------------------------
def _hidden(relative: Path) -> bool:
    return any(part.startswith(".") for part in relative.parts)


def visible_files(folder: Path) -> dict[str, bytes]:
    """What a loader can see: every file outside the hidden journal / staging folders, with its bytes."""
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and not _hidden(p.relative_to(folder))}


def hidden_files(folder: Path) -> list[str]:
    """Journal, staging folders and whatever is in them."""
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if _hidden(p.relative_to(folder)))


def run_child(spec: dict, jobs: list[tuple[Path, int]], timeout: int = 600) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if key != KILL_AT_STEP_ENV}
    command = [sys.executable, str(CHILD), json.dumps(spec), *(f"{folder}:{k}" for folder, k in jobs)]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout)


def finished_steps(result: subprocess.CompletedProcess) -> int:
    """The number of commit steps a save that was not killed took."""
    assert result.returncode == 0, result.stderr[-3000:]
    return int(next(line for line in result.stdout.splitlines() if line.startswith("steps:")).split()[1])


def copy_folder(source: Path, destination: Path) -> Path:
    shutil.copytree(source, destination, symlinks=True)
    return destination


class Scenario:
    """One kind of save over one old folder, and how to check what a kill left."""

    def __init__(self, old: Path, spec: dict, load, next_save):
        self.old = old  # the folder before the save
        self.spec = spec  # what the child saves (see tests/_save_child.py)
        self.load = load  # folder -> None; must raise InterruptedSaveError on an unfinished save
        self.next_save = next_save  # folder -> None: a save of the new files, in this process


def kill_saves(spec: dict, jobs: list[tuple[Path, int]]) -> None:
    """Run each save, killed at its step: forked from one child where that is safe, else one child each."""
    if spec.get("fork"):
        result = run_child(spec, jobs)
        assert result.returncode == 0, result.stderr[-3000:]
        for folder, k in jobs:
            assert f"job {folder}: killed" in result.stdout, f"step {k}: not killed\n{result.stdout}{result.stderr[-3000:]}"
        return
    with ThreadPoolExecutor(max_workers=2) as pool:  # independent children: two at a time
        results = list(pool.map(lambda job: run_child(spec, [job]), jobs))
    for (folder, k), result in zip(jobs, results):
        assert result.returncode == -signal.SIGKILL, f"step {k}: {result.returncode} {result.stderr[-3000:]}"


def sweep(scenario: Scenario, root: Path, points=None) -> set[str]:
    """Kill the save at each of ``points`` (default: every step); check each folder. Returns the outcomes seen."""
    root.mkdir()
    reference = copy_folder(scenario.old, root / "reference")
    steps = finished_steps(run_child({**scenario.spec, "fork": False}, [(reference, 10**9)]))
    old, new = visible_files(scenario.old), visible_files(reference)
    assert old != new and not hidden_files(reference)
    after_next = copy_folder(scenario.old, root / "after-next")
    scenario.next_save(after_next)
    expected_after_next = visible_files(after_next)

    points = list(range(1, steps + 1)) if points is None else [p(steps) if callable(p) else p for p in points]
    jobs = [(copy_folder(scenario.old, root / f"kill-{k}"), k) for k in points]
    kill_saves(scenario.spec, jobs)

    outcomes = set()
    for folder, k in jobs:
        try:
            scenario.load(folder)
        except InterruptedSaveError as exc:
            assert (folder / JOURNAL_NAME).is_file(), f"step {k}: refused without a journal"
            assert str(folder) in str(exc) and "interrupted" in str(exc)
            outcomes.add("refused")
        else:
            state = visible_files(folder)
            assert state in (old, new), f"step {k}: the folder mixes the two saves: {sorted(state)}"
            outcomes.add("old" if state == old else "new")
        scenario.next_save(folder)
        assert visible_files(folder) == expected_after_next, f"step {k}: the next save did not leave its own files"
        assert hidden_files(folder) == [], f"step {k}: leftovers after the next save: {hidden_files(folder)}"
    return outcomes


# ---- the checkpoints the saves go between ---------------------------------------------------
@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    torch = pytest.importorskip("torch")
    root = tmp_path_factory.mktemp("checkpoints")
    models = {}
    for seed in (0, 1):
        torch.manual_seed(seed)
        models[seed] = polyformer.DistilBertModel(polyformer.DistilBertConfig(**SMALL))
    models[0].save_pretrained(root / "old-single", max_shard_size=SINGLE)
    models[0].save_pretrained(root / "old-sharded", max_shard_size=SHARDED)
    models[1].save_pretrained(root / "new-source", max_shard_size=SINGLE)
    assert len(find_weight_files(root / "old-sharded")) == 3
    return root


def model_scenario(checkpoints: Path, framework: str, old: str, max_shard_size: str) -> Scenario:
    source = checkpoints / "new-source"

    def next_save(folder: Path) -> None:
        polyformer.DistilBertModel.from_pretrained(source).save_pretrained(folder, max_shard_size=max_shard_size)

    return Scenario(
        checkpoints / old,
        {"kind": "model", "source": str(source), "framework": framework, "max_shard_size": max_shard_size,
         "fork": framework == "torch"},
        lambda folder: polyformer.DistilBertModel.from_pretrained(folder),
        next_save,
    )


DIRECTIONS = [("old-single", SHARDED), ("old-sharded", SINGLE)]


@pytest.mark.parametrize("old, max_shard_size", DIRECTIONS, ids=["single-to-sharded", "sharded-to-single"])
def test_torch_save_killed_at_every_step(checkpoints, tmp_path, old, max_shard_size):
    outcomes = sweep(model_scenario(checkpoints, "torch", old, max_shard_size), tmp_path / "sweep")
    assert outcomes == {"old", "refused", "new"}


# One kill per outcome: after the first temporary file (old), after the first rename
# (refused), after the journal is removed (new). The journal is placed at step
# files + 3 (files written, commit start, journal temporary file), and the last step is
# the journal's removal.
def _files_written(old: str, max_shard_size: str) -> int:
    return (3 + 1 if max_shard_size == SHARDED else 1) + 1  # weights (+ index) + config.json


@pytest.mark.parametrize("framework", ["keras", "flax"])
@pytest.mark.parametrize("old, max_shard_size", DIRECTIONS, ids=["single-to-sharded", "sharded-to-single"])
def test_keras_and_flax_saves_killed_at_each_kind_of_step(checkpoints, tmp_path, framework, old, max_shard_size):
    pytest.importorskip({"keras": "keras", "flax": "flax"}[framework])
    journal_step = _files_written(old, max_shard_size) + 3
    points = [2, journal_step + 1, lambda steps: steps]
    outcomes = sweep(model_scenario(checkpoints, framework, old, max_shard_size), tmp_path / "sweep", points)
    assert outcomes == {"old", "refused", "new"}


@pytest.mark.parametrize("old, max_shard_size", DIRECTIONS, ids=["single-to-sharded", "sharded-to-single"])
def test_convert_killed_at_every_step(checkpoints, tmp_path, old, max_shard_size):
    from polyformer.core.convert import convert_checkpoint

    source = copy_folder(checkpoints / "new-source", tmp_path / "source")
    (source / "vocab.txt").write_text("[PAD]\n[UNK]\n", encoding="utf-8")  # other files ride along in the commit
    scenario = Scenario(
        checkpoints / old,
        {"kind": "convert", "source": str(source), "max_shard_size": max_shard_size, "fork": True},
        lambda folder: (polyformer.DistilBertConfig.from_pretrained(folder), load_tensors(find_weight_files(folder))),
        lambda folder: convert_checkpoint(source, folder, max_shard_size=max_shard_size),
    )
    assert sweep(scenario, tmp_path / "sweep") == {"old", "refused", "new"}


def test_tokenizer_save_killed_at_every_step(tmp_path):
    from polyformer import AutoTokenizer, DistilBertTokenizerFast

    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "hello", "world", "the"]
    (tmp_path / "vocab-old.txt").write_text("\n".join(words) + "\n", encoding="utf-8")
    (tmp_path / "vocab-new.txt").write_text("\n".join(words + ["model", "##s"]) + "\n", encoding="utf-8")
    old = DistilBertTokenizerFast(vocab_file=str(tmp_path / "vocab-old.txt"))
    old.add_tokens(["[NEW1]"])  # beyond the vocabulary: the old save has added_tokens.json, the new one does not
    old.save_pretrained(tmp_path / "old")
    assert (tmp_path / "old" / "added_tokens.json").is_file()
    DistilBertTokenizerFast(vocab_file=str(tmp_path / "vocab-new.txt")).save_pretrained(tmp_path / "new-source")
    source = tmp_path / "new-source"
    scenario = Scenario(
        tmp_path / "old",
        {"kind": "tokenizer", "source": str(source), "fork": True},
        lambda folder: AutoTokenizer.from_pretrained(folder),
        lambda folder: AutoTokenizer.from_pretrained(source).save_pretrained(folder),
    )
    assert sweep(scenario, tmp_path / "sweep") == {"old", "refused", "new"}


def test_processor_save_killed_at_every_step(tmp_path):
    from polyformer.models.wav2vec2.feature_extraction import Wav2Vec2FeatureExtractor
    from polyformer.models.wav2vec2.processing import Wav2Vec2Processor
    from polyformer.models.wav2vec2.tokenization import Wav2Vec2CTCTokenizer

    for name, letters, rate in (("old", "ABC", 16000), ("new-source", "ABCDE", 8000)):
        vocab = {"<pad>": 0, "<s>": 1, "</s>": 2, "<unk>": 3, "|": 4, **{c: 5 + i for i, c in enumerate(letters)}}
        (tmp_path / f"{name}.json").write_text(json.dumps(vocab), encoding="utf-8")
        processor = Wav2Vec2Processor(feature_extractor=Wav2Vec2FeatureExtractor(sampling_rate=rate),
                                      tokenizer=Wav2Vec2CTCTokenizer(tmp_path / f"{name}.json"))
        processor.save_pretrained(tmp_path / name)
    source = tmp_path / "new-source"
    scenario = Scenario(
        tmp_path / "old",
        {"kind": "processor", "source": str(source), "fork": True},
        lambda folder: polyformer.AutoProcessor.from_pretrained(folder),
        lambda folder: Wav2Vec2Processor.from_pretrained(source).save_pretrained(folder),
    )
    assert sweep(scenario, tmp_path / "sweep") == {"old", "refused", "new"}


def test_random_time_kills_of_a_real_save(tmp_path):
    """SIGKILL from outside at random moments of a ~40 MB sharded save over a single-file one."""
    torch = pytest.importorskip("torch")
    config = polyformer.DistilBertConfig(vocab_size=8000, dim=256, hidden_dim=1024, n_layers=4, n_heads=4)
    torch.manual_seed(0)
    polyformer.DistilBertModel(config).save_pretrained(tmp_path / "old")
    torch.manual_seed(1)
    polyformer.DistilBertModel(config).save_pretrained(tmp_path / "source")
    spec = {"kind": "model", "source": str(tmp_path / "source"), "framework": "torch", "max_shard_size": "10MB"}

    reference = copy_folder(tmp_path / "old", tmp_path / "reference")
    result = run_child(spec, [(reference, 10**9)])
    assert result.returncode == 0, result.stderr[-3000:]
    duration = float(next(line for line in result.stdout.splitlines() if line.startswith("seconds:")).split()[1])
    old, new = visible_files(tmp_path / "old"), visible_files(reference)
    assert len(new) > 4  # shards, index, config

    rng = random.Random(0)
    for attempt in range(4):
        folder = copy_folder(tmp_path / "old", tmp_path / f"kill-{attempt}")
        command = [sys.executable, str(CHILD), json.dumps(spec), f"{folder}:0"]  # step 0: never killed from inside
        child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        assert child.stdout.readline().strip() == "saving"
        time.sleep(rng.uniform(0, duration))
        child.send_signal(signal.SIGKILL)
        child.communicate(timeout=60)
        try:
            polyformer.DistilBertModel.from_pretrained(folder)
        except InterruptedSaveError:
            assert (folder / JOURNAL_NAME).is_file()
        else:
            assert visible_files(folder) in (old, new), "the folder mixes the two saves"
        polyformer.DistilBertModel.from_pretrained(tmp_path / "source").save_pretrained(folder, max_shard_size="10MB")
        assert hidden_files(folder) == []
        assert visible_files(folder) == new


# ---- the journal, directly ---------------------------------------------------------------
def _interrupted_model_save(checkpoints: Path, folder: Path, after_renames: int) -> Path:
    """An old single-file folder whose sharded save was killed after ``after_renames`` renames."""
    copy_folder(checkpoints / "old-single", folder)
    journal_step = _files_written("old-single", SHARDED) + 3
    spec = {**model_scenario(checkpoints, "torch", "old-single", SHARDED).spec, "fork": False}
    result = run_child(spec, [(folder, journal_step + after_renames)])
    assert result.returncode == -signal.SIGKILL and (folder / JOURNAL_NAME).is_file()
    return folder


def test_every_loader_refuses_an_unfinished_save(checkpoints, tmp_path):
    from polyformer.core.convert import convert_checkpoint

    folder = _interrupted_model_save(checkpoints, tmp_path / "ckpt", after_renames=2)
    (folder / "sub").mkdir()
    loaders = [
        lambda: polyformer.AutoConfig.from_pretrained(folder),
        lambda: polyformer.DistilBertConfig.from_pretrained(folder / "config.json"),
        lambda: polyformer.DistilBertModel.from_pretrained(folder),
        lambda: polyformer.AutoModel.from_pretrained(folder, framework="torch"),
        lambda: polyformer.DistilBertModel.from_pretrained(checkpoints / "old-single", config=folder),
        lambda: find_weight_files(folder),
        lambda: polyformer.DistilBertTokenizerFast.from_pretrained(folder),
        lambda: polyformer.DistilBertTokenizer.from_pretrained(folder / "vocab.txt"),
        lambda: polyformer.AutoFeatureExtractor.from_pretrained(folder),
        lambda: polyformer.ViTImageProcessor.from_pretrained(folder),
        lambda: polyformer.AutoProcessor.from_pretrained(folder),
        lambda: convert_checkpoint(folder, tmp_path / "converted"),
        lambda: polyformer.DistilBertTokenizerFast.from_pretrained(folder / "sub"),  # the journal is one level up
    ]
    (folder / "vocab.txt").write_text("[PAD]\n[UNK]\n", encoding="utf-8")
    for load in loaders:
        with pytest.raises(InterruptedSaveError, match="interrupted.*complete_interrupted_save"):
            load()
    result = subprocess.run([sys.executable, "-m", "polyformer", "inspect", str(folder)], capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 2 and "unfinished save" in result.stderr and "Traceback" not in result.stderr


def test_complete_interrupted_save_finishes_it(checkpoints, tmp_path):
    reference = copy_folder(checkpoints / "old-single", tmp_path / "reference")
    polyformer.DistilBertModel.from_pretrained(checkpoints / "new-source").save_pretrained(reference, max_shard_size=SHARDED)
    folder = _interrupted_model_save(checkpoints, tmp_path / "ckpt", after_renames=1)
    assert visible_files(folder) not in (visible_files(checkpoints / "old-single"), visible_files(reference))
    assert complete_interrupted_save(folder) is True
    assert visible_files(folder) == visible_files(reference) and hidden_files(folder) == []
    assert complete_interrupted_save(folder) is False
    polyformer.DistilBertModel.from_pretrained(folder)


def test_a_killed_recovery_can_be_resumed(checkpoints, tmp_path):
    """Finishing an interrupted commit is itself interruptible: it is idempotent."""
    reference = copy_folder(checkpoints / "old-single", tmp_path / "reference")
    polyformer.DistilBertModel.from_pretrained(checkpoints / "new-source").save_pretrained(reference, max_shard_size=SHARDED)
    folder = _interrupted_model_save(checkpoints, tmp_path / "ckpt", after_renames=1)
    code = ("import os, sys; from polyformer.core import io; os.environ[io.KILL_AT_STEP_ENV] = '2'; "
            "io.complete_interrupted_save(sys.argv[1])")  # killed at its second rename step
    result = subprocess.run([sys.executable, "-c", code, str(folder)], capture_output=True, text=True, timeout=120)
    assert result.returncode == -signal.SIGKILL and (folder / JOURNAL_NAME).is_file()
    with pytest.raises(InterruptedSaveError):
        polyformer.DistilBertModel.from_pretrained(folder)
    assert complete_interrupted_save(folder) is True
    assert visible_files(folder) == visible_files(reference) and hidden_files(folder) == []


def test_a_failed_save_keeps_the_old_files_and_leaves_nothing(checkpoints, tmp_path):
    folder = copy_folder(checkpoints / "old-sharded", tmp_path / "ckpt")
    before = visible_files(folder)

    class Boom(Exception):
        pass

    with pytest.raises(Boom):
        with folder_transaction(folder) as transaction:
            transaction.write_text(folder / "config.json", "{}")
            transaction.remove(folder / "model.safetensors.index.json")
            raise Boom()
    assert visible_files(folder) == before and hidden_files(folder) == []
    with pytest.raises(Boom), folder_transaction(tmp_path / "fresh"):
        raise Boom()
    assert not (tmp_path / "fresh").exists()


def test_stale_staging_folders_are_removed_by_the_next_save(checkpoints, tmp_path):
    folder = copy_folder(checkpoints / "old-single", tmp_path / "ckpt")
    stale = folder / ".polyformer-staging-0123abcd"
    stale.mkdir()
    (stale / "model.safetensors").write_bytes(b"half a shard")
    (stale / ".tmpXy12Ab").write_bytes(b"a writer's own temporary file")
    unrelated = folder / ".keep-me.tmp"
    unrelated.write_bytes(b"not ours")
    polyformer.DistilBertConfig(**SMALL).save_pretrained(folder)
    assert not stale.exists() and unrelated.exists()
    assert hidden_files(folder) == [".keep-me.tmp"]


def test_a_processor_commits_its_parts_in_one_journal(tmp_path, monkeypatch):
    """Parts saved by nested save_pretrained calls join the processor's commit: one journal, all files."""
    from polyformer.core import io
    from polyformer.models.wav2vec2.feature_extraction import Wav2Vec2FeatureExtractor
    from polyformer.models.wav2vec2.processing import Wav2Vec2Processor
    from polyformer.models.wav2vec2.tokenization import Wav2Vec2CTCTokenizer

    (tmp_path / "vocab.json").write_text(json.dumps({"<pad>": 0, "<s>": 1, "</s>": 2, "<unk>": 3, "|": 4, "A": 5}))
    processor = Wav2Vec2Processor(feature_extractor=Wav2Vec2FeatureExtractor(),
                                  tokenizer=Wav2Vec2CTCTokenizer(tmp_path / "vocab.json"))
    journals = []
    real_replace = os.replace

    def spy(source, target):
        if Path(target).name == JOURNAL_NAME:
            journals.append(json.loads(Path(source).read_text()))
        real_replace(source, target)

    monkeypatch.setattr(io.os, "replace", spy)
    processor.save_pretrained(tmp_path / "saved")
    assert len(journals) == 1
    assert {final for _, final in journals[0]["renames"]} == set(visible_files(tmp_path / "saved"))


def test_saves_write_the_usual_file_names_only(checkpoints, tmp_path):
    """transformers reads these folders: no extra file is left beside the Hugging Face names."""
    polyformer.DistilBertModel.from_pretrained(checkpoints / "new-source").save_pretrained(tmp_path, max_shard_size=SHARDED)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "config.json", "model-00001-of-00003.safetensors", "model-00002-of-00003.safetensors",
        "model-00003-of-00003.safetensors", "model.safetensors.index.json"]
    loaded = load_tensors(find_weight_files(tmp_path))
    source = load_tensors(find_weight_files(checkpoints / "new-source"))
    assert loaded.keys() == source.keys() and all(np.array_equal(loaded[k], source[k]) for k in source)


def test_saved_files_get_the_usual_permissions(checkpoints, tmp_path):
    """safetensors writes through its own private (0600) temporary file; the saved file is 0666 less the umask."""
    probe = tmp_path / "probe"
    probe.touch()  # created with 0666 less the umask
    expected = probe.stat().st_mode & 0o777
    folder = tmp_path / "saved"
    polyformer.DistilBertModel.from_pretrained(checkpoints / "new-source").save_pretrained(folder, max_shard_size=SHARDED)
    assert {p.name: p.stat().st_mode & 0o777 for p in folder.iterdir()} == {p.name: expected for p in folder.iterdir()}


def test_concurrent_saves_into_one_folder_take_turns(checkpoints, tmp_path):
    """Two threads saving different checkpoints into one folder: each commit is whole, nothing is left behind.

    Without the folder lock, one save would delete the other's staging folder mid-write.
    """
    old = polyformer.DistilBertModel.from_pretrained(checkpoints / "old-single")
    new = polyformer.DistilBertModel.from_pretrained(checkpoints / "new-source")
    expected = {}
    for name, model, size in (("old", old, SINGLE), ("new", new, SHARDED)):
        model.save_pretrained(tmp_path / name, max_shard_size=size)
        expected[name] = visible_files(tmp_path / name)
    folder = tmp_path / "shared"

    def save_repeatedly(model, size):
        for _ in range(5):
            model.save_pretrained(folder, max_shard_size=size)

    with ThreadPoolExecutor(max_workers=2) as pool:
        for future in [pool.submit(save_repeatedly, old, SINGLE), pool.submit(save_repeatedly, new, SHARDED)]:
            future.result()
    assert visible_files(folder) in (expected["old"], expected["new"]) and hidden_files(folder) == []
