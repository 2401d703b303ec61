"""What every bench topic shares: interleaved timing, quartiles, result rows, the machine's description.

A topic returns its measurements as *rows* (plain dicts, so they go to JSON as they are):

* :func:`ratio_row`: time (or size) of one thing over another, measured in the same rounds;
  its spread is taken over the per-round ratios, so machine load that slows a whole round
  cancels out;
* :func:`value_row`: one quantity with its spread (a memory ratio, a rate, seconds).

The runner prints every row in one table and draws figures from some of them (see
:mod:`bench.plots`): memory at load from the value rows whose ``quantity`` is
:data:`MEMORY_AT_LOAD`.
"""

from __future__ import annotations

import math
import os
import platform
import time
from collections.abc import Callable
from importlib import metadata

import numpy as np

#: quantity of the value rows drawn in the memory-at-load figure: the peak resident-memory
#: increase while loading a checkpoint, over the checkpoint's size on disk (``framework`` and
#: ``model`` set); the issue's target is <= 1.2.
MEMORY_AT_LOAD = "load_peak_rss_over_checkpoint"


# ---- spread -----------------------------------------------------------------------------
def summary(samples) -> dict:
    """Median and quartiles (numpy's linear interpolation) of some samples, and how many there were."""
    values = np.asarray(list(samples), dtype=float)
    if values.size == 0:
        raise ValueError("summary() needs at least one sample, got none")
    q1, median, q3 = np.percentile(values, [25, 50, 75])
    return {"median": float(median), "q1": float(q1), "q3": float(q3), "n": int(values.size)}


def target_met(value: float, target: dict | None) -> bool | None:
    """Whether ``value`` meets ``target`` (``{"op": "<=" or ">=", "value": x}``); None without a target."""
    if target is None:
        return None
    if target["op"] == "<=":
        return value <= target["value"]
    if target["op"] == ">=":
        return value >= target["value"]
    raise ValueError(f"target op must be '<=' or '>=', got {target['op']!r}")


def at_most(value: float, why: str = "") -> dict:
    return {"op": "<=", "value": value, "why": why}


def at_least(value: float, why: str = "") -> dict:
    return {"op": ">=", "value": value, "why": why}


# ---- rows -------------------------------------------------------------------------------
def ratio_row(topic: str, model: str, size: str, numerator: str, denominator: str, a, b, *, quantity: str = "time",
              target: dict | None = None, device: str = "cpu", **extra) -> dict:
    """``numerator / denominator`` from paired samples ``a`` and ``b`` (seconds, bytes...), round by round."""
    if len(a) != len(b) or not len(a):
        raise ValueError(f"ratio_row({numerator} / {denominator}): paired samples needed, got {len(a)} and {len(b)}")
    ratio = summary(x / y for x, y in zip(a, b))
    return {"topic": topic, "model": model, "size": size, "device": device, "quantity": quantity,
            "label": f"{numerator} / {denominator}", "numerator": numerator, "denominator": denominator,
            "ratio": ratio, "a": summary(a), "b": summary(b), "target": target,
            "met": target_met(ratio["median"], target), **extra}


def value_row(topic: str, model: str, size: str, label: str, samples, *, quantity: str, unit: str = "",
              target: dict | None = None, device: str = "cpu", framework: str = "", **extra) -> dict:
    """One quantity (not a ratio of two timed things) with its spread over ``samples``."""
    return spread_row(topic, model, size, label, summary(samples), quantity=quantity, unit=unit, target=target,
                      device=device, framework=framework, **extra)


def spread_row(topic: str, model: str, size: str, label: str, spread: dict, *, quantity: str, unit: str = "",
               target: dict | None = None, device: str = "cpu", framework: str = "", **extra) -> dict:
    """A value row from a median and quartiles a topic computed itself (``n`` unknown: None)."""
    value = {"median": float(spread["median"]), "q1": float(spread["q1"]), "q3": float(spread["q3"]),
             "n": spread.get("n")}
    return {"topic": topic, "model": model, "size": size, "device": device, "quantity": quantity, "label": label,
            "framework": framework, "value": value, "unit": unit, "target": target,
            "met": target_met(value["median"], target), **extra}


# ---- timing -----------------------------------------------------------------------------
#: What ``--clock`` may name: wall time (what a user waits), or the process's CPU time, every thread's
#: (steadier on a machine so loaded that a forward mostly waits for a core; it counts spinning threads too).
CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}


