"""Every code block of the seed guide runs with ``transformers`` replaced by ``polyformer``.

The guide (``tests/data/seed_guide.txt``, a copy of ``shared/seed/``) is the Korean
"create a custom architecture" page of the transformers docs, flattened to one line.
Its blocks are doctest-style: ``>>> statement`` pieces, some followed by printed
output. Blocks run in order in one namespace, in a temporary working folder where a
local folder named ``distilbert-base-uncased`` (a tiny checkpoint and vocabulary saved
by ``transformers``) stands in for the hub name. Printed configs are compared as JSON,
with our ``polyformer_version`` key in place of ``transformers_version``.
"""

import contextlib
import io
import json
import os
import re
import shutil
from pathlib import Path

import pytest

GUIDE = Path(__file__).parent / "data" / "seed_guide.txt"
SHARED_GUIDE = Path(__file__).resolve().parents[2] / "shared" / "seed" / "000_be38e43da7604d9e.txt"

def _blocks() -> list[str]:
    return re.findall(r"```py (.*?)```", GUIDE.read_text(encoding="utf-8"), re.S)


def _split(block: str) -> list[tuple[str, str]]:
    """``(statement, expected output)`` pairs of one flattened block."""
    pairs = []
    for piece in [p.strip() for p in block.split(">>> ") if p.strip()]:
        statement, output = piece, ""
        try:
            compile(piece, "<guide>", "exec")
        except SyntaxError:
            for end in [m.end() for m in re.finditer(r"\)", piece)]:
                try:
                    compile(piece[:end], "<guide>", "exec")
                except SyntaxError:
                    continue
                statement, output = piece[:end], piece[end:].strip()
                break
            else:
                raise
        pairs.append((statement.replace("transformers", "polyformer"), output))
    return pairs


def _printed_object(text: str) -> tuple[str, dict]:
    name, _, body = text.strip().partition(" ")
    return name, json.loads(body)


def test_guide_copy_is_current():
    if SHARED_GUIDE.is_file():
        assert GUIDE.read_text(encoding="utf-8") == SHARED_GUIDE.read_text(encoding="utf-8")


def test_guide_has_the_expected_blocks():
    blocks = _blocks()
    assert len(blocks) == 25
    assert all(_split(block) for block in blocks)


@pytest.fixture(scope="module")
def guide_env(tmp_path_factory):
    """A working folder with the stand-in checkpoint, and a namespace shared by all blocks."""
    transformers = pytest.importorskip("transformers")
    import torch

    work = tmp_path_factory.mktemp("guide")
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + list("abcdefghijklmnopqrstuvwxyz") + [
        "hello", "world", "the", "model", "##s", "##ing", ".", ",", "!", "?"]
    (work / "my_vocab_file.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    torch.manual_seed(0)
    config = transformers.DistilBertConfig(vocab_size=len(vocab), dim=32, hidden_dim=64, n_layers=2, n_heads=4,
                                           max_position_embeddings=64)
    standin = work / "distilbert-base-uncased"
    transformers.DistilBertForMaskedLM(config).save_pretrained(standin)
    shutil.copy(work / "my_vocab_file.txt", standin / "vocab.txt")
    # transformers builds its tokenizer from vocab.txt and adds its own files (tokenizer.json, configs).
    transformers.DistilBertTokenizer.from_pretrained(standin).save_pretrained(standin)
    old = os.getcwd()
    os.chdir(work)
    try:
        yield {"namespace": {}, "work": work}
    finally:
        os.chdir(old)


@pytest.mark.parametrize("index", range(25))
def test_guide_block(index, guide_env):
    block = _blocks()[index]
    if "TFDistilBert" in block:
        pytest.importorskip("tensorflow")
        pytest.importorskip("keras")
    if "my_config.json" in block:
        # The guide reads ./your_model_save_path/my_config.json but saved config.json
        # in an earlier block; we provide the file it expects.
        shutil.copy(guide_env["work"] / "your_model_save_path" / "config.json",
                    guide_env["work"] / "your_model_save_path" / "my_config.json")
    namespace = guide_env["namespace"]
    for statement, expected in _split(block):
        buffer = io.StringIO()
        with contextlib.redirect_stdout(buffer):
            exec(compile(statement, f"<guide block {index}>", "exec"), namespace)  # noqa: S102
        if expected:
            got_name, got = _printed_object(buffer.getvalue())
            want_name, want = _printed_object(expected)
            assert got_name == want_name
            if "transformers_version" in want:  # configs carry the library's version key; ours is polyformer's
                want.pop("transformers_version")
                assert got.pop("polyformer_version")
            assert got == want


def test_guide_results(guide_env):
    """What the blocks built is what the guide says they build."""
    namespace = guide_env["namespace"]
    if "model" not in namespace:
        pytest.skip("the model blocks did not run")
    assert type(namespace["my_config"]).__name__ == "DistilBertConfig"
    assert namespace["my_config"].activation == "relu" and namespace["my_config"].attention_dropout == 0.4
    assert type(namespace["model"]).__name__ == "DistilBertForQuestionAnswering"
    assert namespace["my_tokenizer"].padding_side == "left"
    assert namespace["slow_tokenizer"]("hello world")["input_ids"] == namespace["fast_tokenizer"]("hello world")["input_ids"]
    assert type(namespace["tf_model"]).__name__ == "TFDistilBertForQuestionAnswering"
    assert namespace["my_vit_extractor"].do_normalize is False and namespace["my_vit_extractor"].image_mean == [0.3] * 3
    processor = namespace["processor"]
    assert processor.feature_extractor.padding_value == 1.0 and processor.tokenizer is namespace["tokenizer"]
    assert processor(audio=[0.1, 0.2, 0.3], sampling_rate=16000, return_tensors="np")["input_values"].shape == (1, 3)
