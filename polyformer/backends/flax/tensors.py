"""numpy -> JAX array, for ``return_tensors="jax"``."""

import jax.numpy as jnp
import numpy as np


def to_tensor(array: np.ndarray) -> "jnp.ndarray":
    return jnp.asarray(array)
