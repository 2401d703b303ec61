"""What plugins registered: architectures and framework backends.

Plugins describe themselves with two small records, :class:`Architecture` and
:class:`Backend`. Classes are named by import path (``"package.module:ClassName"``)
and imported only when first used, so that ``import polyformer`` never pulls in a
framework. The :class:`Registry` is filled by the plugin host (``core.plugins``) or
by hand (``polyformer.register``), and everything else (auto classes, top-level
names, the CLI) only reads it.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "CAPABILITIES",
    "Task",
    "Architecture",
    "Backend",
    "Registry",
    "RegistrationError",
    "import_object",
    "class_name",
]


@dataclass
class Task:
    """What a model can be asked to do: registered data, as architectures and backends are.

    ``name`` is the key architectures use in ``Architecture.models`` (``"image-classification"``);
    ``class_suffix`` completes a model class name from an architecture's stem
    (``"ViT"`` + ``"ForImageClassification"``); ``auto_class`` is the name of the Auto class
    that serves it (``polyformer.AutoModelForImageClassification``, made from this record);
    ``output`` is the import path of its output class. The last two fields serve the
    conformance suite (``polyformer.testing``), framework-free, on numpy arrays:

    * ``inputs``: ``fn(inputs, config, rng) -> inputs`` adapts an architecture's example
      inputs to the task (multiple choice adds a choices axis); empty for most tasks;
    * ``labels``: ``fn(config, inputs, outputs, rng) -> {name: array}`` makes labels (or other
      loss inputs) that fit ``outputs``, the model's outputs without labels; empty when the
      task has no loss (the base model).
    """

    name: str
    class_suffix: str
    auto_class: str
    output: str = ""
    inputs: str = ""
    labels: str = ""
    plugin: str = ""

    def check(self) -> None:
        for key in ("name", "class_suffix", "auto_class"):
            value = getattr(self, key)
            if not isinstance(value, str) or not value:
                raise RegistrationError(f"Task.{key} must be a non-empty string, got {value!r}")
        if not self.auto_class.startswith("AutoModel") or not self.auto_class.isidentifier():
            raise RegistrationError(
                f"Task '{self.name}': auto_class must be a Python name starting with 'AutoModel', got {self.auto_class!r}"
            )
        if not self.class_suffix.isidentifier():
            raise RegistrationError(f"Task '{self.name}': class_suffix must be a Python name, got {self.class_suffix!r}")


#: Optional features a backend's models may have, declared in ``Backend.capabilities``.
CAPABILITIES = {
    "prune_heads": "head pruning (prune_heads, and loading checkpoints whose config lists pruned heads)",
    "head_mask": "masking attention heads at run time (head_mask=)",
    "feed_forward_chunking": "feed-forward chunking (config.chunk_size_feed_forward)",
    "gradient_checkpointing": "gradient checkpointing (gradient_checkpointing_enable)",
    "resize_token_embeddings": "resizing the vocabulary (resize_token_embeddings)",
    "optimize_for_inference": "the CPU inference fast path (optimize_for_inference)",
}


class RegistrationError(ValueError):
    """A plugin's registration is malformed or clashes with an earlier one."""


def import_object(path):
    """Import ``"package.module:Name"`` (or ``"package.module.Name"``) and return the object.

    A class given directly (in-process registration from a notebook) is returned as it is.
    """
    if not isinstance(path, str):
        return path
    if ":" in path:
        module_name, _, attr = path.partition(":")
    else:
        module_name, _, attr = path.rpartition(".")
    if not module_name or not attr:
        raise ValueError(f"import path {path!r} is not of the form 'package.module:Name'")
    module = importlib.import_module(module_name)
    obj = module
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise ImportError(f"module '{module_name}' has no attribute '{attr}' (import path {path!r})") from None
    return obj


def class_name(path) -> str:
    if not isinstance(path, str):
        return path.__name__
    return path.rpartition(":")[2].rpartition(".")[2] if ":" in path else path.rpartition(".")[2]


