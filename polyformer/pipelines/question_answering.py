"""``question-answering``: the span of a context that answers a question (transformers 4.x behaviour).

transformers 5 dropped this pipeline; this one follows the 4.x pipeline that its tests and docs
pin down: long contexts split into windows overlapping by ``doc_stride`` tokens, each window's
start and end logits turned into span scores (start probability times end probability, spans
of at most ``max_answer_len`` tokens inside the context), the best ``top_k`` over all windows,
answers widened to whole words (``align_to_words``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .base import Pipeline, Row, softmax
from .text import check_text, model_input_names


class QuestionAnsweringPipeline(Pipeline):
    """``{"score", "start", "end", "answer"}`` (a list of them when ``top_k`` > 1).

    Called as ``qa(question=..., context=...)``, ``qa({"question": ..., "context": ...})`` or with a
    list of such dicts (or lists in both ``question`` and ``context``).
    """

    task = "question-answering"
    needs = ("tokenizer",)

    def __call__(self, inputs: Any = None, question: Any = None, context: Any = None, **options: Any) -> Any:
        """Answer each question from its context.

        Args:
            inputs: ``{"question": ..., "context": ...}`` or a list of them; or give
                ``question`` and ``context`` instead.
            question: a question, or a list of them (each asked of ``context``, or of the
                context at the same place in a list).
            context: the text holding the answer, or a list of texts, one per question.
            **options: ``top_k``, ``doc_stride``, ``max_answer_len``, ``max_seq_len``,
                ``max_question_len``, ``handle_impossible_answer``, ``align_to_words``, and
                ``batch_size`` / ``progress`` as for every pipeline.
        """
        if inputs is None:
            if question is None or context is None:
                missing = "context" if question is not None else "question"
                raise ValueError(f"The 'question-answering' pipeline needs a question and a context; {missing} is "
                                 "missing. Call it as qa(question=..., context=...)")
            if isinstance(question, list) and isinstance(context, list):
                if len(question) != len(context):
                    raise ValueError(f"question has {len(question)} entries and context {len(context)}: give one "
                                     "context per question")
                inputs = [{"question": q, "context": c} for q, c in zip(question, context)]
            elif isinstance(question, list):
                inputs = [{"question": q, "context": context} for q in question]
            else:
                inputs = {"question": question, "context": context}
        elif question is not None or context is not None:
            raise ValueError("Give either inputs ({'question': ..., 'context': ...}) or question= and context=, not both")
        return super().__call__(inputs, **options)

    def is_single(self, inputs: Any) -> bool:
        return isinstance(inputs, dict)

    def preprocess(self, example: Any, doc_stride: int | None = None, max_seq_len: int | None = None,
                   max_question_len: int = 64) -> list[Row]:
        if not isinstance(example, dict) or set(example) != {"question", "context"}:
            raise ValueError("The 'question-answering' pipeline expects {'question': ..., 'context': ...}, got "
                             + (f"the keys {sorted(example)}" if isinstance(example, dict) else type(example).__name__))
        question = check_text(self.task, example["question"], "question")
        context = check_text(self.task, example["context"], "context")
        if not getattr(self.tokenizer, "is_fast", False):
            raise ValueError("The 'question-answering' pipeline needs a fast tokenizer (character offsets)")
        if max_seq_len is None:
            max_seq_len = min(int(self.tokenizer.model_max_length), 384)
        if doc_stride is None:
            doc_stride = min(max_seq_len // 2, 128)
        if doc_stride >= max_seq_len:
            raise ValueError(f"doc_stride ({doc_stride}) must be smaller than max_seq_len ({max_seq_len})")
        question_first = self.tokenizer.padding_side == "right"
        encoded = self.tokenizer(
            question if question_first else context,
            context if question_first else question,
            truncation="only_second" if question_first else "only_first",
            max_length=max_seq_len, stride=doc_stride, return_token_type_ids=True,
            return_overflowing_tokens=True, return_offsets_mapping=True, return_special_tokens_mask=True,
        )
        context_index = 1 if question_first else 0
        model_names = model_input_names(self.tokenizer, self.config)
        rows = []
        for span in range(len(encoded["input_ids"])):
            input_ids = np.asarray(encoded["input_ids"][span])
            sequence_ids = encoded.sequence_ids(span)
            # 1 where a token cannot be part of the answer: the question and special tokens...
            p_mask = np.asarray([sid != context_index for sid in sequence_ids], dtype=np.int64)
            # ...except the CLS token, which some models use to say "no answer"
            if self.tokenizer.cls_token_id is not None:
                p_mask[input_ids == self.tokenizer.cls_token_id] = 0
            inputs = {key: np.asarray(encoded[key][span]) for key in encoded if key in model_names}
            rows.append(Row(inputs=inputs, extra={
                "p_mask": p_mask, "offsets": encoded["offset_mapping"][span], "word_ids": encoded.word_ids(span),
                "sequence_ids": sequence_ids, "context": context, "context_index": context_index,
            }))
        return rows

    def postprocess(self, rows: list[Row], top_k: int = 1, handle_impossible_answer: bool = False,
                    max_answer_len: int = 15, align_to_words: bool = True) -> Any:
        if not isinstance(top_k, int) or top_k < 1:
            raise ValueError(f"top_k must be a positive int, got {top_k!r}")
        if not isinstance(max_answer_len, int) or max_answer_len < 1:
            raise ValueError(f"max_answer_len must be a positive int, got {max_answer_len!r}")
        min_null_score = 1_000_000.0
        answers = []
        for row in rows:
            allowed = 1 - row.extra["p_mask"]
            if "attention_mask" in row.inputs:
                allowed = allowed & row.inputs["attention_mask"].astype(np.int64)
            start = softmax(np.where(allowed == 0, -10000.0, row.outputs["start_logits"].astype(np.float64)))
            end = softmax(np.where(allowed == 0, -10000.0, row.outputs["end_logits"].astype(np.float64)))
            if handle_impossible_answer:
                min_null_score = min(min_null_score, float(start[0] * end[0]))
            start[0] = end[0] = 0.0  # the CLS position is never an answer span
            for s, e, score in _best_spans(start, end, top_k, max_answer_len, allowed):
                char_start, char_end = _char_span(row.extra, s, e, align_to_words)
                answers.append({"score": score, "start": char_start, "end": char_end,
                                "answer": row.extra["context"][char_start:char_end]})
        if handle_impossible_answer:
            answers.append({"score": min_null_score, "start": 0, "end": 0, "answer": ""})
        answers = sorted(answers, key=lambda answer: answer["score"], reverse=True)[:top_k]
        return answers[0] if len(answers) == 1 else answers


def _best_spans(start: np.ndarray, end: np.ndarray, top_k: int, max_answer_len: int,
                allowed: np.ndarray) -> list[tuple[int, int, float]]:
    """The ``top_k`` (start, end) token pairs by ``start[s] * end[e]``, with ``s <= e < s + max_answer_len``."""
    scores = np.tril(np.triu(np.outer(start, end)), max_answer_len - 1)
    flat = scores.ravel()
    if top_k == 1:
        best = np.array([int(np.argmax(flat))])
    elif flat.size <= top_k:
        best = np.argsort(-flat, kind="stable")
    else:
        best = np.argpartition(-flat, top_k)[:top_k]
        best = best[np.argsort(-flat[best], kind="stable")]
    starts, ends = np.unravel_index(best, scores.shape)
    allowed_positions = np.flatnonzero(allowed)
    keep = np.isin(starts, allowed_positions) & np.isin(ends, allowed_positions)
    return [(int(s), int(e), float(scores[s, e])) for s, e in zip(starts[keep], ends[keep])]


def _char_span(extra: dict[str, Any], start_token: int, end_token: int, align_to_words: bool) -> tuple[int, int]:
    """Character offsets in the context of tokens ``start_token..end_token``, widened to whole words."""
    offsets = extra["offsets"]
    if align_to_words:
        word_ids, sequence_ids = extra["word_ids"], extra["sequence_ids"]
        start_word, end_word = word_ids[start_token], word_ids[end_token]
        if start_word is not None and end_word is not None:
            def chars_of(word: int) -> tuple[int, int]:
                spans = [offsets[t] for t, (w, sid) in enumerate(zip(word_ids, sequence_ids))
                         if w == word and sid == extra["context_index"]]
                return min(s for s, _ in spans), max(e for _, e in spans)

            return chars_of(start_word)[0], chars_of(end_word)[1]
    return int(offsets[start_token][0]), int(offsets[end_token][1])
