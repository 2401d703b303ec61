"""Reusable Flax (``flax.linen``) building blocks for transformer architectures.

The same blocks, with the same names, arguments and defaults, as the PyTorch backend's
:mod:`polyformer.backends.torch.layers` (a test compares them); each computes what its
PyTorch twin computes (same formulas, epsilon and masking), so a checkpoint gives the same
outputs in both frameworks to within float32 rounding. Only the framework's own arguments
differ: every block also takes ``initializer_range`` and ``dtype`` (Flax creates each weight
with its initialiser, where PyTorch initialises a built model), and ``deterministic=False``
at call time turns its dropout on (it then needs a ``"dropout"`` rng).

Blocks (they take plain sizes, not a config; submodules are named as ``transformers``
names the checkpoint tensors):

* :class:`Embeddings`: word + (token type) + position embeddings (learned or fixed
  sinusoidal), an optional LayerNorm, dropout; checks the ids it is given;
* :class:`MultiHeadSelfAttention`: q/k/v (and optionally output) projections named by the
  architecture, built without the heads its config prunes;
* :class:`AttentionBlock`: self-attention plus its ``output`` sub-layer (BERT, ViT...);
* :class:`Intermediate` and :class:`DenseAddNorm`: the two halves of a BERT-family feed-forward;
* :class:`FeedForward`: both halves in one module (DistilBERT's ``ffn``, Wav2Vec2's ``feed_forward``);
* :class:`TransformerLayer`: attention and feed-forward with their norms, pre- or post-norm,
  every submodule named by :class:`LayerNames`;
* :class:`Encoder`: the stack of layers (``layer.0``, ``layer.1``...), with masks, hidden
  states, attentions, head masks and LayerDrop handled once;
* :class:`Pooler`: ``activation(dense(first position))``;
* :class:`OutputProjection`: a vocabulary projection that can reuse the word embeddings;
* :class:`PatchEmbeddings`: images cut into patches, each projected to a vector (ViT and kin);
* :class:`ConvLayer` and :class:`ConvFeatureEncoder`: raw audio to frames, a stack of strided 1-D
  convolutions (Wav2Vec2, HuBERT, WavLM...), with the frame count and receptive field it implies;
* :class:`PositionalConvEmbedding`: relative positions of speech frames from a grouped,
  weight-normalised convolution over time (its weight computed from ``g`` and ``v`` at each call);
* :class:`TDNNLayer`: a dilated 1-D convolution stored as a linear (x-vector heads).

Helpers: :func:`get_activation`, :func:`attention`, :func:`expand_attention_mask`,
:func:`expand_head_mask`, :func:`apply_chunked`, :func:`check_choice_inputs`, :func:`dense`,
:func:`layer_norm`, the initialisers (:class:`Initializer`, drawn with numpy for a fresh
model) and the canonical name rule below.

Naming rule (what makes checkpoints portable): a Flax submodule is named after the
segment of the canonical (PyTorch) name it stands for, and items of a PyTorch
``ModuleList`` are named ``"layer.0"``, ``"layer.1"``... so that joining a parameter's
Flax path with dots gives its canonical name, once the leaf is renamed
(``kernel``/``scale``/``embedding`` -> ``weight``). :func:`canonical_name`,
:func:`to_canonical_layout` and :func:`to_flax_layout` implement that rule.
"""

from __future__ import annotations

import contextlib
import contextvars
import math
from typing import Any, Callable, Iterable, Iterator, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from ...core.layer_names import LayerNames
from ...core import inputs
from ...core.configuration import ACTIVATIONS
from ...core.numerics import conv_output_length, conv_receptive_field, patch_grid, sinusoidal_table, to_pair
from ...core.outputs import BaseModelOutput

__all__ = [
    "get_activation",
    "attention",
    "expand_attention_mask",
    "expand_head_mask",
    "MultiHeadSelfAttention",
    "AttentionBlock",
    "Intermediate",
    "DenseAddNorm",
    "FeedForward",
    "LayerNames",
    "TransformerLayer",
    "Embeddings",
    "Encoder",
    "Pooler",
    "OutputProjection",
    "PatchEmbeddings",
    "ConvLayer",
    "ConvFeatureEncoder",
    "PositionalConvEmbedding",
    "TDNNLayer",
    "apply_chunked",
    "check_choice_inputs",
    "dense",
    "layer_norm",
    "input_facts",
    "Initializer",
    "recording_initializers",
    "normal_init",
    "normal_init_with_zero_row",
    "truncated_normal_init",
    "uniform_init",
    "constant_init",
    "norm_init",
    "zeros_init",
    "ones_init",
    "sinusoidal_init",
    "canonical_name",
    "canonical_paths",
    "to_canonical_layout",
    "to_flax_layout",
]

Array = Any


# ---- inputs ---------------------------------------------------------------------------
def input_facts(name: str, x: Any, values: bool = True) -> inputs.Facts | None:
    """The dtype, shape and (unless traced by ``jax.jit``) values of an input, for :mod:`polyformer.core.inputs`."""
    if x is None:
        return None
    if isinstance(x, (list, tuple, int, float, bool)):  # Python values: as numpy would hold them
        x = inputs.as_array(name, x)
    array = np.asarray(x) if values and not isinstance(x, jax.core.Tracer) else None
    return inputs.Facts(name, str(x.dtype), tuple(x.shape), array)


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
_RECORDING: contextvars.ContextVar[dict | None] = contextvars.ContextVar("polyformer_flax_init_recording", default=None)


class Initializer:
    """A Flax parameter initialiser that can also draw its values with numpy.

    Called as any Flax initialiser, ``init(key, shape, dtype)``, it draws with JAX (so
    ``module.init`` works as usual). :meth:`numpy` draws from the same distribution with
    numpy: :class:`~polyformer.backends.flax.modeling.FlaxPreTrainedModel` uses it for a
    fresh model, because running the initialisers through JAX, eagerly or under ``jit``,
    costs a second or more of XLA compilation even for a tiny model, and numpy costs
    nothing. ``trainable=False`` marks a fixed table (sinusoidal positions), which the blocks
    read through ``stop_gradient`` and ``num_parameters(only_trainable=True)`` leaves out.

    ``source`` names a sibling parameter (of the same module) whose value this one is computed
    from rather than drawn (a weight norm's magnitude is its direction's norm): ``numpy_fn``
    then takes that value, ``numpy_fn(source_value)``, and the model computes it after the
    source has its value (loaded or drawn).
    """

    def __init__(self, jax_fn: Callable, numpy_fn: Callable, description: str, trainable: bool = True,
                 source: str | None = None):
        self._jax_fn = jax_fn
        self._numpy_fn = numpy_fn
        self.description = description
        self.trainable = trainable
        self.source = source

    def __call__(self, key, shape, dtype=jnp.float32):
        value = self._jax_fn(key, tuple(shape), dtype)
        record = _RECORDING.get()
        if record is not None:  # keep the value alive so that its id stays unique
            record[id(value)] = (self, value)
        return value

    def numpy(self, rng: np.random.Generator | None, shape: tuple[int, ...], source_value: Any = None) -> np.ndarray:
        """Draw a float32 array of ``shape`` with the numpy generator ``rng`` (or compute it from ``source_value``)."""
        if self.source is not None:
            return np.asarray(self._numpy_fn(np.asarray(source_value, dtype=np.float32)), dtype=np.float32)
        return np.asarray(self._numpy_fn(rng, tuple(shape)), dtype=np.float32)

    def __repr__(self) -> str:
        return f"Initializer({self.description})"


