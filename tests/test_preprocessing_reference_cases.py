"""Preprocessing as transformers 4.x's own unit tests pin it down.

The cases (inputs and expected values) come from transformers 4.x's tests of these classes:
``tests/test_sequence_feature_extraction_common.py`` and
``tests/models/wav2vec2/test_feature_extraction_wav2vec2.py`` (the feature extractor),
``tests/models/wav2vec2/test_tokenization_wav2vec2.py`` (the CTC tokenizer), and
``tests/test_image_processing_common.py`` with ``tests/models/vit/test_image_processing_vit.py``
(the image processor). They are written here as our own tests, on our classes; the hub
vocabulary they load (facebook/wav2vec2-base-960h) is the same one their fixture writes, so
it is made locally. Random inputs come from fixed seeds; nothing is downloaded.

Cases that need a transformers-only class (``Wav2Vec2Tokenizer``, the fast image processors)
are not ported.
"""

import json

import numpy as np
import pytest

from polyformer import AutoImageProcessor
from polyformer.core.feature_extraction import BatchFeature
from polyformer.core.tokenization import AddedToken
from polyformer.models.vit.image_processing import ViTImageProcessor
from polyformer.models.wav2vec2.feature_extraction import Wav2Vec2FeatureExtractor
from polyformer.models.wav2vec2.tokenization import Wav2Vec2CTCTokenizer, Wav2Vec2CTCTokenizerOutput

# The 4.x tests check zero mean and unit variance to this tolerance; float32 statistics of a
# few hundred samples are far closer than that, so any real error in normalisation shows.
STAT_TOL = 1e-3


def floats(shape, seed):
    """Uniform [0, 1) samples, as the reference tests' ``floats_list`` makes them (seeded here)."""
    return np.random.default_rng(seed).random(shape).tolist()


# ---------------------------------------------------------------------------------------------
# Feature extractor: the sequence feature extraction mixin's cases
# ---------------------------------------------------------------------------------------------

SETTINGS = dict(feature_size=1, padding_value=0.0, sampling_rate=16000, return_attention_mask=True, do_normalize=True)
BATCH_SIZE, MIN_LENGTH, MAX_LENGTH = 7, 400, 2000
LENGTH_STEP = (MAX_LENGTH - MIN_LENGTH) // (BATCH_SIZE - 1)  # 266: lengths 400, 666, ..., 1996


def speech_batch(numpify=False, equal_length=False, seed=0):
    if equal_length:
        batch = floats((BATCH_SIZE, MAX_LENGTH), seed)
    else:
        batch = [floats(length, seed + i) for i, length in enumerate(range(MIN_LENGTH, MAX_LENGTH, LENGTH_STEP))]
    return [np.asarray(x) for x in batch] if numpify else batch


def equal_lengths(rows):
    return len({len(row) for row in rows}) == 1


def same_rows(a, b):
    return len(a) == len(b) and all(np.allclose(np.asarray(x), np.asarray(y), atol=1e-3) for x, y in zip(a, b))


def assert_zero_mean_unit_var(values):
    values = np.asarray(values)
    assert np.all(np.abs(np.mean(values, axis=0)) < STAT_TOL)
    assert np.all(np.abs(np.var(values, axis=0) - 1) < STAT_TOL)


def test_common_properties_and_init_without_params():
    extractor = Wav2Vec2FeatureExtractor(**SETTINGS)
    assert all(hasattr(extractor, name) for name in ("feature_size", "sampling_rate", "padding_value"))
    assert Wav2Vec2FeatureExtractor() is not None


def test_batch_feature():
    ragged = speech_batch()
    kept = BatchFeature({"input_values": ragged})
    assert [len(x) for x in kept["input_values"]] == [len(x) for x in ragged]
    stacked = BatchFeature({"input_values": speech_batch(equal_length=True)}, tensor_type="np")["input_values"]
    assert stacked[:, :, None].shape == (BATCH_SIZE, MAX_LENGTH, 1)
    torch = pytest.importorskip("torch")
    as_torch = BatchFeature({"input_values": speech_batch(equal_length=True)}, tensor_type="pt")["input_values"]
    assert isinstance(as_torch, torch.Tensor) and tuple(as_torch.shape) == (BATCH_SIZE, MAX_LENGTH)


