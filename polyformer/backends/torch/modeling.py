"""The PyTorch model base class: :class:`PreTrainedModel`.

It is a ``torch.nn.Module`` that implements the five-method loading contract of
:class:`polyformer.core.modeling.PreTrainedModelMixin` (which does the rest of
``from_pretrained`` / ``save_pretrained``), plus what every PyTorch model offers:
random init, tied weights, embedding resizing, head pruning, gradient checkpointing, and the opt-in CPU inference fast path
(:meth:`PreTrainedModel.optimize_for_inference`, see :mod:`.fast_path`).

How loading avoids waste: the model is built under ``torch.device("meta")``, where
parameters have a shape but no storage, and with PyTorch's own initialisers skipped
(:class:`_SkipInitOnMeta`: on the meta device they would compute nothing, yet the first
call imports ``torch._dynamo`` and sympy, over a second). Each checkpoint tensor then
*replaces* its parameter (no copy when the dtype already fits), and only the
parameters the checkpoint lacked are allocated and random-initialised. Non-persistent
buffers (which checkpoints never hold) are rebuilt by the modules that own them
through a ``reset_buffers()`` method.

What an architecture's ``PreTrainedModel`` subclass sets: ``config_class``,
``base_model_prefix``, ``main_input_name`` and ``make_base_model(config)`` (the base model
its heads hold); ``tied_weights`` for tied heads; ``_init_weights(module, only)`` for any
weight :func:`~polyformer.backends.torch.layers.init_module` does not cover. A model builds
its modules in ``__init__`` and ends it with ``self.post_init()``; a base model's
``forward`` reads the output switches with :meth:`PreTrainedModel.resolve_output_flags`.
Heads come from :mod:`polyformer.backends.torch.heads`. Embedding resizing finds
``embeddings.word_embeddings`` and head pruning the shared ``Encoder`` by themselves.
"""

from __future__ import annotations

import contextlib
import contextvars
import inspect
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from ...core import inputs
from ...core.configuration import PretrainedConfig
from ...core.modeling import PreTrainedModelMixin
from ...core.numerics import plan_head_pruning
from . import layers

__all__ = ["PreTrainedModel", "to_torch_dtype"]

# True while a model is built for loading: post_init must not initialise weights.
_BUILDING_FOR_LOADING: contextvars.ContextVar[bool] = contextvars.ContextVar("polyformer_no_init", default=False)

_DTYPE_NAMES = {
    "float32": torch.float32, "float": torch.float32, "fp32": torch.float32,
    "float16": torch.float16, "half": torch.float16, "fp16": torch.float16,
    "bfloat16": torch.bfloat16, "bf16": torch.bfloat16,
    "float64": torch.float64, "double": torch.float64,
}


def to_torch_dtype(dtype: Any) -> torch.dtype | None:
    """``torch.float16``, ``"float16"`` or ``"torch.float16"`` -> ``torch.float16`` (None stays None)."""
    if dtype is None or isinstance(dtype, torch.dtype):
        return dtype
    if isinstance(dtype, str):
        name = dtype.removeprefix("torch.")
        if name in _DTYPE_NAMES:
            return _DTYPE_NAMES[name]
    raise ValueError(
        f"dtype must be a floating torch.dtype, 'auto', or one of {', '.join(sorted(_DTYPE_NAMES))}; got {dtype!r}"
    )


# In-place random fills, which the ``reset_parameters`` of PyTorch's modules call.
_RANDOM_FILLS = frozenset(getattr(torch.Tensor, name) for name in (
    "normal_", "uniform_", "random_", "bernoulli_", "exponential_", "geometric_", "log_normal_", "cauchy_"))
# Factories that PyTorch runs through its Python references on the meta device.
_RANDOM_FACTORIES = frozenset({torch.randn, torch.rand})
_OTHER_FACTORIES = frozenset({torch.arange, torch.linspace, torch.logspace, torch.eye, torch.randint, torch.randperm})


