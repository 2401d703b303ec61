"""How the conformance suite (``polyformer.testing``) drives a PyTorch model, on numpy arrays."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch


def _to_numpy(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().float().numpy() if value.is_floating_point() else value.detach().cpu().numpy()
    if isinstance(value, (tuple, list)):
        return tuple(_to_numpy(v) for v in value)
    return value


def forward(model, inputs: dict[str, np.ndarray], *, train: bool = False, **flags: Any) -> dict[str, Any]:
    """Run ``model`` on numpy inputs; every output as numpy (tuples for hidden states / attentions)."""
    model.train(train)
    tensors = {k: torch.from_numpy(np.asarray(v)) for k, v in inputs.items()}
    with torch.no_grad():
        outputs = model(**tensors, return_dict=True, **flags)
    return {key: _to_numpy(value) for key, value in outputs.items()}


def train_losses(model, inputs: dict[str, np.ndarray], *, steps: int = 3, learning_rate: float = 1e-3) -> list[float]:
    """Loss before each of ``steps`` Adam steps, then after the last one."""
    model.train()
    tensors = {k: torch.from_numpy(np.asarray(v)) for k, v in inputs.items()}
    optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate)
    losses = []
    for _ in range(steps):
        optimizer.zero_grad()
        loss = model(**tensors).loss
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    with torch.no_grad():
        losses.append(float(model(**tensors).loss))
    return losses


def fast_path_outputs(model, inputs: dict[str, np.ndarray], dtype: str = "float32") -> tuple[dict, dict, int]:
    """``model`` in ``dtype``: its outputs on the plain path, then with :meth:`optimize_for_inference`
    (oneDNN wherever this CPU can run the dtype, no timing), and how many linears took oneDNN.
    The model is left as it was built (plain linears), in ``dtype``."""
    model.to(getattr(torch, dtype))
    plain = forward(model, inputs)
    choices = model.optimize_for_inference(measure=False)
    try:
        fast = forward(model, inputs)
    finally:
        model.optimize_for_inference(False)
    return plain, fast, sum(choice.path == "onednn" for choice in choices.values())
