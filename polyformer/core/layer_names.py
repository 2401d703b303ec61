"""What an architecture's checkpoints call the parts of a transformer layer: one record for every backend.

Each backend's ``TransformerLayer`` takes a :class:`LayerNames` and names its attributes after
it, so the weights' canonical names are the architecture's. It lives here, framework-free,
so that the three backends share the very same record.
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["LayerNames"]


class LayerNames(NamedTuple):
    """The attribute names of a ``TransformerLayer``'s parts.

    The defaults are Wav2Vec2's (and BART's) names; DistilBERT's are ``("attention",
    ("q_lin", "k_lin", "v_lin", "out_lin"), "sa_layer_norm", "ffn", ("lin1", "lin2"),
    "output_layer_norm")``.
    """

    attention: str = "attention"
    projections: tuple[str, str, str, str] = ("q_proj", "k_proj", "v_proj", "out_proj")
    attention_norm: str = "layer_norm"
    feed_forward: str = "feed_forward"
    feed_forward_linears: tuple[str, str] = ("intermediate_dense", "output_dense")
    output_norm: str = "final_layer_norm"
