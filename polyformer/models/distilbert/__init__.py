"""DistilBERT: configuration, tokenizers and models (torch, keras, flax)."""
