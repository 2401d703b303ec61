"""Wav2Vec2: configuration, feature extractor, CTC tokenizer and processor."""