@contextlib.contextmanager
def recording_initializers() -> Iterator[dict]:
    """Record the :class:`Initializer` behind each parameter a ``module.init`` creates inside it.

    Yields a dict ``id(value) -> (initializer, value)``: look up each leaf of the params that
    ``init`` returned (typically traced under ``jax.eval_shape``, which costs no compile).
    """
    record: dict = {}
    token = _RECORDING.set(record)
    try:
        yield record
    finally:
        _RECORDING.reset(token)


def normal_init(std: float) -> Initializer:
    """Normal(0, std), for Linear weights and embeddings (``initializer_range`` in configs)."""
    return Initializer(
        lambda key, shape, dtype: jax.random.normal(key, shape, dtype) * jnp.asarray(std, dtype),
        lambda rng, shape: rng.standard_normal(shape) * std,
        f"normal(std={std})",
    )


def normal_init_with_zero_row(std: float, row: int | None) -> Initializer:
    """Normal(0, std) with one row zeroed: an embedding whose ``padding_idx`` is ``row``."""
    def jax_fn(key, shape, dtype):
        table = jax.random.normal(key, shape, dtype) * jnp.asarray(std, dtype)
        return table.at[row].set(0) if row is not None and 0 <= row < shape[0] else table

    def numpy_fn(rng, shape):
        table = rng.standard_normal(shape) * std
        if row is not None and 0 <= row < shape[0]:
            table[row] = 0
        return table

    return Initializer(jax_fn, numpy_fn, f"normal(std={std}, row {row} zero)")


def truncated_normal_init(std: float, bound: float = 2.0) -> Initializer:
    """Normal(0, std) restricted to ``[-bound, bound]``: ``torch.nn.init.trunc_normal_(w, std=std)`` (ViT's weights).

    The bound is absolute, as torch's ``a=-2, b=2`` are, not a number of standard deviations:
    at ``std=0.02`` it is never reached; at ``std=1`` it cuts the tails beyond two sigma.
    Values outside are drawn again, which is what truncating the distribution means.
    """
    def jax_fn(key, shape, dtype):
        return jax.random.truncated_normal(key, -bound / std, bound / std, shape, dtype) * jnp.asarray(std, dtype)

    def numpy_fn(rng, shape):
        values = rng.standard_normal(shape) * std
        outside = np.abs(values) > bound
        while outside.any():
            values[outside] = rng.standard_normal(int(outside.sum())) * std
            outside = np.abs(values) > bound
        return values

    return Initializer(jax_fn, numpy_fn, f"truncated_normal(std={std}, bound={bound})")


def uniform_init(low: float = 0.0, high: float = 1.0) -> Initializer:
    """Uniform on ``[low, high)``: ``torch.Tensor.uniform_()`` (Wav2Vec2's mask embedding and codebook)."""
    return Initializer(
        lambda key, shape, dtype: jax.random.uniform(key, shape, dtype, low, high),
        lambda rng, shape: rng.uniform(low, high, shape),
        f"uniform({low}, {high})",
    )


def constant_init(value: float) -> Initializer:
    """Every entry ``value`` (a weighted layer sum's equal weights)."""
    return Initializer(lambda key, shape, dtype: jnp.full(shape, value, dtype), lambda rng, shape: np.full(shape, value),
                       f"constant({value})")


def norm_init(source: str, direction: Array, axes: tuple[int, ...]) -> Initializer:
    """A weight norm's magnitude: the norm of its direction parameter ``source`` (value ``direction``) over ``axes``.

    So the weight ``magnitude * direction / ||direction||`` starts equal to the direction, as
    PyTorch's weight-norm parametrization splits a weight.
    """
    return Initializer(
        lambda key, shape, dtype: jnp.sqrt(jnp.sum(jnp.square(direction), axis=axes, keepdims=True)).astype(dtype),
        lambda value: np.sqrt(np.sum(np.square(value.astype(np.float64)), axis=axes, keepdims=True)),
        f"norm of {source} over axes {axes}",
        source=source,
    )


def zeros_init() -> Initializer:
    """Zeros: biases, LayerNorm shifts."""
    return Initializer(lambda key, shape, dtype: jnp.zeros(shape, dtype), lambda rng, shape: np.zeros(shape), "zeros")


def ones_init() -> Initializer:
    """Ones: LayerNorm scales."""
    return Initializer(lambda key, shape, dtype: jnp.ones(shape, dtype), lambda rng, shape: np.ones(shape), "ones")


def sinusoidal_init() -> Initializer:
    """The fixed sin/cos position table (:func:`polyformer.core.numerics.sinusoidal_table`), not trained."""
    return Initializer(
        lambda key, shape, dtype: jnp.asarray(sinusoidal_table(shape[0], shape[1]), dtype=dtype),
        lambda rng, shape: sinusoidal_table(shape[0], shape[1]),
        "sinusoidal",
        trainable=False,
    )


# ---- basic layers ---------------------------------------------------------------------
def dense(features: int, std: float, dtype: Any = jnp.float32, name: str | None = None, use_bias: bool = True) -> nn.Dense:
    """A Linear layer: kernel Normal(0, std), bias zeros, params and compute in ``dtype``."""
    return nn.Dense(features, use_bias=use_bias, kernel_init=normal_init(std), bias_init=zeros_init(), dtype=dtype,
                    param_dtype=dtype, name=name)


