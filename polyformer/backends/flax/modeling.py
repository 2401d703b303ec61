"""The Flax backend's model base class: a ``flax.linen`` module plus its params.

A Flax model here is a small wrapper object, as in the Hugging Face Flax API:

* ``model.module`` is a stateless ``flax.linen`` module. Use it functionally in your own
  training loop: ``model.module.apply({"params": params}, input_ids, train=True,
  rngs={"dropout": key})``.
* ``model.params`` is its parameter pytree (nested dicts of JAX arrays).
* ``model(input_ids, attention_mask=...)`` runs the module with ``model.params`` (or the
  ``params=`` given), jit-compiled; JAX caches one compiled function per input shape and
  per value of the static flags (``train``, ``output_hidden_states``, ``output_attentions``, and any
  input given as a Python bool, such as ViT's ``interpolate_pos_encoding``).

Nothing here knows a modality: the inputs are whatever the base model's module takes
(``main_input_name`` first), and the module is traced for its parameter shapes on the
config's own ``example_inputs``. Loading and saving are
:class:`~polyformer.core.modeling.PreTrainedModelMixin`'s; this class implements its
five-method contract in canonical (PyTorch) names, using the naming rule of
:mod:`polyformer.backends.flax.layers`. Torch is never imported.

``dtype`` is the dtype of the params and of the computation (float32 by default).

A fresh model costs no compilation: the parameter shapes come from tracing ``module.init``
under ``jax.eval_shape``, and the values are drawn with numpy by the layers'
:class:`~polyformer.backends.flax.layers.Initializer` (same distributions as
``module.init``, not the same numbers). Each weight is drawn from its own stream, seeded
by ``seed`` and its name, so a weight initialised alone (missing from a checkpoint) gets
the value it would get in a fresh model.

Changing the architecture of a built model (``resize_token_embeddings``, ``prune_heads``)
rebuilds the module from the updated config and carries the weights over by canonical name.

What an architecture sets: ``config_class``, ``base_model_prefix``, ``main_input_name``,
``module_class`` (its base model's module, a :class:`BaseModule`) and, on its
``PreTrainedModel``, ``make_base_model(config)`` for the heads of
:mod:`polyformer.backends.flax.heads`.
"""

from __future__ import annotations

import dataclasses
import inspect
import re
import zlib
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from flax.traverse_util import flatten_dict, unflatten_dict

from ...core import inputs as _inputs
from ...core.checkpoint import StoredTensor, aligned_copy
from ...core.configuration import PretrainedConfig
from ...core.modeling import PreTrainedModelMixin
from ...core.numerics import kept_head_features, plan_head_pruning, pruned_heads_of_layer
from ...core.outputs import ModelOutput
from ...core.seeding import get_seed
from .layers import (
    Embeddings,
    canonical_name,
    canonical_paths,
    input_facts,
    recording_initializers,
    to_canonical_layout,
    to_flax_layout,
)
from .sharding import load_sharded, place_weight, placing_on_mesh

__all__ = ["FlaxPreTrainedModel", "BaseModule", "SWITCHES", "bind_inputs", "output_flags", "register_output_pytree",
           "resolve_dtype"]


# ---- model outputs are pytrees, so jit-compiled functions and jax.grad can return them ----
_PYTREE_OUTPUTS: set[type] = set()


def register_output_pytree(cls: type) -> None:
    """Let JAX flatten a :class:`~polyformer.core.outputs.ModelOutput` dataclass (fields in order).

    Idempotent. The classes known when this module is imported are registered then; one
    defined later (by a plugin) is registered where an output is made (``_apply``,
    ``heads.assemble_output``), before JAX needs to flatten it.
    """
    if cls in _PYTREE_OUTPUTS or not dataclasses.is_dataclass(cls):
        return
    names = tuple(f.name for f in dataclasses.fields(cls))

    def flatten(output):
        return tuple(getattr(output, name) for name in names), None

    def unflatten(_, children):
        return cls(*children)

    try:
        jax.tree_util.register_pytree_node(cls, flatten, unflatten)
    except ValueError:  # registered by an earlier import of this module (reloaded)
        pass
    _PYTREE_OUTPUTS.add(cls)


