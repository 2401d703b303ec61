"""WordPiece tokenization (BERT and its relatives), slow and fast, from ``vocab.txt`` or ``tokenizer.json``.

Building blocks, public so that every BERT-like architecture reuses them:

* :class:`BasicTokenizer`: BERT's text splitting (clean-up, lower casing, accent
  stripping, spaces around CJK characters, punctuation split, ``never_split``).
* :class:`WordpieceTokenizer`: greedy longest-match-first word pieces.
* :func:`load_vocab` / :func:`save_vocab`: the ``vocab.txt`` format (one token a line,
  the line number is the id).
* :func:`wordpiece_decode`: how word pieces are joined back into text.
* :class:`WordPieceTokenizer` (pure Python) and :class:`WordPieceTokenizerFast` (Rust
  ``tokenizers``): complete BERT-style tokenizers. An architecture's tokenizer is a thin
  subclass that only changes class attributes (``model_input_names``...).

The Python code follows the ``tokenizers`` BERT pipeline (``BertNormalizer``,
``BertPreTokenizer``, ``WordPiece`` model and decoder) rather than the original BERT
script where the two differ, so that slow and fast give the same ids:
lower casing is done character by character (no final-sigma rule), accents are
stripped before lower casing, the text is not NFC-normalized first, unassigned code
points (category Cn) are kept (so their word becomes [UNK]) where only control, format
and private-use characters are dropped, and the CJK ranges are the Rust ones.
``tests/test_tokenizer_fuzz.py`` checks it on a fuzz corpus over all of Unicode. The
only characters left out are those whose Unicode data differs between Python's
``unicodedata`` and the older or newer tables compiled into ``tokenizers``.
"""

from __future__ import annotations

import json
import os
import unicodedata
import warnings
from pathlib import Path
from typing import Any

from .io import atomic_write_text
from .tokenization import (
    PreTrainedTokenizer,
    PreTrainedTokenizerBase,
    PreTrainedTokenizerFast,
    _is_white_space,
    _lone_surrogate_error,
)

__all__ = [
    "BasicTokenizer",
    "WordpieceTokenizer",
    "load_vocab",
    "save_vocab",
    "wordpiece_decode",
    "WordPieceTokenizer",
    "WordPieceTokenizerFast",
    "VOCAB_FILES_NAMES",
]

VOCAB_FILES_NAMES = {"vocab_file": "vocab.txt", "tokenizer_file": "tokenizer.json"}


# ---------------------------------------------------------------------------------------------
# Vocabulary files
# ---------------------------------------------------------------------------------------------


def load_vocab(vocab_file: str | os.PathLike) -> dict[str, int]:
    """Read ``vocab.txt``: token -> id, the id being the line number (from 0)."""
    path = Path(vocab_file)
    if not path.is_file():
        raise FileNotFoundError(f"vocabulary file not found: '{path}' (expected a vocab.txt with one token a line)")
    vocab: dict[str, int] = {}
    with open(path, encoding="utf-8") as handle:
        for index, line in enumerate(handle):
            vocab[line.rstrip("\n")] = index
    return vocab


def save_vocab(vocab: dict[str, int], vocab_file: str | os.PathLike) -> str:
    """Write ``vocab`` as ``vocab.txt`` (atomically): line ``i`` holds the token of id ``i``.

    The format cannot leave an id out (a vocab.txt with a repeated line gives such gaps),
    so a missing id gets a placeholder line ``[unused_id_<i>]``: every token keeps its id
    when the file is read back. A warning says when that happens.
    """
    by_id = {index: token for token, index in vocab.items()}
    size = max(by_id, default=-1) + 1
    gaps = [index for index in range(size) if index not in by_id]
    if gaps:
        warnings.warn(
            f"vocabulary ids are not consecutive ({len(gaps)} missing, e.g. {gaps[0]}); {vocab_file} gets "
            f"placeholder lines there so that every token keeps its id",
            stacklevel=2,
        )
    lines = [by_id.get(index, f"[unused_id_{index}]") for index in range(size)]
    atomic_write_text(vocab_file, "".join(token + "\n" for token in lines))
    return os.fspath(vocab_file)


