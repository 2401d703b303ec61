"""How the conformance suite (``polyformer.testing``) drives a Keras model, on numpy arrays."""

from __future__ import annotations

from typing import Any

import numpy as np

from .modeling import keras


def _to_numpy(value: Any) -> Any:
    if isinstance(value, (tuple, list)):
        return tuple(_to_numpy(v) for v in value)
    return keras.ops.convert_to_numpy(value) if value is not None else None


def forward(model, inputs: dict[str, np.ndarray], *, train: bool = False, **flags: Any) -> dict[str, Any]:
    """Run ``model`` on numpy inputs; every output as numpy (tuples for hidden states / attentions)."""
    outputs = model(dict(inputs), training=train, **flags)
    return {key: _to_numpy(value) for key, value in outputs.items()}


def train_losses(model, inputs: dict[str, np.ndarray], *, steps: int = 3, learning_rate: float = 1e-3) -> list[float]:
    """Loss at each of ``steps`` ``fit`` steps (Adam, labels inside the inputs), then after the last one."""
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=learning_rate))
    batch = len(next(iter(inputs.values())))
    history = model.fit(dict(inputs), epochs=steps, batch_size=batch, shuffle=False, verbose=0)
    final = model(dict(inputs), training=True)["loss"]
    return [float(v) for v in history.history["loss"]] + [float(final)]
