"""Faster CPU inference for every PyTorch model: linear layers through oneDNN.

Why: nine tenths of a transformer encoder's CPU forward is spent in its linear layers.
``nn.Linear`` runs ``addmm``, which for float32 is MKL's sgemm; how fast that is depends on
the CPU (on AMD Zen 5 it reaches half of what oneDNN does with the same weights), and for
bfloat16 ``addmm`` leaves speed unused that oneDNN's linear with AMX or AVX-512 BF16 takes.
PyTorch ships oneDNN's fused linear (``torch.ops.mkldnn._linear_pointwise``, the op
``torch.compile`` itself emits on CPU) and its weight prepacking
(``torch.ops.mkldnn._reorder_linear_weight``); this module uses them without compiling.

How: :func:`optimize_for_inference` (``model.optimize_for_inference()``) swaps each
``nn.Linear`` of a model, in every block and head, for a :class:`FastLinear` holding the
very same parameters, so names, ``state_dict``, tied weights, saving and training are
unchanged. For each distinct weight shape and dtype it then picks a path:

* ``"onednn"``: when oneDNN can run the dtype on this CPU (a capability check) and, unless
  ``measure=False``, when timing both paths here shows oneDNN faster (by measurement,
  never by CPU vendor); the weight is then prepacked into oneDNN's blocked layout
  (``prepack=True``, a second copy of the weight) or used as it is;
* ``"plain"``: ``F.linear``, as before, otherwise.

At each call a ``"onednn"`` layer still falls back to ``F.linear`` whenever the fast path
does not apply: in training mode, when autograd would record the call, under autocast (which
casts inputs itself, as ``transformers`` expects), under ``torch.jit.trace`` /
``torch.compile``, while ``torch.backends.mkldnn`` is disabled, and for inputs that are not
on the CPU or not in the weight's dtype. A packed weight follows in-place changes of the
weight (it is packed again when the weight's version, storage or dtype changes). So only
no-grad inference in eval mode changes path, and there outputs differ from the plain path
by float rounding only (a different order of summation, within 1e-5 relative).
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .layers import is_tracing

__all__ = ["FastLinear", "LinearChoice", "onednn_supports", "optimize_for_inference", "restore_plain_linears"]

#: oneDNN must be at least this much faster (time ratio) to be chosen: a margin against timing noise.
_MARGIN = 0.95

# (out_features, in_features, dtype, bias, rows, prepack) -> LinearChoice; measured once per process.
_CHOICES: dict[tuple, "LinearChoice"] = {}


@dataclass(frozen=True)
class LinearChoice:
    """The path chosen for one weight shape and dtype, and why."""

    path: str  # "onednn" or "plain"
    reason: str  # "measured", "capability" (measure=False), or why oneDNN cannot be used
    plain_s: float | None = None  # median time of F.linear on the sample input
    onednn_s: float | None = None  # median time of oneDNN's linear on the same input


def onednn_supports(dtype: torch.dtype) -> str | None:
    """None when oneDNN's linear can run ``dtype`` on this CPU, else the reason it cannot."""
    if not torch.backends.mkldnn.is_available():
        return "this PyTorch build has no oneDNN (torch.backends.mkldnn.is_available() is False)"
    if not torch.backends.mkldnn.enabled:
        return "oneDNN is disabled (torch.backends.mkldnn.enabled is False)"
    if not hasattr(torch.ops.mkldnn, "_linear_pointwise") or not hasattr(torch.ops.mkldnn, "_reorder_linear_weight"):
        return "this PyTorch build has no mkldnn::_linear_pointwise op"
    if dtype == torch.float32:
        return None
    if dtype == torch.bfloat16:
        return None if torch.ops.mkldnn._is_mkldnn_bf16_supported() else "this CPU has no bfloat16 support in oneDNN"
    if dtype == torch.float16:
        return None if torch.ops.mkldnn._is_mkldnn_fp16_supported() else "this CPU has no float16 support in oneDNN"
    return f"oneDNN's linear does not take {str(dtype).removeprefix('torch.')}"


def _pack(weight: torch.Tensor, rows: int) -> torch.Tensor:
    """The weight in oneDNN's blocked layout, chosen for inputs of about ``rows`` rows (any row count works)."""
    with torch.no_grad():
        return torch.ops.mkldnn._reorder_linear_weight(weight.detach(), rows)


def _onednn_linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """``x @ weight.T + bias`` by oneDNN; ``weight`` plain or packed by :func:`_pack`."""
    return torch.ops.mkldnn._linear_pointwise(x, weight, bias, "none", [], "")


def _median_times(fns: dict[str, callable], repeats: int) -> dict[str, float]:
    """Median seconds of each function, calls interleaved so that machine noise hits all alike."""
    for fn in fns.values():  # warm-up: first-call allocations and kernel selection
        fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def _choose(linear: nn.Linear, rows: int, prepack: bool, measure: bool, repeats: int) -> LinearChoice:
    """Pick the path for ``linear``'s shape and dtype (cached per process)."""
    weight = linear.weight
    unsupported = onednn_supports(weight.dtype)
    if weight.device.type != "cpu":
        unsupported = f"the weights are on {weight.device.type}, not the CPU"
    if unsupported is not None:
        return LinearChoice("plain", unsupported)
    if not measure:
        return LinearChoice("onednn", "capability")
    key = (linear.out_features, linear.in_features, weight.dtype, linear.bias is not None, rows, prepack)
    if key not in _CHOICES:
        generator = torch.Generator().manual_seed(0)
        x = torch.randn(rows, linear.in_features, generator=generator).to(weight.dtype)
        w = torch.randn(linear.out_features, linear.in_features, generator=generator).to(weight.dtype)
        b = torch.zeros(linear.out_features, dtype=weight.dtype) if linear.bias is not None else None
        w_onednn = _pack(w, rows) if prepack else w
        with torch.inference_mode():
            times = _median_times({"plain": lambda: F.linear(x, w, b),
                                   "onednn": lambda: _onednn_linear(x, w_onednn, b)}, repeats)
        faster = times["onednn"] <= _MARGIN * times["plain"]
        _CHOICES[key] = LinearChoice("onednn" if faster else "plain", "measured", times["plain"], times["onednn"])
    return _CHOICES[key]