def layer_norm(eps: float = 1e-12, dtype: Any = jnp.float32, name: str | None = None) -> nn.LayerNorm:
    """LayerNorm as PyTorch computes it (two-pass variance, not Flax's fast E[x²]-E[x]²)."""
    return nn.LayerNorm(epsilon=eps, dtype=dtype, param_dtype=dtype, use_fast_variance=False,
                        scale_init=ones_init(), bias_init=zeros_init(), name=name)


# ---- masks ----------------------------------------------------------------------------
def expand_attention_mask(attention_mask: Array | None, input_shape: tuple[int, ...], dtype: Any = jnp.float32) -> Array | None:
    """``(batch, seq)`` padding mask of 1 (attend) / 0 (padding) -> additive ``(batch, 1, 1, seq)`` bias.

    Masked keys get the dtype's most negative value, as ``transformers``' eager attention. The
    mask is checked first against ``input_shape`` (the ``(batch, seq)`` of the inputs) and,
    outside ``jax.jit``, for values other than 0 and 1.
    """
    if attention_mask is None:
        return None
    inputs.check_attention_mask(input_facts("attention_mask", attention_mask), tuple(input_shape))
    keep = jnp.asarray(attention_mask)[:, None, None, :].astype(bool)
    return jnp.where(keep, 0.0, jnp.finfo(dtype).min).astype(dtype)


def expand_head_mask(head_mask: Array | None, num_layers: int) -> list[Array | None]:
    """A head mask of shape ``(heads,)`` or ``(layers, heads)`` -> one ``(1, heads, 1, 1)`` mask per layer.

    1.0 keeps a head, 0.0 silences it (its attention weights are multiplied by the value).
    """
    if head_mask is None:
        return [None] * num_layers
    head_mask = jnp.asarray(head_mask)
    if head_mask.ndim == 1:
        head_mask = jnp.broadcast_to(head_mask[None, :], (num_layers, head_mask.shape[0]))
    if head_mask.ndim != 2 or head_mask.shape[0] != num_layers:
        raise ValueError(f"head_mask must have shape (heads,) or ({num_layers}, heads), got {tuple(head_mask.shape)}")
    return [row[None, :, None, None] for row in head_mask]


# ---- attention -------------------------------------------------------------------------
def attention(
    query: Array,
    key: Array,
    value: Array,
    mask: Array | None = None,
    *,
    dropout: Callable[[Array], Array] | None = None,
    head_mask: Array | None = None,
) -> tuple[Array, Array]:
    """Scaled dot-product attention over ``(batch, heads, seq, head_dim)`` arrays; returns (context, weights).

    ``mask`` is the additive bias of :func:`expand_attention_mask`. ``dropout`` (applied to the
    weights) is a callable so that the caller's module owns the random stream; ``head_mask``
    scales the weights after it, as in ``transformers``. The weights returned are those used.
    A query whose keys are all masked gets zero weights (a zero context), as PyTorch's fused
    attention gives.
    """
    scores = jnp.einsum("bhqd,bhkd->bhqk", query, key) * query.shape[-1] ** -0.5
    if mask is not None:
        scores = scores + mask
    weights = jax.nn.softmax(scores, axis=-1)
    if mask is not None:
        # A fully padded sequence attends to nothing: zero weights, not the softmax's uniform average.
        weights = jnp.where(jnp.max(mask, axis=-1, keepdims=True) >= 0, weights, 0.0)
    if dropout is not None:
        weights = dropout(weights)
    if head_mask is not None:
        weights = weights * head_mask
    return jnp.einsum("bhqk,bhkd->bhqd", weights, value), weights


def _split_heads(x: Array, num_heads: int) -> Array:
    """(batch, seq, heads * head_dim) -> (batch, heads, seq, head_dim)."""
    batch, length, width = x.shape
    return x.reshape(batch, length, num_heads, width // num_heads).transpose(0, 2, 1, 3)


def _merge_heads(x: Array) -> Array:
    """(batch, heads, seq, head_dim) -> (batch, seq, heads * head_dim)."""
    batch, heads, length, head_dim = x.shape
    return x.transpose(0, 2, 1, 3).reshape(batch, length, heads * head_dim)


class MultiHeadSelfAttention(nn.Module):
    """Multi-head self-attention whose projection names follow the architecture's checkpoints.

    ``names`` are the query, key and value Linear layers' names, ``output_name`` the output
    Linear's (DistilBERT: ``q_lin``, ``k_lin``, ``v_lin``, ``out_lin``). With
    ``output_name=None`` there is none: the caller owns it (BERT keeps it in
    ``attention.output.dense``, see :class:`AttentionBlock`). ``num_heads`` is the layer's
    original head count; ``pruned_heads`` (original numbers) are left out, as a pruned
    checkpoint stores them (the model prunes more by rebuilding its modules, see
    ``FlaxPreTrainedModel.prune_heads``). ``bias=False`` leaves the query/key/value biases out.
    """

    hidden_size: int
    num_heads: int
    pruned_heads: Iterable[int] = ()
    dropout: float = 0.0
    bias: bool = True
    names: tuple[str, str, str] = ("query", "key", "value")
    output_name: str | None = None
    initializer_range: float = 0.02
    dtype: Any = jnp.float32

    def __post_init__(self):
        pruned = tuple(sorted({int(h) for h in self.pruned_heads}))
        object.__setattr__(self, "pruned_heads", pruned)  # hashable and in order, however given
        if self.hidden_size % self.num_heads:
            raise ValueError(f"hidden_size={self.hidden_size} must be divisible by num_heads={self.num_heads}")
        outside = [h for h in pruned if not 0 <= h < self.num_heads]
        if outside:
            raise ValueError(f"pruned_heads names head {outside[0]}, but the layer has {self.num_heads} heads "
                             f"(numbered 0 to {self.num_heads - 1})")
        if len(pruned) >= self.num_heads:
            raise ValueError(f"cannot prune every head of an attention layer (it has {self.num_heads})")
        super().__post_init__()

    @property
    def head_size(self) -> int:
        return self.hidden_size // self.num_heads

    @property
    def kept_heads(self) -> int:
        """The heads the layer has: ``num_heads`` less the pruned ones."""
        return self.num_heads - len(self.pruned_heads)

    @nn.compact
    def __call__(self, hidden_states: Array, mask: Array | None = None, head_mask: Array | None = None,
                 output_attentions: bool = False, deterministic: bool = True):
        """``(batch, seq, hidden)`` -> (``(batch, seq, hidden or kept heads * head_size)``, attention weights or None)."""
        inner = self.kept_heads * self.head_size
        query, key, value = (
            _split_heads(dense(inner, self.initializer_range, self.dtype, name, self.bias)(hidden_states), self.kept_heads)
            for name in self.names
        )
        drop = nn.Dropout(rate=self.dropout)
        context, weights = attention(query, key, value, mask, dropout=lambda w: drop(w, deterministic=deterministic),
                                     head_mask=head_mask)
        context = _merge_heads(context)
        if self.output_name is not None:
            context = dense(self.hidden_size, self.initializer_range, self.dtype, self.output_name)(context)
        return context, (weights if output_attentions else None)


class AttentionBlock(nn.Module):
    """Self-attention (at ``self_name``: BERT's ``self``, ViT's ``attention``) and its ``output`` sub-layer.

    ``output`` is :class:`DenseAddNorm`: ``LayerNorm(dropout(dense(context)) + residual)``
    (post-norm, BERT), or without the LayerNorm (``layer_norm=False``, a pre-norm layer such as
    ViT's, which passes its un-normed input as ``residual``).
    """

    hidden_size: int
    num_heads: int
    pruned_heads: Iterable[int] = ()
    attention_dropout: float = 0.0
    dropout: float = 0.0
    layer_norm_eps: float = 1e-12
    layer_norm: bool = True
    bias: bool = True
    self_name: str = "self"
    initializer_range: float = 0.02
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, hidden_states, mask=None, head_mask=None, output_attentions=False, residual=None,
                 deterministic: bool = True):
        """``residual`` defaults to ``hidden_states`` (post-norm); a pre-norm layer passes its input before the norm."""
        attention_module = MultiHeadSelfAttention(
            self.hidden_size, self.num_heads, pruned_heads=self.pruned_heads, dropout=self.attention_dropout,
            bias=self.bias, initializer_range=self.initializer_range, dtype=self.dtype, name=self.self_name,
        )
        context, weights = attention_module(hidden_states, mask, head_mask, output_attentions, deterministic=deterministic)
        output = DenseAddNorm(
            attention_module.kept_heads * attention_module.head_size, self.hidden_size, dropout=self.dropout,
            layer_norm_eps=self.layer_norm_eps, layer_norm=self.layer_norm, initializer_range=self.initializer_range,
            dtype=self.dtype, name="output",
        )
        return output(context, hidden_states if residual is None else residual, deterministic=deterministic), weights


