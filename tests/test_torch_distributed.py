"""polyformer models under torch.distributed: DDP and FSDP2 train like one process; sharded save and load.

Two processes (``torch.multiprocessing.spawn``, gloo on CPU) run once for the whole module
(``tests/_distributed_torch_worker.py``); each test checks one of their results against a
single process over the same global batch, or against the checkpoint they started from.
"""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
import torch.distributed as dist  # noqa: E402

from polyformer import (  # noqa: E402
    DistilBertConfig,
    DistilBertForMaskedLM,
    DistilBertForSequenceClassification,
    DistilBertModel,
)
from polyformer.core.checkpoint import find_weight_files, load_tensors  # noqa: E402

WORKER = Path(__file__).with_name("_distributed_torch_worker.py")
sys.path.insert(0, str(WORKER.parent))
from _distributed_torch_worker import sgd_step  # noqa: E402

pytestmark = pytest.mark.skipif(not dist.is_available(), reason="torch.distributed is not available")


def tiny_config() -> DistilBertConfig:
    # No dropout: a step must be a function of the weights and the batch alone.
    return DistilBertConfig(vocab_size=99, dim=32, n_layers=2, n_heads=4, hidden_dim=37, max_position_embeddings=64,
                            dropout=0.0, attention_dropout=0.0, seq_classif_dropout=0.0, num_labels=3)


