"""Plugins that misbehave, as installed distributions: the host warns, names them, and goes on.

Each case writes a small distribution into a temporary folder (a package plus its
``.dist-info`` with ``METADATA`` and ``entry_points.txt``), which is what ``pip install``
leaves behind; putting the folder on ``PYTHONPATH`` makes ``importlib.metadata`` find
its entry points. The checks run in a fresh interpreter, as a user's program would.

The built-in plugins are the entry points of the ``polyformer`` distribution. So that
the checks see the ones this source tree declares (and not those of whichever checkout
was last ``pip install``-ed), a ``polyformer`` dist-info made from ``pyproject.toml``
goes on the path too, ahead of site-packages.
"""

import os
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import pytest

import polyformer

DISTILBERT_CONFIG = "polyformer.models.distilbert.configuration:DistilBertConfig"


def make_distribution(root, name, plugin_source, requires=("polyformer",), version="1.0", entry_point=None):
    """Install distribution ``name`` into folder ``root``; its entry point is ``entry_point`` (default: ``name``)."""
    root.mkdir(parents=True, exist_ok=True)
    package = root / name
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "plugin.py").write_text(textwrap.dedent(plugin_source))
    info = root / f"{name}-{version}.dist-info"
    info.mkdir()
    metadata = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}"]
    metadata += [f"Requires-Dist: {r}" for r in requires]
    (info / "METADATA").write_text("\n".join(metadata) + "\n")
    (info / "entry_points.txt").write_text(f"[polyformer]\n{entry_point or name} = {name}.plugin\n")


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
for model_type, arch in sorted(registry.architectures.items()):
    holder = registry.plugins[arch.plugin]
    print("ARCH:", model_type, arch.plugin, holder.distribution, polyformer.core.registry.class_name(arch.config))
config = polyformer.DistilBertConfig(dim=32, n_heads=2, n_layers=1, hidden_dim=16, vocab_size=30)
print("DISTILBERT OK", config.dim)
"""


@pytest.fixture(scope="module")
def source_tree_metadata(tmp_path_factory):
    """A folder holding the ``polyformer`` dist-info of this source tree (its entry points from pyproject.toml)."""
    project = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())["project"]
    root = tmp_path_factory.mktemp("source-tree")
    info = root / f"polyformer-{project['version']}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: polyformer\nVersion: {project['version']}\n")
    entry_points = "".join(f"{name} = {value}\n" for name, value in project["entry-points"]["polyformer"].items())
    (info / "entry_points.txt").write_text("[polyformer]\n" + entry_points)
    assert project["version"] == polyformer.__version__
    return root


@pytest.fixture(autouse=True)
def _use_source_tree_metadata(source_tree_metadata, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(source_tree_metadata), os.environ.get("PYTHONPATH", "")]))


def probe(root, strict=False, code=PROBE, **environ):
    """Run ``code`` in a fresh interpreter with ``root`` (a folder, or a list of them) first on ``PYTHONPATH``."""
    roots = root if isinstance(root, list) else [root]
    env = {**os.environ, **environ, "PYTHONPATH": os.pathsep.join([*map(str, roots), os.environ["PYTHONPATH"]])}
    env.pop("POLYFORMER_STRICT_PLUGINS", None)
    if strict:
        env["POLYFORMER_STRICT_PLUGINS"] = "1"
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)


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
    # claimtwo comes first on sys.path; claimone still wins: third-party plugins go by distribution name.
    make_distribution(tmp_path / "a", "claimtwo", ARCH_PLUGIN.format(model_type="twin", config=DISTILBERT_CONFIG))
    make_distribution(tmp_path / "b", "claimone", ARCH_PLUGIN.format(model_type="twin", config=DISTILBERT_CONFIG))
    result = probe([tmp_path / "a", tmp_path / "b"])
    assert result.returncode == 0, result.stderr
    [warning] = lines(result, "WARNING:")
    assert warning.startswith("polyformer plugin 'claimtwo' (distribution claimtwo 1.0): model_type 'twin' "
                              "is already registered by plugin 'claimone' (distribution claimone 1.0)"), warning
    statuses = {line.split()[0]: line.split()[2] for line in lines(result, "PLUGIN:")}
    assert statuses["claimone"] == "ok" and statuses["claimtwo"] == "partial"
    assert "twin claimone claimone DistilBertConfig" in lines(result, "ARCH:")


def test_plugin_claiming_a_builtin_model_type(tmp_path):
    # The usurper's own config class, so that a takeover would show in the registry.
    make_distribution(tmp_path, "usurper", """
        import polyformer

        class DistilBertConfig(polyformer.PretrainedConfig):
            model_type = "distilbert"

        @polyformer.hookimpl(trylast=True)  # pluggy's order must not decide who keeps a name
        def register_architectures(register):
            register(polyformer.Architecture(model_type="distilbert", config="usurper.plugin:DistilBertConfig"))
    """)
    result = probe(tmp_path)
    assert result.returncode == 0, result.stderr
    [warning] = lines(result, "WARNING:")
    assert warning == ("polyformer plugin 'usurper' (distribution usurper 1.0): model_type 'distilbert' is already "
                       "registered by plugin 'distilbert' (distribution polyformer 0.1.0, built in); "
                       "this registration is refused")
    assert "usurper 1.0 partial" in lines(result, "PLUGIN:")
    assert "distilbert distilbert polyformer DistilBertConfig" in lines(result, "ARCH:")
    assert "DISTILBERT OK 32" in result.stdout
    result = probe(tmp_path, strict=True)
    assert result.returncode != 0
    assert "PluginError: polyformer plugin 'usurper' (distribution usurper 1.0): model_type 'distilbert'" in result.stderr


def test_a_disabled_builtin_can_be_replaced_on_purpose(tmp_path):
    make_distribution(tmp_path, "mydistilbert", """
        import polyformer

        class DistilBertConfig(polyformer.PretrainedConfig):
            model_type = "distilbert"

        @polyformer.hookimpl
        def register_architectures(register):
            register(polyformer.Architecture(model_type="distilbert", config="mydistilbert.plugin:DistilBertConfig"))
    """)
    result = probe(tmp_path, strict=True, POLYFORMER_DISABLE_PLUGINS="distilbert")
    assert result.returncode == 0, result.stderr
    assert "distilbert mydistilbert mydistilbert DistilBertConfig" in lines(result, "ARCH:")


AUTO_MODEL_PROBE = """
import sys, warnings
warnings.simplefilter("always")
import polyformer
folder = sys.argv[1]
config = polyformer.DistilBertConfig(dim=32, n_heads=2, n_layers=1, hidden_dim=16, vocab_size=30,
                                     max_position_embeddings=16)
