"""Image processors: the guide's prints, and pixel_values against transformers' ViT processor.

The oracle is transformers v5's PIL backend, ``ViTImageProcessorPil`` (the "slow"
processor: numpy + Pillow; its torchvision backend is the "fast" one, and
``AutoImageProcessor`` falls back to PIL without torchvision). Images are drawn with
numpy from fixed seeds; nothing is downloaded.
"""

import json
import re
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

import polyformer
from polyformer.core.image_processing import BaseImageProcessor, resample_filter, size_to_height_width
from polyformer.models.vit.configuration import ViTConfig
from polyformer.models.vit.image_processing import ViTImageProcessor

transformers = pytest.importorskip("transformers")  # test-only oracle
transformers.logging.set_verbosity_error()
from transformers.models.vit.image_processing_pil_vit import ViTImageProcessorPil  # noqa: E402

ATOL = 1e-5
GUIDE_DEFAULT = {
    "do_normalize": True,
    "do_resize": True,
    "feature_extractor_type": "ViTImageProcessor",
    "image_mean": [0.5, 0.5, 0.5],
    "image_std": [0.5, 0.5, 0.5],
    "resample": 2,
    "size": 224,
}
GUIDE_CUSTOM = dict(GUIDE_DEFAULT, do_normalize=False, image_mean=[0.3, 0.3, 0.3], resample="PIL.Image.BOX")


def _printed(obj) -> dict:
    text = repr(obj)
    name = type(obj).__name__
    assert text.startswith(name + " {\n")
    body = text[len(name) + 1 :]
    assert list(json.loads(body)) == sorted(json.loads(body))
    return json.loads(body)


def _rgb(height, width, seed=0):
    return np.random.RandomState(seed).randint(0, 256, (height, width, 3), dtype=np.uint8)


def _pil(height, width, mode="RGB", seed=0):
    channels = {"RGB": 3, "RGBA": 4, "L": 1}[mode]
    pixels = np.random.RandomState(seed).randint(0, 256, (height, width, channels), dtype=np.uint8)
    if mode == "RGBA":
        pixels[..., 3] = np.random.RandomState(seed + 1).choice([0, 90, 255], (height, width))
    return Image.fromarray(pixels[..., 0] if mode == "L" else pixels, mode=mode)


def _theirs(images, **kwargs):
    call = {k: kwargs.pop(k) for k in ("do_resize", "do_rescale", "do_normalize", "input_data_format") if k in kwargs}
    out = ViTImageProcessorPil(**kwargs)(images, return_tensors="np", **call)
    return out["pixel_values"]


def _ours(images, **kwargs):
    call = {k: kwargs.pop(k) for k in ("do_resize", "do_rescale", "do_normalize", "input_data_format") if k in kwargs}
    out = ViTImageProcessor(**kwargs)(images, return_tensors="np", **call)
    assert out["pixel_values"].dtype == np.float32
    return out["pixel_values"]


def _same(images, **kwargs):
    ours, theirs = _ours(images, **dict(kwargs)), _theirs(images, **dict(kwargs))
    assert ours.shape == theirs.shape
    np.testing.assert_allclose(ours, theirs, atol=ATOL, rtol=0)
    return ours


# -- the guide -----------------------------------------------------------------------
def test_guide_prints():
    assert _printed(polyformer.ViTImageProcessor()) == GUIDE_DEFAULT
    custom = polyformer.ViTImageProcessor(resample="PIL.Image.BOX", do_normalize=False, image_mean=[0.3, 0.3, 0.3])
    assert _printed(custom) == GUIDE_CUSTOM


def test_later_settings_are_saved_only_when_changed():
    printed = _printed(ViTImageProcessor(do_rescale=False, rescale_factor=0.5, do_convert_rgb=True))
    assert printed == dict(GUIDE_DEFAULT, do_rescale=False, rescale_factor=0.5, do_convert_rgb=True)
    assert _printed(ViTImageProcessor(do_convert_rgb=False))["do_convert_rgb"] is False
    assert _printed(ViTImageProcessor(size={"height": 224, "width": 224}))["size"] == {"height": 224, "width": 224}


