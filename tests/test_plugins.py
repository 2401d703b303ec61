"""The plugin host: entry points, isolation of broken plugins, strict mode, allow/deny lists."""

import subprocess
import sys
import textwrap
import types
import warnings
from importlib.metadata import EntryPoint

import pytest

import polyformer
from polyformer.core import plugins
from polyformer.core.plugins import PluginError, PluginWarning, build_registry, make_plugin_manager
from polyformer.core.registry import Architecture, Backend


def _arch_plugin(model_type, config="polyformer.models.distilbert.configuration:DistilBertConfig", **order):
    module = types.ModuleType(f"plugin_{model_type}")

    @polyformer.hookimpl(**order)
    def register_architectures(register):
        register(Architecture(model_type=model_type, config=config))

    module.register_architectures = register_architectures
    return module


def test_builtins_register_through_entry_points():
    names = {ep.name: ep.value for ep in plugins._entry_points()}
    assert names["torch"] == "polyformer.backends.torch.plugin"
    assert names["distilbert"] == "polyformer.models.distilbert.plugin"
    registry = polyformer.get_registry()
    assert registry.plugins["distilbert"].status == "ok"
    assert registry.architectures["distilbert"].plugin == "distilbert"
    assert registry.backends["torch"].plugin == "torch"
    assert registry.names["DistilBertModel"].endswith("modeling_torch:DistilBertModel")


@pytest.mark.parametrize("order", [{}, {"tryfirst": True}, {"trylast": True}])
def test_in_process_plugin_manager_and_clash_is_reported(order):
    # The first plugin registered keeps the name, whatever pluggy's tryfirst / trylast say.
    pm, infos = make_plugin_manager(load_entrypoints=False)
    pm.register(_arch_plugin("toy"), name="first")
    pm.register(_arch_plugin("toy", **order), name="second")
    with pytest.warns(PluginWarning, match="plugin 'second'.*model_type 'toy' is already registered by plugin 'first'"):
        registry = build_registry(pm, infos)
    assert registry.architectures["toy"].plugin == "first"
    assert (infos["first"].status, infos["second"].status) == ("ok", "partial")


def _installed_entry_point(root, distribution, name, value):
    """The entry point ``name = value`` of distribution ``distribution``, installed (as a dist-info) in ``root``."""
    from importlib.metadata import PathDistribution

    info = root / f"{distribution}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {distribution}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[polyformer]\n{name} = {value}\n")
    [ep] = PathDistribution(info).entry_points
    return ep


def test_entry_points_are_deduplicated_per_distribution(tmp_path, monkeypatch):
    # importlib.metadata already drops a distribution found twice; the host must not rely on it.
    builtins = list(plugins._entry_points())
    twice_a = _installed_entry_point(tmp_path / "a", "zed-dist", "toy", "json")
    twice_b = _installed_entry_point(tmp_path / "b", "Zed_Dist", "toy", "json")  # the same, spelled differently
    first = _installed_entry_point(tmp_path / "c", "another-dist", "toy", "json")
    shadow = _installed_entry_point(tmp_path / "d", "aaa-shadow", "distilbert", "json")
    monkeypatch.setattr(plugins, "_entry_points", lambda: [twice_a, shadow, twice_b, first, *builtins])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pm, infos = make_plugin_manager()
    messages = sorted(str(w.message) for w in caught if "already taken" in str(w.message))
    assert messages == [
        "polyformer plugin 'distilbert' (distribution aaa-shadow 1.0): entry-point name 'distilbert' is already "
        "taken by plugin 'distilbert' (distribution polyformer 0.1.0, built in); this plugin is not loaded "
        "(rename its entry point)",
        "polyformer plugin 'toy' (distribution zed-dist 1.0): entry-point name 'toy' is already taken by "
        "plugin 'toy' (distribution another-dist 1.0); this plugin is not loaded (rename its entry point)",
    ]
    assert infos["toy"].distribution == "another-dist" and infos["zed-dist:toy"].status == "conflict"
    assert "Zed_Dist:toy" not in infos
    assert infos["distilbert"].builtin and infos["aaa-shadow:distilbert"].status == "conflict"
    assert "distilbert" in build_registry(pm, infos).architectures
    monkeypatch.setenv("POLYFORMER_STRICT_PLUGINS", "1")
    distilbert = [ep for ep in builtins if ep.name == "distilbert"]
    monkeypatch.setattr(plugins, "_entry_points", lambda: [shadow, *distilbert])
    with pytest.raises(PluginError, match="'distilbert' .*aaa-shadow.*already taken by .*polyformer 0.1.0, built in"):
        make_plugin_manager()