@pytest.mark.parametrize("numpify", [False, True], ids=["lists", "arrays"])
def test_padding(numpify):
    extractor = Wav2Vec2FeatureExtractor(**SETTINGS)
    speech = speech_batch(numpify)
    features = BatchFeature({"input_values": speech})
    pad_max_length = MAX_LENGTH + LENGTH_STEP  # 2266

    not_padded = extractor.pad(features, padding=False)["input_values"]
    longest = extractor.pad(features, padding="longest")["input_values"]
    to_last = extractor.pad(features, padding="max_length", max_length=len(speech[-1]))["input_values"]
    longest_np = extractor.pad(features, padding="longest", return_tensors="np")["input_values"]
    with pytest.raises(ValueError, match="padding='max_length' needs max_length"):
        extractor.pad(features, padding="max_length")
    max_np = extractor.pad(features, padding="max_length", max_length=pad_max_length,
                           return_tensors="np")["input_values"]

    assert not equal_lengths(not_padded) and equal_lengths(longest) and equal_lengths(to_last)
    assert same_rows(longest, to_last)
    assert len(not_padded[0]) == MIN_LENGTH and len(not_padded[1]) == MIN_LENGTH + LENGTH_STEP
    assert longest_np.shape[:2] == (BATCH_SIZE, len(to_last[0]))
    assert max_np.shape[:2] == (BATCH_SIZE, pad_max_length)

    multiple = extractor.pad(features, pad_to_multiple_of=10)["input_values"]
    multiple_longest = extractor.pad(features, padding="longest", pad_to_multiple_of=10)["input_values"]
    multiple_max = extractor.pad(features, padding="max_length", pad_to_multiple_of=10,
                                 max_length=pad_max_length)["input_values"]
    multiple_max_np = extractor.pad(features, padding="max_length", pad_to_multiple_of=10, max_length=pad_max_length,
                                    return_tensors="np")["input_values"]
    assert all(len(x) % 10 == 0 for x in multiple) and same_rows(multiple, multiple_longest)
    assert all(len(x) == 2270 for x in multiple_max) and multiple_max_np.shape[:2] == (BATCH_SIZE, 2270)

    # The padded positions hold padding_value (0.0 here).
    for index in range(3):
        assert abs(np.asarray(longest[index])[MIN_LENGTH + index * LENGTH_STEP:].sum()) < 1e-3
    assert abs(max_np[0, MIN_LENGTH:].sum()) < 1e-3 and abs(multiple_max_np[0, MIN_LENGTH:].sum()) < 1e-3


@pytest.mark.parametrize("numpify", [False, True], ids=["lists", "arrays"])
def test_truncation(numpify):
    extractor = Wav2Vec2FeatureExtractor(**SETTINGS)
    speech = speech_batch(numpify)
    features = BatchFeature({"input_values": speech})
    shortest, second = len(speech[0]), len(speech[1])

    cut = extractor.pad(features, padding="max_length", max_length=shortest, truncation=True)["input_values"]
    uncut = extractor.pad(features, padding="max_length", max_length=shortest)["input_values"]
    assert equal_lengths(cut) and not equal_lengths(uncut)

    cut_np = extractor.pad(features, padding="max_length", max_length=shortest, return_tensors="np",
                           truncation=True)["input_values"]
    assert equal_lengths(cut_np) and cut_np.shape[1] == shortest
    # Without truncation the rows keep their lengths: "np" gives them as an object array (as transformers).
    with pytest.warns(UserWarning, match="object array"):
        uncut_np = extractor.pad(features, padding="max_length", max_length=shortest,
                                 return_tensors="np")["input_values"]
    assert uncut_np.dtype == object and not equal_lengths(uncut_np)

    middle_np = extractor.pad(features, padding="max_length", max_length=second, truncation=True,
                              return_tensors="np")["input_values"]
    middle = extractor.pad(features, padding="max_length", max_length=second, truncation=True)["input_values"]
    with pytest.warns(UserWarning, match="object array"):
        middle_uncut_np = extractor.pad(features, padding="max_length", max_length=second,
                                        return_tensors="np")["input_values"]
    assert middle_np.shape[1] == second and equal_lengths(middle_np) and equal_lengths(middle)
    assert same_rows(middle_np, middle)
    assert not equal_lengths(middle_uncut_np) and len(middle_uncut_np[-1]) == len(speech[-1])

    for kwargs in (dict(truncation=True), dict(padding="longest", truncation=True),
                   dict(padding="max_length", truncation=True)):
        with pytest.raises(ValueError, match="needs max_length"):
            extractor.pad(features, **kwargs)

    cut_multiple = extractor.pad(features, padding="max_length", max_length=shortest, pad_to_multiple_of=12,
                                 truncation=True)["input_values"]
    uncut_multiple = extractor.pad(features, padding="max_length", max_length=shortest,
                                   pad_to_multiple_of=12)["input_values"]
    assert len(cut_multiple[0]) == 408 and equal_lengths(cut_multiple) and not equal_lengths(uncut_multiple)


