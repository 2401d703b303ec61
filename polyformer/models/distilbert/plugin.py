"""Registers DistilBERT through the ``polyformer`` entry-point group, like any third-party plugin."""

from ...core.hookspecs import hookimpl
from ...core.registry import Architecture

_PKG = "polyformer.models.distilbert"


def _heads(module: str, prefix: str) -> dict[str, str]:
    return {
        "base": f"{_PKG}.{module}:{prefix}DistilBertModel",
        "masked-lm": f"{_PKG}.{module}:{prefix}DistilBertForMaskedLM",
        "sequence-classification": f"{_PKG}.{module}:{prefix}DistilBertForSequenceClassification",
        "token-classification": f"{_PKG}.{module}:{prefix}DistilBertForTokenClassification",
        "question-answering": f"{_PKG}.{module}:{prefix}DistilBertForQuestionAnswering",
        "multiple-choice": f"{_PKG}.{module}:{prefix}DistilBertForMultipleChoice",
    }


@hookimpl
def register_architectures(register):
    register(
        Architecture(
            model_type="distilbert",
            config=f"{_PKG}.configuration:DistilBertConfig",
            tokenizer=f"{_PKG}.tokenization:DistilBertTokenizer",
            tokenizer_fast=f"{_PKG}.tokenization_fast:DistilBertTokenizerFast",
            models={
                "torch": _heads("modeling_torch", ""),
                "keras": _heads("modeling_keras", "TF"),
                "flax": _heads("modeling_flax", "Flax"),
            },
        )
    )
