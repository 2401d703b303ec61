"""Sentence embeddings and semantic search with all-MiniLM-L6-v2, in PyTorch, Keras or Flax.

    python examples/semantic_search.py --model sentence-transformers/all-MiniLM-L6-v2 --framework keras

The ``feature-extraction`` pipeline with mean pooling and normalisation gives the same vectors
as sentence-transformers for this model: unit vectors whose dot product is the cosine
similarity. Documents are embedded once; each query is answered by the closest documents.
"""

from __future__ import annotations

import argparse

import numpy as np

import polyformer

DOCUMENTS = [
    "The Eiffel Tower is a wrought-iron lattice tower in Paris.",
    "Photosynthesis turns light, water and carbon dioxide into sugar and oxygen.",
    "The French Revolution began in 1789 with the storming of the Bastille.",
    "Python is a programming language that emphasises readable code.",
    "Mount Everest is the highest mountain above sea level.",
    "A transformer model relies on attention to relate the tokens of a sequence.",
    "Croissants are a flaky pastry often eaten for breakfast in France.",
    "The heart pumps blood through the circulatory system.",
]
QUERIES = {
    "Which landmark is in Paris?": 0,
    "How do plants make their food?": 1,
    "What is attention in neural networks?": 5,
    "What is the tallest peak in the world?": 4,
}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="a sentence-transformers folder or hub id, e.g. all-MiniLM-L6-v2")
    parser.add_argument("--framework", choices=["torch", "keras", "flax"], default="torch")
    parser.add_argument("--top-k", type=int, default=2)
    args = parser.parse_args(argv)

    embed = polyformer.pipeline("feature-extraction", model=args.model, framework=args.framework,
                                pooling="mean", normalize=True, return_tensors=True)
    documents = np.stack(embed(DOCUMENTS, batch_size=8))
    hits = 0
    for query, expected in QUERIES.items():
        similarity = documents @ embed(query)
        best = np.argsort(-similarity)[:args.top_k]
        hits += int(best[0] == expected)
        print(query)
        for index in best:
            print(f"  {similarity[index]:.3f}  {DOCUMENTS[index]}")
    print(f"{hits} of {len(QUERIES)} queries found the expected document first")
    return {"hits": hits, "queries": len(QUERIES)}


if __name__ == "__main__":
    main()
