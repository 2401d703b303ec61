"""The plugin host: loads entry points, calls the hooks, fills the registry.

Built-in backends and architectures come in through the same ``polyformer``
entry-point group as third-party plugins, so the path a stranger's plugin takes is
the path our own code takes every day.

Robustness rules (learned from pytest, llm and httpie):

* entry points are loaded one by one, each inside try/except: a plugin that fails
  to import, or whose hook raises, or that claims a ``model_type`` someone else
  already has, is reported with a warning naming it, and skipped;
* ``POLYFORMER_STRICT_PLUGINS=1`` turns those warnings into errors (for CI);
* ``POLYFORMER_PLUGINS=a,b`` loads only the named entry points,
  ``POLYFORMER_DISABLE_PLUGINS=a,b`` skips the named ones;
* the registry is built once per process, on first use, never at ``import polyformer``.
"""

from __future__ import annotations

import os
import threading
import warnings
from dataclasses import dataclass, field

import pluggy

from . import hookspecs
from .registry import Architecture, Backend, Registry, RegistrationError

__all__ = [
    "ENTRY_POINT_GROUP",
    "PluginInfo",
    "PluginWarning",
    "PluginError",
    "make_plugin_manager",
    "build_registry",
    "get_registry",
    "reset_registry",
]

ENTRY_POINT_GROUP = "polyformer"


class PluginWarning(UserWarning):
    """A plugin was skipped, or part of what it registered was rejected."""


class PluginError(RuntimeError):
    """Raised instead of :class:`PluginWarning` when ``POLYFORMER_STRICT_PLUGINS`` is set."""


@dataclass
class PluginInfo:
    """What the host knows about one plugin, for ``polyformer plugins``."""

    name: str
    distribution: str = ""
    version: str = ""
    status: str = "ok"  # "ok", "failed", "disabled", "partial", "incompatible"
    errors: list[str] = field(default_factory=list)
    architectures: list[str] = field(default_factory=list)
    backends: list[str] = field(default_factory=list)


def _env_list(name: str) -> set[str] | None:
    value = os.environ.get(name)
    if value is None:
        return None
    return {part.strip() for part in value.split(",") if part.strip()}


def _strict() -> bool:
    return os.environ.get("POLYFORMER_STRICT_PLUGINS", "").lower() in {"1", "true", "yes"}


def _report(info: PluginInfo, message: str) -> None:
    info.errors.append(message)
    text = f"polyformer plugin '{info.name}'" + (f" ({info.distribution} {info.version})" if info.distribution else "")
    text += f": {message}"
    if _strict():
        raise PluginError(text)
    warnings.warn(text, PluginWarning, stacklevel=3)


def make_plugin_manager(load_entrypoints: bool = True) -> tuple[pluggy.PluginManager, dict[str, PluginInfo]]:
    """A plugin manager with polyformer's hookspecs; entry points loaded unless asked not to.

    Returns the manager and a ``{plugin name: PluginInfo}`` map describing each
    plugin found (including the ones that failed). Tests pass ``load_entrypoints=False``
    and ``pm.register(module_or_object, name=...)`` their own plugins in-process.
    """
    pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    infos: dict[str, PluginInfo] = {}
    if load_entrypoints:
        _load_entrypoints(pm, infos)
    return pm, infos


def _entry_points():
    from importlib.metadata import entry_points

    return entry_points(group=ENTRY_POINT_GROUP)


def _load_entrypoints(pm: pluggy.PluginManager, infos: dict[str, PluginInfo]) -> None:
    only = _env_list("POLYFORMER_PLUGINS")
    skip = _env_list("POLYFORMER_DISABLE_PLUGINS") or set()
    seen: set[str] = set()
    for ep in _entry_points():
        if ep.name in seen:  # the same distribution found twice on sys.path
            continue
        seen.add(ep.name)
        dist = getattr(ep, "dist", None)
        info = PluginInfo(
            name=ep.name,
            distribution=dist.metadata["Name"] if dist is not None else "",
            version=dist.version if dist is not None else "",
        )
        infos[ep.name] = info
        if (only is not None and ep.name not in only) or ep.name in skip:
            info.status = "disabled"
            continue
        problem = _incompatibility(dist)
        if problem:
            info.status = "incompatible"
            _report(info, problem)
            continue
        try:
            plugin = ep.load()
            pm.register(plugin, name=ep.name)
        except Exception as exc:  # noqa: BLE001 - any failure of a plugin is reported, never fatal
            info.status = "failed"
            _report(info, f"failed to load entry point '{ep.value}': {type(exc).__name__}: {exc}")


