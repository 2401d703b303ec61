"""Registers ViT (configuration, image processor, models in every framework) through the ``polyformer`` entry-point group."""

from ...core.hookspecs import hookimpl
from ...core.registry import Architecture

_PKG = "polyformer.models.vit"


@hookimpl
def register_architectures(register):
    register(
        Architecture(
            model_type="vit",
            config=f"{_PKG}.configuration:ViTConfig",
            image_processor=f"{_PKG}.image_processing:ViTImageProcessor",
            tasks=("base", "image-classification", "masked-image-modeling"),
            models={
                "torch": f"{_PKG}.modeling_torch:ViT",
                "keras": f"{_PKG}.modeling_keras:TFViT",
                "flax": f"{_PKG}.modeling_flax:FlaxViT",
            },
        )
    )