# ---------------------------------------------------------------------------------------------
# Character classes (as the tokenizers BertNormalizer / BertPreTokenizer define them)
# ---------------------------------------------------------------------------------------------
#
# The Rust code reads these properties from three places: the `unicode_categories` crate
# (control, nonspacing mark, punctuation), Rust's `char` (white space, lower case) and the
# `unicode-normalization-alignments` crate (NFD). Each is written here as the same Unicode
# definition, read from Python's `unicodedata`. The Unicode versions of those tables and of
# `unicodedata` differ, so characters whose data changed between versions can still be
# treated differently; tests/test_tokenizer_fuzz.py finds them and checks everything else.

#: What `unicode_categories` calls "other": control, format and private use. Unassigned
#: code points (Cn) are not in it, so they are kept (and become [UNK] like any unknown word).
_CONTROL_CATEGORIES = frozenset({"Cc", "Cf", "Co"})

#: BertNormalizer's CJK ranges, exactly as the Rust code writes them. Its sixth range starts
#: at U+2B920, not at U+2B820 where CJK Extension E starts, so U+2B820..U+2B91F are not
#: spaced out there; they are not here either.
_CJK_RANGES = (
    (0x4E00, 0x9FFF),
    (0x3400, 0x4DBF),
    (0x20000, 0x2A6DF),
    (0x2A700, 0x2B73F),
    (0x2B740, 0x2B81F),
    (0x2B920, 0x2CEAF),
    (0xF900, 0xFAFF),
    (0x2F800, 0x2FA1F),
)


def _is_control(char: str) -> bool:
    """Dropped by the clean-up: control, format and private-use characters, except tab and line breaks."""
    return char not in "\t\n\r" and unicodedata.category(char) in _CONTROL_CATEGORIES


def _is_punctuation(char: str) -> bool:
    """ASCII symbols count as punctuation too (``$``, ``+``, ``^``...), as in BERT."""
    cp = ord(char)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(char).startswith("P")


def _is_chinese_char(cp: int) -> bool:
    """CJK Unified Ideographs blocks (not Hangul, Hiragana or Katakana, which BERT treats as letters)."""
    return any(low <= cp <= high for low, high in _CJK_RANGES)


#: How many characters each translation table remembers (text spanning all of Unicode must
#: not grow them without bound; characters past the limit are worked out again each time).
_TABLE_LIMIT = 1 << 16


class _CharTable(dict):
    """A ``str.translate`` table that works out a character's replacement the first time it is seen.

    ``str.translate`` walks the text in C and looks each character up here, so known
    characters cost a dict lookup; only new ones call ``rule`` (str -> str, or None to drop).
    """

    def __init__(self, rule) -> None:
        super().__init__()
        self._rule = rule

    def __missing__(self, code_point: int) -> str | None:
        value = self._rule(chr(code_point))
        if len(self) < _TABLE_LIMIT:
            self[code_point] = value
        return value


def _clean_rule(spaced_cjk: bool):
    """The clean-up of BertNormalizer (drop NUL, U+FFFD and control characters; any white space
    becomes a space), then, when asked, spaces around CJK ideographs."""

    def rule(char: str) -> str | None:
        if "\ud800" <= char <= "\udfff":  # not a character: refused like the fast tokenizer does
            raise _lone_surrogate_error("text", char)
        if char == "\x00" or char == "\ufffd" or _is_control(char):
            return None
        if _is_white_space(char):
            return " "
        if spaced_cjk and _is_chinese_char(ord(char)):
            return f" {char} "
        return char

    return rule


def _drop_nonspacing_mark(char: str) -> str | None:
    return None if unicodedata.category(char) == "Mn" else char


def _finish_rule(lower: bool, split_punctuation: bool):
    """Lower casing, character by character (no final-sigma rule), then spaces around
    punctuation so that splitting on spaces also isolates it (BertPreTokenizer)."""

    def rule(char: str) -> str:
        text = char.lower() if lower else char
        if split_punctuation:
            text = "".join(f" {c} " if _is_punctuation(c) else c for c in text)
        return text

    return rule


