"""``python -m bench`` (and ``polyformer bench``): run the topics, print the table, write JSON and figures.

A *topic* is a module ``bench/bench_<topic>.py``. Most define

* ``run(args) -> dict``: measure, and return a dict that goes to JSON as it is; its ``"rows"``
  (see :mod:`bench.common`) are printed in the table, and the runner draws its figures from
  them; ``args`` is the parsed command line, whose common options every topic honours:
  ``quick`` (tiny models, few rounds: seconds), ``repeats`` (None: the topic's default),
  ``models``, ``frameworks``, ``devices`` and ``output`` (the folder results go to);
* optionally ``add_arguments(parser)``, to add the topic's own options.

Those run by default. An older stand-alone script with only ``main()`` and an ``--output
FILE`` option is a *script topic*: it runs in a child process when named (``python -m bench
convert``), never under ``--quick``, and its flat JSON is kept, its ratios shown in the table.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import pkgutil
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

from . import common, report
from .models import MODELS

PACKAGE = Path(__file__).resolve().parent
FRAMEWORKS = ("transformers", "torch", "keras", "flax")
DEVICES = ("cpu", "accelerator")


@dataclass
class Topic:
    name: str
    path: Path
    module: object | None  # None when it could not be imported
    problem: str = ""

    @property
    def runnable(self) -> bool:
        return self.module is not None and callable(getattr(self.module, "run", None))

    @property
    def script(self) -> bool:
        return self.module is not None and not self.runnable and callable(getattr(self.module, "main", None))

    def summary(self) -> str:
        if self.module is None:
            return f"cannot be imported: {self.problem}"
        doc = (self.module.__doc__ or "").strip().splitlines()
        kind = "runs by default" if self.runnable else "script, runs when named, not under --quick"
        return f"{doc[0] if doc else ''} [{kind}]"


def discover() -> dict[str, Topic]:
    """Every ``bench_<topic>.py`` of the package, imported (topic modules import no framework at the top)."""
    topics = {}
    for info in sorted(pkgutil.iter_modules([str(PACKAGE)]), key=lambda i: i.name):
        if not info.name.startswith("bench_"):
            continue
        name = info.name.removeprefix("bench_")
        path = PACKAGE / f"{info.name}.py"
        try:
            topics[name] = Topic(name, path, importlib.import_module(f"{__package__}.{info.name}"))
        except Exception as error:  # a broken topic is reported, the others still run
            topics[name] = Topic(name, path, None, f"{type(error).__name__}: {error}")
    return topics


def _names(known) -> callable:
    def parse(text: str) -> list[str]:
        names = [part.strip() for part in text.split(",") if part.strip()]
        unknown = [name for name in names if name not in known]
        if not names or unknown:
            raise argparse.ArgumentTypeError(
                f"unknown {', '.join(map(repr, unknown)) or 'empty list'} (given {text!r}); "
                f"expected a comma-separated list of {', '.join(known)}"
            )
        return names

    return parse


def build_parser(topics: dict[str, Topic]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Speed and memory of polyformer, as ratios measured in one run (see docs/performance.md).",
    )
    parser.add_argument("topics", nargs="*", metavar="TOPIC",
                        help=f"what to measure (default: every topic with run(): "
                             f"{', '.join(n for n, t in topics.items() if t.runnable)}; --list says more)")
    parser.add_argument("--quick", action="store_true", help="tiny models and few rounds: a smoke run of seconds")
    parser.add_argument("--list", action="store_true", help="list the topics and exit")
    parser.add_argument("--models", type=_names(MODELS), default=list(MODELS),
                        help=f"comma-separated (default: {','.join(MODELS)})")
    parser.add_argument("--frameworks", type=_names(FRAMEWORKS), default=list(FRAMEWORKS),
                        help="comma-separated (default: all; our PyTorch always runs, every comparison needs it)")
    parser.add_argument("--devices", type=_names(DEVICES), default=list(DEVICES),
                        help="cpu and/or accelerator (default both; the accelerator only where a framework has one)")
    parser.add_argument("--repeats", type=int, help="interleaved rounds per case (default: the topic's; 10 for forward)")
    parser.add_argument("--output", type=Path, default=PACKAGE / "results",
                        help="folder for results.json, table.md and the figures (default: bench/results)")
    parser.add_argument("--no-plots", action="store_true", help="write no figures")
    parser.add_argument("--threads", type=int,
                        help="threads of every framework (default: each library's own; --quick: 1). "
                             "On a shared, loaded machine 1 gives the steadiest ratios (docs/performance.md)")
    for topic in topics.values():
        if topic.runnable and hasattr(topic.module, "add_arguments"):
            topic.module.add_arguments(parser)
    return parser


def run_script(topic: Topic, args) -> dict:
    """Run a script topic in a child process (``--output FILE``) and keep its JSON, ratios as rows."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / f"{topic.name}.json"
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
        subprocess.run([sys.executable, str(topic.path), "--output", str(out)], check=True, env=env)
        raw = json.loads(out.read_text())
    rows = [common.value_row(topic.name, "", "", key, [value], quantity=key, note="one median, no spread")
            for key, value in raw.items() if isinstance(value, float) and ("ratio" in key or "_over_" in key)]
    return {"rows": rows, "raw": raw}