@dataclass
class Architecture:
    """One architecture: its config, preprocessing classes and models per framework.

    ``models`` maps a framework name (``"torch"``, ``"keras"``, ``"flax"``) to either

    * a class-name stem, ``"my_package.modeling_keras:TFMyArch"``: the model of each task
      in ``tasks`` is then the stem plus the task's ``class_suffix``
      (``TFMyArchModel``, ``TFMyArchForMaskedLM``...), the transformers naming rule; or
    * a mapping of task name to the import path of each model class, for names that
      do not follow the rule.

    The registry expands stems when the architecture is added (tasks are registered
    first), so :attr:`models` always reads as ``{framework: {task: path}}`` afterwards.
    """

    model_type: str
    config: str
    tokenizer: str | None = None
    tokenizer_fast: str | None = None
    image_processor: str | None = None
    feature_extractor: str | None = None
    processor: str | None = None
    models: dict[str, Any] = field(default_factory=dict)
    tasks: tuple[str, ...] = ()
    plugin: str = ""

    def class_paths(self) -> list:
        """Every import path this architecture names (used for top-level names)."""
        paths = [self.config, self.tokenizer, self.tokenizer_fast, self.image_processor,
                 self.feature_extractor, self.processor]
        for heads in self.models.values():
            if isinstance(heads, dict):
                paths.extend(heads.values())
        return [p for p in paths if p]

    def served_tasks(self) -> list[str]:
        """Tasks with a model in at least one framework, in registration order."""
        seen: dict[str, None] = {}
        for heads in self.models.values():
            seen.update(dict.fromkeys(heads))
        return list(seen)

    def check(self) -> None:
        if not isinstance(self.model_type, str) or not self.model_type:
            raise RegistrationError(f"Architecture.model_type must be a non-empty string, got {self.model_type!r}")
        if not self.config or not isinstance(self.config, (str, type)):
            raise RegistrationError(f"Architecture '{self.model_type}': config must be an import path string or a class")
        if isinstance(self.tasks, str) or not all(isinstance(t, str) for t in self.tasks):
            raise RegistrationError(f"Architecture '{self.model_type}': tasks must be a tuple of task names, got {self.tasks!r}")
        for framework, heads in self.models.items():
            if isinstance(heads, str):
                if not self.tasks:
                    raise RegistrationError(
                        f"Architecture '{self.model_type}': models['{framework}'] is a class-name stem ({heads!r}), "
                        f"so the tasks it serves must be listed in tasks=(...)"
                    )
            elif not isinstance(heads, dict):
                raise RegistrationError(
                    f"Architecture '{self.model_type}': models['{framework}'] must be a class-name stem or a "
                    f"{{task: import path}} dict, got {type(heads).__name__}"
                )

    def expand(self, tasks: dict[str, Task]) -> None:
        """Turn class-name stems into ``{task: path}`` and check every task is registered."""
        for framework, heads in list(self.models.items()):
            if isinstance(heads, str):
                heads = {task: heads + tasks[task].class_suffix if task in tasks else "" for task in self.tasks}
            for task in heads:
                if task not in tasks:
                    raise RegistrationError(
                        f"Architecture '{self.model_type}' registers unknown task {task!r} for {framework}; "
                        f"registered tasks: {', '.join(tasks) or 'none'} (a plugin adds tasks with register_tasks)"
                    )
            self.models[framework] = dict(heads)


