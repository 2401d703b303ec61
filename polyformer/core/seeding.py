"""``polyformer.set_seed``: one call makes random initialisation and dropout repeatable.

Each framework keeps its own random state, so one seed has to reach each of them:
Python's :mod:`random`, numpy's global generator (the Keras layers draw their initial
weights from it), PyTorch (``torch.manual_seed``, every device), and Keras / TensorFlow
(``keras.utils.set_random_seed``, which also seeds TensorFlow's global generator).

JAX has no global random state: every random draw takes an explicit key. So the seed is
recorded instead, and a Flax model built without ``seed=`` takes it as its seed (the
weights it draws and its dropout keys follow from it). In your own JAX code make keys
from the same number, ``jax.random.key(seed)``; :func:`get_seed` returns it.

A framework is seeded only if it is installed; seeding one imports it (TensorFlow takes
seconds), so a program that uses a single framework can name it:
``set_seed(0, frameworks=["torch"])``.
"""

from __future__ import annotations

import importlib.util
import random
from typing import Iterable

__all__ = ["set_seed", "get_seed", "SEEDED_FRAMEWORKS"]

_seed: int | None = None


def _seed_torch(seed: int) -> None:
    import torch

    torch.manual_seed(seed)


def _seed_keras(seed: int) -> None:
    import keras

    keras.utils.set_random_seed(seed)


def _seed_flax(seed: int) -> None:
    """Nothing to call: Flax models read the recorded seed (see the module docstring)."""


#: Each framework set_seed knows: the modules it needs, and how it is seeded.
SEEDED_FRAMEWORKS = {
    "torch": (("torch",), _seed_torch),
    "keras": (("keras",), _seed_keras),
    "flax": (("jax", "flax"), _seed_flax),
}


def _installed(modules: Iterable[str]) -> bool:
    return all(importlib.util.find_spec(module) is not None for module in modules)


def set_seed(seed: int, *, frameworks: Iterable[str] | None = None) -> None:
    """Seed Python, numpy and each installed framework (or only those named in ``frameworks``).

    ``seed`` is an integer from 0 to 2**32 - 1 (numpy's range). ``frameworks`` names
    backends ("torch", "keras", "flax"); a named one that is not installed is an error,
    since a run that silently skipped it would not be repeatable.
    """
    global _seed
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**32:
        raise ValueError(f"set_seed(seed): seed must be an integer from 0 to 2**32 - 1, got {seed!r}")
    if frameworks is None:
        chosen = [name for name, (modules, _) in SEEDED_FRAMEWORKS.items() if _installed(modules)]
    else:
        if isinstance(frameworks, str):
            frameworks = [frameworks]
        chosen = list(frameworks)
        for name in chosen:
            if name not in SEEDED_FRAMEWORKS:
                raise ValueError(
                    f"set_seed(frameworks=...): unknown framework {name!r}; expected some of {', '.join(SEEDED_FRAMEWORKS)}"
                )
            modules = SEEDED_FRAMEWORKS[name][0]
            if not _installed(modules):
                raise ImportError(
                    f"set_seed(frameworks=...): {name} is not installed (needs {', '.join(modules)}). "
                    f"Install it with: pip install 'polyformer[{name}]'"
                )
    import numpy as np

    random.seed(seed)
    np.random.seed(seed)
    _seed = seed
    for name in chosen:
        SEEDED_FRAMEWORKS[name][1](seed)


def get_seed() -> int | None:
    """The last seed given to :func:`set_seed` (None if it was never called)."""
    return _seed
