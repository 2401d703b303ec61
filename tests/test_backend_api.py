"""One backend API in three implementations: the shared blocks and heads agree across every backend.

A plugin author learns one set of block names, arguments, defaults and hooks; this test
fails when a backend drifts from the others. It compares every registered backend's
``layers`` and ``heads`` modules (``Backend.layers`` / ``Backend.heads``) with the
reference backend's, leaving out only what is the framework's own business:

* constructor arguments that say how a framework builds weights (``dtype``, ``param_dtype``,
  ``initializer_range``: PyTorch initialises a whole model after building it, Keras and
  Flax initialise each weight as they create it) and Keras' / Flax's ``name`` / ``parent``;
* call arguments that switch training mode (``training`` in Keras, ``deterministic`` in Flax;
  PyTorch modules carry ``.training``).
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect

import pytest

from polyformer import get_registry

#: The blocks every backend's ``layers`` module offers, with the same signatures.
SHARED_BLOCKS = (
    "get_activation",
    "MultiHeadSelfAttention",
    "AttentionBlock",
    "Intermediate",
    "DenseAddNorm",
    "FeedForward",
    "LayerNames",
    "TransformerLayer",
    "Embeddings",
    "Encoder",
    "Pooler",
    "PatchEmbeddings",
    "ConvLayer",
    "ConvFeatureEncoder",
    "PositionalConvEmbedding",
    "TDNNLayer",
)
CONSTRUCTION_ONLY = {"self", "dtype", "param_dtype", "initializer_range", "name", "parent", "kwargs", "args"}
RUNTIME_ONLY = {"self", "training", "deterministic"}
REFERENCE = "torch"


def _backends():
    registry = get_registry()
    return [b for b in registry.frameworks_by_priority() if b.is_available() and b.layers]


def _module(backend, attribute):
    path = getattr(backend, attribute)
    if not path:
        pytest.fail(f"backend {backend.name} registers no {attribute} module")
    return importlib.import_module(path)


def _parameters(signature: inspect.Signature, skip: set[str]) -> list[tuple[str, object]]:
    return [(p.name, p.default) for p in signature.parameters.values()
            if p.name not in skip and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]


def _constructor(cls) -> list[tuple[str, object]]:
    """Constructor arguments: a Flax module's dataclass fields, else ``__init__``'s parameters."""
    if dataclasses.is_dataclass(cls) and hasattr(cls, "setup"):
        fields = [f for f in dataclasses.fields(cls) if f.init and f.name not in CONSTRUCTION_ONLY]
        return [(f.name, f.default if f.default is not dataclasses.MISSING else inspect.Parameter.empty) for f in fields]
    if issubclass(cls, tuple) and hasattr(cls, "_fields"):  # a NamedTuple
        return [(name, cls._field_defaults.get(name, inspect.Parameter.empty)) for name in cls._fields]
    return _parameters(inspect.signature(cls.__init__), CONSTRUCTION_ONLY)


def _call(cls) -> list[tuple[str, object]] | None:
    for method in ("forward", "call", "__call__"):
        if method in vars(cls) or any(method in vars(base) for base in cls.__mro__[1:-1] if base.__module__.startswith("polyformer")):
            return _parameters(inspect.signature(getattr(cls, method)), RUNTIME_ONLY)
    return None


def _describe(obj):
    if inspect.isclass(obj):
        return {"constructor": _constructor(obj), "call": _call(obj)}
    return {"signature": _parameters(inspect.signature(obj), RUNTIME_ONLY)}


def test_every_backend_offers_the_shared_blocks_with_the_same_signatures():
    backends = _backends()
    reference = next(b for b in backends if b.name == REFERENCE)
    reference_layers = _module(reference, "layers")
    drift = []
    for backend in backends:
        layers = _module(backend, "layers")
        for name in SHARED_BLOCKS:
            if not hasattr(layers, name):
                drift.append(f"{backend.name}: layers has no {name}")
                continue
            want, got = _describe(getattr(reference_layers, name)), _describe(getattr(layers, name))
            if want != got:
                drift.append(f"{backend.name}: {name} is {got}, {REFERENCE} has {want}")
    assert not drift, "\n".join(drift)


def _hooks(cls) -> dict[str, list]:
    """Public methods a head defines for architectures to override, with their signatures."""
    hooks = {}
    for klass in cls.__mro__:
        if not klass.__module__.startswith("polyformer.backends"):
            continue
        for name, value in vars(klass).items():
            if name.startswith("_") or name in hooks or not inspect.isfunction(value):
                continue
            if name in ("forward", "call", "setup", "get_config"):
                continue
            hooks[name] = _parameters(inspect.signature(value), RUNTIME_ONLY)
    return hooks


def test_every_backend_offers_the_same_heads_and_hooks():
    backends = _backends()
    reference = next(b for b in backends if b.name == REFERENCE)
    reference_heads = _module(reference, "heads")
    drift = []
    for backend in backends:
        heads = _module(backend, "heads")
        for name in reference_heads.__all__:
            if not hasattr(heads, name):
                drift.append(f"{backend.name}: heads has no {name}")
                continue
            want, got = _hooks(getattr(reference_heads, name)), _hooks(getattr(heads, name))
            for hook, signature in want.items():
                if hook not in got:
                    drift.append(f"{backend.name}: {name} has no hook {hook}{signature}")
                elif got[hook] != signature:
                    drift.append(f"{backend.name}: {name}.{hook} takes {got[hook]}, {REFERENCE} takes {signature}")
    assert not drift, "\n".join(drift)


def test_capabilities_are_declared():
    """Each backend says which optional features it has; the reference has them all."""
    from polyformer.core.registry import CAPABILITIES

    for backend in _backends():
        assert set(backend.capabilities) <= set(CAPABILITIES), backend.name
    reference = next(b for b in _backends() if b.name == REFERENCE)
    assert set(reference.capabilities) == set(CAPABILITIES)
