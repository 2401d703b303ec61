"""Fine-tune a text classifier in PyTorch, Keras or Flax, then use it through a pipeline.

    python examples/text_classification.py --model PATH_OR_HUB_ID --framework torch --steps 30

``--model`` is a pretrained encoder folder or hub id (e.g. sentence-transformers/all-MiniLM-L6-v2):
a classification head is added on top of it. The data is a small set of movie-review snippets
written for this example; swap in your own lists of (text, label) pairs. Each framework's
training loop is written out with that framework's own tools (a PyTorch optimizer loop, Keras
``fit``, an optax step under ``jax.jit``): polyformer models are ordinary models of each framework.
"""

from __future__ import annotations

import argparse
import tempfile

import numpy as np

import polyformer

LABELS = {0: "NEGATIVE", 1: "POSITIVE"}
TRAIN = [
    ("a wonderful, moving film with a brilliant cast", 1), ("I loved every minute of it", 1),
    ("funny, warm and beautifully shot", 1), ("the best thing I have seen this year", 1),
    ("a clever script and great acting", 1), ("an absolute joy from start to finish", 1),
    ("touching story, superb music", 1), ("I would happily watch it again", 1),
    ("a dull, lifeless mess", 0), ("I was bored after ten minutes", 0),
    ("the plot makes no sense at all", 0), ("terrible acting and a lazy script", 0),
    ("a waste of two hours", 0), ("painfully slow and far too long", 0),
    ("the jokes fall flat every time", 0), ("I walked out before the end", 0),
]
TEST = [("a brilliant and moving story", 1), ("a lazy, boring waste of time", 0),
        ("great music and a clever plot", 1), ("the acting was terrible", 0)]


def train_torch(model, batch: dict, labels: np.ndarray, steps: int, learning_rate: float) -> list[float]:
    import torch

    inputs = {key: torch.from_numpy(value) for key, value in batch.items()}
    targets = torch.from_numpy(labels)
    optimizer = torch.optim.AdamW(model.parameters(), lr=learning_rate)
    model.train()
    losses = []
    for _ in range(steps):
        loss = model(**inputs, labels=targets).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    model.eval()
    return losses


def train_keras(model, batch: dict, labels: np.ndarray, steps: int, learning_rate: float) -> list[float]:
    import keras

    model.compile(optimizer=keras.optimizers.AdamW(learning_rate=learning_rate))
    # the labels go in with the inputs: the model computes its own loss, as transformers' TF models did
    history = model.fit({**batch, "labels": labels}, epochs=steps, batch_size=len(labels), shuffle=False, verbose=0)
    return [float(loss) for loss in history.history["loss"]]


def train_flax(model, batch: dict, labels: np.ndarray, steps: int, learning_rate: float) -> list[float]:
    import jax
    import optax

    optimizer = optax.adamw(learning_rate)
    params, state = model.params, None
    state = optimizer.init(params)

    def loss_fn(params, dropout_rng):
        return model(**batch, labels=labels, params=params, train=True, dropout_rng=dropout_rng).loss

    step = jax.jit(jax.value_and_grad(loss_fn))
    rng, losses = jax.random.PRNGKey(0), []
    for _ in range(steps):
        rng, dropout_rng = jax.random.split(rng)
        loss, grads = step(params, dropout_rng)
        updates, state = optimizer.update(grads, state, params)
        params = optax.apply_updates(params, updates)
        losses.append(float(loss))
    model.params = params
    return losses


TRAINERS = {"torch": train_torch, "keras": train_keras, "flax": train_flax}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="a pretrained encoder folder or hub id")
    parser.add_argument("--framework", choices=sorted(TRAINERS), default="torch")
    parser.add_argument("--steps", type=int, default=30, help="full-batch training steps")
    parser.add_argument("--learning-rate", type=float, default=5e-5)
    parser.add_argument("--output", help="where to save the fine-tuned model (default: a temporary folder)")
    args = parser.parse_args(argv)

    tokenizer = polyformer.AutoTokenizer.from_pretrained(args.model)
    model = polyformer.AutoModelForSequenceClassification.from_pretrained(
        args.model, framework=args.framework, num_labels=2, id2label=LABELS,
        label2id={name: index for index, name in LABELS.items()})
    texts, labels = zip(*TRAIN)
    batch = dict(tokenizer(list(texts), padding=True, return_tensors="np"))
    losses = TRAINERS[args.framework](model, batch, np.asarray(labels, dtype=np.int64), args.steps, args.learning_rate)
    print(f"{args.framework}: loss {losses[0]:.4f} -> {losses[-1]:.4f} over {args.steps} steps")

    output = args.output or tempfile.mkdtemp(prefix="polyformer-classifier-")
    model.save_pretrained(output)
    tokenizer.save_pretrained(output)
    classify = polyformer.pipeline("text-classification", model=output, framework=args.framework)
    predictions = classify([text for text, _ in TEST])
    accuracy = float(np.mean([p["label"] == LABELS[label] for p, (_, label) in zip(predictions, TEST)]))
    for (text, _), prediction in zip(TEST, predictions):
        print(f"  {prediction['label']:8s} {prediction['score']:.3f}  {text}")
    print(f"accuracy on {len(TEST)} held-out reviews: {accuracy:.2f}; saved to {output}")
    return {"losses": losses, "accuracy": accuracy, "output": output}


if __name__ == "__main__":
    main()
