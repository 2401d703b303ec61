"""Image processors: settings saved as ``preprocessor_config.json`` plus numpy image steps.

:class:`ImageProcessingMixin` is the saved part (a :class:`FeatureExtractionMixin`, so the
JSON keeps the ``feature_extractor_type`` key that transformers still reads and the
guide prints). :class:`BaseImageProcessor` adds the steps every vision model shares,
as public numpy helpers, and the pipeline that chains them:

    to_numpy_image -> convert_to_rgb -> resize -> center_crop -> rescale -> normalize

Images travel between steps as channels-first numpy arrays ``(C, H, W)``. Their dtype
is kept until ``rescale`` / ``normalize`` (integer pixels are 0..255, float pixels are
taken as given), because resizing goes through Pillow, which needs 8-bit pixels: the
dtype is what says whether a float image must be scaled by 255 first. Results match
transformers' PIL backend (``ViTImageProcessorPil`` in v5) to float32 rounding.

Pillow is imported only when an image is resized (or a PIL image converted), so
``import polyformer`` stays light.
"""

from __future__ import annotations

import math
import numbers
import sys
from typing import Any

import numpy as np

from .feature_extraction import BatchFeature, FeatureExtractionMixin

__all__ = [
    "BaseImageProcessor",
    "ImageProcessingMixin",
    "PIL_RESAMPLING",
    "resample_filter",
    "size_to_height_width",
]

#: Pillow's filter numbers by name (stable across Pillow versions). Other names that
#: the installed Pillow knows (``MKS2021``...) are looked up in Pillow itself.
PIL_RESAMPLING = {"nearest": 0, "lanczos": 1, "bilinear": 2, "bicubic": 3, "box": 4, "hamming": 5}

DATA_FORMATS = ("channels_first", "channels_last")


def resample_filter(resample: Any, name: str = "resample") -> int:
    """Pillow's filter number for ``resample``: an int, a ``PIL.Image.Resampling`` member,
    or a string such as ``"bilinear"``, ``"BOX"`` or ``"PIL.Image.BOX"``.

    Old configs (and the guide) write the filter as the string ``"PIL.Image.BOX"``, so
    strings are resolved by their last dotted part, case-insensitively.
    """
    if isinstance(resample, numbers.Integral) and not isinstance(resample, bool):
        if int(resample) in PIL_RESAMPLING.values() or int(resample) in _pil_filters().values():
            return int(resample)
    elif isinstance(resample, str):
        key = resample.strip().rpartition(".")[2].lower()
        if key in PIL_RESAMPLING:
            return PIL_RESAMPLING[key]
        if key in _pil_filters():
            return _pil_filters()[key]
    names = ", ".join(sorted(PIL_RESAMPLING, key=PIL_RESAMPLING.get))
    raise ValueError(
        f"{name}={resample!r} is not a Pillow resampling filter; use one of {names}, "
        f"as a name (e.g. 'bilinear' or 'PIL.Image.BILINEAR'), a PIL.Image.Resampling member or its number"
    )


def _pil_filters() -> dict[str, int]:
    """The filters of the installed Pillow (imported only for names outside the usual six)."""
    try:
        from PIL import Image
    except ImportError:
        return {}
    return {member.name.lower(): int(member) for member in Image.Resampling}


def _is_positive_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool) and value > 0


def size_to_height_width(size: Any, image_size: tuple[int, int] | None = None, name: str = "size") -> tuple[int, int] | None:
    """The ``(height, width)`` that ``size`` asks for.

    ``size`` is an int (a square), a ``(height, width)`` pair, ``{"height", "width"}``
    (what transformers v5 saves), or ``{"shortest_edge"}`` (the shorter side becomes
    that length, keeping the aspect ratio, as torchvision's Resize). The last needs the
    input ``image_size``; without it (checking a setting) the answer is None.
    """
    if _is_positive_int(size):
        return int(size), int(size)
    if isinstance(size, (list, tuple)) and len(size) == 2 and all(_is_positive_int(v) for v in size):
        return int(size[0]), int(size[1])
    if isinstance(size, dict):
        keys = set(size)
        if keys == {"height", "width"} and all(_is_positive_int(v) for v in size.values()):
            return int(size["height"]), int(size["width"])
        if keys == {"shortest_edge"} and _is_positive_int(size["shortest_edge"]):
            if image_size is None:
                return None
            height, width = image_size
            short, long = (width, height) if width <= height else (height, width)
            new_short, new_long = int(size["shortest_edge"]), int(size["shortest_edge"] * long / short)
            return (new_long, new_short) if width <= height else (new_short, new_long)
    raise ValueError(
        f"{name}={size!r} is not a valid size: expected a positive int (a square), a (height, width) pair, "
        f'{{"height": h, "width": w}} or {{"shortest_edge": n}}'
    )