# -- pixel values against transformers --------------------------------------------------
@pytest.mark.parametrize("height, width", [(224, 224), (30, 41), (300, 257), (5, 7)])
def test_pil_rgb_sizes(height, width):
    assert _same(_pil(height, width, seed=height)).shape == (1, 3, 224, 224)


@pytest.mark.parametrize("mode", ["L", "RGBA"])
def test_grayscale_and_rgba_pil(mode):
    image = _pil(40, 50, mode)
    ours = _ours(image, do_convert_rgb=True)
    np.testing.assert_allclose(ours, _theirs(image, do_convert_rgb=True), atol=ATOL, rtol=0)
    assert ours.shape == (1, 3, 224, 224)
    # Off by default, as in transformers: the image keeps its channels, which ViT's 3-value statistics refuse.
    with pytest.raises(ValueError):
        _theirs(image)
    with pytest.raises(ValueError, match=r"image_mean has 3 values but the image has \d channel.*do_convert_rgb=True"):
        _ours(image)


# PIL images in modes L, RGB and RGBA are resized by Pillow as they are (no full-size numpy copy out and
# back), and the per-pixel steps run on contiguous memory: for speed only, so the numbers must stay
# exactly transformers' (the same float operations in the same order), not just within ATOL.
@pytest.mark.parametrize("mode", ["RGB", "L", "RGBA", "LA", "P"])
@pytest.mark.parametrize("do_convert_rgb", [True, False])
@pytest.mark.parametrize("size", [{"height": 224, "width": 224}, {"height": 24, "width": 40}])
@pytest.mark.parametrize("resample", [2, 3, 1])
def test_pil_pixel_values_are_bit_identical_to_transformers(mode, do_convert_rgb, size, resample):
    rgba = _pil(45, 61, "RGBA", seed=7)
    image = rgba if mode == "RGBA" else rgba.convert(mode)
    settings = dict(do_convert_rgb=do_convert_rgb, size=size, resample=resample)
    if not do_convert_rgb and mode != "RGB":
        settings["do_normalize"] = False  # ViT's statistics have 3 values; these images keep their own channels
    try:
        theirs = _theirs(image, **dict(settings))
    except (ValueError, TypeError):
        pytest.skip(f"transformers does not take a {mode} image with {settings}")
    ours = _ours(image, **settings)
    assert ours.shape == theirs.shape
    np.testing.assert_array_equal(ours, theirs)
    # The same image given as its numpy array goes through numpy and gives the same pixels.
    if mode in ("RGB", "L", "RGBA"):
        np.testing.assert_array_equal(_ours(np.asarray(image), **settings, input_data_format="channels_last"), ours)


def test_numpy_pixel_values_are_bit_identical_to_transformers():
    images = [_rgb(60, 80), _rgb(300, 257, seed=1), np.ascontiguousarray(np.moveaxis(_rgb(33, 47, seed=2), -1, 0))]
    np.testing.assert_array_equal(_ours(images), _theirs(images))
    floats = np.random.RandomState(3).rand(2, 3, 40, 30).astype(np.float32)
    np.testing.assert_array_equal(_ours(floats), _theirs(floats))


def test_a_subclass_resize_is_used_for_pil_images_too():
    """PIL images skip the numpy round trip only for the base class's resize, never past a subclass's own."""
    calls = []

    class Counting(ViTImageProcessor):
        @staticmethod
        def resize(image, size, resample=2, name="images", *, input_data_format=None):
            calls.append(np.shape(image))
            return BaseImageProcessor.resize(image, size, resample, name, input_data_format=input_data_format)

    image = _pil(30, 50)
    out = Counting()(image, return_tensors="np")["pixel_values"]
    assert calls == [(3, 30, 50)]
    np.testing.assert_array_equal(out, _ours(image))