#: The shared tables, one per rule and options: clean-up (with or without CJK spacing),
#: accent stripping, and lower casing / punctuation splitting.
_CLEAN = {cjk: _CharTable(_clean_rule(cjk)) for cjk in (True, False)}
_STRIP = _CharTable(_drop_nonspacing_mark)
_FINISH = {(lower, punc): _CharTable(_finish_rule(lower, punc)) for lower in (True, False) for punc in (True, False)}


class BasicTokenizer:
    """BERT's basic tokenization: text -> words and punctuation, before word pieces.

    It does what the ``tokenizers`` BertNormalizer and BertPreTokenizer do, in the same
    order: drop control characters and turn white space into spaces, put spaces around
    CJK ideographs, strip accents (NFD, then drop nonspacing marks), lower-case each
    character, split on white space, isolate punctuation.

    Args:
        do_lower_case: lower-case the text.
        never_split: words kept as they are (not lower-cased, not split on punctuation).
        tokenize_chinese_chars: put spaces around CJK ideographs, so each is a word.
        strip_accents: remove accents; None (the default) means "strip when lower casing",
            the rule of the original BERT.
        do_split_on_punc: split punctuation off words.
    """

    def __init__(
        self,
        do_lower_case: bool = True,
        never_split: list[str] | None = None,
        tokenize_chinese_chars: bool = True,
        strip_accents: bool | None = None,
        do_split_on_punc: bool = True,
    ) -> None:
        self.do_lower_case = do_lower_case
        self.never_split = set(never_split or ())
        self.tokenize_chinese_chars = tokenize_chinese_chars
        self.strip_accents = strip_accents
        self.do_split_on_punc = do_split_on_punc

    @property
    def _strips_accents(self) -> bool:
        return self.strip_accents if self.strip_accents is not None else self.do_lower_case

    def tokenize(self, text: str, never_split: list[str] | None = None) -> list[str]:
        """Split ``text`` into words and punctuation marks, normalized."""
        never_split = self.never_split.union(never_split) if never_split else self.never_split
        text = text.translate(_CLEAN[bool(self.tokenize_chinese_chars)])
        finish = _FINISH[bool(self.do_lower_case), bool(self.do_split_on_punc)]
        if not never_split or never_split.isdisjoint(text.split()):
            return self._strip(text).translate(finish).split()
        tokens: list[str] = []
        for word in text.split():
            tokens.extend([word] if word in never_split else self._strip(word).translate(finish).split())
        return tokens

    def normalize(self, text: str) -> str:
        """The whole text normalized as ``tokenize`` normalizes it (without splitting it)."""
        text = text.translate(_CLEAN[bool(self.tokenize_chinese_chars)])
        return self._strip(text).translate(_FINISH[bool(self.do_lower_case), False])

    def _strip(self, text: str) -> str:
        if not self._strips_accents or text.isascii():
            return text
        return unicodedata.normalize("NFD", text).translate(_STRIP)


class WordpieceTokenizer:
    """Greedy longest-match-first split of words into vocabulary pieces.

    ``"unaffable"`` -> ``["un", "##aff", "##able"]``. A word with a part that matches
    nothing, or longer than ``max_input_chars_per_word`` characters, becomes the
    unknown token as a whole.
    """

    def __init__(
        self,
        vocab: dict[str, int],
        unk_token: str,
        max_input_chars_per_word: int = 100,
        continuing_subword_prefix: str = "##",
    ) -> None:
        self.vocab = vocab
        self.unk_token = unk_token
        self.max_input_chars_per_word = max_input_chars_per_word
        self.continuing_subword_prefix = continuing_subword_prefix
        self._longest = (-1, 0)  # (vocabulary size, longest entry) when last measured

    def tokenize(self, text: str) -> list[str]:
        """Word pieces of each whitespace-separated word of ``text``."""
        output: list[str] = []
        for word in text.split():
            output.extend(self._split_word(word))
        return output

    def _longest_entry(self) -> int:
        """The length of the longest vocabulary entry: no longer candidate needs looking up."""
        if self._longest[0] != len(self.vocab):
            self._longest = (len(self.vocab), max(map(len, self.vocab), default=0))
        return self._longest[1]

    def _split_word(self, word: str) -> list[str]:
        if len(word) > self.max_input_chars_per_word:
            return [self.unk_token]
        longest = self._longest_entry()
        pieces = []
        start = 0
        while start < len(word):
            end = min(len(word), start + longest)  # the same result as trying from len(word), sooner
            piece = None
            while start < end:
                candidate = word[start:end]
                if start > 0:
                    candidate = self.continuing_subword_prefix + candidate
                if candidate in self.vocab:
                    piece = candidate
                    break
                end -= 1
            if piece is None:
                return [self.unk_token]
            pieces.append(piece)
            start = end
        return pieces


