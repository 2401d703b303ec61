"""The table: every topic's rows, as plain text for the terminal and as Markdown for the docs."""

from __future__ import annotations

from . import common

COLUMNS = ("model", "size", "comparison", "ratio", "q1 - q3", "A", "B", "max abs diff", "target", "met")


def _number(value: float | None, digits: int = 3) -> str:
    if value is None:
        return ""
    return f"{value:.{digits}g}" if abs(value) < 1e4 else f"{value:.3e}"


def _amount(summary: dict, quantity: str) -> str:
    """A measured amount: milliseconds for times, the number as it is otherwise."""
    if quantity == "time":
        seconds = summary["median"]
        return f"{seconds:.3g} s" if seconds >= 1 else f"{seconds * 1e3:.3g} ms"
    return _number(summary["median"])


def _target(target: dict | None) -> str:
    return f"{target['op']} {target['value']:.3g}" if target else ""


def _met(met: bool | None) -> str:
    return {True: "yes", False: "NO", None: ""}[met]


def cells(row: dict) -> list[str]:
    if "ratio" in row:
        ratio = row["ratio"]
        diff = row.get("max_abs_diff")
        return [row["model"], row["size"], row["label"], f"{ratio['median']:.3f}",
                f"{ratio['q1']:.3f} - {ratio['q3']:.3f}", _amount(row["a"], row["quantity"]),
                _amount(row["b"], row["quantity"]), "" if diff is None else f"{diff:.1e}", _target(row["target"]),
                _met(row["met"])]
    value = row["value"]
    label = f"{row['framework']}: {row['label']}" if row.get("framework") else row["label"]
    unit = f" {row['unit']}" if row.get("unit") else ""
    spread = f"{_number(value['q1'])} - {_number(value['q3'])}" if value["n"] != 1 else "(one value)"
    return [row["model"], row["size"], label, f"{_number(value['median'])}{unit}", spread, "", "", "",
            _target(row["target"]), _met(row["met"])]


def sections(results: dict) -> list[tuple[str, list[list[str]]]]:
    """(heading, rows of cells) per topic and device, in the order the topics ran."""
    out = []
    for name, outcome in results["topics"].items():
        if "error" in outcome:
            out.append((f"{name}: FAILED: {outcome['error']}", []))
            continue
        rows = outcome.get("rows", [])
        devices = list(dict.fromkeys(row.get("device", "cpu") for row in rows)) or ["cpu"]
        for device in devices:
            mine = [row for row in rows if row.get("device", "cpu") == device]
            # the table's shape first, then the sweeps, each in the order measured
            mine.sort(key=lambda row: not row.get("table_shape", True))
            heading = f"{name} ({device}): {len(mine)} rows"
            out.append((heading, [cells(row) for row in mine]))
        for skip in outcome.get("skipped", []):
            where = " ".join(str(skip[key]) for key in ("model", "size", "device", "kind") if skip.get(key))
            out.append((f"{name}: skipped {where}: {skip['reason']}", []))
    return out


def header(results: dict) -> list[str]:
    machine = results["machine"]
    load = machine.get("load_average_at_start")
    cores = machine.get("logical_cores")
    lines = [f"machine: {machine['cpu']}, {cores} logical cores, {machine['memory_gib'] or 0:.0f} GiB"
             + (f", torch threads {machine['torch_threads']}" if machine.get("torch_threads") else "")
             + (f"; CPU features: {' '.join(machine['cpu_flags'])}" if machine.get("cpu_flags") else "")]
    if len(results.get("commands", [])) > 1:
        lines.append(f"{len(results['commands'])} runs shown together (--replot): " + "; ".join(results["commands"]))
    threads = results.get("threads")
    lines.append(f"threads: {threads['threads']} per framework (--threads)" if threads
                 else "threads: each library's default")
    if load:
        busy = " (shared and loaded: read the ratios, not the absolute times)" if common.is_loaded(load, cores) else ""
        lines.append(f"load average at start {load[0]:.2f}, {load[1]:.2f}, {load[2]:.2f}{busy}")
    forward = results["topics"].get("forward", {})
    if forward.get("accelerators"):
        lines.append("accelerators: " + ", ".join(f"{k}: {v}" for k, v in forward["accelerators"].items()))
    clock = forward.get("settings", {}).get("clock", "wall")
    if clock != "wall":
        lines.append(f"forward times: {clock} time (--clock {clock}), not wall time")
    lines.append("ratio = A / B, median and quartiles of the per-round ratios over interleaved rounds; "
                 "A, B: medians" + (" (--quick: tiny models, not meaningful)" if results.get("quick") else ""))
    return lines


def text_table(results: dict) -> str:
    lines = header(results)
    for heading, rows in sections(results):
        lines.append("")
        lines.append(f"== {heading}")
        if not rows:
            continue
        widths = [max(len(str(c)) for c in column) for column in zip(COLUMNS, *rows)]
        for line in (COLUMNS, *rows):
            lines.append("  ".join(str(cell).ljust(width) for cell, width in zip(line, widths)).rstrip())
    return "\n".join(lines)


def markdown_table(results: dict) -> str:
    lines = [f"{line}  " for line in header(results)]
    for heading, rows in sections(results):
        lines += ["", f"**{heading}**", ""]
        if not rows:
            continue
        lines.append("| " + " | ".join(COLUMNS) + " |")
        lines.append("|" + "---|" * len(COLUMNS))
        for row in rows:
            lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |")
    return "\n".join(lines) + "\n"