# ---- feed-forward ----------------------------------------------------------------------
class Intermediate(nn.Module):
    """The widening half of a BERT-family feed-forward: ``activation(dense(x))``."""

    hidden_size: int
    intermediate_size: int
    activation: str
    initializer_range: float = 0.02
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, hidden_states: Array) -> Array:
        hidden = dense(self.intermediate_size, self.initializer_range, self.dtype, "dense")(hidden_states)
        return get_activation(self.activation)(hidden)


class DenseAddNorm(nn.Module):
    """``LayerNorm(dropout(dense(x)) + residual)``: the output sub-layer of the BERT family.

    Submodules ``dense`` and ``LayerNorm``, as BERT's ``attention.output`` and ``output`` name them.
    ``layer_norm=False`` leaves the LayerNorm out: ``dropout(dense(x)) + residual`` (ViT).
    ``in_features`` is the width of ``x`` (Flax reads it from the input; kept for the one API).
    """

    in_features: int
    hidden_size: int
    dropout: float = 0.0
    layer_norm_eps: float = 1e-12
    layer_norm: bool = True
    initializer_range: float = 0.02
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, hidden_states: Array, residual: Array, deterministic: bool = True) -> Array:
        output = dense(self.hidden_size, self.initializer_range, self.dtype, "dense")(hidden_states)
        summed = nn.Dropout(rate=self.dropout)(output, deterministic=deterministic) + residual
        return layer_norm(self.layer_norm_eps, self.dtype, "LayerNorm")(summed) if self.layer_norm else summed


class FeedForward(nn.Module):
    """``dropout(out(activation_dropout(activation(in(x)))))``, its two Linear layers named by ``names``.

    ``chunk_size`` > 0 runs the block on slices of ``chunk_size`` positions (the result is the
    same), as ``config.chunk_size_feed_forward`` asks.
    """

    hidden_size: int
    intermediate_size: int
    activation: str
    dropout: float = 0.0
    activation_dropout: float = 0.0
    names: tuple[str, str] = ("lin1", "lin2")
    chunk_size: int = 0
    initializer_range: float = 0.02
    dtype: Any = jnp.float32

    def setup(self):
        # Defined here, not inline, because a chunked call runs them once per slice.
        setattr(self, self.names[0], dense(self.intermediate_size, self.initializer_range, self.dtype))
        setattr(self, self.names[1], dense(self.hidden_size, self.initializer_range, self.dtype))
        self.activation_drop = nn.Dropout(rate=self.activation_dropout)
        self.output_drop = nn.Dropout(rate=self.dropout)

    def __call__(self, x: Array, deterministic: bool = True) -> Array:
        def block(part):
            hidden = get_activation(self.activation)(getattr(self, self.names[0])(part))
            hidden = self.activation_drop(hidden, deterministic=deterministic)
            return self.output_drop(getattr(self, self.names[1])(hidden), deterministic=deterministic)

        return apply_chunked(block, self.chunk_size, x)


def apply_chunked(fn: Callable[[Array], Array], chunk_size: int, x: Array) -> Array:
    """``fn(x)`` computed on slices of ``chunk_size`` positions (axis 1) when ``chunk_size`` > 0.

    For position-wise blocks (feed-forward): the result is the same, the peak memory of the
    block's hidden layer is bounded. Shapes are static, so the slices are known under ``jit``.
    """
    length = x.shape[1]
    if chunk_size and length > chunk_size:
        return jnp.concatenate([fn(x[:, start:start + chunk_size]) for start in range(0, length, chunk_size)], axis=1)
    return fn(x)


