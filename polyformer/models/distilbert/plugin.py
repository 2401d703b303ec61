"""Registers DistilBERT through the ``polyformer`` entry-point group, like any third-party plugin."""

from ...core.hookspecs import hookimpl
from ...core.registry import Architecture

_PKG = "polyformer.models.distilbert"


@hookimpl
def register_architectures(register):
    register(
        Architecture(
            model_type="distilbert",
            config=f"{_PKG}.configuration:DistilBertConfig",
            tokenizer=f"{_PKG}.tokenization:DistilBertTokenizer",
            tokenizer_fast=f"{_PKG}.tokenization_fast:DistilBertTokenizerFast",
            tasks=("base", "masked-lm", "sequence-classification", "token-classification",
                   "question-answering", "multiple-choice"),
            models={
                "torch": f"{_PKG}.modeling_torch:DistilBert",
                "keras": f"{_PKG}.modeling_keras:TFDistilBert",
                "flax": f"{_PKG}.modeling_flax:FlaxDistilBert",
            },
        )
    )
