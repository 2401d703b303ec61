"""Building blocks for Keras models whose weights use canonical (PyTorch) names.

Every architecture plugin written for the Keras backend composes these pieces:

* :class:`Linear`, :class:`LayerNorm`, :class:`Embedding`, :class:`OutputProjection` and
  :class:`Parameter` create their weights in ``__init__`` (so a model has its weights as
  soon as it is built from a config, with no dummy call) and say how each weight maps
  to the canonical checkpoint layout (:meth:`canonical_weights`);
* :func:`named_canonical_weights` walks a model like ``torch.nn.Module.named_parameters``
  does: the canonical name of a weight is the path of attribute names that leads to it
  (``transformer.layer.0.attention.q_lin.weight``). A model therefore gets the
  PyTorch names simply by naming its attributes as the PyTorch model does (a name
  Keras reserves, such as ``output``, is held with a trailing underscore: ``output_``);
* :func:`get_activation`, :func:`attention`, :func:`additive_attention_mask`, the
  losses and :func:`sinusoidal_positions` compute exactly what ``transformers``'
  PyTorch code computes, so outputs agree to float32 rounding;
* blocks that many encoders share: :class:`Embeddings` (word + token type + position,
  LayerNorm, dropout), :class:`SelfAttention` (its projections named by the caller:
  DistilBERT's ``q_lin``... ``out_lin``, BERT's ``query`` / ``key`` / ``value``),
  :class:`DenseResidualNorm` (BERT-family ``dense`` + dropout + ``LayerNorm`` of the sum
  with the residual), :class:`EncoderStack` (``layer.N``, collecting hidden states and
  attentions) and :func:`flatten_choices` for multiple-choice heads;
* :func:`input_facts`: what :mod:`polyformer.core.inputs` needs to judge an input (its
  values only when running eagerly: never inside ``tf.function``).

An architecture's ``modeling_keras.py`` composes these and writes only what is its own
(the arrangement of its blocks and heads, and their attribute names).

Keras 3 runs here on TensorFlow: ``KERAS_BACKEND`` is set to ``tensorflow`` before
Keras is first imported (unless the user chose one), and a Keras already running on
another backend is reported, since the models use TensorFlow ops.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Iterator

import numpy as np

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

from ...core import inputs  # noqa: E402

if keras.backend.backend() != "tensorflow":
    raise ImportError(
        f"polyformer's Keras backend needs Keras on TensorFlow, but Keras runs on '{keras.backend.backend()}'. "
        f"Set KERAS_BACKEND=tensorflow before importing keras (or use framework='flax' / 'torch')."
    )

__all__ = [
    "CanonicalWeight",
    "Linear",
    "LayerNorm",
    "Embedding",
    "OutputProjection",
    "Parameter",
    "Embeddings",
    "SelfAttention",
    "DenseResidualNorm",
    "EncoderStack",
    "flatten_choices",
    "check_choice_inputs",
    "input_facts",
    "named_canonical_weights",
    "iter_layers",
    "normal_initializer",
    "constant_initializer",
    "sinusoidal_positions",
    "get_activation",
    "additive_attention_mask",
    "attention",
    "cross_entropy",
    "mse",
    "bce_with_logits",
    "masked_lm_loss",
    "token_classification_loss",
    "multiple_choice_loss",
    "sequence_classification_loss",
    "question_answering_loss",
]

Initializer = Callable[..., Any]  # (shape, dtype=None) -> array


# ---- inputs -----------------------------------------------------------------------
def input_facts(name: str, x: Any, values: bool = True) -> inputs.Facts | None:
    """The dtype, shape and (when running eagerly) values of an input, for :mod:`polyformer.core.inputs`.

    Inside ``tf.function`` (``fit``, ``predict``) tensors are symbolic: sizes may be unknown
    (None) and values are not read.
    """
    if x is None:
        return None
    if isinstance(x, (list, tuple, int, float, bool)):  # Python values: as numpy would hold them
        x = inputs.as_array(name, x)
    dtype = getattr(x.dtype, "name", x.dtype)  # tf.DType or numpy dtype -> "int64"; KerasTensor: already a name
    shape = getattr(x, "shape", None)
    shape = None if shape is None or getattr(shape, "rank", len(shape)) is None else tuple(shape)
    array = None
    if values and (isinstance(x, np.ndarray) or (isinstance(x, tf.Tensor) and tf.executing_eagerly())):
        array = np.asarray(x)
    return inputs.Facts(name, str(dtype), shape, array)


# ---- canonical weights ----------------------------------------------------------
@dataclass
class CanonicalWeight:
    """One Keras variable seen as a checkpoint tensor.

    ``transpose`` is True for a Keras kernel ``(in, out)`` stored in the checkpoint as a
    PyTorch Linear weight ``(out, in)``; everything else has the same layout in both.
    ``initializer`` re-creates the variable's initial value, for weights a checkpoint lacks.
    """

    variable: keras.Variable
    initializer: Initializer
    transpose: bool = False

    @property
    def shape(self) -> tuple[int, ...]:
        """The shape in the checkpoint (canonical layout)."""
        shape = tuple(int(d) for d in self.variable.shape)
        return shape[::-1] if self.transpose else shape

    def assign(self, array: Any) -> None:
        """Set the variable from a canonical-layout array (numpy), casting to the variable's dtype."""
        array = np.asarray(array)
        if tuple(array.shape) != self.shape:
            raise ValueError(f"expected shape {self.shape}, got {tuple(array.shape)}")
        if self.transpose:
            array = array.T
        self.variable.assign(tf.cast(tf.convert_to_tensor(array), self.variable.dtype))

    def numpy(self) -> np.ndarray:
        """The value in canonical layout, as a contiguous numpy array."""
        value = keras.ops.convert_to_numpy(self.variable)
        return np.ascontiguousarray(value.T if self.transpose else value)

    def initialize(self) -> None:
        """Give the variable a fresh initial value."""
        self.variable.assign(tf.cast(self.initializer(tuple(self.variable.shape)), self.variable.dtype))


