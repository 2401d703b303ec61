"""PyTorch benchmarks against transformers, as ratios measured in one run.

    python bench/bench_torch.py [--batch 8] [--seq 128] [--repeats 10]

Builds a DistilBERT-base checkpoint with transformers (random init, fixed seed) in a
temporary folder, then measures in the same process:

* forward time, ours / transformers (targets: <= 0.9x), eval mode, no grad;
* load time (``from_pretrained``), ours / transformers (target: <= 1x);
* ``import polyformer`` time in a fresh interpreter (target: < 0.3 s).

Timings interleave the two libraries and report medians, so that machine noise hits
both alike. Nothing here is a test: it prints figures and writes them as JSON.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def median_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def import_time(repeats: int = 5) -> float:
    code = "import time; t = time.perf_counter(); import polyformer; print(time.perf_counter() - t)"
    runs = [float(subprocess.check_output([sys.executable, "-c", code], text=True)) for _ in range(repeats)]
    return statistics.median(runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--seq", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: leave the default)")
    parser.add_argument("--output", default="bench/results/torch.json")
    args = parser.parse_args()

    import torch
    import transformers

    import polyformer

    if args.threads:
        torch.set_num_threads(args.threads)
    results: dict[str, float] = {"import_polyformer_s": import_time()}

    with tempfile.TemporaryDirectory() as folder:
        torch.manual_seed(0)
        reference = transformers.DistilBertModel(transformers.DistilBertConfig())
        reference.save_pretrained(folder)
        del reference

        def load_theirs():
            return transformers.DistilBertModel.from_pretrained(folder)

        def load_ours():
            return polyformer.DistilBertModel.from_pretrained(folder)

        load_theirs(), load_ours()  # warm the file cache and lazy imports
        theirs_load, ours_load = [], []
        for _ in range(max(3, args.repeats // 2)):
            theirs_load.append(median_time(load_theirs, 1))
            ours_load.append(median_time(load_ours, 1))
        results["load_transformers_s"] = statistics.median(theirs_load)
        results["load_polyformer_s"] = statistics.median(ours_load)
        results["load_ratio"] = results["load_polyformer_s"] / results["load_transformers_s"]

        theirs, ours = load_theirs().eval(), load_ours().eval()
        input_ids = torch.randint(0, 30522, (args.batch, args.seq), generator=torch.Generator().manual_seed(0))
        mask = torch.ones_like(input_ids)
        with torch.inference_mode():
            diff = (theirs(input_ids, attention_mask=mask).last_hidden_state
                    - ours(input_ids, attention_mask=mask).last_hidden_state).abs().max().item()
            for _ in range(2):  # warm-up
                theirs(input_ids, attention_mask=mask), ours(input_ids, attention_mask=mask)
            theirs_fwd, ours_fwd = [], []
            for _ in range(args.repeats):
                theirs_fwd.append(median_time(lambda: theirs(input_ids, attention_mask=mask), 1))
                ours_fwd.append(median_time(lambda: ours(input_ids, attention_mask=mask), 1))
        results["forward_transformers_s"] = statistics.median(theirs_fwd)
        results["forward_polyformer_s"] = statistics.median(ours_fwd)
        results["forward_ratio"] = results["forward_polyformer_s"] / results["forward_transformers_s"]
        results["max_abs_diff"] = diff

    results.update(batch=args.batch, seq=args.seq, threads=torch.get_num_threads(),
                   torch=torch.__version__, transformers=transformers.__version__)
    for key, value in results.items():
        print(f"{key:<26} {value:.4g}" if isinstance(value, float) else f"{key:<26} {value}")
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