def free_port() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return str(sock.getsockname()[1])


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The checkpoint, the global batch, and what the two processes saved from them."""
    folder = tmp_path_factory.mktemp("distributed")
    torch.manual_seed(0)
    DistilBertForSequenceClassification(tiny_config()).save_pretrained(folder / "init")
    generator = torch.Generator().manual_seed(1)
    mask = torch.ones(4, 8, dtype=torch.long)
    mask[1, 5:] = 0  # a padded row, so masking takes part
    batch = {"input_ids": torch.randint(1, 99, (4, 8), generator=generator), "attention_mask": mask,
             "labels": torch.tensor([0, 2, 1, 2])}
    torch.save(batch, folder / "batch.pt")
    DistilBertModel(tiny_config()).save_pretrained(folder / "base")
    DistilBertForMaskedLM(tiny_config()).save_pretrained(folder / "masked_lm")
    result = subprocess.run([sys.executable, str(WORKER), str(folder), free_port()], capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stderr[-5000:]
    return folder, batch


def weights(folder: Path) -> dict[str, np.ndarray]:
    return {name: tensor.float().numpy() for name, tensor in load_tensors(find_weight_files(folder), "pt").items()}


def one_process_step(folder: Path, batch) -> dict[str, np.ndarray]:
    model = DistilBertForSequenceClassification.from_pretrained(folder / "init")
    sgd_step(model, batch)
    return {name: p.detach().numpy() for name, p in model.named_parameters()}


def max_difference(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> float:
    assert set(a) == set(b)
    return max(float(np.abs(a[name] - b[name]).max()) for name in a)


def max_update(before: dict[str, np.ndarray], after: dict[str, np.ndarray]) -> float:
    return max(float(np.abs(after[name] - before[name]).max()) for name in before)


# Gradients of the two half batches, averaged, equal the gradient of the whole batch up to
# float32 rounding of sums taken in another order: a relative 1e-7 or so of each gradient.
# Gradients here are below 1 and the learning rate is 0.5, so weights agree to well within
# 1e-6, while the step itself moves weights by up to about 0.08 (checked, so the test can fail).
FLOAT32_STEP_ATOL = 1e-6


def test_ddp_step_matches_one_process(runs):
    folder, batch = runs
    expected = one_process_step(folder, batch)
    assert max_update(weights(folder / "init"), expected) > 1e-3  # the step really moves the weights
    assert max_difference(weights(folder / "ddp"), expected) <= FLOAT32_STEP_ATOL


def test_fsdp_step_matches_one_process_and_loads_anywhere(runs):
    folder, batch = runs
    expected = one_process_step(folder, batch)
    assert max_difference(weights(folder / "fsdp"), expected) <= FLOAT32_STEP_ATOL
    # What the sharded model saved is an ordinary checkpoint: one process loads it, unsharded.
    model = DistilBertForSequenceClassification.from_pretrained(folder / "fsdp")
    assert model.config.architectures == ["DistilBertForSequenceClassification"]
    loaded = {name: p.detach().numpy() for name, p in model.named_parameters()}
    assert max_difference(loaded, weights(folder / "fsdp")) == 0.0


def test_load_sharded_then_save_gives_back_the_checkpoint(runs):
    folder, _ = runs
    # load_sharded read each rank's rows; save_pretrained gathered them: nothing may change.
    original, roundtrip = weights(folder / "init"), weights(folder / "sharded_roundtrip")
    assert roundtrip.keys() == original.keys()
    for name in original:
        np.testing.assert_array_equal(roundtrip[name], original[name], err_msg=name)


def test_load_sharded_keeps_tied_weights_tied(runs):
    folder, _ = runs
    # The worker asserted the tie after loading; the saved checkpoint holds the table once
    # (under the embedding's name, as from_pretrained's models save it) and bit for bit.
    original, roundtrip = weights(folder / "masked_lm"), weights(folder / "masked_lm_roundtrip")
    assert "vocab_projector.weight" not in roundtrip
    assert roundtrip.keys() == original.keys()
    for name in original:
        np.testing.assert_array_equal(roundtrip[name], original[name], err_msg=name)


def test_load_sharded_initialises_a_head_the_base_checkpoint_lacks(runs):
    folder, _ = runs
    base, loaded = weights(folder / "base"), weights(folder / "sharded_from_base")
    for name, array in base.items():  # checkpoint names without the "distilbert." prefix map onto the head's
        np.testing.assert_array_equal(loaded[f"distilbert.{name}"], array, err_msg=name)
    head = sorted(set(loaded) - {f"distilbert.{name}" for name in base})
    assert head == ["classifier.bias", "classifier.weight", "pre_classifier.bias", "pre_classifier.weight"]
    # Initialised as from_pretrained initialises them: N(0, initializer_range=0.02), biases 0.
    # pre_classifier.weight has 32 * 32 draws, so its std is 0.02 within about 5 %; 0.015 to 0.025 leaves margin.
    assert 0.015 < loaded["pre_classifier.weight"].std() < 0.025
    assert not loaded["pre_classifier.bias"].any() and not loaded["classifier.bias"].any()


def test_fsdp_mixed_precision_matches_one_process_computed_the_same_way(runs):
    folder, batch = runs
    before = weights(folder / "init")
    two, one = weights(folder / "fsdp_bf16"), weights(folder / "fsdp_bf16_one_process")
    step = max_update(before, one)
    # Both runs compute in bf16 (8 significant bits: a relative rounding of 2**-9 per
    # operation) and reduce gradients in float32. Two ranks each take half the batch, so
    # the bf16 sums inside each gradient are taken over other rows than in one process, and
    # their roundings differ: a few 2**-9 of each gradient, compounded over the two layers
    # and the head. 2**-5 of the largest update bounds that with a margin, and stays well
    # below the update itself, so a wrong reduction (a sum instead of a mean) still fails.
    assert max_difference(two, one) <= 2**-5 * step
    # And mixed precision was really on: bf16 moves the result off the float32 step by more
    # than float32 rounding would.
    assert max_difference(one, one_process_step(folder, batch)) > FLOAT32_STEP_ATOL


def test_load_sharded_refuses_what_is_not_a_model_class(tmp_path):
    from polyformer.backends.torch.distributed import load_sharded

    with pytest.raises(TypeError, match="expects a polyformer PyTorch model class, got <class 'int'>"):
        load_sharded(int, tmp_path)


def test_sharding_without_a_process_group_says_what_to_do(tmp_path):
    from polyformer.backends.torch.distributed import shard_model

    if dist.is_initialized():
        pytest.skip("a process group is already initialised in this process")
    model = DistilBertForSequenceClassification(tiny_config())
    with pytest.raises(RuntimeError, match=r"torch.distributed is not initialised: call .*init_process_group"):
        shard_model(model)
