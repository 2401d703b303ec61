"""The configuration of the test architecture: a vector of ``width`` features, ``num_hidden_layers`` blocks."""

import numpy as np

from polyformer import PretrainedConfig


class TinyMLPConfig(PretrainedConfig):
    model_type = "tinymlp"

    def __init__(self, width=6, hidden_size=16, num_hidden_layers=2, hidden_act="gelu", initializer_range=0.02,
                 **kwargs):
        self.width = width
        self.hidden_size = hidden_size
        self.num_hidden_layers = num_hidden_layers
        self.hidden_act = hidden_act
        self.initializer_range = initializer_range
        super().__init__(**kwargs)

    def example_inputs(self, batch_size=2, *, seed=0):
        return {"features": np.random.default_rng(seed).standard_normal((batch_size, self.width)).astype(np.float32)}