def normal_initializer(std: float, zero_row: int | None = None) -> Initializer:
    """N(0, std) values, as ``transformers``' ``_init_weights``; ``zero_row`` (an embedding's
    padding index) is set to zero, as ``nn.Embedding(padding_idx=...)`` does.

    Drawn with numpy's global generator, so ``keras.utils.set_random_seed`` makes it repeatable.
    """

    def initialize(shape, dtype=None):
        values = np.random.normal(0.0, std, size=shape).astype(np.float32)
        if zero_row is not None:
            values[zero_row] = 0.0
        return tf.cast(values, dtype or "float32")

    return initialize


def constant_initializer(value: float | np.ndarray) -> Initializer:
    """A fixed value (zeros, ones, or a precomputed table such as sinusoidal positions)."""

    def initialize(shape, dtype=None):
        return tf.cast(np.broadcast_to(np.asarray(value, dtype=np.float32), shape), dtype or "float32")

    return initialize


def _children(layer: keras.layers.Layer) -> Iterator[tuple[str, keras.layers.Layer]]:
    """Public attributes holding layers (or lists of layers), in definition order, like torch's named_children.

    One trailing underscore is dropped from the name (PEP 8's way around a clash): Keras
    reserves ``output`` and ``input`` on every layer, so BERT's ``output`` module is held as
    ``output_`` and still named ``output`` in checkpoints.
    """
    for name, value in vars(layer).items():
        if name.startswith("_"):
            continue
        if name.endswith("_"):
            name = name[:-1]
        if isinstance(value, keras.layers.Layer):
            yield name, value
        elif isinstance(value, (list, tuple)) and value and all(isinstance(v, keras.layers.Layer) for v in value):
            for index, item in enumerate(value):
                yield f"{name}.{index}", item


def named_canonical_weights(layer: keras.layers.Layer, prefix: str = "") -> dict[str, CanonicalWeight]:
    """Canonical name -> :class:`CanonicalWeight` for every weight under ``layer``.

    A layer with a ``canonical_weights()`` method is a leaf and names its own weights (the
    empty name ``""`` is the leaf itself: see :class:`Parameter`); any other layer
    contributes the attribute names leading to its leaves (``output_`` counts as ``output``).
    """
    if hasattr(layer, "canonical_weights"):
        return {f"{prefix}{name}" if name else prefix[:-1]: weight for name, weight in layer.canonical_weights().items()}
    weights: dict[str, CanonicalWeight] = {}
    for name, child in _children(layer):
        weights.update(named_canonical_weights(child, f"{prefix}{name}."))
    return weights


def iter_layers(layer: keras.layers.Layer) -> Iterator[keras.layers.Layer]:
    """``layer`` and every layer under it (through the same attributes as the canonical names)."""
    yield layer
    if hasattr(layer, "canonical_weights"):
        return
    for _, child in _children(layer):
        yield from iter_layers(child)


