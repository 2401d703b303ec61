"""Convert a checkpoint between frameworks, and check that nothing changed on the way.

    python examples/convert_checkpoint.py --model PATH_OR_HUB_ID --output converted/

Every polyformer framework reads and writes the same checkpoint format (transformers' safetensors
layout), so "converting" a model to Keras or Flax is loading it there; saving it from there
writes the same tensors back. This script loads a checkpoint in PyTorch, Keras and Flax in turn,
saves each, and compares every weight bit for bit with the original, then re-types a copy to
bfloat16 with ``polyformer.core.convert.convert_checkpoint`` (what ``polyformer convert`` runs).
"""

from __future__ import annotations

import argparse
import os

import numpy as np
from safetensors.numpy import load_file

import polyformer
from polyformer.core.convert import convert_checkpoint


def weights(folder: str) -> dict[str, np.ndarray]:
    """Every tensor of a (possibly sharded) safetensors checkpoint folder, by name."""
    tensors = {}
    for name in sorted(os.listdir(folder)):
        if name.endswith(".safetensors"):
            tensors.update(load_file(os.path.join(folder, name)))
    return tensors


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="a checkpoint folder or hub id")
    parser.add_argument("--output", required=True, help="a folder for the converted copies")
    args = parser.parse_args(argv)

    source = polyformer.AutoModel.from_pretrained(args.model, framework="torch")
    original = os.path.join(args.output, "torch")
    source.save_pretrained(original)
    reference = weights(original)
    report = {}
    for framework in ("keras", "flax"):
        model = polyformer.AutoModel.from_pretrained(original, framework=framework)
        folder = os.path.join(args.output, framework)
        model.save_pretrained(folder)
        copy = weights(folder)
        same = set(copy) == set(reference) and all(np.array_equal(copy[k], reference[k]) for k in reference)
        report[framework] = same
        print(f"{framework}: {len(copy)} tensors, {'bit-exact' if same else 'DIFFERENT'} after the round trip")

    half = os.path.join(args.output, "bfloat16")
    convert_checkpoint(original, half, dtype="bfloat16")
    sizes = {name: sum(os.path.getsize(os.path.join(path, f)) for f in os.listdir(path) if f.endswith(".safetensors"))
             for name, path in (("float32", original), ("bfloat16", half))}
    print(f"bfloat16 copy: {sizes['bfloat16'] / sizes['float32']:.2f} of the float32 size")
    return {"bit_exact": report, "sizes": sizes}


if __name__ == "__main__":
    main()
