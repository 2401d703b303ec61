"""``TFPreTrainedModel``: the base class of every Keras model of polyformer.

A model is a ``keras.Model`` subclass built eagerly from its config: every layer
creates its weights in ``__init__`` (see :mod:`.layers`), so ``TFDistilBertModel(config)``
has its weights at once, and the canonical (PyTorch) name of each weight is the path
of attribute names that leads to it. Loading and saving checkpoints is done once for
all frameworks by :class:`~polyformer.core.modeling.PreTrainedModelMixin`; this class
only implements its five-method contract on top of :func:`.layers.named_canonical_weights`.

Training with Keras: heads compute their loss when given labels (``labels``, or
``start_positions`` / ``end_positions``), so ``model.compile(optimizer=...)`` with no
loss and ``model.fit(x)`` with the labels inside the input dict (or given as ``y``,
which is moved into the inputs) train on that loss.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

import numpy as np

from .layers import Embedding, iter_layers, keras, named_canonical_weights, tf  # sets KERAS_BACKEND first
from ...core.configuration import PretrainedConfig
from ...core.inputs import ModelInputError, as_array
from ...core.modeling import PreTrainedModelMixin

__all__ = ["TFPreTrainedModel", "resolve_dtype", "unpack_inputs", "KERAS_DTYPES"]

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


def _plain_inputs(inputs: Any, name: str = "input_ids") -> Any:
    if isinstance(inputs, Mapping):
        return {key: _plain_inputs(value, key) for key, value in inputs.items()}
    if isinstance(inputs, list):  # token ids as nested Python lists
        return as_array(name, inputs)
    return inputs


def _unwrapped(error: ModelInputError) -> ModelInputError:
    """The input error as it was raised, before Keras rewrote it.

    Keras re-raises an error from inside a layer's ``call`` as a new exception whose message
    adds "Exception encountered when calling Embeddings.call()", ANSI escapes and the call's
    arguments; the original is kept as its ``__context__``. A bad input deserves its plain message.
    """
    while isinstance(error.__context__, ModelInputError):
        error = error.__context__
    return error


def unpack_inputs(call):
    """Let ``call`` take its inputs as one dict (``model({"input_ids": ..., "labels": ...})``,
    what ``fit`` and tokenizers produce) as well as keyword by keyword."""

    @functools.wraps(call)
    def wrapper(self, input_ids=None, *args, **kwargs):
        if isinstance(input_ids, Mapping):
            inputs = dict(input_ids)
            for key in inputs:
                if kwargs.get(key) is not None:
                    raise TypeError(f"{type(self).__name__}: '{key}' is given both in the input dict and as a keyword")
            kwargs = {**kwargs, **inputs}
            input_ids = kwargs.pop("input_ids", None)
        return call(self, input_ids, *args, **kwargs)

    return wrapper


class TFPreTrainedModel(keras.Model, PreTrainedModelMixin):
    """Base of the ``TF...`` models: a ``keras.Model`` with HF-style loading, saving and training."""

    framework = "keras"
    checkpoint_framework = "np"

    def __init__(self, config: PretrainedConfig, *, dtype: Any = None, **kwargs: Any) -> None:
        if not isinstance(config, PretrainedConfig):
            raise TypeError(f"{type(self).__name__} expects a PretrainedConfig, got {type(config).__name__}")
        if self.config_class is not None and not isinstance(config, self.config_class):
            raise TypeError(f"{type(self).__name__} expects a {self.config_class.__name__}, got {type(config).__name__}")
        super().__init__(dtype=resolve_dtype(dtype, config), **kwargs)
        self.config = config

    def __call__(self, *args, **kwargs):
        # Keras only looks inside plain dicts and lists of tensors: a tokenizer's BatchEncoding
        # (a dict subclass) becomes a dict, and Python lists of ids become arrays.
        if args:
            args = (_plain_inputs(args[0]),) + args[1:]
        kwargs = {key: _plain_inputs(value, key) for key, value in kwargs.items()}
        try:
            return super().__call__(*args, **kwargs)
        except ModelInputError as error:
            raise _unwrapped(error) from None

    # ---- helpers for an architecture's call() --------------------------------------------
    def output_flags(self, output_attentions: bool | None, output_hidden_states: bool | None) -> tuple[bool, bool]:
        """``(output_attentions, output_hidden_states)``: the call's, or the config's where the call gave None."""
        if output_attentions is None:
            output_attentions = self.config.output_attentions
        if output_hidden_states is None:
            output_hidden_states = self.config.output_hidden_states
        return bool(output_attentions), bool(output_hidden_states)

    def format_output(self, output, return_dict: bool | None):
        """``output`` (a ModelOutput), or its tuple when ``return_dict`` (default: the config's) is False."""
        return_dict = self.config.use_return_dict if return_dict is None else return_dict
        return output if return_dict else output.to_tuple()

    # ---- embeddings and sizes ----------------------------------------------------------
    @property
    def base_model(self) -> "TFPreTrainedModel":
        """The base model inside a head model (the model itself for a base model)."""
        return getattr(self, self.base_model_prefix, self)

    def get_input_embeddings(self) -> Embedding:
        """The word embedding layer (its ``embeddings`` variable is the table)."""
        if self.base_model is self:
            raise NotImplementedError(f"{type(self).__name__} does not define get_input_embeddings()")
        return self.base_model.get_input_embeddings()

    def get_output_embeddings(self):
        """The vocabulary projection of a language-model head, None for other heads."""
        return None

    def resize_token_embeddings(self, new_num_tokens: int | None = None) -> Embedding:
        """Grow or shrink the vocabulary to ``new_num_tokens`` (new rows random, others kept).

        Variables are replaced, so call ``compile()`` again before training.
        """
        embeddings = self.get_input_embeddings()
        if new_num_tokens is None or new_num_tokens == embeddings.num_embeddings:
            return embeddings
        if not isinstance(new_num_tokens, int) or new_num_tokens <= 0:
            raise ValueError(f"new_num_tokens must be a positive integer, got {new_num_tokens!r}")
        embeddings.resize(new_num_tokens)
        output = self.get_output_embeddings()
        if output is not None:
            output.resize(new_num_tokens)
        self.config.vocab_size = new_num_tokens
        return embeddings

    def num_parameters(self, only_trainable: bool = False, exclude_embeddings: bool = False) -> int:
        """Number of weights (shared ones counted once), as ``transformers``' ``num_parameters``."""
        variables = self.trainable_weights if only_trainable else self.weights
        if exclude_embeddings:
            embedding_ids = {id(layer.embeddings) for layer in iter_layers(self) if isinstance(layer, Embedding)}
            variables = [v for v in variables if id(v) not in embedding_ids]
        return int(sum(int(np.prod(v.shape)) for v in variables))

    # ---- the loading / saving contract of PreTrainedModelMixin -------------------------
    def _canonical_weights(self):
        return named_canonical_weights(self)

    @classmethod
    def _from_config_for_loading(cls, config: PretrainedConfig, dtype: Any = None, **options: Any):
        return cls(config, dtype=dtype, **options)

    def _canonical_shapes(self) -> dict[str, tuple[int, ...]]:
        return {name: weight.shape for name, weight in self._canonical_weights().items()}

    def _non_float_weights(self) -> set[str]:
        return {name for name, weight in self._canonical_weights().items() if "float" not in str(weight.variable.dtype)}

    def _load_canonical(self, tensors: dict[str, Any]) -> None:
        weights = self._canonical_weights()
        tied = self._tied_targets()
        for name, array in tensors.items():
            if name not in tied:  # a tied weight is its source's variable, loaded under the source name
                weights[name].assign(array)

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
        ``y`` becomes ``labels``.
        """
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        if y is None:
            return x, None, sample_weight
        x = dict(x) if isinstance(x, Mapping) else {"input_ids": x}
        if isinstance(y, Mapping):
            x.update(y)
        else:
            x["labels"] = y
        return x, None, sample_weight

    def train_step(self, data):
        return super().train_step(self._labels_into_inputs(data))

    def test_step(self, data):
        return super().test_step(self._labels_into_inputs(data))

    def predict_step(self, data):
        x, _, _ = keras.utils.unpack_x_y_sample_weight(data)
        return dict(self(x, training=False))  # a plain dict, which predict() knows how to concatenate

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """The loss the model computed from its labels (plus any ``add_loss`` terms)."""
        loss = y_pred.get("loss") if isinstance(y_pred, Mapping) else None
        if loss is None:
            raise ValueError(
                f"{type(self).__name__} got no labels, so it has no loss to train on: put them in the "
                f"input dict (e.g. 'labels', or 'start_positions' and 'end_positions') or pass them as y."
            )
        if self.losses:
            loss = loss + tf.add_n([tf.cast(l, loss.dtype) for l in self.losses])
        return loss
