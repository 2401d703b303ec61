"""Comparing numbers in tests: outputs within float32 rounding, weights bit for bit.

**Outputs.** Two forward passes of the same float32 model are not bit-identical in
general. BLAS libraries pick their kernels by CPU features, thread count and memory
alignment, each with its own order of summation; another framework, or another code
path of the same one (fused attention, chunking, a reloaded copy of the weights at
other addresses), rounds differently again. That rounding error is not proportional to
each element: an element near zero is the difference of large terms and carries their
error. It is proportional to the magnitude of the tensor (of the terms summed), and it
grows with depth, as every layer passes on the error it was given and adds its own. So
:func:`assert_close` accepts, element by element::

    |actual - expected| <= rtol * |expected| + atol_scale * max|expected|

Both tolerances are relative: the same test holds for logits of magnitude 0.1 and
hidden states of magnitude 10.

The defaults, ``RTOL = ATOL_SCALE = 1e-5`` (about 80 float32 ulps: eps = 1.2e-7), fit
the tiny random models of a test suite (a few layers of width 16 to 64). There float32
itself ends within 1e-6 (of ``|expected| + max|expected|``) of the float64 result, so
any two float32 implementations agree within 2e-6, a fifth of the tolerance, whatever
their kernels and thread count (measured: 0.16 of it at worst, between PyTorch, Keras
and Flax, on 1 or 2 threads, with AVX-512 or AVX2 kernels, idle or loaded). The smallest
real bugs move outputs by six times the tolerance or more: the tanh approximation of
GELU, a LayerNorm eps of 1e-5 instead of 1e-12 (2e-4 of the embeddings' magnitude), a
missing bias (1e-2 or more). Deeper or wider models, or real weights with large
activations, need more: pass ``rtol`` / ``atol_scale`` with a comment saying why (six
layers of all-MiniLM-L6-v2 end 6e-6 from float64; their tests use 1e-4). Half types
need tolerances sized from their own eps (float16 9.8e-4, bfloat16 7.8e-3).

**Weights.** Conversion between frameworks and save / load copy weights: nothing is
computed, so :func:`assert_weights_equal` compares them bit for bit (dtype included).

Values may be numpy arrays, PyTorch / TensorFlow / JAX tensors or Python numbers; outputs
may be model outputs or dicts of them, with tuples (hidden states, attentions) compared
item by item. Only numpy is imported here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = ["ATOL_SCALE", "RTOL", "assert_close", "assert_outputs_close", "assert_weights_equal"]

#: Default tolerance relative to each expected element (see the module docstring).
RTOL = 1e-5
#: Default tolerance relative to the largest expected magnitude of the tensor.
ATOL_SCALE = 1e-5


def _to_numpy(value: Any) -> np.ndarray:
    """Any framework's tensor as a numpy array of the same values (bfloat16 torch tensors as float32, exactly)."""
    if hasattr(value, "detach"):  # torch, without importing it
        value = value.detach().cpu()
        if str(value.dtype) == "torch.bfloat16":  # numpy has no bfloat16 of torch's; float32 holds it exactly
            value = value.float()
        return value.numpy()
    return np.asarray(value)


def _dtype_name(value: Any) -> str:
    """``float32``, ``bfloat16``, ... whatever the framework (numpy, torch, TensorFlow, JAX, Keras)."""
    dtype = value.dtype
    return getattr(dtype, "name", None) or str(dtype).removeprefix("torch.")


