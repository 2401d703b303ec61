"""Image processors: settings saved as ``preprocessor_config.json`` plus numpy image steps.

:class:`ImageProcessingMixin` is the saved part (a :class:`FeatureExtractionMixin`, so the
JSON keeps the ``feature_extractor_type`` key that transformers still reads and the
guide prints). :class:`BaseImageProcessor` adds the steps every vision model shares,
as public numpy helpers, and the pipeline that chains them:

    to_numpy_image -> convert_to_rgb -> resize -> center_crop -> rescale -> normalize

Images travel between steps as channels-first numpy arrays ``(C, H, W)``. Where an input's
channel axis is not given (``input_data_format``), it is inferred as transformers does
(:func:`infer_channel_dimension_format`): the axis, first or last, that could hold 1, 3 or
4 channels, the first when both could (with a warning). The public steps accept
``input_data_format`` too and return the layout they were given. Their dtype
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
import warnings
from typing import Any

import numpy as np

from .feature_extraction import BatchFeature, FeatureExtractionMixin

__all__ = [
    "BaseImageProcessor",
    "ImageProcessingMixin",
    "PIL_RESAMPLING",
    "infer_channel_dimension_format",
    "resample_filter",
    "size_to_height_width",
]

#: Pillow's filter numbers by name (stable across Pillow versions). Other names that
#: the installed Pillow knows (``MKS2021``...) are looked up in Pillow itself.
PIL_RESAMPLING = {"nearest": 0, "lanczos": 1, "bilinear": 2, "bicubic": 3, "box": 4, "hamming": 5}

DATA_FORMATS = ("channels_first", "channels_last")
#: Pillow modes whose numpy array (``np.asarray``) ``Image.fromarray`` turns back into the same image,
#: so resizing such an image directly gives the pixels that resizing its array gives.
PIL_MODES_AS_ARRAYS = ("L", "RGB", "RGBA")
#: The channel counts an image processor recognises when it infers the channel axis
#: (transformers' image processors use the same three).
IMAGE_CHANNELS = (1, 3, 4)


def _data_format_name(value: Any, name: str = "input_data_format", allow_none: bool = True) -> str | None:
    """``"channels_first"`` / ``"channels_last"`` (or None, when allowed) from a string or an enum
    member such as transformers' ``ChannelDimension.FIRST`` (whose value is that string)."""
    if value is None and allow_none:
        return None
    text = getattr(value, "value", value)
    if isinstance(text, str) and text in DATA_FORMATS:
        return text
    accepted = "'channels_first', 'channels_last'" + (" or None" if allow_none else "")
    raise ValueError(f"{name} must be {accepted}, got {value!r}")


def infer_channel_dimension_format(
    image: Any, num_channels: int | tuple[int, ...] | None = None, name: str = "image"
) -> str:
    """Which end of ``image`` holds the channels: ``"channels_first"`` or ``"channels_last"``.

    transformers' rule: for an image of 3 dimensions (or a batch of 4, or 5), the first
    (non-batch) axis is the channel axis if its size is one of ``num_channels`` (default
    1 or 3, as in transformers' function; the processors pass 1, 3 or 4, as transformers'
    do), else the last one if its size is. When both could be, the first is taken and a
    warning says the image is ambiguous; when neither can be, it is an error. Passing
    ``input_data_format`` to a processor or step settles it.
    """
    if num_channels is None:
        num_channels = (1, 3)
    allowed = (num_channels,) if isinstance(num_channels, int) else tuple(num_channels)
    shape = tuple(np.shape(image))
    if len(shape) not in (3, 4, 5):
        raise ValueError(
            f"{name}: cannot infer the channel axis of an array of shape {shape}; expected 3 to 5 dimensions"
        )
    first, last = shape[len(shape) - 3], shape[-1]
    counts = ", ".join(map(str, allowed[:-1])) + f" or {allowed[-1]}" if len(allowed) > 1 else str(allowed[0])
    hint = "pass input_data_format='channels_first' or 'channels_last'"
    if first in allowed and last in allowed:
        warnings.warn(
            f"{name}: the channel axis of an image of shape {shape} is ambiguous (its first and last axes could "
            f"both hold {counts} channels); taking the first, as transformers does. To say which, {hint}.",
            stacklevel=2,
        )
        return "channels_first"
    if first in allowed:
        return "channels_first"
    if last in allowed:
        return "channels_last"
    raise ValueError(
        f"{name}: cannot tell the channel axis of an image of shape {shape} (expected {counts} channels first "
        f"or last); {hint}"
    )


