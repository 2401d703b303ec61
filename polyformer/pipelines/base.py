"""What every pipeline shares: inputs in, batches through the model, answers out.

A pipeline is three steps, each a method a task overrides:

- ``preprocess(item, **options)`` turns one user input (a string, an image, a waveform...)
  into one or more *rows*: model inputs for one example, as numpy arrays without a batch
  axis, plus whatever the last step needs (offsets, the original text...). Long inputs give
  several rows (question answering's document windows, speech recognition's chunks).
- the model runs on batches of ``batch_size`` rows, padded to the longest, through the
  backend's numpy harness, so the same pipeline code runs in PyTorch, Keras and Flax;
- ``postprocess(rows, **options)`` turns the rows of one input, each with its model outputs,
  into the answer transformers' pipeline of the same name gives.

Options given to ``__call__`` (or to ``pipeline(...)``, as defaults) go to the step whose
signature names them; an option no step takes is a ``TypeError`` naming it.
"""

from __future__ import annotations

import inspect
import os
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["Pipeline", "Row", "softmax", "sigmoid"]


@dataclass
class Row:
    """One example for the model: ``inputs`` (numpy, no batch axis) and ``extra`` for postprocess.

    After the forward pass ``outputs`` holds the model's outputs for this row (numpy, no batch
    axis, padding positions removed for token-level outputs).
    """

    inputs: dict[str, np.ndarray]
    extra: dict[str, Any] = field(default_factory=dict)
    outputs: dict[str, np.ndarray] = field(default_factory=dict)


def softmax(values: np.ndarray, axis: int = -1) -> np.ndarray:
    """Softmax in float64-safe form (max subtracted first)."""
    shifted = np.exp(values - values.max(axis=axis, keepdims=True))
    return shifted / shifted.sum(axis=axis, keepdims=True)


def sigmoid(values: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-values))


class Pipeline:
    """Base class of every pipeline; see the module docstring for the three steps."""

    #: the task name ``pipeline(task)`` answers to
    task: str = ""
    #: which preprocessors the task needs: any of "tokenizer", "image_processor", "feature_extractor"
    needs: tuple[str, ...] = ()

    def __init__(self, model, *, tokenizer=None, image_processor=None, feature_extractor=None,
                 batch_size: int = 1, progress: bool | None = None, **defaults: Any) -> None:
        self.model = model
        self.config = model.config
        self.framework = getattr(model, "framework", "")
        self.tokenizer = tokenizer
        self.image_processor = image_processor
        self.feature_extractor = feature_extractor
        for need in self.needs:
            if getattr(self, need) is None:
                raise ValueError(
                    f"The '{self.task}' pipeline needs a {need.replace('_', ' ')}: pass {need}=... to pipeline(), "
                    f"or give a model folder that has one"
                )
        self.batch_size = _check_batch_size(batch_size)
        self.progress = progress
        self._harness = _harness_for(self.framework)
        self._check_options(defaults)
        self.defaults = defaults

    # ------------------------------------------------------------------ the three steps
    def preprocess(self, item: Any, **options: Any) -> list[Row]:
        raise NotImplementedError

    def postprocess(self, rows: list[Row], **options: Any) -> Any:
        raise NotImplementedError

    def is_single(self, inputs: Any) -> bool:
        """Whether ``inputs`` is one example (answered with one result) rather than a dataset."""
        return not isinstance(inputs, (list, tuple, Iterator))

    def pad_value(self, key: str) -> Any:
        """What fills the padded positions of model input ``key`` when rows of different lengths share a batch."""
        if key == "input_ids" and self.tokenizer is not None and self.tokenizer.pad_token_id is not None:
            return self.tokenizer.pad_token_id
        return 0

    # ------------------------------------------------------------------ running
    def __call__(self, inputs: Any, **options: Any) -> Any:
        """Answer ``inputs``: one example gives one result; a list gives a list; a generator gives a generator.

        Args:
            inputs: one example (a text, an image, an audio array...: what the task reads), or a
                list or generator of them.
            **options: this call's task options (``top_k``, ``aggregation_strategy``...: see the
                task's class), over the defaults given to ``pipeline()``; and ``batch_size`` /
                ``progress`` to change the pipeline's for this call.
        """
        batch_size = _check_batch_size(options.pop("batch_size", self.batch_size))
        progress = options.pop("progress", self.progress)
        options = {**self.defaults, **options}
        self._check_options(options)
        pre, post = self._split_options(options)
        if self.is_single(inputs):
            return next(self._run([inputs], batch_size, pre, post, progress=False))
        if isinstance(inputs, Iterator):
            return self._run(inputs, batch_size, pre, post, progress=progress)
        return list(self._run(list(inputs), batch_size, pre, post, progress=progress))

    def _run(self, items: Iterable, batch_size: int, pre: dict, post: dict, progress: bool | None) -> Iterator:
        """Preprocess items until ``batch_size`` rows wait, run them, answer every item whose rows are done."""
        bar = _progress_bar(items, progress)
        waiting: list[list[Row]] = []  # rows of items not answered yet, in order
        pending_rows = 0
        try:
            for item in items:
                rows = self.preprocess(item, **pre)
                waiting.append(rows)
                pending_rows += len(rows)
                if pending_rows >= batch_size:
                    self._forward_rows([row for rows in waiting for row in rows], batch_size)
                    for rows in waiting:
                        yield self.postprocess(rows, **post)
                        if bar is not None:
                            bar.update(1)
                    waiting, pending_rows = [], 0
            if waiting:
                self._forward_rows([row for rows in waiting for row in rows], batch_size)
                for rows in waiting:
                    yield self.postprocess(rows, **post)
                    if bar is not None:
                        bar.update(1)
        finally:
            if bar is not None:
                bar.close()

    def _forward_rows(self, rows: list[Row], batch_size: int) -> None:
        for start in range(0, len(rows), batch_size):
            batch = rows[start:start + batch_size]
            inputs, lengths = self._collate(batch)
            outputs = self._harness.forward(self.model, inputs)
            for index, row in enumerate(batch):
                row.outputs = _row_outputs(outputs, index, lengths[index], max(lengths))

    def _collate(self, rows: list[Row]) -> tuple[dict[str, np.ndarray], list[int]]:
        """The rows' inputs as one batch, each padded at the end of its first axis to the longest."""
        keys = list(rows[0].inputs)
        batch = {}
        for key in keys:
            arrays = [np.asarray(row.inputs[key]) for row in rows]
            longest = max(array.shape[0] for array in arrays) if arrays[0].ndim else 0
            if arrays[0].ndim and any(array.shape[0] != longest for array in arrays):
                fill = self.pad_value(key)
                arrays = [np.pad(array, [(0, longest - array.shape[0])] + [(0, 0)] * (array.ndim - 1),
                                 constant_values=fill) for array in arrays]
            batch[key] = np.stack(arrays)
        first = np.asarray(rows[0].inputs[keys[0]])
        lengths = [np.asarray(row.inputs[keys[0]]).shape[0] if first.ndim else 1 for row in rows]
        return batch, lengths

    # ------------------------------------------------------------------ options
    def _step_parameters(self) -> dict[str, set[str]]:
        """The option names ``preprocess`` and ``postprocess`` take (read from their signatures once per class)."""
        cls = type(self)
        if "_steps" not in cls.__dict__:
            cls._steps = _signature_options(cls)
        return cls._steps

    def __repr__(self) -> str:
        return f"{type(self).__name__}(task={self.task!r}, model={type(self.model).__name__}, framework={self.framework!r})"

    def _check_options(self, options: dict[str, Any]) -> None:
        steps = self._step_parameters()
        known = steps["preprocess"] | steps["postprocess"]
        unknown = sorted(set(options) - known)
        if unknown:
            raise TypeError(
                f"The '{self.task}' pipeline got an unexpected option {unknown[0]!r}; it takes: "
                + ", ".join(sorted(known | {"batch_size", "progress"}))
            )

    def _split_options(self, options: dict[str, Any]) -> tuple[dict, dict]:
        steps = self._step_parameters()
        pre = {k: v for k, v in options.items() if k in steps["preprocess"]}
        post = {k: v for k, v in options.items() if k in steps["postprocess"]}
        return pre, post