def test_padding_accepts_tensors_pt():
    pytest.importorskip("torch")
    extractor = Wav2Vec2FeatureExtractor(**SETTINGS)
    features = BatchFeature({"input_values": speech_batch()})
    as_np = extractor.pad(features, padding="longest", return_tensors="np")["input_values"]
    as_pt = extractor.pad(features, padding="longest", return_tensors="pt")["input_values"]
    assert abs(as_np.astype(np.float32).sum() - as_pt.numpy().astype(np.float32).sum()) < 1e-2


def test_attention_mask():
    extractor = Wav2Vec2FeatureExtractor(**SETTINGS)
    speech = speech_batch()
    lengths = [len(x) for x in speech]
    padded = extractor.pad(BatchFeature({"input_values": speech}), padding="longest", return_tensors="np")
    assert list(padded.attention_mask.shape) == list(padded["input_values"].shape[:2])
    assert padded.attention_mask.sum(-1).tolist() == lengths

    shortest = min(lengths)
    cut = extractor.pad(BatchFeature({"input_values": speech}), padding="max_length", max_length=shortest,
                        truncation=True, return_tensors="np")
    assert list(cut.attention_mask.shape) == [cut["input_values"].shape[0], shortest]
    assert cut.attention_mask[:, :shortest].sum(-1).tolist() == [shortest] * len(speech)


def test_saving_round_trips(tmp_path):
    extractor = Wav2Vec2FeatureExtractor(**SETTINGS)
    saved = json.loads(extractor.to_json_string())
    assert all(saved[key] == value for key, value in SETTINGS.items())
    extractor.to_json_file(tmp_path / "feat_extract.json")
    assert Wav2Vec2FeatureExtractor.from_json_file(tmp_path / "feat_extract.json").to_dict() == extractor.to_dict()
    path = extractor.save_pretrained(tmp_path / "saved")[0]
    json.loads(path.read_text())  # a valid JSON file
    assert Wav2Vec2FeatureExtractor.from_pretrained(tmp_path / "saved").to_dict() == extractor.to_dict()


# ---------------------------------------------------------------------------------------------
# Feature extractor: Wav2Vec2's own cases
# ---------------------------------------------------------------------------------------------


def test_call_lists_and_arrays_agree():
    extractor = Wav2Vec2FeatureExtractor(**SETTINGS)
    speech = [floats(n, seed) for seed, n in enumerate((800, 1000, 1200))]
    arrays = [np.asarray(x) for x in speech]
    one_list = extractor(speech[0], return_tensors="np", sampling_rate=16000).input_values
    one_array = extractor(arrays[0], return_tensors="np", sampling_rate=16000).input_values
    assert np.allclose(one_list, one_array, atol=1e-3)
    # Unequal lengths, no padding: each row as it is.
    with pytest.warns(UserWarning, match="object array"):
        from_lists = extractor(speech, return_tensors="np", sampling_rate=16000).input_values
    with pytest.warns(UserWarning, match="object array"):
        from_arrays = extractor(arrays, return_tensors="np", sampling_rate=16000).input_values
    assert same_rows(from_lists, from_arrays)
    # A 2-D array is a batch.
    equal = [floats(800, seed) for seed in (7, 8, 9)]
    from_lists = extractor(equal, return_tensors="np", sampling_rate=16000).input_values
    from_2d = extractor(np.asarray(equal), return_tensors="np", sampling_rate=16000).input_values
    assert from_lists.shape == from_2d.shape == (3, 800) and np.allclose(from_lists, from_2d, atol=1e-3)


@pytest.mark.parametrize("return_tensors", [None, "np"])
@pytest.mark.parametrize("padding, max_length", [("longest", None), ("max_length", 1600), ("do_not_pad", None)])
def test_zero_mean_unit_variance_normalization(padding, max_length, return_tensors):
    extractor = Wav2Vec2FeatureExtractor(**SETTINGS)
    speech = [floats(n, seed) for seed, n in enumerate((800, 1000, 1200))]
    with _object_array_warning_if(padding == "do_not_pad" and return_tensors == "np"):
        values = extractor(speech, padding=padding, max_length=max_length, return_tensors=return_tensors,
                           sampling_rate=16000).input_values
    assert_zero_mean_unit_var(values[0][:800])
    assert_zero_mean_unit_var(values[1][:1000])
    assert_zero_mean_unit_var(values[2][:1200])
    if return_tensors:
        assert values[0][800:].sum() < 1e-6 and values[1][1000:].sum() < 1e-6


