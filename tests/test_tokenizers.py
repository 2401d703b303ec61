"""Tokenizers: slow and fast DistilBERT / WordPiece against `tokenizers` and `transformers`.

The oracles are built from the same vocab.txt: the `tokenizers` library's own
BertWordPieceTokenizer, and transformers v5's BertTokenizer / DistilBertTokenizer (which
run the Rust library). Every comparison is against an oracle or against a property
stated by the API (ids appended, files written...), never against our own earlier output.
"""

from __future__ import annotations

import json
import subprocess
import sys
import unicodedata

import numpy as np
import pytest

transformers = pytest.importorskip("transformers")
from tokenizers.implementations import BertWordPieceTokenizer  # noqa: E402
from transformers.models.bert import tokenization_bert_legacy as legacy  # noqa: E402

from polyformer import DistilBertTokenizer, DistilBertTokenizerFast  # noqa: E402
from polyformer.core.tokenization import BatchEncoding  # noqa: E402
from polyformer.core.wordpiece import (  # noqa: E402
    BasicTokenizer,
    WordPieceTokenizer,
    WordPieceTokenizerFast,
    WordpieceTokenizer,
    load_vocab,
    save_vocab,
)

CORPUS = [
    "Hello world!",
    "hello WORLD, Hello World.",
    "unaffable playing runs",
    "The café is naïve; résumé attached.",
    "Ça va? Élève, señor! NAÏVE CAFÉ",
    "中国人你好",
    "hello中国world 日本",
    "日本語のテキスト こんにちは",
    "한국어 텍스트",
    "don't stop, isn't it? I'm here; you're there; we've gone",
    "$100 + 50% = #1 (approx.) [note] {x} <y> ~z `q` ^_^ |pipe| \\back\\ @home & co",
    "\tHello\n\nworld  \u00a0test\u2003x\u3000y\r\nz\u2028w\u2029v\x0bu\x0ct",
    "zero\u200bwidth\u200cjoin\u200dhere\ufeffbom\u2060wj",
    "ctrl\x00a\x07b\x1fc\x85d\x7fe\x1cf",
    "replacement \ufffd char",
    "I \u2764\ufe0f \U0001f917 emoji \U0001f44d\U0001f3fd ok \u263a",
    "ΣΑΣ Σίσυφος σας",
    "İstanbul ıi IJ",
    "e\u0301 cafe\u0301 n\u0303",
    "ﬁne ẞ straße Æsir",
    "ＡＢＣ１２３ full-width！",
    "a" * 100,
    "a" * 101,
    "word" + "x" * 120 + " next",
    "",
    " ",
    "\n\t \u00a0",
    "hello [MASK] world [SEP] again[CLS]x",
    "[mask] [Mask] [UNK]",
    "https://example.com/a?b=c&d=e#f",
    "مرحبا بالعالم",
    "שָׁלוֹם",
    "สวัสดี",
    "हिन्दी भाषा",
    "1,234.56 3/4 2^10",
    "...!!!???",
    "'quoted' \"double\" «guillemets» „low“ — dash – en",
]

PAIRS = [
    ("hello world this is a test the world is hello", "play run the test"),
    ("a short one", "the world is a test and the test is the world of hello"),
    ("the same length here", "play run hello world"),
    ("café naïve", "中国人你好 hello"),
    ("", "hello"),
    ("hello", ""),
    ("a b c d e f g h i j k l m n o p", "q r s t u v w x y z a b c d e f"),
]

WORDS = [
    "the", "The", "hello", "Hello", "world", "World", "un", "##aff", "##able", "##ing", "##s", "##ed", "##ly",
    "play", "run", "runs", "test", "this", "This", "is", "a", "an", "of", "and", "short", "one", "same", "length",
    "here", "cafe", "café", "Café", "naive", "naïve", "resume", "résumé", "ca", "va", "Ça", "ça", "eleve", "élève",
    "senor", "señor", "don", "isn", "stop", "it", "we", "gone", "there", "you", "emoji", "ok", "http", "##s",
    "example", "com", "istanbul", "stanbul", "fine", "full", "width", "next", "note", "home", "co", "approx",
    "σας", "σασ", "again", "quoted", "double", "char", "replacement", "zero", "join", "bom",
]
HELD_OUT = {"\U0001f917", "こ", "한", "ש", "ส"}  # characters left out of the vocabulary: they become [UNK]


