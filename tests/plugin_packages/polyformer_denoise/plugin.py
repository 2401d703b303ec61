"""Entry point of the test plugin: one task, one architecture."""

import polyformer

_PKG = "polyformer_denoise"


@polyformer.hookimpl
def register_tasks(register):
    register(polyformer.Task(
        name="denoising",
        class_suffix="ForDenoising",
        auto_class="AutoModelForDenoising",
        output=f"{_PKG}.modeling_torch:DenoisingOutput",
        labels=f"{_PKG}.tasks:clean_targets",
    ))


@polyformer.hookimpl
def register_architectures(register):
    register(polyformer.Architecture(
        model_type="tinymlp",
        config=f"{_PKG}.configuration:TinyMLPConfig",
        tasks=("base", "denoising"),
        models={"torch": f"{_PKG}.modeling_torch:TinyMLP"},
    ))