def _object_array_warning_if(condition):
    import contextlib

    return pytest.warns(UserWarning, match="object array") if condition else contextlib.nullcontext()


def test_zero_mean_unit_variance_normalization_with_truncation():
    extractor = Wav2Vec2FeatureExtractor(**SETTINGS)
    speech = [floats(n, seed) for seed, n in enumerate((800, 1000, 1200))]
    values = extractor(speech, truncation=True, max_length=1000, padding="max_length", return_tensors="np",
                       sampling_rate=16000).input_values
    assert_zero_mean_unit_var(values[0, :800])
    assert_zero_mean_unit_var(values[1])
    assert_zero_mean_unit_var(values[2])

    values = extractor(speech, truncation=True, max_length=1000, padding="longest", return_tensors="np",
                       sampling_rate=16000).input_values
    assert_zero_mean_unit_var(values[0, :800])
    assert_zero_mean_unit_var(values[1, :1000])
    assert_zero_mean_unit_var(values[2])
    assert values.shape == (3, 1000)  # max_length below the longest: cut to max_length

    values = extractor(speech, truncation=True, max_length=2000, padding="longest", return_tensors="np",
                       sampling_rate=16000).input_values
    assert_zero_mean_unit_var(values[0, :800])
    assert_zero_mean_unit_var(values[1, :1000])
    assert_zero_mean_unit_var(values[2])
    assert values.shape == (3, 1200)  # max_length above the longest: padded to the longest


def test_double_precision_pad():
    torch = pytest.importorskip("torch")
    extractor = Wav2Vec2FeatureExtractor(**SETTINGS)
    samples = np.random.default_rng(0).random(100).astype(np.float64)
    for inputs in (samples.tolist(), samples):
        assert extractor.pad([{"input_values": inputs}], return_tensors="np").input_values.dtype == np.float32
        assert extractor.pad([{"input_values": inputs}], return_tensors="pt").input_values.dtype == torch.float32


# ---------------------------------------------------------------------------------------------
# CTC tokenizer
# ---------------------------------------------------------------------------------------------

# facebook/wav2vec2-base-960h's vocabulary, which the reference tests also write as their fixture.
BASE_960H = "<pad> <s> </s> <unk> | E T A O N I H S R D L U M W C F G Y P B V K ' X J Q Z".split(" ")
PAD, DELIMITER = 0, 4


@pytest.fixture()
def vocab_folder(tmp_path):
    (tmp_path / "vocab.json").write_text(json.dumps({token: i for i, token in enumerate(BASE_960H)}) + "\n")
    return tmp_path


def tokenizer_from(folder, **kwargs):
    return Wav2Vec2CTCTokenizer.from_pretrained(folder, pad_token="<pad>", unk_token="<unk>", bos_token="<s>",
                                                eos_token="</s>", **kwargs)


def test_decode(vocab_folder):
    tokenizer = tokenizer_from(vocab_folder)
    ids = [[11, 5, 15, PAD, 15, 8, 98], [24, 22, 5, DELIMITER, 24, 22, 5, 77]]
    assert tokenizer.decode(ids[0]) == tokenizer.batch_decode(ids)[0]
    assert tokenizer.batch_decode(ids) == ["HELLO<unk>", "BYE BYE<unk>"]
    repeated = [[11, 5, 5, 5, 5, 5, 15, 15, 15, PAD, 15, 8, 98],
                [24, 22, 5, PAD, PAD, PAD, DELIMITER, 24, 22, 5, 77, DELIMITER]]
    assert tokenizer.batch_decode(repeated) == ["HELLO<unk>", "BYE BYE<unk>"]


def test_decode_added_tokens(vocab_folder):
    tokenizer = tokenizer_from(vocab_folder)
    tokenizer.add_tokens(["!", "?", "<new_tokens>"])
    tokenizer.add_special_tokens({"cls_token": "$$$"})
    ids = [[11, 5, 15, PAD, 15, 8, 98, 32, 32, 33, DELIMITER, 32, 32, 33, 34, 34, 35, 35],
           [24, 22, 5, DELIMITER, 24, 22, 5, 77, PAD, 34, 34, 35, 35]]
    assert tokenizer.batch_decode(ids) == ["HELLO<unk>!? !?<new_tokens>$$$", "BYE BYE<unk><new_tokens>$$$"]
    assert tokenizer.batch_decode(ids, skip_special_tokens=True) == ["HELO!? !?<new_tokens>", "BYE BYE<new_tokens>"]