def _is_pil_image(image: Any) -> bool:
    # A PIL image can only exist if PIL was imported; checking sys.modules avoids importing it.
    pil = sys.modules.get("PIL.Image")
    return pil is not None and isinstance(image, pil.Image)


def _is_array_like(value: Any) -> bool:
    return isinstance(value, np.ndarray) or (hasattr(value, "__array__") and hasattr(value, "shape"))


class ImageProcessingMixin(FeatureExtractionMixin):
    """The saved part of an image processor: settings as attributes, JSON, save / load.

    ``saved_when_changed`` lists settings written only when they differ from the given
    default. A model's file format grows over time (ViT's first files had no
    ``do_rescale``); a setting added later, left at the default every reader fills in
    for a missing key, tells a reader nothing, so leaving it out keeps default files
    (and ``print``) in the original form while any change is still saved.
    """

    saved_when_changed: dict[str, Any] = {}
    #: Where a transformers v5 ``processor_config.json`` nests an image processor's settings.
    processor_config_key = "image_processor"

    def to_dict(self) -> dict[str, Any]:
        output = super().to_dict()
        for key, default in self.saved_when_changed.items():
            if key in output and type(output[key]) is type(default) and output[key] == default:
                del output[key]
        return output


class BaseImageProcessor(ImageProcessingMixin):
    """Shared image steps and the standard pipeline; a model's processor sets its settings.

    Settings (instance attributes, saved as JSON): ``do_convert_rgb``, ``do_resize`` /
    ``size`` / ``resample``, ``do_center_crop`` / ``crop_size``, ``do_rescale`` /
    ``rescale_factor``, ``do_normalize`` / ``image_mean`` / ``image_std``. A step whose
    setting a subclass does not define is off (the class attributes below), so a
    subclass names only what its model uses. Any setting can be overridden per call.
    """

    model_input_names = ["pixel_values"]

    # Steps are off unless a subclass turns them on.
    do_convert_rgb = False
    do_resize = False
    size = None
    resample = PIL_RESAMPLING["bilinear"]
    do_center_crop = False
    crop_size = None
    do_rescale = False
    rescale_factor = 1 / 255
    do_normalize = False
    image_mean = None
    image_std = None

    SETTINGS = (
        "do_convert_rgb", "do_resize", "size", "resample", "do_center_crop", "crop_size",
        "do_rescale", "rescale_factor", "do_normalize", "image_mean", "image_std",
    )

    # -- settings ----------------------------------------------------------------------
    def settings(self, **overrides: Any) -> dict[str, Any]:
        """This processor's settings with ``overrides`` applied (None keeps the setting), checked."""
        unknown = sorted(set(overrides) - set(self.SETTINGS))
        if unknown:
            raise TypeError(
                f"{type(self).__name__}: unknown argument(s) {', '.join(unknown)}; settings are {', '.join(self.SETTINGS)}"
            )
        settings = {key: getattr(self, key) for key in self.SETTINGS}
        settings.update({key: value for key, value in overrides.items() if value is not None})
        self.check_settings(settings)
        return settings

    def validate(self) -> None:
        """Raise a ValueError naming the setting when one is invalid."""
        self.settings()

    def check_settings(self, settings: dict[str, Any]) -> None:
        """Check every setting (whether or not its step is on), naming the bad one."""
        for key in ("do_convert_rgb", "do_resize", "do_center_crop", "do_rescale", "do_normalize"):
            if not isinstance(settings[key], (bool, np.bool_)):
                raise ValueError(f"{key} must be True or False, got {settings[key]!r}")
        if settings["size"] is not None or settings["do_resize"]:
            size_to_height_width(settings["size"], name="size")
        if settings["crop_size"] is not None or settings["do_center_crop"]:
            if isinstance(settings["crop_size"], dict) and "shortest_edge" in settings["crop_size"]:
                raise ValueError(f"crop_size={settings['crop_size']!r} must give a height and a width")
            size_to_height_width(settings["crop_size"], name="crop_size")
        resample_filter(settings["resample"])
        factor = settings["rescale_factor"]
        if isinstance(factor, bool) or not isinstance(factor, numbers.Real) or not math.isfinite(factor):
            raise ValueError(f"rescale_factor must be a finite number, got {factor!r}")
        for key in ("image_mean", "image_std"):
            value = settings[key]
            if value is None:
                if settings["do_normalize"]:
                    raise ValueError(f"do_normalize=True needs {key}")
                continue
            values = list(value) if isinstance(value, (list, tuple, np.ndarray)) else [value]
            if not values or not all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in values):
                raise ValueError(f"{key} must be a number or a list of numbers (one per channel), got {value!r}")
        mean, std = settings["image_mean"], settings["image_std"]
        sequence = (list, tuple, np.ndarray)
        if isinstance(mean, sequence) and isinstance(std, sequence) and len(mean) != len(std):
            raise ValueError(f"image_mean has {len(mean)} values but image_std has {len(std)}; give one per channel")
        if std is not None and any(v == 0 for v in (std if isinstance(std, sequence) else [std])):
            raise ValueError(f"image_std must not contain 0 (it divides), got {std!r}")

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, return_unused_kwargs: bool = False, **kwargs: Any):
        """As the base class, then check the settings, so a bad override fails at load time."""
        result = super().from_dict(data, return_unused_kwargs=return_unused_kwargs, **kwargs)
        (result[0] if return_unused_kwargs else result).validate()
        return result

    # -- inputs ------------------------------------------------------------------------
    @staticmethod
    def make_list_of_images(images: Any) -> list[Any]:
        """A list of single images from one image, a list / tuple of images, or a 4-d batch.

        One image is a PIL image, or an array / tensor of 2 (H, W) or 3 dimensions.
        """
        if _is_pil_image(images):
            return [images]
        if _is_array_like(images):
            ndim = len(images.shape)
            if ndim in (2, 3):
                return [images]
            if ndim == 4:
                return list(images)
            raise ValueError(
                f"images: expected one image with 2 or 3 dimensions or a batch with 4, got shape {tuple(images.shape)}"
            )
        if isinstance(images, (list, tuple)):
            if not images:
                raise ValueError("images: got an empty list; pass at least one image")
            for index, image in enumerate(images):
                if not (_is_pil_image(image) or (_is_array_like(image) and len(image.shape) in (2, 3))):
                    raise TypeError(
                        f"images[{index}]: expected a PIL image or an array / tensor of shape (H, W), (H, W, C) "
                        f"or (C, H, W), got {_describe(image)}"
                    )
            return list(images)
        raise TypeError(
            "images: expected a PIL image, a numpy array or framework tensor, or a list of them, "
            f"got {_describe(images)}"
        )

    @staticmethod
    def to_numpy_image(image: Any, input_data_format: str | None = None, name: str = "images") -> np.ndarray:
        """One image as a channels-first numpy array ``(C, H, W)``, its dtype kept.

        Accepts a PIL image (any mode; grayscale gives 1 channel, RGBA 4), a numpy array or
        a torch / TensorFlow / JAX tensor of shape ``(H, W)``, ``(H, W, C)`` or ``(C, H, W)``.
        Where the channel axis is ambiguous it is taken to be first (as transformers does);
        pass ``input_data_format`` to say it.
        """
        if _is_pil_image(image):
            array = np.asarray(image)
            input_data_format = "channels_last"
        elif _is_array_like(image):
            if hasattr(image, "detach"):  # torch: leave the autograd graph and the device
                image = image.detach().cpu()
            array = np.asarray(image)
        else:
            raise TypeError(f"{name}: expected a PIL image, a numpy array or a framework tensor, got {_describe(image)}")
        if array.dtype == bool or not (np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)):
            raise TypeError(f"{name}: pixels must be integers or floats, got dtype {array.dtype}")
        if array.ndim == 2:
            return array[None]
        if array.ndim != 3:
            raise ValueError(f"{name}: an image must have shape (H, W), (H, W, C) or (C, H, W), got {array.shape}")
        if input_data_format is None:
            if array.shape[0] in (1, 3, 4):
                input_data_format = "channels_first"
            elif array.shape[-1] in (1, 3, 4):
                input_data_format = "channels_last"
            else:
                raise ValueError(
                    f"{name}: cannot tell the channel axis of an image of shape {array.shape} (expected 1, 3 or 4 "
                    "channels first or last); pass input_data_format='channels_first' or 'channels_last'"
                )
        elif input_data_format not in DATA_FORMATS:
            raise ValueError(f"input_data_format must be one of {DATA_FORMATS} or None, got {input_data_format!r}")
        return np.moveaxis(array, -1, 0) if input_data_format == "channels_last" else array

    # -- steps (channels-first numpy arrays) ---------------------------------------------
    @staticmethod
    def convert_to_rgb(image: Any, name: str = "images") -> Any:
        """Three RGB channels: grayscale repeated, transparency composited onto white.

        A PIL image is converted by Pillow (palette, CMYK... included) and stays a PIL
        image; an array ``(C, H, W)`` with 1 (gray), 2 (gray + alpha), 3 or 4 (RGBA)
        channels becomes ``(3, H, W)`` of the same dtype.
        """
        if _is_pil_image(image):
            from PIL import Image

            if "A" in image.getbands() or image.info.get("transparency") is not None:
                rgba = image.convert("RGBA")
                white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
                return Image.alpha_composite(white, rgba).convert("RGB")
            return image.convert("RGB")
        channels = image.shape[0]
        if channels not in (1, 2, 3, 4):
            raise ValueError(f"{name}: cannot convert an image with {channels} channels to RGB (expected 1 to 4)")
        if channels in (2, 4):
            integer = np.issubdtype(image.dtype, np.integer)
            if not integer and (image.min() < 0.0 or image.max() > 1.0):
                raise ValueError(
                    f"{name}: a float image with transparency must have values in [0, 1] to be composited onto white, "
                    f"got [{image.min()}, {image.max()}]"
                )
            white = 255 if integer else 1.0
            alpha = image[-1:] / white
            composite = alpha * image[:-1] + (1 - alpha) * white
            image = np.round(composite).astype(image.dtype) if integer else composite.astype(image.dtype)
        return np.repeat(image, 3, axis=0) if image.shape[0] == 1 else image

    @staticmethod
    def resize(image: np.ndarray, size: Any, resample: Any = PIL_RESAMPLING["bilinear"], name: str = "images") -> np.ndarray:
        """Resize a ``(C, H, W)`` image through Pillow to ``size`` (see :func:`size_to_height_width`).

        Pillow works on 8-bit pixels: integer images must be in 0..255; a float image
        whose values are whole numbers in 0..255 is taken as such, one in [0, 1] is scaled
        by 255 (then truncated) and the result scaled back, so its range is kept. 1 to 4
        channels are resized together (Pillow premultiplies alpha for 2 and 4), more one by one.
        """
        from PIL import Image

        height, width = size_to_height_width(size, image.shape[-2:])
        pil_filter = resample_filter(resample)
        pixels, scaled = _to_uint8(image, name)
        if pixels.shape[0] <= 4:
            hwc = pixels[0] if pixels.shape[0] == 1 else np.moveaxis(pixels, 0, -1)
            resized = np.asarray(Image.fromarray(hwc).resize((width, height), resample=pil_filter))
            resized = resized[None] if resized.ndim == 2 else np.moveaxis(resized, -1, 0)
        else:
            bands = [Image.fromarray(band).resize((width, height), resample=pil_filter) for band in pixels]
            resized = np.stack([np.asarray(band) for band in bands])
        return BaseImageProcessor.rescale(resized, 1 / 255) if scaled else resized

    @staticmethod
    def center_crop(image: np.ndarray, size: Any) -> np.ndarray:
        """Crop the center ``size`` of a ``(C, H, W)`` image, padding with zeros where it is smaller."""
        crop_height, crop_width = size_to_height_width(size, image.shape[-2:], name="crop_size")
        height, width = image.shape[-2:]
        top, left = (height - crop_height) // 2, (width - crop_width) // 2
        if top >= 0 and left >= 0:
            return image[..., top : top + crop_height, left : left + crop_width]
        # Too small on one side: center the image on a zero canvas at least as large as both.
        canvas_height, canvas_width = max(crop_height, height), max(crop_width, width)
        canvas = np.zeros(image.shape[:-2] + (canvas_height, canvas_width), dtype=image.dtype)
        pad_top, pad_left = math.ceil((canvas_height - height) / 2), math.ceil((canvas_width - width) / 2)
        canvas[..., pad_top : pad_top + height, pad_left : pad_left + width] = image
        top, left = top + pad_top, left + pad_left
        return canvas[..., max(0, top) : top + crop_height, max(0, left) : left + crop_width]

    @staticmethod
    def rescale(image: np.ndarray, scale: float) -> np.ndarray:
        """``image * scale`` as float32 (computed in float64, so uint8 * 1/255 rounds once)."""
        return (image.astype(np.float64) * scale).astype(np.float32)

    @staticmethod
    def normalize(image: np.ndarray, mean: Any, std: Any) -> np.ndarray:
        """``(image - mean) / std`` per channel of a ``(C, H, W)`` image; a number applies to every channel.

        Computed in the image's float dtype (float32 for integer images).
        """
        if not np.issubdtype(image.dtype, np.floating):
            image = image.astype(np.float32)
        channels = image.shape[0]
        stats = {}
        for key, value in (("image_mean", mean), ("image_std", std)):
            values = list(value) if isinstance(value, (list, tuple, np.ndarray)) else [value] * channels
            if len(values) != channels:
                raise ValueError(
                    f"{key} has {len(values)} values but the image has {channels} channel(s); "
                    "give one value per channel (or set do_convert_rgb=True for grayscale / RGBA images)"
                )
            stats[key] = np.asarray(values, dtype=image.dtype)[:, None, None]
        return (image - stats["image_mean"]) / stats["image_std"]

    # -- pipeline ----------------------------------------------------------------------
    def __call__(self, images: Any, **kwargs: Any) -> BatchFeature:
        """Same as :meth:`preprocess`."""
        return self.preprocess(images, **kwargs)

    def preprocess(
        self,
        images: Any,
        *,
        return_tensors: str | None = None,
        data_format: str = "channels_first",
        input_data_format: str | None = None,
        **overrides: Any,
    ) -> BatchFeature:
        """``pixel_values`` for one image or a batch, as float32 ``(C, H, W)`` each
        (``(H, W, C)`` with ``data_format="channels_last"``).

        ``return_tensors`` None gives a list of numpy arrays (images of different sizes
        cannot be stacked); "np", "pt", "tf" or "jax" one stacked batch tensor.
        ``overrides`` replace settings for this call only.
        """
        if data_format not in DATA_FORMATS:
            raise ValueError(f"data_format must be one of {DATA_FORMATS}, got {data_format!r}")
        settings = self.settings(**overrides)
        images = self.make_list_of_images(images)
        pixel_values = []
        for index, image in enumerate(images):
            name = f"images[{index}]" if len(images) > 1 else "images"
            array = self.preprocess_image(image, settings, input_data_format=input_data_format, name=name)
            pixel_values.append(np.moveaxis(array, 0, -1) if data_format == "channels_last" else array)
        return BatchFeature({"pixel_values": pixel_values}, tensor_type=return_tensors)

    def preprocess_image(
        self, image: Any, settings: dict[str, Any], input_data_format: str | None = None, name: str = "images"
    ) -> np.ndarray:
        """The standard steps on one image, in transformers' order; a float32 ``(C, H, W)`` array.

        Subclasses with other steps override this (or :meth:`preprocess`) and reuse the helpers.
        """
        if settings["do_convert_rgb"] and _is_pil_image(image):
            image = self.convert_to_rgb(image)  # before numpy, so Pillow handles every mode
        image = self.to_numpy_image(image, input_data_format, name=name)
        if settings["do_convert_rgb"]:
            image = self.convert_to_rgb(image, name=name)
        if settings["do_resize"]:
            image = self.resize(image, settings["size"], settings["resample"], name=name)
        if settings["do_center_crop"]:
            image = self.center_crop(image, settings["crop_size"])
        if settings["do_rescale"]:
            image = self.rescale(image, settings["rescale_factor"])
        if settings["do_normalize"]:
            image = self.normalize(image, settings["image_mean"], settings["image_std"])
        return np.ascontiguousarray(image, dtype=np.float32)


def _to_uint8(image: np.ndarray, name: str) -> tuple[np.ndarray, bool]:
    """8-bit pixels for Pillow, and whether they were scaled up from [0, 1] (transformers' rule)."""
    if image.dtype == np.uint8:
        return image, False
    if np.allclose(image, image.astype(int)):
        if image.min() >= 0 and image.max() <= 255:
            return image.astype(np.uint8), False
    elif image.min() >= 0 and image.max() <= 1:
        return BaseImageProcessor.rescale(image, 255).astype(np.uint8), True
    raise ValueError(
        f"{name}: to be resized, pixels must be whole numbers in [0, 255] or floats in [0, 1], "
        f"got values in [{image.min()}, {image.max()}]"
    )


def _describe(value: Any) -> str:
    shape = getattr(value, "shape", None)
    kind = f"{type(value).__module__}.{type(value).__qualname__}".removeprefix("builtins.")
    return f"{kind} of shape {tuple(shape)}" if shape is not None else kind
