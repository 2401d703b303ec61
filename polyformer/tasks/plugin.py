"""Registers the built-in tasks: what each is called, its class-name suffix, its Auto class.

A task is data (:class:`~polyformer.core.registry.Task`); a third-party plugin adds one the
same way, with its own ``register_tasks`` hook, and ``polyformer.AutoModelFor<Task>`` then
exists for it. The classes named here are the ``transformers`` ones.
"""

from ..core.hookspecs import hookimpl
from ..core.registry import Task

_OUT = "polyformer.core.outputs"
_EX = "polyformer.tasks.examples"

BUILT_IN_TASKS = (
    Task("base", "Model", "AutoModel", f"{_OUT}:BaseModelOutput"),
    Task("masked-lm", "ForMaskedLM", "AutoModelForMaskedLM", f"{_OUT}:MaskedLMOutput",
         labels=f"{_EX}:masked_lm_labels"),
    Task("sequence-classification", "ForSequenceClassification", "AutoModelForSequenceClassification",
         f"{_OUT}:SequenceClassifierOutput", labels=f"{_EX}:classification_labels"),
    Task("token-classification", "ForTokenClassification", "AutoModelForTokenClassification",
         f"{_OUT}:TokenClassifierOutput", labels=f"{_EX}:per_position_labels"),
    Task("question-answering", "ForQuestionAnswering", "AutoModelForQuestionAnswering",
         f"{_OUT}:QuestionAnsweringModelOutput", labels=f"{_EX}:span_labels"),
    Task("multiple-choice", "ForMultipleChoice", "AutoModelForMultipleChoice",
         f"{_OUT}:MultipleChoiceModelOutput", inputs=f"{_EX}:multiple_choice_inputs",
         labels=f"{_EX}:classification_labels"),
    Task("image-classification", "ForImageClassification", "AutoModelForImageClassification",
         f"{_OUT}:ImageClassifierOutput", labels=f"{_EX}:classification_labels"),
    Task("masked-image-modeling", "ForMaskedImageModeling", "AutoModelForMaskedImageModeling",
         f"{_OUT}:MaskedImageModelingOutput", labels=f"{_EX}:masked_patches"),
    Task("ctc", "ForCTC", "AutoModelForCTC", f"{_OUT}:CausalLMOutput", labels=f"{_EX}:ctc_labels"),
    Task("audio-classification", "ForSequenceClassification", "AutoModelForAudioClassification",
         f"{_OUT}:SequenceClassifierOutput", labels=f"{_EX}:classification_labels"),
    Task("audio-frame-classification", "ForAudioFrameClassification", "AutoModelForAudioFrameClassification",
         f"{_OUT}:TokenClassifierOutput", labels=f"{_EX}:one_hot_frame_labels"),
    Task("audio-xvector", "ForXVector", "AutoModelForAudioXVector", f"{_OUT}:XVectorOutput",
         labels=f"{_EX}:speaker_labels"),
    # Pre-training objectives differ by architecture (masked LM + next sentence, contrastive
    # quantised targets...): an architecture's conformance tests give their own loss inputs.
    Task("pretraining", "ForPreTraining", "AutoModelForPreTraining"),
)


@hookimpl
def register_tasks(register):
    for task in BUILT_IN_TASKS:
        register(task)