# ---- layers with canonical weights ---------------------------------------------------
class Linear(keras.layers.Layer):
    """``y = x @ kernel + bias``: a PyTorch ``nn.Linear`` stored the Keras way.

    The kernel is ``(in_features, out_features)`` like ``keras.layers.Dense``; its
    canonical name is ``weight`` in PyTorch's ``(out, in)`` layout, hence ``transpose``.
    Sizes are explicit (as in PyTorch) so the weights exist before any call.
    """

    def __init__(self, in_features: int, out_features: int, *, initializer_range: float = 0.02, use_bias: bool = True, **kwargs):
        super().__init__(**kwargs)
        self.in_features, self.out_features = in_features, out_features
        self._kernel_init = normal_initializer(initializer_range)
        self.kernel = self.add_weight(shape=(in_features, out_features), initializer=self._kernel_init, name="kernel")
        self.bias = self.add_weight(shape=(out_features,), initializer="zeros", name="bias") if use_bias else None
        self.built = True

    def call(self, x):
        y = tf.matmul(x, self.kernel)
        return y + self.bias if self.bias is not None else y

    def canonical_weights(self) -> dict[str, CanonicalWeight]:
        weights = {"weight": CanonicalWeight(self.kernel, self._kernel_init, transpose=True)}
        if self.bias is not None:
            weights["bias"] = CanonicalWeight(self.bias, constant_initializer(0.0))
        return weights


class LayerNorm(keras.layers.Layer):
    """PyTorch's ``nn.LayerNorm`` over the last axis: biased variance, ``eps`` inside the square root."""

    def __init__(self, dim: int, *, eps: float = 1e-12, **kwargs):
        super().__init__(**kwargs)
        self.eps = eps
        self.weight = self.add_weight(shape=(dim,), initializer="ones", name="weight")
        self.bias = self.add_weight(shape=(dim,), initializer="zeros", name="bias")
        self.built = True

    def call(self, x):
        mean, variance = tf.nn.moments(x, axes=[-1], keepdims=True)
        return (x - mean) * tf.math.rsqrt(variance + self.eps) * self.weight + self.bias

    def canonical_weights(self) -> dict[str, CanonicalWeight]:
        return {
            "weight": CanonicalWeight(self.weight, constant_initializer(1.0)),
            "bias": CanonicalWeight(self.bias, constant_initializer(0.0)),
        }


