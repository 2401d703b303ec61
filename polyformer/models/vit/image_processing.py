"""ViT's image processor: resize to a fixed size, rescale to [0, 1], normalize to [-1, 1]."""

from __future__ import annotations

from typing import Any

from ...core.image_processing import PIL_RESAMPLING, BaseImageProcessor

__all__ = ["ViTImageProcessor"]

IMAGENET_STANDARD_MEAN = [0.5, 0.5, 0.5]
IMAGENET_STANDARD_STD = [0.5, 0.5, 0.5]


class ViTImageProcessor(BaseImageProcessor):
    """Turns images into ViT's ``pixel_values``: float32 ``(batch, 3, height, width)``.

    Settings are kept as given, so what is printed and saved is what was asked for:
    ``size`` may be an int (square, as older files and the guide write it) or
    ``{"height", "width"}`` (as transformers v5 writes it); ``resample`` a Pillow
    number, a ``PIL.Image.Resampling`` member or a name such as ``"PIL.Image.BOX"``.

    ``do_rescale``, ``rescale_factor`` and ``do_convert_rgb`` came after ViT's first
    file format; they are saved only when changed (see
    :attr:`~polyformer.core.image_processing.ImageProcessingMixin.saved_when_changed`),
    and every reader, transformers included, fills in the same values when they are absent.

    ``do_convert_rgb=True`` makes grayscale, RGBA, palette... images RGB, so any image
    gives ViT's 3 channels. It is off (None) by default, as in transformers: an image keeps
    its channels, so a 4-channel image gives 4 (with one ``image_mean`` / ``image_std`` value
    per channel, or a single number), and a grayscale or RGBA image with ViT's 3-value
    statistics is refused with an error that names the setting.
    """

    saved_when_changed = {"do_rescale": True, "rescale_factor": 1 / 255, "do_convert_rgb": None}

    def __init__(
        self,
        do_resize: bool = True,
        size: int | dict[str, int] | tuple[int, int] = 224,
        resample: Any = PIL_RESAMPLING["bilinear"],
        do_rescale: bool = True,
        rescale_factor: float = 1 / 255,
        do_normalize: bool = True,
        image_mean: float | list[float] | None = None,
        image_std: float | list[float] | None = None,
        do_convert_rgb: bool | None = None,
        **kwargs: Any,
    ) -> None:
        self.do_resize = do_resize
        self.size = size
        self.resample = resample
        self.do_rescale = do_rescale
        self.rescale_factor = rescale_factor
        self.do_normalize = do_normalize
        self.image_mean = list(IMAGENET_STANDARD_MEAN) if image_mean is None else image_mean
        self.image_std = list(IMAGENET_STANDARD_STD) if image_std is None else image_std
        self.do_convert_rgb = do_convert_rgb
        super().__init__(**kwargs)
        self.validate()
