"""The benchmark entry point: ``python -m bench --quick`` end to end, ``polyformer bench``, and the helpers.

No figure here is a timing assertion: the quick run checks what the bench writes (JSON
rows for every model and framework the registry has, outputs that agree, figures), never
how fast anything was.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
HAVE_MATPLOTLIB = importlib.util.find_spec("matplotlib") is not None


def _env() -> dict:
    return dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), *sys.path]))


#: The smoke run: a tiny text model in every framework, one round; the sweeps time the PyTorch kinds only
#: (--quick). Image inputs: test_image_inputs_run; other architectures: test_an_architecture_registered_in_process...
QUICK_MODELS = ("distilbert",)


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    command = [sys.executable, "-m", "bench", "forward", "--quick", "--repeats", "1", "--models",
               ",".join(QUICK_MODELS), "--output", str(out)]
    result = subprocess.run(command, cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=1800)
    assert result.returncode == 0, result.stderr[-4000:]
    return out, result, json.loads((out / "results.json").read_text())


def _expected_kinds() -> dict[str, set[str]]:
    """What the quick run must have timed, per model: every framework the registry has a base model in."""
    from bench.bench_forward import SIDES
    from bench.models import frameworks_of, get_spec

    expected = {}
    for name in QUICK_MODELS:
        frameworks = frameworks_of(get_spec(name))
        kinds = {kind for framework in frameworks for kind in SIDES[framework].kinds}
        if importlib.util.find_spec("transformers") is not None:
            kinds.add("transformers")
        expected[name] = kinds
    return expected


def test_quick_run_times_every_model_in_every_registered_framework(quick_run):
    _, _, results = quick_run
    forward = results["topics"]["forward"]
    assert "error" not in forward, forward.get("traceback")
    for model, kinds in _expected_kinds().items():
        assert {"torch", "keras", "flax"} <= kinds  # registered in every framework
        table = {t["kind"] for t in forward["times"] if t["model"] == model and t["table_shape"]}
        assert table == kinds, (model, table)
        labels = {row["label"] for row in forward["rows"] if row["model"] == model and row["table_shape"]}
        assert "torch / transformers" in labels
        for framework, best in (("keras", "keras-predict"), ("flax", "flax-apply")):
            assert {f"{framework} / torch", f"{framework} / {best}"} <= labels, (model, labels)
    assert not forward["skipped"], forward["skipped"]


def test_quick_run_rows_have_spread_and_agreeing_outputs(quick_run):
    _, _, results = quick_run
    forward = results["topics"]["forward"]
    for row in forward["rows"]:
        ratio = row["ratio"]
        # one round (--repeats 1): the quartiles are the one ratio
        assert ratio["n"] == row["a"]["n"] == row["b"]["n"] == 1, row
        assert 0 < ratio["q1"] == ratio["median"] == ratio["q3"] < math.inf, row
        assert ratio["median"] == pytest.approx(row["a"]["median"] / row["b"]["median"])
        if row["target"] is None:
            assert row["met"] is None
        else:
            value, op = row["target"]["value"], row["target"]["op"]
            assert row["met"] is (ratio["median"] <= value if op == "<=" else ratio["median"] >= value), row
    assert {check["model"] for check in forward["checks"]} == set(QUICK_MODELS)
    for check in forward["checks"]:
        # Tiny float32 models whose outputs are layer-normed (|x| up to a few): the frameworks order their sums
        # differently, so they agree to float32 rounding of a few ulps of the largest value, not bit for bit.
        assert check["max_abs_diff_vs_torch"] <= 1e-5 * max(1.0, check["max_abs_output"]), check
    swept = {(t["model"], t["size"], t["kind"]) for t in forward["times"] if not t["table_shape"]}
    # the length sweep (text only) and the batch sweep ran, for the PyTorch kinds (--quick)
    assert swept == {("distilbert", size, kind) for size in ("2x8", "1x16") for kind in ("transformers", "torch")}


def test_quick_run_writes_table_json_and_figures(quick_run):
    out, result, results = quick_run
    assert results["quick"] is True and results["threads"]["threads"] == 1
    machine = results["machine"]
    assert machine["cpu"] and machine["logical_cores"] >= 1
    assert "torch / transformers" in result.stdout and "median and quartiles" in result.stdout
    table = (out / "table.md").read_text()
    assert "| distilbert | 2x16 | torch / transformers |" in table and "| distilbert | 2x16 | flax / flax-apply |" in table
    figures = {"forward_time.png", "scaling_seq.png", "scaling_batch.png", "ratios.png"}
    if HAVE_MATPLOTLIB:
        assert figures <= set(results["figures"])
        for name in results["figures"]:
            assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
    else:
        assert results["figures"] == [] and not list(out.glob("*.png"))
        assert "pip install matplotlib" in result.stderr


def _forward_args(tmp_path, *argv):
    from bench.runner import build_parser, discover

    return build_parser(discover()).parse_args(["--quick", "--repeats", "1", "--no-sweeps", *argv,
                                                "--output", str(tmp_path)])


def test_image_inputs_run(tmp_path):
    """ViT's pixels, made by bench.models, run in our PyTorch model and agree with transformers'."""
    from bench import bench_forward

    result = bench_forward.run(_forward_args(tmp_path, "--models", "vit", "--frameworks", "transformers,torch"))
    assert [(t["kind"], t["size"]) for t in result["times"]] == [("transformers", "2x32px"), ("torch", "2x32px")]
    (row,) = result["rows"]
    assert row["label"] == "torch / transformers" and row["max_abs_diff"] <= 1e-5  # float32 rounding, |x| ~ 1
    assert result["models"]["vit"]["length_unit"] == "pixels (image side)" and not result["skipped"]


def test_every_registered_architecture_has_a_spec():
    """A new architecture is measured without editing the bench: its spec comes from the registry."""
    from polyformer import get_registry

    from bench.models import MODALITIES, all_names, get_spec, model_class

    registry = get_registry()
    assert set(registry.architectures) <= set(all_names())
    for name in registry.architectures:
        spec = get_spec(name)
        cls = model_class(spec, "torch")
        if cls is not None:
            assert spec.modality == MODALITIES[cls.main_input_name], name


def test_an_architecture_registered_in_process_is_measured_generically(tmp_path, monkeypatch):
    """Not in bench.models' list: its inputs come from main_input_name, its --quick config from its defaults."""
    import polyformer
    from polyformer.core.plugins import reset_registry
    from polyformer import DistilBertConfig, DistilBertModel

    class BenchDistilConfig(DistilBertConfig):
        model_type = "bench-distil"

    class BenchDistilModel(DistilBertModel):
        config_class = BenchDistilConfig

    module = types.ModuleType("bench_generic_test")  # the classes must be importable by name
    module.BenchDistilConfig, module.BenchDistilModel = BenchDistilConfig, BenchDistilModel
    BenchDistilConfig.__module__ = BenchDistilModel.__module__ = module.__name__
    monkeypatch.setitem(sys.modules, module.__name__, module)
    reset_registry()
    try:
        polyformer.register(polyformer.Architecture(model_type="bench-distil", config=BenchDistilConfig,
                                                    tasks=("base",), models={"torch": {"base": BenchDistilModel}}))
        from bench import bench_forward
        from bench.models import get_spec

        spec = get_spec("bench-distil")
        assert spec.modality == "text" and spec.tiny["dim"] == 32 and spec.tiny["n_layers"] == 2
        result = bench_forward.run(_forward_args(tmp_path, "--models", "bench-distil", "--frameworks", "torch",
                                                 "--clock", "cpu"))
    finally:
        reset_registry()
    assert [(t["model"], t["kind"], t["size"]) for t in result["times"]] == [("bench-distil", "torch", "2x16")]
    assert result["models"]["bench-distil"]["modality"] == "text" and not result["skipped"]
    assert result["settings"]["clock"] == "cpu" and result["times"][0]["seconds"]["median"] > 0