def test_numpy_inputs():
    _same(_rgb(60, 80))  # uint8 HWC
    chw = np.random.RandomState(1).rand(3, 64, 48).astype(np.float32)  # float CHW in [0, 1]
    _same(chw, do_rescale=False)
    _same(chw)  # rescaled twice in both, as asked
    gray = np.random.RandomState(2).randint(0, 256, (33, 21, 1), dtype=np.uint8)
    _same(gray, do_convert_rgb=True)
    rgba = np.random.RandomState(3).randint(0, 256, (4, 33, 21), dtype=np.uint8)
    _same(rgba, do_convert_rgb=True)
    ambiguous = np.random.RandomState(4).randint(0, 256, (3, 10, 3), dtype=np.uint8)
    _same(ambiguous, input_data_format="channels_last")
    with pytest.warns(UserWarning, match="ambiguous"):
        _same(ambiguous)  # channels first when both ends could be channels, as transformers


def test_batch():
    batch = [_pil(40, 50, seed=1), _rgb(70, 30), _pil(224, 224, seed=2)]
    assert _same(batch).shape == (3, 3, 224, 224)
    stacked = np.stack([_rgb(20, 20, seed=s) for s in range(4)])  # a 4-d batch
    assert _same(stacked).shape == (4, 3, 224, 224)


@pytest.mark.parametrize("step", ["do_resize", "do_rescale", "do_normalize"])
def test_steps_off(step):
    images = [_rgb(32, 48, seed=5), _rgb(32, 48, seed=6)]
    ours = _same(images, **{step: False})
    if step == "do_resize":
        assert ours.shape == (2, 3, 32, 48)
    # Turned off in the constructor, it is the same as turned off per call.
    np.testing.assert_array_equal(ViTImageProcessor(**{step: False})(images, return_tensors="np")["pixel_values"], ours)


@pytest.mark.parametrize("name, number", [("nearest", 0), ("lanczos", 1), ("bilinear", 2), ("bicubic", 3), ("box", 4), ("hamming", 5)])
def test_resample_filters(name, number):
    image = _pil(37, 53, seed=number)
    theirs = _theirs(image, resample=number)
    member = getattr(Image.Resampling, name.upper())
    for spelling in (number, member, name, name.upper(), f"PIL.Image.{name.upper()}"):
        np.testing.assert_allclose(_ours(image, resample=spelling), theirs, atol=ATOL, rtol=0)


def test_non_square_size():
    size = {"height": 96, "width": 160}
    assert _same([_pil(50, 60), _rgb(200, 100)], size=size).shape == (2, 3, 96, 160)
    # the tuple and the dict name the same size, so the same resize runs twice: bit for bit
    np.testing.assert_array_equal(_ours(_pil(50, 60), size=(96, 160)), _ours(_pil(50, 60), size=size))


def test_return_tensors():
    images = [_pil(40, 50, seed=7), _pil(50, 40, seed=8)]
    processor = ViTImageProcessor()
    expected = processor(images, return_tensors="np")["pixel_values"]
    listed = processor(images)["pixel_values"]  # None: a list of arrays, as transformers
    assert isinstance(listed, list) and all(a.shape == (3, 224, 224) for a in listed)
    np.testing.assert_array_equal(np.stack(listed), expected)

    import jax
    import tensorflow as tf
    import torch

    for tensor_type, kind in (("pt", torch.Tensor), ("tf", tf.Tensor), ("jax", jax.Array)):
        values = processor(images, return_tensors=tensor_type).pixel_values
        assert isinstance(values, kind) and tuple(values.shape) == (2, 3, 224, 224)
        np.testing.assert_array_equal(np.asarray(values), expected)
        assert "float32" in str(values.dtype)


def test_framework_tensors_as_input():
    import jax.numpy as jnp
    import tensorflow as tf
    import torch

    hwc = _rgb(30, 40, seed=9)
    expected = _ours(hwc)
    chw = np.ascontiguousarray(hwc.transpose(2, 0, 1))
    np.testing.assert_allclose(_theirs(torch.from_numpy(chw)), expected, atol=ATOL, rtol=0)
    for tensor in (torch.from_numpy(chw), tf.constant(hwc), jnp.asarray(chw), torch.from_numpy(chw[None])):
        np.testing.assert_array_equal(_ours(tensor), expected)


