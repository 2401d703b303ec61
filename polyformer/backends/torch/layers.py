"""Reusable PyTorch building blocks for transformer architectures.

Every architecture plugin builds its modules from these pieces instead of copying them,
so behaviour that must be identical everywhere (activation names, attention numerics,
head pruning, embedding resizing, weight init, input checks) is written once. The Keras
and Flax backends have the same blocks, with the same names, arguments and defaults
(a test compares them); only the framework's own runtime arguments differ.

Blocks (modules take plain sizes, not a config, so any architecture maps its own config
keys onto them; attribute names are those of the ``transformers`` checkpoints):

* :class:`Embeddings`: word + (token type) + position embeddings (learned or fixed
  sinusoidal), an optional LayerNorm, dropout; checks the ids it is given;
* :class:`MultiHeadSelfAttention`: q/k/v (and optionally output) projections named by the
  architecture; built with the heads its config prunes, and prunable later;
* :class:`AttentionBlock`: self-attention plus its ``output`` sub-layer (BERT, ViT...);
* :class:`Intermediate` and :class:`DenseAddNorm`: the two halves of a BERT-family feed-forward
  (``DenseAddNorm`` without its LayerNorm is a pre-norm model's ``dense + residual``);
* :class:`FeedForward`: both halves in one module (DistilBERT's ``ffn``, Wav2Vec2's ``feed_forward``);
* :class:`TransformerLayer`: attention and feed-forward with their norms, pre- or post-norm,
  every attribute named by :class:`LayerNames`;
* :class:`Encoder`: the stack of layers, with masks, hidden states, attentions, head masks,
  pruning and gradient checkpointing handled once;
* :class:`Pooler`: ``activation(dense(first position))``;
* :class:`PatchEmbeddings`: images cut into patches, each projected to a vector (ViT and kin);
* :class:`ConvLayer` and :class:`ConvFeatureEncoder`: raw audio to frames, a stack of strided 1-D
  convolutions (Wav2Vec2, HuBERT, WavLM...), with the frame count and receptive field it implies;
* :class:`PositionalConvEmbedding`: relative positions of speech frames from a grouped,
  weight-normalised convolution over time;
* :class:`TDNNLayer`: a dilated 1-D convolution stored as a linear (x-vector heads).

Helpers: :func:`get_activation`, :func:`attention`, :func:`expand_attention_mask`,
:func:`expand_head_mask`, :func:`apply_chunked`, :func:`add_residual`, :func:`prune_linear`,
:func:`resize_embedding`, :func:`resize_linear_out`, :func:`init_module`, :func:`call_layer`,
:func:`input_facts`.
"""

from __future__ import annotations

from typing import Callable, Iterable

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrize

from ...core.layer_names import LayerNames
from ...core import inputs
from ...core.configuration import ACTIVATIONS
from ...core.numerics import (
    conv_output_length,
    conv_receptive_field,
    kept_head_features,
    patch_grid,
    sinusoidal_table,
    to_pair,
)
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
    "PatchEmbeddings",
    "ConvLayer",
    "ConvFeatureEncoder",
    "PositionalConvEmbedding",
    "TDNNLayer",
    "add_residual",
    "apply_chunked",
    "check_choice_inputs",
    "prune_linear",
    "resize_embedding",
    "resize_linear_out",
    "init_module",
    "call_layer",
    "input_facts",
    "is_tracing",
]


# ---- inputs ---------------------------------------------------------------------------
def is_tracing() -> bool:
    """True under ``torch.jit.trace`` and ``torch.compile``, where values cannot be read."""
    return torch.jit.is_tracing() or torch.compiler.is_compiling()


def input_facts(name: str, tensor: torch.Tensor | None, values: bool = True) -> inputs.Facts | None:
    """The dtype, shape and (unless tracing) values of an input, for :mod:`polyformer.core.inputs`."""
    if tensor is None:
        return None
    if not isinstance(tensor, torch.Tensor):
        raise inputs.ModelInputTypeError(f"{name} must be a torch.Tensor, got {type(tensor).__name__}")
    array = None
    if values and tensor.numel() and not is_tracing():
        host = tensor.detach().cpu()
        array = (host.float() if host.dtype == torch.bfloat16 else host).numpy()
    return inputs.Facts(name, str(tensor.dtype).removeprefix("torch."), tuple(tensor.shape), array)


# ---- activations --------------------------------------------------------------------
class Activation(nn.Module):
    """A named element-wise activation (a module, so it prints in the model summary).

    ``forward(x, inplace=True)`` overwrites ``x`` when the activation has an in-place
    form: callers pass it for a tensor they own and while autograd is off, which spares
    allocating a second buffer as large as the feed-forward's hidden layer.
    """

    def __init__(self, name: str, fn: Callable[[torch.Tensor], torch.Tensor],
                 inplace_fn: Callable[[torch.Tensor], torch.Tensor] | None = None) -> None:
        super().__init__()
        self.name = name
        self.fn = fn
        self.inplace_fn = inplace_fn

    def forward(self, x: torch.Tensor, inplace: bool = False) -> torch.Tensor:
        if inplace and self.inplace_fn is not None:
            return self.inplace_fn(x)
        return self.fn(x)

    def extra_repr(self) -> str:
        return self.name


def _gelu_tanh(x: torch.Tensor) -> torch.Tensor:
    # "gelu_new", "gelu_fast" and "gelu_pytorch_tanh" are all the tanh approximation of
    # GELU; PyTorch's fused kernel computes it to within float rounding of the formula.
    return F.gelu(x, approximate="tanh")


def _identity(x: torch.Tensor) -> torch.Tensor:
    return x


# name -> (function, in-place function or None)
_ACTIVATION_FUNCTIONS: dict[str, tuple[Callable, Callable | None]] = {
    "gelu": (F.gelu, torch.ops.aten.gelu_),
    "gelu_new": (_gelu_tanh, lambda x: torch.ops.aten.gelu_(x, approximate="tanh")),
    "gelu_fast": (_gelu_tanh, lambda x: torch.ops.aten.gelu_(x, approximate="tanh")),
    "gelu_pytorch_tanh": (_gelu_tanh, lambda x: torch.ops.aten.gelu_(x, approximate="tanh")),
    "quick_gelu": (lambda x: x * torch.sigmoid(1.702 * x), None),
    "relu": (F.relu, torch.relu_),
    "silu": (F.silu, lambda x: F.silu(x, inplace=True)),
    "swish": (F.silu, lambda x: F.silu(x, inplace=True)),
    "tanh": (torch.tanh, torch.tanh_),
    "sigmoid": (torch.sigmoid, torch.sigmoid_),
    "linear": (_identity, _identity),
}
assert set(_ACTIVATION_FUNCTIONS) == set(ACTIVATIONS), "every configurable activation needs a torch implementation"


