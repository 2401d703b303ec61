"""The Keras 3 backend (TensorFlow as the Keras backend)."""
