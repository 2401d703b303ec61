"""Registers DistilBERT through the ``polyformer`` entry-point group, like any third-party plugin."""

from ...core.hookspecs import hookimpl
from ...core.registry import Architecture, head_paths

_PKG = "polyformer.models.distilbert"


@hookimpl
def register_architectures(register):
    register(
        Architecture(
            model_type="distilbert",
            config=f"{_PKG}.configuration:DistilBertConfig",
            tokenizer=f"{_PKG}.tokenization:DistilBertTokenizer",
            tokenizer_fast=f"{_PKG}.tokenization_fast:DistilBertTokenizerFast",
            models={
                "torch": head_paths(f"{_PKG}.modeling_torch", "DistilBert"),
                "keras": head_paths(f"{_PKG}.modeling_keras", "DistilBert", prefix="TF"),
                "flax": head_paths(f"{_PKG}.modeling_flax", "DistilBert", prefix="Flax"),
            },
        )
    )
