"""ViT (Vision Transformer) in Keras 3 (on TensorFlow): the base model, image classification, masked image modelling.

The same computation and weight names as the PyTorch ViT (:mod:`.modeling_torch`) and
``transformers``' checkpoints: each layer's attributes are named as the PyTorch modules are
(``vit.embeddings.cls_token``, ``vit.embeddings.patch_embeddings.projection``,
``vit.encoder.layer.N.attention.attention.query``, ``...layernorm_before``, ``vit.pooler.dense``,
``classifier``, ``decoder.0``), which is all it takes for checkpoints to load and save in the
Hugging Face layout. Images are ``(batch, channels, height, width)``, as in PyTorch and as the
image processor makes them. The blocks (patch embeddings, attention, feed-forward halves,
encoder stack, pooler) come from :mod:`polyformer.backends.keras.layers` and the heads from
:mod:`polyformer.backends.keras.heads`; what is written here is ViT's own: its embeddings
(class token, learned positions that can be interpolated for other image sizes, the mask
token), its pre-norm layer, its initialisation and the SimMIM decoder.
"""

from __future__ import annotations

import numpy as np

from ...backends.keras import heads, layers
from ...backends.keras.layers import keras, ops
from ...backends.keras.modeling import TFPreTrainedModel
from ...core.numerics import bicubic_resize_matrix, patch_grid, pruned_heads_of_layer, to_pair
from ...core.outputs import BaseModelOutputWithPooling
from .configuration import ViTConfig

__all__ = [
    "TFViTPreTrainedModel",
    "TFViTModel",
    "TFViTForImageClassification",
    "TFViTForMaskedImageModeling",
]

#: The bounds of torch's ``trunc_normal_``, which transformers' ViT initialisation keeps: absolute
#: values, not multiples of the std (with the default std of 0.02 they are 100 std away).
TRUNCATION_BOUND = 2.0


def truncated_normal(values: np.ndarray, std: float) -> np.ndarray:
    """``values``, drawn from N(0, std), with every one outside [-2, 2] drawn again until none is.

    Rejection sampling: the result is a draw from N(0, std) truncated to [-2, 2], the
    distribution of ``torch.nn.init.trunc_normal_(std=std)``. So weights the shared layers
    already drew from N(0, std) become truncated-normal draws without drawing them all again.
    Drawn with numpy's global generator, so ``keras.utils.set_random_seed`` makes it repeatable.
    """
    values = np.array(values, dtype=np.float32)
    outside = np.abs(values) > TRUNCATION_BOUND
    while outside.any():
        values[outside] = np.random.normal(0.0, std, size=int(outside.sum()))
        outside = np.abs(values) > TRUNCATION_BOUND
    return values


def truncated_normal_initializer(std: float) -> layers.Initializer:
    """N(0, std) truncated to [-2, 2], as a Keras initializer (see :func:`truncated_normal`)."""

    def initialize(shape, dtype=None):
        return ops.cast(truncated_normal(np.random.normal(0.0, std, size=shape), std), dtype or "float32")

    return layers.skipped_when_loading(initialize)


