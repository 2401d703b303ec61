"""Framework-agnostic core: never imports torch, tensorflow, keras, jax or flax."""
