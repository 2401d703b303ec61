"""The Flax backend's model base class: a ``flax.linen`` module plus its params.

A Flax model here is a small wrapper object, as in the Hugging Face Flax API:

* ``model.module`` is a stateless ``flax.linen`` module. Use it functionally in your own
  training loop: ``model.module.apply({"params": params}, input_ids, train=True,
  rngs={"dropout": key})``.
* ``model.params`` is its parameter pytree (nested dicts of JAX arrays).
* ``model(input_ids, attention_mask=...)`` runs the module with ``model.params`` (or the
  ``params=`` given), jit-compiled; JAX caches one compiled function per input shape and
  per value of the static flags (``train``, ``output_hidden_states``, ``output_attentions``).

Loading and saving are :class:`~polyformer.core.modeling.PreTrainedModelMixin`'s; this
class only implements its five-method contract, in canonical (PyTorch) names, using the
naming rule of :mod:`polyformer.backends.flax.layers`. Torch is never imported.

``dtype`` is the dtype of the params and of the computation (float32 by default).

A fresh model costs no compilation: the parameter shapes come from tracing ``module.init``
under ``jax.eval_shape``, and the values are drawn with numpy by the layers'
:class:`~polyformer.backends.flax.layers.Initializer` (same distributions as
``module.init``, not the same numbers). Only parameters made by some other initialiser go
through JAX. Each weight is drawn from its own stream, seeded by ``seed`` and its name,
so a weight initialised alone (missing from a checkpoint) gets the value it would get in
a fresh model.
"""

from __future__ import annotations

import dataclasses
import zlib
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax.traverse_util import flatten_dict, unflatten_dict

from ...core import inputs as _inputs
from ...core import outputs as _outputs
from ...core.configuration import PretrainedConfig
from ...core.modeling import PreTrainedModelMixin
from .layers import (
    Embeddings,
    canonical_name,
    canonical_paths,
    infer_problem_type,
    input_facts,
    recording_initializers,
    to_canonical_layout,
    to_flax_layout,
)

__all__ = ["FlaxPreTrainedModel", "register_output_pytree", "resolve_dtype"]


# ---- model outputs are pytrees, so jit-compiled functions and jax.grad can return them ----

def register_output_pytree(cls: type) -> None:
    """Let JAX flatten a :class:`~polyformer.core.outputs.ModelOutput` dataclass (fields in order)."""
    names = tuple(f.name for f in dataclasses.fields(cls))

    def flatten(output):
        return tuple(getattr(output, name) for name in names), None

    def unflatten(_, children):
        return cls(*children)

    try:
        jax.tree_util.register_pytree_node(cls, flatten, unflatten)
    except ValueError:  # already registered (module reloaded)
        pass


for _name in _outputs.__all__:
    _cls = getattr(_outputs, _name)
    if _cls is not _outputs.ModelOutput:
        register_output_pytree(_cls)


#: Inputs whose values are read before ``jax.jit`` (small integer arrays; never embeddings).
_VALUE_CHECKED = ("input_ids", "token_type_ids", "position_ids", "attention_mask", "labels")


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




