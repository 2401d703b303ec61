"""``return_tensors``: numpy arrays to the tensor type a backend declares.

Shared by tokenizers, feature extractors and image processors. ``"np"`` is built in;
every other type (``"pt"``, ``"tf"``, ``"jax"``) comes from the backend plugin that
declares it, imported only when asked for, so ``import polyformer`` stays light.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["tensor_converter", "stack_as_array"]


def tensor_converter(tensor_type: Any):
    """The function that turns a numpy array into ``tensor_type``; None for plain lists.

    ``"np"`` is built in; every other type comes from the backend plugin that declares
    it (``Backend.tensor_type``), imported only now so that ``import polyformer`` stays light.
    """
    if tensor_type is None:
        return None
    tensor_type = getattr(tensor_type, "value", tensor_type)  # accept enum-like values
    if tensor_type == "np":
        return lambda array: array
    from .plugins import get_registry
    from .registry import import_object

    registry = get_registry()
    backend = registry.backend_for_tensor_type(tensor_type) if isinstance(tensor_type, str) else None
    if backend is None:
        accepted = ["np"] + sorted(b.tensor_type for b in registry.backends.values())
        raise ValueError(
            f"return_tensors={tensor_type!r} is not supported. Accepted values: None (Python lists), "
            + ", ".join(repr(t) for t in accepted)
            + ". Other tensor types arrive with their backend plugin (see `polyformer plugins`)."
        )
    if not backend.is_available():
        hint = f"pip install 'polyformer[{backend.extra}]'" if backend.extra else f"install {backend.name}"
        raise ImportError(f"return_tensors={tensor_type!r} needs {backend.name}, which is not installed: {hint}")
    return import_object(backend.to_tensor)


def stack_as_array(key: str, value: Any, why_ragged: str) -> np.ndarray:
    """``value`` (nested lists or arrays) as one numpy array; ragged input is a ValueError naming ``key``."""
    try:
        array = np.asarray(value)
    except ValueError:
        array = None
    if array is None or array.dtype == object:
        raise ValueError(f"Cannot make a tensor of '{key}': {why_ragged}")
    return array
