"""Registers BERT with polyformer: the module named by this distribution's entry point."""

import polyformer

_PKG = "polyformer_bert"


@polyformer.hookimpl
def register_architectures(register):
    register(
        polyformer.Architecture(
            model_type="bert",
            config=f"{_PKG}.configuration:BertConfig",
            tokenizer=f"{_PKG}.tokenization:BertTokenizer",
            tokenizer_fast=f"{_PKG}.tokenization:BertTokenizerFast",
            tasks=("base", "masked-lm", "sequence-classification", "token-classification",
                   "question-answering", "multiple-choice"),
            models={
                "torch": f"{_PKG}.modeling_torch:Bert",
                "keras": f"{_PKG}.modeling_keras:TFBert",
                "flax": f"{_PKG}.modeling_flax:FlaxBert",
            },
        )
    )