def _vocab_tokens() -> list[str]:
    """A vocabulary that covers most of the corpus: whole words, then single characters and ## pieces."""
    tokens = ["[PAD]", "[unused0]", "[unused1]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + WORDS
    chars = set()
    for text in CORPUS + [a + " " + b for a, b in PAIRS]:
        for variant in (text, text.lower(), unicodedata.normalize("NFD", text)):
            chars.update(variant)
    for char in sorted(chars):
        if char in HELD_OUT or char.isspace() or unicodedata.category(char).startswith("C"):
            continue
        tokens += [char, "##" + char]
    unique = []
    for token in tokens:
        if token not in unique:
            unique.append(token)
    return unique


@pytest.fixture(scope="module")
def vocab_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("vocab")
    (folder / "vocab.txt").write_text("\n".join(_vocab_tokens()) + "\n", encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def vocab_file(vocab_dir):
    return str(vocab_dir / "vocab.txt")


def hf(vocab_dir, cls="BertTokenizer", **kwargs):
    """transformers v5's tokenizer (Rust backed) for the fixture vocabulary."""
    return getattr(transformers, cls).from_pretrained(str(vocab_dir), **kwargs)


def ours(vocab_file, fast: bool, cls="bert", **kwargs):
    if cls == "bert":
        klass = WordPieceTokenizerFast if fast else WordPieceTokenizer
    else:
        klass = DistilBertTokenizerFast if fast else DistilBertTokenizer
    return klass(vocab_file=vocab_file, **kwargs)


def outcome(tokenizer, *args, **kwargs):
    """The output as plain lists, or "error" when the call is refused.

    transformers reports truncation errors with a bare Exception, and a stride the
    Rust library cannot honour with a PanicException (a BaseException).
    """
    try:
        result = tokenizer(*args, **kwargs)
    except BaseException as exc:  # noqa: BLE001
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            raise
        if tokenizer.__module__.startswith("polyformer"):
            assert isinstance(exc, ValueError), f"expected ValueError, got {type(exc).__name__}: {exc}"
        return "error"
    return {key: (value.tolist() if hasattr(value, "tolist") else value) for key, value in result.items()}


NORMALIZATION = [(True, None), (False, None), (True, False), (False, True)]


# ---------------------------------------------------------------------------------------------
# Same ids as the oracles
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("lower,strip", NORMALIZATION)
def test_ids_match_tokenizers_and_transformers(vocab_dir, vocab_file, lower, strip):
    oracle_hf = hf(vocab_dir, do_lower_case=lower, strip_accents=strip)
    oracle_rust = BertWordPieceTokenizer(vocab_file, lowercase=lower, strip_accents=strip)
    slow = ours(vocab_file, False, do_lower_case=lower, strip_accents=strip)
    fast = ours(vocab_file, True, do_lower_case=lower, strip_accents=strip)
    expected = [encoding.ids for encoding in oracle_rust.encode_batch(CORPUS)]
    assert oracle_hf(CORPUS)["input_ids"] == expected  # the two oracles agree
    assert fast(CORPUS)["input_ids"] == expected
    assert slow(CORPUS)["input_ids"] == expected
    for text, ids in zip(CORPUS, expected):
        assert slow(text)["input_ids"] == ids, repr(text)
        assert slow.encode(text) == ids and fast.encode(text) == ids
        assert slow.tokenize(text) == fast.tokenize(text) == oracle_hf.tokenize(text)
    unk = slow.unk_token_id
    assert unk in expected[CORPUS.index("a" * 101)] and unk not in expected[CORPUS.index("a" * 100)]


@pytest.mark.parametrize("lower,strip", NORMALIZATION[:2])
def test_pairs_and_batches_match(vocab_dir, vocab_file, lower, strip):
    oracle = hf(vocab_dir, do_lower_case=lower)
    texts, pairs = [a for a, _ in PAIRS], [b for _, b in PAIRS]
    expected = outcome(oracle, texts, pairs)
    for fast in (False, True):
        tokenizer = ours(vocab_file, fast, do_lower_case=lower)
        assert outcome(tokenizer, texts, pairs) == expected
        assert outcome(tokenizer, texts, pairs, add_special_tokens=False, return_token_type_ids=True) == outcome(
            oracle, texts, pairs, add_special_tokens=False, return_token_type_ids=True)
        for a, b in PAIRS[:4]:
            assert outcome(tokenizer, a, b) == outcome(oracle, a, b)
        batch = tokenizer.batch_encode_plus(list(zip(texts, pairs)))
        assert batch["input_ids"] == expected["input_ids"]
        assert tokenizer.encode_plus(texts[0], pairs[0])["input_ids"] == expected["input_ids"][0]


def test_distilbert_has_no_token_type_ids_by_default(vocab_dir, vocab_file):
    oracle = hf(vocab_dir, "DistilBertTokenizer")
    for fast in (False, True):
        tokenizer = ours(vocab_file, fast, cls="distilbert")
        for kwargs in ({}, {"return_token_type_ids": True}, {"return_attention_mask": False}):
            assert outcome(tokenizer, PAIRS[0][0], PAIRS[0][1], **kwargs) == outcome(
                oracle, PAIRS[0][0], PAIRS[0][1], **kwargs)
        assert set(tokenizer("hello")) == {"input_ids", "attention_mask"}


# ---------------------------------------------------------------------------------------------
# Truncation, overflow, padding
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("strategy", [True, "longest_first", "only_first", "only_second"])
@pytest.mark.parametrize("side", ["right", "left"])
def test_truncation_strategies_match(vocab_dir, vocab_file, strategy, side):
    oracle = hf(vocab_dir)
    oracle.truncation_side = side
    tokenizers = [ours(vocab_file, fast, truncation_side=side) for fast in (False, True)]
    for max_length in (0, 1, 2, 3, 4, 5, 6, 8, 9, 13, 16, 40):
        kwargs = {"truncation": strategy, "max_length": max_length}
        for a, b in PAIRS:
            expected = outcome(oracle, a, b, **kwargs)
            for tokenizer in tokenizers:
                assert outcome(tokenizer, a, b, **kwargs) == expected, (a, b, kwargs)
        single = outcome(oracle, PAIRS[0][0], **kwargs)
        for tokenizer in tokenizers:
            assert outcome(tokenizer, PAIRS[0][0], **kwargs) == single


@pytest.mark.filterwarnings("ignore:A sequence of")
def test_max_length_alone_truncates_and_model_max_length_applies(vocab_dir, vocab_file):
    oracle = hf(vocab_dir, model_max_length=7)
    for fast in (False, True):
        tokenizer = ours(vocab_file, fast, model_max_length=7)
        text = PAIRS[0][0]
        assert outcome(tokenizer, text, max_length=5) == outcome(oracle, text, max_length=5)
        assert outcome(tokenizer, text, truncation=True) == outcome(oracle, text, truncation=True)
        assert len(tokenizer(text, truncation=True)["input_ids"]) == 7
        assert outcome(tokenizer, text, padding="max_length") == outcome(oracle, text, padding="max_length")
        with pytest.warns(UserWarning, match="longer than"):
            ours(vocab_file, fast, model_max_length=7)(text)


@pytest.mark.parametrize("strategy", ["longest_first", "only_first", "only_second"])
@pytest.mark.parametrize("side", ["right", "left"])
def test_stride_and_overflowing_tokens_match(vocab_dir, vocab_file, strategy, side):
    oracle = hf(vocab_dir)
    oracle.truncation_side = side
    slow, fast = ours(vocab_file, False, truncation_side=side), ours(vocab_file, True, truncation_side=side)
    texts = [a for a, _ in PAIRS[:3]] + [PAIRS[6][0]]
    pairs = [b for _, b in PAIRS[:3]] + [PAIRS[6][1]]
    for stride in (0, 1, 2, 4):
        for max_length in (6, 8, 10, 12, 16):
            kwargs = {"truncation": strategy, "max_length": max_length, "stride": stride,
                      "return_overflowing_tokens": True, "padding": True}
            for a, b in zip(texts, pairs):
                expected = outcome(oracle, a, b, **kwargs)
                assert outcome(fast, a, b, **kwargs) == expected, (a, b, kwargs)
                assert outcome(slow, a, b, **kwargs) == expected, (a, b, kwargs)
            if strategy != "only_second":
                expected = outcome(oracle, texts, **kwargs)
                assert outcome(fast, texts, **kwargs) == expected
                assert outcome(slow, texts, **kwargs) == expected
    result = fast(texts, truncation=True, max_length=8, stride=2, return_overflowing_tokens=True)
    assert len(result["input_ids"]) > len(texts)  # the windows really overflowed
    assert sorted(set(result["overflow_to_sample_mapping"])) == list(range(len(texts)))


def test_bad_stride_is_a_value_error_not_a_crash(vocab_file):
    long_text = PAIRS[0][0]
    for tokenizer in (ours(vocab_file, False), ours(vocab_file, True)):
        with pytest.raises(ValueError, match="stride"):
            tokenizer(long_text, truncation=True, max_length=8, stride=6, return_overflowing_tokens=True)
        with pytest.raises(ValueError, match="stride"):
            tokenizer(long_text, PAIRS[0][1], truncation=True, max_length=8, stride=5)
        with pytest.raises(ValueError):
            tokenizer(long_text, truncation="only_second", max_length=4)
        with pytest.raises(ValueError, match="stride"):
            tokenizer(long_text, truncation=True, max_length=8, stride=-1)


@pytest.mark.parametrize("side", ["right", "left"])
def test_padding_matches(vocab_dir, vocab_file, side):
    oracle = hf(vocab_dir, padding_side=side)
    tokenizers = [ours(vocab_file, fast, padding_side=side) for fast in (False, True)]
    batch = [a for a, _ in PAIRS] + CORPUS[:6]
    cases = [
        {"padding": True},
        {"padding": "longest", "pad_to_multiple_of": 8},
        {"padding": "max_length", "max_length": 20},
        {"padding": "max_length", "max_length": 24, "truncation": True, "pad_to_multiple_of": 8},
        {"padding": True, "truncation": True, "max_length": 9},
        {"padding": False},
        {"padding": "do_not_pad", "truncation": "do_not_truncate"},
        {"padding": True, "return_special_tokens_mask": True, "return_length": True},
        {"padding": True, "return_token_type_ids": False, "return_attention_mask": False},
    ]
    for kwargs in cases:
        expected = outcome(oracle, batch, **kwargs)
        for tokenizer in tokenizers:
            assert outcome(tokenizer, batch, **kwargs) == expected, kwargs
            assert outcome(tokenizer, batch[0], **kwargs) == outcome(oracle, batch[0], **kwargs), kwargs
    other = "left" if side == "right" else "right"
    for tokenizer in tokenizers:
        got = outcome(tokenizer, batch, padding=True, padding_side=other)
        assert got == outcome(hf(vocab_dir, padding_side=other), batch, padding=True)


def test_pad_method_matches(vocab_dir, vocab_file):
    oracle = hf(vocab_dir)
    examples = [oracle(text) for text in CORPUS[:5]]
    expected = oracle.pad([dict(e) for e in examples], padding=True, pad_to_multiple_of=4)
    for fast in (False, True):
        tokenizer = ours(vocab_file, fast)
        got = tokenizer.pad([dict(e) for e in examples], padding=True, pad_to_multiple_of=4)
        assert dict(got) == dict(expected)
        labelled = tokenizer.pad([{**e, "label": i} for i, e in enumerate(examples)], padding=True)
        assert labelled["label"] == list(range(5))  # keys that are not per-token are left alone
        assert labelled["input_ids"] == oracle.pad([dict(e) for e in examples], padding=True)["input_ids"]
        columns = {key: [e[key] for e in examples] for key in examples[0]}
        assert tokenizer.pad(columns, padding="max_length", max_length=30, return_tensors="np")["input_ids"].shape == (5, 30)


def test_bad_arguments_are_clear(vocab_file):
    for tokenizer in (ours(vocab_file, False), ours(vocab_file, True)):
        with pytest.raises(ValueError, match="padding"):
            tokenizer("hello", padding="sideways")
        with pytest.raises(ValueError, match="truncation"):
            tokenizer("hello", truncation="middle")
        with pytest.raises(ValueError, match="padding_side"):
            tokenizer("hello", padding=True, padding_side="up")
        with pytest.raises(TypeError, match="text"):
            tokenizer(42)
        with pytest.raises(ValueError, match="text_pair"):
            tokenizer(["a", "b"], ["c"])
        with pytest.raises(ValueError, match="pad_to_multiple_of"):
            tokenizer(["a", "b"], padding=True, truncation=True, max_length=10, pad_to_multiple_of=4)
    no_pad = WordPieceTokenizer(vocab_file=vocab_file, pad_token=None)
    with pytest.raises(ValueError, match="pad"):
        no_pad(["a", "a b"], padding=True)
    with pytest.raises(ValueError, match="padding_side"):
        WordPieceTokenizer(vocab_file=vocab_file, padding_side="middle")


# ---------------------------------------------------------------------------------------------
# Fast-only: offsets, word ids, pre-split words
# ---------------------------------------------------------------------------------------------


def test_offsets_word_ids_and_tokens_match(vocab_dir, vocab_file):
    oracle = hf(vocab_dir)
    fast = ours(vocab_file, True)
    texts, pairs = CORPUS[:20], [b for _, b in PAIRS] * 3
    pairs = pairs[: len(texts)]
    for args in ((texts,), (texts, pairs)):
        expected = oracle(*args, return_offsets_mapping=True, padding=True)
        got = fast(*args, return_offsets_mapping=True, padding=True)
        assert [list(map(tuple, row)) for row in got["offset_mapping"]] == [
            list(map(tuple, row)) for row in expected["offset_mapping"]]
        for i in range(len(texts)):
            assert got.word_ids(i) == expected.word_ids(i)
            assert got.tokens(i) == expected.tokens(i)
            assert got.sequence_ids(i) == expected.sequence_ids(i)
    single = fast("hello world", return_offsets_mapping=True)
    assert single["offset_mapping"] == [(0, 0), (0, 5), (6, 11), (0, 0)]  # character spans of the two words
    assert single.word_ids() == [None, 0, 1, None]
    assert isinstance(single, BatchEncoding) and single.input_ids == single["input_ids"]
    slow_output = ours(vocab_file, False)("hello world")
    with pytest.raises(ValueError, match="fast"):
        slow_output.word_ids()
    with pytest.raises(NotImplementedError, match="fast"):
        ours(vocab_file, False)("hello", return_offsets_mapping=True)


def test_pre_split_words_match(vocab_dir, vocab_file):
    oracle = hf(vocab_dir)
    words = [["Hello", "world!", "café"], ["中国", "un", "affable"], ["a" * 101, "x"]]
    expected = oracle(words, is_split_into_words=True, padding=True)
    for fast in (False, True):
        tokenizer = ours(vocab_file, fast)
        got = tokenizer(words, is_split_into_words=True, padding=True)
        assert dict(got) == dict(expected)
        assert tokenizer(words[0], is_split_into_words=True)["input_ids"] == oracle(
            words[0], is_split_into_words=True)["input_ids"]
        assert tokenizer(words[0], words[1], is_split_into_words=True)["input_ids"] == oracle(
            words[0], words[1], is_split_into_words=True)["input_ids"]
    got = ours(vocab_file, True)(words, is_split_into_words=True, padding=True)
    assert [got.word_ids(i) for i in range(3)] == [expected.word_ids(i) for i in range(3)]


# ---------------------------------------------------------------------------------------------
# Decoding
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("lower", [True, False])
def test_decode_matches(vocab_dir, vocab_file, lower):
    oracle = hf(vocab_dir, do_lower_case=lower)
    slow, fast = ours(vocab_file, False, do_lower_case=lower), ours(vocab_file, True, do_lower_case=lower)
    sequences = oracle(CORPUS + ["hello , world . don ' t isn't 'm 's 've 're ##s"])["input_ids"]
    sequences.append([oracle.cls_token_id, 10_000, oracle.mask_token_id])  # an id outside the vocabulary
    for skip in (False, True):
        for clean in (None, True, False):
            expected = oracle.batch_decode(sequences, skip_special_tokens=skip, clean_up_tokenization_spaces=clean)
            for tokenizer in (slow, fast):
                assert tokenizer.batch_decode(sequences, skip_special_tokens=skip,
                                              clean_up_tokenization_spaces=clean) == expected
                assert tokenizer.decode(sequences[0], skip_special_tokens=skip,
                                        clean_up_tokenization_spaces=clean) == expected[0]
    for tokenizer in (slow, fast):
        assert tokenizer.decode(np.array(sequences[1])) == oracle.decode(sequences[1])
        assert tokenizer.decode(sequences[1][3]) == oracle.decode(sequences[1][3])
        assert tokenizer.convert_ids_to_tokens(sequences[1]) == oracle.convert_ids_to_tokens(sequences[1])
        assert tokenizer.convert_ids_to_tokens(sequences[1], skip_special_tokens=True) == \
            oracle.convert_ids_to_tokens(sequences[1], skip_special_tokens=True)
        assert tokenizer.convert_tokens_to_ids(["hello", "no-such-token"]) == oracle.convert_tokens_to_ids(
            ["hello", "no-such-token"])
        assert tokenizer.convert_tokens_to_string(["un", "##aff", "##able", ",", "ok"]) == \
            oracle.convert_tokens_to_string(["un", "##aff", "##able", ",", "ok"])


# ---------------------------------------------------------------------------------------------
# Special and added tokens
# ---------------------------------------------------------------------------------------------


def test_special_tokens(vocab_dir, vocab_file):
    oracle = hf(vocab_dir)
    for fast in (False, True):
        tokenizer = ours(vocab_file, fast)
        assert tokenizer.special_tokens_map == oracle.special_tokens_map
        assert sorted(tokenizer.all_special_tokens) == sorted(oracle.all_special_tokens)
        assert sorted(tokenizer.all_special_ids) == sorted(oracle.all_special_ids)
        for name in ("unk", "sep", "pad", "cls", "mask"):
            assert getattr(tokenizer, f"{name}_token_id") == getattr(oracle, f"{name}_token_id")
        assert tokenizer.bos_token is None and tokenizer.bos_token_id is None
        assert len(tokenizer) == len(oracle) and tokenizer.vocab_size == oracle.vocab_size
        assert tokenizer.get_vocab() == oracle.get_vocab()
        assert tokenizer.num_special_tokens_to_add() == 2 and tokenizer.num_special_tokens_to_add(pair=True) == 3
        ids = oracle("hello world")["input_ids"]
        assert tokenizer.get_special_tokens_mask(ids, already_has_special_tokens=True) == \
            oracle.get_special_tokens_mask(ids, already_has_special_tokens=True)


@pytest.mark.parametrize("lower", [True, False])
def test_added_tokens_match_and_are_never_split(vocab_dir, vocab_file, lower):
    oracle = hf(vocab_dir, do_lower_case=lower)
    text = "NEWWORD newword NewWord helloxyhello Xy brandnewish a<Sp>b <sp> [MASK]NewWord"
    oracle.add_tokens(["NewWord", "hello", "brandnew", "xy"])
    oracle.add_special_tokens({"additional_special_tokens": ["<Sp>"]})
    for fast in (False, True):
        tokenizer = ours(vocab_file, fast, do_lower_case=lower)
        base = len(tokenizer)
        assert tokenizer.add_tokens(["NewWord", "hello", "brandnew", "xy"]) == 3  # "hello" is in the vocab already
        assert tokenizer.add_special_tokens({"additional_special_tokens": ["<Sp>"]}) == 1
        assert len(tokenizer) == base + 4 == len(oracle)
        new_ids = [tokenizer.convert_tokens_to_ids(t) for t in ("NewWord", "brandnew", "xy", "<Sp>")]
        assert new_ids == list(range(base, base + 4))  # appended after the vocabulary, in order
        assert new_ids == oracle.convert_tokens_to_ids(["NewWord", "brandnew", "xy", "<Sp>"])
        assert tokenizer(text)["input_ids"] == oracle(text)["input_ids"]
        assert tokenizer.additional_special_tokens == ["<Sp>"]
        assert tokenizer.decode(tokenizer("a<Sp>b brandnew")["input_ids"], skip_special_tokens=True) == \
            oracle.decode(oracle("a<Sp>b brandnew")["input_ids"], skip_special_tokens=True)
        assert tokenizer.add_tokens("NewWord") == 0 and tokenizer.add_tokens([]) == 0


def test_added_token_options_and_new_named_special_token(vocab_file):
    from tokenizers import AddedToken

    for fast in (False, True):
        tokenizer = ours(vocab_file, fast)
        tokenizer.add_tokens([AddedToken("<lx>", lstrip=True, rstrip=True), AddedToken("solo", single_word=True)])
        slow_ids = ours(vocab_file, False)
        slow_ids.add_tokens([AddedToken("<lx>", lstrip=True, rstrip=True), AddedToken("solo", single_word=True)])
        for text in ("a  <lx>  b", "x<lx>y", "solo insolo solo!", "solos"):
            assert tokenizer(text)["input_ids"] == slow_ids(text)["input_ids"], text
        assert tokenizer.add_special_tokens({"cls_token": "<C>"}) == 1
        ids = tokenizer("hello")["input_ids"]
        assert ids[0] == tokenizer.convert_tokens_to_ids("<C>") == len(tokenizer) - 1
        with pytest.raises(ValueError, match="not a special token name"):
            tokenizer.add_special_tokens({"weird_token": "<w>"})
    # the fast and slow tokenizers agree on the options too
    fast = ours(vocab_file, True)
    fast.add_tokens([AddedToken("<lx>", lstrip=True, rstrip=True), AddedToken("solo", single_word=True)])
    for text in ("a  <lx>  b", "x<lx>y", "solo insolo solo!", "solos"):
        assert fast(text)["input_ids"] == slow_ids(text)["input_ids"]


# ---------------------------------------------------------------------------------------------
# return_tensors
# ---------------------------------------------------------------------------------------------


def test_return_tensors(vocab_dir, vocab_file):
    oracle = hf(vocab_dir)
    batch = CORPUS[:4]
    for fast in (False, True):
        tokenizer = ours(vocab_file, fast)
        arrays = tokenizer(batch, padding=True, return_tensors="np")
        expected = oracle(batch, padding=True, return_tensors="np")
        for key in expected:
            assert isinstance(arrays[key], np.ndarray) and arrays[key].dtype == np.int64
            np.testing.assert_array_equal(arrays[key], expected[key])
        one = tokenizer("hello world", return_tensors="np")
        assert one["input_ids"].shape == (1, 4)
        with pytest.raises(ValueError, match="return_tensors") as info:
            tokenizer("hello", return_tensors="xx")
        assert "'np'" in str(info.value) and "'pt'" in str(info.value)
        with pytest.raises(ValueError, match="padding=True"):
            tokenizer(batch, return_tensors="np")
    torch = pytest.importorskip("torch")
    for fast in (False, True):
        tensors = ours(vocab_file, fast)(batch, padding=True, return_tensors="pt")
        expected = oracle(batch, padding=True, return_tensors="pt")
        for key in expected:
            assert isinstance(tensors[key], torch.Tensor) and tensors[key].dtype == torch.int64
            assert torch.equal(tensors[key], expected[key])


def test_import_stays_light_and_np_path_needs_no_framework(vocab_file):
    code = (
        "import sys, polyformer\n"
        "from polyformer import DistilBertTokenizer, DistilBertTokenizerFast\n"
        f"for cls in (DistilBertTokenizer, DistilBertTokenizerFast):\n"
        f"    cls(vocab_file={vocab_file!r})(['a b', 'a'], padding=True, return_tensors='np')\n"
        "heavy = [m for m in ('torch', 'tensorflow', 'jax', 'flax', 'keras', 'transformers') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# ---------------------------------------------------------------------------------------------
# Saving and loading
# ---------------------------------------------------------------------------------------------


def _check_same(a, b, texts=CORPUS):
    assert a(texts)["input_ids"] == b(texts)["input_ids"]
    assert a.decode(a(texts[0])["input_ids"]) == b.decode(b(texts[0])["input_ids"])


@pytest.mark.parametrize("fast", [False, True])
def test_save_and_reload(tmp_path, vocab_file, fast):
    tokenizer = ours(vocab_file, fast, cls="distilbert", do_lower_case=False, padding_side="left", model_max_length=512)
    tokenizer.add_tokens(["NewWord", "hello"])
    tokenizer.add_special_tokens({"additional_special_tokens": ["<Sp>"]})
    files = tokenizer.save_pretrained(tmp_path / "saved")
    names = sorted(p.name for p in (tmp_path / "saved").iterdir())
    expected_names = ["added_tokens.json", "special_tokens_map.json", "tokenizer_config.json", "vocab.txt"]
    assert names == sorted(expected_names + (["tokenizer.json"] if fast else []))  # nothing half-written left
    assert sorted(str(f).rpartition("/")[2] for f in files) == names
    assert load_vocab(tmp_path / "saved" / "vocab.txt") == load_vocab(vocab_file)
    config = json.loads((tmp_path / "saved" / "tokenizer_config.json").read_text())
    assert config["tokenizer_class"] == "DistilBertTokenizer" and config["do_lower_case"] is False
    added = json.loads((tmp_path / "saved" / "added_tokens.json").read_text())
    assert added == {"NewWord": len(load_vocab(vocab_file)), "<Sp>": len(load_vocab(vocab_file)) + 1}
    texts = CORPUS + ["NewWord hello <Sp> newword"]
    for cls in (DistilBertTokenizer, DistilBertTokenizerFast):
        again = cls.from_pretrained(tmp_path / "saved")
        _check_same(again, tokenizer, texts)
        assert again.padding_side == "left" and again.model_max_length == 512 and again.do_lower_case is False
        assert again.additional_special_tokens == ["<Sp>"] and len(again) == len(tokenizer)
        override = cls.from_pretrained(str(tmp_path / "saved"), padding_side="right", do_lower_case=True)
        assert override.padding_side == "right"
        assert override("Hello")["input_ids"] == ours(vocab_file, False)("Hello")["input_ids"]
        from_file = cls.from_pretrained(str(tmp_path / "saved" / "vocab.txt"), do_lower_case=False)
        assert from_file("Hello world")["input_ids"] == tokenizer("Hello world")["input_ids"]


@pytest.mark.parametrize("fast", [False, True])
def test_saved_folder_loads_in_transformers(tmp_path, vocab_file, fast):
    tokenizer = ours(vocab_file, fast, cls="distilbert", do_lower_case=False)
    tokenizer.add_tokens(["NewWord"])
    tokenizer.add_special_tokens({"additional_special_tokens": ["<Sp>"]})
    tokenizer.save_pretrained(tmp_path)
    theirs = transformers.AutoTokenizer.from_pretrained(str(tmp_path))
    texts = CORPUS + ["NewWord <Sp> newword NEWWORD"]
    assert theirs(texts)["input_ids"] == tokenizer(texts)["input_ids"]
    assert theirs(texts[:3], padding=True)["attention_mask"] == tokenizer(texts[:3], padding=True)["attention_mask"]
    assert "token_type_ids" not in theirs("hello")


def test_transformers_folder_loads_here(tmp_path, vocab_dir, vocab_file):
    theirs = hf(vocab_dir, "DistilBertTokenizer", do_lower_case=False, model_max_length=32, padding_side="left")
    theirs.add_tokens(["NewWord"])
    theirs.add_special_tokens({"additional_special_tokens": ["<Sp>"]})
    theirs.save_pretrained(str(tmp_path))
    texts = CORPUS + ["NewWord <Sp> newword NEWWORD"]
    expected = theirs(texts, padding=True, truncation=True)
    for cls in (DistilBertTokenizer, DistilBertTokenizerFast):
        tokenizer = cls.from_pretrained(tmp_path)
        assert dict(tokenizer(texts, padding=True, truncation=True)) == dict(expected)
        assert tokenizer.model_max_length == 32 and tokenizer.padding_side == "left"
        assert tokenizer.decode(expected["input_ids"][-1]) == theirs.decode(expected["input_ids"][-1])


def test_legacy_folder_with_added_tokens_json(tmp_path, vocab_file):
    """A folder in the older layout: vocab.txt, special_tokens_map.json and added_tokens.json only."""
    size = len(load_vocab(vocab_file))
    (tmp_path / "vocab.txt").write_bytes(open(vocab_file, "rb").read())
    (tmp_path / "special_tokens_map.json").write_text(json.dumps(
        {"unk_token": "[UNK]", "sep_token": "[SEP]", "pad_token": "[PAD]", "cls_token": "[CLS]",
         "mask_token": "[MASK]", "additional_special_tokens": ["<Sp>"]}))
    (tmp_path / "added_tokens.json").write_text(json.dumps({"brandnew": size, "<Sp>": size + 1}))
    (tmp_path / "tokenizer_config.json").write_text(json.dumps(
        {"do_lower_case": True, "tokenizer_class": "DistilBertTokenizer", "model_max_length": 512}))
    theirs = transformers.AutoTokenizer.from_pretrained(str(tmp_path))
    text = ["brandnew <Sp> hello brandnewer", "Hello"]
    for cls in (DistilBertTokenizer, DistilBertTokenizerFast):
        tokenizer = cls.from_pretrained(tmp_path)
        assert tokenizer(text)["input_ids"] == theirs(text)["input_ids"]
        assert tokenizer.convert_tokens_to_ids(["brandnew", "<Sp>"]) == [size, size + 1]
        assert tokenizer.additional_special_tokens == ["<Sp>"] and tokenizer.model_max_length == 512


def test_fast_from_vocab_only_or_tokenizer_json_only(tmp_path, vocab_file):
    reference = ours(vocab_file, False, cls="distilbert")
    (tmp_path / "vocab_only").mkdir()
    (tmp_path / "vocab_only" / "vocab.txt").write_text(open(vocab_file, encoding="utf-8").read(), encoding="utf-8")
    from_vocab = DistilBertTokenizerFast.from_pretrained(tmp_path / "vocab_only")
    _check_same(from_vocab, reference)
    from_vocab.save_pretrained(tmp_path / "full")
    (tmp_path / "json_only").mkdir()
    (tmp_path / "json_only" / "tokenizer.json").write_bytes((tmp_path / "full" / "tokenizer.json").read_bytes())
    for cls in (DistilBertTokenizerFast, DistilBertTokenizer):
        _check_same(cls.from_pretrained(tmp_path / "json_only"), reference)
    json_lowercase = json.loads((tmp_path / "full" / "tokenizer.json").read_text())["normalizer"]["lowercase"]
    assert json_lowercase is True
    cased = DistilBertTokenizerFast.from_pretrained(tmp_path / "json_only", do_lower_case=False)
    assert cased("Hello")["input_ids"] == ours(vocab_file, False, do_lower_case=False)("Hello")["input_ids"]


def test_cached_hub_id_loads(tmp_path, monkeypatch, vocab_file):
    """A hub id already in the local Hugging Face cache (the layout huggingface_hub writes)."""
    repo = tmp_path / "hub" / "models--some-org--tiny-distilbert"
    snapshot = repo / "snapshots" / "0123abcd"
    ours(vocab_file, True, cls="distilbert", do_lower_case=False).save_pretrained(snapshot)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0123abcd")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # the cache alone; downloads: tests/test_hub.py
    for cls in (DistilBertTokenizer, DistilBertTokenizerFast):
        tokenizer = cls.from_pretrained("some-org/tiny-distilbert")
        assert tokenizer("Hello World")["input_ids"] == ours(vocab_file, False, do_lower_case=False)(
            "Hello World")["input_ids"]
        assert tokenizer.name_or_path == "some-org/tiny-distilbert"


def test_missing_vocabulary_is_a_clear_error(tmp_path):
    (tmp_path / "empty").mkdir()
    for cls in (DistilBertTokenizer, DistilBertTokenizerFast):
        with pytest.raises(FileNotFoundError) as info:
            cls.from_pretrained(tmp_path / "empty")
        assert str(tmp_path / "empty") in str(info.value) and "vocab.txt" in str(info.value)
        with pytest.raises(FileNotFoundError, match="nope.txt"):
            cls(vocab_file=str(tmp_path / "nope.txt"))
        with pytest.raises(FileNotFoundError, match="'no-such-org/no-such-model'.*none of the files .*vocab.txt.* is "
                                                    "not in the Hugging Face cache"):
            cls.from_pretrained("no-such-org/no-such-model", cache_dir=tmp_path / "cache", local_files_only=True)
    with pytest.raises(ValueError, match="vocab_file"):
        DistilBertTokenizer()


def test_the_guide_call(tmp_path, monkeypatch, vocab_dir):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "my_vocab_file.txt").write_bytes((vocab_dir / "vocab.txt").read_bytes())
    import polyformer

    assert polyformer.DistilBertTokenizer is DistilBertTokenizer
    assert polyformer.DistilBertTokenizerFast is DistilBertTokenizerFast
    my_tokenizer = DistilBertTokenizer(vocab_file="my_vocab_file.txt", do_lower_case=False, padding_side="left")
    oracle = hf(vocab_dir, "DistilBertTokenizer", do_lower_case=False, padding_side="left")
    assert my_tokenizer.padding_side == "left" and my_tokenizer.do_lower_case is False
    batch = ["Hello World", "Hello"]
    assert dict(my_tokenizer(batch, padding=True)) == dict(oracle(batch, padding=True))
    assert my_tokenizer(batch, padding=True)["attention_mask"][1][0] == 0  # padded on the left


def test_auto_tokenizer_loads_both_kinds(tmp_path, vocab_file):
    auto = pytest.importorskip("polyformer.core.auto")
    ours(vocab_file, False, cls="distilbert").save_pretrained(tmp_path)
    assert type(auto.AutoTokenizer.from_pretrained(tmp_path)) is DistilBertTokenizerFast
    assert type(auto.AutoTokenizer.from_pretrained(tmp_path, use_fast=False)) is DistilBertTokenizer


# ---------------------------------------------------------------------------------------------
# The building blocks
# ---------------------------------------------------------------------------------------------

BASIC_TEXTS = [
    "Hello, World! [CLS] keep [SEP] this.",
    "Café naïve RÉSUMÉ señor",
    "中国 is 日本語 hello中world",
    "don't #hash $dollar 3.14 ^caret^",
    "\tTabs\nand  spaces\r\n",
    "ctrl\x00a\x07b",
]


@pytest.mark.parametrize("lower,strip", NORMALIZATION)
@pytest.mark.parametrize("chinese", [True, False])
@pytest.mark.parametrize("punc", [True, False])
def test_basic_tokenizer_matches_bert(lower, strip, chinese, punc):
    kwargs = dict(do_lower_case=lower, never_split=["[CLS]", "[SEP]"], tokenize_chinese_chars=chinese,
                  strip_accents=strip, do_split_on_punc=punc)
    mine, reference = BasicTokenizer(**kwargs), legacy.BasicTokenizer(**kwargs)
    for text in BASIC_TEXTS:
        assert mine.tokenize(text) == reference.tokenize(text), text
        assert mine.tokenize(text, never_split=["keep"]) == reference.tokenize(text, never_split=["keep"])


def test_wordpiece_tokenizer_matches_bert(vocab_file):
    vocab = load_vocab(vocab_file)
    for limit in (100, 5):
        mine = WordpieceTokenizer(vocab, "[UNK]", max_input_chars_per_word=limit)
        reference = legacy.WordpieceTokenizer(vocab, "[UNK]", max_input_chars_per_word=limit)
        for text in ["unaffable", "hello world", "a" * 100, "a" * 101, "zzz", "résumé", "helloworld", "ab"]:
            assert mine.tokenize(text) == reference.tokenize(text), (text, limit)
    assert WordpieceTokenizer(vocab, "[UNK]").tokenize("unaffable") == ["un", "##aff", "##able"]


def test_never_split_in_the_slow_tokenizer(vocab_file):
    tokenizer = WordPieceTokenizer(vocab_file=vocab_file, never_split=["Hello"])
    assert tokenizer.tokenize("Hello hello") == ["Hello", "hello"]


def test_vocab_files_round_trip(tmp_path, vocab_file):
    vocab = load_vocab(vocab_file)
    save_vocab(vocab, tmp_path / "vocab.txt")
    assert (tmp_path / "vocab.txt").read_bytes() == open(vocab_file, "rb").read()
    with pytest.warns(UserWarning, match="consecutive"):
        save_vocab({"a": 0, "b": 2}, tmp_path / "gappy.txt")
    reloaded = load_vocab(tmp_path / "gappy.txt")
    assert reloaded["a"] == 0 and reloaded["b"] == 2 and len(reloaded) == 3  # ids survive the gap