class FlaxPreTrainedModel(PreTrainedModelMixin):
    """Base of every Flax model: holds ``config``, ``module``, ``params`` and ``dtype``.

    Subclasses set ``module_class`` (a ``flax.linen`` module taking ``config`` and
    ``dtype``), ``config_class``, ``base_model_prefix`` and, for tied heads, ``tied_weights``;
    ``module_options`` for module fields a user may set besides the config.
    """

    framework = "flax"
    checkpoint_framework = "np"
    #: The ``flax.linen.Module`` class this model wraps.
    module_class: type | None = None
    #: Shape of the dummy ``input_ids`` used to trace the module for its parameter shapes.
    dummy_input_shape: tuple[int, ...] = (1, 1)

    def __init__(self, config: PretrainedConfig, seed: int = 0, dtype: Any = jnp.float32, *, _do_init: bool = True,
                 **options: Any):
        if self.config_class is not None and not isinstance(config, self.config_class):
            raise TypeError(f"{type(self).__name__} expects a {self.config_class.__name__}, got {type(config).__name__}")
        unknown = sorted(set(options) - set(self.module_options))
        if unknown:
            raise TypeError(f"{type(self).__name__}() got unexpected arguments: {', '.join(unknown)}")
        self.config = config
        self.dtype = resolve_dtype(dtype)
        self.options = {**self.module_options, **options}
        self.module = self._make_module()
        self.seed = seed
        self._dropout_key = jax.random.PRNGKey(seed + 1)
        self._jitted = None
        self._embeddings_of = None  # the module _text_embeddings() last looked into
        # Shapes only (jax.eval_shape): nothing is computed until weights are needed.
        self.params = self._abstract_params()
        if _do_init:
            self._initialize_missing(list(self._paths))

    # ---- helpers --------------------------------------------------------------------
    def _make_module(self):
        return self.module_class(config=self.config, dtype=self.dtype, **self.options)

    def _dummy_inputs(self) -> dict[str, Any]:
        return {"input_ids": jnp.zeros(self.dummy_input_shape, dtype=jnp.int32)}

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

    # ---- the PreTrainedModelMixin contract ------------------------------------------
    @classmethod
    def _from_config_for_loading(cls, config: PretrainedConfig, dtype: Any = None, **options: Any):
        if isinstance(dtype, str) and dtype == "auto":  # the dtype the checkpoint was saved in, as transformers' "auto"
            dtype = config.dtype
        return cls(config, dtype=dtype, _do_init=False, **options)

    def _canonical_shapes(self) -> dict[str, tuple[int, ...]]:
        flat = self._flat_params()
        shapes = {name: tuple(jax.eval_shape(partial(to_canonical_layout, path), flat[path]).shape)
                  for name, path in self._paths.items()}
        for target in self._tied_targets():
            shapes[target] = shapes[self.tied_weights[target]]
        return shapes

    def _non_float_weights(self) -> set[str]:
        flat = self._flat_params()
        return {name for name, path in self._paths.items() if not jnp.issubdtype(flat[path].dtype, jnp.floating)}

    def _load_canonical(self, tensors: dict[str, Any]) -> None:
        flat = self._flat_params()
        tied = self._tied_targets()
        for name, array in tensors.items():
            if name in tied:  # the tie source holds this weight
                continue
            path = self._paths[name]
            array = to_flax_layout(path, np.asarray(array))
            # Floating weights take the model's dtype; anything else (integer buffers) keeps its own.
            flat[path] = jnp.asarray(array, dtype=self.dtype if jnp.issubdtype(array.dtype, jnp.floating) else None)
        self.params = unflatten_dict(flat)

    def _initialize_missing(self, names: list[str]) -> None:
        paths = [self._paths[name] for name in names if name in self._paths]
        if not paths:
            return
        flat = self._flat_params()
        for path in paths:
            initializer = self._initializers.get(path)
            if initializer is not None:  # numpy: nothing to compile
                rng = np.random.default_rng([self.seed, zlib.crc32(canonical_name(path).encode())])
                flat[path] = jnp.asarray(initializer.numpy(rng, flat[path].shape), dtype=flat[path].dtype)
        through_jax = [path for path in paths if path not in self._initializers]
        if through_jax:
            flat.update(zip(through_jax, self._jax_init(through_jax)))
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

    def _after_loading(self) -> None:
        flat = self._flat_params()
        missing = [name for name, path in self._paths.items() if isinstance(flat[path], jax.ShapeDtypeStruct)]
        if missing:  # cannot happen through from_pretrained; guards custom loaders
            raise RuntimeError(f"{type(self).__name__}: weights left unset after loading: {', '.join(missing)}")

    # ---- running ----------------------------------------------------------------------
    def __call__(
        self,
        input_ids: Any = None,
        attention_mask: Any = None,
        *,
        params: dict | None = None,
        dropout_rng: Any = None,
        train: bool = False,
        output_hidden_states: bool | None = None,
        output_attentions: bool | None = None,
        return_dict: bool | None = None,
        **inputs: Any,
    ):
        """Run the model (jit-compiled). ``inputs`` are the module's other arguments (labels...).

        With ``train=True`` dropout is active; it draws from ``dropout_rng`` or, if none is
        given, from a key the model holds and advances at each call.
        """
        if output_hidden_states is None:
            output_hidden_states = bool(self.config.output_hidden_states)
        if output_attentions is None:
            output_attentions = bool(self.config.output_attentions)
        if return_dict is None:
            return_dict = self.config.use_return_dict
        if train and dropout_rng is None:
            self._dropout_key, dropout_rng = jax.random.split(self._dropout_key)
        arrays = {"input_ids": input_ids, "attention_mask": attention_mask, **inputs}
        arrays = {k: (_inputs.as_array(k, v) if isinstance(v, (list, tuple)) else v) for k, v in arrays.items()}
        # Read dtypes and values as given, before jnp.asarray wraps int64 to int32 and jit hides the values.
        facts = {k: input_facts(k, v, values=k in _VALUE_CHECKED) for k, v in arrays.items() if v is not None}
        self._check_inputs_before_jit(facts)
        arrays = {k: (None if v is None else jnp.asarray(v)) for k, v in arrays.items()}
        if self._jitted is None:
            self._jitted = jax.jit(self._apply, static_argnames=("train", "output_hidden_states", "output_attentions"))
        output = self._jitted(
            self.params if params is None else params,
            arrays,
            dropout_rng if train else None,
            train=bool(train),
            output_hidden_states=bool(output_hidden_states),
            output_attentions=bool(output_attentions),
        )
        self._check_label_values(output, facts.get("labels"))
        return output if return_dict else output.to_tuple()

    def _text_embeddings(self) -> Embeddings | None:
        """The text :class:`~polyformer.backends.flax.layers.Embeddings` block of the base model
        (``embeddings``, as transformers names it), or None for a model without one."""
        if self._embeddings_of is not self.module:
            bound = self.module.bind({})  # no parameters needed: only the block's sizes are read
            base = getattr(bound, self.base_model_prefix, bound) if self.base_model_prefix else bound
            embeddings = getattr(base, "embeddings", None)
            self._embeddings = embeddings if isinstance(embeddings, Embeddings) else None
            self._embeddings_of = self.module
        return self._embeddings

    def _check_inputs_before_jit(self, facts: dict[str, _inputs.Facts]) -> None:
        """The checks that cannot run inside ``jax.jit``: values, and dtypes as the user gave them.

        Without them JAX would clamp out-of-range ids silently, and weigh tokens by a mask of 0.5.
        Shapes are checked while tracing, by the blocks that take the inputs.
        """
        embeddings = self._text_embeddings()
        if embeddings is not None:
            text = [facts.get(name) for name in ("input_ids", "token_type_ids", "position_ids")]
            _inputs.check_text_kinds(*text, facts.get("inputs_embeds"))
            _inputs.check_text_values(embeddings.limits, *text)
        if "attention_mask" in facts:
            _inputs.check_mask_values(facts["attention_mask"])

    def _check_label_values(self, output: Any, labels: _inputs.Facts | None) -> None:
        """Label values, checked after the jitted run (their shapes were checked while tracing).

        JAX cannot raise from inside ``jit``, and an out-of-range label there only makes the
        loss NaN; the output's type says which rule the labels follow.
        """
        if labels is None or labels.values is None or getattr(output, "logits", None) is None:
            return
        shape = tuple(output.logits.shape)
        if isinstance(output, _outputs.SequenceClassifierOutput):
            problem = infer_problem_type(self.config.problem_type, self.config.num_labels, labels.values)
            if problem == "single_label_classification":
                _inputs.check_class_labels(labels, shape)
            elif problem == "multi_label_classification":
                _inputs.check_multi_label_targets(labels, shape)
        elif isinstance(output, _outputs.MaskedLMOutput):
            _inputs.check_class_labels(labels, shape, what="vocabulary tokens")
        elif isinstance(output, _outputs.TokenClassifierOutput):
            _inputs.check_class_labels(labels, shape)
        elif isinstance(output, _outputs.MultipleChoiceModelOutput):
            _inputs.check_class_labels(labels, shape, what="choices")

    def _apply(self, params, arrays, dropout_rng, *, train, output_hidden_states, output_attentions):
        rngs = {"dropout": dropout_rng} if train else {}
        return self.module.apply(
            {"params": params},
            **arrays,
            train=train,
            output_hidden_states=output_hidden_states,
            output_attentions=output_attentions,
            rngs=rngs,
        )

    # ---- utilities -------------------------------------------------------------------
    def num_parameters(self, only_trainable: bool = False, exclude_embeddings: bool = False) -> int:
        """Number of parameters (tied weights counted once). Every Flax param is trainable."""
        return sum(
            int(np.prod(leaf.shape))
            for path, leaf in self._flat_params().items()
            if not (exclude_embeddings and path[-1] == "embedding")
        )

    def resize_token_embeddings(self, new_num_tokens: int | None = None, pad_to_multiple_of: int | None = None) -> None:
        """Change ``config.vocab_size``; every weight whose shape depends on it is resized.

        The overlapping part of each resized weight is kept; the new rows (or columns, or
        bias entries) are initialised as fresh weights are (normal rows, zero biases).
        """
        if new_num_tokens is None:
            new_num_tokens = self.config.vocab_size
        if pad_to_multiple_of is not None:
            new_num_tokens = -(-new_num_tokens // pad_to_multiple_of) * pad_to_multiple_of
        if not isinstance(new_num_tokens, int) or new_num_tokens <= 0:
            raise ValueError(f"new_num_tokens must be a positive integer, got {new_num_tokens!r}")
        if new_num_tokens == self.config.vocab_size:
            return
        old = self._flat_params()
        self.config.vocab_size = new_num_tokens
        self.module = self._make_module()
        self._jitted = None
        self.params = self._abstract_params()
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
