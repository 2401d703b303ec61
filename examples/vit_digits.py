"""Train a small ViT from scratch on scikit-learn's handwritten digits, in PyTorch, Keras or Flax.

    python examples/vit_digits.py --framework flax --epochs 10

The 1,797 digits (8x8 grey pictures) ship with scikit-learn, so nothing is downloaded. They go
through a ``ViTImageProcessor`` (resized to 16x16, normalised) like any picture would; the model
is a 4-layer ViT with 4x4 patches. A few epochs reach well above chance; the script prints the
held-out accuracy and classifies a few test digits through the image-classification pipeline.
"""

from __future__ import annotations

import argparse
import tempfile

import numpy as np

import polyformer
from polyformer import ViTConfig, ViTImageProcessor


def load_digits(image_processor) -> tuple[np.ndarray, np.ndarray, list]:
    """Pixel values for every digit, their labels, and the pictures (PIL images) themselves."""
    from PIL import Image
    from sklearn.datasets import load_digits as sklearn_digits

    digits = sklearn_digits()
    pictures = [Image.fromarray((image * 255 / 16).astype(np.uint8)).convert("RGB") for image in digits.images]
    pixels = image_processor(images=pictures, return_tensors="np")["pixel_values"]
    return pixels, digits.target.astype(np.int64), pictures


def batches(count: int, batch_size: int, rng: np.random.Generator):
    order = rng.permutation(count)
    for start in range(0, count, batch_size):
        yield order[start:start + batch_size]


def train_torch(model, pixels, labels, epochs, batch_size, learning_rate, rng):
    import torch

    optimizer = torch.optim.AdamW(model.parameters(), lr=learning_rate)
    model.train()
    for epoch in range(epochs):
        total = 0.0
        for index in batches(len(labels), batch_size, rng):
            loss = model(pixel_values=torch.from_numpy(pixels[index]), labels=torch.from_numpy(labels[index])).loss
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += float(loss.detach()) * len(index)
        print(f"epoch {epoch + 1}: loss {total / len(labels):.4f}")
    model.eval()


def train_keras(model, pixels, labels, epochs, batch_size, learning_rate, rng):
    import keras

    model.compile(optimizer=keras.optimizers.AdamW(learning_rate=learning_rate))
    order = rng.permutation(len(labels))
    model.fit({"pixel_values": pixels[order], "labels": labels[order]}, epochs=epochs, batch_size=batch_size, verbose=2)


def train_flax(model, pixels, labels, epochs, batch_size, learning_rate, rng):
    import jax
    import optax

    optimizer = optax.adamw(learning_rate)
    params = model.params
    state = optimizer.init(params)

    @jax.jit
    def step(params, state, pixel_values, targets, dropout_rng):
        def loss_fn(params):
            return model(pixel_values=pixel_values, labels=targets, params=params, train=True,
                         dropout_rng=dropout_rng).loss

        loss, grads = jax.value_and_grad(loss_fn)(params)
        updates, state = optimizer.update(grads, state, params)
        return optax.apply_updates(params, updates), state, loss

    key = jax.random.PRNGKey(0)
    for epoch in range(epochs):
        total = 0.0
        for index in batches(len(labels), batch_size, rng):
            if len(index) < batch_size:
                continue  # one batch shape: one compilation
            key, dropout_rng = jax.random.split(key)
            params, state, loss = step(params, state, pixels[index], labels[index], dropout_rng)
            total += float(loss) * len(index)
        print(f"epoch {epoch + 1}: loss {total / len(labels):.4f}")
    model.params = params


TRAINERS = {"torch": train_torch, "keras": train_keras, "flax": train_flax}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--framework", choices=sorted(TRAINERS), default="torch")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--limit", type=int, default=None, help="use only this many digits (a quick run)")
    parser.add_argument("--seed", type=int, default=0, help="for the first weights and the shuffling")
    args = parser.parse_args(argv)
    polyformer.set_seed(args.seed, frameworks=[args.framework])

    processor = ViTImageProcessor(size={"height": 16, "width": 16}, image_mean=[0.5] * 3, image_std=[0.5] * 3)
    pixels, labels, pictures = load_digits(processor)
    if args.limit:
        pixels, labels, pictures = pixels[:args.limit], labels[:args.limit], pictures[:args.limit]
    split = int(0.8 * len(labels))
    config = ViTConfig(image_size=16, patch_size=4, num_channels=3, hidden_size=64, num_hidden_layers=4,
                       num_attention_heads=4, intermediate_size=128, num_labels=10,
                       id2label={i: str(i) for i in range(10)}, label2id={str(i): i for i in range(10)})
    model = polyformer.AutoModelForImageClassification.from_config(config, framework=args.framework)
    rng = np.random.default_rng(args.seed)
    TRAINERS[args.framework](model, pixels[:split], labels[:split], args.epochs, args.batch_size,
                             args.learning_rate, rng)

    folder = tempfile.mkdtemp(prefix="polyformer-vit-digits-")
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    classify = polyformer.pipeline("image-classification", model=folder, framework=args.framework, top_k=1)
    predictions = classify(pictures[split:], batch_size=64)
    accuracy = float(np.mean([int(p[0]["label"]) == label for p, label in zip(predictions, labels[split:])]))
    print(f"held-out accuracy: {accuracy:.3f} on {len(labels) - split} digits (chance: 0.1)")
    return {"accuracy": accuracy, "folder": folder}


if __name__ == "__main__":
    main()
