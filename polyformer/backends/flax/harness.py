"""How the conformance suite (``polyformer.testing``) drives a Flax model, on numpy arrays."""

from __future__ import annotations

from typing import Any

import jax
import numpy as np
import optax


def _to_numpy(value: Any) -> Any:
    if isinstance(value, (tuple, list)):
        return tuple(_to_numpy(v) for v in value)
    return np.asarray(value) if value is not None else None


def forward(model, inputs: dict[str, np.ndarray], *, train: bool = False, **flags: Any) -> dict[str, Any]:
    """Run ``model`` on numpy inputs; every output as numpy (tuples for hidden states / attentions)."""
    outputs = model(**inputs, train=train, dropout_rng=jax.random.PRNGKey(0) if train else None, **flags)
    return {key: _to_numpy(value) for key, value in outputs.items()}


def train_losses(model, inputs: dict[str, np.ndarray], *, steps: int = 3, learning_rate: float = 1e-3) -> list[float]:
    """Loss at each of ``steps`` optax Adam steps on ``model.params``, then after the last one."""
    optimizer = optax.adam(learning_rate)
    params = model.params
    state = optimizer.init(params)
    rng = jax.random.PRNGKey(0)

    def loss_fn(p, key):
        return model(**inputs, params=p, train=True, dropout_rng=key).loss

    grad_fn = jax.jit(jax.value_and_grad(loss_fn))
    losses = []
    for _ in range(steps):
        rng, key = jax.random.split(rng)
        loss, grads = grad_fn(params, key)
        updates, state = optimizer.update(grads, state, params)
        params = optax.apply_updates(params, updates)
        losses.append(float(loss))
    rng, key = jax.random.split(rng)
    losses.append(float(grad_fn(params, key)[0]))  # same compiled function: no second compile
    model.params = params
    return losses
