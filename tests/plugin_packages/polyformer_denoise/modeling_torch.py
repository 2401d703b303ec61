"""The test architecture in PyTorch: built from polyformer's public base class and generic head plumbing."""

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from polyformer.backends.torch import heads, layers
from polyformer.backends.torch.modeling import PreTrainedModel
from polyformer.core.outputs import BaseModelOutput, ModelOutput

from .configuration import TinyMLPConfig


@dataclass(repr=False, eq=False)
class DenoisingOutput(ModelOutput):
    loss: Any = None
    reconstruction: Any = None
    hidden_states: Any = None


class TinyMLPPreTrainedModel(PreTrainedModel):
    config_class = TinyMLPConfig
    base_model_prefix = "mlp"
    main_input_name = "features"

    def make_base_model(self, config):
        return TinyMLPModel(config)


class TinyMLPModel(TinyMLPPreTrainedModel):
    def __init__(self, config):
        super().__init__(config)
        self.embed = nn.Linear(config.width, config.hidden_size)
        self.blocks = nn.ModuleList(layers.Intermediate(config.hidden_size, config.hidden_size, config.hidden_act)
                                    for _ in range(config.num_hidden_layers))
        self.post_init()

    def forward(self, features=None, output_attentions=None, output_hidden_states=None, return_dict=None):
        _, output_hidden_states, return_dict = self.resolve_output_flags(output_attentions, output_hidden_states,
                                                                         return_dict)
        hidden = self.embed(features.to(self.embed.weight.dtype))
        states = (hidden,)
        for block in self.blocks:
            hidden = hidden + block(hidden)
            states += (hidden,)
        output = BaseModelOutput(last_hidden_state=hidden, hidden_states=states if output_hidden_states else None)
        return output if return_dict else output.to_tuple()


class TinyMLPForDenoising(heads.HeadModel, TinyMLPPreTrainedModel):
    """Predicts the clean vector; mean squared error against ``labels``."""

    output_class = DenoisingOutput

    def build_head(self, config):
        self.decoder = nn.Linear(config.hidden_size, config.width)

    def head_outputs(self, base_output, inputs, labels=None):
        reconstruction = self.decoder(base_output.last_hidden_state)
        loss = nn.functional.mse_loss(reconstruction, labels.to(reconstruction.dtype)) if labels is not None else None
        return {"loss": loss, "reconstruction": reconstruction}
