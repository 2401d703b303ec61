"""Run by ``test_keras_distribution.py`` with KERAS_BACKEND=jax and 2 host devices: fit under keras.distribution.

For each architecture's classification model: a checkpoint, then ``fit`` (2 SGD steps, one batch
of 4) on one device, under ``DataParallel`` over both devices, and under ``ModelParallel`` with
the model's ``layout_map`` on a ``(batch 1, model 2)`` mesh. Prints one JSON object per
architecture: the losses, the largest weight difference from the one-device run, and how the
tensor-parallel weights were laid out.
"""

from __future__ import annotations

import json
import os
import sys

assert os.environ.get("KERAS_BACKEND") == "jax"

import keras  # noqa: E402
import numpy as np  # noqa: E402

import polyformer  # noqa: E402
from polyformer.backends.keras.layers import named_canonical_weights  # noqa: E402

BATCH = 4


def cases():
    rng = np.random.RandomState(0)
    text = {"input_ids": rng.randint(0, 50, (BATCH, 8)), "attention_mask": np.ones((BATCH, 8), "int32"),
            "labels": rng.randint(0, 3, (BATCH,))}
    image = {"pixel_values": rng.randn(BATCH, 3, 16, 16).astype("float32"), "labels": rng.randint(0, 3, (BATCH,))}
    audio = {"input_values": rng.randn(BATCH, 400).astype("float32"), "labels": rng.randint(0, 3, (BATCH,))}
    yield "distilbert", polyformer.TFDistilBertForSequenceClassification, polyformer.DistilBertConfig(
        vocab_size=50, dim=32, n_layers=2, n_heads=4, hidden_dim=64, num_labels=3), text
    yield "bert", polyformer.TFBertForSequenceClassification, polyformer.BertConfig(
        vocab_size=50, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
        num_labels=3), text
    yield "vit", polyformer.TFViTForImageClassification, polyformer.ViTConfig(
        image_size=16, patch_size=8, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
        num_labels=3), image
    yield "wav2vec2", polyformer.TFWav2Vec2ForSequenceClassification, polyformer.Wav2Vec2Config(
        vocab_size=12, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
        conv_dim=(16, 16), conv_kernel=(10, 3), conv_stride=(5, 2), num_conv_pos_embeddings=4,
        num_conv_pos_embedding_groups=2, num_labels=3, classifier_proj_size=8, mask_time_prob=0.0), audio


def train(model_class, folder, data):
    model = model_class.from_pretrained(folder)
    model.compile(optimizer=keras.optimizers.SGD(0.5))
    history = model.fit(data, epochs=2, batch_size=BATCH, shuffle=False, verbose=0)
    weights = {name: weight.numpy() for name, weight in named_canonical_weights(model).items()}
    return model, history.history["loss"], weights


def layouts(model):
    """Canonical name -> per-device shard shapes, for the weights not replicated."""
    split = {}
    for name, weight in named_canonical_weights(model).items():
        value = weight.variable.value
        shapes = [tuple(shard.data.shape) for shard in value.addressable_shards]
        if any(shape != tuple(value.shape) for shape in shapes):
            split[name] = {"shape": list(value.shape), "shards": [list(s) for s in shapes]}
    return split


def bad_input(devices) -> dict[str, str]:
    """What layout_map says to a mesh without a "model" axis, and to something that is not a mesh."""
    said = {}
    for label, mesh in (("no_model_axis", keras.distribution.DeviceMesh((2,), ("batch",), devices)),
                        ("not_a_mesh", "batch,model")):
        try:
            polyformer.TFBertModel.layout_map(mesh)
        except (TypeError, ValueError) as error:
            said[label] = f"{type(error).__name__}: {error}"
    return said


def main(root: str) -> None:
    devices = keras.distribution.list_devices()
    assert len(devices) == 2, devices
    print(json.dumps({"errors": bad_input(devices)}), flush=True)
    for name, model_class, config, data in cases():
        folder = os.path.join(root, name)
        keras.utils.set_random_seed(0)
        fresh = model_class(config)
        fresh.save_pretrained(folder)
        initial = {name: weight.numpy() for name, weight in named_canonical_weights(fresh).items()}
        _, single_losses, single = train(model_class, folder, data)
        with keras.distribution.DataParallel(devices=devices).scope():
            _, data_losses, data_parallel = train(model_class, folder, data)
        mesh = keras.distribution.DeviceMesh((1, 2), ("batch", "model"), devices)
        parallel = keras.distribution.ModelParallel(layout_map=model_class.layout_map(mesh), batch_dim_name="batch")
        with parallel.scope():
            model, model_losses, model_parallel = train(model_class, folder, data)
            split = layouts(model)
        print(json.dumps({
            "architecture": name,
            "num_layers": config.num_hidden_layers,
            "losses": {"single": single_losses, "data": data_losses, "model": model_losses},
            "data_parallel_max_diff": max(float(np.abs(single[k] - data_parallel[k]).max()) for k in single),
            "model_parallel_max_diff": max(float(np.abs(single[k] - model_parallel[k]).max()) for k in single),
            "training_moved_weights": max(float(np.abs(single[k] - initial[k]).max()) for k in single),
            "split": split,
        }), flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