def _cleanup(token: str) -> str:
    """The clean-up of the ``tokenizers`` WordPiece decoder, applied to each decoded token:
    the usual English clean-up, plus its own " do not" -> " don't"."""
    return PreTrainedTokenizerBase.clean_up_tokenization(token).replace(" do not", " don't")


def wordpiece_decode(tokens: list[str], prefix: str = "##", cleanup: bool = True) -> str:
    """Join word pieces into text as the ``tokenizers`` WordPiece decoder does.

    A piece starting with ``prefix`` is glued to the previous one, any other token gets a
    space before it (the first token is left as it is), and each token gets the
    decoder's punctuation clean-up.
    """
    parts = []
    for index, token in enumerate(tokens):
        if index > 0:
            token = token[len(prefix):] if token.startswith(prefix) else " " + token
        parts.append(_cleanup(token) if cleanup else token)
    return "".join(parts)


# ---------------------------------------------------------------------------------------------
# Complete tokenizers
# ---------------------------------------------------------------------------------------------


def _read_tokenizer_json(tokenizer_file: str | os.PathLike) -> dict[str, Any]:
    path = Path(tokenizer_file)
    if not path.is_file():
        raise FileNotFoundError(f"tokenizer file not found: '{path}'")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path} is not valid JSON (line {exc.lineno}: {exc.msg})") from None
    return data


def _normalizer_settings(tokenizer_json: dict[str, Any] | None) -> dict[str, Any]:
    """The BertNormalizer options of a ``tokenizer.json`` (empty if it has another normalizer)."""
    normalizer = (tokenizer_json or {}).get("normalizer") or {}
    if normalizer.get("type") != "BertNormalizer":
        return {}
    return {
        "do_lower_case": normalizer.get("lowercase"),
        "strip_accents": normalizer.get("strip_accents"),
        "tokenize_chinese_chars": normalizer.get("handle_chinese_chars"),
    }


def _bert_options(tokenizer_json, do_lower_case, strip_accents, tokenize_chinese_chars) -> dict[str, Any]:
    """Explicit arguments win; then what ``tokenizer.json`` says; then BERT's defaults."""
    from_file = _normalizer_settings(tokenizer_json)

    def pick(name, value, default):
        if value is not None:
            return value
        return from_file[name] if from_file.get(name) is not None else default

    return {
        "do_lower_case": pick("do_lower_case", do_lower_case, True),
        "strip_accents": pick("strip_accents", strip_accents, None),
        "tokenize_chinese_chars": pick("tokenize_chinese_chars", tokenize_chinese_chars, True),
    }


def _max_chars(value: int | None, tokenizer_json: dict[str, Any] | None) -> int:
    """``max_input_chars_per_word``: the argument, else the ``tokenizer.json`` WordPiece model's, else 100."""
    if value is None:
        value = ((tokenizer_json or {}).get("model") or {}).get("max_input_chars_per_word", 100)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"max_input_chars_per_word must be an int >= 0 (the longest word kept), got {value!r}")
    return value


