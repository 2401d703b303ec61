"""Building blocks for Flax (``flax.linen``) models that must match their PyTorch twins.

Architecture plugins assemble their Flax modules from these pieces. Each one computes
exactly what the ``transformers`` PyTorch layer of the same role computes (same
formulas, same epsilon, same masking constant), so that a checkpoint gives the same
outputs in both frameworks to within float32 rounding.

Naming rule (what makes checkpoints portable): a Flax submodule is named after the
segment of the canonical (PyTorch) name it stands for, and items of a PyTorch
``ModuleList`` are named ``"layer.0"``, ``"layer.1"``... so that joining a parameter's
Flax path with dots gives its canonical name, once the leaf is renamed
(``kernel``/``scale``/``embedding`` -> ``weight``). :func:`canonical_name`,
:func:`to_canonical_layout` and :func:`to_flax_layout` implement that rule.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from ...core.configuration import ACTIVATIONS

__all__ = [
    "get_activation",
    "normal_init",
    "normal_init_with_zero_row",
    "sinusoidal_init",
    "sinusoidal_table",
    "dense",
    "layer_norm",
    "attention_bias",
    "split_heads",
    "merge_heads",
    "dot_product_attention",
    "MultiHeadSelfAttention",
    "FeedForward",
    "OutputProjection",
    "cross_entropy",
    "mse_loss",
    "bce_with_logits",
    "infer_problem_type",
    "sequence_classification_loss",
    "canonical_name",
    "canonical_paths",
    "to_canonical_layout",
    "to_flax_layout",
]

Array = Any
#: Epsilon of every LayerNorm in BERT-family PyTorch models.
LAYER_NORM_EPS = 1e-12
#: Label value that cross-entropy skips, as PyTorch's ``CrossEntropyLoss`` default.
IGNORE_INDEX = -100


# ---- activations ----------------------------------------------------------------------

def _gelu_tanh(x: Array) -> Array:
    # transformers' NewGELUActivation, written out so that it is the same formula.
    return 0.5 * x * (1.0 + jnp.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * jnp.power(x, 3.0))))


def _gelu_fast(x: Array) -> Array:
    return 0.5 * x * (1.0 + jnp.tanh(x * 0.7978845608 * (1.0 + 0.044715 * x * x)))


_ACTIVATIONS: dict[str, Callable[[Array], Array]] = {
    # "gelu" is the exact erf form, as torch.nn.functional.gelu (not JAX's tanh default).
    "gelu": lambda x: jax.nn.gelu(x, approximate=False),
    "gelu_new": _gelu_tanh,
    "gelu_fast": _gelu_fast,
    "gelu_pytorch_tanh": lambda x: jax.nn.gelu(x, approximate=True),
    "quick_gelu": lambda x: x * jax.nn.sigmoid(1.702 * x),
    "relu": jax.nn.relu,
    "silu": jax.nn.silu,
    "swish": jax.nn.silu,
    "tanh": jnp.tanh,
    "sigmoid": jax.nn.sigmoid,
    "linear": lambda x: x,
}
assert set(_ACTIVATIONS) == set(ACTIVATIONS), "every configurable activation needs a Flax implementation"


def get_activation(name: str) -> Callable[[Array], Array]:
    """The activation function called ``name`` in configs, computed as in PyTorch ``transformers``."""
    try:
        return _ACTIVATIONS[name]
    except KeyError:
        raise ValueError(f"unknown activation {name!r}; expected one of {', '.join(ACTIVATIONS)}") from None


# ---- initialisers (the distributions transformers' _init_weights uses) ----------------

def normal_init(std: float) -> Callable:
    """Normal(0, std), for Linear weights and embeddings (``initializer_range`` in configs)."""
    return jax.nn.initializers.normal(stddev=std)


def normal_init_with_zero_row(std: float, row: int | None) -> Callable:
    """Normal(0, std) with one row zeroed: an embedding whose ``padding_idx`` is ``row``."""
    def init(key, shape, dtype=jnp.float32):
        table = jax.random.normal(key, shape, dtype) * std
        if row is not None and 0 <= row < shape[0]:
            table = table.at[row].set(0)
        return table

    return init


def sinusoidal_table(n_pos: int, dim: int) -> np.ndarray:
    """The fixed sin/cos position table: even columns sin, odd columns cos (float32)."""
    positions = np.arange(n_pos, dtype=np.float64)[:, None]
    exponents = 2 * (np.arange(dim) // 2) / dim
    angles = positions / np.power(10000, exponents)[None, :]
    table = np.empty((n_pos, dim), dtype=np.float64)
    table[:, 0::2] = np.sin(angles[:, 0::2])
    table[:, 1::2] = np.cos(angles[:, 1::2])
    return table.astype(np.float32)


def sinusoidal_init() -> Callable:
    """Initialiser filling a position embedding with :func:`sinusoidal_table`."""
    def init(key, shape, dtype=jnp.float32):
        return jnp.asarray(sinusoidal_table(shape[0], shape[1]), dtype=dtype)

    return init


# ---- basic layers ---------------------------------------------------------------------

def dense(features: int, std: float, dtype: Any = jnp.float32, name: str | None = None) -> nn.Dense:
    """A Linear layer: kernel Normal(0, std), bias zeros, params and compute in ``dtype``."""
    return nn.Dense(
        features,
        kernel_init=normal_init(std),
        bias_init=jax.nn.initializers.zeros,
        dtype=dtype,
        param_dtype=dtype,
        name=name,
    )


def layer_norm(eps: float = LAYER_NORM_EPS, dtype: Any = jnp.float32, name: str | None = None) -> nn.LayerNorm:
    """LayerNorm as PyTorch computes it (two-pass variance, not Flax's fast E[x²]-E[x]²)."""
    return nn.LayerNorm(epsilon=eps, dtype=dtype, param_dtype=dtype, use_fast_variance=False, name=name)


# ---- attention ------------------------------------------------------------------------

def attention_bias(attention_mask: Array | None, dtype: Any) -> Array | None:
    """(batch, key_len) mask of 1 (attend) / 0 (padding) -> additive bias (batch, 1, 1, key_len).

    Masked positions get the dtype's most negative value, as transformers' eager attention.
    """
    if attention_mask is None:
        return None
    keep = attention_mask[:, None, None, :].astype(bool)
    return jnp.where(keep, 0.0, jnp.finfo(dtype).min).astype(dtype)


def split_heads(x: Array, n_heads: int) -> Array:
    """(batch, seq, dim) -> (batch, heads, seq, head_dim)."""
    batch, seq, dim = x.shape
    return x.reshape(batch, seq, n_heads, dim // n_heads).transpose(0, 2, 1, 3)


def merge_heads(x: Array) -> Array:
    """(batch, heads, seq, head_dim) -> (batch, seq, dim)."""
    batch, heads, seq, head_dim = x.shape
    return x.transpose(0, 2, 1, 3).reshape(batch, seq, heads * head_dim)


def dot_product_attention(
    query: Array,
    key: Array,
    value: Array,
    bias: Array | None = None,
    dropout: Callable[[Array], Array] | None = None,
) -> tuple[Array, Array]:
    """Scaled dot-product attention with an explicit softmax, returning the weights too.

    Inputs are (batch, heads, seq, head_dim). ``dropout`` (applied to the weights) is a
    callable so that the caller's module owns the random stream. The weights returned are
    those actually used, i.e. after dropout, as in transformers' eager attention.
    """
    scaling = query.shape[-1] ** -0.5
    scores = jnp.einsum("bhqd,bhkd->bhqk", query, key) * scaling
    if bias is not None:
        scores = scores + bias
    weights = jax.nn.softmax(scores, axis=-1)
    if dropout is not None:
        weights = dropout(weights)
    output = jnp.einsum("bhqk,bhkd->bhqd", weights, value)
    return output, weights


class MultiHeadSelfAttention(nn.Module):
    """Self-attention with four Linear layers; their names are the canonical ones (``names``)."""

    dim: int
    n_heads: int
    dropout_rate: float = 0.0
    initializer_range: float = 0.02
    dtype: Any = jnp.float32
    names: tuple[str, str, str, str] = ("q_lin", "k_lin", "v_lin", "out_lin")

    @nn.compact
    def __call__(self, hidden_states: Array, bias: Array | None = None, deterministic: bool = True):
        """Returns (output (batch, seq, dim), attention weights (batch, heads, seq, seq))."""
        q_name, k_name, v_name, out_name = self.names
        query = split_heads(dense(self.dim, self.initializer_range, self.dtype, q_name)(hidden_states), self.n_heads)
        key = split_heads(dense(self.dim, self.initializer_range, self.dtype, k_name)(hidden_states), self.n_heads)
        value = split_heads(dense(self.dim, self.initializer_range, self.dtype, v_name)(hidden_states), self.n_heads)
        drop = nn.Dropout(rate=self.dropout_rate)
        context, weights = dot_product_attention(
            query, key, value, bias, dropout=lambda w: drop(w, deterministic=deterministic)
        )
        output = dense(self.dim, self.initializer_range, self.dtype, out_name)(merge_heads(context))
        return output, weights


class FeedForward(nn.Module):
    """Linear -> activation -> Linear -> dropout (names of the two Linear layers in ``names``)."""

    dim: int
    hidden_dim: int
    activation: str = "gelu"
    dropout_rate: float = 0.0
    initializer_range: float = 0.02
    dtype: Any = jnp.float32
    names: tuple[str, str] = ("lin1", "lin2")

    @nn.compact
    def __call__(self, x: Array, deterministic: bool = True) -> Array:
        x = dense(self.hidden_dim, self.initializer_range, self.dtype, self.names[0])(x)
        x = get_activation(self.activation)(x)
        x = dense(self.dim, self.initializer_range, self.dtype, self.names[1])(x)
        return nn.Dropout(rate=self.dropout_rate)(x, deterministic=deterministic)


class OutputProjection(nn.Module):
    """Linear layer onto the vocabulary whose weight is, when tied, the word embedding matrix.

    Tied, it owns only its ``bias`` (the weight is passed in at call time, so it is stored
    once); untied, it owns a ``kernel`` as well, like any Dense layer.
    """

    features: int
    tied: bool = True
    initializer_range: float = 0.02
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: Array, embedding: Array | None = None) -> Array:
        if self.tied:
            kernel = jnp.asarray(embedding, self.dtype).T
        else:
            kernel = self.param("kernel", normal_init(self.initializer_range), (x.shape[-1], self.features), self.dtype)
        bias = self.param("bias", jax.nn.initializers.zeros, (self.features,), self.dtype)
        return jnp.dot(x.astype(self.dtype), kernel) + bias


# ---- losses (PyTorch semantics: mean over the elements that count) ----------------------

def cross_entropy(logits: Array, labels: Array, ignore_index: int = IGNORE_INDEX) -> Array:
    """``torch.nn.CrossEntropyLoss(ignore_index=...)``: mean over labels != ignore_index.

    Like PyTorch, the result is NaN when every label is ignored.
    """
    logits = logits.reshape(-1, logits.shape[-1]).astype(jnp.float32)
    labels = labels.reshape(-1)
    valid = labels != ignore_index
    safe_labels = jnp.where(valid, labels, 0)
    log_probs = jax.nn.log_softmax(logits, axis=-1)
    nll = -jnp.take_along_axis(log_probs, safe_labels[:, None], axis=-1)[:, 0]
    return jnp.sum(jnp.where(valid, nll, 0.0)) / jnp.sum(valid)


def mse_loss(predictions: Array, targets: Array) -> Array:
    """``torch.nn.MSELoss()``."""
    return jnp.mean((predictions.astype(jnp.float32) - targets.astype(jnp.float32)) ** 2)


def bce_with_logits(logits: Array, targets: Array) -> Array:
    """``torch.nn.BCEWithLogitsLoss()``, in its numerically stable form."""
    x = logits.astype(jnp.float32)
    y = targets.astype(jnp.float32)
    return jnp.mean(jnp.maximum(x, 0) - x * y + jnp.log1p(jnp.exp(-jnp.abs(x))))


def infer_problem_type(problem_type: str | None, num_labels: int, labels: Array) -> str:
    """transformers' rule: regression for one label, integer labels -> single-label, else multi-label.

    Decided per call from the labels' dtype (known when tracing), without changing the config.
    """
    if problem_type is not None:
        return problem_type
    if num_labels == 1:
        return "regression"
    if jnp.issubdtype(labels.dtype, jnp.integer):
        return "single_label_classification"
    return "multi_label_classification"


def sequence_classification_loss(logits: Array, labels: Array, num_labels: int, problem_type: str | None) -> Array:
    """The loss of a sequence classification head, as transformers' PyTorch heads compute it."""
    problem_type = infer_problem_type(problem_type, num_labels, labels)
    if problem_type == "regression":
        if num_labels == 1:
            return mse_loss(jnp.squeeze(logits), jnp.squeeze(labels))
        return mse_loss(logits, labels)
    if problem_type == "single_label_classification":
        return cross_entropy(logits.reshape(-1, num_labels), labels.reshape(-1))
    return bce_with_logits(logits, labels)


# ---- canonical (PyTorch) names and layouts <-> Flax parameter paths -------------------

_LEAF_TO_CANONICAL = {"kernel": "weight", "scale": "weight", "embedding": "weight", "bias": "bias"}


def canonical_name(path: tuple[str, ...]) -> str:
    """Flax parameter path -> canonical name: ``("embeddings", "LayerNorm", "scale")`` -> ``embeddings.LayerNorm.weight``."""
    *modules, leaf = path
    return ".".join([*modules, _LEAF_TO_CANONICAL.get(leaf, leaf)])


def canonical_paths(params: dict) -> dict[str, tuple[str, ...]]:
    """Canonical name -> Flax path for every leaf of a (nested dict) params pytree."""
    from flax.traverse_util import flatten_dict

    return {canonical_name(path): path for path in flatten_dict(params)}


def to_canonical_layout(path: tuple[str, ...], array: Array) -> Array:
    """A Flax parameter in the PyTorch layout.

    Dense kernels are (in, out) in Flax and (out, in) in PyTorch; convolution kernels are
    (*spatial, in, out) in Flax and (out, in, *spatial) in PyTorch. Everything else is shared.
    """
    if path[-1] != "kernel" or array.ndim < 2:
        return array
    if array.ndim == 2:
        return array.T
    spatial = tuple(range(array.ndim - 2))
    return array.transpose(array.ndim - 1, array.ndim - 2, *spatial)


def to_flax_layout(path: tuple[str, ...], array: Array) -> Array:
    """The inverse of :func:`to_canonical_layout`."""
    if path[-1] != "kernel" or array.ndim < 2:
        return array
    if array.ndim == 2:
        return array.T
    n_spatial = array.ndim - 2
    return array.transpose(*range(2, 2 + n_spatial), 1, 0)