class Embedding(keras.layers.Layer):
    """A lookup table ``(num_embeddings, dim)``, canonical name ``weight`` (same layout as PyTorch).

    ``initializer`` defaults to N(0, ``initializer_range``) with the ``padding_idx`` row
    zeroed; pass ``constant_initializer(sinusoidal_positions(n, dim))`` for fixed
    sinusoidal positions.
    """

    def __init__(
        self,
        num_embeddings: int,
        dim: int,
        *,
        initializer_range: float = 0.02,
        padding_idx: int | None = None,
        initializer: Initializer | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.initializer_range = initializer_range
        self.padding_idx = padding_idx
        self._init = initializer or normal_initializer(initializer_range, padding_idx)
        self.embeddings = self.add_weight(shape=(num_embeddings, dim), initializer=self._init, name="embeddings")
        self.built = True

    @property
    def num_embeddings(self) -> int:
        return int(self.embeddings.shape[0])

    def call(self, ids):
        return tf.gather(self.embeddings, ids)

    def canonical_weights(self) -> dict[str, CanonicalWeight]:
        return {"weight": CanonicalWeight(self.embeddings, self._init)}

    def resize(self, new_num: int) -> None:
        """Keep the first ``new_num`` rows; new rows are drawn N(0, initializer_range).

        The variable is replaced (Keras variables have a fixed shape): compile the model
        again before training it.
        """
        old = keras.ops.convert_to_numpy(self.embeddings)
        rows = np.random.normal(0.0, self.initializer_range, size=(max(new_num - len(old), 0), old.shape[1]))
        value = np.concatenate([old[:new_num], rows.astype(old.dtype)])
        self._init = normal_initializer(self.initializer_range, self.padding_idx)
        del self.embeddings  # untracks the old variable
        self.embeddings = self.add_weight(shape=value.shape, initializer="zeros", name="embeddings")
        self.embeddings.assign(value)


class Parameter(keras.layers.Layer):
    """One free-standing weight, named by the attribute that holds it, like ``torch.nn.Parameter``.

    For weights that belong to no Linear / LayerNorm / Embedding: BERT's
    ``cls.predictions.bias``, a ViT ``cls_token``. Its canonical name is the attribute
    path itself (``cls.predictions.bias``), hence the empty name in :meth:`canonical_weights`.
    """

    def __init__(self, shape: tuple[int, ...], *, initializer: Initializer | None = None, **kwargs):
        super().__init__(**kwargs)
        self._init = initializer or constant_initializer(0.0)
        self.variable = self.add_weight(shape=tuple(shape), initializer=self._init, name="value")
        self.built = True

    def call(self, inputs=None):
        return self.variable

    def canonical_weights(self) -> dict[str, CanonicalWeight]:
        return {"": CanonicalWeight(self.variable, self._init)}

    def resize(self, new_num: int) -> None:
        """Keep the first ``new_num`` entries of the first axis; new entries come from the initializer.

        The variable is replaced (Keras variables have a fixed shape): compile again before training.
        """
        old = keras.ops.convert_to_numpy(self.variable)
        extra = max(new_num - len(old), 0)
        rows = keras.ops.convert_to_numpy(self._init((extra,) + old.shape[1:])).astype(old.dtype)
        value = np.concatenate([old[:new_num], rows])
        del self.variable  # untracks the old variable
        self.variable = self.add_weight(shape=value.shape, initializer="zeros", name="value")
        self.variable.assign(value)


class OutputProjection(keras.layers.Layer):
    """Hidden states -> vocabulary logits, ``x @ W.T + bias`` with ``W`` of shape ``(vocab, dim)``.

    With ``embedding`` given, ``W`` *is* that layer's table (tied weights, as in a masked-LM
    head); its canonical ``weight`` name then points at the shared variable, and the model
    lists it in ``tied_weights`` so it is saved once. Without, the projection has its own
    ``W``, in the same layout. Likewise ``bias`` may be a :class:`Parameter` held elsewhere
    (BERT's ``cls.predictions.decoder.bias`` *is* ``cls.predictions.bias``); by default the
    projection has its own.
    """

    def __init__(self, vocab_size: int, dim: int, *, embedding: Embedding | None = None, bias: Parameter | None = None,
                 initializer_range: float = 0.02, **kwargs):
        super().__init__(**kwargs)
        self.embedding = embedding
        self._init = normal_initializer(initializer_range)
        self.initializer_range = initializer_range
        self.weight = None
        if embedding is None:
            self.weight = self.add_weight(shape=(vocab_size, dim), initializer=self._init, name="weight")
        self.bias_parameter = bias if bias is not None else Parameter((vocab_size,), dtype=self.dtype_policy, name="bias")
        self.built = True

    @property
    def bias(self) -> keras.Variable:
        return self.bias_parameter.variable

    def _matrix(self):
        return self.embedding.embeddings if self.embedding is not None else self.weight

    def call(self, x):
        return tf.matmul(x, self._matrix(), transpose_b=True) + self.bias

    def canonical_weights(self) -> dict[str, CanonicalWeight]:
        init = self.embedding._init if self.embedding is not None else self._init
        return {
            "weight": CanonicalWeight(self._matrix(), init),
            "bias": CanonicalWeight(self.bias, constant_initializer(0.0)),
        }

    def resize(self, new_num: int) -> None:
        """Follow a resized vocabulary: the bias gets zeros for new entries (an own ``W``, new rows)."""
        self.bias_parameter.resize(new_num)
        if self.embedding is None:
            old = keras.ops.convert_to_numpy(self.weight)
            rows = np.random.normal(0.0, self.initializer_range, size=(max(new_num - len(old), 0), old.shape[1]))
            value = np.concatenate([old[:new_num], rows.astype(old.dtype)])
            del self.weight
            self.weight = self.add_weight(shape=value.shape, initializer="zeros", name="weight")
            self.weight.assign(value)


def sinusoidal_positions(n_positions: int, dim: int) -> np.ndarray:
    """The fixed position table of "Attention is all you need" (even columns sin, odd cos), float32.

    Computed in float64 as ``transformers`` does, then cast.
    """
    positions = np.arange(n_positions, dtype=np.float64)[:, None]
    exponents = 2 * (np.arange(dim) // 2) / dim
    angles = positions / np.power(10000, exponents)[None, :]
    table = np.zeros((n_positions, dim), dtype=np.float32)
    table[:, 0::2] = np.sin(angles[:, 0::2])
    table[:, 1::2] = np.cos(angles[:, 1::2])
    return table


# ---- activations ------------------------------------------------------------------
def _gelu(x):
    """Exact GELU, ``x * Phi(x)`` with the error function (PyTorch's default)."""
    return 0.5 * x * (1.0 + tf.math.erf(x / math.sqrt(2.0)))


def _gelu_tanh(x):
    """GELU's tanh approximation (``gelu_new``, ``gelu_pytorch_tanh``)."""
    return 0.5 * x * (1.0 + tf.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * tf.pow(x, 3.0))))