class _BertSpecialTokens:
    """Where BERT puts its special tokens: ``[CLS] A [SEP]`` and ``[CLS] A [SEP] B [SEP]``.

    Shared by the slow and the fast WordPiece tokenizer (the fast one's post-processor is
    built from the same template).
    """

    def _cls_ids(self) -> list[int]:
        return [] if self.cls_token is None else [self.cls_token_id]

    def _sep_ids(self) -> list[int]:
        return [] if self.sep_token is None else [self.sep_token_id]

    def build_inputs_with_special_tokens(self, token_ids_0: list[int], token_ids_1: list[int] | None = None) -> list[int]:
        ids = self._cls_ids() + token_ids_0 + self._sep_ids()
        if token_ids_1 is not None:
            ids += token_ids_1 + self._sep_ids()
        return ids

    def create_token_type_ids_from_sequences(self, token_ids_0: list[int], token_ids_1: list[int] | None = None) -> list[int]:
        first = len(self._cls_ids()) + len(token_ids_0) + len(self._sep_ids())
        if token_ids_1 is None:
            return [0] * first
        return [0] * first + [1] * (len(token_ids_1) + len(self._sep_ids()))

    def get_special_tokens_mask(
        self, token_ids_0: list[int], token_ids_1: list[int] | None = None, already_has_special_tokens: bool = False
    ) -> list[int]:
        if already_has_special_tokens:
            return super().get_special_tokens_mask(token_ids_0, token_ids_1, already_has_special_tokens=True)
        cls, sep = [1] * len(self._cls_ids()), [1] * len(self._sep_ids())
        mask = cls + [0] * len(token_ids_0) + sep
        if token_ids_1 is not None:
            mask += [0] * len(token_ids_1) + sep
        return mask


class WordPieceTokenizer(_BertSpecialTokens, PreTrainedTokenizer):
    """A BERT-style WordPiece tokenizer in pure Python.

    Built from ``vocab_file`` (``vocab.txt``) or ``tokenizer_file`` (a ``tokenizer.json``
    with a WordPiece model, as ``transformers`` v5 saves). ``do_lower_case``,
    ``strip_accents`` and ``tokenize_chinese_chars`` left at None take the value of the
    ``tokenizer.json`` normalizer, or BERT's defaults (True, follow lower casing, True);
    ``max_input_chars_per_word`` that of its WordPiece model, or 100.
    """

    vocab_files_names = VOCAB_FILES_NAMES
    model_input_names = ["input_ids", "token_type_ids", "attention_mask"]

    def __init__(
        self,
        vocab_file: str | os.PathLike | None = None,
        do_lower_case: bool | None = None,
        do_basic_tokenize: bool = True,
        never_split: list[str] | None = None,
        unk_token: str = "[UNK]",
        sep_token: str = "[SEP]",
        pad_token: str = "[PAD]",
        cls_token: str = "[CLS]",
        mask_token: str = "[MASK]",
        tokenize_chinese_chars: bool | None = None,
        strip_accents: bool | None = None,
        tokenizer_file: str | os.PathLike | None = None,
        max_input_chars_per_word: int | None = None,
        **kwargs: Any,
    ) -> None:
        tokenizer_json = None
        if vocab_file is not None:
            self.vocab = load_vocab(vocab_file)
        elif tokenizer_file is not None:
            tokenizer_json = _read_tokenizer_json(tokenizer_file)
            model = tokenizer_json.get("model") or {}
            if model.get("type") != "WordPiece":
                raise ValueError(f"{tokenizer_file} holds a {model.get('type')} model, not WordPiece")
            self.vocab = dict(model["vocab"])
            if "added_tokens_decoder" not in kwargs or not kwargs["added_tokens_decoder"]:
                kwargs["added_tokens_decoder"] = {
                    entry["id"]: {k: v for k, v in entry.items() if k != "id"}
                    for entry in tokenizer_json.get("added_tokens", [])
                }
        else:
            raise ValueError(f"{type(self).__name__} needs vocab_file (vocab.txt) or tokenizer_file (tokenizer.json)")
        self.ids_to_tokens = {index: token for token, index in self.vocab.items()}
        options = _bert_options(tokenizer_json, do_lower_case, strip_accents, tokenize_chinese_chars)
        self.do_lower_case = options["do_lower_case"]
        self.strip_accents = options["strip_accents"]
        self.tokenize_chinese_chars = options["tokenize_chinese_chars"]
        self.do_basic_tokenize = do_basic_tokenize
        self.basic_tokenizer = BasicTokenizer(
            do_lower_case=self.do_lower_case,
            never_split=never_split,
            tokenize_chinese_chars=self.tokenize_chinese_chars,
            strip_accents=self.strip_accents,
        )
        self.wordpiece_tokenizer = WordpieceTokenizer(self.vocab, unk_token=str(unk_token),
                                                      max_input_chars_per_word=_max_chars(max_input_chars_per_word,
                                                                                          tokenizer_json))
        if max_input_chars_per_word is not None:  # the argument wins over tokenizer.json, and is saved
            kwargs["max_input_chars_per_word"] = max_input_chars_per_word
        super().__init__(
            unk_token=unk_token,
            sep_token=sep_token,
            pad_token=pad_token,
            cls_token=cls_token,
            mask_token=mask_token,
            **options,
            do_basic_tokenize=do_basic_tokenize,
            never_split=never_split,
            **kwargs,
        )

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    def get_base_vocab(self) -> dict[str, int]:
        return dict(self.vocab)

    def _convert_token_to_id(self, token: str) -> int | None:
        return self.vocab.get(token)

    def _convert_id_to_token(self, index: int) -> str | None:
        return self.ids_to_tokens.get(index)

    def normalize_text(self, text: str) -> str:
        return self.basic_tokenizer.normalize(text) if self.do_basic_tokenize else text

    def _tokenize(self, text: str) -> list[str]:
        if self.do_basic_tokenize:
            # Special and added tokens were already taken out of the text, as tokenizers does.
            words = self.basic_tokenizer.tokenize(text)
        else:
            words = text.split()
        tokens: list[str] = []
        for word in words:
            if word in self.basic_tokenizer.never_split:
                tokens.append(word)
            else:
                tokens.extend(self.wordpiece_tokenizer.tokenize(word))
        return tokens

    def convert_tokens_to_string(self, tokens: list[str]) -> str:
        return wordpiece_decode(tokens, prefix=self.wordpiece_tokenizer.continuing_subword_prefix)

    def save_vocabulary(self, save_directory: Path) -> tuple[str, ...]:
        """Write ``vocab.txt``."""
        return (save_vocab(self.vocab, Path(save_directory) / VOCAB_FILES_NAMES["vocab_file"]),)


