"""PyTorch under torch.distributed: data-parallel throughput and memory of sharded loading.

    python bench/bench_distributed_torch.py [--dim 512] [--layers 4] [--batch 8] [--seq 128] [--steps 5]

Builds a DistilBERT-shaped checkpoint (random init, fixed seed) in a temporary folder, then
runs fresh processes (``torch.multiprocessing.spawn``, gloo on CPU, one thread each):

* training throughput (examples/s) with DDP on 2 processes, each on ``--batch`` examples per
  step, versus 1 process on ``--batch`` examples: ``dp_throughput_ratio`` (ideal 2.0 when
  the machine has 2 idle cores; far less when they are shared);
* peak resident memory per rank while loading: ``from_pretrained`` (each rank holds the full
  weights) versus ``load_sharded`` (each rank reads its own rows into an FSDP2 model): the
  growth of the peak RSS (VmHWM, reset just before loading) over the RSS before loading, with
  every weight touched once after loading (safetensors tensors may stay file-backed, and
  unread, until used), after a warm-up load of a tiny checkpoint (imports are not counted).
  The target for the sharded load is at most 1/N of the weights plus one tensor (the largest).

Nothing here is a test: it prints figures and writes them as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import tempfile
import time
from pathlib import Path


def _rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _reset_peak_rss() -> None:
    """Start the peak (VmHWM) afresh from the current RSS (Linux: ``echo 5 > /proc/self/clear_refs``)."""
    with open("/proc/self/clear_refs", "w") as clear_refs:
        clear_refs.write("5")


def _peak_rss_bytes() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024  # kB
    raise RuntimeError("no VmHWM in /proc/self/status")


def _worker(rank: int, world: int, port: str, mode: str, folder: str, options: dict, out: str) -> None:
    import torch
    import torch.distributed as dist

    from polyformer import DistilBertForSequenceClassification as Model
    from polyformer.backends.torch.distributed import load_sharded

    torch.set_num_threads(1)
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=port)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    result: dict = {}
    try:
        if mode in ("load_sharded", "from_pretrained"):
            def load(path):
                return load_sharded(Model, path) if mode == "load_sharded" else Model.from_pretrained(path)

            load(options["warmup"])  # a tiny checkpoint first: lazy imports and one-off set-up are not counted
            before = _rss_bytes()
            _reset_peak_rss()
            model = load(folder)
            # Tensors read from safetensors may stay file-backed until used: touch every weight,
            # as the first training step would, so that the figures count them all.
            with torch.no_grad():
                for param in model.parameters():
                    (param.to_local() if hasattr(param, "to_local") else param).sum()
            result["peak_growth_bytes"] = _peak_rss_bytes() - before
            result["resident_growth_bytes"] = _rss_bytes() - before
            result["local_weight_bytes"] = sum(
                (p.to_local() if hasattr(p, "to_local") else p).nbytes for p in model.parameters())
            dist.barrier()
        else:  # "ddp": timed training steps on this rank's batch
            from torch.nn.parallel import DistributedDataParallel

            model = Model.from_pretrained(folder)
            model.train()
            ddp = DistributedDataParallel(model) if world > 1 else model
            optimizer = torch.optim.SGD(model.parameters(), lr=1e-3)
            generator = torch.Generator().manual_seed(rank)
            batch = {"input_ids": torch.randint(1, model.config.vocab_size, (options["batch"], options["seq"]),
                                                generator=generator),
                     "labels": torch.randint(0, 2, (options["batch"],), generator=generator)}

            def step():
                ddp(**batch).loss.backward()
                optimizer.step()
                optimizer.zero_grad()

            step()  # warm-up: DDP's buckets, allocator
            dist.barrier()
            start = time.perf_counter()
            for _ in range(options["steps"]):
                step()
            dist.barrier()
            result["seconds_per_step"] = (time.perf_counter() - start) / options["steps"]
    finally:
        dist.destroy_process_group()
    Path(out, f"{mode}-{world}-{rank}.json").write_text(json.dumps(result))


def _spawn(world: int, mode: str, folder: str, options: dict, out: str) -> list[dict]:
    import torch.multiprocessing as mp

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = str(sock.getsockname()[1])
    mp.spawn(_worker, args=(world, port, mode, folder, options, out), nprocs=world, join=True)
    return [json.loads(Path(out, f"{mode}-{world}-{rank}.json").read_text()) for rank in range(world)]


def run(dim: int = 512, layers: int = 4, vocab: int = 30522, batch: int = 8, seq: int = 128, steps: int = 5,
        world: int = 2) -> dict:
    """Measure everything once; return the figures (bytes, seconds, ratios)."""
    import torch

    from polyformer import DistilBertConfig, DistilBertForSequenceClassification

    options = {"batch": batch, "seq": seq, "steps": steps}
    with tempfile.TemporaryDirectory() as folder, tempfile.TemporaryDirectory() as out:
        torch.manual_seed(0)
        config = DistilBertConfig(vocab_size=vocab, dim=dim, n_layers=layers, n_heads=max(1, dim // 64),
                                  hidden_dim=4 * dim, num_labels=2)
        model = DistilBertForSequenceClassification(config)
        weight_bytes = sum(p.nbytes for p in model.parameters())
        largest_bytes = max(p.nbytes for p in model.parameters())
        model.save_pretrained(folder)
        del model
        options["warmup"] = str(Path(out, "warmup"))
        tiny = DistilBertConfig(vocab_size=16, dim=8, n_layers=1, n_heads=2, hidden_dim=8)
        DistilBertForSequenceClassification(tiny).save_pretrained(options["warmup"])

        one = _spawn(1, "ddp", folder, options, out)[0]["seconds_per_step"]
        many = max(r["seconds_per_step"] for r in _spawn(world, "ddp", folder, options, out))
        full = _spawn(world, "from_pretrained", folder, options, out)
        sharded = _spawn(world, "load_sharded", folder, options, out)

    return {
        "world_size": world,
        "weight_bytes": weight_bytes,
        "largest_tensor_bytes": largest_bytes,
        "dp_examples_per_s_1_process": batch / one,
        f"dp_examples_per_s_{world}_processes": world * batch / many,
        "dp_throughput_ratio": (world * batch / many) / (batch / one),
        "unsharded_load_peak_growth_bytes_per_rank": [r["peak_growth_bytes"] for r in full],
        "unsharded_load_resident_growth_bytes_per_rank": [r["resident_growth_bytes"] for r in full],
        "sharded_load_peak_growth_bytes_per_rank": [r["peak_growth_bytes"] for r in sharded],
        "sharded_load_resident_growth_bytes_per_rank": [r["resident_growth_bytes"] for r in sharded],
        "sharded_local_weight_bytes_per_rank": [r["local_weight_bytes"] for r in sharded],
        "sharded_target_bytes": weight_bytes // world + largest_bytes,
        "sharded_within_target": all(r["peak_growth_bytes"] <= weight_bytes // world + largest_bytes for r in sharded),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--vocab", type=int, default=30522)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--seq", type=int, default=128)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--output", default="bench/results/distributed_torch.json")
    args = parser.parse_args()
    results = run(args.dim, args.layers, args.vocab, args.batch, args.seq, args.steps)
    for key, value in results.items():
        print(f"{key}: {value}")
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