polyformer.AutoModel.from_config(config, framework="torch").save_pretrained(folder)
model = polyformer.AutoModel.from_pretrained(folder, framework="torch")
print("LOADED", type(model).__name__)
"""


def test_entry_point_named_like_a_builtin_does_not_replace_it(tmp_path):
    # An empty module under the built-in's entry-point name used to remove DistilBERT.
    make_distribution(tmp_path / "site", "shadow", "", version="0.1", entry_point="distilbert")
    expected = ("polyformer plugin 'distilbert' (distribution shadow 0.1): entry-point name 'distilbert' is already "
                "taken by plugin 'distilbert' (distribution polyformer 0.1.0, built in); this plugin is not loaded")
    result = probe(tmp_path / "site")
    assert result.returncode == 0, result.stderr
    [warning] = lines(result, "WARNING:")
    assert warning.startswith(expected), warning
    assert "distilbert distilbert polyformer DistilBertConfig" in lines(result, "ARCH:")
    assert "shadow:distilbert 0.1 conflict" in lines(result, "PLUGIN:")
    assert "DISTILBERT OK 32" in result.stdout

    code = AUTO_MODEL_PROBE.replace("folder = sys.argv[1]", f"folder = {str(tmp_path / 'model')!r}")
    result = probe(tmp_path / "site", code=code)
    assert result.returncode == 0, result.stderr
    assert "LOADED DistilBertModel" in result.stdout

    result = probe(tmp_path / "site", strict=True)
    assert result.returncode != 0
    assert "PluginError: " + expected in result.stderr


def test_two_third_party_plugins_with_one_entry_point_name(tmp_path):
    # Found in the opposite order on sys.path; the first by distribution name keeps the name.
    make_distribution(tmp_path / "a", "zeta", ARCH_PLUGIN.format(model_type="zetatype", config=DISTILBERT_CONFIG),
                      entry_point="twin")
    make_distribution(tmp_path / "b", "alpha", ARCH_PLUGIN.format(model_type="alphatype", config=DISTILBERT_CONFIG),
                      entry_point="twin")
    result = probe([tmp_path / "a", tmp_path / "b"])
    assert result.returncode == 0, result.stderr
    [warning] = lines(result, "WARNING:")
    assert warning.startswith("polyformer plugin 'twin' (distribution zeta 1.0): entry-point name 'twin' is "
                              "already taken by plugin 'twin' (distribution alpha 1.0)"), warning
    plugins = lines(result, "PLUGIN:")
    assert "twin 1.0 ok alphatype" in plugins and "zeta:twin 1.0 conflict" in plugins
    assert not any(line.startswith("zetatype") for line in lines(result, "ARCH:"))


def test_the_same_distribution_twice_on_sys_path_is_silent(tmp_path):
    for folder in ("first", "second"):
        make_distribution(tmp_path / folder, "toyarch", ARCH_PLUGIN.format(model_type="toy", config=DISTILBERT_CONFIG))
    result = probe([tmp_path / "first", tmp_path / "second"], strict=True)
    assert result.returncode == 0, result.stderr
    assert not lines(result, "WARNING:")
    assert "toyarch 1.0 ok toy" in lines(result, "PLUGIN:")


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
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ["PYTHONPATH"]])}
    result = subprocess.run([sys.executable, "-W", "ignore", "-m", "polyformer", "plugins"], capture_output=True,
                            text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "brokenimport" in out and "failed" in out and "polyformer_this_does_not_exist" in out
    assert "toyarch" in out and "architecture toy" in out
