"""A third-party plugin used by the tests: a task and an architecture polyformer knows nothing about.

It registers the task ``denoising`` (``AutoModelForDenoising``) and the architecture
``tinymlp`` (a stack of feed-forward blocks over a feature vector, in PyTorch only) through
the same hooks a real plugin uses. Nothing in ``polyformer/`` mentions either.
"""
