"""ViT (Vision Transformer) in PyTorch: the base model, image classification, masked image modelling.

Tensor names are those of the checkpoints ``transformers`` writes and the Hub holds
(``vit.embeddings.cls_token``, ``vit.embeddings.patch_embeddings.projection.weight``,
``vit.encoder.layer.0.attention.attention.query.weight``, ``...attention.output.dense``,
``...intermediate.dense``, ``...output.dense``, ``...layernorm_before``, ``...layernorm_after``,
``vit.layernorm``, ``vit.pooler.dense``, ``classifier``, ``decoder.0``). What is ViT's own is
written here: the embeddings (class token, learned positions that can be interpolated for
other image sizes, a mask token for masked image modelling), its pre-norm layer, and the
SimMIM decoder; the blocks and the heads come from the backend.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ...backends.torch import heads, layers
from ...backends.torch.modeling import PreTrainedModel
from ...core.numerics import patch_grid, pruned_heads_of_layer, to_pair
from ...core.outputs import BaseModelOutputWithPooling
from .configuration import ViTConfig

__all__ = [
    "ViTPreTrainedModel",
    "ViTModel",
    "ViTForImageClassification",
    "ViTForMaskedImageModeling",
]


class ViTEmbeddings(nn.Module):
    """Patch embeddings, a class token in front, learned positions added, dropout.

    ``bool_masked_pos`` ``(batch, patches)`` replaces the masked patches' embeddings by
    ``mask_token`` (masked image modelling). Images of another size than ``config.image_size``
    need ``interpolate_pos_encoding=True``: the patch positions are resized bicubically to the
    new grid, as transformers does (the class token's position is kept).
    """

    def __init__(self, config: ViTConfig, use_mask_token: bool = False) -> None:
        super().__init__()
        self.cls_token = nn.Parameter(torch.zeros(1, 1, config.hidden_size))
        self.mask_token = nn.Parameter(torch.zeros(1, 1, config.hidden_size)) if use_mask_token else None
        self.patch_embeddings = layers.PatchEmbeddings(config.image_size, config.patch_size, config.num_channels,
                                                       config.hidden_size)
        self.position_embeddings = nn.Parameter(torch.zeros(1, self.patch_embeddings.num_patches + 1, config.hidden_size))
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def positions_for(self, grid: tuple[int, int]) -> torch.Tensor:
        """The position table for a ``(rows, columns)`` patch grid: the learned one, or it resized."""
        trained = self.patch_embeddings.grid
        if grid == trained:
            return self.position_embeddings
        dim = self.position_embeddings.shape[-1]
        patches = self.position_embeddings[:, 1:].reshape(1, *trained, dim).permute(0, 3, 1, 2)
        resized = F.interpolate(patches, size=grid, mode="bicubic", align_corners=False)
        resized = resized.permute(0, 2, 3, 1).reshape(1, -1, dim)
        return torch.cat([self.position_embeddings[:, :1], resized], dim=1)

    def forward(self, pixel_values, bool_masked_pos=None, interpolate_pos_encoding=False):
        embeddings = self.patch_embeddings(pixel_values)
        batch, patches, _ = embeddings.shape
        if bool_masked_pos is not None:
            if self.mask_token is None:
                raise ValueError("bool_masked_pos needs a model with a mask token (ViTForMaskedImageModeling)")
            if tuple(bool_masked_pos.shape) != (batch, patches):
                raise ValueError(f"bool_masked_pos has shape {tuple(bool_masked_pos.shape)}, but the images have "
                                 f"{patches} patches: expected (batch, num_patches) = ({batch}, {patches})")
            mask = bool_masked_pos.unsqueeze(-1).to(embeddings.dtype)
            embeddings = embeddings * (1.0 - mask) + self.mask_token.expand(batch, patches, -1) * mask
        embeddings = torch.cat([self.cls_token.expand(batch, -1, -1), embeddings], dim=1)
        size = tuple(pixel_values.shape[-2:])
        if size != self.patch_embeddings.image_size and not interpolate_pos_encoding:
            height, width = self.patch_embeddings.image_size
            raise ValueError(
                f"Input image size ({size[0]}*{size[1]}) doesn't match model ({height}*{width}): resize the images "
                f"(the image processor does), or pass interpolate_pos_encoding=True to resize the position embeddings"
            )
        embeddings = embeddings + self.positions_for(patch_grid(size, self.patch_embeddings.patch_size))
        return self.dropout(embeddings)


class ViTLayer(nn.Module):
    """One pre-norm layer: ``x + attention(layernorm_before(x))``, then ``x + mlp(layernorm_after(x))``."""

    def __init__(self, config: ViTConfig, index: int) -> None:
        super().__init__()
        self.attention = layers.AttentionBlock(
            config.hidden_size, config.num_attention_heads, pruned_heads=pruned_heads_of_layer(config, index),
            attention_dropout=config.attention_probs_dropout_prob, dropout=config.hidden_dropout_prob,
            layer_norm=False, bias=config.qkv_bias, self_name="attention",
        )
        self.intermediate = layers.Intermediate(config.hidden_size, config.intermediate_size, config.hidden_act)
        self.output = layers.DenseAddNorm(config.intermediate_size, config.hidden_size,
                                          dropout=config.hidden_dropout_prob, layer_norm=False)
        self.layernorm_before = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.layernorm_after = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    def forward(self, hidden_states, mask=None, head_mask=None, output_attentions=False):
        attended, weights = self.attention(self.layernorm_before(hidden_states), mask, head_mask, output_attentions,
                                           residual=hidden_states)
        return self.output(self.intermediate(self.layernorm_after(attended)), attended), weights


class ViTPreTrainedModel(PreTrainedModel):
    """Shared by every ViT model: config class, weight prefix, main input, initialisation."""

    config_class = ViTConfig
    base_model_prefix = "vit"
    main_input_name = "pixel_values"

    def make_base_model(self, config: ViTConfig) -> "ViTModel":
        return ViTModel(config, add_pooling_layer=False,
                        use_mask_token=isinstance(self, heads.ForMaskedImageModeling))

    def _init_weights(self, module: nn.Module, only: set[str] | None = None) -> None:
        """transformers' ViT init: truncated normal for linear and conv weights, class token and positions."""
        def wanted(name: str) -> bool:
            return getattr(module, name, None) is not None and (only is None or name in only)

        std = self.config.initializer_range
        with torch.no_grad():
            if isinstance(module, (nn.Linear, nn.Conv2d)):
                if wanted("weight"):
                    nn.init.trunc_normal_(module.weight, mean=0.0, std=std)
                if wanted("bias"):
                    module.bias.zero_()
                return
            if isinstance(module, ViTEmbeddings):
                for name in ("cls_token", "position_embeddings"):
                    if wanted(name):
                        nn.init.trunc_normal_(getattr(module, name), mean=0.0, std=std)
                if wanted("mask_token"):
                    module.mask_token.zero_()
                return
        super()._init_weights(module, only)


class ViTModel(ViTPreTrainedModel):
    """The encoder: hidden states of the class token and every patch, and optionally the pooled class token.

    ``add_pooling_layer=False`` leaves the pooler out (the heads do); ``use_mask_token=True``
    adds the mask token masked image modelling needs. ``from_pretrained`` takes both.
    """

    module_options = {"add_pooling_layer": True, "use_mask_token": False}

    def __init__(self, config: ViTConfig, add_pooling_layer: bool = True, use_mask_token: bool = False) -> None:
        super().__init__(config)
        self.embeddings = ViTEmbeddings(config, use_mask_token=use_mask_token)
        self.encoder = layers.Encoder(ViTLayer(config, index) for index in range(config.num_hidden_layers))
        self.layernorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.pooler = (layers.Pooler(config.hidden_size, output_size=config.pooler_output_size,
                                     activation=config.pooler_act) if add_pooling_layer else None)
        self.post_init()

    def get_input_embeddings(self) -> layers.PatchEmbeddings:
        return self.embeddings.patch_embeddings

    def forward(
        self,
        pixel_values: torch.Tensor | None = None,
        bool_masked_pos: torch.Tensor | None = None,
        head_mask: torch.Tensor | None = None,
        interpolate_pos_encoding: bool | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
    ):
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
        embeddings = self.embeddings(pixel_values, bool_masked_pos, bool(interpolate_pos_encoding))
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


class ViTForImageClassification(heads.ForImageClassification, ViTPreTrainedModel):
    """A linear classifier on the final class token (the image's label or score)."""


class ViTForMaskedImageModeling(heads.ForMaskedImageModeling, ViTPreTrainedModel):
    """SimMIM: reconstruct the pixels from every patch's final state (1x1 conv, then pixel shuffle).

    Give ``bool_masked_pos`` ``(batch, patches)`` for the loss: the L1 error on the masked patches.
    """

    def build_head(self, config: ViTConfig) -> None:
        self.decoder = nn.Sequential(
            nn.Conv2d(config.hidden_size, config.encoder_stride**2 * config.num_channels, kernel_size=1),
            nn.PixelShuffle(config.encoder_stride),
        )

    def reconstruct(self, base_output, inputs) -> torch.Tensor:
        patches = base_output.last_hidden_state[:, 1:]
        batch, _, dim = patches.shape
        rows, columns = patch_grid(tuple(inputs["pixel_values"].shape[-2:]), to_pair(self.config.patch_size))
        grid = patches.transpose(1, 2).reshape(batch, dim, rows, columns)
        return self.decoder(grid)
