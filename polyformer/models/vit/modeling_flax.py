"""ViT (Vision Transformer) in Flax (``flax.linen``): the base model, image classification, masked image modelling.

Submodule paths are the ``transformers`` tensor names (``vit.embeddings.cls_token``,
``vit.embeddings.patch_embeddings.projection``, ``vit.encoder.layer.0.attention.attention.query``,
``...attention.output.dense``, ``...intermediate.dense``, ``...output.dense``, ``...layernorm_before``,
``...layernorm_after``, ``vit.layernorm``, ``vit.pooler.dense``, ``classifier``, ``decoder.0``), so
checkpoints move between this model, transformers' PyTorch ViT and polyformer's PyTorch and Keras
ViT unchanged. Images are ``(batch, channels, height, width)``, as the image processor makes them
and as PyTorch takes them; so is the masked-image-modelling reconstruction.

What is written here is ViT's own, as in :mod:`polyformer.models.vit.modeling_torch`: the
embeddings (class token, learned positions that are resized bicubically for other image sizes, a
mask token for masked image modelling), its pre-norm layer, the SimMIM decoder and its
initialisation; the blocks and the heads come from the backend. Shapes are static under ``jit``:
the position grid follows from the input's shape, and ``interpolate_pos_encoding`` is a Python
bool (the model object keeps it out of the traced arrays; with ``module.apply`` under ``jax.jit``
pass it as a static argument).

``FlaxViT...`` are the user-facing models (config + module + params); ``model.module`` is the
stateless ``flax.linen`` module (``FlaxViTModule``, ``FlaxViTForImageClassificationModule``...) for
``module.apply`` in your own training loop.
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from ...backends.flax import heads, layers
from ...backends.flax.modeling import BaseModule, FlaxPreTrainedModel
from ...core import inputs as core_inputs
from ...core.numerics import bicubic_resize_matrix, patch_grid, pruned_heads_of_layer, to_pair
from ...core.outputs import BaseModelOutputWithPooling, MaskedImageModelingOutput
from .configuration import ViTConfig

__all__ = [
    "FlaxViTPreTrainedModel",
    "FlaxViTModel",
    "FlaxViTForImageClassification",
    "FlaxViTForMaskedImageModeling",
    "FlaxViTModule",
    "FlaxViTForImageClassificationModule",
    "FlaxViTForMaskedImageModelingModule",
]


def _common(module: BaseModule) -> dict:
    """The arguments every block takes from the model: weight init scale and dtype."""
    return dict(initializer_range=module.config.initializer_range, dtype=module.dtype)


def resize_positions(table: jax.Array, trained: tuple[int, int], grid: tuple[int, int]) -> jax.Array:
    """The ``(1, 1 + patches, dim)`` position table for a ``(rows, columns)`` patch grid.

    The learned table as it is on the grid it was trained for; else its patch rows resized
    bicubically to the new grid (the class token's row is kept), with the numbers PyTorch's
    ``F.interpolate(mode="bicubic", align_corners=False)`` gives: two matrix products
    (:func:`polyformer.core.numerics.bicubic_resize_matrix`), one per axis.
    """
    if tuple(grid) == tuple(trained):
        return table
    dim = table.shape[-1]
    patches = table[0, 1:].reshape(*trained, dim)
    along_rows = jnp.asarray(bicubic_resize_matrix(trained[0], grid[0]), table.dtype)
    along_columns = jnp.asarray(bicubic_resize_matrix(trained[1], grid[1]), table.dtype)
    resized = jnp.einsum("ir,rcd->icd", along_rows, patches)
    resized = jnp.einsum("jc,icd->ijd", along_columns, resized)
    return jnp.concatenate([table[:, :1], resized.reshape(1, grid[0] * grid[1], dim)], axis=1)


def pixel_shuffle(x: jax.Array, factor: int) -> jax.Array:
    """``(batch, rows, columns, channels * factor**2)`` -> ``(batch, channels, rows * factor, columns * factor)``.

    PyTorch's ``nn.PixelShuffle`` on channels-last input: output pixel ``(r * factor + i, c * factor + j)``
    of channel ``k`` is input channel ``k * factor**2 + i * factor + j`` at ``(r, c)``.
    """
    batch, rows, columns, depth = x.shape
    channels = depth // (factor * factor)
    x = x.reshape(batch, rows, columns, channels, factor, factor)
    return x.transpose(0, 3, 1, 4, 2, 5).reshape(batch, channels, rows * factor, columns * factor)


# ---- building blocks ----------------------------------------------------------------
class FlaxViTEmbeddings(BaseModule):
    """Patch embeddings, a class token in front, learned positions added, dropout.

    ``bool_masked_pos`` ``(batch, patches)`` replaces the masked patches' embeddings by
    ``mask_token`` (masked image modelling). Images of another size than ``config.image_size``
    need ``interpolate_pos_encoding=True``: the patch positions are resized bicubically to the
    new grid, as transformers does (the class token's position is kept).
    """

    use_mask_token: bool = False

    @nn.compact
    def __call__(self, pixel_values, bool_masked_pos=None, interpolate_pos_encoding=False, deterministic=True):
        c = self.config
        # transformers' ViT init: truncated normal for the class token and positions, zeros for the mask token.
        token_init = layers.truncated_normal_init(c.initializer_range)
        patch_embeddings = layers.PatchEmbeddings(c.image_size, c.patch_size, c.num_channels, c.hidden_size,
                                                  **_common(self), name="patch_embeddings")
        cls_token = self.param("cls_token", token_init, (1, 1, c.hidden_size), self.dtype)
        mask_token = (self.param("mask_token", layers.zeros_init(), (1, 1, c.hidden_size), self.dtype)
                      if self.use_mask_token else None)
        position_embeddings = self.param("position_embeddings", token_init,
                                         (1, patch_embeddings.num_patches + 1, c.hidden_size), self.dtype)

        embeddings = patch_embeddings(pixel_values)
        batch, patches, hidden = embeddings.shape
        if bool_masked_pos is not None:
            if mask_token is None:
                raise ValueError("bool_masked_pos needs a model with a mask token (FlaxViTForMaskedImageModeling)")
            if jnp.shape(bool_masked_pos) != (batch, patches):
                raise ValueError(f"bool_masked_pos has shape {jnp.shape(bool_masked_pos)}, but the images have "
                                 f"{patches} patches: expected (batch, num_patches) = ({batch}, {patches})")
            mask = jnp.asarray(bool_masked_pos)[..., None].astype(embeddings.dtype)
            embeddings = embeddings * (1.0 - mask) + mask_token * mask
        embeddings = jnp.concatenate([jnp.broadcast_to(cls_token, (batch, 1, hidden)), embeddings], axis=1)
        size = jnp.shape(pixel_values)[-2:]
        if size != patch_embeddings.image_size and not interpolate_pos_encoding:
            height, width = patch_embeddings.image_size
            raise ValueError(
                f"Input image size ({size[0]}*{size[1]}) doesn't match model ({height}*{width}): resize the images "
                f"(the image processor does), or pass interpolate_pos_encoding=True to resize the position embeddings"
            )
        positions = resize_positions(position_embeddings, patch_embeddings.grid,
                                     patch_grid(size, patch_embeddings.patch_size))
        return nn.Dropout(rate=c.hidden_dropout_prob)(embeddings + positions, deterministic=deterministic)


class FlaxViTLayer(BaseModule):
    """One pre-norm layer: ``x + attention(layernorm_before(x))``, then ``x + mlp(layernorm_after(x))``."""

    index: int = 0

    def setup(self):
        c = self.config
        self.attention = layers.AttentionBlock(
            c.hidden_size, c.num_attention_heads, pruned_heads=pruned_heads_of_layer(c, self.index),
            attention_dropout=c.attention_probs_dropout_prob, dropout=c.hidden_dropout_prob, layer_norm=False,
            bias=c.qkv_bias, self_name="attention", **_common(self),
        )
        self.intermediate = layers.Intermediate(c.hidden_size, c.intermediate_size, c.hidden_act, **_common(self))
        self.output = layers.DenseAddNorm(c.intermediate_size, c.hidden_size, dropout=c.hidden_dropout_prob,
                                          layer_norm=False, **_common(self))
        self.layernorm_before = layers.layer_norm(c.layer_norm_eps, self.dtype)
        self.layernorm_after = layers.layer_norm(c.layer_norm_eps, self.dtype)

    def __call__(self, hidden_states, mask=None, head_mask=None, output_attentions=False, deterministic=True):
        attended, weights = self.attention(self.layernorm_before(hidden_states), mask, head_mask, output_attentions,
                                           residual=hidden_states, deterministic=deterministic)
        output = self.output(self.intermediate(self.layernorm_after(attended)), attended, deterministic=deterministic)
        return output, weights


class FlaxViTDecoder(BaseModule):
    """SimMIM's decoder: a 1x1 convolution to ``encoder_stride**2 * num_channels``, then a pixel shuffle.

    The convolution is named ``0``, so that its parameters are ``decoder.0.*``, as the items of
    PyTorch's ``nn.Sequential(Conv2d, PixelShuffle)`` are named.
    """

    @nn.compact
    def __call__(self, grid: jax.Array) -> jax.Array:
        """``(batch, rows, columns, hidden)`` patch states -> ``(batch, channels, rows * stride, columns * stride)``."""
        c = self.config
        conv = nn.Conv(c.encoder_stride**2 * c.num_channels, kernel_size=(1, 1),
                       kernel_init=layers.normal_init(c.initializer_range), bias_init=layers.zeros_init(),
                       dtype=self.dtype, param_dtype=self.dtype, name="0")
        return pixel_shuffle(conv(grid), c.encoder_stride)


# ---- models -------------------------------------------------------------------------
class FlaxViTModule(BaseModule):
    """The encoder: hidden states of the class token and every patch, and optionally the pooled class token.

    ``add_pooling_layer=False`` leaves the pooler out (the heads do); ``use_mask_token=True``
    adds the mask token masked image modelling needs.
    """

    add_pooling_layer: bool = True
    use_mask_token: bool = False

    def setup(self):
        c = self.config
        self.embeddings = FlaxViTEmbeddings(c, self.dtype, use_mask_token=self.use_mask_token)
        self.encoder = layers.Encoder(FlaxViTLayer(c, self.dtype, index) for index in range(c.num_hidden_layers))
        self.layernorm = layers.layer_norm(c.layer_norm_eps, self.dtype)
        self.pooler = (layers.Pooler(c.hidden_size, output_size=c.pooler_output_size, activation=c.pooler_act,
                                     **_common(self)) if self.add_pooling_layer else None)

    def __call__(self, pixel_values=None, bool_masked_pos=None, head_mask=None, interpolate_pos_encoding=None,
                 train=False, output_attentions=None, output_hidden_states=None, return_dict=None):
        """The hidden states of the class token and every patch, and the pooled output if the model has a pooler.

        Args:
            pixel_values: ``(batch, channels, height, width)`` as the image processor makes them.
            bool_masked_pos: ``(batch, patches)``: True for the patches replaced by the mask token.
            head_mask: ``(heads,)`` or ``(layers, heads)``: 1 keeps an attention head, 0 masks it out.
            interpolate_pos_encoding: interpolate the position embeddings to an image size other than the config's.
            train: dropout on.
            output_attentions: also return each layer's attention weights (None: the config's value).
            output_hidden_states: also return the hidden states after the embeddings and each layer
                (None: the config's value).
            return_dict: return the output dataclass, or False for a tuple of its non-None fields
                (None: the config's value).
        """
        output_attentions, output_hidden_states, return_dict = self.resolve_output_flags(
            output_attentions, output_hidden_states, return_dict
        )
        if isinstance(interpolate_pos_encoding, jax.core.Tracer):  # it decides shapes: it cannot be traced
            raise TypeError("interpolate_pos_encoding must be a Python bool, got a traced array: under jax.jit, "
                            "pass it as a static argument (static_argnames)")
        embeddings = self.embeddings(pixel_values, bool_masked_pos, bool(interpolate_pos_encoding),
                                     deterministic=not train)
        encoded = self.encoder(embeddings, None, head_mask, output_attentions, output_hidden_states,
                               deterministic=not train)
        sequence_output = self.layernorm(encoded.last_hidden_state)
        output = BaseModelOutputWithPooling(
            last_hidden_state=sequence_output,
            pooler_output=self.pooler(sequence_output) if self.pooler is not None else None,
            hidden_states=encoded.hidden_states,
            attentions=encoded.attentions,
        )
        return output if return_dict else output.to_tuple()


class FlaxViTPreTrainedModel(FlaxPreTrainedModel):
    """Shared by every ViT model: config class, weight prefix, main input, initialisation, the base model of heads.

    Initialisation is transformers' (PyTorch ViT's ``_init_weights``): truncated normal for every
    Linear and convolution kernel, the class token and the positions; zeros for the mask token
    and the biases; LayerNorms at one. A fresh model draws these with numpy. ``module.init``
    (JAX) draws the backend's shared Dense layers from the plain normal they are built with,
    which is the same distribution unless ``initializer_range`` comes near the absolute bound 2.
    """

    config_class = ViTConfig
    base_model_prefix = "vit"
    main_input_name = "pixel_values"

    def make_base_model(self, config: ViTConfig) -> FlaxViTModule:
        # ``self`` is the head's linen module: masked image modelling (a reconstruction) needs the mask token.
        return FlaxViTModule(config, self.dtype, add_pooling_layer=False,
                             use_mask_token=issubclass(self.output_class, MaskedImageModelingOutput))

    def _abstract_params(self) -> dict:
        abstract = super()._abstract_params()
        std = self.config.initializer_range
        for path in self._initializers:
            if path[-1] == "kernel":  # every Linear and convolution weight, the shared blocks' too
                self._initializers[path] = layers.truncated_normal_init(std)
        return abstract

    def _check_inputs_before_jit(self, facts: dict[str, core_inputs.Facts]) -> None:
        """The pixels as the user gave them (a dtype JAX cannot take fails clearly, not inside ``jnp.asarray``)."""
        super()._check_inputs_before_jit(facts)
        core_inputs.check_pixel_values(facts.get("pixel_values"), self.config.num_channels, to_pair(self.config.patch_size))


class FlaxViTModel(FlaxViTPreTrainedModel):
    """``FlaxViTModel(config, add_pooling_layer=False, use_mask_token=True)`` (or in ``from_pretrained``) sets the options."""

    module_class = FlaxViTModule
    module_options = {"add_pooling_layer": True, "use_mask_token": False}


class FlaxViTForImageClassification(heads.ForImageClassification, FlaxViTPreTrainedModel):
    """A linear classifier on the final class token (the image's label or score)."""


class FlaxViTForMaskedImageModeling(heads.ForMaskedImageModeling, FlaxViTPreTrainedModel):
    """SimMIM: reconstruct the pixels from every patch's final state (1x1 conv, then pixel shuffle).

    Give ``bool_masked_pos`` ``(batch, patches)`` for the loss: the L1 error on the masked patches.
    """

    def build_head(self, config: ViTConfig) -> None:
        self.decoder = FlaxViTDecoder(config, self.dtype)

    def reconstruct(self, base_output, inputs) -> jax.Array:
        patches = base_output.last_hidden_state[:, 1:]
        rows, columns = patch_grid(tuple(inputs["pixel_values"].shape[-2:]), to_pair(self.config.patch_size))
        return self.decoder(patches.reshape(patches.shape[0], rows, columns, patches.shape[-1]))


# The heads' linen modules (made from the classes above), under their public names.
FlaxViTForImageClassificationModule = FlaxViTForImageClassification.module_class
FlaxViTForMaskedImageModelingModule = FlaxViTForMaskedImageModeling.module_class
