"""Building blocks for Keras models whose weights use canonical (PyTorch) names.

Every architecture plugin written for the Keras backend composes these pieces:

* :class:`Linear`, :class:`LayerNorm`, :class:`Embedding` and :class:`OutputProjection`
  create their weights in ``__init__`` (so a model has its weights as soon as it is
  built from a config, with no dummy call) and say how each weight maps to the
  canonical checkpoint layout (:meth:`canonical_weights`);
* :func:`named_canonical_weights` walks a model like ``torch.nn.Module.named_parameters``
  does: the canonical name of a weight is the path of attribute names that leads to it
  (``transformer.layer.0.attention.q_lin.weight``). A model therefore gets the
  PyTorch names simply by naming its attributes as the PyTorch model does;
* :func:`get_activation`, :func:`attention`, :func:`additive_attention_mask`, the
  losses and :func:`sinusoidal_positions` compute exactly what ``transformers``'
  PyTorch code computes, so outputs agree to float32 rounding.

Layers whose attribute names are architecture-specific (DistilBERT's ``q_lin`` /
``lin1``, BERT's ``attention.self.query``) stay in the architecture's
``modeling_keras.py`` and are built from these pieces.

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
    "sequence_classification_loss",
    "question_answering_loss",
]

Initializer = Callable[..., Any]  # (shape, dtype=None) -> array


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
    """Public attributes holding layers (or lists of layers), in definition order, like torch's named_children."""
    for name, value in vars(layer).items():
        if name.startswith("_"):
            continue
        if isinstance(value, keras.layers.Layer):
            yield name, value
        elif isinstance(value, (list, tuple)) and value and all(isinstance(v, keras.layers.Layer) for v in value):
            for index, item in enumerate(value):
                yield f"{name}.{index}", item


def named_canonical_weights(layer: keras.layers.Layer, prefix: str = "") -> dict[str, CanonicalWeight]:
    """Canonical name -> :class:`CanonicalWeight` for every weight under ``layer``.

    A layer with a ``canonical_weights()`` method is a leaf and names its own weights;
    any other layer contributes the attribute names leading to its leaves.
    """
    if hasattr(layer, "canonical_weights"):
        return {f"{prefix}{name}": weight for name, weight in layer.canonical_weights().items()}
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


class OutputProjection(keras.layers.Layer):
    """Hidden states -> vocabulary logits, ``x @ W.T + bias`` with ``W`` of shape ``(vocab, dim)``.

    With ``embedding`` given, ``W`` *is* that layer's table (tied weights, as in a masked-LM
    head); its canonical ``weight`` name then points at the shared variable, and the model
    lists it in ``tied_weights`` so it is saved once. Without, the projection has its own
    ``W``, in the same layout.
    """

    def __init__(self, vocab_size: int, dim: int, *, embedding: Embedding | None = None,
                 initializer_range: float = 0.02, **kwargs):
        super().__init__(**kwargs)
        self.embedding = embedding
        self._init = normal_initializer(initializer_range)
        self.initializer_range = initializer_range
        self.weight = None
        if embedding is None:
            self.weight = self.add_weight(shape=(vocab_size, dim), initializer=self._init, name="weight")
        self.bias = self.add_weight(shape=(vocab_size,), initializer="zeros", name="bias")
        self.built = True

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
        old_bias = keras.ops.convert_to_numpy(self.bias)
        bias = np.concatenate([old_bias[:new_num], np.zeros(max(new_num - len(old_bias), 0), old_bias.dtype)])
        del self.bias
        self.bias = self.add_weight(shape=bias.shape, initializer="zeros", name="bias")
        self.bias.assign(bias)
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
def additive_attention_mask(attention_mask, dtype) -> tf.Tensor | None:
    """``(batch, seq)`` of 1 (attend) / 0 (padding) -> ``(batch, 1, 1, seq)`` of 0 / dtype's lowest value.

    Added to the attention scores before the softmax, as ``transformers``' eager attention does.
    """
    if attention_mask is None:
        return None
    mask = tf.cast(attention_mask, dtype)[:, None, None, :]
    return (1.0 - mask) * tf.cast(tf.as_dtype(dtype).min, dtype)


def attention(query, key, value, *, n_heads: int, mask=None, dropout: keras.layers.Layer | None = None, training=False):
    """Multi-head scaled dot-product attention with an explicit softmax.

    ``query``/``key``/``value`` are ``(batch, seq, dim)`` projections; ``mask`` an additive
    mask from :func:`additive_attention_mask`. Returns the ``(batch, seq, dim)`` context
    and the ``(batch, heads, seq, seq)`` attention probabilities (after dropout, as PyTorch
    returns them).
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
    if dropout is not None:
        weights = dropout(weights, training=training)
    context = tf.matmul(weights, v)  # (batch, heads, seq, head_dim)
    context = tf.reshape(tf.transpose(context, (0, 2, 1, 3)), (batch, seq, dim))
    return context, weights


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
    if config.problem_type == "regression":
        if num_labels == 1:
            return mse(tf.squeeze(logits), tf.squeeze(labels))
        return mse(logits, labels)
    if config.problem_type == "single_label_classification":
        return cross_entropy(tf.reshape(logits, (-1, num_labels)), tf.reshape(labels, [-1]))
    return bce_with_logits(logits, labels)


def question_answering_loss(start_logits, end_logits, start_positions, end_positions):
    """Mean of the start and end cross-entropies; positions outside the sequence are ignored.

    As in ``transformers``: positions are clamped to ``[0, seq_len]`` and ``seq_len`` is
    the ignored index.
    """
    seq_len = tf.shape(start_logits, out_type=tf.int64)[1]

    def prepare(positions):
        positions = tf.cast(tf.convert_to_tensor(positions), tf.int64)
        if positions.shape.rank is not None and positions.shape.rank > 1:
            positions = tf.squeeze(positions, -1)
        return tf.clip_by_value(positions, 0, seq_len)

    start_loss = cross_entropy(start_logits, prepare(start_positions), ignore_index=seq_len)
    end_loss = cross_entropy(end_logits, prepare(end_positions), ignore_index=seq_len)
    return (start_loss + end_loss) / 2