def _register_known_outputs(cls: type = ModelOutput) -> None:
    for subclass in cls.__subclasses__():
        register_output_pytree(subclass)
        _register_known_outputs(subclass)


_register_known_outputs()


def resolve_dtype(dtype: Any) -> jnp.dtype:
    """``None``, a name (``"bfloat16"``) or a dtype -> a floating JAX dtype, with a clear error otherwise."""
    if dtype is None or (isinstance(dtype, str) and dtype == "auto"):
        return jnp.dtype(jnp.float32)
    if not isinstance(dtype, str) and str(dtype).startswith("torch."):
        dtype = str(dtype)[len("torch."):]  # a torch dtype passed by habit: torch.bfloat16 -> "bfloat16"
    try:
        resolved = jnp.dtype(dtype)
    except TypeError:
        raise ValueError(f"dtype {dtype!r} is not a dtype JAX knows; use e.g. 'float32' or 'bfloat16'") from None
    if not jnp.issubdtype(resolved, jnp.floating):
        raise ValueError(f"dtype {resolved} cannot hold model weights; use a floating dtype such as float32 or bfloat16")
    if resolved.itemsize == 8 and not jax.config.jax_enable_x64:
        raise ValueError("dtype float64 needs 64-bit JAX: set jax.config.update('jax_enable_x64', True) first")
    return resolved


def output_flags(config: Any, output_attentions: bool | None, output_hidden_states: bool | None,
                 return_dict: bool | None) -> tuple[bool, bool, bool]:
    """The output switches of a call, each None replaced by the config's value."""
    return (
        bool(config.output_attentions if output_attentions is None else output_attentions),
        bool(config.output_hidden_states if output_hidden_states is None else output_hidden_states),
        bool(config.use_return_dict if return_dict is None else return_dict),
    )


class BaseModule(nn.Module):
    """Base of an architecture's linen modules: its ``config`` and the ``dtype`` of params and compute.

    A base model's ``__call__`` takes its inputs (``main_input_name`` first), then ``train``
    (dropout on), ``output_attentions``, ``output_hidden_states`` and ``return_dict``, and starts
    with :meth:`resolve_output_flags`, as the PyTorch models' ``forward`` does.
    """

    config: Any
    dtype: Any = jnp.float32

    def resolve_output_flags(self, output_attentions, output_hidden_states, return_dict) -> tuple[bool, bool, bool]:
        """The call's output switches, each None replaced by the config's value."""
        return output_flags(self.config, output_attentions, output_hidden_states, return_dict)


#: Module call arguments that are switches, not inputs.
SWITCHES = ("train", "deterministic", "output_attentions", "output_hidden_states", "return_dict")


def bind_inputs(module: nn.Module, args: tuple, kwargs: dict[str, Any]) -> dict[str, Any]:
    """Name the positional ``args`` after ``module``'s inputs (its ``__call__`` parameters, switches left out);
    refuse names it does not take."""
    parameters = list(inspect.signature(type(module).__call__).parameters.values())[1:]
    signature = inspect.Signature([p for p in parameters if p.name not in SWITCHES])
    try:
        bound = signature.bind_partial(*args, **kwargs)
    except TypeError as exc:
        raise TypeError(f"{type(module).__name__} inputs: {exc}; it takes {', '.join(signature.parameters)}") from None
    return dict(bound.arguments)


_LAYER_OF_NAME = re.compile(r"(?:^|\.)layers?\.(\d+)\.")


