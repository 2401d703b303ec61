"""polyformer: one transformer definition, run in PyTorch, Keras or Flax.

``import polyformer`` is light: it imports no framework and loads no plugin. The
public names of architectures (``DistilBertConfig``, ``DistilBertModel``,
``TFDistilBertModel``...) are found in the plugin registry on first access and
imported then.
"""

from __future__ import annotations

__version__ = "0.1.0"

from .core.configuration import PretrainedConfig
from .core.hookspecs import hookimpl
from .core.registry import Architecture, Backend

# Core names imported on first access (module path, attribute).
_CORE_NAMES = {
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
    "AutoModel": ("polyformer.core.auto", "AutoModel"),
    "AutoModelForMaskedLM": ("polyformer.core.auto", "AutoModelForMaskedLM"),
    "AutoModelForSequenceClassification": ("polyformer.core.auto", "AutoModelForSequenceClassification"),
    "AutoModelForTokenClassification": ("polyformer.core.auto", "AutoModelForTokenClassification"),
    "AutoModelForQuestionAnswering": ("polyformer.core.auto", "AutoModelForQuestionAnswering"),
    "AutoModelForMultipleChoice": ("polyformer.core.auto", "AutoModelForMultipleChoice"),
}


def __getattr__(name: str):
    import importlib

    if name in _CORE_NAMES:
        module_name, attr = _CORE_NAMES[name]
        value = getattr(importlib.import_module(module_name), attr)
    else:
        from .core.plugins import get_registry
        from .core.registry import import_object

        path = get_registry().names.get(name)
        if path is None:
            raise AttributeError(f"module 'polyformer' has no attribute '{name}'")
        value = import_object(path)
    globals()[name] = value
    return value


def __dir__():
    from .core.plugins import get_registry

    return sorted(set(globals()) | set(_CORE_NAMES) | set(get_registry().names))
