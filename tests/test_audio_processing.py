"""Wav2Vec2 preprocessing (config, feature extractor, CTC tokenizer, processor) against transformers.

transformers is the oracle: the same inputs give the same ``input_values`` (within 1e-5),
masks, ids and decoded text, and folders saved by either library load in the other.
Nothing is downloaded: every vocabulary and waveform is made here.
"""

import contextlib
import io
import json
import re
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

import polyformer
from polyformer.core.processing import ProcessorMixin
from polyformer.models.wav2vec2.configuration import Wav2Vec2Config
from polyformer.models.wav2vec2.feature_extraction import Wav2Vec2FeatureExtractor
from polyformer.models.wav2vec2.processing import Wav2Vec2Processor
from polyformer.models.wav2vec2.tokenization import Wav2Vec2CTCTokenizer, load_ctc_vocab

transformers = pytest.importorskip("transformers")

GUIDE = Path(__file__).parent / "data" / "seed_guide.txt"

VOCAB = {"<pad>": 0, "<s>": 1, "</s>": 2, "<unk>": 3, "|": 4, "E": 5, "T": 6, "A": 7, "O": 8, "H": 9, "L": 10,
         "D": 11, "W": 12, "R": 13, "'": 14, "TH": 15, "N": 16, "I": 17, "S": 18}
TEXTS = ["HELLO WORLD", "hello world", "THE <s> HAT", " A  B ", "A<unk>B", "XYZ TH", "A\nB", "", "IT'S ON",
         "<pad><pad>HI", "A|B", "TOOTH  ", "ÉTÉ"]
ID_SEQUENCES = [
    [0, 0, 9, 9, 5, 0, 10, 10, 0, 10, 8, 4, 4, 12, 8, 13, 10, 11, 0, 1, 2, 3, 99, 4],
    [4, 4, 5, 4],
    [],
    [0, 0, 0],
    [15, 15, 0, 15, 5, 4, 6, 6, 17, 18, 4, 0, 1, 7],
    [7, 7, 7, 4, 0, 4, 7, 0, 0, 7, 2, 2, 3],
]


def _quiet():
    """transformers logs a sampling-rate advice on every feature extractor call; keep test output clean."""
    transformers.logging.set_verbosity_error()


_quiet()