def _channels_first(image: np.ndarray, input_data_format: Any, name: str) -> tuple[np.ndarray, str]:
    """``image`` as ``(C, H, W)`` and its layout (``"2d"`` for ``(H, W)``), for :func:`_restore_layout`."""
    layout = _data_format_name(input_data_format)
    if image.ndim == 2:
        return image[None], "2d"
    if image.ndim != 3:
        raise ValueError(f"{name}: an image must have shape (H, W), (H, W, C) or (C, H, W), got {image.shape}")
    if layout is None:
        layout = infer_channel_dimension_format(image, IMAGE_CHANNELS, name=name)
    return (np.moveaxis(image, -1, 0) if layout == "channels_last" else image), layout


def _restore_layout(image: np.ndarray, layout: str) -> np.ndarray:
    """Back from ``(C, H, W)`` to the layout :func:`_channels_first` found."""
    if layout == "2d" and image.shape[0] == 1:
        return image[0]
    return np.moveaxis(image, 0, -1) if layout == "channels_last" else image


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
        if settings["do_convert_rgb"] is not None and not isinstance(settings["do_convert_rgb"], (bool, np.bool_)):
            raise ValueError(f"do_convert_rgb must be True, False or None, got {settings['do_convert_rgb']!r}")
        for key in ("do_resize", "do_center_crop", "do_rescale", "do_normalize"):
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
        """As the base class, then check the settings, so a bad override fails at load time.

        A ``size`` / ``crop_size`` override given as an int or a ``(height, width)`` pair is
        stored as ``{"height", "width"}``, as transformers stores it; the saved values are
        kept as written, so a file keeps its form.
        """
        for key in ("size", "crop_size"):
            if key in kwargs:
                kwargs[key] = _height_width_dict(kwargs[key], key)
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
        The channel axis is ``input_data_format`` when given, else inferred as transformers
        does (:func:`infer_channel_dimension_format` over 1, 3 or 4 channels: first when both
        ends could be, with a warning).
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
        return _channels_first(array, input_data_format, name)[0]

    # -- steps (numpy arrays in either layout; (C, H, W) inside) --------------------------
    @staticmethod
    def convert_to_rgb(image: Any, name: str = "images", *, input_data_format: Any = None) -> Any:
        """Three RGB channels: grayscale repeated, transparency composited onto white.

        A PIL image is converted by Pillow (palette, CMYK... included) and stays a PIL
        image; an array with 1 (gray), 2 (gray + alpha), 3 or 4 (RGBA) channels gets 3, in
        its layout (``input_data_format``, inferred when None) and dtype.
        """
        if _is_pil_image(image):
            from PIL import Image

            if "A" in image.getbands() or image.info.get("transparency") is not None:
                rgba = image.convert("RGBA")
                white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
                return Image.alpha_composite(white, rgba).convert("RGB")
            return image.convert("RGB")
        image, layout = _channels_first(np.asarray(image), input_data_format, name)
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
        return _restore_layout(np.repeat(image, 3, axis=0) if image.shape[0] == 1 else image, layout)

    @staticmethod
    def resize(
        image: np.ndarray,
        size: Any,
        resample: Any = PIL_RESAMPLING["bilinear"],
        name: str = "images",
        *,
        input_data_format: Any = None,
    ) -> np.ndarray:
        """Resize an image through Pillow to ``size`` (see :func:`size_to_height_width`), in its layout.

        The channel axis is ``input_data_format``, or inferred when None (see
        :func:`infer_channel_dimension_format`).

        Pillow works on 8-bit pixels: integer images must be in 0..255; a float image
        whose values are whole numbers in 0..255 is taken as such, one in [0, 1] is scaled
        by 255 (then truncated) and the result scaled back, so its range is kept. 1 to 4
        channels are resized together (Pillow premultiplies alpha for 2 and 4), more one by one.
        """
        from PIL import Image

        image, layout = _channels_first(np.asarray(image), input_data_format, name)
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
        return _restore_layout(BaseImageProcessor.rescale(resized, 1 / 255) if scaled else resized, layout)

    @staticmethod
    def center_crop(image: np.ndarray, size: Any, *, input_data_format: Any = None, name: str = "images") -> np.ndarray:
        """Crop the center ``size`` of an image, padding with zeros where it is smaller; its layout is kept."""
        image, layout = _channels_first(np.asarray(image), input_data_format, name)
        crop_height, crop_width = size_to_height_width(size, image.shape[-2:], name="crop_size")
        height, width = image.shape[-2:]
        top, left = (height - crop_height) // 2, (width - crop_width) // 2
        if top < 0 or left < 0:
            # Too small on one side: center the image on a zero canvas at least as large as both.
            canvas_height, canvas_width = max(crop_height, height), max(crop_width, width)
            canvas = np.zeros(image.shape[:-2] + (canvas_height, canvas_width), dtype=image.dtype)
            pad_top, pad_left = math.ceil((canvas_height - height) / 2), math.ceil((canvas_width - width) / 2)
            canvas[..., pad_top : pad_top + height, pad_left : pad_left + width] = image
            image, top, left = canvas, top + pad_top, left + pad_left
        cropped = image[..., max(0, top) : max(0, top) + crop_height, max(0, left) : max(0, left) + crop_width]
        return _restore_layout(cropped, layout)

    @staticmethod
    def rescale(image: np.ndarray, scale: float) -> np.ndarray:
        """``image * scale`` as float32 (computed in float64, so uint8 * 1/255 rounds once)."""
        scaled = image.astype(np.float64)
        scaled *= scale
        return scaled.astype(np.float32)

    @staticmethod
    def normalize(
        image: np.ndarray, mean: Any, std: Any, *, input_data_format: Any = None, name: str = "images"
    ) -> np.ndarray:
        """``(image - mean) / std`` per channel; a number applies to every channel; the layout is kept.

        Computed in the image's float dtype (float32 for integer images).
        """
        image, layout = _channels_first(np.asarray(image), input_data_format, name)
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
        normalized = image - stats["image_mean"]
        normalized /= stats["image_std"]
        return _restore_layout(normalized, layout)

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
        ``input_data_format`` says where the channels of array inputs are
        ("channels_first" / "channels_last"); None infers it per image, as transformers does.
        ``overrides`` replace settings for this call only.
        """
        data_format = _data_format_name(data_format, "data_format", allow_none=False)
        input_data_format = _data_format_name(input_data_format)
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
        # A PIL image whose numpy array Pillow would turn back into the same image is resized as it is:
        # the same pixels as through numpy, without copying the full-size image out and back in.
        resize_as_pil = (settings["do_resize"] and _is_pil_image(image) and image.mode in PIL_MODES_AS_ARRAYS
                         and type(self).resize is BaseImageProcessor.resize)
        if resize_as_pil:
            height, width = size_to_height_width(settings["size"], (image.height, image.width))
            image = image.resize((width, height), resample=resample_filter(settings["resample"]))
        image = self.to_numpy_image(image, input_data_format, name=name)
        first = "channels_first"  # every step below gets (C, H, W)
        if settings["do_convert_rgb"]:
            image = self.convert_to_rgb(image, name=name, input_data_format=first)
        if settings["do_resize"] and not resize_as_pil:
            image = self.resize(image, settings["size"], settings["resample"], name=name, input_data_format=first)
        if settings["do_center_crop"]:
            image = self.center_crop(image, settings["crop_size"], input_data_format=first, name=name)
        # Images arrive as (C, H, W) views of (H, W, C) memory; the per-pixel steps run several times
        # faster on contiguous rows (the same numbers: they are elementwise).
        image = np.ascontiguousarray(image)
        if settings["do_rescale"]:
            image = self.rescale(image, settings["rescale_factor"])
        if settings["do_normalize"]:
            image = self.normalize(image, settings["image_mean"], settings["image_std"], input_data_format=first,
                                   name=name)
        return np.ascontiguousarray(image, dtype=np.float32)


def _height_width_dict(size: Any, name: str) -> Any:
    """An int or ``(height, width)`` size as ``{"height", "width"}``; dicts (and bad values, checked later) as given."""
    if isinstance(size, dict):
        return size
    try:
        height, width = size_to_height_width(size, name=name)
    except (TypeError, ValueError):
        return size  # the settings check names it
    return {"height": height, "width": width}


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