# ---- the transformer layer ---------------------------------------------------------------
class TransformerLayer(nn.Module):
    """Self-attention and a feed-forward, each with a residual and a LayerNorm, post- or pre-norm.

    Post-norm (``norm_first=False``: DistilBERT, Wav2Vec2)::

        x = attention_norm(x + attention_output_dropout(attention(x)))
        x = output_norm(x + feed_forward(x))

    Pre-norm (``norm_first=True``)::

        x = x + attention_output_dropout(attention(attention_norm(x)))
        x = x + feed_forward(output_norm(x))

    ``dropout`` is the feed-forward's output dropout, ``activation_dropout`` the one after its
    activation, ``attention_dropout`` the one on the attention probabilities.
    """

    hidden_size: int
    num_heads: int
    intermediate_size: int
    activation: str
    pruned_heads: Iterable[int] = ()
    norm_first: bool = False
    dropout: float = 0.0
    attention_dropout: float = 0.0
    attention_output_dropout: float = 0.0
    activation_dropout: float = 0.0
    layer_norm_eps: float = 1e-12
    chunk_size: int = 0
    names: LayerNames = LayerNames()
    initializer_range: float = 0.02
    dtype: Any = jnp.float32

    def setup(self):
        names, std, dtype = self.names, self.initializer_range, self.dtype
        *qkv, output = names.projections
        setattr(self, names.attention, MultiHeadSelfAttention(
            self.hidden_size, self.num_heads, pruned_heads=self.pruned_heads, dropout=self.attention_dropout,
            names=tuple(qkv), output_name=output, initializer_range=std, dtype=dtype,
        ))
        self.attention_output_drop = nn.Dropout(rate=self.attention_output_dropout)
        setattr(self, names.attention_norm, layer_norm(self.layer_norm_eps, dtype))
        setattr(self, names.feed_forward, FeedForward(
            self.hidden_size, self.intermediate_size, self.activation, dropout=self.dropout,
            activation_dropout=self.activation_dropout, names=names.feed_forward_linears, chunk_size=self.chunk_size,
            initializer_range=std, dtype=dtype,
        ))
        setattr(self, names.output_norm, layer_norm(self.layer_norm_eps, dtype))

    def __call__(self, hidden_states, mask=None, head_mask=None, output_attentions=False, deterministic: bool = True):
        names = self.names
        attention_module, attention_norm = getattr(self, names.attention), getattr(self, names.attention_norm)
        feed_forward, output_norm = getattr(self, names.feed_forward), getattr(self, names.output_norm)
        if self.norm_first:
            attended, weights = attention_module(attention_norm(hidden_states), mask, head_mask, output_attentions,
                                                 deterministic=deterministic)
            hidden_states = self.attention_output_drop(attended, deterministic=deterministic) + hidden_states
            hidden_states = feed_forward(output_norm(hidden_states), deterministic=deterministic) + hidden_states
            return hidden_states, weights
        attended, weights = attention_module(hidden_states, mask, head_mask, output_attentions, deterministic=deterministic)
        hidden_states = attention_norm(self.attention_output_drop(attended, deterministic=deterministic) + hidden_states)
        hidden_states = output_norm(feed_forward(hidden_states, deterministic=deterministic) + hidden_states)
        return hidden_states, weights


# ---- embeddings ------------------------------------------------------------------------------
class Embeddings(nn.Module):
    """Word + token-type + position embeddings, then an optional LayerNorm, and dropout.

    ``type_vocab_size=0`` leaves out the token-type table (DistilBERT); with it, missing
    ``token_type_ids`` mean type 0 everywhere (BERT). ``sinusoidal_positions=True`` fills the
    position table with the fixed sin/cos table and reads it through ``stop_gradient``, so
    training leaves it as it is (DistilBERT's option). ``layer_norm=False`` leaves the
    LayerNorm out. Sums are taken in the order ``(word + type) + position``, as
    ``transformers`` does. The ``pad_token_id`` row of the word table starts at zero.
    """

    vocab_size: int
    hidden_size: int
    max_position_embeddings: int
    type_vocab_size: int = 0
    pad_token_id: int | None = None
    layer_norm_eps: float = 1e-12
    layer_norm: bool = True
    dropout: float = 0.0
    sinusoidal_positions: bool = False
    initializer_range: float = 0.02
    dtype: Any = jnp.float32

    def setup(self):
        def table(rows, init):
            return nn.Embed(rows, self.hidden_size, dtype=self.dtype, param_dtype=self.dtype, embedding_init=init)

        std = self.initializer_range
        self.word_embeddings = table(self.vocab_size, normal_init_with_zero_row(std, self.pad_token_id))
        self.position_embeddings = table(self.max_position_embeddings,
                                         sinusoidal_init() if self.sinusoidal_positions else normal_init(std))
        if self.type_vocab_size:
            self.token_type_embeddings = table(self.type_vocab_size, normal_init(std))
        if self.layer_norm:
            self.LayerNorm = layer_norm(self.layer_norm_eps, self.dtype)
        self.embedding_drop = nn.Dropout(rate=self.dropout)

    @property
    def limits(self) -> inputs.TextLimits:
        """The sizes of the tables, which bound the ids this block can embed."""
        return inputs.TextLimits(vocab_size=self.vocab_size, max_positions=self.max_position_embeddings,
                                 hidden_size=self.hidden_size, type_vocab_size=self.type_vocab_size)

    def check_inputs(self, input_ids=None, token_type_ids=None, position_ids=None, inputs_embeds=None) -> None:
        """One clear error for inputs the tables cannot take (see :func:`polyformer.core.inputs.check_text_inputs`).

        Dtypes and shapes are static under ``jit``, so they are checked here; the id values, which
        JAX would clamp silently, are read by ``FlaxPreTrainedModel.__call__`` before ``jit``.
        """
        inputs.check_text_inputs(
            self.limits,
            input_ids=input_facts("input_ids", input_ids),
            token_type_ids=input_facts("token_type_ids", token_type_ids),
            position_ids=input_facts("position_ids", position_ids),
            inputs_embeds=input_facts("inputs_embeds", inputs_embeds, values=False),
        )

    def __call__(self, input_ids=None, token_type_ids=None, position_ids=None, inputs_embeds=None,
                 deterministic: bool = True) -> Array:
        """``(batch, seq)`` ids, or ``(batch, seq, hidden)`` embeddings -> ``(batch, seq, hidden)``."""
        self.check_inputs(input_ids, token_type_ids, position_ids, inputs_embeds)
        if input_ids is not None:
            embeddings = self.word_embeddings(input_ids)
        else:  # in the tables' dtype (float64 from numpy, say), as PyTorch casts it
            embeddings = jnp.asarray(inputs_embeds).astype(self.dtype)
        if self.type_vocab_size:
            if token_type_ids is None:  # type 0 everywhere: one row, broadcast (same numbers as a lookup)
                embeddings = embeddings + self.token_type_embeddings.embedding[0]
            else:
                embeddings = embeddings + self.token_type_embeddings(token_type_ids)
        positions = self.position_embeddings.embedding
        if self.sinusoidal_positions:
            positions = jax.lax.stop_gradient(positions)
        if position_ids is None:
            embeddings = embeddings + positions[None, : embeddings.shape[1]]
        else:
            embeddings = embeddings + jnp.take(positions, jnp.asarray(position_ids), axis=0)
        if self.layer_norm:
            embeddings = self.LayerNorm(embeddings)
        return self.embedding_drop(embeddings, deterministic=deterministic)


