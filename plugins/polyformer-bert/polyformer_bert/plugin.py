"""Registers BERT with polyformer: the module named by this distribution's entry point."""

import polyformer
from polyformer.core.registry import head_paths

_PKG = "polyformer_bert"


@polyformer.hookimpl
def register_architectures(register):
    register(
        polyformer.Architecture(
            model_type="bert",
            config=f"{_PKG}.configuration:BertConfig",
            tokenizer=f"{_PKG}.tokenization:BertTokenizer",
            tokenizer_fast=f"{_PKG}.tokenization:BertTokenizerFast",
            models={
                "torch": head_paths(f"{_PKG}.modeling_torch", "Bert"),
                "keras": head_paths(f"{_PKG}.modeling_keras", "Bert", prefix="TF"),
                "flax": head_paths(f"{_PKG}.modeling_flax", "Bert", prefix="Flax"),
            },
        )
    )