def test_channels_last_output():
    image = _pil(40, 50)
    first = ViTImageProcessor()(image, return_tensors="np")["pixel_values"]
    last = ViTImageProcessor()(image, return_tensors="np", data_format="channels_last")["pixel_values"]
    np.testing.assert_array_equal(last, first.transpose(0, 2, 3, 1))


# -- the channel axis ----------------------------------------------------------------------
SHAPES = [(3, 3, 3), (1, 5, 3), (3, 5, 1), (4, 5, 3), (3, 5, 4), (4, 4, 4), (5, 6, 3), (3, 6, 5), (6, 6, 4),
          (4, 6, 6), (5, 6, 7), (2, 3, 4, 3), (2, 4, 6, 6), (1, 2, 3, 4, 5)]


@pytest.mark.parametrize("num_channels", [None, (1, 3, 4), 3])
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_channel_axis_inference_matches_transformers(shape, num_channels):
    import warnings

    from transformers.image_utils import infer_channel_dimension_format as theirs

    from polyformer.core.image_processing import infer_channel_dimension_format as ours

    image = np.zeros(shape, dtype=np.uint8)
    try:
        expected = theirs(image, num_channels=num_channels).value
    except ValueError:
        with pytest.raises(ValueError, match=r"cannot tell the channel axis .*pass input_data_format="):
            ours(image, num_channels=num_channels)
        return
    allowed = (1, 3) if num_channels is None else (num_channels,) if isinstance(num_channels, int) else num_channels
    ambiguous = shape[-3] in allowed and shape[-1] in allowed
    counts = {(1, 3): "1 or 3", (1, 3, 4): "1, 3 or 4", (3,): "3"}[tuple(allowed)]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert ours(image, num_channels=num_channels) == expected
    assert [str(w.message) for w in caught if "ambiguous" in str(w.message)] == (
        [f"image: the channel axis of an image of shape {shape} is ambiguous (its first and last axes could both "
         f"hold {counts} channels); taking the first, as transformers does. To say which, "
         "pass input_data_format='channels_first' or 'channels_last'."] if ambiguous else [])


@pytest.mark.parametrize("shape", [(3, 3, 3), (4, 10, 3), (1, 8, 3), (3, 7, 1)], ids=str)
def test_ambiguous_images_warn_and_input_data_format_settles_them(shape):
    from transformers.image_utils import ChannelDimension

    image = np.random.RandomState(20).randint(0, 256, shape, dtype=np.uint8)
    settings = dict(image_mean=0.5, image_std=0.5, size=16)
    warning = "images: the channel axis of an image of shape " + re.escape(str(shape)) + " is ambiguous"
    with pytest.warns(UserWarning, match=warning):
        inferred = _ours(image, **settings)
    np.testing.assert_allclose(inferred, _theirs(image, **settings), atol=ATOL, rtol=0)  # channels first, as theirs
    for spelling in ("channels_last", ChannelDimension.LAST):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("error")
            last = _ours(image, input_data_format=spelling, **settings)
        np.testing.assert_allclose(last, _theirs(image, input_data_format="channels_last", **settings), atol=ATOL,
                                   rtol=0)
        assert last.shape[1] == shape[-1]


def test_four_channel_images_keep_their_channels_like_transformers():
    settings = dict(image_mean=0, image_std=1, size={"height": 18, "width": 18})
    hwc = np.random.RandomState(21).randint(0, 256, (40, 50, 4), dtype=np.uint8)
    for image, data_format in ((hwc, "channels_last"), (hwc, None), (hwc.transpose(2, 0, 1), None)):
        ours = _same(image, input_data_format=data_format, **settings)
        assert ours.shape == (1, 4, 18, 18)
    # Asked for, the conversion composites the alpha channel onto white, as transformers does.
    assert _same(hwc, do_convert_rgb=True, **settings).shape == (1, 3, 18, 18)
    assert ViTImageProcessor().do_convert_rgb is None and ViTImageProcessorPil().do_convert_rgb is None


