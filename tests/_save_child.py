"""Real saves killed at chosen steps, for the kill tests of ``tests/test_atomic_save.py``.

    python _save_child.py SPEC_JSON FOLDER:K [FOLDER:K ...]

SPEC_JSON says what to save: ``{"kind": "model", "source": ..., "framework": ...,
"max_shard_size": ...}``, or kind ``tokenizer`` / ``processor`` (loaded from
``source``), or ``convert`` (``polyformer convert source FOLDER``, through the command's
own code). Each job saves into FOLDER with ``POLYFORMER_TEST_KILL_AT_COMMIT_STEP=K``,
so the saving process SIGKILLs itself at the K-th step of the commit (see
``polyformer/core/io.py``); a save that finishes prints ``steps: N``.

With ``"fork": true`` the object is loaded once and each job runs in a forked process
(framework-free saves and PyTorch, which are safe to fork), and this process prints
``job FOLDER: killed`` or ``job FOLDER: finished`` for each. Otherwise there must be
one job, run in this very process (TensorFlow and JAX must not be forked). ``saving``
is printed just before a save starts, for the kills at random times.
"""

import json
import os
import signal
import sys
import time
import traceback

spec = json.loads(sys.argv[1])
jobs = [arg.rsplit(":", 1) for arg in sys.argv[2:]]
kind, source = spec["kind"], spec["source"]

if kind == "model":
    if spec["framework"] == "torch":
        import torch

        torch.set_num_threads(1)  # no thread pool to break in the forked children
    from polyformer.core.auto import AutoModel

    model = AutoModel.from_pretrained(source, framework=spec["framework"])

    def save(folder):
        model.save_pretrained(folder, max_shard_size=spec["max_shard_size"])
elif kind == "tokenizer":
    os.environ["TOKENIZERS_PARALLELISM"] = "false"
    from polyformer.core.auto import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(source)

    def save(folder):
        tokenizer.save_pretrained(folder)
elif kind == "processor":
    from polyformer.core.auto import AutoProcessor

    processor = AutoProcessor.from_pretrained(source)

    def save(folder):
        processor.save_pretrained(folder)
elif kind == "convert":
    from polyformer.cli import main

    def save(folder):
        if main(["convert", source, folder, "--max-shard-size", spec["max_shard_size"], "--quiet"]) != 0:
            raise SystemExit("convert failed")
else:
    raise SystemExit(f"unknown kind {kind!r}")

from polyformer.core import io  # noqa: E402


def run(folder, step):
    os.environ[io.KILL_AT_STEP_ENV] = step
    io._steps_taken = 0
    print("saving", flush=True)
    start = time.perf_counter()
    save(folder)
    print(f"steps: {io._steps_taken}")
    print(f"seconds: {time.perf_counter() - start:.4f}", flush=True)


if not spec.get("fork"):
    (folder, step), = jobs
    run(folder, step)
else:
    for folder, step in jobs:
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                run(folder, step)
            except BaseException:
                traceback.print_exc()
                code = 1
            os._exit(code)
        _, status = os.waitpid(pid, 0)
        if os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL:
            outcome = "killed"
        else:
            outcome = "finished" if os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0 else f"failed ({status})"
        print(f"job {folder}: {outcome}", flush=True)
