"""The figures: what a reader would rather look at than read. Needs matplotlib (``pip install -e '.[bench]'``).

From the forward topic: time per framework per model (``forward_time``), scaling with the
sequence length (``scaling_seq``) and the batch size (``scaling_batch``), and every ratio at
the table's shape against its target (``ratios``). From any topic's value rows whose quantity
is :data:`bench.common.MEMORY_AT_LOAD` (the load topic's): memory at load (``memory_at_load``).
One set per device measured (CPU figures have no suffix, the accelerator's end in
``-accelerator``).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no window
import matplotlib.pyplot as plt  # noqa: E402

from .common import MEMORY_AT_LOAD  # noqa: E402

#: One colour per library, lighter shades for the other ways to run the same framework.
COLOURS = {"transformers": "#7f7f7f", "torch": "#d62728", "keras": "#1f77b4", "keras-predict": "#6baed6",
           "keras-eager": "#c6dbef", "flax": "#2ca02c", "flax-apply": "#98df8a"}
KIND_ORDER = list(COLOURS)


def draw(results: dict, folder: Path) -> list[str]:
    """Draw every figure the results have data for into ``folder``; return the file names."""
    written = []
    forward = results["topics"].get("forward", {})
    times = forward.get("times", [])
    rows = forward.get("rows", [])
    models = forward.get("models", {})
    memory = [row for outcome in results["topics"].values() for row in outcome.get("rows", [])
              if row.get("quantity") == MEMORY_AT_LOAD]
    devices = list(dict.fromkeys([t["device"] for t in times] + [r.get("device", "cpu") for r in memory]))
    for device in devices:
        suffix = "" if device == "cpu" else f"-{device}"
        mine = [t for t in times if t["device"] == device]
        figures = {
            f"forward_time{suffix}.png": forward_time(mine, models, device),
            f"scaling_seq{suffix}.png": scaling(mine, models, device, "length"),
            f"scaling_batch{suffix}.png": scaling(mine, models, device, "batch"),
            f"ratios{suffix}.png": ratios([r for r in rows if r["device"] == device and r.get("table_shape")], device),
            f"memory_at_load{suffix}.png": memory_at_load([r for r in memory if r.get("device", "cpu") == device],
                                                          device),
        }
        for name, figure in figures.items():
            if figure is not None:
                figure.savefig(folder / name, dpi=110, bbox_inches="tight")
                plt.close(figure)
                written.append(name)
    return written


def _title(models: dict, name: str) -> str:
    return models.get(name, {}).get("title", name)


def _kinds(entries) -> list[str]:
    present = {entry["kind"] for entry in entries}
    return [kind for kind in KIND_ORDER if kind in present] + sorted(present - set(KIND_ORDER))


def forward_time(times: list[dict], models: dict, device: str):
    """Bars: milliseconds per forward at the table's shape, one panel per model, one bar per way to run it."""
    table = [t for t in times if t["table_shape"]]
    names = list(dict.fromkeys(t["model"] for t in table))
    if not names:
        return None
    figure, axes = plt.subplots(1, len(names), figsize=(3.6 * len(names), 3.6), squeeze=False)
    for ax, name in zip(axes[0], names):
        entries = {t["kind"]: t for t in table if t["model"] == name}
        kinds = _kinds(entries.values())
        medians = [entries[k]["seconds"]["median"] * 1e3 for k in kinds]
        low = [m - entries[k]["seconds"]["q1"] * 1e3 for m, k in zip(medians, kinds)]
        high = [entries[k]["seconds"]["q3"] * 1e3 - m for m, k in zip(medians, kinds)]
        ax.bar(range(len(kinds)), medians, yerr=[low, high], capsize=3,
               color=[COLOURS.get(k, "#bbbbbb") for k in kinds])
        for x, median in enumerate(medians):
            label = f"{median:.0f}" if median >= 100 else f"{median:.3g}"
            ax.annotate(label, (x, median), textcoords="offset points", xytext=(0, 3), ha="center", fontsize=7)
        ax.set_yscale("log")  # the slowest way (Keras eager) is often ten times the others
        ax.set_xticks(range(len(kinds)), kinds, rotation=45, ha="right")
        ax.set_title(f"{_title(models, name)}\n{entries[kinds[0]]['size']}", fontsize=9)
        ax.set_ylabel("ms per forward (median, q1-q3; log scale)")
    figure.suptitle(f"Forward time per framework ({device})", fontsize=11)
    figure.tight_layout()
    return figure


