"""``pipeline(task, model=...)``: a model and its preprocessors behind one call, in any framework.

Each task is one module of this package. ``PIPELINE_TASKS`` says, per task name, which
pipeline class answers it and which registry task (``polyformer.tasks``) gives its model head;
``TASK_ALIASES`` holds transformers' other names for the same tasks.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from .base import Pipeline

__all__ = ["pipeline", "Pipeline", "PIPELINE_TASKS", "TASK_ALIASES"]


@dataclass(frozen=True)
class PipelineTask:
    """A pipeline task: its class (import path) and the model head it loads (a registry task name)."""

    pipeline_class: str
    model_task: str


_P = "polyformer.pipelines"
PIPELINE_TASKS: dict[str, PipelineTask] = {
    "feature-extraction": PipelineTask(f"{_P}.feature_extraction:FeatureExtractionPipeline", "base"),
    "fill-mask": PipelineTask(f"{_P}.fill_mask:FillMaskPipeline", "masked-lm"),
    "text-classification": PipelineTask(f"{_P}.text_classification:TextClassificationPipeline", "sequence-classification"),
    "token-classification": PipelineTask(f"{_P}.token_classification:TokenClassificationPipeline", "token-classification"),
    "question-answering": PipelineTask(f"{_P}.question_answering:QuestionAnsweringPipeline", "question-answering"),
    "zero-shot-classification": PipelineTask(f"{_P}.zero_shot_classification:ZeroShotClassificationPipeline",
                                             "sequence-classification"),
    "image-classification": PipelineTask(f"{_P}.image_classification:ImageClassificationPipeline", "image-classification"),
    "audio-classification": PipelineTask(f"{_P}.audio_classification:AudioClassificationPipeline", "audio-classification"),
    "automatic-speech-recognition": PipelineTask(f"{_P}.automatic_speech_recognition:AutomaticSpeechRecognitionPipeline",
                                                 "ctc"),
}
TASK_ALIASES = {"sentiment-analysis": "text-classification", "ner": "token-classification"}


def pipeline(task: str, model: Any = None, *, tokenizer: Any = None, image_processor: Any = None,
             feature_extractor: Any = None, framework: str | None = None, batch_size: int = 1,
             progress: bool | None = None, model_kwargs: dict | None = None, **options: Any) -> Pipeline:
    """Build the pipeline for ``task``.

    Args:
        task: one of ``PIPELINE_TASKS`` (or an alias: ``"sentiment-analysis"``, ``"ner"``).
        model: a folder or hub id (the model head of the task is loaded from it, and the
            preprocessors the task needs when not given), or a model already loaded.
        tokenizer: the tokenizer, or a folder/hub id to load it from; by default loaded from
            ``model``'s folder when the task reads text.
        image_processor: the image processor, or a folder/hub id; by default from ``model``'s
            folder when the task reads images.
        feature_extractor: the feature extractor, or a folder/hub id; by default from ``model``'s
            folder when the task reads audio.
        framework: ``"torch"``, ``"keras"`` or ``"flax"`` when ``model`` is a folder (default: the
            first installed, as for the Auto classes); a loaded model runs in its own framework.
        batch_size: examples run through the model together (padded to the longest).
        progress: a progress bar over a list or generator of inputs (default: on a terminal only).
        model_kwargs: extra arguments for the model's ``from_pretrained``.
        **options: defaults for the task's call options (e.g. ``top_k=3``).
    """
    from ..core.registry import import_object

    name = TASK_ALIASES.get(task, task)
    if name not in PIPELINE_TASKS:
        known = sorted(PIPELINE_TASKS) + sorted(TASK_ALIASES)
        raise KeyError(f"Unknown pipeline task {task!r}; known tasks: {', '.join(known)}")
    spec = PIPELINE_TASKS[name]
    if model is None:
        raise ValueError(f"pipeline({task!r}) needs model=: a folder, a hub id or a loaded model "
                         "(polyformer picks no default model for you)")
    cls = import_object(spec.pipeline_class)
    source = None
    if isinstance(model, (str, os.PathLike)):
        source = os.fspath(model)
        model = _load_model(spec.model_task, source, framework, model_kwargs or {})
    elif framework is not None and getattr(model, "framework", None) != framework:
        raise ValueError(f"framework={framework!r} was asked for, but the given model is a "
                         f"{getattr(model, 'framework', type(model).__name__)} model")
    preprocessors = {
        "tokenizer": _load_preprocessor("AutoTokenizer", tokenizer, source, "tokenizer" in cls.needs),
        "image_processor": _load_preprocessor("AutoImageProcessor", image_processor, source,
                                              "image_processor" in cls.needs),
        "feature_extractor": _load_preprocessor("AutoFeatureExtractor", feature_extractor, source,
                                                "feature_extractor" in cls.needs),
    }
    return cls(model, batch_size=batch_size, progress=progress, **preprocessors, **options)


def _load_model(model_task: str, source: str, framework: str | None, model_kwargs: dict) -> Any:
    from ..core.auto import auto_model_class
    from ..core.plugins import get_registry

    auto = get_registry().tasks[model_task].auto_class
    return auto_model_class(auto).from_pretrained(source, framework=framework, **model_kwargs)


def _load_preprocessor(auto_name: str, given: Any, source: str | None, needed: bool) -> Any:
    """``given`` itself, loaded from it when it is a path, or loaded from the model's folder when needed."""
    from ..core import auto as auto_module

    auto = getattr(auto_module, auto_name)
    if isinstance(given, (str, os.PathLike)):
        return auto.from_pretrained(os.fspath(given))
    if given is not None or not needed or source is None:
        return given
    return auto.from_pretrained(source)