def test_public_steps_take_input_data_format():
    from transformers.image_transforms import center_crop, normalize

    hwc = np.random.RandomState(22).randint(0, 256, (20, 31, 3), dtype=np.uint8)
    chw = np.ascontiguousarray(hwc.transpose(2, 0, 1))
    for layout, image in (("channels_last", hwc), ("channels_first", chw)):
        for data_format in (layout, None):  # said, or inferred (the last axis is the only one of 3 here)
            cropped = BaseImageProcessor.center_crop(image, (10, 12), input_data_format=data_format)
            np.testing.assert_array_equal(cropped, center_crop(image, (10, 12), input_data_format=layout))
            floats = image.astype(np.float32) / 255
            np.testing.assert_allclose(
                BaseImageProcessor.normalize(floats, [0.1, 0.2, 0.3], [0.5, 0.6, 0.7], input_data_format=data_format),
                normalize(floats, [0.1, 0.2, 0.3], [0.5, 0.6, 0.7], input_data_format=layout), atol=1e-6, rtol=0)
            resized = BaseImageProcessor.resize(image, (9, 14), "bicubic", input_data_format=data_format)
            expected = BaseImageProcessor.resize(chw, (9, 14), "bicubic", input_data_format="channels_first")
            if layout == "channels_last":
                expected = expected.transpose(1, 2, 0)
            np.testing.assert_array_equal(resized, expected)
    rgba = np.random.RandomState(23).randint(0, 256, (12, 13, 4), dtype=np.uint8)
    rgb = BaseImageProcessor.convert_to_rgb(rgba, input_data_format="channels_last")
    assert rgb.shape == (12, 13, 3)
    np.testing.assert_array_equal(rgb, BaseImageProcessor.convert_to_rgb(rgba.transpose(2, 0, 1)).transpose(1, 2, 0))
    with pytest.raises(ValueError, match="input_data_format must be 'channels_first', 'channels_last' or None, "
                                         "got 'HWC'"):
        BaseImageProcessor.resize(hwc, 8, input_data_format="HWC")


def test_size_override_at_load_is_stored_as_height_and_width(tmp_path):
    settings = {"size": {"height": 18, "width": 18}}
    assert ViTImageProcessor.from_dict(settings, size=42).size == ViTImageProcessorPil.from_dict(settings, size=42).size
    assert ViTImageProcessor.from_dict(settings, size=42).size == {"height": 42, "width": 42}
    assert ViTImageProcessor.from_dict(settings, size=(30, 40)).size == {"height": 30, "width": 40}
    assert ViTImageProcessor.from_dict(settings, size={"shortest_edge": 20}).size == {"shortest_edge": 20}
    ViTImageProcessor().save_pretrained(tmp_path)
    assert ViTImageProcessor.from_pretrained(tmp_path).size == 224  # a file keeps its form
    assert ViTImageProcessor.from_pretrained(tmp_path, size=64).size == {"height": 64, "width": 64}
    with pytest.raises(ValueError, match="size=0"):
        ViTImageProcessor.from_dict(settings, size=0)


# -- saving and loading ----------------------------------------------------------------
def test_save_and_load_round_trip(tmp_path):
    processor = ViTImageProcessor(size={"height": 64, "width": 80}, resample="PIL.Image.BOX", do_rescale=False,
                                  image_mean=[0.4, 0.45, 0.5], image_std=0.25)
    processor.save_pretrained(tmp_path)
    loaded = ViTImageProcessor.from_pretrained(tmp_path)
    assert loaded == processor and loaded.resample == "PIL.Image.BOX" and loaded.size == {"height": 64, "width": 80}
    image = _pil(50, 70)
    np.testing.assert_array_equal(loaded(image, return_tensors="np").pixel_values, processor(image, return_tensors="np").pixel_values)
    assert ViTImageProcessor.from_pretrained(tmp_path, do_normalize=False).do_normalize is False
    assert "do_rescale" not in _printed(ViTImageProcessor.from_pretrained(tmp_path, do_rescale=True))


