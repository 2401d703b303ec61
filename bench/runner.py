"""``python -m bench`` (and ``polyformer bench``): run the topics, print the table, write JSON and figures.

A *topic* is a module ``bench/bench_<topic>.py``. Most define

* ``run(args) -> dict``: measure, and return a dict that goes to JSON as it is; its ``"rows"``
  (see :mod:`bench.common`) are printed in the table, and the runner draws its figures from
  them; ``args`` is the parsed command line, whose common options every topic honours:
  ``quick`` (tiny models, few rounds: seconds), ``repeats`` (None: the topic's default),
  ``models``, ``frameworks``, ``devices`` and ``output`` (the folder results go to);
* optionally ``add_arguments(parser)``, to add the topic's own options.

A topic written to run on its own as well (``python bench/bench_load.py``) may instead have
``build_parser()``: its ``run`` then gets *its own* options at their defaults, with the common
options that it also has (``repeats``, ``models``, ``frameworks``, ``quick``...) taken from
this command line, values its parser does not accept (a model it does not measure) left out
(:func:`topic_args`). A topic whose result has no ``"rows"`` still shows in the table: every
median / quartiles dict in it becomes a row, and so does every number whose key names a
ratio (:func:`rows_from_result`); a ``peak_over_checkpoint`` under a ``"model/framework"``
key is drawn as memory at load.

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
from .models import all_names

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
    parser.add_argument("--quick", action="store_true",
                        help="tiny models and few rounds: a smoke run (under a minute per topic on an idle machine)")
    parser.add_argument("--list", action="store_true", help="list the topics and exit")
    models = all_names()
    parser.add_argument("--models", type=_names(models), default=models,
                        help=f"comma-separated (default: every registered architecture, {','.join(models)})")
    parser.add_argument("--frameworks", type=_names(FRAMEWORKS), default=list(FRAMEWORKS),
                        help="comma-separated (default: all; our PyTorch always runs, every comparison needs it)")
    parser.add_argument("--devices", type=_names(DEVICES), default=list(DEVICES),
                        help="cpu and/or accelerator (default both; the accelerator only where a framework has one)")
    parser.add_argument("--repeats", type=int, help="interleaved rounds per case (default: the topic's; 10 for forward)")
    parser.add_argument("--output", type=Path, default=PACKAGE / "results",
                        help="folder for results.json, table.md and the figures (default: bench/results)")
    parser.add_argument("--no-plots", action="store_true", help="write no figures")
    parser.add_argument("--replot", type=Path, nargs="+", metavar="RESULTS_JSON",
                        help="measure nothing: print the table and draw the figures of earlier runs' results.json "
                             "(several: one run each, e.g. one model each, shown together) into --output")
    parser.add_argument("--threads", type=int,
                        help="threads of every framework (default: each library's own; --quick: 1). "
                             "On a shared, loaded machine 1 gives the steadiest ratios (docs/performance.md)")
    for topic in topics.values():
        if topic.runnable and hasattr(topic.module, "add_arguments"):
            topic.module.add_arguments(parser)
    return parser


#: The options of this command line a topic with its own parser may share (same name, same meaning).
SHARED_OPTIONS = ("quick", "repeats", "models", "frameworks", "devices", "threads")


def topic_args(topic: Topic, args: argparse.Namespace) -> argparse.Namespace:
    """What ``topic.module.run`` gets: ``args`` itself, or the topic's own options (see the module's docstring)."""
    build = getattr(topic.module, "build_parser", None)
    if build is None:
        return args
    parser = build()
    own = parser.parse_args([])
    choices = {action.dest: action.choices for action in parser._actions if action.choices}
    for name in SHARED_OPTIONS:
        value = getattr(args, name, None)
        if value is None or not hasattr(own, name):
            continue
        if isinstance(value, list) and name in choices:
            value = [item for item in value if item in choices[name]]
            if not value:
                continue  # none of ours is one it measures: its own default
        setattr(own, name, value)
    if args.quick and getattr(own, "repeats", None) is not None and not hasattr(own, "quick"):
        own.repeats = 1  # it has no quick mode of its own: one round is the closest
    return own


def _is_spread(value) -> bool:
    return isinstance(value, dict) and {"median", "q1", "q3"} <= set(value)


def rows_from_result(topic: str, result: dict) -> list[dict]:
    """Rows for the table from a topic's result that has none: its medians with quartiles, and its ratios."""
    rows = []

    def where(path: list[str]) -> tuple[str, str]:
        """(model, framework) from the keys above a number, e.g. "distilbert/keras"."""
        for key in reversed(path):
            model, _, framework = key.partition("/")
            if framework in FRAMEWORKS:
                return model, framework
        return "", ""

    def walk(value, path: list[str]) -> None:
        if _is_spread(value):
            model, framework = where(path[:-1])
            quantity = common.MEMORY_AT_LOAD if path[-1] == "peak_over_checkpoint" else path[-1]
            target = common.at_most(1.2, "issue 10: peak RSS increase at load <= 1.2x the checkpoint") \
                if quantity == common.MEMORY_AT_LOAD else None
            label = path[-1] if framework else " ".join(path)
            rows.append(common.spread_row(topic, model, "", label, value, quantity=quantity, framework=framework,
                                          target=target))
        elif isinstance(value, dict):
            for key, item in value.items():
                walk(item, [*path, str(key)])
        elif isinstance(value, float) and path and ("ratio" in " ".join(path) or "_over_" in path[-1]
                                                    or " / " in path[-1]):
            rows.append(common.value_row(topic, "", "", path[-1], [value], quantity=path[-1],
                                         note="one number, no spread"))

    walk(result, [])
    return rows


