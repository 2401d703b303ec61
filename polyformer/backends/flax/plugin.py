"""Registers the Flax (JAX) backend through the ``polyformer`` entry-point group."""

from ...core.hookspecs import hookimpl
from ...core.registry import Backend


@hookimpl
def register_backends(register):
    register(
        Backend(
            name="flax",
            requires=("jax", "flax"),
            tensor_type="jax",
            to_tensor="polyformer.backends.flax.tensors:to_tensor",
            harness="polyformer.backends.flax.harness",
            layers="polyformer.backends.flax.layers",
            heads="polyformer.backends.flax.heads",
            capabilities=("prune_heads", "head_mask", "feed_forward_chunking", "resize_token_embeddings"),
            extra="flax",
            priority=30,
        )
    )