def test_added_characters_and_words(vocab_folder):
    tokenizer = tokenizer_from(vocab_folder)
    tokenizer.add_tokens("x")
    assert tokenizer("C x A").input_ids == [19, 4, 32, 4, 7]
    tokenizer.add_tokens(["a", "b", "c"])
    assert tokenizer("C a A c").input_ids == [19, 4, 33, 4, 7, 4, 35]
    tokenizer.add_tokens(["a", "b", "c"])
    assert tokenizer("CaA c").input_ids == [19, 33, 7, 4, 35]

    tokenizer = tokenizer_from(vocab_folder)
    tokenizer.add_tokens("xxx")
    assert tokenizer("C xxx A B").input_ids == [19, 4, 32, 4, 7, 4, 24]
    tokenizer.add_tokens(["aaa", "bbb", "ccc"])
    assert tokenizer("C aaa A ccc B B").input_ids == [19, 4, 33, 4, 7, 4, 35, 4, 24, 4, 24]
    tokenizer.add_tokens(["aaa", "bbb", "ccc"])
    assert tokenizer("CaaaA ccc B B").input_ids == [19, 33, 7, 4, 35, 4, 24, 4, 24]


def test_add_tokens_and_special_tokens(vocab_folder):
    tokenizer = tokenizer_from(vocab_folder, do_lower_case=False)
    vocab_size, size = tokenizer.vocab_size, len(tokenizer)
    assert tokenizer.add_tokens(["aaaaa bbbbbb", "cccccccccdddddddd"]) == 2
    assert tokenizer.vocab_size == vocab_size and len(tokenizer) == size + 2
    ids = tokenizer.encode("aaaaa bbbbbb low cccccccccdddddddd l", add_special_tokens=False)
    assert len(ids) >= 4 and ids[0] > vocab_size - 1 and ids[-3] > vocab_size - 1

    added = tokenizer.add_special_tokens({"eos_token": AddedToken(">>>>|||<||<<|<<", lstrip=False, rstrip=False),
                                          "pad_token": AddedToken("<<<<<|||>|>>>>|>", rstrip=False, lstrip=False)})
    assert added == 2 and tokenizer.vocab_size == vocab_size and len(tokenizer) == size + 4
    ids = tokenizer.encode(">>>>|||<||<<|<< aaaaabbbbbb low cccccccccdddddddd <<<<<|||>|>>>>|> l",
                           add_special_tokens=False)
    assert len(ids) >= 6 and ids[0] > vocab_size - 1 and ids[0] > ids[1]
    assert ids[-3] > vocab_size - 1 and ids[-3] > ids[-4]
    assert ids[0] == tokenizer.eos_token_id and ids[-3] == tokenizer.pad_token_id


def test_special_characters_in_vocab(tmp_path):
    sentence = "ʈʰ æ æ̃ ˧ kʰ"
    vocab = {token: i for i, token in enumerate(sorted(set(sentence.split())))}
    (tmp_path / "vocab_special.json").write_text(json.dumps(vocab))
    tokenizer = Wav2Vec2CTCTokenizer(tmp_path / "vocab_special.json")
    assert tokenizer.decode(tokenizer(sentence).input_ids, spaces_between_special_tokens=True) == sentence
    tokenizer.save_pretrained(tmp_path / "saved")
    reloaded = Wav2Vec2CTCTokenizer.from_pretrained(tmp_path / "saved")
    assert reloaded.decode(reloaded(sentence).input_ids, spaces_between_special_tokens=True) == sentence


def _field(offsets, key):
    return [item[key] for item in offsets]


def test_offsets(vocab_folder):
    tokenizer = tokenizer_from(vocab_folder)
    # H E E E E E | | L L L <pad> L O <unk>  ->  "HE LLO<unk>"
    ids = [11, 5, 5, 5, 5, 5, 4, 4, 15, 15, 15, PAD, 15, 8, 98]
    chars = tokenizer.decode(ids, output_char_offsets=True)
    assert isinstance(chars, Wav2Vec2CTCTokenizerOutput) and sorted(chars.keys()) == ["char_offsets", "text"]
    words = tokenizer.decode(ids, output_word_offsets=True)
    assert isinstance(words, Wav2Vec2CTCTokenizerOutput) and sorted(words.keys()) == ["text", "word_offsets"]
    both = tokenizer.decode(ids, output_char_offsets=True, output_word_offsets=True)
    assert sorted(both.keys()) == ["char_offsets", "text", "word_offsets"]

    assert "".join(_field(both["char_offsets"], "char")) == both.text
    assert _field(both["char_offsets"], "char") == ["H", "E", " ", "L", "L", "O", "<unk>"]
    assert _field(both["char_offsets"], "char") == _field(chars["char_offsets"], "char")
    assert " ".join(_field(both["word_offsets"], "word")) == both.text
    assert _field(both["word_offsets"], "word") == ["HE", "LLO<unk>"]
    assert _field(both["word_offsets"], "word") == _field(words["word_offsets"], "word")
    assert _field(both["char_offsets"], "start_offset") == [0, 1, 6, 8, 12, 13, 14]
    assert _field(both["char_offsets"], "end_offset") == [1, 6, 8, 11, 13, 14, 15]
    assert _field(both["word_offsets"], "start_offset") == [0, 8]
    assert _field(both["word_offsets"], "end_offset") == [6, 15]


