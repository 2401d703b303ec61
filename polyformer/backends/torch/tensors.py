"""numpy -> torch, for ``return_tensors="pt"``."""

import numpy as np
import torch


def to_tensor(array: np.ndarray) -> "torch.Tensor":
    return torch.from_numpy(np.ascontiguousarray(array))
