"""Time and peak memory of `polyformer convert` on a ~500 MB checkpoint.

    python bench/bench_convert.py [--size-mb 500] [--shard-mb 100]

Writes a random float32 checkpoint of about ``--size-mb`` in shards of ``--shard-mb``,
then runs ``polyformer convert`` in a child process twice (re-shard only, and a cast to
bfloat16), reading the child's peak resident memory. Reported: seconds, peak RSS, the
RSS of an idle child that only imports the converter (the baseline), and
(peak - baseline) / largest shard. Target: below 1.5.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

# Peak memory is read from VmHWM, which belongs to the child's own address space (ru_maxrss
# would also count the parent's memory at fork time).
CHILD = """
import sys
from polyformer.core.convert import convert_checkpoint
if sys.argv[1] != "--idle":
    convert_checkpoint(sys.argv[1], sys.argv[2], dtype=(sys.argv[4] or None), max_shard_size=sys.argv[3])
status = open("/proc/self/status").read().split("VmHWM:")[1]
print(int(status.split()[0]) * 1024)
"""


def child_peak(*argv: str) -> tuple[int, float]:
    start = time.perf_counter()
    out = subprocess.check_output([sys.executable, "-c", CHILD, *argv], text=True)
    return int(out.strip().splitlines()[-1]), time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mb", type=int, default=500)
    parser.add_argument("--shard-mb", type=int, default=100)
    parser.add_argument("--output", default="bench/results/convert.json")
    args = parser.parse_args()

    from polyformer.core.checkpoint import save_tensors

    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "src"
        rng = np.random.default_rng(0)
        n_tensors = args.size_mb * 10**6 // (768 * 3072 * 4)
        tensors = {f"layer.{i}.weight": rng.standard_normal((3072, 768), dtype=np.float32) for i in range(n_tensors)}
        save_tensors(tensors, source, max_shard_size=f"{args.shard_mb}MB")
        (source / "config.json").write_text('{"model_type": "distilbert"}')
        total = sum(t.nbytes for t in tensors.values())
        del tensors
        largest = max(p.stat().st_size for p in source.glob("*.safetensors"))

        baseline, _ = child_peak("--idle", "", "", "")
        results = {"checkpoint_mb": total / 1e6, "largest_shard_mb": largest / 1e6, "baseline_rss_mb": baseline / 1e6}
        for label, dtype in (("reshard", ""), ("bfloat16", "bfloat16")):
            peak, seconds = child_peak(str(source), str(Path(tmp) / label), f"{args.shard_mb}MB", dtype)
            results[f"{label}_s"] = seconds
            results[f"{label}_peak_rss_mb"] = peak / 1e6
            results[f"{label}_peak_over_largest_shard"] = (peak - baseline) / largest
    for key, value in results.items():
        print(f"{key:<34} {value:.3f}")
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