class _SkipInitOnMeta(TorchFunctionMode):
    """Keep PyTorch's Python reference implementations out of building a model on the meta device.

    On the meta device, random initialisers and some factories (``torch.arange`` for position
    ids, ``torch.randn`` for class tokens) run through ``torch._refs``, whose first use imports
    sympy and often ``torch._dynamo``: over a second of a first ``from_pretrained``, for tensors
    that hold no values. So, on meta tensors only: ``torch.nn.init`` functions and in-place random
    fills return the tensor unchanged; ``torch.randn`` / ``torch.rand`` make an empty tensor (the
    same thing on meta); the other such factories make their (small) tensor on the CPU, and the
    result is its meta twin. Anything else, and any tensor with storage, is PyTorch's as usual.
    """

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        first = args[0] if args else kwargs.get("tensor")
        if isinstance(first, torch.Tensor) and first.is_meta and (
            func in _RANDOM_FILLS or getattr(func, "__module__", None) == "torch.nn.init"
        ):
            return first
        if (func in _RANDOM_FACTORIES or func in _OTHER_FACTORIES) and _lands_on_meta(kwargs):
            if func in _RANDOM_FACTORIES:
                return torch.empty(*args, **{key: value for key, value in kwargs.items() if key != "generator"})
            made = func(*args, **{**kwargs, "device": "cpu"})
            return torch.empty_like(made, device="meta", requires_grad=made.requires_grad)
        return func(*args, **kwargs)


def _lands_on_meta(kwargs: dict) -> bool:
    """Whether a factory called with ``kwargs`` inside :func:`_building_for_loading` makes a meta tensor."""
    device = kwargs.get("device")
    return device is None or torch.device(device).type == "meta"


@contextlib.contextmanager
def _building_for_loading():
    token = _BUILDING_FOR_LOADING.set(True)
    try:
        # The meta device is entered first, so that the skipping mode sees each call before it.
        with torch.device("meta"), _SkipInitOnMeta():
            yield
    finally:
        _BUILDING_FOR_LOADING.reset(token)


