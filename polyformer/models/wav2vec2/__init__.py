"""Wav2Vec2: configuration, feature extractor, CTC tokenizer, processor, models, masking helpers."""
