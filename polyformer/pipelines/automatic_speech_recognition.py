"""``automatic-speech-recognition`` with CTC models: transcripts, long audio in chunks, word timestamps."""

from __future__ import annotations

from typing import Any

import numpy as np

from .audio import is_one_waveform, load_audio
from .base import Pipeline, Row


class AutomaticSpeechRecognitionPipeline(Pipeline):
    """``{"text"}``, plus ``"chunks"`` (``{"text", "timestamp": (start_s, end_s)}``) with ``return_timestamps``.

    Long audio: ``chunk_length_s`` cuts it into chunks that overlap by ``stride_length_s``
    seconds on each side (default a sixth of the chunk); each chunk runs alone, the frames of
    its overlaps are dropped and the rest joined before CTC decoding, as transformers does.
    ``return_timestamps="word"`` or ``"char"`` gives the span of each word (or character).
    """

    task = "automatic-speech-recognition"
    needs = ("feature_extractor", "tokenizer")

    def is_single(self, inputs: Any) -> bool:
        return is_one_waveform(inputs)

    @property
    def samples_per_frame(self) -> int:
        """Waveform samples per logit frame (320 for wav2vec2-base)."""
        return int(getattr(self.config, "inputs_to_logits_ratio", 1))

    def pad_value(self, key: str) -> Any:
        return self.feature_extractor.padding_value if key == "input_values" else 0

    def preprocess(self, audio: Any, chunk_length_s: float | None = None,
                   stride_length_s: float | tuple[float, float] | None = None) -> list[Row]:
        rate = self.feature_extractor.sampling_rate
        waveform = load_audio(audio, rate, self.task)
        if not chunk_length_s:
            return [self._row(waveform, None)]
        if stride_length_s is None:
            stride_length_s = chunk_length_s / 6
        left_s, right_s = (stride_length_s, stride_length_s) if np.isscalar(stride_length_s) else stride_length_s
        align = self.samples_per_frame
        chunk = int(round(chunk_length_s * rate / align) * align)
        left = int(round(left_s * rate / align) * align)
        right = int(round(right_s * rate / align) * align)
        if chunk <= left + right:
            raise ValueError(f"chunk_length_s ({chunk_length_s}) must be longer than the strides on both sides "
                             f"together ({left_s} + {right_s} s)")
        rows = []
        step = chunk - left - right
        for begin in range(0, len(waveform), step):
            piece = waveform[begin:begin + chunk]
            is_last = begin + chunk >= len(waveform)
            stride = (len(piece), 0 if begin == 0 else left, 0 if is_last else right)
            if len(piece) > stride[1]:
                rows.append(self._row(piece, stride))
            if is_last:
                break
        return rows

    def _row(self, waveform: np.ndarray, stride: tuple[int, int, int] | None) -> Row:
        rate = self.feature_extractor.sampling_rate
        processed = self.feature_extractor(waveform, sampling_rate=rate, return_tensors="np", return_attention_mask=True)
        return Row(inputs={key: np.asarray(value)[0] for key, value in processed.items()},
                   extra={"samples": len(waveform), "stride": stride})

    def postprocess(self, rows: list[Row], return_timestamps: str | bool | None = None) -> dict[str, Any]:
        if return_timestamps is True:
            return_timestamps = "word"
        if return_timestamps not in (None, False, "word", "char"):
            raise ValueError(f"return_timestamps must be 'word', 'char' or None for CTC models, got {return_timestamps!r}")
        pieces = []
        for row in rows:
            ids = np.asarray(row.outputs["logits"]).argmax(axis=-1)
            samples = row.extra["samples"]
            # frames of this row's own audio (drops frames of batch padding); like transformers, the rounded
            # ratio, which can be one more than the model gives (slicing stops at the end)
            frames = int(round(samples / self.samples_per_frame))
            if row.extra["stride"] is None:
                pieces.append(ids[:frames])
                continue
            _, left, right = row.extra["stride"]
            # the overlaps, from samples to frames as transformers rounds them
            left_frames = int(round(left / samples * frames))
            right_frames = int(round(right / samples * frames))
            pieces.append(ids[left_frames:frames - right_frames])
        ids = np.concatenate(pieces).tolist()
        text = self.tokenizer.decode(ids)
        if not return_timestamps:
            return {"text": text}
        decoded = self.tokenizer.decode(ids, output_char_offsets=True, output_word_offsets=(return_timestamps == "word"))
        offsets = decoded["word_offsets" if return_timestamps == "word" else "char_offsets"]
        seconds = self.samples_per_frame / self.feature_extractor.sampling_rate
        chunks = [{"text": item[return_timestamps], "timestamp": (item["start_offset"] * seconds,
                                                                  item["end_offset"] * seconds)}
                  for item in offsets]
        return {"text": text, "chunks": chunks}