class PreTrainedModel(nn.Module, PreTrainedModelMixin):
    """Base class of every PyTorch model: ``from_pretrained``, ``save_pretrained`` and friends."""

    framework = "torch"
    checkpoint_framework = "pt"
    #: Whether the encoder honours :meth:`gradient_checkpointing_enable`.
    supports_gradient_checkpointing = True

    def __init__(self, config: PretrainedConfig, *args: Any, **kwargs: Any) -> None:
        super().__init__()
        if not isinstance(config, PretrainedConfig):
            raise TypeError(
                f"{type(self).__name__}(config) expects a PretrainedConfig, got {type(config).__name__}; "
                f"to load weights use {type(self).__name__}.from_pretrained(path)"
            )
        if self.config_class is not None and not isinstance(config, self.config_class):
            raise TypeError(f"{type(self).__name__} expects a {self.config_class.__name__}, got {type(config).__name__}")
        self.config = config

    def __call__(self, *args: Any, **kwargs: Any):
        """Run ``forward``. Inputs given as Python lists or numpy arrays become tensors on the
        model's device first, as Keras and Flax models take them (``transformers`` fails on them)."""
        if any(isinstance(value, (list, np.ndarray)) for value in (*args, *kwargs.values())):
            names = list(inspect.signature(self.forward).parameters)
            args = tuple(self._as_tensor(names[i] if i < len(names) else f"argument {i}", v) for i, v in enumerate(args))
            kwargs = {name: self._as_tensor(name, value) for name, value in kwargs.items()}
        return super().__call__(*args, **kwargs)

    def _as_tensor(self, name: str, value: Any) -> Any:
        if isinstance(value, list):
            value = inputs.as_array(name, value)
        if isinstance(value, np.ndarray):
            return torch.from_numpy(np.ascontiguousarray(value)).to(self.device)
        return value

    # ---- construction -------------------------------------------------------------
    def post_init(self) -> None:
        """Call at the end of ``__init__``: init weights, tie.

        Skipped while building for loading: nothing is initialised then, since the weights
        come from the checkpoint (and live on the meta device). Heads the config lists as
        pruned are never built (the attention blocks take them from the config).
        """
        if not _BUILDING_FOR_LOADING.get():
            for module in self.modules():
                # A base model built inside a head already initialised its modules.
                if not getattr(module, "_polyformer_initialised", False):
                    self._init_weights(module)
                    module._polyformer_initialised = True
        self.tie_weights()

    def init_weights(self) -> None:
        """Random-initialise every weight again (then re-tie)."""
        for module in self.modules():
            self._init_weights(module)
        self.tie_weights()

    def _init_weights(self, module: nn.Module, only: set[str] | None = None) -> None:
        """Initialise ``module``'s own tensors (``only`` some of them). Override to add cases."""
        # transformers' default when a config has no initializer_range
        layers.init_module(module, getattr(self.config, "initializer_range", 0.02), only)

    def resolve_output_flags(
        self, output_attentions: bool | None, output_hidden_states: bool | None, return_dict: bool | None
    ) -> tuple[bool, bool, bool]:
        """The ``forward`` switches, each None replaced by the config's value.

        Every model's ``forward`` starts with this, so a config saved with
        ``output_hidden_states=True`` (say) behaves the same in every architecture.
        """
        config = self.config
        return (
            config.output_attentions if output_attentions is None else output_attentions,
            config.output_hidden_states if output_hidden_states is None else output_hidden_states,
            config.use_return_dict if return_dict is None else return_dict,
        )

    @property
    def base_model(self) -> nn.Module:
        """The base model inside a head model (``self.distilbert``), or the model itself."""
        return getattr(self, self.base_model_prefix, self)

    @property
    def dtype(self) -> torch.dtype:
        """The dtype of the floating-point parameters."""
        for param in self.parameters():
            if param.is_floating_point():
                return param.dtype
        return torch.get_default_dtype()

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    # ---- the loading contract ----------------------------------------------------
    @classmethod
    def _from_config_for_loading(cls, config: PretrainedConfig, dtype: Any = None, **options: Any) -> "PreTrainedModel":
        """Build on the meta device (no storage, no init), in the dtype asked for."""
        if dtype == "auto":
            dtype = config.dtype  # the dtype the checkpoint was saved in, if recorded
        dtype = to_torch_dtype(dtype)
        with _building_for_loading():
            model = cls(config, **options)
        if dtype is not None:
            model.to(dtype)
        return model

    def _canonical_shapes(self) -> dict[str, tuple[int, ...]]:
        shapes = {name: tuple(p.shape) for name, p in self.named_parameters(remove_duplicate=False)}
        for name, buffer in self._persistent_buffers():
            shapes[name] = tuple(buffer.shape)
        return shapes

    def _persistent_buffers(self):
        for module_name, module in self.named_modules(remove_duplicate=False):
            for name, buffer in module._buffers.items():
                if buffer is not None and name not in module._non_persistent_buffers_set:
                    yield (f"{module_name}.{name}" if module_name else name), buffer

    def _non_float_weights(self) -> set[str]:
        return {name for name, buffer in self._persistent_buffers() if not buffer.is_floating_point()}

    def _load_canonical(self, tensors: dict[str, Any]) -> None:
        """Make each checkpoint tensor the model's tensor (cast to the model's dtype if needed)."""
        for name, tensor in tensors.items():
            module_name, _, attr = name.rpartition(".")
            module = self.get_submodule(module_name)
            if attr in module._parameters:
                old = module._parameters[attr]
                if tensor.is_floating_point() and tensor.dtype != old.dtype:
                    tensor = tensor.to(old.dtype)
                module._parameters[attr] = nn.Parameter(tensor, requires_grad=old.requires_grad)
            else:
                old = module._buffers[attr]
                module._buffers[attr] = tensor.to(old.dtype)

    def _initialize_missing(self, names: list[str]) -> None:
        """Allocate and random-init only ``names``; rebuild buffers; re-tie; check nothing is left on meta."""
        dtype = self.dtype
        for name in names:
            module_name, _, attr = name.rpartition(".")
            module = self.get_submodule(module_name)
            if attr in module._parameters:
                old = module._parameters[attr]
                if old.is_meta:
                    fresh = torch.empty(old.shape, dtype=old.dtype if not old.is_floating_point() else dtype)
                    module._parameters[attr] = nn.Parameter(fresh, requires_grad=old.requires_grad)
            elif module._buffers[attr].is_meta:
                module._buffers[attr] = torch.zeros_like(module._buffers[attr], device="cpu")
            self._init_weights(module, only={attr})
        for module in self.modules():
            reset = getattr(module, "reset_buffers", None)
            if reset is not None and any(b is not None and b.is_meta for b in module._buffers.values()):
                reset()
        self.tie_weights()
        left = [n for n, t in [*self.named_parameters(), *self.named_buffers()] if t.is_meta]
        if left:
            raise RuntimeError(
                f"{type(self).__name__}: tensors still unset after loading: {', '.join(left)} "
                f"(a module with non-persistent buffers needs a reset_buffers() method)"
            )

    def _export_canonical(self) -> dict[str, torch.Tensor]:
        tied = self._tied_targets()
        tensors = {}
        for name, param in self.named_parameters(remove_duplicate=False):
            if name not in tied:
                tensors[name] = param.detach()
        for name, buffer in self._persistent_buffers():
            tensors[name] = buffer.detach()
        return tensors

    def _after_loading(self) -> None:
        self.eval()

    def save_pretrained(self, save_directory, **kwargs: Any) -> None:
        """Write ``config.json`` (recording the weights' dtype) and the safetensors weights.

        A sharded model (FSDP2) is gathered and written by rank 0: every rank must call this.

        Args:
            save_directory: the folder to write (created if needed).
            **kwargs: ``max_shard_size`` and ``safe_serialization``, as for
                ``PreTrainedModelMixin.save_pretrained`` (``polyformer.core.modeling``).
        """
        if any(type(p).__name__ == "DTensor" for p in self.parameters()):
            from .distributed import save_sharded

            return save_sharded(self, save_directory, **kwargs)
        saved = self.config.dtype
        self.config.dtype = str(self.dtype).removeprefix("torch.")
        try:
            super().save_pretrained(save_directory, **kwargs)
        finally:
            self.config.dtype = saved

    # ---- embeddings ---------------------------------------------------------------
    def get_input_embeddings(self) -> nn.Embedding:
        """The token embedding table: the base model's, found at ``embeddings.word_embeddings``
        (the shared :class:`~polyformer.backends.torch.layers.Embeddings`) unless a base model overrides this."""
        if self.base_model is not self:
            return self.base_model.get_input_embeddings()
        embeddings = getattr(self, "embeddings", None)
        if not isinstance(getattr(embeddings, "word_embeddings", None), nn.Embedding):
            raise NotImplementedError(f"{type(self).__name__} has no embeddings.word_embeddings: implement get_input_embeddings()")
        return embeddings.word_embeddings

    def set_input_embeddings(self, value: nn.Embedding) -> None:
        if self.base_model is not self:
            return self.base_model.set_input_embeddings(value)
        self.get_input_embeddings()  # the same check: there must be a table to replace
        self.embeddings.word_embeddings = value

    def get_output_embeddings(self) -> nn.Linear | None:
        """The vocabulary projection of a language-model head, or None."""
        return None

    def set_output_embeddings(self, value: nn.Linear) -> None:
        raise NotImplementedError(f"{type(self).__name__} has no output embeddings")

    def tie_weights(self) -> None:
        """Make each tied target the very same Parameter as its source (``tied_weights``)."""
        for target, source in ((t, self.tied_weights[t]) for t in self._tied_targets()):
            source_param = self.get_parameter(source)
            module_name, _, attr = target.rpartition(".")
            setattr(self.get_submodule(module_name), attr, source_param)

    def resize_token_embeddings(self, new_num_tokens: int | None = None, pad_to_multiple_of: int | None = None) -> nn.Embedding:
        """Grow or shrink the vocabulary, keeping the rows of the tokens that stay.

        New rows are drawn from N(0, ``initializer_range``). ``config.vocab_size`` is
        updated; a tied output projection follows the new table and its bias keeps its
        old entries (new ones 0); an untied one is resized the same way.
        """
        old = self.get_input_embeddings()
        if new_num_tokens is None:
            new_num_tokens = old.num_embeddings
        if pad_to_multiple_of is not None:
            if not isinstance(pad_to_multiple_of, int) or pad_to_multiple_of <= 0:
                raise ValueError(f"pad_to_multiple_of must be a positive integer, got {pad_to_multiple_of!r}")
            new_num_tokens = -(-new_num_tokens // pad_to_multiple_of) * pad_to_multiple_of
        if not isinstance(new_num_tokens, int) or new_num_tokens <= 0:
            raise ValueError(f"new_num_tokens must be a positive integer, got {new_num_tokens!r}")
        std = getattr(self.config, "initializer_range", 0.02)
        new = layers.resize_embedding(old, new_num_tokens, std)
        self.set_input_embeddings(new)
        output = self.get_output_embeddings()
        if output is not None:
            tied = bool(self._tied_targets())
            self.set_output_embeddings(layers.resize_linear_out(output, new_num_tokens, std, weight=new.weight if tied else None))
        self.config.vocab_size = new_num_tokens
        self.tie_weights()
        return new

    # ---- heads --------------------------------------------------------------------
    def prune_heads(self, heads_to_prune: dict[int, list[int]]) -> None:
        """Remove attention heads for good: ``{layer: [head, ...]}``, heads numbered as originally.

        The weights shrink, and ``config.pruned_heads`` records the heads so that a saved
        model is rebuilt pruned when loaded again.
        """
        new, merged = plan_head_pruning(self.config, heads_to_prune)  # checked first: a bad request changes nothing
        if new:
            self.base_model._prune_heads({layer: sorted(heads) for layer, heads in new.items()})
        self.config.pruned_heads = merged

    def _prune_heads(self, heads_to_prune: dict[int, list[int]]) -> None:
        """Prune through the model's :class:`~polyformer.backends.torch.layers.Encoder` (override for other layouts)."""
        encoders = [module for module in self.modules() if isinstance(module, layers.Encoder)]
        if len(encoders) != 1:
            raise NotImplementedError(
                f"{type(self).__name__} does not support head pruning: it has {len(encoders)} shared Encoder stacks "
                f"(implement _prune_heads for its layout)"
            )
        encoders[0].prune_heads(heads_to_prune)

    # ---- inference ------------------------------------------------------------------
    def optimize_for_inference(self, enable: bool = True, *, measure: bool = True, prepack: bool = True,
                               rows: int = 1024) -> dict:
        """Run the linear layers through oneDNN in no-grad CPU inference where that is faster here.

        Opt-in, because it times the candidate kernels (a second or so) and, with ``prepack``,
        keeps a second copy of each weight it routes. Training, autocast and grad-enabled calls
        keep the plain path. ``enable=False`` undoes it. Returns ``{linear's name: choice}``;
        see :mod:`polyformer.backends.torch.fast_path` and ``docs/cpu-inference.md``.
        """
        from . import fast_path

        if not enable:
            fast_path.restore_plain_linears(self)
            return {}
        return fast_path.optimize_for_inference(self, measure=measure, prepack=prepack, rows=rows)

    # ---- training helpers -----------------------------------------------------------
    def gradient_checkpointing_enable(self, gradient_checkpointing_kwargs: dict | None = None) -> None:
        """Recompute each layer's activations in the backward pass, trading time for memory."""
        if not self.supports_gradient_checkpointing:
            raise ValueError(f"{type(self).__name__} does not support gradient checkpointing")
        if gradient_checkpointing_kwargs:
            raise ValueError("gradient_checkpointing_kwargs are not supported: non-reentrant checkpointing is always used")
        self._set_gradient_checkpointing(True)

    def gradient_checkpointing_disable(self) -> None:
        self._set_gradient_checkpointing(False)

    def _set_gradient_checkpointing(self, value: bool) -> None:
        found = False
        for module in self.modules():
            if hasattr(module, "gradient_checkpointing"):
                module.gradient_checkpointing = value
                found = True
        if not found:
            raise ValueError(f"{type(self).__name__} has no module with a gradient_checkpointing switch")

    @property
    def is_gradient_checkpointing(self) -> bool:
        return any(getattr(m, "gradient_checkpointing", False) for m in self.modules())

    def num_parameters(self, only_trainable: bool = False, exclude_embeddings: bool = False) -> int:
        """Number of (distinct) parameters; tied weights count once."""
        excluded = set()
        if exclude_embeddings:
            excluded = {id(m.weight) for m in self.modules() if isinstance(m, nn.Embedding)}
        return sum(
            p.numel()
            for p in self.parameters()
            if id(p) not in excluded and (p.requires_grad or not only_trainable)
        )
