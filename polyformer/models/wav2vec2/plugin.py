"""Registers Wav2Vec2: configuration, preprocessing (feature extractor, CTC tokenizer, processor) and models."""

from ...core.hookspecs import hookimpl
from ...core.registry import Architecture

_PKG = "polyformer.models.wav2vec2"


@hookimpl
def register_architectures(register):
    register(
        Architecture(
            model_type="wav2vec2",
            config=f"{_PKG}.configuration:Wav2Vec2Config",
            tokenizer=f"{_PKG}.tokenization:Wav2Vec2CTCTokenizer",
            feature_extractor=f"{_PKG}.feature_extraction:Wav2Vec2FeatureExtractor",
            processor=f"{_PKG}.processing:Wav2Vec2Processor",
            tasks=("base", "ctc", "audio-classification", "audio-frame-classification", "audio-xvector", "pretraining"),
            models={
                "torch": f"{_PKG}.modeling_torch:Wav2Vec2",
                "keras": f"{_PKG}.modeling_keras:TFWav2Vec2",
                "flax": f"{_PKG}.modeling_flax:FlaxWav2Vec2",
            },
        )
    )