def build_wordpiece_backend(
    vocab: dict[str, int],
    unk_token: str = "[UNK]",
    do_lower_case: bool = True,
    strip_accents: bool | None = None,
    tokenize_chinese_chars: bool = True,
    max_input_chars_per_word: int = 100,
):
    """A ``tokenizers.Tokenizer`` doing BERT's tokenization with ``vocab``.

    BertNormalizer, BertPreTokenizer, WordPiece model and WordPiece decoder; the
    post-processor (special tokens) is set by :class:`WordPieceTokenizerFast`.
    """
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers

    backend = Tokenizer(models.WordPiece(vocab=dict(vocab), unk_token=str(unk_token),
                                         max_input_chars_per_word=max_input_chars_per_word))
    backend.normalizer = normalizers.BertNormalizer(
        clean_text=True,
        handle_chinese_chars=tokenize_chinese_chars,
        strip_accents=strip_accents,
        lowercase=do_lower_case,
    )
    backend.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    backend.decoder = decoders.WordPiece(prefix="##")
    return backend


class WordPieceTokenizerFast(_BertSpecialTokens, PreTrainedTokenizerFast):
    """A BERT-style WordPiece tokenizer on the Rust ``tokenizers`` library.

    From ``tokenizer_file`` (``tokenizer.json``) when given, else built from
    ``vocab_file`` (``vocab.txt``). Explicit ``do_lower_case`` / ``strip_accents`` /
    ``tokenize_chinese_chars`` / ``max_input_chars_per_word`` replace the settings of a
    loaded ``tokenizer.json``; left at None they keep them. ``never_split`` and
    ``do_basic_tokenize=False`` only exist in the slow tokenizer.
    """

    vocab_files_names = VOCAB_FILES_NAMES
    model_input_names = ["input_ids", "token_type_ids", "attention_mask"]
    slow_tokenizer_class = WordPieceTokenizer

    def __init__(
        self,
        vocab_file: str | os.PathLike | None = None,
        tokenizer_file: str | os.PathLike | None = None,
        do_lower_case: bool | None = None,
        unk_token: str = "[UNK]",
        sep_token: str = "[SEP]",
        pad_token: str = "[PAD]",
        cls_token: str = "[CLS]",
        mask_token: str = "[MASK]",
        tokenize_chinese_chars: bool | None = None,
        strip_accents: bool | None = None,
        tokenizer_object=None,
        max_input_chars_per_word: int | None = None,
        **kwargs: Any,
    ) -> None:
        from tokenizers import Tokenizer, models, normalizers

        if kwargs.get("never_split"):
            warnings.warn(
                f"never_split={kwargs['never_split']!r} is only honoured by the slow tokenizer "
                f"({self.slow_tokenizer_class.__name__}): the Rust pipeline has no such step, so "
                f"{type(self).__name__} splits those words like any other. To keep a word whole in both, "
                f"add it with add_tokens (e.g. AddedToken(word, single_word=True, normalized=False)).",
                stacklevel=2,
            )
        tokenizer_json = None
        if tokenizer_object is None and tokenizer_file is not None:
            tokenizer_json = _read_tokenizer_json(tokenizer_file)
            tokenizer_object = Tokenizer.from_str(json.dumps(tokenizer_json))
        elif tokenizer_object is not None:  # work on a copy: the caller's object stays as it is
            tokenizer_json = json.loads(tokenizer_object.to_str())
            tokenizer_object = Tokenizer.from_str(tokenizer_object.to_str())
        options = _bert_options(tokenizer_json, do_lower_case, strip_accents, tokenize_chinese_chars)
        max_chars = _max_chars(max_input_chars_per_word, tokenizer_json)
        if tokenizer_object is None:
            if vocab_file is None:
                raise ValueError(
                    f"{type(self).__name__} needs tokenizer_file (tokenizer.json), vocab_file (vocab.txt) "
                    f"or tokenizer_object"
                )
            tokenizer_object = build_wordpiece_backend(load_vocab(vocab_file), unk_token, **options,
                                                       max_input_chars_per_word=max_chars)
        elif _normalizer_settings(tokenizer_json) and _normalizer_settings(tokenizer_json) != options:
            # The arguments asked for other normalization than tokenizer.json has.
            clean_text = tokenizer_json["normalizer"].get("clean_text", True)
            tokenizer_object.normalizer = normalizers.BertNormalizer(
                clean_text=clean_text,
                handle_chinese_chars=options["tokenize_chinese_chars"],
                strip_accents=options["strip_accents"],
                lowercase=options["do_lower_case"],
            )
        if max_input_chars_per_word is not None:  # the argument wins over tokenizer.json, and is saved
            if isinstance(tokenizer_object.model, models.WordPiece):
                tokenizer_object.model.max_input_chars_per_word = max_chars
            kwargs["max_input_chars_per_word"] = max_input_chars_per_word
        self.do_lower_case = options["do_lower_case"]
        self.strip_accents = options["strip_accents"]
        self.tokenize_chinese_chars = options["tokenize_chinese_chars"]
        super().__init__(
            tokenizer_object=tokenizer_object,
            unk_token=unk_token,
            sep_token=sep_token,
            pad_token=pad_token,
            cls_token=cls_token,
            mask_token=mask_token,
            **options,
            **kwargs,
        )
        self._on_special_tokens_changed()

    def _on_special_tokens_changed(self) -> None:
        """Rebuild the post-processor so it inserts the current [CLS] and [SEP]."""
        from tokenizers import processors

        cls, sep = self.cls_token, self.sep_token
        if cls is None or sep is None:
            self._tokenizer.post_processor = processors.TemplateProcessing(single="$A:0", pair="$A:0 $B:1")
            return
        self._tokenizer.post_processor = processors.TemplateProcessing(
            single=f"{cls}:0 $A:0 {sep}:0",
            pair=f"{cls}:0 $A:0 {sep}:0 $B:1 {sep}:1",
            special_tokens=[(cls, self.cls_token_id), (sep, self.sep_token_id)],
        )

    def save_vocabulary(self, save_directory: Path) -> tuple[str, ...]:
        """Write ``tokenizer.json`` and, for the slow tokenizer, ``vocab.txt``."""
        files = super().save_vocabulary(save_directory)
        vocab = self._tokenizer.get_vocab(with_added_tokens=False)
        return files + (save_vocab(vocab, Path(save_directory) / VOCAB_FILES_NAMES["vocab_file"]),)