def test_transformers_folder_loads_here(tmp_path):
    theirs = ViTImageProcessorPil(size={"height": 120, "width": 90}, resample=3, image_mean=[0.485, 0.456, 0.406],
                                  image_std=[0.229, 0.224, 0.225])
    theirs.save_pretrained(tmp_path)
    ours = ViTImageProcessor.from_pretrained(tmp_path)
    images = [_pil(100, 130, seed=10), _rgb(64, 64, seed=11)]
    expected = theirs(images, return_tensors="np")["pixel_values"]
    np.testing.assert_allclose(ours(images, return_tensors="np")["pixel_values"], expected, atol=ATOL, rtol=0)
    # A file of transformers' defaults prints as the guide does (do_rescale... are the defaults).
    ViTImageProcessorPil(size=224).save_pretrained(tmp_path / "default")
    assert _printed(ViTImageProcessor.from_pretrained(tmp_path / "default")) == dict(GUIDE_DEFAULT, size={"height": 224, "width": 224})


@pytest.mark.parametrize("settings", [{}, {"size": {"height": 64, "width": 96}, "resample": 4, "do_rescale": False,
                                           "rescale_factor": 0.5, "image_std": [0.2, 0.3, 0.4]}])
def test_our_folder_loads_in_transformers(tmp_path, settings):
    ours = ViTImageProcessor(**settings)
    ours.save_pretrained(tmp_path)
    theirs = transformers.AutoImageProcessor.from_pretrained(tmp_path, backend="pil")
    assert type(theirs).__name__ == "ViTImageProcessorPil"
    images = [_pil(80, 60, seed=12), _rgb(31, 45, seed=13)]
    np.testing.assert_allclose(
        ours(images, return_tensors="np")["pixel_values"], theirs(images, return_tensors="np")["pixel_values"],
        atol=ATOL, rtol=0,
    )


# -- shared helpers against transformers' functions ------------------------------------
def test_center_crop_and_shortest_edge():
    from transformers.image_transforms import center_crop, get_resize_output_image_size

    image = np.random.RandomState(14).rand(3, 20, 31).astype(np.float32)
    for size in [(10, 10), (20, 31), (25, 11), (40, 50), (7, 40)]:
        np.testing.assert_array_equal(BaseImageProcessor.center_crop(image, size), center_crop(image, size, input_data_format="channels_first"))
    for shape in [(3, 20, 31), (3, 31, 20), (3, 16, 16)]:
        expected = get_resize_output_image_size(np.zeros(shape), 24, default_to_square=False, input_data_format="channels_first")
        assert size_to_height_width({"shortest_edge": 24}, shape[1:]) == tuple(expected)
    resized = BaseImageProcessor.resize(image, {"shortest_edge": 10}, "bicubic")
    assert resized.shape == (3, 10, 15) and resized.dtype == np.float32