class FastLinear(nn.Linear):
    """An ``nn.Linear`` that runs oneDNN in no-grad inference when its :attr:`path` says so.

    Holds the same ``weight`` and ``bias`` parameters as the linear it replaces (see the
    module docstring for when the fast path applies). The packed weight is a plain attribute,
    never part of the ``state_dict``.
    """

    def __init__(self, linear: nn.Linear, choice: LinearChoice, *, prepack: bool, rows: int) -> None:
        nn.Module.__init__(self)
        self.in_features, self.out_features = linear.in_features, linear.out_features
        self.weight = linear.weight
        self.register_parameter("bias", linear.bias)  # a Parameter or None, as nn.Linear registers it
        self.training = linear.training
        self.choice = choice
        self.prepack = prepack
        self.rows = rows
        self._packed: torch.Tensor | None = None
        self._packed_key: tuple | None = None

    @property
    def path(self) -> str:
        return self.choice.path

    def _fast_weight(self, x: torch.Tensor) -> torch.Tensor | None:
        """The weight to hand oneDNN for ``x``, or None when this call must take the plain path."""
        weight = self.weight
        if self.choice.path != "onednn" or self.training:
            return None
        if torch.is_grad_enabled() and (x.requires_grad or weight.requires_grad
                                        or (self.bias is not None and self.bias.requires_grad)):
            return None
        if (x.device.type != "cpu" or weight.device.type != "cpu" or x.dtype != weight.dtype or x.dim() < 2
                or x.numel() == 0 or torch.is_autocast_enabled("cpu") or is_tracing()
                or not torch.backends.mkldnn.enabled):
            return None
        if not self.prepack:
            return weight
        key = (weight.data_ptr(), weight._version, weight.dtype, tuple(weight.shape))
        if key != self._packed_key:  # first call, or the weight changed since it was packed
            self._packed, self._packed_key = _pack(weight, self.rows), key
        return self._packed

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight = self._fast_weight(x)
        if weight is None:
            return F.linear(x, self.weight, self.bias)
        return _onednn_linear(x, weight, self.bias)

    def __getstate__(self) -> dict:
        """Copies and pickles leave the packed weight out (oneDNN's opaque tensor has no storage to copy);
        the copy packs its weight again at its first call."""
        state = self.__dict__.copy()
        state["_packed"], state["_packed_key"] = None, None
        return state

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, path={self.choice.path}"


def _linear_slots(model: nn.Module, kind: type) -> list[tuple[nn.Module, str, nn.Module]]:
    """(parent, attribute, module) for every module of exactly ``kind`` (shared modules once per slot)."""
    return [(parent, name, child) for parent in model.modules() for name, child in parent._modules.items()
            if type(child) is kind]


def optimize_for_inference(model: nn.Module, *, measure: bool = True, prepack: bool = True, rows: int = 1024,
                           repeats: int = 5) -> dict[str, LinearChoice]:
    """Route ``model``'s linear layers through oneDNN for no-grad inference where that is faster here.

    ``measure=True`` times ``F.linear`` against oneDNN for each distinct weight shape and dtype
    on a random ``(rows, in_features)`` input (``repeats`` interleaved calls, medians; cached
    per process) and keeps oneDNN only when it is at least 5% faster; ``measure=False`` uses
    oneDNN wherever the CPU supports the dtype. ``prepack=True`` keeps a copy of each such
    weight in oneDNN's layout (faster, more memory). Layers already optimised are decided
    again. Call it again after changing the model's structure (pruning heads, resizing
    embeddings) or dtype. Returns ``{module name: LinearChoice}``.
    """
    if not isinstance(rows, int) or rows <= 0:
        raise ValueError(f"optimize_for_inference: rows must be a positive integer, got {rows!r}")
    if not isinstance(repeats, int) or repeats <= 0:
        raise ValueError(f"optimize_for_inference: repeats must be a positive integer, got {repeats!r}")
    restore_plain_linears(model)
    names = {id(module): name for name, module in model.named_modules(remove_duplicate=False)}
    choices: dict[str, LinearChoice] = {}
    for parent, attr, linear in _linear_slots(model, nn.Linear):
        choice = _choose(linear, rows, prepack, measure, repeats)
        setattr(parent, attr, FastLinear(linear, choice, prepack=prepack, rows=rows))
        prefix = names[id(parent)]
        choices[f"{prefix}.{attr}" if prefix else attr] = choice
    return choices


def restore_plain_linears(model: nn.Module) -> None:
    """Undo :func:`optimize_for_inference`: plain ``nn.Linear`` modules on the same parameters, packed copies dropped."""
    for parent, attr, fast in _linear_slots(model, FastLinear):
        plain = nn.Linear(fast.in_features, fast.out_features, bias=fast.bias is not None, device="meta")
        plain.weight, plain.bias = fast.weight, fast.bias
        plain.train(fast.training)
        setattr(parent, attr, plain)