def test_raising_hook_spoils_only_its_plugin():
    bad = types.ModuleType("bad")

    @polyformer.hookimpl
    def register_architectures(register):
        raise RuntimeError("kaboom")

    bad.register_architectures = register_architectures
    pm, infos = make_plugin_manager(load_entrypoints=False)
    pm.register(bad, name="bad")
    pm.register(_arch_plugin("good"), name="good")
    with pytest.warns(PluginWarning, match="plugin 'bad'.*RuntimeError: kaboom"):
        registry = build_registry(pm, infos)
    assert "good" in registry.architectures
    assert infos["bad"].status == "failed" and infos["good"].status == "ok"


def test_malformed_registration_is_rejected_with_the_plugin_name():
    module = types.ModuleType("weird")

    @polyformer.hookimpl
    def register_backends(register):
        register("not a backend")
        register(Backend(name="toyfw", requires=("json",), tensor_type="toy", to_tensor="json:loads"))

    module.register_backends = register_backends
    pm, infos = make_plugin_manager(load_entrypoints=False)
    pm.register(module, name="weird")
    with pytest.warns(PluginWarning, match="plugin 'weird'.*expected a Backend"):
        registry = build_registry(pm, infos)
    assert "toyfw" in registry.backends and registry.backends["toyfw"].is_available()


def test_broken_entry_point_is_reported_and_others_load(monkeypatch):
    good = list(plugins._entry_points())
    broken = EntryPoint(name="broken", value="polyformer_no_such_module.plugin", group="polyformer")
    monkeypatch.setattr(plugins, "_entry_points", lambda: [broken, *good])
    with pytest.warns(PluginWarning, match="plugin 'broken'.*ModuleNotFoundError"):
        pm, infos = make_plugin_manager()
    registry = build_registry(pm, infos)
    assert infos["broken"].status == "failed"
    assert "distilbert" in registry.architectures


def test_strict_mode_raises(monkeypatch):
    broken = EntryPoint(name="broken", value="polyformer_no_such_module.plugin", group="polyformer")
    monkeypatch.setattr(plugins, "_entry_points", lambda: [broken])
    monkeypatch.setenv("POLYFORMER_STRICT_PLUGINS", "1")
    with pytest.raises(PluginError, match="broken"):
        make_plugin_manager()


def test_allow_and_deny_lists(monkeypatch):
    monkeypatch.setenv("POLYFORMER_DISABLE_PLUGINS", "distilbert")
    pm, infos = make_plugin_manager()
    registry = build_registry(pm, infos)
    assert "distilbert" not in registry.architectures and infos["distilbert"].status == "disabled"
    assert "torch" in registry.backends
    monkeypatch.delenv("POLYFORMER_DISABLE_PLUGINS")
    monkeypatch.setenv("POLYFORMER_PLUGINS", "tasks,distilbert")  # an architecture needs the plugin of its tasks
    pm, infos = make_plugin_manager()
    registry = build_registry(pm, infos)
    assert "distilbert" in registry.architectures and "torch" not in registry.backends
    monkeypatch.setenv("POLYFORMER_PLUGINS", "distilbert")
    with pytest.warns(PluginWarning, match="unknown task 'base'.*registered tasks: none"):
        registry = build_registry(*make_plugin_manager())
    assert "distilbert" not in registry.architectures


def test_import_polyformer_is_light_and_lazy():
    code = textwrap.dedent(
        """
        import sys
        import polyformer
        heavy = [m for m in ("torch", "tensorflow", "keras", "jax", "flax") if m in sys.modules]
        assert not heavy, heavy
        assert "polyformer.core.plugins" not in sys.modules  # no plugin scan at import
        polyformer.DistilBertConfig
        heavy = [m for m in ("torch", "tensorflow", "keras", "jax", "flax") if m in sys.modules]
        assert not heavy, heavy
        print("ok")
        """
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_unknown_top_level_name():
    with pytest.raises(AttributeError, match="NoSuchModel"):
        polyformer.NoSuchModel  # noqa: B018


def test_cli_plugins_lists_heads_per_framework():
    result = subprocess.run([sys.executable, "-m", "polyformer", "plugins"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "distilbert" in result.stdout and "torch" in result.stdout
    assert "question-answering" in result.stdout


def test_no_warnings_from_builtins():
    with warnings.catch_warnings():
        warnings.simplefilter("error", PluginWarning)
        pm, infos = make_plugin_manager()
        build_registry(pm, infos)
    assert all(info.status == "ok" for info in infos.values())
