"""ViT: configuration and image processor."""
