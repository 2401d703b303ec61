"""Building blocks for Flax (``flax.linen``) models that must match their PyTorch twins.

Architecture plugins assemble their Flax modules from these pieces. Each one computes
exactly what the ``transformers`` PyTorch layer of the same role computes (same
formulas, same epsilon, same masking constant), so that a checkpoint gives the same
outputs in both frameworks to within float32 rounding.

* basic layers: :func:`dense`, :func:`layer_norm`, :class:`OutputProjection`, activations;
* initialisers (:class:`Initializer`) that also draw with numpy, so a fresh model is
  initialised without compiling anything (see :func:`recording_initializers`);
* blocks many encoders share: :class:`Embeddings` (word + token type + position,
  LayerNorm, dropout), :class:`MultiHeadSelfAttention` (its projections named by the
  caller: DistilBERT's ``q_lin``... ``out_lin``, BERT's ``query`` / ``key`` / ``value``),
  :class:`DenseResidualNorm` (BERT-family ``dense`` + dropout + ``LayerNorm`` of the sum
  with the residual), :class:`EncoderStack` (``layer.N``, collecting hidden states and
  attentions), :func:`flatten_choices` for multiple-choice heads;
* losses with PyTorch semantics, and the canonical name rule below;
* :func:`input_facts`: what :mod:`polyformer.core.inputs` needs to judge an input (its values
  only outside ``jax.jit``: :class:`~polyformer.backends.flax.modeling.FlaxPreTrainedModel`
  reads them before its jitted call).

An architecture's ``modeling_flax.py`` composes these and writes only what is its own
(the arrangement of its blocks and heads, and their names).

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
from typing import Any, Callable, Iterator

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from ...core import inputs
from ...core.configuration import ACTIVATIONS
from ...core.outputs import BaseModelOutput

__all__ = [
    "get_activation",
    "Initializer",
    "recording_initializers",
    "normal_init",
    "normal_init_with_zero_row",
    "zeros_init",
    "ones_init",
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
    "DenseResidualNorm",
    "Embeddings",
    "EncoderStack",
    "OutputProjection",
    "flatten_choices",
    "check_choice_inputs",
    "input_facts",
    "output_flags",
    "format_output",
    "cross_entropy",
    "mse_loss",
    "bce_with_logits",
    "masked_lm_loss",
    "token_classification_loss",
    "multiple_choice_loss",
    "infer_problem_type",
    "sequence_classification_loss",
    "question_answering_loss",
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
    nothing. Every initialiser of this module is one; a layer built with a plain JAX
    initialiser still works, and is initialised through JAX.
    """

    def __init__(self, jax_fn: Callable, numpy_fn: Callable, description: str):
        self._jax_fn = jax_fn
        self._numpy_fn = numpy_fn
        self.description = description

    def __call__(self, key, shape, dtype=jnp.float32):
        value = self._jax_fn(key, tuple(shape), dtype)
        record = _RECORDING.get()
        if record is not None:  # keep the value alive so that its id stays unique
            record[id(value)] = (self, value)
        return value

    def numpy(self, rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
        """Draw a float32 array of ``shape`` with the numpy generator ``rng``."""
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


def zeros_init() -> Initializer:
    """Zeros: biases, LayerNorm shifts."""
    return Initializer(lambda key, shape, dtype: jnp.zeros(shape, dtype), lambda rng, shape: np.zeros(shape), "zeros")


def ones_init() -> Initializer:
    """Ones: LayerNorm scales."""
    return Initializer(lambda key, shape, dtype: jnp.ones(shape, dtype), lambda rng, shape: np.ones(shape), "ones")


def sinusoidal_table(n_pos: int, dim: int) -> np.ndarray:
    """The fixed sin/cos position table: even columns sin, odd columns cos (float32)."""
    positions = np.arange(n_pos, dtype=np.float64)[:, None]
    exponents = 2 * (np.arange(dim) // 2) / dim
    angles = positions / np.power(10000, exponents)[None, :]
    table = np.empty((n_pos, dim), dtype=np.float64)
    table[:, 0::2] = np.sin(angles[:, 0::2])
    table[:, 1::2] = np.cos(angles[:, 1::2])
    return table.astype(np.float32)


def sinusoidal_init() -> Initializer:
    """Initialiser filling a position embedding with :func:`sinusoidal_table`."""
    return Initializer(
        lambda key, shape, dtype: jnp.asarray(sinusoidal_table(shape[0], shape[1]), dtype=dtype),
        lambda rng, shape: sinusoidal_table(shape[0], shape[1]),
        "sinusoidal",
    )


# ---- basic layers ---------------------------------------------------------------------

def dense(features: int, std: float, dtype: Any = jnp.float32, name: str | None = None) -> nn.Dense:
    """A Linear layer: kernel Normal(0, std), bias zeros, params and compute in ``dtype``."""
    return nn.Dense(
        features,
        kernel_init=normal_init(std),
        bias_init=zeros_init(),
        dtype=dtype,
        param_dtype=dtype,
        name=name,
    )


def layer_norm(eps: float = LAYER_NORM_EPS, dtype: Any = jnp.float32, name: str | None = None) -> nn.LayerNorm:
    """LayerNorm as PyTorch computes it (two-pass variance, not Flax's fast E[x²]-E[x]²)."""
    return nn.LayerNorm(epsilon=eps, dtype=dtype, param_dtype=dtype, use_fast_variance=False,
                        scale_init=ones_init(), bias_init=zeros_init(), name=name)


# ---- attention ------------------------------------------------------------------------

def attention_bias(attention_mask: Array | None, dtype: Any, input_shape: tuple[int, ...] | None = None) -> Array | None:
    """(batch, key_len) mask of 1 (attend) / 0 (padding) -> additive bias (batch, 1, 1, key_len).

    Masked positions get the dtype's most negative value, as transformers' eager attention.
    The mask is checked first: against ``input_shape`` (the ``(batch, seq)`` of the inputs, when
    given) and, outside ``jax.jit``, for values other than 0 and 1.
    """
    if attention_mask is None:
        return None
    if input_shape is not None:
        inputs.check_attention_mask(input_facts("attention_mask", attention_mask), tuple(input_shape))
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
    those actually used, i.e. after dropout, as in transformers' eager attention. A query
    whose keys are all masked gets zero weights (a zero context).
    """
    scaling = query.shape[-1] ** -0.5
    scores = jnp.einsum("bhqd,bhkd->bhqk", query, key) * scaling
    if bias is not None:
        scores = scores + bias
    weights = jax.nn.softmax(scores, axis=-1)
    if bias is not None:
        # A query whose every key is masked (a fully padded sequence) attends to nothing, as in
        # PyTorch's fused attention: zero weights and context, not the softmax's uniform average.
        weights = jnp.where(jnp.max(bias, axis=-1, keepdims=True) >= 0, weights, 0.0)
    if dropout is not None:
        weights = dropout(weights)
    output = jnp.einsum("bhqk,bhkd->bhqd", weights, value)
    return output, weights


class MultiHeadSelfAttention(nn.Module):
    """Multi-head self-attention whose projection names follow the architecture's checkpoints.

    ``names`` are the query, key and value Linear layers' names, ``out_name`` the output
    Linear's (DistilBERT: ``q_lin``, ``k_lin``, ``v_lin``, ``out_lin``). With
    ``out_name=None`` there is no output Linear: the caller owns it (BERT keeps it in a
    separate ``attention.output.dense``, see :class:`DenseResidualNorm`).
    """

    dim: int
    n_heads: int
    dropout_rate: float = 0.0
    initializer_range: float = 0.02
    dtype: Any = jnp.float32
    names: tuple[str, str, str] = ("query", "key", "value")
    out_name: str | None = None

    @nn.compact
    def __call__(self, hidden_states: Array, bias: Array | None = None, deterministic: bool = True):
        """Returns (output (batch, seq, dim), attention weights (batch, heads, seq, seq))."""
        query, key, value = (
            split_heads(dense(self.dim, self.initializer_range, self.dtype, name)(hidden_states), self.n_heads)
            for name in self.names
        )
        drop = nn.Dropout(rate=self.dropout_rate)
        context, weights = dot_product_attention(
            query, key, value, bias, dropout=lambda w: drop(w, deterministic=deterministic)
        )
        output = merge_heads(context)
        if self.out_name is not None:
            output = dense(self.dim, self.initializer_range, self.dtype, self.out_name)(output)
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


class DenseResidualNorm(nn.Module):
    """``LayerNorm(dropout(dense(x)) + residual)``: the post-norm output of a BERT-family sub-layer.

    Submodules ``dense`` and ``LayerNorm``, as transformers' ``BertSelfOutput`` and
    ``BertOutput`` (and RoBERTa's, ELECTRA's...) name them.
    """

    features: int
    layer_norm_eps: float = LAYER_NORM_EPS
    dropout_rate: float = 0.0
    initializer_range: float = 0.02
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, hidden_states: Array, residual: Array, deterministic: bool = True) -> Array:
        x = dense(self.features, self.initializer_range, self.dtype, "dense")(hidden_states)
        x = nn.Dropout(rate=self.dropout_rate)(x, deterministic=deterministic)
        return layer_norm(self.layer_norm_eps, self.dtype, "LayerNorm")(x + residual)


class Embeddings(nn.Module):
    """Word + token type + position embeddings, then LayerNorm and dropout: a BERT-like input layer.

    Submodules ``word_embeddings`` (its ``pad_token_id`` row initialised to zero),
    ``token_type_embeddings`` (only when ``type_vocab_size > 0``; DistilBERT has none),
    ``position_embeddings`` (``position_init``, by default Normal(0, initializer_range)) and
    ``LayerNorm``: the names of BERT's and DistilBERT's PyTorch modules. Missing
    ``token_type_ids`` are zeros and missing ``position_ids`` count from 0, as in
    transformers; the sum is taken in its order (words, token types, positions).
    """

    vocab_size: int
    dim: int
    max_position_embeddings: int
    type_vocab_size: int = 0
    pad_token_id: int | None = None
    layer_norm_eps: float = LAYER_NORM_EPS
    dropout_rate: float = 0.0
    initializer_range: float = 0.02
    position_init: Callable | None = None
    dtype: Any = jnp.float32

    def setup(self):
        def embed(n, init):
            return nn.Embed(n, self.dim, dtype=self.dtype, param_dtype=self.dtype, embedding_init=init)

        std = self.initializer_range
        self.word_embeddings = embed(self.vocab_size, normal_init_with_zero_row(std, self.pad_token_id))
        if self.type_vocab_size > 0:
            self.token_type_embeddings = embed(self.type_vocab_size, normal_init(std))
        self.position_embeddings = embed(self.max_position_embeddings, self.position_init or normal_init(std))
        self.LayerNorm = layer_norm(self.layer_norm_eps, self.dtype)
        self.dropout = nn.Dropout(rate=self.dropout_rate)

    def __call__(self, input_ids=None, token_type_ids=None, position_ids=None, inputs_embeds=None,
                 deterministic: bool = True) -> Array:
        # Dtypes and shapes are static under jit, so they are checked here; the id values, which
        # JAX would silently clamp, are checked by FlaxPreTrainedModel.__call__ before jit.
        self.check_inputs(input_ids, token_type_ids, position_ids, inputs_embeds)
        if inputs_embeds is None:
            inputs_embeds = self.word_embeddings(input_ids)
        embeddings = inputs_embeds
        if self.type_vocab_size > 0:
            if token_type_ids is None:
                token_type_ids = jnp.zeros(inputs_embeds.shape[:-1], dtype=jnp.int32)
            embeddings = embeddings + self.token_type_embeddings(token_type_ids)
        if position_ids is None:
            position_ids = jnp.arange(inputs_embeds.shape[1])[None, :]
        embeddings = embeddings + self.position_embeddings(position_ids)
        return self.dropout(self.LayerNorm(embeddings), deterministic=deterministic)

    def word_embedding_matrix(self) -> Array:
        """The (vocab, dim) word embeddings, which a tied output projection reuses."""
        return self.word_embeddings.embedding

    @property
    def limits(self) -> inputs.TextLimits:
        """The sizes of the tables, which bound the ids this block can embed."""
        return inputs.TextLimits(vocab_size=self.vocab_size, max_positions=self.max_position_embeddings,
                                 hidden_size=self.dim, type_vocab_size=self.type_vocab_size)

    def check_inputs(self, input_ids=None, token_type_ids=None, position_ids=None, inputs_embeds=None) -> None:
        """One clear error for inputs the tables cannot take (see :func:`polyformer.core.inputs.check_text_inputs`)."""
        inputs.check_text_inputs(
            self.limits,
            input_ids=input_facts("input_ids", input_ids),
            token_type_ids=input_facts("token_type_ids", token_type_ids),
            position_ids=input_facts("position_ids", position_ids),
            inputs_embeds=input_facts("inputs_embeds", inputs_embeds, values=False),
        )


class EncoderStack(nn.Module):
    """``n_layers`` blocks applied in turn, named ``layer.0``, ``layer.1``... (a PyTorch ``ModuleList`` ``layer``).

    ``block`` is the architecture's layer class, built as ``block(config, dtype=..., name=...)``
    and called as ``block(hidden_states, bias, deterministic=...)``, returning
    ``(hidden_states, attention weights)``. Returns a :class:`BaseModelOutput` with, when
    asked, every hidden state (the input first, as transformers does) and every block's
    attention weights.
    """

    block: Callable[..., nn.Module]
    config: Any
    n_layers: int
    dtype: Any = jnp.float32

    def setup(self):
        self.layers = [self.block(self.config, dtype=self.dtype, name=f"layer.{i}") for i in range(self.n_layers)]

    def __call__(self, hidden_states, bias=None, deterministic: bool = True, output_hidden_states: bool = False,
                 output_attentions: bool = False):
        all_hidden_states = (hidden_states,) if output_hidden_states else None
        all_attentions = () if output_attentions else None
        for block in self.layers:
            hidden_states, weights = block(hidden_states, bias, deterministic=deterministic)
            if output_hidden_states:
                all_hidden_states += (hidden_states,)
            if output_attentions:
                all_attentions += (weights,)
        return BaseModelOutput(last_hidden_state=hidden_states, hidden_states=all_hidden_states,
                               attentions=all_attentions)


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


def check_choice_inputs(input_ids=None, inputs_embeds=None, attention_mask=None, token_type_ids=None) -> None:
    """Multiple-choice inputs are ``(batch, num_choices, sequence)``: a clear error otherwise."""
    inputs.check_choice_inputs(
        input_facts("input_ids", input_ids, values=False), input_facts("inputs_embeds", inputs_embeds, values=False),
        input_facts("attention_mask", attention_mask, values=False),
        input_facts("token_type_ids", token_type_ids, values=False),
    )


def flatten_choices(x: Array | None, inner_rank: int = 1) -> Array | None:
    """``(batch, num_choices, *inner)`` -> ``(batch * num_choices, *inner)``, None left as None.

    A multiple-choice head encodes every choice as its own sequence. ``inner_rank`` is 1 for
    ids and masks ``(..., seq)`` and 2 for ``inputs_embeds`` ``(..., seq, dim)``; as in
    transformers' ``view(-1, size(-1))``, shared ``position_ids`` of shape ``(1, seq)`` stay as they are.
    """
    if x is None:
        return None
    return x.reshape(-1, *x.shape[x.ndim - inner_rank:])


def output_flags(config: Any, output_attentions: bool | None, output_hidden_states: bool | None) -> tuple[bool, bool]:
    """``(output_attentions, output_hidden_states)``: the call's, or the config's where the call gave None."""
    if output_attentions is None:
        output_attentions = config.output_attentions
    if output_hidden_states is None:
        output_hidden_states = config.output_hidden_states
    return bool(output_attentions), bool(output_hidden_states)


def format_output(output: Any, return_dict: bool) -> Any:
    """``output`` (a ModelOutput), or its tuple when ``return_dict`` is False."""
    return output if return_dict else output.to_tuple()


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


def masked_lm_loss(logits: Array, labels: Array) -> Array:
    """Cross-entropy over the vocabulary at the masked positions (the others are labelled -100)."""
    inputs.check_class_labels(input_facts("labels", labels), tuple(logits.shape), what="vocabulary tokens")
    return cross_entropy(logits, labels)


def token_classification_loss(logits: Array, labels: Array) -> Array:
    """Cross-entropy over every token; labels of -100 are ignored."""
    inputs.check_class_labels(input_facts("labels", labels), tuple(logits.shape))
    return cross_entropy(logits, labels)


def multiple_choice_loss(logits: Array, labels: Array) -> Array:
    """Cross-entropy over the choices: ``logits`` is ``(batch, num_choices)``."""
    inputs.check_class_labels(input_facts("labels", labels), tuple(logits.shape), what="choices")
    return cross_entropy(logits, labels)


def infer_problem_type(problem_type: str | None, num_labels: int, labels: Array) -> str:
    """transformers' rule: regression for one label, integer labels -> single-label, else multi-label.

    Decided per call from the labels' dtype (known when tracing), without changing the config.
    """
    if problem_type is not None:
        return problem_type
    if num_labels == 1:
        return "regression"
    if str(labels.dtype) in inputs.INDEX_DTYPES:  # as transformers: int32 / int64 class ids
        return "single_label_classification"
    return "multi_label_classification"


def sequence_classification_loss(logits: Array, labels: Array, num_labels: int, problem_type: str | None) -> Array:
    """The loss of a sequence classification head, as transformers' PyTorch heads compute it."""
    problem_type = infer_problem_type(problem_type, num_labels, labels)
    facts, shape = input_facts("labels", labels), tuple(logits.shape)
    if problem_type == "regression":
        inputs.check_regression_targets(facts, shape)
        if num_labels == 1:
            return mse_loss(jnp.squeeze(logits), jnp.squeeze(labels))
        return mse_loss(logits, labels)
    if problem_type == "single_label_classification":
        inputs.check_class_labels(facts, shape)
        return cross_entropy(logits.reshape(-1, num_labels), labels.reshape(-1))
    inputs.check_multi_label_targets(facts, shape)
    return bce_with_logits(logits, labels)


def question_answering_loss(start_logits: Array, end_logits: Array, start_positions: Array, end_positions: Array) -> Array:
    """Mean of the start and end cross-entropies; positions past the sequence are ignored, as in PyTorch.

    transformers clamps positions to ``seq_len`` and uses ``seq_len`` as the ignored index.
    """
    batch, ignored_index = start_logits.shape
    inputs.check_span_positions(input_facts("start_positions", start_positions, values=False), batch)
    inputs.check_span_positions(input_facts("end_positions", end_positions, values=False), batch)
    start = jnp.clip(start_positions.reshape(start_positions.shape[0], -1)[:, 0], 0, ignored_index)
    end = jnp.clip(end_positions.reshape(end_positions.shape[0], -1)[:, 0], 0, ignored_index)
    return (cross_entropy(start_logits, start, ignored_index) + cross_entropy(end_logits, end, ignored_index)) / 2


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