def _write_json(path: Path, data: dict) -> None:
    """Write whole or not at all (a temporary file renamed over the old one)."""
    temporary = path.with_name(path.name + ".partial")
    temporary.write_text(json.dumps(data, indent=2, default=str) + "\n", encoding="utf-8")
    os.replace(temporary, path)


def main(argv: list[str] | None = None, prog: str = "python -m bench") -> int:
    topics = discover()
    parser = build_parser(topics)
    parser.prog = prog
    args = parser.parse_args(argv)
    if args.list:
        for name, topic in topics.items():
            print(f"{name:<16} {topic.summary()}")
        return 0
    if args.repeats is not None and args.repeats < 1:
        parser.error(f"--repeats must be at least 1, got {args.repeats}")
    unknown = [name for name in args.topics if name not in topics]
    if unknown:
        parser.error(f"unknown topic {', '.join(map(repr, unknown))}; known: {', '.join(topics)}")
    if args.threads is not None and args.threads < 0:
        parser.error(f"--threads must be 0 (each library's default) or more, got {args.threads}")
    chosen = args.topics or [name for name, topic in topics.items() if topic.runnable]
    args.output.mkdir(parents=True, exist_ok=True)
    if args.threads is None and args.quick:
        args.threads = 1

    started = time.time()
    results = {"command": " ".join([prog, *(argv if argv is not None else sys.argv[1:])]),
               "started": time.strftime("%Y-%m-%d %H:%M:%S %z", time.localtime(started)), "quick": args.quick,
               "machine": common.machine(), "topics": {}}
    if args.threads:
        results["threads"] = common.limit_threads(args.threads)
    failed = False
    for name in chosen:
        topic = topics[name]
        print(f"== {name}", file=sys.stderr, flush=True)
        begin = time.perf_counter()
        try:
            if topic.module is None:
                raise ImportError(topic.problem)
            if topic.runnable:
                outcome = topic.module.run(args)
            elif args.quick:
                outcome = {"skipped": [{"reason": "a script topic has no --quick mode; run it without --quick"}]}
            else:
                outcome = run_script(topic, args)
        except Exception as error:  # one topic failing must not lose the others' numbers
            failed = True
            outcome = {"error": f"{type(error).__name__}: {error}", "traceback": traceback.format_exc()}
            print(f"[{name}] failed: {outcome['traceback']}", file=sys.stderr)
        outcome["elapsed_s"] = time.perf_counter() - begin
        results["topics"][name] = outcome
    results["elapsed_s"] = time.time() - started
    results["machine"]["torch_threads"] = _torch_threads()
    try:
        results["machine"]["load_average_at_end"] = list(os.getloadavg())
    except OSError:
        pass

    table = report.text_table(results)
    print(table)
    (args.output / "table.md").write_text(report.markdown_table(results), encoding="utf-8")
    results["figures"] = [] if args.no_plots else _draw(results, args.output)
    _write_json(args.output / "results.json", results)
    print(f"\nwrote {args.output / 'results.json'}, {args.output / 'table.md'}"
          + "".join(f", {args.output / name}" for name in results["figures"]))
    return 1 if failed else 0


def _torch_threads() -> int | None:
    torch = sys.modules.get("torch")  # only if a topic used it: importing it here would cost seconds
    return torch.get_num_threads() if torch is not None else None


def _draw(results: dict, output: Path) -> list[str]:
    try:
        from . import plots
    except ImportError as error:
        print(f"\nno figures: {error} (pip install matplotlib, or pip install -e '.[bench]')", file=sys.stderr)
        return []
    return plots.draw(results, output)