def get_activation(name: str) -> Activation:
    """The activation module for a config's activation name (see ``ACTIVATIONS``)."""
    try:
        fn, inplace_fn = _ACTIVATION_FUNCTIONS[name]
    except KeyError:
        raise ValueError(f"unknown activation {name!r}; expected one of {', '.join(ACTIVATIONS)}") from None
    return Activation(name, fn, inplace_fn)


# ---- masks ----------------------------------------------------------------------------
def expand_attention_mask(attention_mask: torch.Tensor | None, input_shape: tuple[int, ...]) -> torch.Tensor | None:
    """``(batch, seq)`` padding mask of 1 (attend) / 0 (padding) -> boolean ``(batch, 1, 1, seq)``.

    The mask is checked first against ``input_shape`` (the ``(batch, seq)`` of the inputs) and
    for values other than 0 and 1. Returns None when nothing is masked, which lets
    ``scaled_dot_product_attention`` pick its fastest kernel.
    """
    if attention_mask is None:
        return None
    inputs.check_attention_mask(input_facts("attention_mask", attention_mask), tuple(input_shape))
    mask = attention_mask.bool()
    if not is_tracing() and bool(mask.all()):  # a value test: left out under tracing (same numbers either way)
        return None
    return mask[:, None, None, :]


def expand_head_mask(head_mask: torch.Tensor | None, num_layers: int) -> list[torch.Tensor | None]:
    """A head mask of shape ``(heads,)`` or ``(layers, heads)`` -> one ``(1, heads, 1, 1)`` mask per layer.

    1.0 keeps a head, 0.0 silences it (its attention weights are multiplied by the value).
    """
    if head_mask is None:
        return [None] * num_layers
    if head_mask.dim() == 1:
        head_mask = head_mask.unsqueeze(0).expand(num_layers, -1)
    if head_mask.dim() != 2 or head_mask.shape[0] != num_layers:
        raise ValueError(f"head_mask must have shape (heads,) or ({num_layers}, heads), got {tuple(head_mask.shape)}")
    return [row[None, :, None, None] for row in head_mask]