# ---- the encoder stack -------------------------------------------------------------------
class Encoder(nn.Module):
    """The stack of layers (``layer.0``, ``layer.1``...): the loop every encoder runs.

    ``layers`` are the architecture's layer modules, built where the encoder is built (in
    the base model's ``setup``); the encoder takes them over under the names ``<list_name>.N``.
    Takes the ``(batch, seq)`` 0/1 ``attention_mask`` as the user gives it (checked, then
    expanded once for every layer). Each layer is called as ``layer(hidden_states, mask,
    head_mask, output_attentions, deterministic=...)`` and returns ``(hidden_states,
    attention weights or None)``. This module collects the hidden states (the input first)
    and attentions when asked, and hands each layer its row of the head mask.

    ``list_name`` is what the checkpoints call the list of layers (``layer`` in BERT and
    DistilBERT, ``layers`` in Wav2Vec2). ``layerdrop`` > 0 skips each layer with that
    probability while training (``deterministic=False``; LayerDrop,
    https://arxiv.org/abs/1909.11556), drawing from the ``"dropout"`` rng. A skipped layer
    passes its input on, which is then also its entry in the hidden states, so they always
    number ``layers + 1``. The skip is decided inside the compiled program (``nn.cond``: a
    skipped layer costs nothing); when the attention weights are asked for, every layer runs
    and a skipped one's weights are zeros (PyTorch gives None, which a traced program cannot).
    """

    layers: Sequence[nn.Module]
    list_name: str = "layer"
    layerdrop: float = 0.0

    def __post_init__(self):
        object.__setattr__(self, "layers", tuple(self.layers))  # a generator would be used up by the first setup
        super().__post_init__()

    def setup(self):
        # Held under a private attribute: ``layers`` is the field holding the layers as given.
        self._stack = [layer.clone(parent=self, name=f"{self.list_name}.{index}")
                       for index, layer in enumerate(self.layers)]

    def stack(self) -> list[nn.Module]:
        """The list of layers, whatever ``list_name`` calls it."""
        return self._stack

    def __call__(self, hidden_states, attention_mask=None, head_mask=None, output_attentions=False,
                 output_hidden_states=False, deterministic: bool = True) -> BaseModelOutput:
        mask = expand_attention_mask(attention_mask, tuple(hidden_states.shape[:2]), hidden_states.dtype)
        if head_mask is not None:
            head_mask = jnp.asarray(head_mask).astype(hidden_states.dtype)
        all_hidden = (hidden_states,) if output_hidden_states else None
        all_attentions = () if output_attentions else None
        stack = self.stack()
        dropping = not deterministic and self.layerdrop > 0.0
        for layer, layer_head_mask in zip(stack, expand_head_mask(head_mask, len(stack))):
            if dropping:
                hidden_states, weights = self._run_or_skip(layer, hidden_states, mask, layer_head_mask,
                                                           output_attentions)
            else:
                hidden_states, weights = layer(hidden_states, mask, layer_head_mask, output_attentions,
                                               deterministic=deterministic)
            if output_hidden_states:
                all_hidden += (hidden_states,)
            if output_attentions:
                all_attentions += (weights,)
        return BaseModelOutput(last_hidden_state=hidden_states, hidden_states=all_hidden, attentions=all_attentions)

    def _run_or_skip(self, layer, hidden_states, mask, head_mask, output_attentions):
        """One training step of a layer under LayerDrop: skipped with probability ``layerdrop``."""
        skip = jax.random.uniform(self.make_rng("dropout")) < self.layerdrop
        if output_attentions:  # the weights' shape is the layer's business: run it, then drop what it gave
            output, weights = layer(hidden_states, mask, head_mask, True, deterministic=False)
            return jnp.where(skip, hidden_states, output), jnp.where(skip, jnp.zeros_like(weights), weights)

        def run(module, hidden, mask, head_mask):
            return module(hidden, mask, head_mask, False, deterministic=False)[0]

        def keep(module, hidden, mask, head_mask):
            return hidden

        return nn.cond(skip, keep, run, layer, hidden_states, mask, head_mask), None


class Pooler(nn.Module):
    """``activation(dense(first position))``: the sentence (or image) vector of BERT and ViT."""

    hidden_size: int
    output_size: int | None = None
    activation: str = "tanh"
    initializer_range: float = 0.02
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, hidden_states: Array) -> Array:
        output = dense(self.output_size or self.hidden_size, self.initializer_range, self.dtype, "dense")
        return get_activation(self.activation)(output(hidden_states[:, 0]))


class OutputProjection(nn.Module):
    """Linear layer onto the vocabulary whose weight is, when tied, the word embedding matrix.

    Tied, it owns only its ``bias`` (the weight is passed in at call time, so it is stored
    once); untied, it owns a ``kernel`` as well, like any Dense layer. A ``bias`` passed at
    call time is used instead of an own one (BERT's ``cls.predictions.bias``, which the
    tied ``cls.predictions.decoder.bias`` is); the projection then owns no bias.
    """

    features: int
    tied: bool = True
    initializer_range: float = 0.02
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: Array, embedding: Array | None = None, bias: Array | None = None) -> Array:
        if self.tied:
            kernel = jnp.asarray(embedding, self.dtype).T
        else:
            kernel = self.param("kernel", normal_init(self.initializer_range), (x.shape[-1], self.features), self.dtype)
        if bias is None:
            bias = self.param("bias", zeros_init(), (self.features,), self.dtype)
        return jnp.dot(x.astype(self.dtype), kernel) + bias


