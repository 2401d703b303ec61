"""AutoImageProcessor, AutoFeatureExtractor and AutoProcessor on folders saved here and by transformers."""

import json

import numpy as np
import pytest

from polyformer import AutoFeatureExtractor, AutoImageProcessor, AutoProcessor, AutoTokenizer

transformers = pytest.importorskip("transformers")

CHARS = ["<pad>", "<s>", "</s>", "<unk>", "|", "a", "b", "c", "d", "e"]


@pytest.fixture()
def wav2vec2_folder(tmp_path):
    """A Wav2Vec2 processor folder saved by transformers (v5 keeps the parts in processor_config.json)."""
    vocab = tmp_path / "vocab.json"
    vocab.write_text(json.dumps({c: i for i, c in enumerate(CHARS)}))
    extractor = transformers.Wav2Vec2FeatureExtractor(padding_value=1.0, do_normalize=True)
    tokenizer = transformers.Wav2Vec2CTCTokenizer(str(vocab))
    folder = tmp_path / "saved"
    transformers.Wav2Vec2Processor(feature_extractor=extractor, tokenizer=tokenizer).save_pretrained(folder)
    return folder


def test_auto_processor_and_parts_from_a_transformers_folder(wav2vec2_folder):
    processor = AutoProcessor.from_pretrained(wav2vec2_folder)
    assert type(processor).__name__ == "Wav2Vec2Processor"
    extractor = AutoFeatureExtractor.from_pretrained(wav2vec2_folder)
    assert type(extractor).__name__ == "Wav2Vec2FeatureExtractor" and extractor.padding_value == 1.0
    tokenizer = AutoTokenizer.from_pretrained(wav2vec2_folder)
    assert type(tokenizer).__name__ == "Wav2Vec2CTCTokenizer"
    assert tokenizer("abc de")["input_ids"] == [5, 6, 7, 4, 8, 9]
    audio = np.random.default_rng(0).standard_normal(50).astype(np.float32)
    ours = processor(audio=audio, sampling_rate=16000, return_tensors="np")["input_values"]
    theirs = transformers.Wav2Vec2Processor.from_pretrained(wav2vec2_folder)(
        audio=audio, sampling_rate=16000, return_tensors="np")["input_values"]
    np.testing.assert_allclose(ours, theirs, atol=1e-5)


def test_auto_image_processor_both_ways(tmp_path):
    from polyformer import ViTImageProcessor

    ViTImageProcessor(size=32, image_mean=[0.1, 0.2, 0.3]).save_pretrained(tmp_path / "ours")
    loaded = AutoImageProcessor.from_pretrained(tmp_path / "ours")
    assert type(loaded).__name__ == "ViTImageProcessor" and loaded.size == 32
    theirs = transformers.AutoImageProcessor.from_pretrained(tmp_path / "ours", backend="pil")
    image = np.random.default_rng(0).integers(0, 256, size=(40, 50, 3), dtype=np.uint8)
    np.testing.assert_allclose(loaded(image, return_tensors="np")["pixel_values"],
                               theirs(image, return_tensors="np")["pixel_values"], atol=1e-5)
    transformers.AutoImageProcessor.from_pretrained(tmp_path / "ours", backend="pil").save_pretrained(tmp_path / "theirs")
    assert AutoImageProcessor.from_pretrained(tmp_path / "theirs").image_mean == [0.1, 0.2, 0.3]


def test_auto_preprocessing_errors(tmp_path):
    with pytest.raises(ValueError, match="Cannot tell which image processor"):
        AutoImageProcessor.from_pretrained(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "distilbert"}))
    with pytest.raises(ValueError, match="registers no image processor"):
        AutoImageProcessor.from_pretrained(tmp_path)
