"""The plugin host: loads entry points, calls the hooks, fills the registry.

Built-in backends and architectures come in through the same ``polyformer``
entry-point group as third-party plugins, so the path a stranger's plugin takes is
the path our own code takes every day.

Robustness rules (learned from pytest, llm and httpie):

* entry points are loaded one by one, each inside try/except: a plugin that fails
  to import, or whose hook raises, or that claims a ``model_type`` someone else
  already has, is reported with a warning naming it, and skipped;
* a name is never enough to take another plugin's place. *Built-in* means the
  entry points of the ``polyformer`` distribution itself; they are loaded first, so a
  third-party distribution can neither reuse one of their entry-point names nor
  claim one of their ``model_type``, backend or class names. Third-party plugins
  come next, ordered by (distribution name, entry-point name), so when two of them
  clash the first in that order keeps the name, whatever the order of ``sys.path``
  or of the files on disk, and whatever ``tryfirst`` / ``trylast`` a hook asks for.
  The one that comes second is reported, naming both distributions. Only the same
  distribution seen twice (found on two ``sys.path`` entries) is dropped silently;
* ``POLYFORMER_STRICT_PLUGINS=1`` turns those warnings into errors (for CI);
* ``POLYFORMER_PLUGINS=a,b`` loads only the named entry points,
  ``POLYFORMER_DISABLE_PLUGINS=a,b`` skips the named ones;
* the registry is built once per process, on first use, never at ``import polyformer``.
"""

from __future__ import annotations

import os
import re
import threading
import warnings
from dataclasses import dataclass, field

import pluggy

from . import hookspecs
from .registry import Architecture, Backend, Registry, RegistrationError, Task

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
    status: str = "ok"  # "ok", "failed", "disabled", "partial", "incompatible", "conflict"
    errors: list[str] = field(default_factory=list)
    architectures: list[str] = field(default_factory=list)
    backends: list[str] = field(default_factory=list)
    tasks: list[str] = field(default_factory=list)
    builtin: bool = False

    def describe(self) -> str:
        """``plugin 'bert' (distribution polyformer-bert 0.1.0)``: how messages name a plugin."""
        if not self.distribution:
            return f"plugin '{self.name}'"
        where = f"{self.distribution} {self.version}".strip() + (", built in" if self.builtin else "")
        return f"plugin '{self.name}' (distribution {where})"


def _env_list(name: str) -> set[str] | None:
    value = os.environ.get(name)
    if value is None:
        return None
    return {part.strip() for part in value.split(",") if part.strip()}


def _strict() -> bool:
    return os.environ.get("POLYFORMER_STRICT_PLUGINS", "").lower() in {"1", "true", "yes"}


def _report(info: PluginInfo, message: str) -> None:
    info.errors.append(message)
    text = f"polyformer {info.describe()}: {message}"
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


#: The distribution whose entry points are the built-in plugins.
BUILTIN_DISTRIBUTION = "polyformer"


def _normalized(name: str) -> str:
    """A distribution name the way packaging compares them (``Polyformer_BERT`` == ``polyformer-bert``)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _distribution_of(ep) -> tuple[str, str]:
    """(name, version) of the distribution that declares ``ep``; empty when unknown."""
    dist = getattr(ep, "dist", None)
    if dist is None:
        return "", ""
    return dist.metadata["Name"] or "", dist.version or ""


def _in_load_order(eps) -> list:
    """Built-in entry points first (in their declared order), then the others by (distribution, name).

    This order decides who keeps a contested name, so it must not depend on
    ``sys.path`` or on how the file system lists folders.
    """
    def key(ep):
        dist_name = _normalized(_distribution_of(ep)[0])
        if dist_name == BUILTIN_DISTRIBUTION:
            return (0, "", "")
        return (1, dist_name, ep.name)

    return sorted(eps, key=key)  # stable: built-ins keep their declared order


def _load_entrypoints(pm: pluggy.PluginManager, infos: dict[str, PluginInfo]) -> None:
    only = _env_list("POLYFORMER_PLUGINS")
    skip = _env_list("POLYFORMER_DISABLE_PLUGINS") or set()
    seen: set[tuple[str, str]] = set()
    for ep in _in_load_order(_entry_points()):
        dist_name, version = _distribution_of(ep)
        if (_normalized(dist_name), ep.name) in seen:
            continue  # the same distribution found twice on sys.path
        seen.add((_normalized(dist_name), ep.name))
        info = PluginInfo(name=ep.name, distribution=dist_name, version=version,
                          builtin=_normalized(dist_name) == BUILTIN_DISTRIBUTION)
        holder = infos.get(ep.name)
        if holder is not None:
            # Another distribution already holds this name: keep it, list this one apart.
            info.status = "conflict"
            infos[f"{dist_name}:{ep.name}"] = info
            _report(info, f"entry-point name '{ep.name}' is already taken by {holder.describe()}; "
                          f"this plugin is not loaded (rename its entry point)")
            continue
        infos[ep.name] = info
        if (only is not None and ep.name not in only) or ep.name in skip:
            info.status = "disabled"
            continue
        dist = getattr(ep, "dist", None)
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
    if dist is None or _normalized(dist.metadata["Name"] or "") == BUILTIN_DISTRIBUTION:
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
    """Call ``hook_name`` on each plugin separately, so one raising hook spoils only its own plugin.

    Plugins are called in the order they were registered (built-ins first), not in
    pluggy's order, which a hook could change with ``tryfirst`` / ``trylast``: that
    order decides who keeps a contested name.
    """
    order = {name: index for index, (name, _) in enumerate(pm.list_name_plugin())}
    impls = sorted(getattr(pm.hook, hook_name).get_hookimpls(), key=lambda impl: order.get(impl.plugin_name, len(order)))
    for impl in impls:
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
    registry.plugins = infos  # first, so that clash messages can name the distributions
    # Backends and tasks first: architectures name both.
    _call_hook(pm, "register_backends", registry.add_backend, infos, "backends")
    _call_hook(pm, "register_tasks", registry.add_task, infos, "tasks")
    _call_hook(pm, "register_architectures", registry.add_architecture, infos, "architectures")
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
    elif isinstance(spec, Task):
        registry.add_task(spec, plugin_name)
        info.tasks.append(spec.name)
    else:
        raise TypeError(f"register() expected an Architecture, a Backend or a Task, got {type(spec).__name__}")


def register(spec, *, plugin_name: str = "__main__") -> None:
    """Register an architecture, backend or task in-process, without packaging (for notebooks and tests).

    Has the same effect as a plugin hook calling ``register(spec)``; clashes raise
    :class:`RegistrationError` right away.
    """
    registry = get_registry()
    _add_manual(registry, plugin_name, spec)
    with _lock:
        _manual.append((plugin_name, spec))