# ---- images ---------------------------------------------------------------------------------
class PatchEmbeddings(nn.Module):
    """``(batch, channels, height, width)`` images -> ``(batch, patches, hidden)``: a strided convolution.

    As the PyTorch block: ``projection`` (a convolution whose kernel and stride are the patch
    size) embeds each non-overlapping patch; patches are read row by row. ``image_size`` is the
    size the model was built for (its position table's grid, :attr:`grid`); other sizes are the
    caller's business (ViT interpolates its positions). The pixels are checked first
    (:func:`polyformer.core.inputs.check_pixel_values`) and cast to the weights' dtype.

    Images come channels first, as image processors make them and PyTorch takes them; they are
    turned channels last for Flax's convolution, whose ``(kh, kw, in, out)`` kernel is exported
    in PyTorch's ``(out, in, kh, kw)`` layout (:func:`to_canonical_layout`).
    """

    image_size: Any
    patch_size: Any
    num_channels: int
    hidden_size: int
    initializer_range: float = 0.02
    dtype: Any = jnp.float32

    def __post_init__(self):
        # (height, width) pairs, however given: the grid and the error messages read them so.
        object.__setattr__(self, "image_size", to_pair(self.image_size))
        object.__setattr__(self, "patch_size", to_pair(self.patch_size))
        super().__post_init__()

    @property
    def grid(self) -> tuple[int, int]:
        """The ``(rows, columns)`` of patches in an image of ``image_size``."""
        return patch_grid(self.image_size, self.patch_size)

    @property
    def num_patches(self) -> int:
        return self.grid[0] * self.grid[1]

    @nn.compact
    def __call__(self, pixel_values: Array) -> Array:
        inputs.check_pixel_values(input_facts("pixel_values", pixel_values, values=False), self.num_channels,
                                  self.patch_size)
        pixels = jnp.asarray(pixel_values).astype(self.dtype).transpose(0, 2, 3, 1)  # NCHW -> NHWC
        projection = nn.Conv(self.hidden_size, kernel_size=self.patch_size, strides=self.patch_size, padding="VALID",
                             kernel_init=normal_init(self.initializer_range), bias_init=zeros_init(), dtype=self.dtype,
                             param_dtype=self.dtype, name="projection")
        embedded = projection(pixels)  # (batch, rows, columns, hidden); pixels beyond the last whole patch are unread
        batch, rows, columns, hidden = embedded.shape
        return embedded.reshape(batch, rows * columns, hidden)


# ---- speech ---------------------------------------------------------------------------------
#: What a :class:`ConvLayer` may normalise with (None: nothing).
CONV_NORMS = (None, "group", "layer")


class ConvLayer(nn.Module):
    """``activation(norm(conv(x)))`` on ``(batch, time, channels)``: one layer of a convolutional feature encoder.

    As the PyTorch block: ``norm`` is None, ``"group"`` (a GroupNorm with one group per channel:
    each channel normalised over time, as wav2vec2-base's first layer) or ``"layer"`` (a
    LayerNorm over the channels of each frame). Submodules ``conv`` (its ``(kernel, in, out)``
    kernel exported as PyTorch's ``(out, in, kernel)``) and ``layer_norm``. The kernel starts
    as He's normal (std ``sqrt(2 / (in_channels * kernel_size))``), the bias at zero.
    """

    in_channels: int
    out_channels: int
    kernel_size: int
    stride: int
    bias: bool = False
    norm: str | None = None
    activation: str = "gelu"
    layer_norm_eps: float = 1e-5
    dtype: Any = jnp.float32

    def __post_init__(self):
        if self.norm not in CONV_NORMS:
            raise ValueError(f"ConvLayer norm must be one of {CONV_NORMS}, got {self.norm!r}")
        super().__post_init__()

    def output_lengths(self, lengths):
        return conv_output_length(lengths, [self.kernel_size], [self.stride])

    @nn.compact
    def __call__(self, hidden_states: Array) -> Array:
        """``(batch, time, in_channels)`` -> ``(batch, frames, out_channels)``."""
        he_std = (2 / (self.in_channels * self.kernel_size)) ** 0.5  # the spread that keeps GELU stacks' variance
        conv = nn.Conv(self.out_channels, kernel_size=(self.kernel_size,), strides=(self.stride,), padding="VALID",
                       use_bias=self.bias, kernel_init=normal_init(he_std), bias_init=zeros_init(), dtype=self.dtype,
                       param_dtype=self.dtype, name="conv")
        hidden_states = conv(hidden_states)
        if self.norm == "group":  # one group per channel: statistics over time, as torch.nn.GroupNorm(C, C)
            norm = nn.GroupNorm(num_groups=self.out_channels, epsilon=self.layer_norm_eps, dtype=self.dtype,
                                param_dtype=self.dtype, use_fast_variance=False, scale_init=ones_init(),
                                bias_init=zeros_init(), name="layer_norm")
            hidden_states = norm(hidden_states)
        elif self.norm == "layer":
            hidden_states = layer_norm(self.layer_norm_eps, self.dtype, "layer_norm")(hidden_states)
        return get_activation(self.activation)(hidden_states)


class ConvFeatureEncoder(nn.Module):
    """Raw waveforms ``(batch, samples)`` -> features ``(batch, frames, conv_dim[-1])``: a stack of :class:`ConvLayer`.

    As the PyTorch block: one layer per entry of ``conv_dim`` / ``conv_kernel`` / ``conv_stride``
    (``conv_layers.0``...); ``norm="group"`` puts a per-channel GroupNorm on the first layer only
    (wav2vec2-base), ``norm="layer"`` a LayerNorm on every layer (wav2vec2-large-lv60).
    :meth:`output_lengths` gives the frames of a waveform length, :attr:`receptive_field` the
    fewest samples that make a frame; :meth:`check_inputs` refuses shorter audio with an error
    naming that minimum. Frame counts follow from the input's static length, so they are known
    under ``jit``.
    """

    conv_dim: Sequence[int]
    conv_kernel: Sequence[int]
    conv_stride: Sequence[int]
    bias: bool = False
    norm: str = "group"
    activation: str = "gelu"
    dtype: Any = jnp.float32

    def __post_init__(self):
        for field in ("conv_dim", "conv_kernel", "conv_stride"):  # hashable, however given
            object.__setattr__(self, field, tuple(int(v) for v in getattr(self, field)))
        if self.norm not in ("group", "layer"):
            raise ValueError(f"ConvFeatureEncoder norm must be 'group' or 'layer', got {self.norm!r}")
        if not len(self.conv_dim) == len(self.conv_kernel) == len(self.conv_stride):
            raise ValueError("conv_dim, conv_kernel and conv_stride need one entry per layer")
        super().__post_init__()

    @property
    def receptive_field(self) -> int:
        """The fewest samples that make one frame (400 for wav2vec2-base: 25 ms at 16 kHz)."""
        return conv_receptive_field(self.conv_kernel, self.conv_stride)

    def output_lengths(self, lengths):
        """Frames for waveforms of ``lengths`` samples (an int, or an integer numpy or JAX array)."""
        return conv_output_length(lengths, self.conv_kernel, self.conv_stride)

    def check_inputs(self, input_values: Any, attention_mask: Any = None) -> None:
        """Waveforms ``(batch, samples)`` of floats, each at least :attr:`receptive_field` samples long.

        Dtypes and shapes are static under ``jit``; the mask's values are read only outside it
        (the model object checks them before ``jit``, with :meth:`check_facts`).
        """
        self.check_facts(input_facts("input_values", input_values, values=False),
                         input_facts("attention_mask", attention_mask))

    def check_facts(self, input_values: inputs.Facts | None, attention_mask: inputs.Facts | None = None) -> None:
        """:meth:`check_inputs` on what is known of the inputs (see :mod:`polyformer.core.inputs`)."""
        where = f"conv_kernel={list(self.conv_kernel)}, conv_stride={list(self.conv_stride)}"
        inputs.check_input_values(input_values, self.receptive_field, where)
        if attention_mask is not None:
            inputs.check_attention_mask(attention_mask, tuple(input_values.shape))
            inputs.check_audio_lengths(attention_mask, self.receptive_field, where)

    @nn.compact
    def __call__(self, input_values: Array) -> Array:
        hidden_states = jnp.asarray(input_values).astype(self.dtype)[..., None]
        channels = (1,) + self.conv_dim
        for index in range(len(self.conv_dim)):
            norm = ("group" if index == 0 else None) if self.norm == "group" else "layer"
            layer = ConvLayer(channels[index], channels[index + 1], self.conv_kernel[index], self.conv_stride[index],
                              bias=self.bias, norm=norm, activation=self.activation, dtype=self.dtype,
                              name=f"conv_layers.{index}")
            hidden_states = layer(hidden_states)
        return hidden_states