@pytest.fixture(scope="module")
def vocab_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("vocab") / "vocab.json"
    path.write_text(json.dumps(VOCAB), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def tokenizers(vocab_file):
    return Wav2Vec2CTCTokenizer(vocab_file), transformers.Wav2Vec2CTCTokenizer(str(vocab_file))


def _waves(lengths=(1000, 733, 1507), seed=0, dtype=np.float32):
    rng = np.random.default_rng(seed)
    return [(rng.standard_normal(n) * 0.3 + 0.05).astype(dtype) for n in lengths]


def _as_list(value):
    return value.tolist() if hasattr(value, "tolist") else value


def _as_numpy(value):
    if hasattr(value, "numpy"):
        return np.asarray(value.numpy())
    return np.asarray(value)


# ---------------------------------------------------------------------------------------------
# The seed guide
# ---------------------------------------------------------------------------------------------


def _guide_pairs(marker: str) -> list[tuple[str, str]]:
    """``(statement, printed output)`` of the guide's blocks that mention ``marker``, in order."""
    pairs = []
    for block in re.findall(r"```py (.*?)```", GUIDE.read_text(encoding="utf-8"), re.S):
        if marker not in block:
            continue
        for piece in [p.strip() for p in block.split(">>> ") if p.strip()]:
            statement, output = piece, ""
            if piece.startswith("print("):
                end = piece.index(")") + 1
                statement, output = piece[:end], piece[end:].strip()
            pairs.append((statement.replace("transformers", "polyformer"), output))
    return pairs


def _run_guide(pairs, namespace):
    for statement, expected in pairs:
        buffer = io.StringIO()
        with contextlib.redirect_stdout(buffer):
            exec(statement, namespace)  # noqa: S102
        if expected:
            got_name, _, got = buffer.getvalue().strip().partition(" ")
            want_name, _, want = expected.partition(" ")
            assert got_name == want_name
            assert json.loads(got) == json.loads(want)


def test_guide_feature_extractor_prints():
    pairs = [p for p in _guide_pairs("w2v2_extractor")]
    assert sum(1 for _, out in pairs if out) == 2
    _run_guide(pairs, {})


def test_guide_processor_block_runs(tmp_path, monkeypatch):
    # The guide's my_vocab_file.txt is a plain vocabulary (one token a line), as the tokenizer section made it.
    lines = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + list("abcdefghijklmnopqrstuvwxyz") + ["hello", "."]
    (tmp_path / "my_vocab_file.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    namespace = {}
    for marker in ("feature_extractor = Wav2Vec2FeatureExtractor(padding_value", "Wav2Vec2CTCTokenizer(",
                   "Wav2Vec2Processor("):
        _run_guide(_guide_pairs(marker), namespace)
    processor = namespace["processor"]
    assert isinstance(processor, polyformer.Wav2Vec2Processor)
    assert processor.feature_extractor.padding_value == 1.0
    tokenizer = processor.tokenizer
    assert tokenizer.convert_tokens_to_ids(["[PAD]", "a", "hello"]) == [0, 5, 31]
    # The default special tokens are not in that file: they get the next ids, as transformers gives them.
    assert [tokenizer.convert_tokens_to_ids(t) for t in ("<s>", "</s>", "<unk>", "<pad>")] == [33, 34, 35, 36]
    out = processor(audio=np.ones(40, np.float32), text="ab c", sampling_rate=16000)
    assert out["labels"] == [5, 6, 36 + 1, 7]  # "|" is not in the file either: it comes next
    assert processor.decode(out["labels"]) == "ab c"


def test_top_level_names_and_light_import():
    code = ("import sys, polyformer; polyformer.Wav2Vec2Processor; polyformer.Wav2Vec2Config; "
            "print(sorted(m for m in ('torch', 'tensorflow', 'jax', 'transformers') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
    assert polyformer.Wav2Vec2FeatureExtractor is Wav2Vec2FeatureExtractor
    assert polyformer.Wav2Vec2CTCTokenizer is Wav2Vec2CTCTokenizer


# ---------------------------------------------------------------------------------------------
# Configuration
# ---------------------------------------------------------------------------------------------


def test_config_defaults_match_transformers():
    ours = Wav2Vec2Config().to_dict()
    theirs = transformers.Wav2Vec2Config().to_dict()
    for key, value in theirs.items():
        if key in ours and key not in ("polyformer_version",):
            assert ours[key] == (list(value) if isinstance(value, tuple) else value), key
    essentials = ["vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size",
                  "hidden_act", "conv_dim", "conv_stride", "conv_kernel", "feat_extract_norm", "do_stable_layer_norm",
                  "pad_token_id", "bos_token_id", "eos_token_id", "ctc_loss_reduction", "num_feat_extract_layers",
                  "output_hidden_size", "mask_time_prob", "layerdrop", "tdnn_dim"]
    assert all(key in ours for key in essentials)
    assert Wav2Vec2Config().inputs_to_logits_ratio == transformers.Wav2Vec2Config().inputs_to_logits_ratio == 320


def test_config_round_trips_with_transformers(tmp_path):
    ours = Wav2Vec2Config(hidden_size=32, num_attention_heads=4, num_conv_pos_embedding_groups=4,
                          conv_dim=[8, 8], conv_stride=[5, 2], conv_kernel=[10, 3], feat_extract_norm="layer",
                          do_stable_layer_norm=True, vocab_size=19, some_future_key=3)
    ours.save_pretrained(tmp_path / "ours")
    theirs = transformers.Wav2Vec2Config.from_pretrained(tmp_path / "ours")
    assert (theirs.hidden_size, theirs.num_feat_extract_layers, theirs.feat_extract_norm) == (32, 2, "layer")
    assert list(theirs.conv_stride) == [5, 2] and theirs.inputs_to_logits_ratio == 10
    theirs.save_pretrained(tmp_path / "theirs")
    back = Wav2Vec2Config.from_pretrained(tmp_path / "theirs")
    assert back.conv_kernel == [10, 3] and back.num_feat_extract_layers == 2 and back.some_future_key == 3
    assert back.to_diff_dict() == Wav2Vec2Config.from_pretrained(tmp_path / "ours").to_diff_dict()
    one_layer = Wav2Vec2Config.from_pretrained(tmp_path / "ours", conv_dim=[8], conv_stride=[5], conv_kernel=[10])
    assert one_layer.num_feat_extract_layers == 1


@pytest.mark.parametrize("bad, message", [
    (dict(conv_dim=[512, 512]), "one entry per convolution layer"),
    (dict(conv_stride=[5, 0, 2, 2, 2, 2, 2]), "conv_stride must be a non-empty list of positive integers"),
    (dict(feat_extract_norm="batch"), "feat_extract_norm"),
    (dict(ctc_loss_reduction="max"), "ctc_loss_reduction"),
    (dict(hidden_size=100), "divisible"),
    (dict(hidden_dropout=1.5), "hidden_dropout"),
    (dict(hidden_act="nope"), "hidden_act"),
    (dict(vocab_size=0), "vocab_size"),
])
def test_config_validation(bad, message):
    with pytest.raises(ValueError, match=message):
        Wav2Vec2Config(**bad)


# ---------------------------------------------------------------------------------------------
# Feature extractor
# ---------------------------------------------------------------------------------------------

PADDING_CASES = [
    dict(),
    dict(padding=True),
    dict(padding="longest", pad_to_multiple_of=64),
    dict(padding="max_length", max_length=1600),
    dict(padding="max_length", max_length=900, truncation=True),
    dict(padding="max_length", max_length=900, truncation=True, pad_to_multiple_of=128),
    dict(padding="max_length", max_length=900),  # longer utterances are left long
    dict(truncation=True, max_length=800),
    dict(padding=True, truncation=True, max_length=700),
]


@pytest.mark.parametrize("case", PADDING_CASES, ids=lambda c: ",".join(f"{k}={v}" for k, v in c.items()) or "none")
@pytest.mark.parametrize("do_normalize", [True, False])
@pytest.mark.parametrize("return_attention_mask", [True, False])
def test_features_match_transformers(case, do_normalize, return_attention_mask):
    settings = dict(do_normalize=do_normalize, return_attention_mask=return_attention_mask, padding_value=0.5)
    ours = Wav2Vec2FeatureExtractor(**settings)(_waves(), sampling_rate=16000, **case)
    reference = transformers.Wav2Vec2FeatureExtractor(**settings)
    try:
        theirs = reference(_waves(), sampling_rate=16000, **case)
    except ValueError:
        # transformers fails to normalise with a mask when padding to max_length leaves some
        # utterances longer (a ragged batch); each utterance on its own is its answer.
        assert case.get("padding") == "max_length" and not case.get("truncation")
        alone = [reference(w, sampling_rate=16000, **case) for w in _waves()]
        theirs = {key: [out[key][0] for out in alone] for key in alone[0]}
    assert sorted(ours) == sorted(theirs)
    for key in theirs:
        assert len(ours[key]) == len(theirs[key]) == 3
        for a, b in zip(ours[key], theirs[key]):
            assert a.dtype == b.dtype and a.shape == b.shape, key
            np.testing.assert_allclose(a, b, atol=1e-5, rtol=0)


# The padding and normalisation are written for speed (one preallocated batch, examples normalised as
# they are copied into it, in place otherwise); they must still give transformers' numbers exactly,
# not just within a tolerance: the same float32 operations in the same order.
@pytest.mark.parametrize("case", PADDING_CASES, ids=lambda c: ",".join(f"{k}={v}" for k, v in c.items()) or "none")
@pytest.mark.parametrize("do_normalize", [True, False])
@pytest.mark.parametrize("return_attention_mask", [True, False])
@pytest.mark.parametrize("padding_side", ["right", "left"])
def test_features_are_bit_identical_to_transformers(case, do_normalize, return_attention_mask, padding_side):
    settings = dict(do_normalize=do_normalize, return_attention_mask=return_attention_mask, padding_value=0.5,
                    padding_side=padding_side)
    if case.get("padding") == "max_length" and not case.get("truncation") and do_normalize and return_attention_mask:
        pytest.skip("transformers cannot normalise this ragged batch (see test_features_match_transformers)")
    if padding_side == "left" and do_normalize and return_attention_mask and case.get("padding"):
        # transformers takes the first `length` samples as the real ones, the padding when it is on the left;
        # test_normalisation_uses_real_samples_with_a_mask checks what is right.
        pytest.skip("transformers normalises left-padded rows over the wrong samples")
    call = dict(case, return_tensors="np" if case.get("padding") else None)
    ours = Wav2Vec2FeatureExtractor(**settings)(_waves(), sampling_rate=16000, **call)
    theirs = transformers.Wav2Vec2FeatureExtractor(**settings)(_waves(), sampling_rate=16000, **call)
    assert sorted(ours) == sorted(theirs)
    for key in theirs:
        for a, b in zip(ours[key], theirs[key], strict=True):
            assert a.dtype == b.dtype and a.shape == b.shape, key
            np.testing.assert_array_equal(a, b, err_msg=key)


@pytest.mark.parametrize("padding", [False, True, "max_length"])
@pytest.mark.parametrize("return_attention_mask", [True, False])
def test_callers_audio_is_left_as_it_was(padding, return_attention_mask):
    """Normalisation writes into the padded batch (in place); the caller's arrays must never be that batch,
    including a (batch, samples) array whose rows need no padding, and a strided view."""
    waves = _waves()
    same_length = np.stack([w[:700] for w in waves])
    strided = waves[2][::2]
    inputs = [waves, same_length, [strided]]
    before = [[np.array(x, copy=True) for x in batch] for batch in inputs]
    extractor = Wav2Vec2FeatureExtractor(return_attention_mask=return_attention_mask)
    reference = transformers.Wav2Vec2FeatureExtractor(return_attention_mask=return_attention_mask)
    for batch in inputs:
        out = extractor(batch, padding=padding, max_length=1600, sampling_rate=16000)
        assert not any(np.shares_memory(o, x) for o in out["input_values"] for x in batch)
        expected = reference(batch, padding=padding, max_length=1600, sampling_rate=16000)["input_values"]
        for a, b in zip(out["input_values"], expected, strict=True):
            np.testing.assert_array_equal(a, b)
    for batch, copies in zip(inputs, before):
        for x, copy in zip(batch, copies):
            np.testing.assert_array_equal(x, copy)


@pytest.mark.parametrize("make_input", [
    lambda w: w[1],                      # one 1-D array
    lambda w: w[1].tolist(),             # one list of floats
    lambda w: [x.tolist() for x in w],   # a batch of lists
    lambda w: np.stack([x[:700] for x in w]),  # a 2-D (batch, samples) array
    lambda w: [x.astype(np.float64) for x in w],  # float64 input
    lambda w: [np.arange(300) % 7],      # integers
], ids=["array", "list", "batch-of-lists", "2d-array", "float64", "ints"])
def test_input_forms_match_transformers(make_input):
    waves = _waves()
    ours = Wav2Vec2FeatureExtractor(return_attention_mask=True)(make_input(waves), padding=True, sampling_rate=16000)
    theirs = transformers.Wav2Vec2FeatureExtractor(return_attention_mask=True)(make_input(waves), padding=True)
    for key in ("input_values", "attention_mask"):
        assert len(ours[key]) == len(theirs[key])
        for a, b in zip(ours[key], theirs[key]):
            # Integer samples: transformers returns float64 there; input_values are float32 here, always.
            assert a.dtype == (np.float32 if key == "input_values" else b.dtype)
            np.testing.assert_allclose(a, b, atol=1e-5, rtol=0)


@pytest.mark.parametrize("return_tensors, module", [("np", "numpy"), ("pt", "torch"), ("tf", "tensorflow"),
                                                     ("jax", "jax")])
def test_return_tensors(return_tensors, module):
    pytest.importorskip(module)
    theirs = transformers.Wav2Vec2FeatureExtractor(return_attention_mask=True)(
        _waves(), padding=True, pad_to_multiple_of=8, return_tensors="np")
    ours = Wav2Vec2FeatureExtractor(return_attention_mask=True)(
        _waves(), padding=True, sampling_rate=16000, pad_to_multiple_of=8, return_tensors=return_tensors)
    assert type(ours["input_values"]).__module__.split(".")[0] in (module, "jaxlib", "keras")
    assert tuple(ours["input_values"].shape) == (3, 1512)
    np.testing.assert_allclose(_as_numpy(ours["input_values"]), theirs["input_values"], atol=1e-5, rtol=0)
    np.testing.assert_array_equal(_as_numpy(ours["attention_mask"]), theirs["attention_mask"])
    assert "float32" in str(ours["input_values"].dtype)


def test_pt_tensors_equal_transformers_pt():
    torch = pytest.importorskip("torch")
    ours = Wav2Vec2FeatureExtractor(return_attention_mask=True)(_waves(), padding=True, return_tensors="pt",
                                                                          sampling_rate=16000)
    theirs = transformers.Wav2Vec2FeatureExtractor(return_attention_mask=True)(_waves(), padding=True,
                                                                              return_tensors="pt")
    for key in ("input_values", "attention_mask"):
        assert ours[key].dtype == theirs[key].dtype
        torch.testing.assert_close(ours[key], theirs[key], atol=1e-5, rtol=0)


def test_normalisation_uses_real_samples_with_a_mask():
    waves = _waves((50, 20))
    out = Wav2Vec2FeatureExtractor(return_attention_mask=True, padding_value=-3.0)(waves, padding=True,
                                                                                  sampling_rate=16000)
    short = out["input_values"][1]
    np.testing.assert_allclose(short[:20], (waves[1] - waves[1].mean()) / np.sqrt(waves[1].var() + 1e-7), atol=1e-5)
    assert np.all(short[20:] == -3.0)
    assert abs(short[:20].mean()) < 1e-5 and abs(short[:20].std() - 1) < 1e-3
    # Left padding: the real samples are at the end, and the statistics still come from them.
    left = Wav2Vec2FeatureExtractor(return_attention_mask=True, padding_side="left")(waves, padding=True,
                                                                                   sampling_rate=16000)
    np.testing.assert_allclose(left["input_values"][1][30:], short[:20], atol=1e-6)
    assert np.all(left["input_values"][1][:30] == 0.0) and left["attention_mask"][1][:30].sum() == 0


def test_pad_takes_a_list_of_examples():
    extractor = Wav2Vec2FeatureExtractor()
    batch = extractor.pad([{"input_values": w} for w in _waves((5, 3))], return_tensors="np",
                          return_attention_mask=True)
    assert batch["input_values"].shape == (2, 5) and batch["attention_mask"].tolist()[1] == [1, 1, 1, 0, 0]


def test_feature_extractor_save_load_both_ways(tmp_path):
    ours = Wav2Vec2FeatureExtractor(sampling_rate=8000, do_normalize=False, padding_value=0.25,
                                    return_attention_mask=True, padding_side="left")
    ours.save_pretrained(tmp_path / "ours")
    theirs = transformers.Wav2Vec2FeatureExtractor.from_pretrained(tmp_path / "ours")
    assert json.loads(theirs.to_json_string()) == json.loads(ours.to_json_string())
    theirs.save_pretrained(tmp_path / "theirs")
    back = Wav2Vec2FeatureExtractor.from_pretrained(tmp_path / "theirs")
    assert back == ours
    assert Wav2Vec2FeatureExtractor.from_pretrained(tmp_path / "theirs" / "preprocessor_config.json") == ours
    assert Wav2Vec2FeatureExtractor.from_pretrained(tmp_path / "theirs", sampling_rate=22050).sampling_rate == 22050
    np.testing.assert_allclose(back(_waves(), padding=True, sampling_rate=8000)["input_values"][1],
                               theirs(_waves(), padding=True)["input_values"][1], atol=1e-6)


@pytest.mark.parametrize("bad, error, message", [
    (dict(raw_speech=np.zeros(10), sampling_rate=8000), ValueError, "16000 Hz"),
    (dict(raw_speech=np.zeros((2, 3, 100))), ValueError, "mono audio"),
    (dict(raw_speech=[np.zeros((100, 2))]), ValueError, "Multi-channel"),
    (dict(raw_speech=np.zeros((48000, 2))), ValueError, "looks like \\(samples, channels\\)"),
    (dict(raw_speech=[np.zeros(5), np.zeros((2, 5))]), ValueError, "utterance 1 must be a 1-D"),
    (dict(raw_speech=[]), ValueError, "empty list"),
    (dict(raw_speech=[np.zeros(5), np.zeros(0)]), ValueError, "utterance 1 is empty"),
    (dict(raw_speech=np.float32(1.0)), ValueError, "1-D sequence"),
    (dict(raw_speech=["a", "b"]), TypeError, "numbers"),
    (dict(raw_speech=[np.zeros(5)], padding="max_length"), ValueError, "max_length"),
    (dict(raw_speech=[np.zeros(5)], truncation=True), ValueError, "max_length"),
    (dict(raw_speech=[np.zeros(5)], padding="sideways"), ValueError, "padding"),
    (dict(raw_speech=[np.zeros(5)], return_tensors="xyz"), ValueError, "return_tensors"),
    (dict(raw_speech=[np.zeros(5), np.zeros(3)], return_tensors="pt"), ValueError, "padding=True"),
])
def test_feature_extractor_errors(bad, error, message):
    with pytest.raises(error, match=message):
        Wav2Vec2FeatureExtractor()(**{"sampling_rate": 16000, **bad})


def test_unknown_call_argument_is_an_error():
    with pytest.raises(TypeError):
        Wav2Vec2FeatureExtractor()(np.zeros(5), pading=True)


BAD_SETTINGS = [
    (dict(sampling_rate=-1), r"sampling_rate must be a positive integer \(samples per second, e.g. 16000\), got -1"),
    (dict(sampling_rate=0), "sampling_rate must be a positive integer"),
    (dict(sampling_rate="16k"), "sampling_rate must be a positive integer"),
    (dict(feature_size=2), "feature_size must be 1, got 2: Wav2Vec2 takes raw mono audio"),
    (dict(feature_size=0), "feature_size must be a positive integer"),
    (dict(padding_value=float("nan")), r"padding_value must be a finite number \(e.g. 0.0\), got nan"),
    (dict(padding_value=float("inf")), "padding_value must be a finite number"),
    (dict(padding_value="0"), "padding_value must be a finite number"),
    (dict(padding_side="up"), "padding_side must be 'left' or 'right'"),
    (dict(return_attention_mask="yes"), "return_attention_mask must be True or False"),
    (dict(do_normalize=1.0), "do_normalize must be True or False"),
]


@pytest.mark.parametrize("bad, message", BAD_SETTINGS, ids=lambda v: str(v) if isinstance(v, dict) else "")
def test_bad_settings_are_refused(tmp_path, bad, message):
    # transformers takes each of these without a word (and a NaN padding value pads with NaN).
    transformers.Wav2Vec2FeatureExtractor(**bad)
    with pytest.raises(ValueError, match="Wav2Vec2FeatureExtractor: " + message):
        Wav2Vec2FeatureExtractor(**bad)
    # An override at load time is checked too.
    Wav2Vec2FeatureExtractor().save_pretrained(tmp_path)
    with pytest.raises(ValueError, match=message):
        Wav2Vec2FeatureExtractor.from_pretrained(tmp_path, **bad)
    # So is a setting changed on the object, before any audio is read.
    extractor = Wav2Vec2FeatureExtractor()
    (key, value), = bad.items()
    setattr(extractor, key, value)
    with pytest.raises(ValueError, match=message):
        extractor(np.zeros(10, np.float32), sampling_rate=16000)


def test_call_without_sampling_rate_warns():
    extractor = Wav2Vec2FeatureExtractor()
    with pytest.warns(UserWarning, match=r"called without sampling_rate. Pass sampling_rate= .*expects 16000 Hz"):
        extractor(np.zeros(10, np.float32))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        extractor(np.zeros(10, np.float32), sampling_rate=16000)
    with pytest.raises(ValueError, match="sampling_rate must be a positive integer .*got -16000"):
        extractor(np.zeros(10, np.float32), sampling_rate=-16000)


@pytest.mark.parametrize("bad_value", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("do_normalize", [True, False])
@pytest.mark.parametrize("return_attention_mask", [True, False])
def test_nan_or_inf_audio_is_refused_with_its_index(bad_value, do_normalize, return_attention_mask):
    waves = _waves()
    waves[2][[5, 9]] = bad_value
    # transformers gives that utterance back as all NaN (normalised) without a word.
    theirs = transformers.Wav2Vec2FeatureExtractor(do_normalize=True)(waves, sampling_rate=16000)["input_values"]
    assert np.isnan(theirs[2]).all() and np.isfinite(theirs[1]).all()
    # When normalising, the bad samples are caught through the mean (each utterance's own with a mask, the
    # padded row's without); otherwise, and when truncation may cut them away, by a check of the input.
    extractor = Wav2Vec2FeatureExtractor(do_normalize=do_normalize, return_attention_mask=return_attention_mask)
    for call in (dict(padding=True), dict(padding=False), dict(padding=True, truncation=True, max_length=5)):
        with pytest.raises(ValueError, match=r"utterance 2 has 2 NaN or infinite sample\(s\) of 1507 \(the first "
                                             r"at sample 5\)"):
            extractor(waves, sampling_rate=16000, **call)
    all_nan = np.full(40, np.nan, np.float32)
    with pytest.raises(ValueError, match=r"utterance 1 has 40 NaN"):
        extractor([waves[0], all_nan], sampling_rate=16000)
    with pytest.raises(ValueError, match=r"raw_speech has 40 NaN"):
        extractor(all_nan, sampling_rate=16000)


@pytest.mark.parametrize("padding", [False, True])
@pytest.mark.parametrize("return_attention_mask", [True, False])
def test_audio_too_loud_for_float32_statistics_is_normalised_like_transformers(padding, return_attention_mask):
    """Finite samples whose sum overflows float32 are no NaN input: not refused, and normalised as transformers
    does (to NaN), by the plain formula rather than the one that reuses the centred samples."""
    waves = _waves()
    waves[1] = waves[1] * np.float32(3e37)
    settings = dict(return_attention_mask=return_attention_mask)
    with np.errstate(over="ignore", invalid="ignore"):
        ours = Wav2Vec2FeatureExtractor(**settings)(waves, sampling_rate=16000, padding=padding)["input_values"]
        theirs = transformers.Wav2Vec2FeatureExtractor(**settings)(waves, sampling_rate=16000,
                                                                   padding=padding)["input_values"]
    for a, b in zip(ours, theirs, strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("padding", [False, "do_not_pad"])
@pytest.mark.parametrize("return_attention_mask", [True, False])
def test_unpadded_batch_as_numpy_object_array_like_transformers(padding, return_attention_mask):
    settings = dict(return_attention_mask=return_attention_mask)
    theirs = transformers.Wav2Vec2FeatureExtractor(**settings)(_waves(), padding=padding, return_tensors="np",
                                                               sampling_rate=16000)
    with pytest.warns(UserWarning, match="'input_values' holds examples of different lengths \\(733 to 1507\\), "
                                         "so return_tensors='np' gives them as a numpy object array"):
        ours = Wav2Vec2FeatureExtractor(**settings)(_waves(), padding=padding, return_tensors="np",
                                                     sampling_rate=16000)
    assert sorted(ours) == sorted(theirs)
    for key in theirs:
        assert ours[key].dtype == theirs[key].dtype == object and ours[key].shape == theirs[key].shape == (3,)
        for a, b in zip(ours[key], theirs[key]):
            assert a.dtype == b.dtype and a.shape == b.shape
            np.testing.assert_allclose(a, b, atol=1e-5, rtol=0)
    # Tensor types that cannot hold ragged rows still refuse them.
    pytest.importorskip("torch")
    with pytest.raises(ValueError, match="Cannot make a tensor of 'input_values'.*Pass padding=True"):
        Wav2Vec2FeatureExtractor(**settings)(_waves(), padding=padding, return_tensors="pt", sampling_rate=16000)


def test_pad_checks_each_example_against_feature_size():
    from polyformer.core.feature_extraction import SequenceFeatureExtractor

    # Frames of 2 values: (frames, 2) examples pad as transformers pads them.
    frames = [np.random.default_rng(i).random((n, 2)).astype(np.float32) for i, n in enumerate((4, 7))]
    ours = SequenceFeatureExtractor(feature_size=2, sampling_rate=100, padding_value=0.5)
    theirs = transformers.SequenceFeatureExtractor(feature_size=2, sampling_rate=100, padding_value=0.5)
    ours.model_input_names = theirs.model_input_names = ["input_features", "attention_mask"]
    a = ours.pad({"input_features": frames}, padding=True, return_tensors="np")
    b = theirs.pad({"input_features": frames}, padding=True, return_tensors="np")
    np.testing.assert_array_equal(a["input_features"], b["input_features"])
    np.testing.assert_array_equal(a["attention_mask"], b["attention_mask"])
    with pytest.raises(ValueError, match=r"input_features\[1\] has shape \(7,\), but feature_size=2 means each "
                                         r"example is \(frames, 2\)"):
        ours.pad({"input_features": [frames[0], np.zeros(7)]})
    mono = Wav2Vec2FeatureExtractor()
    with pytest.raises(ValueError, match=r"input_values\[0\] has shape \(5, 2\), but feature_size=1 means each "
                                         r"example is a 1-D sequence"):
        mono.pad({"input_values": [np.zeros((5, 2))]})


# ---------------------------------------------------------------------------------------------
# CTC tokenizer
# ---------------------------------------------------------------------------------------------


def test_tokenizer_state_matches_transformers(tokenizers):
    ours, theirs = tokenizers
    assert ours.get_vocab() == theirs.get_vocab()
    assert (len(ours), ours.vocab_size) == (len(theirs), theirs.vocab_size)
    assert ours.all_special_tokens == theirs.all_special_tokens
    assert ours.all_special_ids == theirs.all_special_ids
    assert ours.word_delimiter_token_id == theirs.word_delimiter_token_id == 4
    assert {i: t.__getstate__() for i, t in ours.added_tokens_decoder.items()} == {
        i: t.__getstate__() for i, t in theirs.added_tokens_decoder.items()}


@pytest.mark.parametrize("text", TEXTS)
def test_encode_matches_transformers(tokenizers, text):
    ours, theirs = tokenizers
    assert ours(text)["input_ids"] == theirs(text)["input_ids"]
    assert ours.tokenize(text) == theirs.tokenize(text)


def test_batch_encode_matches_transformers(tokenizers):
    ours, theirs = tokenizers
    for kwargs in (dict(padding=True), dict(padding="max_length", max_length=16), dict(truncation=True, max_length=4),
                   dict(padding=True, return_tensors="np")):
        a, b = ours(TEXTS, **kwargs), theirs(TEXTS, **kwargs)
        assert sorted(a) == sorted(b)
        for key in b:
            assert _as_list(a[key]) == _as_list(b[key])
    words = [["HELLO", "WORLD"], ["A"]]
    assert ours(words, is_split_into_words=True)["input_ids"] == theirs(words, is_split_into_words=True)["input_ids"]


@pytest.mark.parametrize("ids", ID_SEQUENCES)
@pytest.mark.parametrize("kwargs", [dict(), dict(skip_special_tokens=True), dict(group_tokens=False),
                                    dict(spaces_between_special_tokens=True)], ids=str)
def test_ctc_decode_matches_transformers(tokenizers, ids, kwargs):
    ours, theirs = tokenizers
    assert ours.decode(ids, **kwargs) == theirs.decode(ids, **kwargs)


@pytest.mark.parametrize("ids", [s for s in ID_SEQUENCES if s])
def test_ctc_offsets_match_transformers(tokenizers, ids):
    ours, theirs = tokenizers
    for kwargs in (dict(output_char_offsets=True), dict(output_word_offsets=True),
                   dict(output_char_offsets=True, output_word_offsets=True, skip_special_tokens=True)):
        a, b = ours.decode(ids, **kwargs), theirs.decode(ids, **kwargs)
        assert a.text == b.text
        for name in ("char_offsets", "word_offsets"):
            got, want = getattr(a, name), getattr(b, name)
            assert (got is None) == (want is None)
            if want is not None:
                assert got == [{k: (int(v) if k.endswith("offset") else v) for k, v in d.items()} for d in want]


@pytest.mark.parametrize("tokens", [list("THIS|IS|A|TEXT"), ["H", "H", "<pad>", "E", "|", "|", "TH", "<unk>"], [],
                                    ["<pad>", "<pad>"], list("||A||")], ids=str)
@pytest.mark.parametrize("kwargs", [dict(), dict(group_tokens=False), dict(spaces_between_special_tokens=True),
                                    dict(output_char_offsets=True), dict(output_word_offsets=True),
                                    dict(output_char_offsets=True, output_word_offsets=True, group_tokens=False)],
                         ids=str)
def test_convert_tokens_to_string_matches_transformers(tokenizers, vocab_file, tokens, kwargs):
    ours, theirs = tokenizers
    got, want = ours.convert_tokens_to_string(tokens, **kwargs), theirs.convert_tokens_to_string(tokens, **kwargs)
    assert isinstance(got, dict) and sorted(got) == sorted(want) == ["char_offsets", "text", "word_offsets"]
    assert got["text"] == want["text"]
    for key in ("char_offsets", "word_offsets"):  # transformers' offsets are numpy integers; equal as numbers
        assert got[key] == want[key]
    lower = Wav2Vec2CTCTokenizer(vocab_file, do_lower_case=True).convert_tokens_to_string(tokens, **kwargs)
    assert lower["text"] == transformers.Wav2Vec2CTCTokenizer(str(vocab_file), do_lower_case=True
                                                              ).convert_tokens_to_string(tokens, **kwargs)["text"]


def test_added_tokens_holding_the_delimiter_stay_whole(vocab_file):
    ours = Wav2Vec2CTCTokenizer(vocab_file)
    theirs = transformers.Wav2Vec2CTCTokenizer(str(vocab_file))
    for tokenizer in (ours, theirs):
        tokenizer.add_tokens(["A|B", "<new>"])
        tokenizer.add_special_tokens({"eos_token": transformers.AddedToken(">>|<<", lstrip=False, rstrip=False)})
    for text in ("HA|B A|B", ">>|<< HE <new>|", "A||B >>|<<>>|<<"):
        assert ours.tokenize(text) == theirs.tokenize(text)
        assert ours(text)["input_ids"] == theirs(text)["input_ids"]


def test_batch_decode_matches_transformers(tokenizers):
    ours, theirs = tokenizers
    padded = np.array([s + [0] * (24 - len(s)) for s in ID_SEQUENCES])
    assert ours.batch_decode(padded) == theirs.batch_decode(padded)
    assert ours.batch_decode(padded.tolist(), skip_special_tokens=True) == theirs.batch_decode(
        padded.tolist(), skip_special_tokens=True)
    torch = pytest.importorskip("torch")
    assert ours.batch_decode(torch.tensor(padded)) == theirs.batch_decode(torch.tensor(padded))
    assert ours.decode(torch.tensor(ID_SEQUENCES[0])) == theirs.decode(ID_SEQUENCES[0])
    with_offsets = ours.batch_decode(padded[:2], output_word_offsets=True)
    assert with_offsets.text == theirs.batch_decode(padded[:2])
    assert [w["word"] for w in with_offsets.word_offsets[0]] == ["HELLO", "WORLD<s></s><unk>"]


def test_round_trip_text(tokenizers):
    ours, _ = tokenizers
    # Letters separated by a blank where they repeat, as a CTC model emits them.
    ids = [0]
    for index in ours("HELLO  WORLD")["input_ids"]:
        ids += [0, index, index] if ids[-1] == index else [index, index, index]
    assert ours.decode(ids) == "HELLO  WORLD"
    assert ours.decode(ours("HELLO WORLD")["input_ids"]) == "HELO WORLD"  # no blank: the L's merge


def test_do_lower_case_matches_transformers(vocab_file):
    ours = Wav2Vec2CTCTokenizer(vocab_file, do_lower_case=True)
    theirs = transformers.Wav2Vec2CTCTokenizer(str(vocab_file), do_lower_case=True)
    for text in ("Hello World", "it's <s> on"):
        assert ours(text)["input_ids"] == theirs(text)["input_ids"]
    for ids in ID_SEQUENCES:
        assert ours.decode(ids) == theirs.decode(ids)


def test_vocabulary_without_special_tokens_gets_the_same_ids(tmp_path):
    letters = {c: i for i, c in enumerate("|ABCDEFGH")}
    (tmp_path / "vocab.json").write_text(json.dumps(letters))
    (tmp_path / "vocab.txt").write_text("\n".join(letters) + "\n")
    theirs = transformers.Wav2Vec2CTCTokenizer(str(tmp_path / "vocab.json"))
    for path in ("vocab.json", "vocab.txt"):
        ours = Wav2Vec2CTCTokenizer(tmp_path / path)
        assert ours.get_vocab() == theirs.get_vocab()
        assert ours("AB <s>CD  H")["input_ids"] == theirs("AB <s>CD  H")["input_ids"]
        assert ours.decode([9, 1, 1, 12, 0, 2, 11]) == theirs.decode([9, 1, 1, 12, 0, 2, 11])


def test_plain_text_vocabulary(tmp_path):
    (tmp_path / "my_vocab_file.txt").write_text("<pad>\n<s>\n</s>\n<unk>\n|\nA\nB\n", encoding="utf-8")
    assert load_ctc_vocab(tmp_path / "my_vocab_file.txt") == {"<pad>": 0, "<s>": 1, "</s>": 2, "<unk>": 3, "|": 4,
                                                               "A": 5, "B": 6}
    tokenizer = Wav2Vec2CTCTokenizer(vocab_file=tmp_path / "my_vocab_file.txt")
    assert tokenizer("AB BA")["input_ids"] == [5, 6, 4, 6, 5]
    tokenizer.save_pretrained(tmp_path / "saved")  # written as vocab.json, which transformers reads
    theirs = transformers.Wav2Vec2CTCTokenizer.from_pretrained(tmp_path / "saved")
    assert theirs("AB BA")["input_ids"] == [5, 6, 4, 6, 5]


def test_tokenizer_save_load_both_ways(tmp_path, tokenizers):
    ours, theirs = tokenizers
    files = {Path(f).name for f in ours.save_pretrained(tmp_path / "ours")}
    assert {"vocab.json", "tokenizer_config.json", "special_tokens_map.json"} <= files
    assert json.loads((tmp_path / "ours" / "vocab.json").read_text()) == VOCAB
    theirs.save_pretrained(tmp_path / "theirs")
    from_theirs = Wav2Vec2CTCTokenizer.from_pretrained(tmp_path / "theirs")
    in_theirs = transformers.Wav2Vec2CTCTokenizer.from_pretrained(tmp_path / "ours")
    reloaded = Wav2Vec2CTCTokenizer.from_pretrained(tmp_path / "ours")
    for tokenizer in (from_theirs, in_theirs, reloaded):
        assert tokenizer.get_vocab() == theirs.get_vocab()
        assert tokenizer.all_special_ids == theirs.all_special_ids
        for text in TEXTS:
            assert tokenizer(text)["input_ids"] == theirs(text)["input_ids"]
        for ids in ID_SEQUENCES:
            assert tokenizer.decode(ids) == theirs.decode(ids)
            assert tokenizer.decode(ids, skip_special_tokens=True) == theirs.decode(ids, skip_special_tokens=True)


def test_tokenizer_settings_survive_saving(tmp_path, vocab_file):
    ours = Wav2Vec2CTCTokenizer(vocab_file, word_delimiter_token="'", do_lower_case=True,
                                replace_word_delimiter_char="_")
    ours.save_pretrained(tmp_path)
    loaded = Wav2Vec2CTCTokenizer.from_pretrained(tmp_path)
    assert (loaded.word_delimiter_token, loaded.do_lower_case, loaded.replace_word_delimiter_char) == ("'", True, "_")
    assert loaded("hi on")["input_ids"] == [9, 17, 14, 8, 16]
    assert loaded.decode([9, 17, 14, 8, 16]) == "hi_on"
    assert json.loads((tmp_path / "tokenizer_config.json").read_text())["word_delimiter_token"] == "'"
    # transformers 5.x drops a saved word_delimiter_token on load (its own saves too); the other settings hold.
    theirs = transformers.Wav2Vec2CTCTokenizer.from_pretrained(tmp_path)
    assert (theirs.do_lower_case, theirs.replace_word_delimiter_char) == (True, "_")


def test_multilingual_vocabulary(tmp_path):
    nested = {"eng": {"<pad>": 0, "<unk>": 1, "|": 2, "A": 3, "B": 4},
              "fra": {"<pad>": 0, "<unk>": 1, "|": 2, "É": 3, "A": 4, "B": 5}}
    path = tmp_path / "vocab.json"
    path.write_text(json.dumps(nested, ensure_ascii=False), encoding="utf-8")
    ours = Wav2Vec2CTCTokenizer(path, target_lang="fra")
    theirs = transformers.Wav2Vec2CTCTokenizer(str(path), target_lang="fra")
    assert ours("ÉA B")["input_ids"] == theirs("ÉA B")["input_ids"] == [3, 4, 2, 5]
    ours.set_target_lang("eng")
    theirs.set_target_lang("eng")
    assert ours("AB")["input_ids"] == theirs("AB")["input_ids"] == [3, 4]
    assert ours.decode([3, 3, 0, 4]) == theirs.decode([3, 3, 0, 4]) == "AB"
    ours.save_pretrained(tmp_path / "saved")
    assert json.loads((tmp_path / "saved" / "vocab.json").read_text(encoding="utf-8")) == nested
    assert Wav2Vec2CTCTokenizer.from_pretrained(tmp_path / "saved").target_lang == "eng"
    with pytest.raises(ValueError, match="target_lang"):
        Wav2Vec2CTCTokenizer(path)
    with pytest.raises(ValueError, match="deu"):
        Wav2Vec2CTCTokenizer(path, target_lang="deu")


def test_tokenizer_errors(tmp_path, tokenizers):
    ours, _ = tokenizers
    with pytest.raises(FileNotFoundError):
        Wav2Vec2CTCTokenizer(tmp_path / "missing.json")
    (tmp_path / "broken.json").write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        Wav2Vec2CTCTokenizer(tmp_path / "broken.json")
    (tmp_path / "ids.json").write_text('{"A": "1"}')
    with pytest.raises(ValueError, match="integer id"):
        Wav2Vec2CTCTokenizer(tmp_path / "ids.json")
    with pytest.raises(TypeError, match="batch_decode"):
        ours.decode([[1, 2], [3]])
    with pytest.raises(FileNotFoundError, match="vocab.json"):
        Wav2Vec2CTCTokenizer.from_pretrained(tmp_path)


# ---------------------------------------------------------------------------------------------
# Processor
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def processors(tokenizers):
    settings = dict(padding_value=0.0, do_normalize=True, return_attention_mask=True)
    ours = Wav2Vec2Processor(feature_extractor=Wav2Vec2FeatureExtractor(**settings), tokenizer=tokenizers[0])
    theirs = transformers.Wav2Vec2Processor(feature_extractor=transformers.Wav2Vec2FeatureExtractor(**settings),
                                            tokenizer=tokenizers[1])
    return ours, theirs


def _assert_same_outputs(ours, theirs, **kwargs):
    a, b = ours(**kwargs), theirs(**kwargs)
    assert sorted(a) == sorted(b)
    for key in b:
        if key == "labels" or key == "input_ids":
            np.testing.assert_array_equal(np.asarray(a[key]), np.asarray(b[key]))
        else:
            for x, y in zip(a[key], b[key]):
                np.testing.assert_allclose(np.asarray(x), np.asarray(y), atol=1e-5, rtol=0)


def test_processor_matches_transformers(processors):
    ours, theirs = processors
    waves = _waves()
    _assert_same_outputs(ours, theirs, audio=waves, sampling_rate=16000, padding=True)
    _assert_same_outputs(ours, theirs, text=["HELLO WORLD", "HI"], padding=True)
    _assert_same_outputs(ours, theirs, audio=waves, text=["HELLO", "A", "TOOTH"], padding=True, sampling_rate=16000)
    _assert_same_outputs(ours, theirs, audio=waves, text=["HELLO", "A", "TOOTH"], padding=True, return_tensors="np",
                         sampling_rate=16000)
    _assert_same_outputs(ours, theirs, audio=waves[0], text="HELLO", sampling_rate=16000)
    positional = ours(waves[0], sampling_rate=16000)
    np.testing.assert_allclose(positional["input_values"][0], theirs(waves[0])["input_values"][0], atol=1e-5)
    assert ours.batch_decode([[9, 9, 5, 10, 0, 10, 8]]) == theirs.batch_decode([[9, 9, 5, 10, 0, 10, 8]]) == ["HELLO"]
    assert ours.decode([9, 7, 7, 6]) == "HAT"
    assert ours.model_input_names == theirs.model_input_names == ["input_values", "attention_mask", "labels"]


def test_processor_routes_keyword_arguments(processors):
    ours, _ = processors
    out = ours(audio=_waves(), text=["HELLO", "A", "TOOTH"], padding=True, sampling_rate=16000,
               text_kwargs={"padding": False},
               audio_kwargs={"pad_to_multiple_of": 256})
    assert out["input_values"][0].shape == (1536,)
    assert [len(ids) for ids in out["labels"]] == [5, 1, 4]
    with pytest.raises(TypeError, match="'sampling_rte' is not an argument"):
        ours(audio=_waves(), sampling_rte=16000)
    with pytest.raises(TypeError, match="sampling_rate"):
        ours(text="HI", sampling_rate=16000)  # only the tokenizer is called, and it takes no sampling_rate


def test_processor_pad_for_training(processors):
    ours, theirs = processors
    features = [{"input_values": w} for w in _waves((5, 3))]
    labels = [{"input_ids": [9, 5]}, {"input_ids": [7]}]
    a = ours.pad(features, labels=labels, padding=True, return_tensors="np")
    assert a["input_values"].shape == (2, 5) and a["labels"].tolist() == [[9, 5], [7, 0]]
    b = theirs.pad(features, padding=True, return_tensors="np")
    np.testing.assert_allclose(a["input_values"], b["input_values"])


def test_processor_save_load_both_ways(tmp_path, processors):
    ours, theirs = processors
    files = {Path(f).name for f in ours.save_pretrained(tmp_path / "ours")}
    assert {"preprocessor_config.json", "vocab.json", "tokenizer_config.json", "processor_config.json"} <= files
    theirs.save_pretrained(tmp_path / "theirs")  # transformers v5 nests the feature extractor in processor_config.json
    loaded = [
        Wav2Vec2Processor.from_pretrained(tmp_path / "ours"),
        Wav2Vec2Processor.from_pretrained(tmp_path / "theirs"),
        transformers.Wav2Vec2Processor.from_pretrained(tmp_path / "ours"),
    ]
    assert Wav2Vec2FeatureExtractor.from_pretrained(tmp_path / "theirs") == ours.feature_extractor
    for processor in loaded:
        assert json.loads(processor.feature_extractor.to_json_string()) == json.loads(
            theirs.feature_extractor.to_json_string())
        _assert_same_outputs(processor, theirs, audio=_waves(), text=["HELLO", "A", "TOOTH"], padding=True,
                             sampling_rate=16000)
        assert processor.batch_decode([ID_SEQUENCES[0]]) == theirs.batch_decode([ID_SEQUENCES[0]])
    # The auto classes find the classes these folders name.
    assert type(polyformer.AutoProcessor.from_pretrained(tmp_path / "ours")) is Wav2Vec2Processor
    assert type(polyformer.AutoProcessor.from_pretrained(tmp_path / "theirs")) is Wav2Vec2Processor
    assert type(polyformer.AutoFeatureExtractor.from_pretrained(tmp_path / "ours")) is Wav2Vec2FeatureExtractor
    assert type(polyformer.AutoTokenizer.from_pretrained(tmp_path / "ours")) is Wav2Vec2CTCTokenizer
    overridden = Wav2Vec2Processor.from_pretrained(tmp_path / "ours", do_normalize=False, do_lower_case=True)
    assert overridden.feature_extractor.do_normalize is False and overridden.tokenizer.do_lower_case is True


def test_processor_type_errors(processors):
    ours, _ = processors
    extractor, tokenizer = ours.feature_extractor, ours.tokenizer
    with pytest.raises(TypeError, match="tokenizer must be a PreTrainedTokenizerBase"):
        Wav2Vec2Processor(feature_extractor=extractor, tokenizer=extractor)
    with pytest.raises(TypeError, match="feature_extractor must be a FeatureExtractionMixin"):
        Wav2Vec2Processor(feature_extractor=tokenizer, tokenizer=tokenizer)
    with pytest.raises(TypeError, match="feature_extractor must be"):
        Wav2Vec2Processor(feature_extractor=transformers.Wav2Vec2FeatureExtractor(), tokenizer=tokenizer)
    with pytest.raises(TypeError):
        Wav2Vec2Processor(feature_extractor=extractor)
    with pytest.raises(ValueError, match="audio and/or text"):
        ours()
    with pytest.raises(TypeError, match="cannot process images"):
        ours(images=np.zeros((2, 2, 3)))


def test_processor_base_checks_parts():
    class Speech(ProcessorMixin):
        attributes = ["feature_extractor", "tokenizer"]

    extractor = Wav2Vec2FeatureExtractor()
    with pytest.raises(TypeError, match="missing tokenizer"):
        Speech(extractor)
    with pytest.raises(TypeError, match="unexpected argument 'image_processor'"):
        Speech(extractor, image_processor=extractor)
    with pytest.raises(TypeError, match="two values"):
        Speech(extractor, feature_extractor=extractor)