def _gelu_fast(x):
    return 0.5 * x * (1.0 + tf.tanh(x * 0.7978845608 * (1.0 + 0.044715 * x * x)))


def _quick_gelu(x):
    return x * tf.sigmoid(1.702 * x)


def _silu(x):
    return x * tf.sigmoid(x)


def _linear(x):
    return x


_ACTIVATIONS: dict[str, Callable] = {
    "gelu": _gelu,
    "gelu_new": _gelu_tanh,
    "gelu_fast": _gelu_fast,
    "gelu_pytorch_tanh": _gelu_tanh,
    "quick_gelu": _quick_gelu,
    "relu": tf.nn.relu,
    "silu": _silu,
    "swish": _silu,
    "tanh": tf.tanh,
    "sigmoid": tf.sigmoid,
    "linear": _linear,
}


def get_activation(name: str) -> Callable:
    """The activation named in a config (every name of ``core.configuration.ACTIVATIONS``)."""
    try:
        return _ACTIVATIONS[name]
    except KeyError:
        raise ValueError(f"unknown activation {name!r}; expected one of {', '.join(_ACTIVATIONS)}") from None


# ---- attention --------------------------------------------------------------------
def additive_attention_mask(attention_mask, dtype, input_shape=None) -> tf.Tensor | None:
    """``(batch, seq)`` of 1 (attend) / 0 (padding) -> ``(batch, 1, 1, seq)`` of 0 / dtype's lowest value.

    Added to the attention scores before the softmax, as ``transformers``' eager attention does.
    The mask is checked first: against ``input_shape`` (the ``(batch, seq)`` of the inputs, when
    given) and, when running eagerly, for values other than 0 and 1.
    """
    if attention_mask is None:
        return None
    if input_shape is not None:
        inputs.check_attention_mask(input_facts("attention_mask", attention_mask), tuple(input_shape))
    mask = tf.cast(attention_mask, dtype)[:, None, None, :]
    return (1.0 - mask) * tf.cast(tf.as_dtype(dtype).min, dtype)


def attention(query, key, value, *, n_heads: int, mask=None, dropout: keras.layers.Layer | None = None, training=False):
    """Multi-head scaled dot-product attention with an explicit softmax.

    ``query``/``key``/``value`` are ``(batch, seq, dim)`` projections; ``mask`` an additive
    mask from :func:`additive_attention_mask`. Returns the ``(batch, seq, dim)`` context
    and the ``(batch, heads, seq, seq)`` attention probabilities (after dropout, as PyTorch
    returns them). A query whose keys are all masked gets zero weights (a zero context).
    """
    batch, seq = tf.shape(query)[0], tf.shape(query)[1]
    dim = query.shape[-1]
    head_dim = dim // n_heads

    def split_heads(x):  # (batch, seq, dim) -> (batch, heads, seq, head_dim)
        return tf.transpose(tf.reshape(x, (batch, -1, n_heads, head_dim)), (0, 2, 1, 3))

    q, k, v = split_heads(query), split_heads(key), split_heads(value)
    scores = tf.matmul(q, k, transpose_b=True) * (head_dim**-0.5)
    if mask is not None:
        scores = scores + mask
    weights = tf.nn.softmax(scores, axis=-1)
    if mask is not None:
        # A query whose every key is masked (a fully padded sequence) attends to nothing, as in
        # PyTorch's fused attention: zero weights and context, not the softmax's uniform average.
        has_key = tf.reduce_max(mask, axis=-1, keepdims=True) >= 0
        weights = weights * tf.cast(has_key, weights.dtype)
    if dropout is not None:
        weights = dropout(weights, training=training)
    context = tf.matmul(weights, v)  # (batch, heads, seq, head_dim)
    context = tf.reshape(tf.transpose(context, (0, 2, 1, 3)), (batch, seq, dim))
    return context, weights


# ---- blocks shared by encoder architectures ---------------------------------------------
# Each takes sizes and rates as plain arguments (not a config: configs name them differently)
# and names its sub-layers as transformers' PyTorch modules do, or as the caller says.


