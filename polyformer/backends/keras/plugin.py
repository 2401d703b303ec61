"""Registers the Keras 3 (TensorFlow) backend through the ``polyformer`` entry-point group."""

from ...core.hookspecs import hookimpl
from ...core.registry import Backend


@hookimpl
def register_backends(register):
    register(
        Backend(
            name="keras",
            requires=("keras", "tensorflow"),
            tensor_type="tf",
            to_tensor="polyformer.backends.keras.tensors:to_tensor",
            harness="polyformer.backends.keras.harness",
            extra="keras",
            priority=20,
        )
    )
