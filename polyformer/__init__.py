"""polyformer: one transformer definition, run in PyTorch, Keras or Flax.

``import polyformer`` is light: it imports no framework and loads no plugin. The
public names of architectures (``DistilBertConfig``, ``DistilBertModel``,
``TFDistilBertModel``...) are found in the plugin registry on first access and
imported then; so are the Auto model classes (``AutoModelForImageClassification``...),
one per registered task.

``polyformer.logging`` (the library's verbosity, stdlib only) is imported with the
package, so that ``$POLYFORMER_VERBOSITY`` applies from the first message;
``polyformer.set_seed`` is imported on first use.
"""

from __future__ import annotations

__version__ = "0.1.0"

from . import logging
from .core.configuration import PretrainedConfig
from .core.hookspecs import hookimpl
from .core.registry import Architecture, Backend, Task

# Core names imported on first access (module path, attribute).
_CORE_NAMES = {
    "set_seed": ("polyformer.core.seeding", "set_seed"),
    "register": ("polyformer.core.plugins", "register"),
    "get_registry": ("polyformer.core.plugins", "get_registry"),
    "BatchEncoding": ("polyformer.core.tokenization", "BatchEncoding"),
    "PreTrainedTokenizer": ("polyformer.core.tokenization", "PreTrainedTokenizer"),
    "PreTrainedTokenizerFast": ("polyformer.core.tokenization", "PreTrainedTokenizerFast"),
    "PreTrainedTokenizerBase": ("polyformer.core.tokenization", "PreTrainedTokenizerBase"),
    "AutoConfig": ("polyformer.core.auto", "AutoConfig"),
    "AutoTokenizer": ("polyformer.core.auto", "AutoTokenizer"),
    "AutoImageProcessor": ("polyformer.core.auto", "AutoImageProcessor"),
    "AutoFeatureExtractor": ("polyformer.core.auto", "AutoFeatureExtractor"),
    "AutoProcessor": ("polyformer.core.auto", "AutoProcessor"),
    "BatchFeature": ("polyformer.core.feature_extraction", "BatchFeature"),
    "FeatureExtractionMixin": ("polyformer.core.feature_extraction", "FeatureExtractionMixin"),
    "SequenceFeatureExtractor": ("polyformer.core.feature_extraction", "SequenceFeatureExtractor"),
    "ImageProcessingMixin": ("polyformer.core.image_processing", "ImageProcessingMixin"),
    "BaseImageProcessor": ("polyformer.core.image_processing", "BaseImageProcessor"),
    "ProcessorMixin": ("polyformer.core.processing", "ProcessorMixin"),
    "pipeline": ("polyformer.pipelines", "pipeline"),
    "Pipeline": ("polyformer.pipelines", "Pipeline"),
}


def __getattr__(name: str):
    import importlib

    if name in _CORE_NAMES:
        module_name, attr = _CORE_NAMES[name]
        value = getattr(importlib.import_module(module_name), attr)
    else:
        from .core.plugins import get_registry
        from .core.registry import import_object

        registry = get_registry()
        path = registry.names.get(name)
        if path is not None:
            value = import_object(path)
        elif registry.task_for_auto_class(name) is not None:  # AutoModel, AutoModelFor<Task>
            from .core.auto import auto_model_class

            value = auto_model_class(name)
        else:
            raise AttributeError(f"module 'polyformer' has no attribute '{name}'")
    globals()[name] = value
    return value


def __dir__():
    from .core.plugins import get_registry

    registry = get_registry()
    autos = {task.auto_class for task in registry.tasks.values()}
    return sorted(set(globals()) | set(_CORE_NAMES) | set(registry.names) | autos)