class Embeddings(keras.layers.Layer):
    """Word + token type + position embeddings, then LayerNorm and dropout: a BERT-like input layer.

    Attributes ``word_embeddings``, ``position_embeddings``, ``token_type_embeddings`` (only
    when ``type_vocab_size > 0``; DistilBERT has none), ``LayerNorm``, ``dropout``: the names
    of BERT's and DistilBERT's PyTorch modules. Missing ``token_type_ids`` are zeros and
    missing ``position_ids`` count from 0, as in transformers; the sum is taken in its order
    (words, token types, positions) so outputs agree to the last bit where possible.
    """

    def __init__(self, vocab_size: int, dim: int, max_position_embeddings: int, *, type_vocab_size: int = 0,
                 pad_token_id: int | None = None, layer_norm_eps: float = 1e-12, dropout: float = 0.0,
                 initializer_range: float = 0.02, position_initializer: Initializer | None = None, **kwargs):
        super().__init__(**kwargs)
        self.word_embeddings = Embedding(vocab_size, dim, initializer_range=initializer_range, padding_idx=pad_token_id,
                                         dtype=self.dtype_policy, name="word_embeddings")
        self.position_embeddings = Embedding(max_position_embeddings, dim, initializer_range=initializer_range,
                                             initializer=position_initializer, dtype=self.dtype_policy,
                                             name="position_embeddings")
        self.token_type_embeddings = None
        if type_vocab_size > 0:
            self.token_type_embeddings = Embedding(type_vocab_size, dim, initializer_range=initializer_range,
                                                   dtype=self.dtype_policy, name="token_type_embeddings")
        self.LayerNorm = LayerNorm(dim, eps=layer_norm_eps, dtype=self.dtype_policy, name="LayerNorm")
        self.dropout = keras.layers.Dropout(dropout, dtype=self.dtype_policy)
        self.built = True

    @property
    def limits(self) -> inputs.TextLimits:
        """The sizes of the tables, which bound the ids this layer can embed."""
        return inputs.TextLimits(
            vocab_size=self.word_embeddings.num_embeddings,
            max_positions=self.position_embeddings.num_embeddings,
            hidden_size=int(self.word_embeddings.embeddings.shape[1]),
            type_vocab_size=self.token_type_embeddings.num_embeddings if self.token_type_embeddings is not None else 0,
        )

    def check_inputs(self, input_ids=None, token_type_ids=None, position_ids=None, inputs_embeds=None) -> None:
        """One clear error for inputs the tables cannot take (see :func:`polyformer.core.inputs.check_text_inputs`)."""
        inputs.check_text_inputs(
            self.limits,
            input_ids=input_facts("input_ids", input_ids),
            token_type_ids=input_facts("token_type_ids", token_type_ids),
            position_ids=input_facts("position_ids", position_ids),
            inputs_embeds=input_facts("inputs_embeds", inputs_embeds, values=False),
        )

    def call(self, input_ids=None, token_type_ids=None, position_ids=None, inputs_embeds=None, training=False):
        self.check_inputs(input_ids, token_type_ids, position_ids, inputs_embeds)
        if input_ids is not None:
            inputs_embeds = self.word_embeddings(input_ids)
        embeddings = inputs_embeds
        if self.token_type_embeddings is not None:
            if token_type_ids is None:
                token_type_ids = tf.zeros(tf.shape(inputs_embeds)[:-1], dtype=tf.int32)
            embeddings = embeddings + self.token_type_embeddings(token_type_ids)
        if position_ids is None:
            position_ids = tf.range(tf.shape(inputs_embeds)[1])[None, :]
        embeddings = embeddings + self.position_embeddings(position_ids)
        return self.dropout(self.LayerNorm(embeddings), training=training)


class SelfAttention(keras.layers.Layer):
    """Multi-head self-attention whose projections carry the names the architecture gives them.

    ``projections`` names the query, key and value :class:`Linear` attributes (BERT:
    ``query``, ``key``, ``value``; DistilBERT: ``q_lin``, ``k_lin``, ``v_lin``);
    ``output_projection`` names an output Linear applied to the context (DistilBERT's
    ``out_lin``), or None where the architecture keeps it in another module (BERT's
    ``attention.output.dense``). Returns the context and the attention probabilities.
    """

    def __init__(self, dim: int, n_heads: int, *, projections: tuple[str, str, str] = ("query", "key", "value"),
                 output_projection: str | None = None, dropout: float = 0.0, initializer_range: float = 0.02,
                 **kwargs):
        super().__init__(**kwargs)
        self.n_heads = n_heads
        self._projections = tuple(projections)
        self._output_projection = output_projection
        for name in self._projections + ((output_projection,) if output_projection else ()):
            setattr(self, name, Linear(dim, dim, initializer_range=initializer_range, dtype=self.dtype_policy, name=name))
        self.dropout = keras.layers.Dropout(dropout, dtype=self.dtype_policy)
        self.built = True

    def call(self, hidden_states, attention_mask=None, training=False):
        query, key, value = (getattr(self, name)(hidden_states) for name in self._projections)
        context, weights = attention(query, key, value, n_heads=self.n_heads, mask=attention_mask,
                                     dropout=self.dropout, training=training)
        if self._output_projection:
            context = getattr(self, self._output_projection)(context)
        return context, weights