def test_word_offsets_from_char_offsets(vocab_folder):
    # One frame per token (group_tokens=False), so each character's offsets are its position.
    tokenizer = tokenizer_from(vocab_folder)
    out = tokenizer.convert_tokens_to_string(list("HI|LI"), group_tokens=False, output_word_offsets=True)
    assert out["word_offsets"] == [{"word": "HI", "start_offset": 0, "end_offset": 2},
                                   {"word": "LI", "start_offset": 3, "end_offset": 5}]
    # Several delimiters in a row, or at the ends, make no empty words.
    out = tokenizer.convert_tokens_to_string(list("|HI||LII||"), group_tokens=False, output_word_offsets=True)
    assert out["word_offsets"] == [{"word": "HI", "start_offset": 1, "end_offset": 3},
                                   {"word": "LII", "start_offset": 5, "end_offset": 8}]


def test_offsets_batch(vocab_folder):
    tokenizer = tokenizer_from(vocab_folder)
    ids = [
        [11, 5, 15, PAD, 15, 4, 8, 98, 32, 32, 32, 32, 4, 33, DELIMITER, 32, 32, 33, 34, 34],
        [24, 22, 5, DELIMITER, DELIMITER, 24, 22, 22, 22, 4, 5, 77, PAD, 22, 22, 4, 34, 34, 34, 34],
    ]
    for kwargs in (dict(output_char_offsets=True), dict(output_word_offsets=True),
                   dict(output_char_offsets=True, output_word_offsets=True)):
        batch = tokenizer.batch_decode(ids, **kwargs)
        one_by_one = [tokenizer.decode(row, **kwargs) for row in ids]
        assert isinstance(batch, Wav2Vec2CTCTokenizerOutput)
        assert all(isinstance(out, Wav2Vec2CTCTokenizerOutput) for out in one_by_one)
        for key in one_by_one[0]:
            assert batch[key] == [out[key] for out in one_by_one]


# The reference test's predicted ids for a Common Voice sample, decoded by wav2vec2-base-960h.
PREDICTED = (
    [0] * 71 + [18, 11, 0, 0, 0, 22, 0, 0, 4, 4, 4, 14, 0, 0, 0, 0, 0, 8, 8, 0, 5, 5, 0, 12, 0, 4, 4, 4, 4, 4, 4, 4]
    + [0] * 10 + [17, 0, 0, 10, 0, 0, 0, 15, 0, 0, 10, 0, 0, 0, 12, 0, 0, 0, 0, 0, 7, 0, 9, 0, 0, 14, 0, 0, 0, 13,
                  0, 7, 0, 0, 4, 4, 0, 15, 8, 8, 0, 0, 8, 0, 26, 0, 0, 4, 4, 0, 0, 15, 0, 0, 0, 0, 0, 0, 10, 0, 26, 5,
                  5, 0, 4, 4, 0, 0, 12, 11, 0, 0, 5, 4, 4, 4, 0, 18, 0, 0, 0, 7, 9, 9, 0, 6, 0, 12, 12, 4, 4, 0, 6, 0,
                  0, 8, 0, 4, 4, 4, 0, 19, 0, 0, 8, 9, 9, 0, 0, 0, 0, 12, 12, 0, 0, 0, 0, 0, 0, 0, 16, 16, 0, 0, 17, 5,
                  5, 5, 0, 4, 4, 4, 0, 0, 29, 29, 0, 0, 0, 0, 8, 11, 0, 9, 9, 0, 0, 0, 4, 4, 0, 12, 12, 0, 0, 0, 9, 0,
                  0, 0, 0, 0, 8, 18, 0, 0, 0, 4, 4, 0, 0, 8, 9, 0, 4, 4, 0, 6, 11, 5, 0, 4, 4, 0, 13, 13, 0, 0, 0, 10,
                  0, 0, 25, 0, 0, 6, 0, 4, 4, 0, 0, 0, 0, 7, 0, 0, 23, 0, 0, 4, 4, 0, 0, 0, 6, 11, 0, 5, 4, 4, 18, 0,
                  0, 0, 0, 0, 0, 7, 15, 0, 0, 0, 15, 15, 0, 4, 4, 4]
    + [0] * 36
)
WORDS = ["WHY", "DOES", "MILISANDRA", "LOOK", "LIKE", "SHE", "WANTS", "TO", "CONSUME", "JOHN", "SNOW", "ON", "THE",
         "RIVT", "AP", "THE", "WALL"]
