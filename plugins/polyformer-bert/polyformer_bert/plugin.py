"""Registers BERT with polyformer: the module named by this distribution's entry point."""

import polyformer

_PKG = "polyformer_bert"


def _heads(module: str, prefix: str) -> dict[str, str]:
    return {
        "base": f"{_PKG}.{module}:{prefix}BertModel",
        "masked-lm": f"{_PKG}.{module}:{prefix}BertForMaskedLM",
        "sequence-classification": f"{_PKG}.{module}:{prefix}BertForSequenceClassification",
        "token-classification": f"{_PKG}.{module}:{prefix}BertForTokenClassification",
        "question-answering": f"{_PKG}.{module}:{prefix}BertForQuestionAnswering",
        "multiple-choice": f"{_PKG}.{module}:{prefix}BertForMultipleChoice",
    }


@polyformer.hookimpl
def register_architectures(register):
    register(
        polyformer.Architecture(
            model_type="bert",
            config=f"{_PKG}.configuration:BertConfig",
            tokenizer=f"{_PKG}.tokenization:BertTokenizer",
            tokenizer_fast=f"{_PKG}.tokenization:BertTokenizerFast",
            models={
                "torch": _heads("modeling_torch", ""),
                "keras": _heads("modeling_keras", "TF"),
                "flax": _heads("modeling_flax", "Flax"),
            },
        )
    )
