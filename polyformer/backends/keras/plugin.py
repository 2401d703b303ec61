"""Registers the Keras 3 backend (on TensorFlow, JAX or PyTorch) through the ``polyformer`` entry-point group."""

from ...core.hookspecs import hookimpl
from ...core.registry import Backend


@hookimpl
def register_backends(register):
    register(
        Backend(
            name="keras",
            requires=("keras",),
            tensor_type="tf",
            to_tensor="polyformer.backends.keras.tensors:to_tensor",
            harness="polyformer.backends.keras.harness",
            layers="polyformer.backends.keras.layers",
            heads="polyformer.backends.keras.heads",
            capabilities=("prune_heads", "head_mask", "feed_forward_chunking", "resize_token_embeddings"),
            extra="keras",
            priority=20,
        )
    )