def interleaved(runners: dict[str, Callable[[], object]], repeats: int, *, min_sample_s: float = 0.02,
                budget_s: float | None = None, min_repeats: int = 5,
                clock: Callable[[], float] = time.perf_counter) -> dict[str, list[float]]:
    """Seconds per call of each runner, over ``repeats`` rounds that run every runner once.

    Runners must be warm (compiled) already. Each sample times as many back-to-back calls as
    make it last ``min_sample_s`` (so that very short calls are not lost in the timer's noise)
    and divides. The order of the runners rotates from round to round, so none always runs
    first or last. With ``budget_s``, fewer rounds are run (never under ``min_repeats``) when
    the rounds would take longer than that (in wall time, whatever ``clock`` the samples are read from).
    """
    names = list(runners)
    calls, round_s = {}, 0.0
    for name, fn in runners.items():
        start = time.perf_counter()
        fn()
        once = time.perf_counter() - start
        calls[name] = max(1, math.ceil(min_sample_s / max(once, 1e-9)))
        round_s += once * calls[name]
    if budget_s is not None and round_s * repeats > budget_s:
        repeats = max(min(min_repeats, repeats), int(budget_s / max(round_s, 1e-9)))
    samples: dict[str, list[float]] = {name: [] for name in names}
    for index in range(repeats):
        shift = index % len(names)
        for name in names[shift:] + names[:shift]:
            fn, n = runners[name], calls[name]
            start = clock()
            for _ in range(n):
                fn()
            samples[name].append((clock() - start) / n)
    return samples


# ---- threads ----------------------------------------------------------------------------
def limit_threads(threads: int) -> dict:
    """Make every framework compute on ``threads`` threads; call before any topic runs.

    On a shared machine a library whose threads meet at a barrier after every operation
    (PyTorch's OpenMP) waits for whichever of its threads the scheduler left out, so its
    times there say more about the load than about the code; one thread each keeps the
    ratios honest. PyTorch and TensorFlow are set through their APIs (and OpenMP / MKL
    through the environment); JAX's XLA only knows "one thread" (``XLA_FLAGS``, read when
    jax is first imported), so with more than one it keeps its own default.
    """
    import importlib.util

    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[name] = str(threads)
    applied = {"threads": threads}
    if threads == 1:
        flags = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
        os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {flags}".strip()
        applied["jax"] = 1
    if importlib.util.find_spec("torch") is not None:
        import torch

        torch.set_num_threads(threads)
        applied["torch"] = torch.get_num_threads()
    if importlib.util.find_spec("tensorflow") is not None:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
        applied["tensorflow"] = threads
    return applied


# ---- the machine ------------------------------------------------------------------------
def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def memory_gib() -> float | None:
    try:
        with open("/proc/meminfo", encoding="utf-8") as meminfo:
            for line in meminfo:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) / 2**20
    except OSError:
        pass
    return None


def cpu_flags() -> list[str]:
    """The CPU features that decide which fp32 / bf16 kernels run (AVX-512, AMX, bf16)."""
    wanted = ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile", "avx512_fp16")
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("flags"):
                    have = set(line.split(":", 1)[1].split())
                    return [flag for flag in wanted if flag in have]
    except OSError:
        pass
    return []


def versions() -> dict[str, str]:
    """Installed versions, read from package metadata (nothing is imported)."""
    found = {}
    for name in ("polyformer", "numpy", "torch", "transformers", "tensorflow", "tensorflow-cpu", "keras", "jax",
                 "jaxlib", "flax", "tokenizers"):
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return found


def machine() -> dict:
    """What a reader needs to weigh the numbers: CPU, cores, memory, how loaded it was, versions."""
    try:
        load = list(os.getloadavg())
    except OSError:
        load = None
    return {"cpu": cpu_model(), "cpu_flags": cpu_flags(), "logical_cores": os.cpu_count(),
            "memory_gib": memory_gib(), "load_average_at_start": load, "platform": platform.platform(),
            "python": platform.python_version(), "versions": versions()}


def is_loaded(load_average: list[float] | None, cores: int | None) -> bool:
    """A machine is called loaded when its 1-minute load average is above half its cores."""
    return bool(load_average and cores and load_average[0] > 0.5 * cores)