class TFViTEmbeddings(layers.Block):
    """Patch embeddings, a class token in front, learned positions added, dropout.

    ``bool_masked_pos`` ``(batch, patches)`` replaces the masked patches' embeddings by
    ``mask_token`` (masked image modelling). Images of another size than ``config.image_size``
    need ``interpolate_pos_encoding=True``: the patch positions are resized bicubically to the
    new grid, with PyTorch's numbers (the class token's position is kept).
    """

    def __init__(self, config: ViTConfig, use_mask_token: bool = False, **kwargs) -> None:
        super().__init__(**kwargs)
        std, dim = self.initializer_range, config.hidden_size
        self.cls_token = layers.Parameter((1, 1, dim), initializer=truncated_normal_initializer(std),
                                          dtype=self.dtype_policy)
        self.mask_token = layers.Parameter((1, 1, dim), dtype=self.dtype_policy) if use_mask_token else None
        self.patch_embeddings = layers.PatchEmbeddings(config.image_size, config.patch_size, config.num_channels, dim,
                                                       **self.options)
        self.position_embeddings = layers.Parameter((1, self.patch_embeddings.num_patches + 1, dim),
                                                    initializer=truncated_normal_initializer(std),
                                                    dtype=self.dtype_policy)
        self.dropout = keras.layers.Dropout(config.hidden_dropout_prob, dtype=self.dtype_policy)

    def positions_for(self, grid: tuple[int, int]):
        """The position table for a ``(rows, columns)`` patch grid: the learned one, or it resized.

        The resize is PyTorch's bicubic interpolation (``align_corners=False``) written as two
        matrix products (:func:`polyformer.core.numerics.bicubic_resize_matrix`).
        """
        table = self.position_embeddings.variable
        trained = self.patch_embeddings.grid
        if grid == trained:
            return table
        dim = table.shape[-1]
        patches = ops.reshape(table[0, 1:], (*trained, dim))
        along_rows = ops.cast(bicubic_resize_matrix(trained[0], grid[0]), table.dtype)
        along_columns = ops.cast(bicubic_resize_matrix(trained[1], grid[1]), table.dtype)
        resized = ops.einsum("ij,jkd->ikd", along_rows, patches)
        resized = ops.einsum("lk,ikd->ild", along_columns, resized)
        return ops.concatenate([table[:, :1], ops.reshape(resized, (1, -1, dim))], axis=1)

    def call(self, pixel_values, bool_masked_pos=None, interpolate_pos_encoding=False):
        embeddings = self.patch_embeddings(pixel_values)
        batch, patches, dim = embeddings.shape
        if bool_masked_pos is not None:
            if self.mask_token is None:
                raise ValueError("bool_masked_pos needs a model with a mask token (ViTForMaskedImageModeling)")
            shape = tuple(bool_masked_pos.shape)
            if len(shape) != 2 or any(got is not None and want is not None and got != want
                                      for got, want in zip(shape, (batch, patches))):
                raise ValueError(f"bool_masked_pos has shape {shape}, but the images have {patches} patches: "
                                 f"expected (batch, num_patches) = ({batch}, {patches})")
            mask = ops.cast(bool_masked_pos, embeddings.dtype)[:, :, None]
            embeddings = embeddings * (1.0 - mask) + self.mask_token.variable * mask
        cls_tokens = ops.broadcast_to(self.cls_token.variable, (ops.shape(embeddings)[0], 1, dim))
        embeddings = ops.concatenate([cls_tokens, embeddings], axis=1)
        size = tuple(pixel_values.shape[-2:])
        if None in size:
            raise ValueError(f"pixel_values has shape {tuple(pixel_values.shape)}: ViT needs the images' height and "
                             f"width when the model is traced (to place the positions), so give them in the signature")
        if size != self.patch_embeddings.image_size and not interpolate_pos_encoding:
            height, width = self.patch_embeddings.image_size
            raise ValueError(
                f"Input image size ({size[0]}*{size[1]}) doesn't match model ({height}*{width}): resize the images "
                f"(the image processor does), or pass interpolate_pos_encoding=True to resize the position embeddings"
            )
        embeddings = embeddings + self.positions_for(patch_grid(size, self.patch_embeddings.patch_size))
        return self.dropout(embeddings)