#: Where a weight-normalised convolution keeps its magnitude ``g`` and direction ``v``, as PyTorch names them.
WEIGHT_NORM_MAGNITUDE = "parametrizations.weight.original0"
WEIGHT_NORM_DIRECTION = "parametrizations.weight.original1"


class PositionalConvEmbedding(nn.Module):
    """Relative positions for speech frames: ``activation(conv(x))`` over time, ``(batch, time, hidden)`` in and out.

    As the PyTorch block: ``conv`` is a grouped convolution (``groups`` groups, ``kernel_size``
    wide, padded to keep the length) whose weight is normalised per kernel position,
    ``weight = g * v / ||v||``, the norm over the other two axes. ``g`` ``(1, 1, kernel_size)`` and
    ``v`` ``(hidden, hidden / groups, kernel_size)`` are the parameters, in PyTorch's layout and
    under PyTorch's names (``conv.parametrizations.weight.original0`` / ``original1``); the weight
    is computed from them at each call, so training updates ``g`` and ``v`` as PyTorch does. An
    even kernel gives one frame too many, which is dropped from the end. ``v`` starts as
    N(0, ``2 / sqrt(kernel_size * hidden_size)``) and ``g`` as its norm (the weight then equals ``v``).
    """

    hidden_size: int
    kernel_size: int
    groups: int
    activation: str = "gelu"
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, hidden_states: Array) -> Array:
        kernel, groups = self.kernel_size, self.groups
        conv = _WeightNormConv(self.hidden_size, kernel, groups, self.dtype, name="conv")
        output = conv(hidden_states)
        if kernel % 2 == 0:
            output = output[:, :-1]
        return get_activation(self.activation)(output)


class _WeightNormConv(nn.Module):
    """A same-length grouped convolution over ``(batch, time, channels)`` with a weight-normalised weight."""

    channels: int
    kernel_size: int
    groups: int
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, hidden_states: Array) -> Array:
        shape = (self.channels, self.channels // self.groups, self.kernel_size)  # PyTorch's (out, in / groups, kernel)
        spread = 2 * (1 / (self.kernel_size * self.channels)) ** 0.5  # fairseq's: keeps the variance
        direction = self.param(WEIGHT_NORM_DIRECTION, normal_init(spread), shape, self.dtype)
        magnitude = self.param(WEIGHT_NORM_MAGNITUDE, norm_init(WEIGHT_NORM_DIRECTION, direction, (0, 1)),
                               (1, 1, self.kernel_size), self.dtype)
        bias = self.param("bias", zeros_init(), (self.channels,), self.dtype)
        norm = jnp.sqrt(jnp.sum(jnp.square(direction), axis=(0, 1), keepdims=True))
        weight = direction * (magnitude / norm)
        padding = self.kernel_size // 2
        output = jax.lax.conv_general_dilated(
            jnp.asarray(hidden_states, self.dtype), weight, window_strides=(1,), padding=[(padding, padding)],
            dimension_numbers=("NWC", "OIW", "NWC"), feature_group_count=self.groups,
        )
        return output + bias


class TDNNLayer(nn.Module):
    """A time-delay layer: a dilated 1-D convolution over ``(batch, time, in_dim)``, then ``activation``.

    As the PyTorch block: the convolution's weight is a linear, ``kernel`` (exported as
    ``(out_dim, kernel_size * in_dim)``, as x-vector checkpoints hold it), applied to each
    frame's ``kernel_size`` taps (``dilation`` apart) laid side by side. ``time`` shrinks by
    ``dilation * (kernel_size - 1)`` (:meth:`output_lengths`).
    """

    in_dim: int
    out_dim: int
    kernel_size: int
    dilation: int = 1
    activation: str = "relu"
    initializer_range: float = 0.02
    dtype: Any = jnp.float32

    def output_lengths(self, lengths):
        return lengths - self.dilation * (self.kernel_size - 1)

    @nn.compact
    def __call__(self, hidden_states: Array) -> Array:
        frames = self.output_lengths(hidden_states.shape[1])
        taps = [hidden_states[:, tap * self.dilation: tap * self.dilation + frames] for tap in range(self.kernel_size)]
        windows = jnp.concatenate(taps, axis=-1)  # (batch, frames, kernel_size * in_dim), tap-major as the weight
        kernel = dense(self.out_dim, self.initializer_range, self.dtype, "kernel")
        return get_activation(self.activation)(kernel(windows))


# ---- multiple choice --------------------------------------------------------------------------
def check_choice_inputs(main_input_name: str, model_inputs: dict) -> None:
    """Multiple-choice inputs are ``(batch, num_choices, ...)``: a clear error otherwise."""
    others = [input_facts(name, value, values=False) for name, value in model_inputs.items()
              if name not in (main_input_name, "inputs_embeds", "position_ids", "head_mask")
              and hasattr(value, "shape")]
    inputs.check_choice_inputs(
        input_facts(main_input_name, model_inputs.get(main_input_name), values=False),
        input_facts("inputs_embeds", model_inputs.get("inputs_embeds"), values=False),
        *others,
    )


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
