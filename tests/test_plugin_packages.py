"""Plugins that misbehave, as installed distributions: the host warns, names them, and goes on.

Each case writes a small distribution into a temporary folder (a package plus its
``.dist-info`` with ``METADATA`` and ``entry_points.txt``), which is what ``pip install``
leaves behind; putting the folder on ``PYTHONPATH`` makes ``importlib.metadata`` find
its entry points. The checks run in a fresh interpreter, as a user's program would.
"""

import os
import subprocess
import sys
import textwrap

DISTILBERT_CONFIG = "polyformer.models.distilbert.configuration:DistilBertConfig"


def make_distribution(root, name, plugin_source, requires=("polyformer",), version="1.0"):
    package = root / name
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "plugin.py").write_text(textwrap.dedent(plugin_source))
    info = root / f"{name}-{version}.dist-info"
    info.mkdir()
    metadata = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}"]
    metadata += [f"Requires-Dist: {r}" for r in requires]
    (info / "METADATA").write_text("\n".join(metadata) + "\n")
    (info / "entry_points.txt").write_text(f"[polyformer]\n{name} = {name}.plugin\n")


ARCH_PLUGIN = """
    import polyformer

    @polyformer.hookimpl
    def register_architectures(register):
        register(polyformer.Architecture(model_type={model_type!r}, config={config!r}))
"""

PROBE = """
import warnings
warnings.simplefilter("always")
with warnings.catch_warnings(record=True) as caught:
    import polyformer
    registry = polyformer.get_registry()
for w in caught:
    print("WARNING:", w.message)
for name, info in sorted(registry.plugins.items()):
    print("PLUGIN:", name, info.version, info.status, ",".join(info.architectures))
config = polyformer.DistilBertConfig(dim=32, n_heads=2, n_layers=1, hidden_dim=16, vocab_size=30)
print("DISTILBERT OK", config.dim)
"""


def probe(root, strict=False):
    env = {**os.environ, "PYTHONPATH": str(root) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    env.pop("POLYFORMER_STRICT_PLUGINS", None)
    if strict:
        env["POLYFORMER_STRICT_PLUGINS"] = "1"
    return subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, env=env, timeout=120)


def lines(result, prefix):
    return [line[len(prefix):].strip() for line in result.stdout.splitlines() if line.startswith(prefix)]


def test_a_good_third_party_plugin_is_found(tmp_path):
    make_distribution(tmp_path, "toyarch", ARCH_PLUGIN.format(model_type="toy", config=DISTILBERT_CONFIG))
    result = probe(tmp_path)
    assert result.returncode == 0, result.stderr
    assert "toyarch 1.0 ok toy" in lines(result, "PLUGIN:")
    assert not lines(result, "WARNING:")


def test_plugin_that_fails_to_import(tmp_path):
    make_distribution(tmp_path, "brokenimport", "import polyformer_this_does_not_exist\n")
    result = probe(tmp_path)
    assert result.returncode == 0, result.stderr
    [warning] = lines(result, "WARNING:")
    assert "'brokenimport'" in warning and "ModuleNotFoundError" in warning and "polyformer_this_does_not_exist" in warning
    assert "brokenimport 1.0 failed" in lines(result, "PLUGIN:")
    assert "DISTILBERT OK 32" in result.stdout


def test_hook_that_raises(tmp_path):
    make_distribution(tmp_path, "raisinghook", """
        import polyformer

        @polyformer.hookimpl
        def register_architectures(register):
            raise RuntimeError("the plugin's own bug")
    """)
    result = probe(tmp_path)
    assert result.returncode == 0, result.stderr
    [warning] = lines(result, "WARNING:")
    assert "'raisinghook'" in warning and "RuntimeError: the plugin's own bug" in warning
    assert "DISTILBERT OK 32" in result.stdout


def test_two_plugins_claim_the_same_model_type(tmp_path):
    make_distribution(tmp_path, "claimone", ARCH_PLUGIN.format(model_type="twin", config=DISTILBERT_CONFIG))
    make_distribution(tmp_path, "claimtwo", ARCH_PLUGIN.format(model_type="twin", config=DISTILBERT_CONFIG))
    result = probe(tmp_path)
    assert result.returncode == 0, result.stderr
    [warning] = lines(result, "WARNING:")
    assert "model_type 'twin' is already registered by plugin 'claim" in warning
    statuses = {line.split()[0]: line.split()[2] for line in lines(result, "PLUGIN:")}
    assert sorted([statuses["claimone"], statuses["claimtwo"]]) == ["ok", "partial"]


def test_plugin_claiming_a_builtin_model_type(tmp_path):
    make_distribution(tmp_path, "usurper", ARCH_PLUGIN.format(model_type="distilbert", config=DISTILBERT_CONFIG))
    result = probe(tmp_path)
    assert result.returncode == 0, result.stderr
    assert any("'usurper'" in w and "'distilbert' is already registered" in w or
               "'distilbert'" in w and "usurper" in w for w in lines(result, "WARNING:"))
    assert "DISTILBERT OK 32" in result.stdout


def test_plugin_built_for_another_polyformer_version(tmp_path):
    make_distribution(tmp_path, "oldplugin", ARCH_PLUGIN.format(model_type="old", config=DISTILBERT_CONFIG),
                      requires=("polyformer<0.0.1", "numpy"))
    result = probe(tmp_path)
    assert result.returncode == 0, result.stderr
    [warning] = lines(result, "WARNING:")
    assert "'oldplugin'" in warning and "built for polyformer<0.0.1" in warning
    assert "oldplugin 1.0 incompatible" in lines(result, "PLUGIN:")
    assert "DISTILBERT OK 32" in result.stdout


def test_strict_mode_makes_a_broken_plugin_fatal(tmp_path):
    make_distribution(tmp_path, "brokenimport", "raise ImportError('nope')\n")
    result = probe(tmp_path, strict=True)
    assert result.returncode != 0
    assert "PluginError" in result.stderr and "brokenimport" in result.stderr


def test_cli_lists_plugin_status(tmp_path):
    make_distribution(tmp_path, "brokenimport", "import polyformer_this_does_not_exist\n")
    make_distribution(tmp_path, "toyarch", ARCH_PLUGIN.format(model_type="toy", config=DISTILBERT_CONFIG))
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    result = subprocess.run([sys.executable, "-W", "ignore", "-m", "polyformer", "plugins"], capture_output=True,
                            text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "brokenimport" in out and "failed" in out and "polyformer_this_does_not_exist" in out
    assert "toyarch" in out and "architecture toy" in out