def assert_close(actual: Any, expected: Any, *, rtol: float = RTOL, atol_scale: float = ATOL_SCALE,
                 name: str = "value") -> None:
    """``actual`` equals ``expected`` within float rounding: see the module docstring for the rule.

    Shapes must be equal; NaN or infinity anywhere in ``actual`` where ``expected`` is
    finite fails. The error names the worst element, its values and what was allowed.
    """
    got = _to_numpy(actual)
    want = _to_numpy(expected)
    assert got.shape == want.shape, f"{name}: shape {got.shape}, expected {want.shape}"
    if want.size == 0:
        return
    got, want = got.astype(np.float64), want.astype(np.float64)
    scale = float(np.max(np.abs(want)))
    allowed = rtol * np.abs(want) + atol_scale * scale
    with np.errstate(invalid="ignore"):  # inf - inf: NaN, judged below
        diff = np.abs(got - want)
    bad = ~(diff <= allowed)  # NaN compares False: counted as bad
    bad &= ~((got == want) | (np.isnan(got) & np.isnan(want)))  # identical values (infinities, NaN) pass
    if not bad.any():
        return
    excess = np.where(bad, np.nan_to_num(diff / np.maximum(allowed, np.finfo(np.float64).tiny), nan=np.inf), -1.0)
    index = np.unravel_index(int(np.argmax(excess)), want.shape)
    raise AssertionError(
        f"{name}: {int(bad.sum())} of {want.size} elements differ by more than rtol * |expected| + "
        f"atol_scale * max|expected| (rtol={rtol:g}, atol_scale={atol_scale:g}, max|expected|={scale:.4g}); "
        f"worst at index {tuple(int(i) for i in index)}: got {got[index]:.9g}, expected {want[index]:.9g}, "
        f"diff {diff[index]:.3g} > allowed {allowed[index]:.3g}; max abs diff {float(np.max(diff)):.3g}"
    )


def _flatten(outputs: Any) -> dict[str, Any]:
    """A model output or dict as ``name`` / ``name.i`` -> array, without None and empty tuples."""
    flat = {}
    for key, value in outputs.items():
        if value is None:
            continue
        if isinstance(value, (tuple, list)):
            flat.update({f"{key}.{i}": item for i, item in enumerate(value)})
        else:
            flat[key] = value
    return flat


def assert_outputs_close(expected: Any, actual: Any, *, rtol: float = RTOL, atol_scale: float = ATOL_SCALE,
                         where: str = "outputs") -> None:
    """Every output of ``expected`` is in ``actual`` and close to it (:func:`assert_close`, per tensor).

    ``expected`` and ``actual`` are model outputs or dicts of arrays; tuples (hidden
    states, attentions) are compared item by item as ``hidden_states.0``, ... Each tensor
    gets its own scale: attention probabilities (at most 1) and hidden states (often 5
    to 10) are each held to their own magnitude.
    """
    want, got = _flatten(expected), _flatten(actual)
    assert want.keys() == got.keys(), f"{where}: outputs {sorted(got)}, expected {sorted(want)}"
    for key in want:
        assert_close(got[key], want[key], rtol=rtol, atol_scale=atol_scale, name=f"{where}: {key}")


def assert_weights_equal(expected: Mapping[str, Any], actual: Mapping[str, Any], *, where: str = "weights") -> None:
    """The same weight names, dtypes, shapes and bits (-0.0 is not 0.0; a NaN equals itself only bit for bit)."""
    missing, extra = sorted(set(expected) - set(actual)), sorted(set(actual) - set(expected))
    assert not missing and not extra, f"{where}: missing {missing}, unexpected {extra}"
    for name in expected:
        want, got = expected[name], actual[name]
        want_dtype, got_dtype = _dtype_name(want), _dtype_name(got)
        assert got_dtype == want_dtype, f"{where}: {name} has dtype {got_dtype}, expected {want_dtype}"
        want, got = _to_numpy(want), _to_numpy(got)
        assert got.shape == want.shape, f"{where}: {name} has shape {got.shape}, expected {want.shape}"
        if want.size == 0:
            continue
        bits_got = np.ascontiguousarray(got).reshape(want.size, -1).view(np.uint8)
        bits_want = np.ascontiguousarray(want).reshape(want.size, -1).view(np.uint8)
        differ = np.flatnonzero(np.any(bits_got != bits_want, axis=1))
        if differ.size:
            index = tuple(int(i) for i in np.unravel_index(differ[0], want.shape))
            raise AssertionError(
                f"{where}: {name} is not bit-identical: {differ.size} of {want.size} elements differ; "
                f"first at index {index}: got {got[index]}, expected {want[index]}"
            )