def _signature_options(cls: type) -> dict[str, set[str]]:
    """The options of ``cls.preprocess`` and ``cls.postprocess``: their parameters after ``self`` and the input."""
    steps = {}
    for step in ("preprocess", "postprocess"):
        signature = inspect.signature(getattr(cls, step))
        steps[step] = {name for name, p in list(signature.parameters.items())[2:]
                       if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)}
    return steps


def _check_batch_size(batch_size: Any) -> int:
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    return batch_size


def _harness_for(framework: str):
    """The backend module that runs a model on numpy arrays and gives numpy outputs."""
    import importlib

    from ..core.plugins import get_registry

    backend = get_registry().backends.get(framework)
    if backend is None or not backend.harness:
        raise ValueError(f"The model's framework {framework!r} has no registered backend to run pipelines with")
    return importlib.import_module(backend.harness)


def _row_outputs(outputs: dict[str, Any], index: int, length: int, padded: int) -> dict[str, np.ndarray]:
    """Example ``index`` of the batch outputs; token-level outputs cut back to the row's own length."""
    mine = {}
    for key, value in outputs.items():
        if value is None or isinstance(value, tuple):
            continue  # hidden states / attentions: not asked for by pipelines
        value = np.asarray(value)[index]
        if length != padded and value.ndim and value.shape[0] == padded:
            value = value[:length]
        mine[key] = value
    return mine


def _progress_bar(items: Iterable, progress: bool | None):
    """A tqdm bar over a dataset when asked for (``progress=True``), or by default on a terminal."""
    if progress is False:
        return None
    if progress is None and not (hasattr(sys.stderr, "isatty") and sys.stderr.isatty()):
        return None
    if os.environ.get("POLYFORMER_DISABLE_PROGRESS"):
        return None
    from tqdm.auto import tqdm

    total = len(items) if hasattr(items, "__len__") else None
    return tqdm(total=total, unit="item", file=sys.stderr)