# ---- the command line ------------------------------------------------------------------
def test_polyformer_bench_runs_the_repositorys_bench(tmp_path):
    result = subprocess.run([sys.executable, "-m", "polyformer", "bench", "--list"], cwd=tmp_path, env=_env(),
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("convert") and "forward " in result.stdout and "runs by default" in result.stdout


def test_polyformer_bench_says_where_the_bench_is_when_it_is_not_there(tmp_path, monkeypatch, capsys):
    from polyformer import cli

    monkeypatch.setitem(sys.modules, "bench", None)  # `import bench` fails, as in an installed package
    monkeypatch.setattr(cli, "__file__", str(tmp_path / "polyformer" / "cli.py"))  # no checkout beside it
    assert cli.main(["bench", "--quick"]) == 2
    error = capsys.readouterr().err
    assert "polyformer bench: error:" in error and str(tmp_path / "bench") in error
    assert "python -m bench" in error and "Traceback" not in error


def test_polyformer_bench_ignores_another_package_called_bench(tmp_path, monkeypatch):
    from polyformer import cli

    monkeypatch.setitem(sys.modules, "bench", types.ModuleType("bench"))  # someone else's bench, no marker
    found = cli.find_bench()
    assert found.POLYFORMER_BENCH is True and Path(found.__file__).parent == ROOT / "bench"


@pytest.mark.parametrize("argv, message", [
    (["--models", "distilbert,gpt9"], "unknown 'gpt9' (given 'distilbert,gpt9'); expected a comma-separated list of "
                                      "distilbert, bert, vit, wav2vec2"),
    (["--frameworks", "mxnet"], "argument --frameworks: unknown 'mxnet'"),
    (["--repeats", "0"], "--repeats must be at least 1, got 0"),
    (["nosuchtopic"], "unknown topic 'nosuchtopic'; known: "),
    (["--seq-lengths", "64,x"], "argument --seq-lengths: expected positive integers separated by commas, e.g. 1,8,32; "
                                "got '64,x'"),
])
def test_bad_options_are_one_clear_error(argv, message, capsys, tmp_path):
    from bench.runner import main

    with pytest.raises(SystemExit) as exit_:
        main([*argv, "--output", str(tmp_path)])
    assert exit_.value.code == 2
    assert message in capsys.readouterr().err
    assert not list(tmp_path.iterdir())  # nothing written


# ---- helpers ---------------------------------------------------------------------------
def test_summary_and_paired_ratios():
    from bench.common import at_most, ratio_row, summary

    assert summary([4, 1, 3, 2]) == {"median": 2.5, "q1": 1.75, "q3": 3.25, "n": 4}
    # per-round ratios: a round that is slow for both (the 10 / 20) does not widen the spread
    row = ratio_row("t", "m", "1x1", "a", "b", [1.0, 10.0, 1.1], [2.0, 20.0, 2.0], target=at_most(0.6))
    assert row["ratio"]["median"] == pytest.approx(0.5) and row["ratio"]["q3"] == pytest.approx(0.525)
    assert row["met"] is True and row["label"] == "a / b"
    with pytest.raises(ValueError, match="paired samples needed, got 2 and 1"):
        ratio_row("t", "m", "1x1", "a", "b", [1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="needs at least one sample"):
        summary([])


def test_interleaved_rotates_the_order_and_keeps_to_its_budget():
    from bench.common import interleaved

    order = []
    runners = {name: (lambda name=name: order.append(name)) for name in "abc"}
    samples = interleaved(runners, 3, min_sample_s=0.0)
    assert order[3:] == list("abc" "bca" "cab")  # after one calibration call each
    assert {name: len(values) for name, values in samples.items()} == {"a": 3, "b": 3, "c": 3}

    import time

    slow = {"x": lambda: time.sleep(0.01)}
    assert len(interleaved(slow, 100, min_sample_s=0.0, budget_s=0.0, min_repeats=4)["x"]) == 4


def test_the_cpu_clock_leaves_out_waiting():
    """--clock cpu: a runner that waits (here: sleeps) costs no CPU time, while its wall time is the wait."""
    import time

    from bench.common import CLOCKS, interleaved

    runners = {"wait": lambda: time.sleep(0.02)}
    wall = interleaved(runners, 2, min_sample_s=0.0, clock=CLOCKS["wall"])["wait"]
    cpu = interleaved(runners, 2, min_sample_s=0.0, clock=CLOCKS["cpu"])["wait"]
    assert min(wall) >= 0.02 and max(cpu) < 0.01  # sleeping uses next to no CPU, on any machine


def test_script_topics_keep_their_json_and_show_their_ratios(tmp_path):
    from bench.runner import Topic, run_script

    script = tmp_path / "bench_old.py"
    script.write_text("import json, sys\n"
                      "json.dump({'load_ratio': 0.8, 'keras_over_torch': 1.25, 'load_s': 0.1, 'batch': 8},"
                      " open(sys.argv[sys.argv.index('--output') + 1], 'w'))\n")
    outcome = run_script(Topic("old", script, types.ModuleType("bench_old")), None)
    assert outcome["raw"] == {"load_ratio": 0.8, "keras_over_torch": 1.25, "load_s": 0.1, "batch": 8}
    assert {row["label"]: row["value"]["median"] for row in outcome["rows"]} == {"load_ratio": 0.8,
                                                                               "keras_over_torch": 1.25}


def _own_parser_topic(seen: list) -> types.ModuleType:
    """A topic written to run on its own too (as bench_load.py is): its own parser, a result without rows."""
    import argparse

    module = types.ModuleType("bench.bench_ownparser")
    module.__doc__ = "A topic with its own parser."

    def build_parser():
        parser = argparse.ArgumentParser()
        parser.add_argument("--repeats", type=int, default=5)
        parser.add_argument("--models", nargs="+", choices=["distilbert", "vit"], default=["distilbert", "vit"])
        parser.add_argument("--checkpoints", default=None)
        return parser

    def run(args):
        seen.append(args)
        return {"cases": {"distilbert/torch": {"load_s": {"median": 0.02, "q1": 0.01, "q3": 0.03},
                                               "peak_over_checkpoint": {"median": 0.04, "q1": 0.03, "q3": 0.05}},
                          "distilbert/keras": {"load_s": {"median": 0.04, "q1": 0.03, "q3": 0.05},
                                               "peak_over_checkpoint": {"median": 3.4, "q1": 3.3, "q3": 3.5}}},
                "ratios": {"distilbert/keras load / our torch": 2.0}, "repeats": args.repeats}

    module.build_parser, module.run = build_parser, run
    return module


def test_a_topic_with_its_own_parser_plugs_in(tmp_path, monkeypatch, capsys):
    from bench import runner

    seen = []
    topic = runner.Topic("ownparser", tmp_path / "bench_ownparser.py", _own_parser_topic(seen))
    monkeypatch.setattr(runner, "discover", lambda: {"ownparser": topic})
    argv = ["--quick", "--threads", "0", "--models", "bert,vit", "--output", str(tmp_path / "out")]
    if not HAVE_MATPLOTLIB:
        argv.append("--no-plots")
    assert runner.main(argv) == 0
    # its own options at their defaults, with ours that it shares: one round (--quick), the models it measures
    assert vars(seen[0]) == {"repeats": 1, "models": ["vit"], "checkpoints": None}
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    rows = results["topics"]["ownparser"]["rows"]
    memory = {row["framework"]: row for row in rows if row["quantity"] == "load_peak_rss_over_checkpoint"}
    assert memory["torch"]["met"] is True and memory["keras"]["met"] is False  # the target: <= 1.2
    assert memory["keras"]["value"] == {"median": 3.4, "q1": 3.3, "q3": 3.5, "n": None}
    assert {row["label"] for row in rows} >= {"load_s", "peak_over_checkpoint", "distilbert/keras load / our torch"}
    table = capsys.readouterr().out
    assert "distilbert  keras: peak_over_checkpoint" in table.replace("|", "") or "keras: peak_over_checkpoint" in table
    if HAVE_MATPLOTLIB:
        assert results["figures"] == ["memory_at_load.png"]


def test_a_topic_that_fails_is_reported_and_the_others_still_written(tmp_path, monkeypatch):
    from bench import runner

    broken = types.ModuleType("bench.bench_broken")
    broken.run = lambda args: ["not", "a", "dict"]
    topics = {"broken": runner.Topic("broken", tmp_path / "bench_broken.py", broken),
              "ownparser": runner.Topic("ownparser", tmp_path / "bench_ownparser.py", _own_parser_topic([]))}
    monkeypatch.setattr(runner, "discover", lambda: topics)
    assert runner.main(["--quick", "--threads", "0", "--no-plots", "--output", str(tmp_path)]) == 1
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["topics"]["broken"]["error"] == "TypeError: bench/bench_broken.py: run() must return a dict, got list"
    assert results["topics"]["ownparser"]["rows"]


@pytest.mark.skipif(not HAVE_MATPLOTLIB, reason="figures need matplotlib (pip install -e '.[bench]')")
def test_memory_at_load_figure_is_drawn_from_a_topics_value_rows(tmp_path):
    from bench import plots
    from bench.common import MEMORY_AT_LOAD, at_most, value_row

    rows = [value_row("load", model, "", "peak RSS / checkpoint", np.array(values), quantity=MEMORY_AT_LOAD,
                      framework=framework, target=at_most(1.2))
            for model, framework, values in (("distilbert", "torch", [0.05, 0.04, 0.06]),
                                             ("distilbert", "keras", [3.3, 3.4, 3.5]),
                                             ("vit", "flax", [2.5, 2.6, 2.55]))]
    results = {"topics": {"load": {"rows": rows}}}
    assert plots.draw(results, tmp_path) == ["memory_at_load.png"]
    assert (tmp_path / "memory_at_load.png").read_bytes()[:4] == b"\x89PNG"
    assert [row["met"] for row in rows] == [True, False, False]