class TFViTLayer(layers.Block):
    """One pre-norm layer: ``x + attention(layernorm_before(x))``, then ``x + mlp(layernorm_after(x))``."""

    def __init__(self, config: ViTConfig, index: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.attention = layers.AttentionBlock(
            config.hidden_size, config.num_attention_heads, pruned_heads=pruned_heads_of_layer(config, index),
            attention_dropout=config.attention_probs_dropout_prob, dropout=config.hidden_dropout_prob,
            layer_norm=False, bias=config.qkv_bias, self_name="attention", **self.options,
        )
        self.intermediate = layers.Intermediate(config.hidden_size, config.intermediate_size, config.hidden_act,
                                                **self.options)
        layers.set_layer(self, "output", layers.DenseAddNorm(config.intermediate_size, config.hidden_size,
                                                             dropout=config.hidden_dropout_prob, layer_norm=False,
                                                             **self.options))
        self.layernorm_before = layers.LayerNorm(config.hidden_size, eps=config.layer_norm_eps, dtype=self.dtype_policy)
        self.layernorm_after = layers.LayerNorm(config.hidden_size, eps=config.layer_norm_eps, dtype=self.dtype_policy)

    def call(self, hidden_states, mask=None, head_mask=None, output_attentions=False):
        attended, weights = self.attention(self.layernorm_before(hidden_states), mask=mask, head_mask=head_mask,
                                           output_attentions=output_attentions, residual=hidden_states)
        return self.output_(self.intermediate(self.layernorm_after(attended)), attended), weights


class TFViTPreTrainedModel(TFPreTrainedModel):
    """Shared by every ViT model: config class, weight prefix, main input, the base model of heads, initialisation."""

    config_class = ViTConfig
    base_model_prefix = "vit"
    main_input_name = "pixel_values"

    def make_base_model(self, config: ViTConfig) -> "TFViTModel":
        return TFViTModel(config, add_pooling_layer=False,
                          use_mask_token=isinstance(self, heads.ForMaskedImageModeling), dtype=self.dtype_policy)

    def post_init(self) -> None:
        """transformers' ViT init: linear and conv weights from N(0, std) truncated to [-2, 2].

        The shared Linear and Conv2d layers drew their weights from N(0, std): the few outside
        the bounds are drawn again (:func:`truncated_normal`), and the layers' initializer
        becomes the truncated normal, which ``init_weights`` and loading (for weights a
        checkpoint lacks) use. The class token and positions are drawn so from the start and
        the mask token is zeros (:class:`TFViTEmbeddings`).
        """
        std = self.config.initializer_range
        initializer = truncated_normal_initializer(std)
        for layer in layers.iter_layers(self):
            if isinstance(layer, (layers.Linear, layers.Conv2d)):
                layer._kernel_init = initializer  # the leaf's initializer, which its canonical weight hands out
                if layers.is_building_for_loading():
                    continue  # no values yet: the checkpoint's come next (or this initializer's, if it lacks them)
                values = ops.convert_to_numpy(layer.kernel)
                if (np.abs(values) > TRUNCATION_BOUND).any():
                    layer.kernel.assign(ops.cast(truncated_normal(values, std), layer.kernel.dtype))
        super().post_init()


class TFViTModel(TFViTPreTrainedModel):
    """The encoder: hidden states of the class token and every patch, and optionally the pooled class token.

    ``add_pooling_layer=False`` leaves the pooler out (the heads do); ``use_mask_token=True``
    adds the mask token masked image modelling needs. ``from_pretrained`` takes both.
    """

    module_options = {"add_pooling_layer": True, "use_mask_token": False}

    def __init__(self, config: ViTConfig, add_pooling_layer: bool = True, use_mask_token: bool = False,
                 **kwargs) -> None:
        super().__init__(config, **kwargs)
        options = self.layer_options
        self.embeddings = TFViTEmbeddings(config, use_mask_token=use_mask_token, **options)
        self.encoder = layers.Encoder([TFViTLayer(config, index, **options)
                                       for index in range(config.num_hidden_layers)], **options)
        self.layernorm = layers.LayerNorm(config.hidden_size, eps=config.layer_norm_eps, dtype=self.dtype_policy)
        self.pooler = (layers.Pooler(config.hidden_size, output_size=config.pooler_output_size,
                                     activation=config.pooler_act, **options) if add_pooling_layer else None)
        self.post_init()

    def get_input_embeddings(self) -> layers.PatchEmbeddings:
        return self.embeddings.patch_embeddings

    def call(self, pixel_values=None, bool_masked_pos=None, head_mask=None, interpolate_pos_encoding=None,
             output_attentions=None, output_hidden_states=None, return_dict=None):
        """The hidden states of the class token and every patch, and the pooled output if the model has a pooler.

        Args:
            pixel_values: ``(batch, channels, height, width)`` as the image processor makes them.
            bool_masked_pos: ``(batch, patches)``: True for the patches replaced by the mask token.
            head_mask: ``(heads,)`` or ``(layers, heads)``: 1 keeps an attention head, 0 masks it out.
            interpolate_pos_encoding: interpolate the position embeddings to an image size other than the config's.
            output_attentions: also return each layer's attention weights (None: the config's value).
            output_hidden_states: also return the hidden states after the embeddings and each layer
                (None: the config's value).
            return_dict: return the output dataclass, or False for a tuple of its non-None fields
                (None: the config's value).
        """
        output_attentions, output_hidden_states, return_dict = self.resolve_output_flags(
            output_attentions, output_hidden_states, return_dict
        )
        embeddings = self.embeddings(pixel_values, bool_masked_pos=bool_masked_pos,
                                     interpolate_pos_encoding=bool(interpolate_pos_encoding))
        encoded = self.encoder(embeddings, None, head_mask, output_attentions=output_attentions,
                               output_hidden_states=output_hidden_states)
        sequence_output = self.layernorm(encoded.last_hidden_state)
        output = BaseModelOutputWithPooling(
            last_hidden_state=sequence_output,
            pooler_output=self.pooler(sequence_output) if self.pooler is not None else None,
            hidden_states=encoded.hidden_states,
            attentions=encoded.attentions,
        )
        return output if return_dict else output.to_tuple()


class _NamedInputs:
    """ViT's inputs named in a head's ``call``, rather than taken as ``**kwargs`` as the shared heads do.

    Keras binds ``**kwargs`` as one nested argument, which may not mix tensors with Python
    values: ``head(pixels, interpolate_pos_encoding=True)`` would be refused. Named, each input
    is an argument of its own; the shared head then does the rest.
    """

    def call(self, pixel_values=None, bool_masked_pos=None, head_mask=None, interpolate_pos_encoding=None,
             output_attentions=None, output_hidden_states=None, return_dict=None, **loss_inputs):
        """The head on ViT's inputs, each named (see ``TFViTModel.call``).

        Args:
            pixel_values: ``(batch, channels, height, width)`` as the image processor makes them.
            bool_masked_pos: ``(batch, patches)``: True for the patches replaced by the mask token.
            head_mask: ``(heads,)`` or ``(layers, heads)``: 1 keeps an attention head, 0 masks it out.
            interpolate_pos_encoding: interpolate the position embeddings to an image size other than the config's.
            output_attentions: also return each layer's attention weights (None: the config's value).
            output_hidden_states: also return the hidden states after the embeddings and each layer
                (None: the config's value).
            return_dict: return the output dataclass, or False for a tuple of its non-None fields
                (None: the config's value).
            **loss_inputs: ``labels`` (classification) for the loss.
        """
        return super().call(pixel_values=pixel_values, bool_masked_pos=bool_masked_pos, head_mask=head_mask,
                            interpolate_pos_encoding=interpolate_pos_encoding, output_attentions=output_attentions,
                            output_hidden_states=output_hidden_states, return_dict=return_dict, **loss_inputs)


class TFViTForImageClassification(_NamedInputs, heads.ForImageClassification, TFViTPreTrainedModel):
    """A linear classifier on the final class token (the image's label or score)."""


class PixelShuffle(keras.layers.Layer):
    """PyTorch's ``nn.PixelShuffle`` after a channels-last convolution, giving channels-first images.

    ``(batch, rows, columns, channels * s * s)`` -> ``(batch, channels, rows * s, columns * s)``:
    feature ``c * s * s + i * s + j`` of a grid cell becomes pixel ``(i, j)`` of that cell's
    ``s x s`` block in channel ``c``, as in PyTorch.
    """

    def __init__(self, upscale_factor: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.upscale_factor = upscale_factor
        self.built = True

    def call(self, x):
        s = self.upscale_factor
        rows, columns, features = x.shape[1:]
        channels = features // (s * s)
        x = ops.reshape(x, (-1, rows, columns, channels, s, s))
        x = ops.transpose(x, (0, 3, 1, 4, 2, 5))  # (batch, channels, rows, i, columns, j)
        return ops.reshape(x, (-1, channels, rows * s, columns * s))


class TFViTForMaskedImageModeling(_NamedInputs, heads.ForMaskedImageModeling, TFViTPreTrainedModel):
    """SimMIM: reconstruct the pixels from every patch's final state (1x1 conv, then pixel shuffle).

    Give ``bool_masked_pos`` ``(batch, patches)`` for the loss: the L1 error on the masked patches.
    """

    def build_head(self, config: ViTConfig) -> None:
        self.decoder = [
            layers.Conv2d(config.hidden_size, config.encoder_stride**2 * config.num_channels, 1, **self.layer_options),
            PixelShuffle(config.encoder_stride, dtype=self.dtype_policy),
        ]

    def reconstruct(self, base_output, inputs):
        patches = base_output.last_hidden_state[:, 1:]
        rows, columns = patch_grid(tuple(inputs["pixel_values"].shape[-2:]), to_pair(self.config.patch_size))
        grid = ops.reshape(patches, (-1, rows, columns, patches.shape[-1]))  # channels last, as Conv2d takes it
        convolution, shuffle = self.decoder
        return shuffle(convolution(grid))
