"""Registers the PyTorch backend through the ``polyformer`` entry-point group."""

from ...core.hookspecs import hookimpl
from ...core.registry import Backend


@hookimpl
def register_backends(register):
    register(
        Backend(
            name="torch",
            requires=("torch",),
            tensor_type="pt",
            to_tensor="polyformer.backends.torch.tensors:to_tensor",
            harness="polyformer.backends.torch.harness",
            layers="polyformer.backends.torch.layers",
            heads="polyformer.backends.torch.heads",
            capabilities=("prune_heads", "head_mask", "feed_forward_chunking", "gradient_checkpointing", "resize_token_embeddings",
                          "optimize_for_inference"),
            extra="torch",
            priority=10,
        )
    )