def run_script(topic: Topic, args) -> dict:
    """Run a script topic in a child process (``--output FILE``) and keep its JSON, ratios as rows."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / f"{topic.name}.json"
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
        subprocess.run([sys.executable, str(topic.path), "--output", str(out)], check=True, env=env)
        raw = json.loads(out.read_text())
    return {"rows": rows_from_result(topic.name, raw), "raw": raw}


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
    if args.replot is not None:
        try:
            return replot(args.replot, args.output, plots=not args.no_plots)
        except ValueError as error:
            parser.error(str(error))
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
                outcome = topic.module.run(topic_args(topic, args))
                if not isinstance(outcome, dict):
                    raise TypeError(f"bench/bench_{name}.py: run() must return a dict, got {type(outcome).__name__}")
                if "rows" not in outcome:
                    outcome = {**outcome, "rows": rows_from_result(name, outcome)}
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

    _write_outputs(results, args.output, plots=not args.no_plots)
    return 1 if failed else 0


def _write_outputs(results: dict, output: Path, plots: bool) -> None:
    """Print the table; write table.md, the figures and results.json into ``output``."""
    print(report.text_table(results))
    (output / "table.md").write_text(report.markdown_table(results), encoding="utf-8")
    results["figures"] = _draw(results, output) if plots else []
    _write_json(output / "results.json", results)
    print(f"\nwrote {output / 'results.json'}, {output / 'table.md'}"
          + "".join(f", {output / name}" for name in results["figures"]))


def replot(sources: list[Path], output: Path, plots: bool = True) -> int:
    """The table and figures of earlier runs, from their results.json (nothing is measured).

    Several runs are shown as one: each topic's lists (rows, times...) are joined and its
    dicts (models...) merged, and ``commands`` lists how each run was made.
    """
    merged = None
    for source in sources:
        try:
            results = json.loads(source.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise ValueError(f"--replot {source}: cannot read it as JSON: {error}") from None
        if not isinstance(results, dict) or not {"machine", "topics"} <= set(results):
            raise ValueError(f"--replot {source}: not a results.json of python -m bench (expected the keys "
                             f"'machine' and 'topics')")
        if merged is None:
            merged = {**results, "commands": [results.get("command", "")]}
            continue
        merged["commands"].append(results.get("command", ""))
        for name, outcome in results["topics"].items():
            mine = merged["topics"].setdefault(name, {})
            for key, value in outcome.items():
                if isinstance(value, list) and isinstance(mine.get(key), list):
                    mine[key] = mine[key] + value
                elif isinstance(value, dict) and isinstance(mine.get(key), dict):
                    mine[key] = {**mine[key], **value}
                else:
                    mine.setdefault(key, value)
    output.mkdir(parents=True, exist_ok=True)
    _write_outputs(merged, output, plots)
    return 0


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
