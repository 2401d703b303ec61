"""numpy -> TensorFlow, for ``return_tensors="tf"``.

Only TensorFlow is imported here (not Keras), so tokenizers can return TF tensors
without loading the model backend.
"""

import numpy as np
import tensorflow as tf


def to_tensor(array: np.ndarray) -> "tf.Tensor":
    return tf.convert_to_tensor(np.asarray(array))
