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
            extra="torch",
            priority=10,
        )
    )