# ---- attention -------------------------------------------------------------------------
def attention(
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    mask: torch.Tensor | None = None,
    *,
    dropout: float = 0.0,
    head_mask: torch.Tensor | None = None,
    output_attentions: bool = False,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Scaled dot-product attention over ``(batch, heads, seq, head_dim)`` tensors.

    ``mask`` is boolean, True where a key may be attended (broadcast to
    ``(batch, heads, q_len, k_len)``). Uses PyTorch's fused
    ``scaled_dot_product_attention``; when the weights are asked for, or a head mask must
    scale them, the same computation is done explicitly and the weights returned.
    ``dropout`` is the probability to use now (0.0 at inference). A query with no key to
    attend to gets zero weights and a zero context on both paths. The explicit path
    multiplies the scores by ``head_dim ** -0.5`` (rather than dividing by the square
    root), as ``transformers``' eager attention does, so the weights agree with it to the last
    bit in practice (they do on all-MiniLM-L6-v2).
    """
    if not output_attentions and head_mask is None:
        context = F.scaled_dot_product_attention(query, key, value, attn_mask=mask, dropout_p=dropout)
        return context, None
    scores = torch.matmul(query, key.transpose(-1, -2)) * query.size(-1) ** -0.5
    if mask is not None:
        scores = scores.masked_fill(~mask, torch.finfo(scores.dtype).min)
    weights = torch.softmax(scores, dim=-1)
    if mask is not None:
        # A query whose every key is masked (a fully padded sequence) attends to nothing, as in
        # the fused kernel: zero weights, zero context (not the uniform average the softmax gives).
        weights = weights.masked_fill(~mask.any(dim=-1, keepdim=True), 0.0)
    if dropout > 0.0:
        weights = F.dropout(weights, p=dropout, training=True)
    if head_mask is not None:
        weights = weights * head_mask
    return torch.matmul(weights, value), weights


def prune_linear(layer: nn.Linear, index: torch.Tensor, dim: int = 0) -> nn.Linear:
    """A new Linear keeping only ``index`` along ``dim`` (0: output rows, 1: input columns)."""
    index = index.to(layer.weight.device)
    weight = layer.weight.index_select(dim, index).detach().clone()
    bias = None
    if layer.bias is not None:
        bias = (layer.bias[index] if dim == 0 else layer.bias).detach().clone()
    out_features, in_features = weight.shape
    new = nn.Linear(in_features, out_features, bias=bias is not None, device=weight.device, dtype=weight.dtype)
    new.weight = nn.Parameter(weight, requires_grad=layer.weight.requires_grad)
    if bias is not None:
        new.bias = nn.Parameter(bias, requires_grad=layer.bias.requires_grad)
    return new


class MultiHeadSelfAttention(nn.Module):
    """Multi-head self-attention whose projection names follow the architecture's checkpoints.

    ``names`` are the attribute names of the query, key and value linears, ``output_name``
    that of the output linear (DistilBERT: ``q_lin``, ``k_lin``, ``v_lin``, ``out_lin``). With
    ``output_name=None`` there is none: the caller owns it (BERT keeps it in
    ``attention.output.dense``, see :class:`AttentionBlock`) and prunes its input columns with
    the index :meth:`prune_heads` returns. ``num_heads`` is the layer's original head count;
    ``pruned_heads`` (original numbers) are left out from the start, as a pruned checkpoint
    stores them. ``bias=False`` leaves the query/key/value biases out (ViT's ``qkv_bias``).
    """

    def __init__(
        self,
        hidden_size: int,
        num_heads: int,
        *,
        pruned_heads: Iterable[int] = (),
        dropout: float = 0.0,
        bias: bool = True,
        names: tuple[str, str, str] = ("query", "key", "value"),
        output_name: str | None = None,
    ) -> None:
        super().__init__()
        if hidden_size % num_heads:
            raise ValueError(f"hidden_size={hidden_size} must be divisible by num_heads={num_heads}")
        self.head_size = hidden_size // num_heads
        self.original_num_heads = num_heads
        self.pruned_heads: set[int] = {int(h) for h in pruned_heads}
        self.num_heads = num_heads - len(self.pruned_heads)
        if self.num_heads <= 0:
            raise ValueError(f"cannot prune every head of an attention layer (it has {num_heads})")
        self.dropout = dropout
        self.names = tuple(names)
        self.output_name = output_name
        inner = self.num_heads * self.head_size
        for name in self.names:
            setattr(self, name, nn.Linear(hidden_size, inner, bias=bias))
        if output_name is not None:
            setattr(self, output_name, nn.Linear(inner, hidden_size))

    def _split(self, x: torch.Tensor) -> torch.Tensor:
        batch, length, _ = x.shape
        return x.view(batch, length, self.num_heads, self.head_size).transpose(1, 2)

    def forward(
        self,
        hidden_states: torch.Tensor,
        mask: torch.Tensor | None = None,
        head_mask: torch.Tensor | None = None,
        output_attentions: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``(batch, seq, hidden)`` -> (``(batch, seq, hidden or heads * head_size)``, attention weights or None)."""
        q_name, k_name, v_name = self.names
        query = self._split(getattr(self, q_name)(hidden_states))
        key = self._split(getattr(self, k_name)(hidden_states))
        value = self._split(getattr(self, v_name)(hidden_states))
        context, weights = attention(
            query, key, value, mask,
            dropout=self.dropout if self.training else 0.0,
            head_mask=head_mask,
            output_attentions=output_attentions,
        )
        batch, _, length, _ = context.shape
        context = context.transpose(1, 2).reshape(batch, length, self.num_heads * self.head_size)
        if self.output_name is not None:
            context = getattr(self, self.output_name)(context)
        return context, weights

    def prune_heads(self, heads: Iterable[int]) -> torch.Tensor | None:
        """Remove ``heads`` (original numbering) for good; returns the kept feature index, or None if nothing changed."""
        heads = {int(h) for h in heads} - self.pruned_heads
        if not heads:
            return None
        if len(heads) >= self.num_heads:
            raise ValueError(f"cannot prune every head of an attention layer (it has {self.num_heads} left)")
        index = torch.from_numpy(kept_head_features(self.original_num_heads, self.head_size, self.pruned_heads, heads))
        for name in self.names:
            setattr(self, name, prune_linear(getattr(self, name), index, dim=0))
        if self.output_name is not None:
            setattr(self, self.output_name, prune_linear(getattr(self, self.output_name), index, dim=1))
        self.num_heads -= len(heads)
        self.pruned_heads |= heads
        return index


class AttentionBlock(nn.Module):
    """Self-attention (at ``self_name``: BERT's ``self``, ViT's ``attention``) and its ``output`` sub-layer.

    ``output`` is :class:`DenseAddNorm`: ``LayerNorm(dropout(dense(context)) + residual)``
    (post-norm, BERT), or without the LayerNorm ``dropout(dense(context)) + residual``
    (``layer_norm=False``, for a pre-norm layer such as ViT's, which passes its un-normed
    input as ``residual``). Pruning heads prunes ``output.dense``'s input columns too.
    """

    def __init__(
        self,
        hidden_size: int,
        num_heads: int,
        *,
        pruned_heads: Iterable[int] = (),
        attention_dropout: float = 0.0,
        dropout: float = 0.0,
        layer_norm_eps: float = 1e-12,
        layer_norm: bool = True,
        bias: bool = True,
        self_name: str = "self",
    ) -> None:
        super().__init__()
        self.self_name = self_name
        attention_module = MultiHeadSelfAttention(hidden_size, num_heads, pruned_heads=pruned_heads,
                                                  dropout=attention_dropout, bias=bias)
        setattr(self, self_name, attention_module)
        inner = attention_module.num_heads * attention_module.head_size
        self.output = DenseAddNorm(inner, hidden_size, dropout=dropout, layer_norm_eps=layer_norm_eps,
                                   layer_norm=layer_norm)

    def forward(self, hidden_states, mask=None, head_mask=None, output_attentions=False, residual=None):
        """``residual`` defaults to ``hidden_states`` (post-norm); a pre-norm layer passes its input before the norm."""
        context, weights = getattr(self, self.self_name)(hidden_states, mask, head_mask, output_attentions)
        return self.output(context, hidden_states if residual is None else residual), weights

    def prune_heads(self, heads: Iterable[int]) -> None:
        index = getattr(self, self.self_name).prune_heads(heads)
        if index is not None:
            self.output.dense = prune_linear(self.output.dense, index, dim=1)


# ---- feed-forward ----------------------------------------------------------------------
class Intermediate(nn.Module):
    """The widening half of a BERT-family feed-forward: ``activation(dense(x))``."""

    def __init__(self, hidden_size: int, intermediate_size: int, activation: str) -> None:
        super().__init__()
        self.dense = nn.Linear(hidden_size, intermediate_size)
        self.activation = get_activation(activation)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        # Without autograd the activation may overwrite the fresh hidden layer.
        return self.activation(self.dense(hidden_states), inplace=not torch.is_grad_enabled())


class DenseAddNorm(nn.Module):
    """``LayerNorm(dropout(dense(x)) + residual)``: the output sub-layer of the BERT family.

    BERT, RoBERTa, ELECTRA... end both their attention and their feed-forward with it
    (``attention.output`` and ``output`` in their checkpoints), hence the attribute names
    ``dense``, ``dropout`` and ``LayerNorm``. ``layer_norm=False`` leaves the LayerNorm out:
    ``dropout(dense(x)) + residual``, a pre-norm model's sub-layer output (ViT).
    """

    def __init__(self, in_features: int, hidden_size: int, *, dropout: float = 0.0, layer_norm_eps: float = 1e-12,
                 layer_norm: bool = True) -> None:
        super().__init__()
        self.dense = nn.Linear(in_features, hidden_size)
        self.dropout = nn.Dropout(dropout)
        self.LayerNorm = nn.LayerNorm(hidden_size, eps=layer_norm_eps) if layer_norm else None

    def forward(self, hidden_states: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        summed = add_residual(self.dropout(self.dense(hidden_states)), residual)
        return self.LayerNorm(summed) if self.LayerNorm is not None else summed


class FeedForward(nn.Module):
    """``dropout(out(activation_dropout(activation(in(x)))))``, its two linears named by ``names``.

    ``chunk_size`` > 0 runs the block on slices of ``chunk_size`` positions to bound memory
    (the result is the same), as ``config.chunk_size_feed_forward`` asks.
    """

    def __init__(
        self,
        hidden_size: int,
        intermediate_size: int,
        activation: str,
        *,
        dropout: float = 0.0,
        activation_dropout: float = 0.0,
        names: tuple[str, str] = ("lin1", "lin2"),
        chunk_size: int = 0,
    ) -> None:
        super().__init__()
        self.names = tuple(names)
        setattr(self, self.names[0], nn.Linear(hidden_size, intermediate_size))
        setattr(self, self.names[1], nn.Linear(intermediate_size, hidden_size))
        self.activation = get_activation(activation)
        self.activation_dropout = nn.Dropout(activation_dropout)
        self.dropout = nn.Dropout(dropout)
        self.chunk_size = chunk_size

    def _block(self, x: torch.Tensor) -> torch.Tensor:
        hidden = getattr(self, self.names[0])(x)
        # Without autograd the activation may overwrite the hidden layer it owns.
        hidden = self.activation_dropout(self.activation(hidden, inplace=not torch.is_grad_enabled()))
        return self.dropout(getattr(self, self.names[1])(hidden))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return apply_chunked(self._block, self.chunk_size, x)


def apply_chunked(fn: Callable[[torch.Tensor], torch.Tensor], chunk_size: int, x: torch.Tensor) -> torch.Tensor:
    """``fn(x)`` computed on slices of ``chunk_size`` positions (dim 1) when ``chunk_size`` > 0.

    For position-wise blocks (feed-forward): the result is the same, the peak memory of
    the block's hidden layer is bounded (``config.chunk_size_feed_forward``).
    """
    if chunk_size and x.size(1) > chunk_size:
        return torch.cat([fn(part) for part in x.split(chunk_size, dim=1)], dim=1)
    return fn(x)


def add_residual(output: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
    """``output + residual``, added in place into ``output`` (no allocation) when that loses nothing.

    ``output`` must be a fresh tensor the caller owns, such as a linear's or dropout's output
    (autograd allows overwriting those: neither keeps its output for backward). Under autocast
    it is bfloat16 while the residual stream is float32; an in-place add would keep bfloat16,
    and the LayerNorm after it would run on the rounded sum. The sum is then taken out of place,
    promoted to float32, as ``transformers`` does.
    """
    if torch.promote_types(output.dtype, residual.dtype) == output.dtype:
        return output.add_(residual)
    return output + residual


# ---- the transformer layer ---------------------------------------------------------------
class TransformerLayer(nn.Module):
    """Self-attention and a feed-forward, each with a residual and a LayerNorm, post- or pre-norm.

    Post-norm (``norm_first=False``: DistilBERT, Wav2Vec2)::

        x = attention_norm(x + attention_output_dropout(attention(x)))
        x = output_norm(x + feed_forward(x))

    Pre-norm (``norm_first=True``: Wav2Vec2 with ``do_stable_layer_norm``)::

        x = x + attention_output_dropout(attention(attention_norm(x)))
        x = x + feed_forward(output_norm(x))

    ``dropout`` is the feed-forward's output dropout, ``activation_dropout`` the one after its
    activation, ``attention_dropout`` the one on the attention probabilities.
    """

    def __init__(
        self,
        hidden_size: int,
        num_heads: int,
        intermediate_size: int,
        activation: str,
        *,
        pruned_heads: Iterable[int] = (),
        norm_first: bool = False,
        dropout: float = 0.0,
        attention_dropout: float = 0.0,
        attention_output_dropout: float = 0.0,
        activation_dropout: float = 0.0,
        layer_norm_eps: float = 1e-12,
        chunk_size: int = 0,
        names: LayerNames = LayerNames(),
    ) -> None:
        super().__init__()
        self.names = names
        self.norm_first = norm_first
        *qkv, output = names.projections
        setattr(self, names.attention, MultiHeadSelfAttention(
            hidden_size, num_heads, pruned_heads=pruned_heads, dropout=attention_dropout, names=tuple(qkv),
            output_name=output,
        ))
        self.attention_output_dropout = nn.Dropout(attention_output_dropout)
        setattr(self, names.attention_norm, nn.LayerNorm(hidden_size, eps=layer_norm_eps))
        setattr(self, names.feed_forward, FeedForward(
            hidden_size, intermediate_size, activation, dropout=dropout, activation_dropout=activation_dropout,
            names=names.feed_forward_linears, chunk_size=chunk_size,
        ))
        setattr(self, names.output_norm, nn.LayerNorm(hidden_size, eps=layer_norm_eps))

    def forward(self, hidden_states, mask=None, head_mask=None, output_attentions=False):
        names = self.names
        attention_module, attention_norm = getattr(self, names.attention), getattr(self, names.attention_norm)
        feed_forward, output_norm = getattr(self, names.feed_forward), getattr(self, names.output_norm)
        if self.norm_first:
            attended, weights = attention_module(attention_norm(hidden_states), mask, head_mask, output_attentions)
            hidden_states = add_residual(self.attention_output_dropout(attended), hidden_states)
            hidden_states = add_residual(feed_forward(output_norm(hidden_states)), hidden_states)
            return hidden_states, weights
        attended, weights = attention_module(hidden_states, mask, head_mask, output_attentions)
        # Residual sums reuse the fresh output buffers where the dtype allows (see add_residual).
        hidden_states = attention_norm(add_residual(self.attention_output_dropout(attended), hidden_states))
        hidden_states = output_norm(add_residual(feed_forward(hidden_states), hidden_states))
        return hidden_states, weights

    def prune_heads(self, heads: Iterable[int]) -> None:
        getattr(self, self.names.attention).prune_heads(heads)


# ---- embeddings ------------------------------------------------------------------------------
class Embeddings(nn.Module):
    """Word + token-type + position embeddings, then an optional LayerNorm, and dropout.

    ``type_vocab_size=0`` leaves out the token-type table (DistilBERT); with it, missing
    ``token_type_ids`` mean type 0 everywhere (BERT). ``sinusoidal_positions=True`` fills the
    position table with the fixed sin/cos table and freezes it (DistilBERT's option).
    ``layer_norm=False`` leaves the LayerNorm out. Sums are taken in the order
    ``(word + type) + position``, as ``transformers`` does. ``position_ids`` is a
    non-persistent buffer, rebuilt by :meth:`reset_buffers` after loading on the meta device.
    """

    def __init__(
        self,
        vocab_size: int,
        hidden_size: int,
        max_position_embeddings: int,
        *,
        type_vocab_size: int = 0,
        pad_token_id: int | None = None,
        layer_norm_eps: float = 1e-12,
        layer_norm: bool = True,
        dropout: float = 0.0,
        sinusoidal_positions: bool = False,
    ) -> None:
        super().__init__()
        self.word_embeddings = nn.Embedding(vocab_size, hidden_size, padding_idx=pad_token_id)
        self.position_embeddings = nn.Embedding(max_position_embeddings, hidden_size)
        if sinusoidal_positions:
            self.position_embeddings.sinusoidal = True  # init_module fills the table
            self.position_embeddings.weight.requires_grad_(False)
        self.token_type_embeddings = nn.Embedding(type_vocab_size, hidden_size) if type_vocab_size else None
        self.LayerNorm = nn.LayerNorm(hidden_size, eps=layer_norm_eps) if layer_norm else None
        self.dropout = nn.Dropout(dropout)
        self.register_buffer("position_ids", torch.arange(max_position_embeddings)[None, :], persistent=False)

    @property
    def limits(self) -> inputs.TextLimits:
        """The sizes of the tables, which bound the ids this block can embed."""
        return inputs.TextLimits(
            vocab_size=self.word_embeddings.num_embeddings,
            max_positions=self.position_embeddings.num_embeddings,
            hidden_size=self.word_embeddings.embedding_dim,
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

    def reset_buffers(self) -> None:
        """Rebuild ``position_ids`` (never in a checkpoint) after loading on the meta device."""
        device = self.word_embeddings.weight.device
        self.position_ids = torch.arange(self.position_embeddings.num_embeddings, device=device)[None, :]

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """``(batch, seq)`` ids, or ``(batch, seq, hidden)`` embeddings -> ``(batch, seq, hidden)``."""
        self.check_inputs(input_ids, token_type_ids, position_ids, inputs_embeds)
        # ``own`` is True once ``embeddings`` is a fresh tensor we may add to in place;
        # the caller's ``inputs_embeds`` is never modified.
        if input_ids is not None:
            embeddings, own = self.word_embeddings(input_ids), True
        else:  # in the tables' dtype (float64 from numpy, say), as Keras and Flax cast it
            embeddings, own = inputs_embeds.to(self.word_embeddings.weight.dtype), False
        if self.token_type_embeddings is not None:
            if token_type_ids is None:  # type 0 everywhere: one row, broadcast (same numbers as a lookup)
                types = self.token_type_embeddings.weight[0]
            else:
                types = self.token_type_embeddings(token_type_ids)
            embeddings, own = (embeddings.add_(types) if own else embeddings + types), True
        if position_ids is None:
            position_ids = self.position_ids[:, : embeddings.size(1)]
        positions = self.position_embeddings(position_ids)
        embeddings = embeddings.add_(positions) if own else embeddings + positions
        if self.LayerNorm is not None:
            embeddings = self.LayerNorm(embeddings)
        return self.dropout(embeddings)


# ---- the encoder stack -------------------------------------------------------------------
class Encoder(nn.Module):
    """The stack of layers (``layer.0``, ``layer.1``...): the loop every encoder runs.

    Takes the ``(batch, seq)`` 0/1 ``attention_mask`` as the user gives it (checked, then
    expanded once for every layer). Each layer is called as
    ``layer(hidden_states, mask, head_mask, output_attentions)`` and returns
    ``(hidden_states, attention weights or None)``. This module collects the hidden states
    (the input first) and attentions when asked, hands each layer its row of the head mask,
    prunes heads layer by layer, and recomputes layers in the backward pass while
    ``gradient_checkpointing`` is on (see :func:`call_layer`).

    ``list_name`` is what the checkpoints call the list of layers (``layer`` in BERT and
    DistilBERT, ``layers`` in Wav2Vec2). ``layerdrop`` > 0 skips each layer with that
    probability while training (LayerDrop, https://arxiv.org/abs/1909.11556); a skipped layer
    passes its input on, which is then also its entry in the hidden states (its attention
    entry is None), so the hidden states always number ``layers + 1``.
    """

    def __init__(self, layers: Iterable[nn.Module], *, list_name: str = "layer", layerdrop: float = 0.0) -> None:
        super().__init__()
        self.list_name = list_name
        setattr(self, list_name, nn.ModuleList(layers))
        self.layerdrop = layerdrop
        self.gradient_checkpointing = False

    def stack(self) -> nn.ModuleList:
        """The list of layers, whatever ``list_name`` calls it."""
        return getattr(self, self.list_name)

    def forward(
        self,
        hidden_states: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        head_mask: torch.Tensor | None = None,
        output_attentions: bool = False,
        output_hidden_states: bool = False,
    ) -> BaseModelOutput:
        mask = expand_attention_mask(attention_mask, tuple(hidden_states.shape[:2]))
        if head_mask is not None:
            head_mask = head_mask.to(hidden_states.dtype)
        all_hidden = (hidden_states,) if output_hidden_states else None
        all_attentions = () if output_attentions else None
        stack = self.stack()
        head_masks = expand_head_mask(head_mask, len(stack))
        checkpointing = self.gradient_checkpointing and self.training
        dropping = self.training and self.layerdrop > 0.0
        for layer, layer_head_mask in zip(stack, head_masks):
            if dropping and bool(torch.rand([]) < self.layerdrop):
                weights = None
            else:
                hidden_states, weights = call_layer(
                    layer, hidden_states, mask, layer_head_mask, output_attentions, checkpointing=checkpointing
                )
            if output_hidden_states:
                all_hidden += (hidden_states,)
            if output_attentions:
                all_attentions += (weights,)
        return BaseModelOutput(last_hidden_state=hidden_states, hidden_states=all_hidden, attentions=all_attentions)

    def prune_heads(self, heads_to_prune: dict[int, Iterable[int]]) -> None:
        """``{layer: heads}``: each layer prunes itself (its ``prune_heads``, or its ``attention``'s)."""
        for index, heads in heads_to_prune.items():
            layer = self.stack()[int(index)]
            (layer if hasattr(layer, "prune_heads") else layer.attention).prune_heads(heads)


class Pooler(nn.Module):
    """``activation(dense(first position))``: the sentence (or image) vector of BERT and ViT."""

    def __init__(self, hidden_size: int, *, output_size: int | None = None, activation: str = "tanh") -> None:
        super().__init__()
        self.dense = nn.Linear(hidden_size, output_size or hidden_size)
        self.activation = get_activation(activation)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return self.activation(self.dense(hidden_states[:, 0]))


# ---- images ---------------------------------------------------------------------------------
class PatchEmbeddings(nn.Module):
    """``(batch, channels, height, width)`` images -> ``(batch, patches, hidden)``: a strided convolution.

    ``projection`` (a Conv2d whose kernel and stride are the patch size) embeds each
    non-overlapping patch; patches are read row by row. ``image_size`` is the size the model
    was built for (its position table's grid, :attr:`grid`); other sizes are the caller's
    business (ViT interpolates its positions). The pixels are checked first
    (:func:`polyformer.core.inputs.check_pixel_values`) and cast to the weights' dtype.
    """

    def __init__(self, image_size, patch_size, num_channels: int, hidden_size: int) -> None:
        super().__init__()
        self.image_size, self.patch_size = to_pair(image_size), to_pair(patch_size)
        self.num_channels = num_channels
        self.grid = patch_grid(self.image_size, self.patch_size)
        self.num_patches = self.grid[0] * self.grid[1]
        self.projection = nn.Conv2d(num_channels, hidden_size, kernel_size=self.patch_size, stride=self.patch_size)

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        inputs.check_pixel_values(input_facts("pixel_values", pixel_values, values=False), self.num_channels,
                                  self.patch_size)
        pixel_values = pixel_values.to(self.projection.weight.dtype)
        return self.projection(pixel_values).flatten(2).transpose(1, 2)


# ---- speech ---------------------------------------------------------------------------------
#: What a :class:`ConvLayer` may normalise with (None: nothing).
CONV_NORMS = (None, "group", "layer")


class ConvLayer(nn.Module):
    """``activation(norm(conv(x)))`` on ``(batch, time, channels)``: one layer of a convolutional feature encoder.

    ``norm`` is None, ``"group"`` (a GroupNorm with one group per channel: each channel is
    normalised over time, as wav2vec2-base's first layer does) or ``"layer"`` (a LayerNorm over
    the channels of each frame). Attribute names are the checkpoints': ``conv`` (a Conv1d, its
    weight ``(out, in, kernel)``), ``layer_norm``.

    Frames are kept time-major, ``(batch, time, channels)``, as the transformer reads them (and
    as Keras and Flax lay out convolutions): PyTorch's convolution kernels then read and write
    them in place, where ``(batch, channels, time)`` makes them reorder every layer's input into a
    copy (for wav2vec2-base on four 10 s clips: 40% less peak memory, and faster).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int, *, bias: bool = False,
                 norm: str | None = None, activation: str = "gelu", layer_norm_eps: float = 1e-5) -> None:
        super().__init__()
        if norm not in CONV_NORMS:
            raise ValueError(f"ConvLayer norm must be one of {CONV_NORMS}, got {norm!r}")
        self.norm = norm
        self.conv = nn.Conv1d(in_channels, out_channels, kernel_size=kernel_size, stride=stride, bias=bias)
        self.conv.init_std = (2 / (in_channels * kernel_size)) ** 0.5  # He's: the spread that keeps GELU stacks' variance
        if norm == "group":
            self.layer_norm = nn.GroupNorm(out_channels, out_channels, eps=layer_norm_eps)
        elif norm == "layer":
            self.layer_norm = nn.LayerNorm(out_channels, eps=layer_norm_eps)
        else:
            self.layer_norm = None
        self.activation = get_activation(activation)

    def output_lengths(self, lengths):
        return conv_output_length(lengths, self.conv.kernel_size, self.conv.stride)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        """``(batch, time, in_channels)`` -> ``(batch, frames, out_channels)``."""
        hidden_states = self.convolve(hidden_states)
        if self.norm == "group":
            hidden_states = self.group_norm(hidden_states)
        elif self.norm == "layer":
            hidden_states = self.layer_norm(hidden_states)
        # Without autograd the activation may overwrite the fresh buffer (a whole clip's channels).
        return self.activation(hidden_states, inplace=not torch.is_grad_enabled())

    def convolve(self, hidden_states: torch.Tensor) -> torch.Tensor:
        """``conv`` over time, time-major in and out.

        With one input channel (the waveform) it is the product of the signal's windows (a
        strided view, no copy) with the weights ``(kernel, out)``: PyTorch's convolution kernels
        are slow for a single input channel (1.7x slower for wav2vec2-base's first layer).
        Otherwise a 2-D convolution over a height-1 image in channels-last layout, which is
        exactly ``(batch, time, channels)`` in memory.
        """
        conv = self.conv
        (kernel,), (stride,) = conv.kernel_size, conv.stride
        if conv.in_channels == 1:
            signal = hidden_states[..., 0].contiguous()
            frames = (signal.shape[1] - kernel) // stride + 1
            windows = signal.as_strided((signal.shape[0], frames, kernel), (signal.stride(0), stride, 1))
            output = torch.matmul(windows, conv.weight.view(conv.out_channels, kernel).t())
            return output if conv.bias is None else output.add_(conv.bias)
        image = hidden_states.transpose(1, 2).unsqueeze(2)  # (batch, channels, 1, time), channels-last in memory
        output = F.conv2d(image, conv.weight.unsqueeze(2), conv.bias, stride=(1, stride))
        return output.squeeze(2).transpose(1, 2)

    def group_norm(self, hidden_states: torch.Tensor) -> torch.Tensor:
        """Each channel normalised over time; without autograd, in place.

        The in-place form takes the same statistics (the mean, then the spread about it) and
        spares a second buffer as large as the layer's output (262 MB for wav2vec2-base's first
        layer on four 10 s clips).
        """
        norm = self.layer_norm
        if torch.is_grad_enabled() or hidden_states.dtype not in (torch.float32, torch.float64):
            return norm(hidden_states.transpose(1, 2)).transpose(1, 2)
        frames = hidden_states.shape[1]
        hidden_states = hidden_states.sub_(hidden_states.mean(dim=1, keepdim=True))
        # Squares summed a few thousand frames at a time: a small temporary, and PyTorch's norm kernels
        # are slow (2.6x) reducing over the time axis of a time-major tensor.
        squares = sum(torch.linalg.vecdot(part, part, dim=1) for part in hidden_states.split(4096, dim=1))
        variance = (squares / frames)[:, None, :]
        return hidden_states.mul_(norm.weight * torch.rsqrt(variance + norm.eps)).add_(norm.bias)


class ConvFeatureEncoder(nn.Module):
    """Raw waveforms ``(batch, samples)`` -> features ``(batch, frames, conv_dim[-1])``: a stack of :class:`ConvLayer`.

    One layer per entry of ``conv_dim`` / ``conv_kernel`` / ``conv_stride`` (``conv_layers.0``...).
    ``norm="group"`` puts a per-channel GroupNorm on the first layer only (wav2vec2-base);
    ``norm="layer"`` a LayerNorm on every layer (wav2vec2-large-lv60). :meth:`output_lengths`
    gives the frames of a waveform length, :attr:`receptive_field` the fewest samples that make a
    frame; :meth:`check_inputs` refuses shorter audio with an error naming that minimum.
    """

    def __init__(self, conv_dim: Iterable[int], conv_kernel: Iterable[int], conv_stride: Iterable[int], *,
                 bias: bool = False, norm: str = "group", activation: str = "gelu") -> None:
        super().__init__()
        conv_dim, self.conv_kernel, self.conv_stride = list(conv_dim), list(conv_kernel), list(conv_stride)
        if norm not in ("group", "layer"):
            raise ValueError(f"ConvFeatureEncoder norm must be 'group' or 'layer', got {norm!r}")
        if not len(conv_dim) == len(self.conv_kernel) == len(self.conv_stride):
            raise ValueError("conv_dim, conv_kernel and conv_stride need one entry per layer")
        channels = [1] + conv_dim
        self.conv_layers = nn.ModuleList(
            ConvLayer(channels[i], channels[i + 1], self.conv_kernel[i], self.conv_stride[i], bias=bias,
                      norm=("group" if i == 0 else None) if norm == "group" else "layer", activation=activation)
            for i in range(len(conv_dim))
        )
        self.gradient_checkpointing = False

    @property
    def receptive_field(self) -> int:
        """The fewest samples that make one frame (400 for wav2vec2-base: 25 ms at 16 kHz)."""
        return conv_receptive_field(self.conv_kernel, self.conv_stride)

    def output_lengths(self, lengths):
        """Frames for waveforms of ``lengths`` samples (an int or an integer tensor)."""
        return conv_output_length(lengths, self.conv_kernel, self.conv_stride)

    def check_inputs(self, input_values: torch.Tensor | None, attention_mask: torch.Tensor | None = None) -> None:
        """Waveforms ``(batch, samples)`` of floats, each at least :attr:`receptive_field` samples long."""
        where = f"conv_kernel={self.conv_kernel}, conv_stride={self.conv_stride}"
        inputs.check_input_values(input_facts("input_values", input_values, values=False), self.receptive_field, where)
        if attention_mask is not None:
            mask = input_facts("attention_mask", attention_mask)
            inputs.check_attention_mask(mask, tuple(input_values.shape))
            inputs.check_audio_lengths(mask, self.receptive_field, where)

    def forward(self, input_values: torch.Tensor) -> torch.Tensor:
        hidden_states = input_values.to(self.conv_layers[0].conv.weight.dtype)[..., None]
        checkpointing = self.gradient_checkpointing and self.training
        for layer in self.conv_layers:
            hidden_states = call_layer(layer, hidden_states, checkpointing=checkpointing)
        return hidden_states


class PositionalConvEmbedding(nn.Module):
    """Relative positions for speech frames: ``activation(conv(x))`` over time, ``(batch, time, hidden)`` in and out.

    ``conv`` is a grouped Conv1d (``groups`` groups, ``kernel_size`` wide, padded to keep the
    length) whose weight is normalised per kernel position: ``weight = g * v / ||v||``, ``g``
    ``(1, 1, kernel_size)``, the norm over the other two axes. It is PyTorch's weight-norm
    parametrization, so the weights are named as transformers writes them today:
    ``conv.parametrizations.weight.original0`` (``g``) and ``...original1`` (``v``). An even
    kernel gives one frame too many, which is dropped from the end. Run time-major, as
    :class:`ConvLayer`.
    """

    def __init__(self, hidden_size: int, kernel_size: int, groups: int, *, activation: str = "gelu") -> None:
        super().__init__()
        conv = nn.Conv1d(hidden_size, hidden_size, kernel_size=kernel_size, padding=kernel_size // 2, groups=groups)
        self.conv = nn.utils.parametrizations.weight_norm(conv, name="weight", dim=2)
        # Initial spread of v (fairseq's): the weights are then about the size that keeps the variance.
        self.conv.parametrizations.weight.init_std = 2 * (1 / (kernel_size * hidden_size)) ** 0.5
        self.trim = 1 if kernel_size % 2 == 0 else 0
        self.activation = get_activation(activation)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        conv = self.conv
        image = hidden_states.transpose(1, 2).unsqueeze(2)  # (batch, hidden, 1, time), channels-last in memory
        output = F.conv2d(image, conv.weight.unsqueeze(2), conv.bias, padding=(0, conv.padding[0]), groups=conv.groups)
        output = output.squeeze(2).transpose(1, 2)
        if self.trim:
            output = output[:, : -self.trim]
        return self.activation(output, inplace=not torch.is_grad_enabled())


class TDNNLayer(nn.Module):
    """A time-delay layer: a dilated 1-D convolution over ``(batch, time, in_dim)``, then ``activation``.

    The convolution's weight is stored as a linear, ``kernel`` ``(out_dim, kernel_size * in_dim)``,
    as x-vector checkpoints hold it. ``time`` shrinks by ``dilation * (kernel_size - 1)``
    (:meth:`output_lengths`).
    """

    def __init__(self, in_dim: int, out_dim: int, kernel_size: int, *, dilation: int = 1,
                 activation: str = "relu") -> None:
        super().__init__()
        self.in_dim, self.out_dim, self.kernel_size, self.dilation = in_dim, out_dim, kernel_size, dilation
        self.kernel = nn.Linear(in_dim * kernel_size, out_dim)
        self.activation = get_activation(activation)

    def output_lengths(self, lengths):
        return lengths - self.dilation * (self.kernel_size - 1)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        weight = self.kernel.weight.view(self.out_dim, self.kernel_size, self.in_dim).transpose(1, 2)
        hidden_states = F.conv1d(hidden_states.transpose(1, 2), weight, self.kernel.bias, dilation=self.dilation)
        return self.activation(hidden_states.transpose(1, 2))


# ---- multiple choice --------------------------------------------------------------------------
def check_choice_inputs(main_input_name: str, model_inputs: dict) -> None:
    """Multiple-choice inputs are ``(batch, num_choices, ...)``: a clear error otherwise."""
    others = [input_facts(name, value, values=False) for name, value in model_inputs.items()
              if name not in (main_input_name, "inputs_embeds", "position_ids", "head_mask")
              and isinstance(value, torch.Tensor)]
    inputs.check_choice_inputs(
        input_facts(main_input_name, model_inputs.get(main_input_name), values=False),
        input_facts("inputs_embeds", model_inputs.get("inputs_embeds"), values=False),
        *others,
    )


# ---- init -----------------------------------------------------------------------------
@torch.no_grad()
def init_module(module: nn.Module, std: float, only: set[str] | None = None) -> None:
    """Hugging Face initialisation of one module's own tensors.

    Linear and Conv1d/2d: weight ~ N(0, std), bias 0; Embedding: N(0, std) and the ``padding_idx`` row
    0 (a ``sinusoidal`` one: the fixed sin/cos table); LayerNorm and GroupNorm: weight 1, bias 0; a
    weight-normalised weight: ``v`` ~ N(0, its ``init_std`` or ``std``) and ``g = ||v||`` (so the
    weight starts equal to ``v``); a module with an ``init_own_weights(std, only)`` method: that
    method. A module with an ``init_std`` attribute is drawn with that spread instead of ``std``.
    ``only`` restricts it to some local parameter names
    (``{"bias"}``), so that loading initialises just the weights the checkpoint lacked.
    """

    def wanted(name: str) -> bool:
        return getattr(module, name, None) is not None and (only is None or name in only)

    std = getattr(module, "init_std", std)  # a module may carry its own spread (a quantiser's projection)
    own = getattr(module, "init_own_weights", None)
    if own is not None:  # a module that knows its own initialisation (e.g. a loss with a learned weight)
        own(std, only)
    elif isinstance(module, nn.Linear):
        if wanted("weight"):
            module.weight.normal_(0.0, std)
        if wanted("bias"):
            module.bias.zero_()
    elif isinstance(module, nn.Embedding):
        if wanted("weight") and getattr(module, "sinusoidal", False):
            module.weight.copy_(torch.from_numpy(sinusoidal_table(module.num_embeddings, module.embedding_dim)))
        elif wanted("weight"):
            module.weight.normal_(0.0, std)
            if module.padding_idx is not None:
                module.weight[module.padding_idx].zero_()
    elif isinstance(module, (nn.Conv1d, nn.Conv2d)):
        if wanted("weight") and not parametrize.is_parametrized(module, "weight"):  # else: its originals, below
            module.weight.normal_(0.0, std)
        if wanted("bias"):
            module.bias.zero_()
    elif isinstance(module, parametrize.ParametrizationList):
        _init_parametrized_weight(module, std, only)
    elif isinstance(module, (nn.GroupNorm,)):
        if wanted("weight"):
            module.weight.fill_(1.0)
        if wanted("bias"):
            module.bias.zero_()
    elif isinstance(module, nn.LayerNorm):
        if wanted("weight"):
            module.weight.fill_(1.0)
        if wanted("bias"):
            module.bias.zero_()


def _init_parametrized_weight(originals: parametrize.ParametrizationList, std: float, only: set[str] | None) -> None:
    """Weight norm's ``original0`` (g) and ``original1`` (v): v drawn, g its norm, as the parametrization splits a weight."""
    if not hasattr(originals, "original1"):  # a parametrization of one tensor: draw it
        if only is None or "original" in only:
            originals.original.normal_(0.0, std)
        return
    want_g, want_v = only is None or "original0" in only, only is None or "original1" in only
    if want_v:
        originals.original1.normal_(0.0, std)
    if want_g:  # right_inverse splits a weight into (g, v) = (||w||, w): with w = v, v stays and g becomes its norm
        originals.right_inverse(originals.original1.detach().clone())


# ---- resizing -------------------------------------------------------------------------
@torch.no_grad()
def resize_embedding(embedding: nn.Embedding, new_num: int, std: float) -> nn.Embedding:
    """A new Embedding with ``new_num`` rows: the old rows kept, new rows ~ N(0, std)."""
    old_num, dim = embedding.weight.shape
    weight = embedding.weight
    new = nn.Embedding(new_num, dim, padding_idx=embedding.padding_idx, device=weight.device, dtype=weight.dtype)
    new.weight.normal_(0.0, std)
    keep = min(old_num, new_num)
    new.weight[:keep] = weight[:keep]
    if new.padding_idx is not None and new.padding_idx >= new_num:
        new.padding_idx = None
    new.weight.requires_grad_(weight.requires_grad)
    return new


@torch.no_grad()
def resize_linear_out(layer: nn.Linear, new_out: int, std: float, weight: nn.Parameter | None = None) -> nn.Linear:
    """Resize a Linear's outputs (e.g. an untied vocabulary projection) keeping the old rows.

    New weight rows ~ N(0, std) and new bias entries 0. Pass ``weight`` to share an
    existing parameter (a tied embedding) instead of making a new weight.
    """
    old_out = layer.out_features
    keep = min(old_out, new_out)
    ref = layer.weight
    new = nn.Linear(layer.in_features, new_out, bias=layer.bias is not None, device=ref.device, dtype=ref.dtype)
    if weight is not None:
        new.weight = weight
    else:
        new.weight.normal_(0.0, std)
        new.weight[:keep] = ref[:keep]
    if layer.bias is not None:
        new.bias.zero_()
        new.bias[:keep] = layer.bias[:keep]
    return new


# ---- gradient checkpointing --------------------------------------------------------------
def call_layer(layer: nn.Module, *args, checkpointing: bool = False):
    """Run ``layer(*args)``, recomputing its activations in the backward pass when asked.

    Encoders call this in their layer loop with ``checkpointing=self.gradient_checkpointing
    and self.training``: memory drops to one layer's activations, gradients are the same
    (the RNG state is replayed, so dropout masks match).
    """
    if checkpointing and torch.is_grad_enabled():
        from torch.utils.checkpoint import checkpoint

        return checkpoint(layer, *args, use_reentrant=False)
    return layer(*args)
