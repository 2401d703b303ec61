"""The 2-process half of tests/test_torch_distributed.py: ``python _distributed_torch_worker.py FOLDER``.

``FOLDER`` holds ``init/`` (a checkpoint), ``base/`` and ``masked_lm/`` (checkpoints of
the base model and of the tied masked-LM head) and ``batch.pt`` (the global batch). Two processes
(``torch.multiprocessing.spawn``, gloo on CPU) each take their half of the batch and run one
SGD step under DDP, FSDP2 and FSDP2 with bf16 mixed precision; each result is saved with
``save_pretrained`` into ``FOLDER/<case>/``, for the test to compare with one process.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

LEARNING_RATE = 0.5


def sgd_step(model, batch) -> None:
    """One step: mean loss over the (local) batch, backward, plain SGD (no state, so no extra terms)."""
    model.train()
    optimizer = torch.optim.SGD(model.parameters(), lr=LEARNING_RATE)
    loss = model(**batch).loss
    loss.backward()
    optimizer.step()
    optimizer.zero_grad()


def main(rank: int, folder: str, world: int) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1")
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        run(rank, Path(folder), world)
    finally:
        dist.destroy_process_group()


def run(rank: int, folder: Path, world: int) -> None:
    from torch.distributed.device_mesh import DeviceMesh
    from torch.distributed.fsdp import MixedPrecisionPolicy
    from torch.nn.parallel import DistributedDataParallel

    from polyformer import DistilBertForSequenceClassification as Model
    from polyformer.backends.torch.distributed import load_sharded, shard_model

    batch = torch.load(folder / "batch.pt")
    per_rank = batch["labels"].shape[0] // world
    local = {key: value[rank * per_rank:(rank + 1) * per_rank] for key, value in batch.items()}
    init = folder / "init"

    # DDP: gradients averaged over the ranks (all-reduce), each rank steps its full copy.
    model = Model.from_pretrained(init)
    sgd_step(DistributedDataParallel(model), local)
    if rank == 0:
        model.save_pretrained(folder / "ddp")
    dist.barrier()

    # load_sharded, then save_pretrained of the sharded model: must give back the checkpoint.
    model = load_sharded(Model, init)
    model.save_pretrained(folder / "sharded_roundtrip")
    # FSDP2, float32: gradients reduce-scattered, each rank steps its shards.
    sgd_step(model, local)
    model.save_pretrained(folder / "fsdp")

    # A base checkpoint into a head: the head is missing and initialised, then sharded.
    load_sharded(Model, folder / "base").save_pretrained(folder / "sharded_from_base")
    # Tied weights (the MLM projection is the word embedding table): the tie must survive.
    from polyformer import DistilBertForMaskedLM

    masked_lm = load_sharded(DistilBertForMaskedLM, folder / "masked_lm")
    projection = masked_lm.vocab_projector.weight
    assert projection is masked_lm.distilbert.embeddings.word_embeddings.weight, "the tie was broken"
    masked_lm.save_pretrained(folder / "masked_lm_roundtrip")

    # FSDP2 with mixed precision: bf16 weights for the compute, float32 gradient reduction and master weights.
    policy = MixedPrecisionPolicy(param_dtype=torch.bfloat16, reduce_dtype=torch.float32)
    model = shard_model(Model.from_pretrained(init), mp_policy=policy)
    sgd_step(model, local)
    model.save_pretrained(folder / "fsdp_bf16")

    # The single-process reference computed the same way: FSDP2 with the same policy on a
    # one-rank mesh, over the whole batch (new_group is collective: every rank calls it).
    alone = dist.new_group([0])
    if rank == 0:
        model = shard_model(Model.from_pretrained(init), DeviceMesh.from_group(alone, "cpu"), mp_policy=policy)
        sgd_step(model, batch)
        model.save_pretrained(folder / "fsdp_bf16_one_process")
    dist.barrier()


if __name__ == "__main__":
    os.environ["MASTER_PORT"] = sys.argv[2]
    mp.spawn(main, args=(sys.argv[1], 2), nprocs=2, join=True)