WORD_STARTS = [1.42, 1.64, 2.26, 3.0, 3.28, 3.62, 3.8, 4.1, 4.28, 4.94, 5.28, 5.68, 5.8, 5.94, 6.32, 6.54, 6.66]
WORD_ENDS = [1.54, 1.9, 2.9, 3.16, 3.52, 3.72, 4.04, 4.18, 4.82, 5.16, 5.54, 5.72, 5.86, 6.18, 6.4, 6.62, 6.94]
CHAR_STARTS = [1.42, 1.44, 1.52, 1.58, 1.64, 1.76, 1.82, 1.88, 1.92, 2.26, 2.32, 2.4, 2.46, 2.54, 2.66, 2.7, 2.76,
               2.84, 2.88, 2.94, 3.0, 3.02, 3.1, 3.14, 3.2, 3.28, 3.42, 3.46, 3.48, 3.54, 3.62, 3.64, 3.7, 3.72, 3.8,
               3.88, 3.9, 3.96, 4.0, 4.04, 4.1, 4.16, 4.2, 4.28, 4.34, 4.36, 4.48, 4.66, 4.74, 4.76, 4.84, 4.94, 5.06,
               5.08, 5.12, 5.22, 5.28, 5.38, 5.5, 5.52, 5.6, 5.68, 5.7, 5.74, 5.8, 5.82, 5.84, 5.88, 5.94, 6.04, 6.1,
               6.16, 6.2, 6.32, 6.38, 6.44, 6.54, 6.56, 6.6, 6.62, 6.66, 6.8, 6.82, 6.9, 6.96]
CHAR_ENDS = [1.44, 1.46, 1.54, 1.64, 1.66, 1.8, 1.86, 1.9, 2.06, 2.28, 2.34, 2.42, 2.48, 2.56, 2.68, 2.72, 2.78, 2.86,
             2.9, 2.98, 3.02, 3.06, 3.12, 3.16, 3.24, 3.3, 3.44, 3.48, 3.52, 3.58, 3.64, 3.66, 3.72, 3.78, 3.82, 3.9,
             3.94, 3.98, 4.04, 4.08, 4.12, 4.18, 4.26, 4.3, 4.36, 4.4, 4.52, 4.7, 4.76, 4.82, 4.9, 4.98, 5.08, 5.1,
             5.16, 5.26, 5.32, 5.4, 5.52, 5.54, 5.64, 5.7, 5.72, 5.78, 5.82, 5.84, 5.86, 5.92, 5.98, 6.06, 6.12, 6.18,
             6.24, 6.34, 6.4, 6.48, 6.56, 6.58, 6.62, 6.66, 6.68, 6.82, 6.84, 6.94, 7.02]


def test_offsets_integration(vocab_folder):
    tokenizer = tokenizer_from(vocab_folder)
    out = tokenizer.batch_decode([PREDICTED], output_char_offsets=True, output_word_offsets=True)
    seconds_per_frame = 320 / 16_000  # wav2vec2-base: one frame per 320 samples at 16 kHz

    def seconds(offsets, key):
        return [round(value * seconds_per_frame, 2) for value in _field(offsets, key)]

    chars, words = out["char_offsets"][0], out["word_offsets"][0]
    assert "".join(_field(chars, "char")) == " ".join(WORDS) + " "
    assert seconds(chars, "start_offset") == CHAR_STARTS and seconds(chars, "end_offset") == CHAR_ENDS
    assert _field(words, "word") == WORDS
    assert seconds(words, "start_offset") == WORD_STARTS and seconds(words, "end_offset") == WORD_ENDS


def test_convert_tokens_to_string_format(vocab_folder):
    tokenizer = tokenizer_from(vocab_folder, do_lower_case=True)
    out = tokenizer.convert_tokens_to_string(list("THIS|IS|A|TEXT"))
    assert isinstance(out["text"], str) and out == {"text": "this is a text", "char_offsets": None,
                                                     "word_offsets": None}