# -- bad input ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"size": 0}, "size=0"),
        ({"size": {"h": 3, "w": 4}}, "size="),
        ({"size": (224,)}, "size="),
        ({"resample": "sharpest"}, "resample='sharpest'"),
        ({"resample": 99}, "resample=99"),
        ({"do_resize": "yes"}, "do_resize"),
        ({"image_mean": [0.5, 0.5]}, "image_mean has 2 values but image_std has 3"),
        ({"image_std": [0.5, 0, 0.5]}, "image_std"),
        ({"rescale_factor": "1/255"}, "rescale_factor"),
    ],
)
def test_bad_settings(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ViTImageProcessor(**kwargs)
    with pytest.raises(ValueError, match=match):  # per call too
        ViTImageProcessor()(_rgb(8, 8), **kwargs)


def test_bad_images():
    processor = ViTImageProcessor()
    with pytest.raises(TypeError, match="images: expected a PIL image"):
        processor("cat.png")
    with pytest.raises(TypeError, match=r"images\[1\]"):
        processor([_rgb(8, 8), "cat.png"])
    with pytest.raises(ValueError, match="images: got an empty list"):
        processor([])
    with pytest.raises(ValueError, match="cannot tell the channel axis"):
        processor(np.zeros((5, 8, 6), dtype=np.uint8))
    with pytest.raises(ValueError, match="shape"):
        processor(np.zeros((1, 2, 3, 4, 5)))
    with pytest.raises(TypeError, match="dtype"):
        processor(np.zeros((8, 8, 3), dtype=bool))
    with pytest.raises(ValueError, match=r"image_mean has 3 values but the image has 1 channel"):
        processor(_pil(8, 8, "L"), do_convert_rgb=False)
    with pytest.raises(ValueError, match=r"pixels must be whole numbers in \[0, 255\] or floats in \[0, 1\]"):
        processor(np.full((3, 8, 8), 2.5, dtype=np.float32))
    with pytest.raises(TypeError, match="unknown argument"):
        processor(_rgb(8, 8), sizes=3)
    with pytest.raises(ValueError, match="data_format"):
        processor(_rgb(8, 8), data_format="NCHW")
    with pytest.raises(ValueError, match="input_data_format must be 'channels_first', 'channels_last' or None"):
        processor(_rgb(8, 8), input_data_format="last")
    with pytest.raises(ValueError, match="input_data_format"):  # checked before any image is read, PIL ones too
        processor(_pil(8, 8), input_data_format="last")
    with pytest.raises(ValueError, match="do_convert_rgb must be True, False or None"):
        processor(_rgb(8, 8), do_convert_rgb="yes")
    with pytest.raises(ValueError, match="do_resize"):  # a bad override fails at load time
        ViTImageProcessor.from_dict({}, do_resize="no")


def test_resample_filter_without_pillow_names():
    assert resample_filter("PIL.Image.Resampling.HAMMING") == 5
    assert resample_filter(" Bicubic ") == 3


def test_import_does_not_load_pillow():
    code = (
        "import sys, polyformer\n"
        "assert 'PIL' not in sys.modules, 'import polyformer imported PIL'\n"
        "p = polyformer.ViTImageProcessor(resample='PIL.Image.BOX')\n"
        "print(p)\n"
        "assert 'PIL' not in sys.modules, 'building a ViTImageProcessor imported PIL'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)


# -- ViTConfig -------------------------------------------------------------------------
def test_vit_config_matches_transformers(tmp_path):
    theirs = transformers.ViTConfig().to_dict()
    ours = ViTConfig().to_dict()
    for key in ["hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size", "hidden_act",
                "hidden_dropout_prob", "attention_probs_dropout_prob", "initializer_range", "layer_norm_eps",
                "image_size", "patch_size", "num_channels", "qkv_bias", "encoder_stride", "pooler_output_size",
                "pooler_act", "model_type"]:
        assert ours[key] == theirs[key], key
    transformers.ViTConfig(hidden_size=96, num_attention_heads=3, image_size=64).save_pretrained(tmp_path)
    loaded = ViTConfig.from_pretrained(tmp_path)
    assert (loaded.hidden_size, loaded.image_size, loaded.pooler_output_size) == (96, 64, 96)
    ViTConfig(hidden_size=64, num_attention_heads=4, patch_size=8).save_pretrained(tmp_path / "ours")
    back = transformers.ViTConfig.from_pretrained(tmp_path / "ours")
    assert (back.hidden_size, back.num_attention_heads, back.patch_size) == (64, 4, 8)


@pytest.mark.parametrize("kwargs, match", [({"hidden_size": 100}, "divisible"), ({"patch_size": 0}, "patch_size"),
                                           ({"hidden_act": "nope"}, "hidden_act"), ({"hidden_dropout_prob": 2}, "hidden_dropout_prob"),
                                           ({"layer_norm_eps": -1}, "layer_norm_eps"), ({"qkv_bias": "yes"}, "qkv_bias")])
def test_vit_config_validation(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ViTConfig(**kwargs)