def scaling(times: list[dict], models: dict, device: str, axis: str):
    """Lines: ms per forward against the sequence length (``axis="length"``, text models) or the batch size."""
    fixed = "batch" if axis == "length" else "length"
    panels = []
    for name in dict.fromkeys(t["model"] for t in times):
        mine = [t for t in times if t["model"] == name]
        if axis == "length" and mine[0]["modality"] != "text":
            continue
        anchor = next(t for t in mine if t["table_shape"])[fixed]  # the sweep holds the table's other dimension
        points = [t for t in mine if t[fixed] == anchor]
        if len({t[axis] for t in points}) >= 2:
            panels.append((name, points))
    if not panels:
        return None
    figure, axes = plt.subplots(1, len(panels), figsize=(3.8 * len(panels), 3.4), squeeze=False)
    for ax, (name, points) in zip(axes[0], panels):
        for kind in _kinds(points):
            line = sorted((t for t in points if t["kind"] == kind), key=lambda t: t[axis])
            if len(line) < 2:
                continue
            xs = [t[axis] for t in line]
            ax.plot(xs, [t["seconds"]["median"] * 1e3 for t in line], marker="o", label=kind,
                    color=COLOURS.get(kind))
            ax.fill_between(xs, [t["seconds"]["q1"] * 1e3 for t in line], [t["seconds"]["q3"] * 1e3 for t in line],
                            color=COLOURS.get(kind), alpha=0.2)
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xticks(sorted({t[axis] for t in points}), [f"{x:g}" for x in sorted({t[axis] for t in points})])
        unit = "tokens" if axis == "length" else "batch size"
        other = f"batch {points[0]['batch']}" if axis == "length" else f"length {points[0]['length']:g}"
        ax.set_xlabel(unit)
        ax.set_ylabel("ms per forward")
        ax.set_title(f"{_title(models, name)}\n({other})", fontsize=9)
        ax.legend(fontsize=7)
    what = "sequence length" if axis == "length" else "batch size"
    figure.suptitle(f"Forward time against {what} ({device}; median, band q1-q3)", fontsize=11)
    figure.tight_layout()
    return figure


def ratios(rows: list[dict], device: str):
    """Dots with quartile whiskers: every ratio at the table's shape, its target marked."""
    if not rows:
        return None
    figure, ax = plt.subplots(figsize=(7.5, 0.32 * len(rows) + 1.2))
    for index, row in enumerate(reversed(rows)):
        ratio = row["ratio"]
        colour = {True: "#2ca02c", False: "#d62728", None: "#444444"}[row["met"]]
        ax.errorbar(ratio["median"], index, xerr=[[ratio["median"] - ratio["q1"]], [ratio["q3"] - ratio["median"]]],
                    fmt="o", color=colour, capsize=3)
        if row["target"]:
            ax.plot(row["target"]["value"], index, marker="|", markersize=14, color="#ff7f0e")
    ax.axvline(1.0, color="#999999", linewidth=0.8)
    ax.set_yticks(range(len(rows)), [f"{r['model']} {r['size']}: {r['label']}" for r in reversed(rows)], fontsize=8)
    ax.set_xscale("log")
    ax.set_xlabel("ratio A / B (median, q1-q3); orange tick: target; green met, red not")
    ax.set_title(f"Forward ratios at the table's shape ({device})", fontsize=11)
    figure.tight_layout()
    return figure


def memory_at_load(rows: list[dict], device: str):
    """Bars: peak memory while loading over the checkpoint's size, per model and framework."""
    if not rows:
        return None
    names = list(dict.fromkeys(row["model"] for row in rows))
    frameworks = list(dict.fromkeys(row.get("framework", "") for row in rows))
    width = 0.8 / max(1, len(frameworks))
    figure, ax = plt.subplots(figsize=(1.6 + 1.4 * len(names) * max(1, len(frameworks)) * 0.5, 3.6))
    for offset, framework in enumerate(frameworks):
        xs, medians, low, high = [], [], [], []
        for index, name in enumerate(names):
            row = next((r for r in rows if r["model"] == name and r.get("framework", "") == framework), None)
            if row is None:
                continue
            value = row["value"]
            xs.append(index + (offset - (len(frameworks) - 1) / 2) * width)
            medians.append(value["median"])
            low.append(value["median"] - value["q1"])
            high.append(value["q3"] - value["median"])
        ax.bar(xs, medians, width=width, yerr=[low, high], capsize=3, label=framework or "-",
               color=COLOURS.get(framework))
    targets = {row["target"]["value"] for row in rows if row.get("target")}
    for target in targets:
        ax.axhline(target, color="#ff7f0e", linestyle="--", linewidth=1, label=f"target {target:g}")
    ax.set_xticks(range(len(names)), names)
    ax.set_ylabel("peak RSS increase / checkpoint size")
    ax.set_title(f"Memory at load ({device})", fontsize=11)
    ax.legend(fontsize=8)
    figure.tight_layout()
    return figure