def test_nested_vocab(tmp_path):
    eng, spa, ita = {"a": 7, "b": 8}, {"a": 23, "c": 88}, {"a": 6, "d": 9}
    (tmp_path / "vocab.json").write_text(json.dumps({"eng": eng, "spa": spa, "ita": ita}))

    def check(tokenizer, ita_first=False):
        if ita_first:
            assert tokenizer.decode([6, 9, 9]) == "ad" and tokenizer.encoder == ita
            tokenizer.set_target_lang("eng")
        assert tokenizer.encoder == eng and tokenizer.decode([7, 8, 7]) == "aba"
        tokenizer.set_target_lang("spa")
        assert tokenizer.decode([23, 88, 23]) == "aca" and tokenizer.encoder == spa
        tokenizer.set_target_lang("eng")
        assert tokenizer.encoder == eng and tokenizer.decode([7, 7, 8]) == "ab"
        tokenizer.set_target_lang("ita")
        assert tokenizer.decode([6, 9, 9]) == "ad" and tokenizer.encoder == ita

    tokenizer = Wav2Vec2CTCTokenizer.from_pretrained(tmp_path, target_lang="eng")
    check(tokenizer)
    tokenizer.save_pretrained(tmp_path / "saved")  # the last language, "ita", is saved
    reloaded = Wav2Vec2CTCTokenizer.from_pretrained(tmp_path / "saved")
    assert reloaded.target_lang == "ita"
    check(reloaded, ita_first=True)


# ---------------------------------------------------------------------------------------------
# Image processor (ViT)
# ---------------------------------------------------------------------------------------------

IMAGE_SETTINGS = dict(image_mean=[0.5, 0.5, 0.5], image_std=[0.5, 0.5, 0.5], do_normalize=True, do_resize=True,
                      size={"height": 18, "width": 18})


def image_batch(kind, num_channels=3, seed=0):
    """Seven images of random sizes (30 to 399 pixels a side), as the reference tests draw them."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    images = []
    for _ in range(BATCH_SIZE):
        width, height = rng.choice(np.arange(30, 400), 2)
        chw = rng.integers(0, 255, size=(num_channels, width, height), dtype=np.uint8)
        if kind == "pil":
            images.append(Image.fromarray(np.moveaxis(chw, 0, -1)))
        elif kind == "numpy":
            images.append(chw.transpose(1, 2, 0))  # numpy images are usually channels last
        else:
            import torch

            images.append(torch.from_numpy(chw))
    return images


def test_image_processor_properties_and_init_without_params():
    processor = ViTImageProcessor(**IMAGE_SETTINGS)
    assert all(hasattr(processor, name) for name in ("image_mean", "image_std", "do_normalize", "do_resize", "size"))
    assert ViTImageProcessor() is not None


def test_image_processor_from_dict_with_kwargs():
    assert ViTImageProcessor.from_dict(IMAGE_SETTINGS).size == {"height": 18, "width": 18}
    assert ViTImageProcessor.from_dict(IMAGE_SETTINGS, size=42).size == {"height": 42, "width": 42}


def test_image_processor_saving(tmp_path):
    processor = ViTImageProcessor(**IMAGE_SETTINGS)
    saved = json.loads(processor.to_json_string())
    assert all(saved[key] == value for key, value in IMAGE_SETTINGS.items())
    processor.to_json_file(tmp_path / "image_processor.json")
    assert ViTImageProcessor.from_json_file(tmp_path / "image_processor.json").to_dict() == processor.to_dict()
    path = processor.save_pretrained(tmp_path / "saved")[0]
    json.loads(path.read_text())
    assert ViTImageProcessor.from_pretrained(tmp_path / "saved").to_dict() == processor.to_dict()
    assert AutoImageProcessor.from_pretrained(tmp_path / "saved").to_dict() == processor.to_dict()


@pytest.mark.parametrize("kind", ["pil", "numpy", "torch"])
def test_call(kind):
    if kind == "torch":
        pytest.importorskip("torch")
    processor = ViTImageProcessor(**IMAGE_SETTINGS)
    images = image_batch(kind)
    assert tuple(processor(images[0], return_tensors="np").pixel_values.shape) == (1, 3, 18, 18)
    assert tuple(processor(images, return_tensors="np").pixel_values.shape) == (BATCH_SIZE, 3, 18, 18)


def test_call_numpy_4_channels():
    processor = ViTImageProcessor(**IMAGE_SETTINGS)
    images = image_batch("numpy", num_channels=4)
    kwargs = dict(return_tensors="np", input_data_format="channels_last", image_mean=0, image_std=1)
    assert tuple(processor(images[0], **kwargs).pixel_values.shape) == (1, 4, 18, 18)
    assert tuple(processor(images, **kwargs).pixel_values.shape) == (BATCH_SIZE, 4, 18, 18)
