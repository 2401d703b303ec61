"""ViT through the public conformance suite: every task it serves, in every framework it has."""

from polyformer import ViTConfig
from polyformer.testing import ArchitectureConformance


class TestViTConformance(ArchitectureConformance):
    model_type = "vit"

    def make_config(self, **overrides):
        values = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37, image_size=16,
                      patch_size=4, encoder_stride=4, num_labels=3)
        values.update(overrides)
        return ViTConfig(**values)