class DenseResidualNorm(keras.layers.Layer):
    """``LayerNorm(dropout(dense(x)) + residual)``: the post-norm output of a BERT-family sub-layer.

    Attributes ``dense``, ``dropout``, ``LayerNorm``, as transformers' ``BertSelfOutput`` and
    ``BertOutput`` (and RoBERTa's, ELECTRA's...) name them.
    """

    def __init__(self, in_features: int, out_features: int, *, layer_norm_eps: float = 1e-12, dropout: float = 0.0,
                 initializer_range: float = 0.02, **kwargs):
        super().__init__(**kwargs)
        self.dense = Linear(in_features, out_features, initializer_range=initializer_range, dtype=self.dtype_policy,
                            name="dense")
        self.dropout = keras.layers.Dropout(dropout, dtype=self.dtype_policy)
        self.LayerNorm = LayerNorm(out_features, eps=layer_norm_eps, dtype=self.dtype_policy, name="LayerNorm")
        self.built = True

    def call(self, hidden_states, residual, training=False):
        return self.LayerNorm(self.dropout(self.dense(hidden_states), training=training) + residual)


class EncoderStack(keras.layers.Layer):
    """Transformer blocks applied in turn, held in the attribute ``layer`` (``encoder.layer.N``).

    Each block is called as ``block(hidden_states, attention_mask=..., training=...)`` and
    returns ``(hidden_states, attention_probabilities)``. Returns the last hidden states, and
    when asked the tuple of every hidden state (the input first, as transformers does) and
    of every block's attention probabilities (None otherwise).
    """

    def __init__(self, blocks: list[keras.layers.Layer], **kwargs):
        super().__init__(**kwargs)
        self.layer = list(blocks)
        self.built = True

    def call(self, hidden_states, attention_mask=None, output_attentions=False, output_hidden_states=False,
             training=False):
        all_hidden_states = (hidden_states,) if output_hidden_states else None
        all_attentions = () if output_attentions else None
        for block in self.layer:
            hidden_states, weights = block(hidden_states, attention_mask=attention_mask, training=training)
            if output_hidden_states:
                all_hidden_states += (hidden_states,)
            if output_attentions:
                all_attentions += (weights,)
        return hidden_states, all_hidden_states, all_attentions


def check_choice_inputs(input_ids=None, inputs_embeds=None, attention_mask=None, token_type_ids=None) -> None:
    """Multiple-choice inputs are ``(batch, num_choices, sequence)``: a clear error otherwise."""
    inputs.check_choice_inputs(
        input_facts("input_ids", input_ids, values=False), input_facts("inputs_embeds", inputs_embeds, values=False),
        input_facts("attention_mask", attention_mask, values=False),
        input_facts("token_type_ids", token_type_ids, values=False),
    )


def flatten_choices(x, inner_rank: int = 1):
    """``(batch, num_choices, *inner)`` -> ``(batch * num_choices, *inner)``, None left as None.

    A multiple-choice head encodes every choice as its own sequence. ``inner_rank`` is 1 for
    ids and masks ``(..., seq)`` and 2 for ``inputs_embeds`` ``(..., seq, dim)``; as in
    transformers' ``view(-1, size(-1))``, only the trailing axes are kept, so shared
    ``position_ids`` of shape ``(1, seq)`` stay as they are. Known sizes stay static, so
    the layers after it keep their shapes inside ``tf.function``.
    """
    if x is None:
        return None
    x = tf.convert_to_tensor(x)
    rank = x.shape.rank
    inner = [x.shape[i] if x.shape[i] is not None else tf.shape(x)[i] for i in range(rank - inner_rank, rank)]
    return tf.reshape(x, [-1] + inner)


