"""``TFPreTrainedModel``: the base class of every Keras model of polyformer.

A model is a ``keras.Model`` subclass built eagerly from its config: every layer creates its
weights in ``__init__`` (see :mod:`.layers`), so ``TFDistilBertModel(config)`` has its weights
at once, and the canonical (PyTorch) name of each weight is the path of attribute names that
leads to it. Loading and saving checkpoints is done once for all frameworks by
:class:`~polyformer.core.modeling.PreTrainedModelMixin`; this class implements its
five-method contract on top of :func:`.layers.named_canonical_weights`, plus what every model
offers in every backend: embedding resizing, head pruning, output switches.

What an architecture's ``TF...PreTrainedModel`` sets: ``config_class``, ``base_model_prefix``,
``main_input_name`` and ``make_base_model(config)`` (the base model its heads hold);
``tied_weights`` for tied heads. A model builds its layers in ``__init__`` (each given
:attr:`TFPreTrainedModel.layer_options`) and ends it with ``self.post_init()``; a base model's
``call`` reads the output switches with :meth:`TFPreTrainedModel.resolve_output_flags`. Heads
come from :mod:`polyformer.backends.keras.heads`. Embedding resizing finds
``embeddings.word_embeddings`` and head pruning the shared ``Encoder`` by themselves.

Training with Keras: heads compute their loss when given labels (``labels``, or
``start_positions`` / ``end_positions``), so ``model.compile(optimizer=...)`` with no loss and
``model.fit(x)`` with the labels inside the input dict (or given as ``y``, which is moved into
the inputs) train on that loss. Keras variables have fixed shapes: pruning and resizing replace
variables, so call ``compile()`` again after them, before training.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from . import layers
from . import distribution, engine
from .layers import keras, ops
from ...core.checkpoint import StoredTensor
from ...core.configuration import PretrainedConfig
from ...core.inputs import as_array
from ...core.modeling import PreTrainedModelMixin
from ...core.numerics import plan_head_pruning
from ...core.plugins import get_registry

__all__ = ["TFPreTrainedModel", "resolve_dtype", "KERAS_DTYPES"]

#: Dtypes a Keras model's weights may have.
KERAS_DTYPES = ("float32", "float16", "bfloat16", "float64")


def resolve_dtype(dtype: Any, config: PretrainedConfig | None = None) -> str:
    """A dtype given by the user (``"float16"``, ``"torch.float16"``, ``tf.float16``, ``np.float16``,
    ``"auto"`` for the config's, None for float32) -> a Keras dtype name, or a clear error."""
    if dtype is None:
        return "float32"
    if isinstance(dtype, str) and dtype == "auto":
        return resolve_dtype(getattr(config, "dtype", None) or "float32")
    if isinstance(dtype, str):
        name = dtype.rpartition(".")[2]
    elif isinstance(getattr(dtype, "name", None), str):
        name = dtype.name
    else:
        try:
            name = np.dtype(dtype).name
        except TypeError:
            name = str(dtype)
    if name not in KERAS_DTYPES:
        raise ValueError(f"dtype {dtype!r} cannot hold Keras model weights; use one of {', '.join(KERAS_DTYPES)}")
    return name


def _plain_inputs(inputs: Any, name: str) -> Any:
    """Python lists (token ids) become numpy arrays, named in the error when their rows are ragged."""
    if isinstance(inputs, list):
        return as_array(name, inputs)
    return inputs


def _unwrapped(error: Exception) -> Exception:
    """The error as it was raised inside the model, before Keras rewrote it.

    Keras re-raises an error from inside a layer's ``call`` as a new exception of the same type
    whose message adds "Exception encountered when calling Encoder.call()", ANSI escapes and the
    call's arguments; the original is kept as its ``__context__``. A bad input (a wrong shape,
    an unknown argument) deserves its plain message, the same as in the other backends.
    """
    # Keras marks the exceptions it makes so (``_keras_call_info_injected``): only those are unwrapped.
    while getattr(error, "_keras_call_info_injected", False) and type(error.__context__) is type(error):
        error = error.__context__
    return error


#: Bytes of a checkpoint tensor copied into a variable at a time.
_ASSIGN_BLOCK_BYTES = 8 * 2**20


def _assign_stored(weight: layers.CanonicalWeight, stored: StoredTensor) -> None:
    """Copy a checkpoint tensor into its variable a block of rows at a time, in place where the backend can.

    ``variable.assign`` of a whole array would have the backend hold the value twice more for
    a moment (its own copy of the numpy array, then a new buffer for the variable): for a
    vocabulary table, a third of a model. On TensorFlow and PyTorch each block is written into
    the variable's own buffer (:func:`.engine.write_rows`), so the extra memory is about one
    block; a transposed weight (a Dense kernel) takes each block of checkpoint rows as a block
    of its columns. JAX arrays cannot be written into: the whole value is assigned.
    """
    variable = weight.variable
    if tuple(stored.shape) != weight.shape:
        raise ValueError(f"expected shape {weight.shape}, got {tuple(stored.shape)}")
    rank = len(stored.shape)
    if rank == 0 or not engine.WRITES_IN_PLACE:
        weight.assign(stored.read())
        return
    axis = rank - 1 if weight.transpose else 0  # the variable's axis along the checkpoint's rows
    for start, stop in stored.row_blocks(_ASSIGN_BLOCK_BYTES):
        engine.write_rows(variable, stored.read(start, stop), start, stop, axis, weight.transpose)


class TFPreTrainedModel(keras.Model, PreTrainedModelMixin):
    """Base of the ``TF...`` models: a ``keras.Model`` with HF-style loading, saving and training."""

    framework = "keras"
    checkpoint_framework = "stored"

    def __init__(self, config: PretrainedConfig, *, dtype: Any = None, **kwargs: Any) -> None:
        if not isinstance(config, PretrainedConfig):
            raise TypeError(
                f"{type(self).__name__}(config) expects a PretrainedConfig, got {type(config).__name__}; "
                f"to load weights use {type(self).__name__}.from_pretrained(path)"
            )
        if self.config_class is not None and not isinstance(config, self.config_class):
            raise TypeError(f"{type(self).__name__} expects a {self.config_class.__name__}, got {type(config).__name__}")
        super().__init__(dtype=resolve_dtype(dtype, config), **kwargs)
        self.config = config

    def _model_inputs(self, args: tuple, kwargs: dict) -> tuple[tuple, dict]:
        """The inputs may come as one dict (``model({"input_ids": ..., "labels": ...})``, what
        tokenizers and ``fit`` give), positionally or by name: all become ``call``'s arguments;
        Python lists become arrays."""
        if args and isinstance(args[0], Mapping):  # a tokenizer's BatchEncoding is a Mapping too
            if len(args) > 1:
                raise TypeError(f"{type(self).__name__}: inputs given as a dict take no other positional inputs; "
                                f"pass the others by name")
            given = dict(args[0])
            for key in given:
                if kwargs.get(key) is not None:
                    raise TypeError(f"{type(self).__name__}: '{key}' is given both in the input dict and as a keyword")
            args, kwargs = (), {**kwargs, **given}
        args = tuple(_plain_inputs(value, self.main_input_name if index == 0 else f"positional input {index}")
                     for index, value in enumerate(args))
        kwargs = {key: _plain_inputs(value, key) for key, value in kwargs.items()}
        return args, kwargs

    def stateless_call(self, trainable_variables, non_trainable_variables, *args: Any, **kwargs: Any):
        """Keras' functional call (what ``fit`` runs on the JAX backend), taking inputs as :meth:`__call__` does."""
        args, kwargs = self._model_inputs(args, kwargs)
        return super().stateless_call(trainable_variables, non_trainable_variables, *args, **kwargs)

    def __call__(self, *args: Any, **kwargs: Any):
        """Run ``call`` on inputs given as :meth:`_model_inputs` takes them."""
        args, kwargs = self._model_inputs(args, kwargs)
        try:
            return super().__call__(*args, **kwargs)
        except (ValueError, TypeError) as error:  # ModelInputError is a ValueError
            original = _unwrapped(error)
            if original is error:
                raise
            raise original from None

    # ---- construction -------------------------------------------------------------
    @property
    def layer_options(self) -> dict[str, Any]:
        """What each layer of the model is built with: the model's dtype policy and ``config.initializer_range``.

        Keras creates and initialises a weight as its layer is built, so the layers need both then.
        """
        return {"dtype": self.dtype_policy, "initializer_range": self.config.initializer_range}

    def post_init(self) -> None:
        """Call at the end of ``__init__``: every weight exists (each layer made its own); tie the vocabulary
        projection, and place the weights as an active ``keras.distribution`` says (:mod:`.distribution`)."""
        self.built = True
        self.tie_weights()
        distribution.place_variables(self)

    @classmethod
    def layout_map(cls, mesh: Any, *, axis: str = "model") -> "keras.distribution.LayoutMap":
        """The ``keras.distribution.LayoutMap`` for ``ModelParallel`` over ``mesh``: tensor parallelism on ``axis``.

        Build or load the model inside the distribution's scope (see :mod:`.distribution`)::

            mesh = keras.distribution.DeviceMesh((1, 2), ("batch", "model"), keras.distribution.list_devices())
            parallel = keras.distribution.ModelParallel(layout_map=Model.layout_map(mesh), batch_dim_name="batch")
            with parallel.scope():
                model = Model.from_pretrained(folder)
        """
        return distribution.layout_map(mesh, axis=axis)

    def init_weights(self) -> None:
        """Random-initialise every weight again (tied weights share one variable, initialised once)."""
        tied = self._tied_targets()
        for name, weight in self._canonical_weights().items():
            if name not in tied:
                weight.initialize()

    def resolve_output_flags(
        self, output_attentions: bool | None, output_hidden_states: bool | None, return_dict: bool | None
    ) -> tuple[bool, bool, bool]:
        """The ``call`` switches, each None replaced by the config's value."""
        config = self.config
        return (
            bool(config.output_attentions if output_attentions is None else output_attentions),
            bool(config.output_hidden_states if output_hidden_states is None else output_hidden_states),
            bool(config.use_return_dict if return_dict is None else return_dict),
        )

    @property
    def base_model(self) -> "TFPreTrainedModel":
        """The base model inside a head model (``self.distilbert``), or the model itself."""
        return getattr(self, self.base_model_prefix, self)

    # ---- embeddings -----------------------------------------------------------------
    def get_input_embeddings(self) -> layers.Embedding:
        """The token embedding table: the base model's, found at ``embeddings.word_embeddings`` (the shared
        :class:`~polyformer.backends.keras.layers.Embeddings`) unless a base model overrides this."""
        if self.base_model is not self:
            return self.base_model.get_input_embeddings()
        embeddings = getattr(self, "embeddings", None)
        if not isinstance(getattr(embeddings, "word_embeddings", None), layers.Embedding):
            raise NotImplementedError(f"{type(self).__name__} has no embeddings.word_embeddings: implement get_input_embeddings()")
        return embeddings.word_embeddings

    def set_input_embeddings(self, value: layers.Embedding) -> None:
        """Replace the token embedding table; call :meth:`tie_weights` after it for a tied projection to follow."""
        if self.base_model is not self:
            return self.base_model.set_input_embeddings(value)
        self.get_input_embeddings()  # the same check: there must be a table to replace
        layers.set_layer(self.embeddings, "word_embeddings", value)

    def get_output_embeddings(self) -> layers.OutputProjection | None:
        """The vocabulary projection of a language-model head, or None."""
        return None

    def set_output_embeddings(self, value: layers.OutputProjection) -> None:
        raise NotImplementedError(f"{type(self).__name__} has no output embeddings")

    def tie_weights(self) -> None:
        """Make a tied vocabulary projection read the input embedding table (``config.tie_word_embeddings``).

        Tied weights are one variable: the projection reads the embedding layer's table at every
        call, so it follows a resized table by itself; this re-links it after
        :meth:`set_input_embeddings`.
        """
        output = self.get_output_embeddings()
        if output is not None and output.embedding is not None and self._tied_targets():
            layers.set_layer(output, "embedding", self.get_input_embeddings())

    def resize_token_embeddings(self, new_num_tokens: int | None = None,
                                pad_to_multiple_of: int | None = None) -> layers.Embedding:
        """Grow or shrink the vocabulary, keeping the rows of the tokens that stay.

        New rows are drawn from N(0, ``initializer_range``). ``config.vocab_size`` is updated; a
        tied output projection follows the new table and its bias keeps its old entries (new ones
        0); an untied one is resized the same way. The resized projection is set again with
        :meth:`set_output_embeddings`, so an architecture that links weights to it relinks them.
        Keras variables have fixed shapes, so they are replaced: call ``compile()`` again before training.
        """
        embeddings = self.get_input_embeddings()
        if new_num_tokens is None:
            new_num_tokens = embeddings.num_embeddings
        if pad_to_multiple_of is not None:
            if not isinstance(pad_to_multiple_of, int) or pad_to_multiple_of <= 0:
                raise ValueError(f"pad_to_multiple_of must be a positive integer, got {pad_to_multiple_of!r}")
            new_num_tokens = -(-new_num_tokens // pad_to_multiple_of) * pad_to_multiple_of
        if not isinstance(new_num_tokens, int) or new_num_tokens <= 0:
            raise ValueError(f"new_num_tokens must be a positive integer, got {new_num_tokens!r}")
        embeddings.resize(new_num_tokens)
        output = self.get_output_embeddings()
        if output is not None:
            output.resize(new_num_tokens)
            self.set_output_embeddings(output)
        self.config.vocab_size = new_num_tokens
        self.tie_weights()
        distribution.place_variables(self)
        return embeddings

    # ---- heads --------------------------------------------------------------------
    def prune_heads(self, heads_to_prune: dict[int, list[int]]) -> None:
        """Remove attention heads for good: ``{layer: [head, ...]}``, heads numbered as originally.

        The weights shrink, and ``config.pruned_heads`` records the heads so that a saved model is
        rebuilt pruned when loaded again. Variables are replaced: call ``compile()`` again before training.
        """
        new, merged = plan_head_pruning(self.config, heads_to_prune)  # checked first: a bad request changes nothing
        if new:
            self.base_model._prune_heads({layer: sorted(heads) for layer, heads in new.items()})
            distribution.place_variables(self)
        self.config.pruned_heads = merged

    def _prune_heads(self, heads_to_prune: dict[int, list[int]]) -> None:
        """Prune through the model's :class:`~polyformer.backends.keras.layers.Encoder` (override for other layouts)."""
        encoders = [layer for layer in layers.iter_layers(self) if isinstance(layer, layers.Encoder)]
        if len(encoders) != 1:
            raise NotImplementedError(
                f"{type(self).__name__} does not support head pruning: it has {len(encoders)} shared Encoder stacks "
                f"(implement _prune_heads for its layout)"
            )
        encoders[0].prune_heads(heads_to_prune)

    # ---- what this backend does not have ------------------------------------------------
    def gradient_checkpointing_enable(self, gradient_checkpointing_kwargs: dict | None = None) -> None:
        """Not in the Keras backend: raises the registry's clear error (see ``Backend.capabilities``)."""
        get_registry().backend(self.framework).require("gradient_checkpointing")

    def gradient_checkpointing_disable(self) -> None:
        """Not in the Keras backend (nothing to disable): the same clear error as enabling it."""
        get_registry().backend(self.framework).require("gradient_checkpointing")

    def optimize_for_inference(self, enable: bool = True, *, measure: bool = True, prepack: bool = True,
                               rows: int = 1024) -> dict:
        """Not in the Keras backend (its fast path is XLA, ``jit_compile``): enabling raises the registry's
        capability error; ``enable=False`` has nothing to undo and returns ``{}``."""
        if enable:
            get_registry().backend(self.framework).require("optimize_for_inference")
        return {}

    def num_parameters(self, only_trainable: bool = False, exclude_embeddings: bool = False) -> int:
        """Number of weights (shared ones counted once), as ``transformers``' ``num_parameters``."""
        variables = self.trainable_weights if only_trainable else self.weights
        if exclude_embeddings:
            embedding_ids = {id(layer.embeddings) for layer in layers.iter_layers(self)
                             if isinstance(layer, layers.Embedding)}
            variables = [v for v in variables if id(v) not in embedding_ids]
        return int(sum(int(np.prod(v.shape)) for v in variables))

    # ---- the loading / saving contract of PreTrainedModelMixin -------------------------
    def _canonical_weights(self) -> dict[str, layers.CanonicalWeight]:
        return layers.named_canonical_weights(self)

    @classmethod
    def _from_config_for_loading(cls, config: PretrainedConfig, dtype: Any = None, **options: Any):
        """The model with its weights uninitialised (:func:`.layers.building_for_loading`): loading sets them all."""
        with layers.building_for_loading():
            return cls(config, dtype=dtype, **options)

    def _canonical_shapes(self) -> dict[str, tuple[int, ...]]:
        return {name: weight.shape for name, weight in self._canonical_weights().items()}

    def _non_float_weights(self) -> set[str]:
        return {name for name, weight in self._canonical_weights().items() if "float" not in str(weight.variable.dtype)}

    def _load_canonical(self, tensors: dict[str, Any]) -> None:
        weights = self._canonical_weights()
        tied = self._tied_targets()
        for name, value in tensors.items():
            if name in tied:  # a tied weight is its source's variable, loaded under the source name
                continue
            if isinstance(value, StoredTensor):
                _assign_stored(weights[name], value)
            else:
                weights[name].assign(value)

    def _initialize_missing(self, names: list[str]) -> None:
        # Tied weights share one variable, so tying needs no extra step here.
        weights = self._canonical_weights()
        tied = self._tied_targets()
        for name in names:
            if name not in tied:
                weights[name].initialize()

    def _export_canonical(self) -> dict[str, np.ndarray]:
        tied = self._tied_targets()
        return {name: weight.numpy() for name, weight in self._canonical_weights().items() if name not in tied}

    def save_pretrained(self, save_directory, **kwargs: Any) -> None:
        """Write ``config.json`` and the safetensors weights under their PyTorch names (the Hugging Face
        layout every backend and ``transformers`` read); Keras' own ``save()`` writes a ``.keras`` archive.

        Args:
            save_directory: the folder to write (created if needed).
            **kwargs: ``max_shard_size`` and ``safe_serialization``, as for
                ``PreTrainedModelMixin.save_pretrained`` (``polyformer.core.modeling``).
        """
        super().save_pretrained(save_directory, **kwargs)

    # ---- Keras training ---------------------------------------------------------------
    def compile(self, optimizer="rmsprop", loss=None, **kwargs):
        """``keras.Model.compile`` without ``loss``: the model computes its own loss from the labels."""
        if loss is not None:
            raise ValueError(
                f"{type(self).__name__} computes its loss from the labels in its inputs: call compile() "
                f"without loss=, and pass labels in x (or as y)."
            )
        super().compile(optimizer=optimizer, **kwargs)

    def _labels_into_inputs(self, data):
        """``(x, y, sample_weight)`` -> ``(x with y as its labels, None, sample_weight)``.

        A dict ``y`` is merged (``{"start_positions": ..., "end_positions": ...}``); any other
        ``y`` becomes ``labels``. An ``x`` that is not a dict is the model's main input.
        """
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        if y is None:
            return x, None, sample_weight
        x = dict(x) if isinstance(x, Mapping) else {self.main_input_name: x}
        if isinstance(y, Mapping):
            x.update(y)
        else:
            x["labels"] = y
        return x, None, sample_weight

    # Keras' JAX backend passes the training state before the data (``train_step(state, data)``);
    # the other backends pass the data alone.
    def train_step(self, *state_and_data):
        *state, data = state_and_data
        return super().train_step(*state, self._labels_into_inputs(data))

    def test_step(self, *state_and_data):
        *state, data = state_and_data
        return super().test_step(*state, self._labels_into_inputs(data))

    def predict_step(self, *state_and_data):
        """The model's outputs as a plain dict, which ``predict()`` knows how to concatenate."""
        *state, data = state_and_data
        x, _, _ = keras.utils.unpack_x_y_sample_weight(data)
        x = x if isinstance(x, Mapping) else {self.main_input_name: x}
        result = super().predict_step(*state, (x,))
        if state:  # JAX: (outputs, non-trainable variables)
            outputs, variables = result
            return dict(outputs), variables
        return dict(result)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """The loss the model computed from its labels (plus any ``add_loss`` terms)."""
        loss = y_pred.get("loss") if isinstance(y_pred, Mapping) else None
        if loss is None:
            raise ValueError(
                f"{type(self).__name__} got no labels, so it has no loss to train on: put them in the "
                f"input dict (e.g. 'labels', or 'start_positions' and 'end_positions') or pass them as y."
            )
        if self.losses:
            loss = loss + sum(ops.cast(extra, loss.dtype) for extra in self.losses)
        return loss
