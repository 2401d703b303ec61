"""The Flax (flax.linen on JAX) backend."""
