"""``image-classification``: the most likely labels of an image."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from .base import Pipeline, Row
from .text_classification import ranked_labels, scores_of


def load_image(image: Any, task: str):
    """A PIL image or numpy array from what a user gives: a PIL image, an array, a file path or an http(s) URL."""
    if isinstance(image, np.ndarray):
        return image
    if hasattr(image, "convert") and hasattr(image, "size"):  # a PIL image, without importing PIL for the check
        return image
    if isinstance(image, (str, os.PathLike)):
        from PIL import Image

        image = os.fspath(image)
        if image.startswith(("http://", "https://")):
            import io
            import urllib.request

            with urllib.request.urlopen(image) as response:  # noqa: S310 (the user asked for this URL)
                return Image.open(io.BytesIO(response.read())).convert("RGB")
        if not os.path.isfile(image):
            raise FileNotFoundError(f"The '{task}' pipeline was given the image path {image!r}, which does not exist")
        try:
            return Image.open(image).convert("RGB")
        except OSError as error:
            raise ValueError(f"The '{task}' pipeline cannot read {image!r} as an image: {error}") from None
    raise TypeError(f"The '{task}' pipeline expects an image as a PIL image, a numpy array, a file path or an "
                    f"http(s) URL, got {type(image).__name__}")


class ImageClassificationPipeline(Pipeline):
    """``[{"label", "score"}]``, the best ``top_k`` (default 5, at most the number of labels) first."""

    task = "image-classification"
    needs = ("image_processor",)

    def preprocess(self, image: Any) -> list[Row]:
        processed = self.image_processor(images=load_image(image, self.task), return_tensors="np")
        return [Row(inputs={"pixel_values": np.asarray(processed["pixel_values"])[0]})]

    def postprocess(self, rows: list[Row], top_k: int | None = 5, function_to_apply: str | None = None) -> list[dict]:
        scores = scores_of(self.config, rows[0].outputs["logits"], function_to_apply)
        top_k = self.config.num_labels if top_k is None else min(top_k, self.config.num_labels)
        return ranked_labels(self.config, scores, top_k)