def _incompatibility(dist) -> str | None:
    """Why the plugin's distribution cannot work with this polyformer, judged from its metadata alone.

    A plugin says which polyformer it was built for with an ordinary requirement
    (``dependencies = ["polyformer>=0.1,<0.2"]``); it is checked before the plugin is imported.
    """
    if dist is None or dist.metadata["Name"] == "polyformer":
        return None
    from packaging.requirements import InvalidRequirement, Requirement

    from .. import __version__

    for line in dist.requires or ():
        try:
            requirement = Requirement(line)
        except InvalidRequirement:
            continue
        if requirement.name.lower() != "polyformer" or requirement.marker is not None and not requirement.marker.evaluate():
            continue
        if requirement.specifier and not requirement.specifier.contains(__version__, prereleases=True):
            return f"built for polyformer{requirement.specifier}, but polyformer {__version__} is installed; skipped"
    return None


def _call_hook(pm: pluggy.PluginManager, hook_name: str, add, infos: dict[str, PluginInfo], record: str) -> None:
    """Call ``hook_name`` on each plugin separately, so one raising hook spoils only its own plugin."""
    for impl in getattr(pm.hook, hook_name).get_hookimpls():
        name = impl.plugin_name
        info = infos.setdefault(name, PluginInfo(name=name))

        def register(spec, _name=name, _info=info):
            try:
                add(spec, _name)
            except RegistrationError as exc:
                _info.status = "partial"
                _report(_info, str(exc))
                return
            getattr(_info, record).append(spec.model_type if record == "architectures" else spec.name)

        try:
            impl.function(register)
        except Exception as exc:  # noqa: BLE001
            info.status = "failed"
            _report(info, f"hook {hook_name} raised {type(exc).__name__}: {exc}")


def build_registry(pm: pluggy.PluginManager, infos: dict[str, PluginInfo] | None = None) -> Registry:
    """Call every plugin's hooks and collect what they register."""
    infos = infos if infos is not None else {}
    registry = Registry()
    _call_hook(pm, "register_backends", registry.add_backend, infos, "backends")
    _call_hook(pm, "register_architectures", registry.add_architecture, infos, "architectures")
    registry.plugins = infos
    return registry


_lock = threading.Lock()
_registry: Registry | None = None
_manual: list[tuple[str, object]] = []


def get_registry() -> Registry:
    """The process-wide registry, built from the entry points on first call."""
    global _registry
    if _registry is None:
        with _lock:
            if _registry is None:
                pm, infos = make_plugin_manager(load_entrypoints=True)
                registry = build_registry(pm, infos)
                for plugin_name, spec in _manual:
                    _add_manual(registry, plugin_name, spec)
                _registry = registry
    return _registry


def reset_registry() -> None:
    """Forget the registry (and manual registrations); the next use rebuilds it from entry points."""
    global _registry
    with _lock:
        _registry = None
        _manual.clear()


def _add_manual(registry: Registry, plugin_name: str, spec) -> None:
    info = registry.plugins.setdefault(plugin_name, PluginInfo(name=plugin_name, status="ok"))
    if isinstance(spec, Architecture):
        registry.add_architecture(spec, plugin_name)
        info.architectures.append(spec.model_type)
    elif isinstance(spec, Backend):
        registry.add_backend(spec, plugin_name)
        info.backends.append(spec.name)
    else:
        raise TypeError(f"register() expected an Architecture or a Backend, got {type(spec).__name__}")


def register(spec, *, plugin_name: str = "__main__") -> None:
    """Register an architecture or backend in-process, without packaging (for notebooks and tests).

    Has the same effect as a plugin hook calling ``register(spec)``; clashes raise
    :class:`RegistrationError` right away.
    """
    registry = get_registry()
    _add_manual(registry, plugin_name, spec)
    with _lock:
        _manual.append((plugin_name, spec))