@dataclass
class Backend:
    """A framework backend.

    ``requires`` names the top-level modules the framework needs (checked with
    ``importlib.util.find_spec``, which imports nothing); ``tensor_type`` is the
    ``return_tensors`` value it answers to; ``to_tensor`` is the import path of a function
    turning a numpy array into a framework tensor; ``extra`` is the pip extra that installs it;
    ``harness`` is the import path of the module the conformance suite
    (``polyformer.testing``) and the pipelines drive models through: ``forward(model, inputs,
    train=False)`` and ``train_losses(model, inputs, steps, learning_rate)``, both on numpy arrays.
    ``layers`` and ``heads`` are the import paths of its shared blocks and generic task heads,
    which offer the same names, arguments and defaults in every backend (a test compares
    them). ``capabilities`` lists the optional features its models have (see
    :data:`CAPABILITIES`); a model asked for one its backend lacks says so clearly.
    """

    name: str
    requires: tuple[str, ...]
    tensor_type: str
    to_tensor: str
    extra: str = ""
    priority: int = 100
    harness: str = ""
    layers: str = ""
    heads: str = ""
    capabilities: tuple[str, ...] = ()
    plugin: str = ""

    def supports(self, capability: str) -> bool:
        return capability in self.capabilities

    def require(self, capability: str, what: str = "") -> None:
        """Raise a clear error when this backend lacks ``capability``."""
        if capability not in self.capabilities:
            have = ", ".join(self.capabilities) or "none"
            raise NotImplementedError(
                f"{what or CAPABILITIES.get(capability, capability)} is not available in the {self.name} backend "
                f"(it has: {have}); use a framework that has it, e.g. framework='torch'"
            )

    def is_available(self) -> bool:
        import importlib.util

        return all(importlib.util.find_spec(module) is not None for module in self.requires)

    def check(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise RegistrationError(f"Backend.name must be a non-empty string, got {self.name!r}")
        if not self.requires or not self.tensor_type or not self.to_tensor:
            raise RegistrationError(f"Backend '{self.name}' needs requires, tensor_type and to_tensor")
        unknown = [c for c in self.capabilities if c not in CAPABILITIES]
        if unknown:
            raise RegistrationError(
                f"Backend '{self.name}' declares unknown capabilities {unknown}; known: {', '.join(CAPABILITIES)}"
            )


class Registry:
    """Architectures by ``model_type``, backends by name, tasks by name, plus a name index."""

    def __init__(self) -> None:
        self.architectures: dict[str, Architecture] = {}
        self.backends: dict[str, Backend] = {}
        self.tasks: dict[str, Task] = {}
        self.names: dict[str, str] = {}  # public class name -> import path
        self.plugins: dict = {}  # plugin name -> core.plugins.PluginInfo

    # -- filling -----------------------------------------------------------------
    def add_architecture(self, arch: Architecture, plugin: str = "") -> None:
        if not isinstance(arch, Architecture):
            raise RegistrationError(f"register_architectures expected an Architecture, got {type(arch).__name__}")
        arch.check()
        arch.plugin = plugin or arch.plugin
        existing = self.architectures.get(arch.model_type)
        if existing is not None:
            raise RegistrationError(
                f"model_type '{arch.model_type}' is already registered by {self._owner(existing.plugin)}; "
                f"this registration is refused"
            )
        arch.expand(self.tasks)
        for path in arch.class_paths():
            name = class_name(path)
            if self.names.get(name, path) != path:
                raise RegistrationError(
                    f"class name '{name}' ({path}) is already registered as {self.names[name]}; "
                    f"this registration is refused"
                )
        self.architectures[arch.model_type] = arch
        for path in arch.class_paths():
            self.names[class_name(path)] = path

    def add_task(self, task: Task, plugin: str = "") -> None:
        if not isinstance(task, Task):
            raise RegistrationError(f"register_tasks expected a Task, got {type(task).__name__}")
        task.check()
        task.plugin = plugin or task.plugin
        existing = self.tasks.get(task.name)
        if existing is not None:
            raise RegistrationError(
                f"task '{task.name}' is already registered by {self._owner(existing.plugin)}; this registration is refused"
            )
        for other in self.tasks.values():
            if other.auto_class == task.auto_class:
                raise RegistrationError(
                    f"task '{task.name}': auto class {task.auto_class} already serves task '{other.name}' "
                    f"(registered by {self._owner(other.plugin)}); this registration is refused"
                )
        self.tasks[task.name] = task

    def add_backend(self, backend: Backend, plugin: str = "") -> None:
        if not isinstance(backend, Backend):
            raise RegistrationError(f"register_backends expected a Backend, got {type(backend).__name__}")
        backend.check()
        backend.plugin = plugin or backend.plugin
        existing = self.backends.get(backend.name)
        if existing is not None:
            raise RegistrationError(
                f"backend '{backend.name}' is already registered by {self._owner(existing.plugin)}; "
                f"this registration is refused"
            )
        self.backends[backend.name] = backend

    def _owner(self, plugin: str) -> str:
        """The plugin that registered something, with its distribution when known (for clash messages)."""
        info = self.plugins.get(plugin)
        return info.describe() if info is not None else f"plugin '{plugin or '?'}'"

    # -- reading -----------------------------------------------------------------
    def architecture(self, model_type: str) -> Architecture:
        try:
            return self.architectures[model_type]
        except KeyError:
            known = ", ".join(sorted(self.architectures)) or "none"
            raise ValueError(
                f"Unknown model_type '{model_type}'. Registered architectures: {known}. "
                f"Install the plugin that provides it (see `polyformer plugins`)."
            ) from None

    def task(self, name: str) -> Task:
        try:
            return self.tasks[name]
        except KeyError:
            known = ", ".join(self.tasks) or "none"
            raise ValueError(f"Unknown task '{name}'. Registered tasks: {known}.") from None

    def task_for_auto_class(self, auto_class: str) -> Task | None:
        """The task an Auto class name (``AutoModelForImageClassification``) serves, or None."""
        for task in self.tasks.values():
            if task.auto_class == auto_class:
                return task
        return None

    def backend(self, name: str) -> Backend:
        try:
            return self.backends[name]
        except KeyError:
            known = ", ".join(sorted(self.backends)) or "none"
            raise ValueError(f"Unknown framework '{name}'. Known frameworks: {known}.") from None

    def backend_for_tensor_type(self, tensor_type: str) -> Backend | None:
        for backend in self.backends.values():
            if backend.tensor_type == tensor_type:
                return backend
        return None

    def broken_paths(self) -> list[str]:
        """Import every class path registered (architectures' classes, backends' modules) and say which fail.

        Slow (it imports every framework): ``polyformer plugins --check`` runs it.
        """
        problems = []
        for model_type, arch in sorted(self.architectures.items()):
            for path in arch.class_paths():
                try:
                    import_object(path)
                except Exception as exc:  # noqa: BLE001 - any failure is what we report
                    problems.append(f"architecture {model_type} (plugin {arch.plugin}): {path}: {type(exc).__name__}: {exc}")
        for name, backend in sorted(self.backends.items()):
            if not backend.is_available():
                continue
            for path in (backend.to_tensor, backend.harness, backend.layers, backend.heads):
                if not path:
                    continue
                try:
                    import_object(path) if ":" in path else importlib.import_module(path)
                except Exception as exc:  # noqa: BLE001
                    problems.append(f"backend {name} (plugin {backend.plugin}): {path}: {type(exc).__name__}: {exc}")
        return problems

    def task_of_class(self, model_type: str, class_name_: str) -> str | None:
        """The task whose model class is called ``class_name_`` in some framework (prefix ``TF``/``Flax`` ignored)."""
        arch = self.architecture(model_type)
        for heads in arch.models.values():
            for task, path in heads.items():
                name = class_name(path)
                for prefix in ("TF", "Flax"):
                    if name.startswith(prefix) and name[len(prefix):][:1].isupper():
                        name = name[len(prefix):]
                if name == class_name_:
                    return task
        return None

    def frameworks_by_priority(self) -> list[Backend]:
        return sorted(self.backends.values(), key=lambda b: (b.priority, b.name))