class FlaxPreTrainedModel(PreTrainedModelMixin):
    """Base of every Flax model: holds ``config``, ``module``, ``params`` and ``dtype``.

    Subclasses set ``module_class`` (a ``flax.linen`` module taking ``config`` and ``dtype``;
    the heads of :mod:`~polyformer.backends.flax.heads` make theirs), ``config_class``,
    ``base_model_prefix``, ``main_input_name`` and, for tied heads, ``tied_weights``;
    ``module_options`` for module fields a user may set besides the config.
    """

    framework = "flax"
    checkpoint_framework = "stored"
    #: The ``flax.linen.Module`` class this model wraps.
    module_class: type | None = None
    #: Keyword inputs that only feed the loss (``labels``...); heads set them.
    loss_input_names: tuple[str, ...] = ()

    def __init__(self, config: PretrainedConfig, seed: int | None = None, dtype: Any = jnp.float32, *,
                 _do_init: bool = True, **options: Any):
        if not isinstance(config, PretrainedConfig):
            raise TypeError(
                f"{type(self).__name__}(config) expects a PretrainedConfig, got {type(config).__name__}; "
                f"to load weights use {type(self).__name__}.from_pretrained(path)"
            )
        if self.config_class is not None and not isinstance(config, self.config_class):
            raise TypeError(f"{type(self).__name__} expects a {self.config_class.__name__}, got {type(config).__name__}")
        unknown = sorted(set(options) - set(self.module_options))
        if unknown:
            raise TypeError(f"{type(self).__name__}() got unexpected arguments: {', '.join(unknown)}")
        self.config = config
        self.dtype = resolve_dtype(dtype)
        self.options = {**self.module_options, **options}
        # JAX has no global random state: without seed=, the one given to polyformer.set_seed (else 0).
        self.seed = seed if seed is not None else (get_seed() or 0)
        self._dropout_key = jax.random.PRNGKey(self.seed + 1)
        self._rebuild()  # shapes only (jax.eval_shape): nothing is computed until weights are needed
        if _do_init:
            self.post_init()

    # ---- the module and its parameter shapes -------------------------------------------
    def _make_module(self) -> nn.Module:
        return self.module_class(config=self.config, dtype=self.dtype, **self.options)

    def _rebuild(self) -> None:
        """Build the module from the config as it is now, with abstract params (shapes only)."""
        self.module = self._make_module()
        self._jitted = None
        self._bound_of = None  # the module _base_module() last looked into
        self.params = self._abstract_params()

    def _dummy_inputs(self) -> dict[str, Any]:
        """Inputs to trace the module with, for its parameter shapes: the config's example inputs, one example."""
        return dict(self.config.example_inputs(1))

    def _init_params(self, key):
        return self.module.init({"params": key}, **self._dummy_inputs(), train=False)["params"]

    def _abstract_params(self) -> dict:
        """Parameter shapes (no compute), and the numpy-capable initialiser behind each parameter."""
        initializers = {}

        def init_and_record(key):
            with recording_initializers() as record:
                params = self._init_params(key)
            for path, leaf in flatten_dict(params).items():
                if id(leaf) in record:
                    initializers[path] = record[id(leaf)][0]
            return params

        abstract = jax.eval_shape(init_and_record, jax.random.PRNGKey(self.seed))
        self._paths = canonical_paths(abstract)  # canonical name -> flax path
        self._initializers = initializers  # flax path -> Initializer
        return abstract

    def _flat_params(self) -> dict[tuple[str, ...], Any]:
        return flatten_dict(self.params)

    def _base_module(self) -> nn.Module:
        """The base model's linen module, bound to the params (their shapes suffice): enough to read its sizes,
        inputs and methods (a module that makes parameters in ``setup`` needs them there)."""
        if self._bound_of is not self.module:
            bound = self.module.bind({"params": self.params})
            base = getattr(bound, self.base_model_prefix, None) if self.base_model_prefix else None
            base = base if isinstance(base, nn.Module) else bound
            names = [name for name in list(inspect.signature(type(base).__call__).parameters)[1:] if name not in SWITCHES]
            if self.main_input_name and names[:1] != [self.main_input_name]:
                raise TypeError(f"{type(base).__name__}.__call__ must take {self.main_input_name} (main_input_name "
                                f"of {type(self).__name__}) as its first input, got {', '.join(names) or 'no inputs'}")
            self._bound, self._bound_of = base, self.module
        return self._bound

    # ---- the PreTrainedModelMixin contract ------------------------------------------
    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, *, mesh=None, partition_rules=None, **kwargs: Any):
        """The mixin's ``from_pretrained``; with a ``jax.sharding.Mesh``, each weight goes to its shards as it is read
        (``partition_rules``: ``"data"``, ``"tensor"`` or ``(regex, PartitionSpec)`` pairs; see :mod:`.sharding`)."""
        if mesh is None and partition_rules is None:
            return super().from_pretrained(pretrained_model_name_or_path, **kwargs)
        if mesh is None:
            raise ValueError(f"{cls.__name__}.from_pretrained: partition_rules={partition_rules!r} needs a mesh "
                             f"(mesh=jax.sharding.Mesh(...)) to place the weights on")
        return load_sharded(cls, pretrained_model_name_or_path, mesh, partition_rules, **kwargs)

    @classmethod
    def _from_config_for_loading(cls, config: PretrainedConfig, dtype: Any = None, **options: Any):
        if isinstance(dtype, str) and dtype == "auto":  # the dtype the checkpoint was saved in, as transformers' "auto"
            dtype = config.dtype
        return cls(config, dtype=dtype, _do_init=False, **options)

    def _canonical_shapes(self) -> dict[str, tuple[int, ...]]:
        flat = self._flat_params()
        # The layout change applied to a stand-in of the right shape that holds no memory
        # (a broadcast scalar): as exact as tracing it with jax.eval_shape, and much faster.
        shapes = {name: to_canonical_layout(path, np.broadcast_to(np.zeros((), np.int8), flat[path].shape)).shape
                  for name, path in self._paths.items()}
        for target in self._tied_targets():
            shapes[target] = shapes[self.tied_weights[target]]
        return shapes

    def _non_float_weights(self) -> set[str]:
        flat = self._flat_params()
        return {name for name, path in self._paths.items() if not jnp.issubdtype(flat[path].dtype, jnp.floating)}

    def _load_canonical(self, tensors: dict[str, Any]) -> None:
        """Set parameters from canonical arrays or :class:`~polyformer.core.checkpoint.StoredTensor` handles.

        A stored tensor is read into a fresh aligned array, which becomes the parameter as it
        is when its layout and dtype already fit (``jax.device_put`` takes an aligned host
        array without copying it on CPU): loading holds no second copy of the model.
        Arrays given by a caller are copied, so that changing them later leaves the model alone.
        """
        flat = self._flat_params()
        tied = self._tied_targets()
        for name, value in tensors.items():
            if name in tied:  # the tie source holds this weight
                continue
            path = self._paths[name]
            fresh = isinstance(value, StoredTensor)
            array = to_flax_layout(path, value.read() if fresh else np.asarray(value))
            # Floating weights take the model's dtype; anything else (integer buffers) keeps its own.
            floating = jnp.issubdtype(array.dtype, jnp.floating)
            if placing_on_mesh():  # loading onto a mesh: each weight goes to its shards (sharding.py)
                flat[path] = place_weight(path, array, self.dtype)
            elif fresh and (array.dtype == self.dtype or not floating):
                if not array.flags.c_contiguous:  # a transposed kernel: one aligned copy, then no more
                    array = aligned_copy(array)
                flat[path] = jax.device_put(array)
            else:
                flat[path] = jnp.asarray(array, dtype=self.dtype if floating else None)
        self.params = unflatten_dict(flat)

    def _initialize_missing(self, names: list[str]) -> None:
        paths = [self._paths[name] for name in names if name in self._paths]
        if not paths:
            return
        flat = self._flat_params()
        derived = []
        for path in paths:
            initializer = self._initializers.get(path)
            if initializer is not None and initializer.source is not None:
                derived.append(path)
            elif initializer is not None:  # numpy: nothing to compile
                rng = np.random.default_rng([self.seed, zlib.crc32(canonical_name(path).encode())])
                flat[path] = jnp.asarray(initializer.numpy(rng, flat[path].shape), dtype=flat[path].dtype)
        through_jax = [path for path in paths if path not in self._initializers]
        if through_jax:
            flat.update(zip(through_jax, self._jax_init(through_jax)))
        for path in derived:  # computed from a sibling (loaded, or drawn above): a weight norm's magnitude
            initializer = self._initializers[path]
            source = np.asarray(flat[path[:-1] + (initializer.source,)])
            flat[path] = jnp.asarray(initializer.numpy(None, flat[path].shape, source), dtype=flat[path].dtype)
        self.params = unflatten_dict(flat)

    def _jax_init(self, paths: list[tuple[str, ...]]) -> list:
        """Values of ``paths`` from ``module.init``: for parameters made by plain JAX initialisers."""
        key = jax.random.PRNGKey(self.seed)
        if len(paths) == len(self._paths):
            # Everything is needed: run the initialisers eagerly (no whole-model compile to pay).
            flat_init = flatten_dict(self._init_params(key))
            return [flat_init[path] for path in paths]

        def init_selected(key):
            # Under jit, XLA drops the initialisers whose results are not returned,
            # so only the weights asked for are computed.
            flat_init = flatten_dict(self._init_params(key))
            return [flat_init[path] for path in paths]

        return jax.jit(init_selected)(key)

    def _export_canonical(self) -> dict[str, np.ndarray]:
        flat = self._flat_params()
        return {name: np.asarray(to_canonical_layout(path, np.asarray(flat[path]))) for name, path in self._paths.items()}

    def _unset_weights(self) -> list[str]:
        flat = self._flat_params()
        return [name for name, path in self._paths.items() if isinstance(flat[path], jax.ShapeDtypeStruct)]

    def _after_loading(self) -> None:
        missing = self._unset_weights()
        if missing:  # cannot happen through from_pretrained; guards custom loaders
            raise RuntimeError(f"{type(self).__name__}: weights left unset after loading: {', '.join(missing)}")

    def save_pretrained(self, save_directory, **kwargs: Any) -> None:
        """Write ``config.json`` and the safetensors weights (canonical names and layouts), all or nothing.

        A model whose weights were never set (built with ``_do_init=False`` and not loaded) is
        refused, naming the weights, rather than written half.

        Args:
            save_directory: the folder to write (created if needed).
            **kwargs: ``max_shard_size`` and ``safe_serialization``, as for
                ``PreTrainedModelMixin.save_pretrained`` (``polyformer.core.modeling``).
        """
        missing = self._unset_weights()
        if missing:
            raise RuntimeError(f"{type(self).__name__}.save_pretrained: weights have no value yet: {', '.join(missing)} "
                               f"(call post_init() or load a checkpoint first)")
        super().save_pretrained(save_directory, **kwargs)

    # ---- construction -----------------------------------------------------------------
    def post_init(self) -> None:
        """Initialise the weights that have no value yet (every one, in a fresh model), then check the ties.

        What ``__init__`` ends with. Values are drawn with numpy, each weight from a stream
        seeded by ``seed`` and its name.
        """
        self._initialize_missing(self._unset_weights())
        self.tie_weights()

    def init_weights(self) -> None:
        """Random-initialise every weight again: the values a fresh model with this ``seed`` gets."""
        self._initialize_missing(list(self._paths))
        self.tie_weights()

    def tie_weights(self) -> None:
        """Check the ties of ``tied_weights``: here each tied pair is one parameter by construction.

        A tied projection reads the word embedding table at call time (see
        :class:`~polyformer.backends.flax.layers.OutputProjection`), so a tied target has no
        parameter of its own; one that has would be trained apart from its source.
        """
        copies = sorted(set(self._tied_targets()) & set(self._paths))
        if copies:
            raise RuntimeError(f"{type(self).__name__}: tied weights {', '.join(copies)} have parameters of their own; "
                               f"a tied projection must read its source ({self.tied_weights[copies[0]]}) at call time")

    def resolve_output_flags(self, output_attentions, output_hidden_states, return_dict) -> tuple[bool, bool, bool]:
        """The call's output switches, each None replaced by the config's value."""
        return output_flags(self.config, output_attentions, output_hidden_states, return_dict)

    # ---- running ----------------------------------------------------------------------
    def __call__(
        self,
        *args: Any,
        params: dict | None = None,
        dropout_rng: Any = None,
        train: bool = False,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        **inputs: Any,
    ):
        """Run the model (jit-compiled) on the inputs its base module takes, by position or by name.

        The same call for every Flax model, base or head; inputs are numpy or JAX arrays, or
        Python lists. Values are checked before ``jit`` (token ids within the vocabulary, a 0/1
        attention mask, labels within the classes), as the other frameworks check them.

        Args:
            *args: the base module's inputs in its order (``input_ids``, ``attention_mask``...
                or ``pixel_values``...).
            params: the weights to run with (a pytree shaped as ``model.params``, e.g. while
                training); None: ``model.params``.
            dropout_rng: the JAX key dropout draws from when ``train=True``; None: a key the
                model holds and advances at each call.
            train: dropout on.
            output_attentions: also return each layer's attention weights (None: the config's value).
            output_hidden_states: also return the hidden states after the embeddings and each layer
                (None: the config's value).
            return_dict: return the output dataclass, or False for a tuple of its non-None fields
                (None: the config's value).
            **inputs: the base module's inputs by name, and for a head its loss inputs
                (``labels``...): given them, the output has a ``loss``.

        Returns:
            The output dataclass (``last_hidden_state``..., or the task's ``logits`` and
            ``loss``), or its tuple with ``return_dict=False``.
        """
        output_attentions, output_hidden_states, return_dict = self.resolve_output_flags(
            output_attentions, output_hidden_states, return_dict
        )
        if train and dropout_rng is None:
            self._dropout_key, dropout_rng = jax.random.split(self._dropout_key)
        arrays = self._name_inputs(args, inputs)
        # An input given as a Python bool is a switch (ViT's interpolate_pos_encoding), not data: it stays a
        # Python value, static under jit (one compile per value, as the output flags), so the module can branch on it.
        switches = tuple(sorted((k, bool(v)) for k, v in arrays.items() if isinstance(v, (bool, np.bool_))))
        arrays = {k: v for k, v in arrays.items() if k not in dict(switches)}
        arrays = {k: (_inputs.as_array(k, v) if isinstance(v, (list, tuple)) else v) for k, v in arrays.items()}
        # Read dtypes and values as given, before jnp.asarray wraps int64 to int32 and jit hides the values.
        facts = {k: input_facts(k, v, values=self._reads_values(k, v)) for k, v in arrays.items() if v is not None}
        self._check_inputs_before_jit(facts)
        arrays = {k: (None if v is None else jnp.asarray(v)) for k, v in arrays.items()}
        if self._jitted is None:
            self._jitted = jax.jit(self._apply,
                                   static_argnames=("switches", "train", "output_hidden_states", "output_attentions"))
        output = self._jitted(
            self.params if params is None else params,
            arrays,
            dropout_rng if train else None,
            switches=switches,
            train=bool(train),
            output_hidden_states=output_hidden_states,
            output_attentions=output_attentions,
        )
        self._check_labels(output, {name: facts[name] for name in self.loss_input_names if name in facts})
        return output if return_dict else output.to_tuple()

    def _name_inputs(self, args: tuple, kwargs: dict[str, Any]) -> dict[str, Any]:
        """The inputs by name: positional ones named after the base module's inputs, plus the loss inputs."""
        kwargs = dict(kwargs)
        loss_inputs = {name: kwargs.pop(name) for name in self.loss_input_names if name in kwargs}
        return {**bind_inputs(self._base_module(), args, kwargs), **loss_inputs}

    def _reads_values(self, name: str, value: Any) -> bool:
        """Whether an input's values are read before ``jit``: loss inputs, the attention mask (0/1, whatever
        its dtype), and every integer or boolean input (ids: small, and JAX would not say when one is out of range)."""
        if name in self.loss_input_names or name == "attention_mask" or value is None:
            return True
        dtype = getattr(value, "dtype", None)
        return dtype is None or not jnp.issubdtype(dtype, jnp.floating)

    def _check_inputs_before_jit(self, facts: dict[str, _inputs.Facts]) -> None:
        """The checks that cannot run inside ``jax.jit``: values, and dtypes as the user gave them.

        Without them JAX would clamp out-of-range ids silently, and weigh tokens by a mask of 0.5.
        Shapes are checked while tracing, by the blocks that take the inputs.
        """
        embeddings = getattr(self._base_module(), "embeddings", None)
        if isinstance(embeddings, Embeddings):  # a text model: its token table bounds the ids
            text = [facts.get(name) for name in ("input_ids", "token_type_ids", "position_ids")]
            _inputs.check_text_kinds(*text, facts.get("inputs_embeds"))
            _inputs.check_text_values(embeddings.limits, *text)
        if "attention_mask" in facts:
            _inputs.check_mask_values(facts["attention_mask"])

    def _check_labels(self, output: ModelOutput, loss_inputs: dict[str, _inputs.Facts]) -> None:
        """Check the values of the loss inputs against the output (heads say how); shapes were checked while tracing.

        JAX cannot raise from inside ``jit``, where an out-of-range label only makes the loss NaN.
        """

    def _apply(self, params, arrays, dropout_rng, *, switches=(), train, output_hidden_states, output_attentions):
        rngs = {"dropout": dropout_rng} if train else {}
        output = self.module.apply(
            {"params": params}, **arrays, **dict(switches), train=train, output_hidden_states=output_hidden_states,
            output_attentions=output_attentions, return_dict=True, rngs=rngs,
        )
        register_output_pytree(type(output))  # before jit flattens it
        return output

    # ---- embeddings -------------------------------------------------------------------
    def _word_embeddings_path(self) -> tuple[str, ...]:
        for name in (f"{self.base_model_prefix}.embeddings.word_embeddings.weight", "embeddings.word_embeddings.weight"):
            if name in self._paths:
                return self._paths[name]
        raise NotImplementedError(f"{type(self).__name__} has no embeddings.word_embeddings: it has no token "
                                  f"embedding table")

    def get_input_embeddings(self) -> jax.Array:
        """The ``(vocab_size, hidden_size)`` token embedding table, found at ``embeddings.word_embeddings``."""
        return self._flat_params()[self._word_embeddings_path()]

    def set_input_embeddings(self, value: Any) -> None:
        """Replace the token embedding table by one of the same shape (``resize_token_embeddings`` changes its size)."""
        path = self._word_embeddings_path()
        flat = self._flat_params()
        value = jnp.asarray(value)
        if value.shape != flat[path].shape:
            raise ValueError(f"set_input_embeddings: the table has shape {tuple(flat[path].shape)}, got "
                             f"{tuple(value.shape)}; to change the vocabulary size use resize_token_embeddings")
        flat[path] = value.astype(flat[path].dtype)
        self.params = unflatten_dict(flat)

    def get_output_embeddings(self) -> Any:
        """The vocabulary projection's own parameters (a language-model head's), or None."""
        return None

    def set_output_embeddings(self, value: Any) -> None:
        raise NotImplementedError(f"{type(self).__name__} has no output embeddings")

    def resize_token_embeddings(self, new_num_tokens: int | None = None, pad_to_multiple_of: int | None = None) -> jax.Array:
        """Grow or shrink the vocabulary, keeping the rows of the tokens that stay; returns the new table.

        New rows are drawn from N(0, ``initializer_range``). ``config.vocab_size`` is updated
        and the module rebuilt from it: every weight whose shape follows the vocabulary is
        resized the same way (an untied projection's new rows N(0, std); biases extended
        with zeros; a tied projection reads the new table), every other weight is kept as it is.
        """
        old_table = self.get_input_embeddings()
        if new_num_tokens is None:
            new_num_tokens = old_table.shape[0]
        if pad_to_multiple_of is not None:
            if not isinstance(pad_to_multiple_of, int) or pad_to_multiple_of <= 0:
                raise ValueError(f"pad_to_multiple_of must be a positive integer, got {pad_to_multiple_of!r}")
            new_num_tokens = -(-new_num_tokens // pad_to_multiple_of) * pad_to_multiple_of
        if not isinstance(new_num_tokens, int) or new_num_tokens <= 0:
            raise ValueError(f"new_num_tokens must be a positive integer, got {new_num_tokens!r}")
        if new_num_tokens != old_table.shape[0]:
            old = self._flat_params()
            self.config.vocab_size = new_num_tokens
            self._rebuild()
            new = self._flat_params()
            changed = [path for path in new if new[path].shape != old[path].shape]
            by_path = {path: name for name, path in self._paths.items()}
            self._initialize_missing([by_path[path] for path in changed])
            flat = self._flat_params()
            for path in new:
                if path in changed:
                    overlap = tuple(slice(0, min(a, b)) for a, b in zip(old[path].shape, new[path].shape))
                    flat[path] = flat[path].at[overlap].set(old[path][overlap])
                else:
                    flat[path] = old[path]
            self.params = unflatten_dict(flat)
        return self.get_input_embeddings()

    # ---- heads --------------------------------------------------------------------
    def prune_heads(self, heads_to_prune: dict[int, list[int]]) -> None:
        """Remove attention heads for good: ``{layer: [head, ...]}``, heads numbered as originally.

        ``config.pruned_heads`` records them (merged with those pruned before), and the module
        is rebuilt from it: the query/key/value rows and output-projection columns of the
        remaining heads are kept, every other weight is carried over bit for bit. A saved
        model is rebuilt pruned when loaded again, in any framework.
        """
        config = self.config
        new, merged = plan_head_pruning(config, heads_to_prune)  # checked first: a bad request changes nothing
        if not new:
            config.pruned_heads = merged
            return
        heads = config.num_attention_heads
        before = {layer: pruned_heads_of_layer(config, layer) for layer in new}
        old = self._export_canonical()
        config.pruned_heads = merged
        self._rebuild()
        shapes, head_size = self._canonical_shapes(), config.hidden_size // heads
        for name, array in old.items():
            if array.shape == shapes[name]:
                continue
            layer = int(_LAYER_OF_NAME.search(name).group(1))  # only the pruned layers' attention changes shape
            axis = next(a for a, (was, now) in enumerate(zip(array.shape, shapes[name])) if was != now)
            old[name] = np.take(array, kept_head_features(heads, head_size, before[layer], new[layer]), axis=axis)
        self._load_canonical(old)

    # ---- training helpers -----------------------------------------------------------
    def gradient_checkpointing_enable(self, gradient_checkpointing_kwargs: dict | None = None) -> None:
        """Not available: the Flax backend does not declare ``gradient_checkpointing``; this raises the registry's
        capability error, which names the frameworks' choice (use ``jax.checkpoint`` in your own loop)."""
        from ...core.plugins import get_registry

        get_registry().backend(self.framework).require("gradient_checkpointing")

    def gradient_checkpointing_disable(self) -> None:
        """Nothing to turn off: a Flax model never checkpoints its layers (see :meth:`gradient_checkpointing_enable`)."""

    @property
    def is_gradient_checkpointing(self) -> bool:
        return False

    def optimize_for_inference(self, enable: bool = True, *, measure: bool = True, prepack: bool = True,
                               rows: int = 1024) -> dict:
        """Not in the Flax backend (its forward is already ``jax.jit`` compiled): enabling raises the registry's
        capability error; ``enable=False`` has nothing to undo and returns ``{}``."""
        if enable:
            from ...core.plugins import get_registry

            get_registry().backend(self.framework).require("optimize_for_inference")
        return {}

    # ---- utilities -------------------------------------------------------------------
    def num_parameters(self, only_trainable: bool = False, exclude_embeddings: bool = False) -> int:
        """Number of parameters (tied weights counted once).

        ``only_trainable`` leaves out fixed tables (sinusoidal positions, read through
        ``stop_gradient``); ``exclude_embeddings`` every embedding table.
        """
        total = 0
        for path, leaf in self._flat_params().items():
            if exclude_embeddings and path[-1] == "embedding":
                continue
            if only_trainable and not getattr(self._initializers.get(path), "trainable", True):
                continue
            total += int(np.prod(leaf.shape))
        return total
