"""Helpers for the PyTorch tests: ``transformers`` as the oracle.

Checkpoints are built by ``transformers`` itself (fixed seed), with every parameter
perturbed by noise so that LayerNorm weights, biases and the padding row are all
distinct: a tensor loaded under the wrong name, or not at all, changes the outputs.
"""

from __future__ import annotations

import torch

import polyformer

transformers = __import__("transformers")  # test-only oracle
transformers.logging.set_verbosity_error()
try:
    transformers.utils.logging.disable_progress_bar()
except AttributeError:  # pragma: no cover - older versions
    pass

#: Class name (same in both libraries) for each head.
HEADS = {
    "base": "DistilBertModel",
    "masked-lm": "DistilBertForMaskedLM",
    "sequence-classification": "DistilBertForSequenceClassification",
    "token-classification": "DistilBertForTokenClassification",
    "question-answering": "DistilBertForQuestionAnswering",
    "multiple-choice": "DistilBertForMultipleChoice",
}

#: Small configurations covering the options of the architecture.
CONFIGS = {
    "learned-gelu-4heads": dict(vocab_size=99, dim=32, n_heads=4, n_layers=2, hidden_dim=37, max_position_embeddings=40),
    "sinusoidal-relu-2heads": dict(
        vocab_size=64, dim=24, n_heads=2, n_layers=3, hidden_dim=30, max_position_embeddings=32,
        sinusoidal_pos_embds=True, activation="relu",
    ),
    "untied-gelu_new-4heads": dict(
        vocab_size=80, dim=16, n_heads=4, n_layers=1, hidden_dim=20, max_position_embeddings=24,
        tie_word_embeddings=False, activation="gelu_new", num_labels=3,
    ),
}


def hf_class(head: str):
    return getattr(transformers, HEADS[head])


def pf_class(head: str):
    return getattr(polyformer, HEADS[head])


def hf_config(**kwargs):
    return transformers.DistilBertConfig(**kwargs)


def pf_config(**kwargs):
    return polyformer.DistilBertConfig(**kwargs)


@torch.no_grad()
def perturb(model: torch.nn.Module, seed: int = 0, scale: float = 0.1) -> torch.nn.Module:
    """Add noise to every parameter (tied ones once) so that all tensors differ."""
    generator = torch.Generator().manual_seed(seed)
    seen = set()
    for param in model.parameters():
        if id(param) in seen:
            continue
        seen.add(id(param))
        param.add_(torch.randn(param.shape, generator=generator) * scale)
    return model


def make_hf_model(head: str, seed: int = 0, **config_kwargs):
    """A ``transformers`` model, random init with ``seed``, perturbed, in eval mode."""
    torch.manual_seed(seed)
    model = hf_class(head)(hf_config(**config_kwargs))
    return perturb(model, seed).eval()


def save_hf_checkpoint(folder, head: str, seed: int = 0, **config_kwargs):
    model = make_hf_model(head, seed, **config_kwargs)
    model.save_pretrained(folder)
    return model


def load_hf(folder, head: str, **kwargs):
    """Load in ``transformers`` with the eager attention (so attentions can be returned)."""
    return hf_class(head).from_pretrained(folder, attn_implementation="eager", **kwargs)


def make_inputs(config_kwargs: dict, head: str = "base", batch: int = 3, seq: int = 7, seed: int = 0,
                with_labels: bool = True, problem: str | None = None) -> dict:
    """Token ids with some padding, and labels that fit ``head``."""
    generator = torch.Generator().manual_seed(seed)
    vocab = config_kwargs.get("vocab_size", 30522)
    num_labels = config_kwargs.get("num_labels", 2)
    shape = (batch, 2, seq) if head == "multiple-choice" else (batch, seq)
    input_ids = torch.randint(1, vocab, shape, generator=generator)
    attention_mask = torch.ones(shape, dtype=torch.long)
    attention_mask[0, ..., seq - 2:] = 0  # padding at the end of the first example
    input_ids[attention_mask == 0] = 0
    inputs = {"input_ids": input_ids, "attention_mask": attention_mask}
    if not with_labels or head == "base":
        return inputs
    if head == "masked-lm":
        labels = torch.randint(0, vocab, (batch, seq), generator=generator)
        labels[:, ::2] = -100
        inputs["labels"] = labels
    elif head == "sequence-classification":
        if problem == "regression":
            inputs["labels"] = torch.randn(batch, generator=generator)
        elif problem == "multi_label_classification":
            inputs["labels"] = torch.randint(0, 2, (batch, num_labels), generator=generator).float()
        else:
            inputs["labels"] = torch.randint(0, num_labels, (batch,), generator=generator)
    elif head == "token-classification":
        labels = torch.randint(0, num_labels, (batch, seq), generator=generator)
        labels[0, -2:] = -100
        inputs["labels"] = labels
    elif head == "question-answering":
        inputs["start_positions"] = torch.randint(0, seq, (batch,), generator=generator)
        inputs["end_positions"] = torch.randint(0, seq + 3, (batch,), generator=generator)  # some out of range
    elif head == "multiple-choice":
        inputs["labels"] = torch.randint(0, 2, (batch,), generator=generator)
    return inputs


def run_both(hf_model, pf_model, inputs: dict, **flags):
    """Run both models on the same inputs (no grad), returning both outputs."""
    with torch.no_grad():
        return hf_model(**inputs, **flags), pf_model(**inputs, **flags)
