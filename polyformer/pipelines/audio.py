"""Reading audio the way the audio pipelines accept it: arrays, ``datasets``-style dicts, WAV files."""

from __future__ import annotations

import io
import os
import wave
from typing import Any

import numpy as np


def is_one_waveform(inputs: Any) -> bool:
    """Whether ``inputs`` is one clip (an array, a dict, a path, bytes, or a plain list of samples), not a dataset."""
    return not isinstance(inputs, (list, tuple)) or (len(inputs) > 0 and isinstance(inputs[0], (int, float)))


def load_audio(audio: Any, sampling_rate: int, task: str) -> np.ndarray:
    """A mono float32 waveform at ``sampling_rate`` from what a user gives.

    Accepted: a 1-D array (taken to be at ``sampling_rate``), a ``(channels, samples)`` array
    (averaged), a dict with ``"raw"`` or ``"array"`` and ``"sampling_rate"`` (what ``datasets``
    gives), a path to a PCM WAV file, or its bytes. Audio at another rate is refused with the
    rates named: resampling is a choice (filter, quality) left to the user.
    """
    rate = sampling_rate
    if isinstance(audio, (str, os.PathLike)):
        path = os.fspath(audio)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"The '{task}' pipeline was given the audio path {path!r}, which does not exist")
        with open(path, "rb") as handle:
            audio, rate = _read_wav(handle.read(), path, task)
    elif isinstance(audio, (bytes, bytearray)):
        audio, rate = _read_wav(bytes(audio), "the given bytes", task)
    elif isinstance(audio, dict):
        if "sampling_rate" not in audio or not ("raw" in audio or "array" in audio):
            raise ValueError(f"The '{task}' pipeline takes audio as a dict with 'raw' (or 'array') and "
                             f"'sampling_rate'; got the keys {sorted(audio)}")
        rate = audio["sampling_rate"]
        audio = audio["raw"] if "raw" in audio else audio["array"]
    if rate != sampling_rate:
        raise ValueError(f"The '{task}' pipeline got audio sampled at {rate} Hz, but the model's feature extractor "
                         f"expects {sampling_rate} Hz: resample it first (e.g. librosa.resample or "
                         f"torchaudio.functional.resample)")
    if hasattr(audio, "detach"):  # a torch tensor
        audio = audio.detach().cpu().numpy()
    array = np.asarray(audio)
    if array.dtype == object or not (np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)):
        raise TypeError(f"The '{task}' pipeline expects audio as numbers, got an array of {array.dtype}")
    if array.ndim == 2:
        if array.shape[0] > 2:
            raise ValueError(f"The '{task}' pipeline reads a 2-D waveform as (channels, samples), and axis 0 has "
                             f"{array.shape[0]} entries in the shape {array.shape}: transpose channels-last audio "
                             "or downmix it yourself")
        array = array.mean(axis=0)
    elif array.ndim != 1:
        raise ValueError(f"The '{task}' pipeline expects a waveform of shape (samples,) or (channels, samples), "
                         f"got the shape {array.shape}")
    if array.size == 0:
        raise ValueError(f"The '{task}' pipeline got an empty waveform")
    return array.astype(np.float32, copy=False)


def _read_wav(data: bytes, where: str, task: str) -> tuple[np.ndarray, int]:
    """Samples (as floats in [-1, 1]) and the rate of PCM WAV ``data``."""
    try:
        with wave.open(io.BytesIO(data)) as reader:
            rate, width, channels = reader.getframerate(), reader.getsampwidth(), reader.getnchannels()
            frames = reader.readframes(reader.getnframes())
    except (wave.Error, EOFError) as error:
        raise ValueError(f"The '{task}' pipeline cannot read {where} as a PCM WAV file ({error}); decode other "
                         "formats yourself and pass the samples with their sampling_rate") from None
    if width == 1:
        samples = (np.frombuffer(frames, np.uint8).astype(np.float32) - 128.0) / 128.0
    elif width in (2, 4):
        dtype = np.int16 if width == 2 else np.int32
        samples = np.frombuffer(frames, dtype).astype(np.float32) / float(np.iinfo(dtype).max + 1)
    else:
        raise ValueError(f"{where}: {8 * width}-bit WAV samples are not supported (8, 16 or 32-bit PCM are)")
    return samples.reshape(-1, channels).T, rate