# ---- losses (the semantics of torch.nn's losses, mean reduction) ---------------------
def cross_entropy(logits, labels, *, ignore_index: int = -100):
    """``nn.CrossEntropyLoss``: mean over the labels that are not ``ignore_index``.

    ``logits`` is ``(..., classes)`` and ``labels`` the matching integer ``(...)``; computed
    in float32. Like PyTorch, the result is NaN when every label is ignored.
    """
    logits = tf.cast(logits, tf.float32)
    labels = tf.cast(tf.reshape(labels, [-1]), tf.int64)
    logits = tf.reshape(logits, (-1, tf.shape(logits)[-1]))
    keep = tf.not_equal(labels, ignore_index)
    safe_labels = tf.where(keep, labels, tf.zeros_like(labels))
    losses = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=safe_labels, logits=logits)
    keep = tf.cast(keep, tf.float32)
    return tf.reduce_sum(losses * keep) / tf.reduce_sum(keep)


def mse(predictions, targets):
    """``nn.MSELoss``: mean squared error, float32."""
    predictions = tf.cast(predictions, tf.float32)
    return tf.reduce_mean(tf.square(predictions - tf.cast(targets, tf.float32)))


def bce_with_logits(logits, targets):
    """``nn.BCEWithLogitsLoss``: mean binary cross-entropy on logits (multi-label), float32."""
    logits = tf.cast(logits, tf.float32)
    return tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=tf.cast(targets, tf.float32), logits=logits))


def masked_lm_loss(logits, labels):
    """Cross-entropy over the vocabulary at the masked positions (the others are labelled -100)."""
    inputs.check_class_labels(input_facts("labels", labels), tuple(logits.shape), what="vocabulary tokens")
    return cross_entropy(logits, labels)


def token_classification_loss(logits, labels):
    """Cross-entropy over every token; labels of -100 are ignored."""
    inputs.check_class_labels(input_facts("labels", labels), tuple(logits.shape))
    return cross_entropy(logits, labels)


def multiple_choice_loss(logits, labels):
    """Cross-entropy over the choices: ``logits`` is ``(batch, num_choices)``."""
    inputs.check_class_labels(input_facts("labels", labels), tuple(logits.shape), what="choices")
    return cross_entropy(logits, labels)


def sequence_classification_loss(config, logits, labels):
    """The loss of a sequence classification head, with ``transformers``' problem-type rules.

    When ``config.problem_type`` is unset it is inferred once and stored in the config:
    one label -> ``regression`` (MSE); integer labels -> ``single_label_classification``
    (cross-entropy); otherwise ``multi_label_classification`` (BCE on logits).
    """
    labels = tf.convert_to_tensor(labels)
    num_labels = config.num_labels
    if config.problem_type is None:
        if num_labels == 1:
            config.problem_type = "regression"
        elif labels.dtype in (tf.int32, tf.int64):
            config.problem_type = "single_label_classification"
        else:
            config.problem_type = "multi_label_classification"
    facts, shape = input_facts("labels", labels), tuple(logits.shape)
    if config.problem_type == "regression":
        inputs.check_regression_targets(facts, shape)
        if num_labels == 1:
            return mse(tf.squeeze(logits), tf.squeeze(labels))
        return mse(logits, labels)
    if config.problem_type == "single_label_classification":
        inputs.check_class_labels(facts, shape)
        return cross_entropy(tf.reshape(logits, (-1, num_labels)), tf.reshape(labels, [-1]))
    inputs.check_multi_label_targets(facts, shape)
    return bce_with_logits(logits, labels)


def question_answering_loss(start_logits, end_logits, start_positions, end_positions):
    """Mean of the start and end cross-entropies; positions outside the sequence are ignored.

    As in ``transformers``: positions are clamped to ``[0, seq_len]`` and ``seq_len`` is
    the ignored index.
    """
    batch = start_logits.shape[0]
    inputs.check_span_positions(input_facts("start_positions", start_positions, values=False), batch)
    inputs.check_span_positions(input_facts("end_positions", end_positions, values=False), batch)
    seq_len = tf.shape(start_logits, out_type=tf.int64)[1]

    def prepare(positions):
        positions = tf.cast(tf.convert_to_tensor(positions), tf.int64)
        if positions.shape.rank is not None and positions.shape.rank > 1:
            positions = tf.squeeze(positions, -1)
        return tf.clip_by_value(positions, 0, seq_len)

    start_loss = cross_entropy(start_logits, prepare(start_positions), ignore_index=seq_len)
    end_loss = cross_entropy(end_logits, prepare(end_positions), ignore_index=seq_len)
    return (start_loss + end_loss) / 2
