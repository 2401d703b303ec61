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

__all__ = [
    "TASKS",
    "Architecture",
    "Backend",
    "Registry",
    "RegistrationError",
    "import_object",
    "head_paths",
    "class_name",
]

#: Tasks a model class can serve; the key is what plugins use in ``Architecture.models``.
TASKS = (
    "base",
    "masked-lm",
    "sequence-classification",
    "token-classification",
    "question-answering",
    "multiple-choice",
)


# Class-name suffix of each task's model, by the transformers naming convention.
_TASK_SUFFIXES = {
    "base": "Model",
    "masked-lm": "ForMaskedLM",
    "sequence-classification": "ForSequenceClassification",
    "token-classification": "ForTokenClassification",
    "question-answering": "ForQuestionAnswering",
    "multiple-choice": "ForMultipleChoice",
}


def head_paths(module: str, name: str, prefix: str = "", tasks: tuple[str, ...] = TASKS) -> dict[str, str]:
    """Import paths of an architecture's models named the transformers way.

    ``head_paths("pkg.modeling_keras", "Bert", "TF")`` gives
    ``{"base": "pkg.modeling_keras:TFBertModel", "masked-lm": "pkg.modeling_keras:TFBertForMaskedLM", ...}``
    for each of ``tasks``: what ``Architecture.models[framework]`` expects.
    """
    return {task: f"{module}:{prefix}{name}{_TASK_SUFFIXES[task]}" for task in tasks}


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

    ``models`` maps a framework name (``"torch"``, ``"keras"``, ``"flax"``) to a mapping
    of task (see :data:`TASKS`) to the import path of the model class.
    """

    model_type: str
    config: str
    tokenizer: str | None = None
    tokenizer_fast: str | None = None
    image_processor: str | None = None
    feature_extractor: str | None = None
    processor: str | None = None
    models: dict[str, dict[str, str]] = field(default_factory=dict)
    plugin: str = ""

    def class_paths(self) -> list:
        """Every import path this architecture names (used for top-level names)."""
        paths = [self.config, self.tokenizer, self.tokenizer_fast, self.image_processor,
                 self.feature_extractor, self.processor]
        for heads in self.models.values():
            paths.extend(heads.values())
        return [p for p in paths if p]

    def check(self) -> None:
        if not isinstance(self.model_type, str) or not self.model_type:
            raise RegistrationError(f"Architecture.model_type must be a non-empty string, got {self.model_type!r}")
        if not self.config or not isinstance(self.config, (str, type)):
            raise RegistrationError(f"Architecture '{self.model_type}': config must be an import path string or a class")
        for framework, heads in self.models.items():
            for task in heads:
                if task not in TASKS:
                    raise RegistrationError(
                        f"Architecture '{self.model_type}' registers unknown task {task!r} for {framework}; "
                        f"known tasks: {', '.join(TASKS)}"
                    )


@dataclass
class Backend:
    """A framework backend.

    ``requires`` names the top-level modules the framework needs (checked with
    ``importlib.util.find_spec``, which imports nothing); ``tensor_type`` is the
    ``return_tensors`` value it answers to; ``to_tensor`` is the import path of a function
    turning a numpy array into a framework tensor; ``extra`` is the pip extra that installs it;
    ``harness`` is the import path of the module the conformance suite
    (``polyformer.testing``) drives models through: ``forward(model, inputs, train=False)``
    and ``train_losses(model, inputs, steps, learning_rate)``, both on numpy arrays.
    """

    name: str
    requires: tuple[str, ...]
    tensor_type: str
    to_tensor: str
    extra: str = ""
    class_prefix: str = ""
    priority: int = 100
    harness: str = ""
    plugin: str = ""

    def is_available(self) -> bool:
        import importlib.util

        return all(importlib.util.find_spec(module) is not None for module in self.requires)

    def check(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise RegistrationError(f"Backend.name must be a non-empty string, got {self.name!r}")
        if not self.requires or not self.tensor_type or not self.to_tensor:
            raise RegistrationError(f"Backend '{self.name}' needs requires, tensor_type and to_tensor")


class Registry:
    """Architectures by ``model_type`` and backends by name, plus a name index."""

    def __init__(self) -> None:
        self.architectures: dict[str, Architecture] = {}
        self.backends: dict[str, Backend] = {}
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

    def frameworks_by_priority(self) -> list[Backend]:
        return sorted(self.backends.values(), key=lambda b: (b.priority, b.name))
