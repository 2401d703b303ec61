"""Wav2Vec2's CTC tokenizer: characters in, characters out, with CTC decoding.

A CTC model predicts one token per audio frame, repeating a character while it lasts
and emitting the pad token (the CTC "blank") between characters. Encoding is
therefore character by character (a space becomes the word delimiter ``|``), and
decoding first merges runs of the same token, then drops the blanks, then turns the
delimiter back into a space: ``H H E <pad> L L <pad> L O`` reads ``HELLO``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from itertools import groupby
from pathlib import Path
from typing import Any

from ...core.io import atomic_write_text
from ...core.outputs import ModelOutput
from ...core.tokenization import AddedToken, PreTrainedTokenizer, _compile_added
from ...core.wordpiece import load_vocab

__all__ = ["Wav2Vec2CTCTokenizer", "Wav2Vec2CTCTokenizerOutput", "load_ctc_vocab", "VOCAB_FILES_NAMES"]

VOCAB_FILES_NAMES = {"vocab_file": "vocab.json"}


@dataclass(repr=False, eq=False)
class Wav2Vec2CTCTokenizerOutput(ModelOutput):
    """A decoded transcription with, when asked for, where each character / word starts and ends (in frames)."""

    text: list[str] | str = None
    char_offsets: list | None = None
    word_offsets: list | None = None


def load_ctc_vocab(vocab_file: str | os.PathLike) -> dict[str, Any]:
    """Read a CTC vocabulary: ``vocab.json`` (token -> id, or language -> {token -> id}), or plain text.

    A file that is not a JSON object and does not end in ``.json`` is read as one token
    per line, the line number (from 0) being the id, like a BERT ``vocab.txt``.
    ``save_pretrained`` always writes ``vocab.json``, the file transformers reads.
    """
    path = Path(vocab_file)
    if not path.is_file():
        raise FileNotFoundError(f"vocabulary file not found: '{path}' (expected a vocab.json of token -> id)")
    text = path.read_text(encoding="utf-8")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        if path.suffix == ".json":
            raise ValueError(f"{path} is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from None
        data = None
    if isinstance(data, dict):
        vocabularies = data.values() if data and all(isinstance(v, dict) for v in data.values()) else [data]
        for vocabulary in vocabularies:
            bad = [token for token, index in vocabulary.items() if isinstance(index, bool) or not isinstance(index, int)]
            if bad:
                raise ValueError(f"{path}: every token must map to an integer id; {bad[0]!r} does not")
        return data
    if path.suffix == ".json":
        raise ValueError(f"{path} must hold a JSON object of token -> id, found {type(data).__name__}")
    return load_vocab(path)


class Wav2Vec2CTCTokenizer(PreTrainedTokenizer):
    """Construct a Wav2Vec2 CTC tokenizer from ``vocab_file``.

    ``vocab_file`` is a ``vocab.json`` (token -> id) as transformers writes it, or a plain
    text file with one token a line (see :func:`load_ctc_vocab`). A multi-lingual
    ``vocab.json`` (language -> vocabulary, as facebook/mms-1b-all) needs ``target_lang``.

    Encoding is character by character; ``" "`` becomes ``word_delimiter_token``. With
    ``do_lower_case`` the text is upper-cased before lookup (CTC vocabularies are
    upper-case) and decoded text is lower-cased. Tokens of several characters in the
    vocabulary (``<pad>``, ``<unk>``...) are matched whole in the text and swallow the
    spaces around them, as in transformers. No special tokens are added around a
    sequence.

    >>> tokenizer = Wav2Vec2CTCTokenizer(vocab_file="my_vocab_file.txt")
    """

    vocab_files_names = VOCAB_FILES_NAMES
    model_input_names = ["input_ids", "attention_mask"]

    def __init__(
        self,
        vocab_file: str | os.PathLike,
        bos_token: str | AddedToken = "<s>",
        eos_token: str | AddedToken = "</s>",
        unk_token: str | AddedToken = "<unk>",
        pad_token: str | AddedToken = "<pad>",
        word_delimiter_token: str = "|",
        replace_word_delimiter_char: str = " ",
        do_lower_case: bool = False,
        target_lang: str | None = None,
        **kwargs: Any,
    ) -> None:
        self._word_delimiter_token = word_delimiter_token
        self.replace_word_delimiter_char = replace_word_delimiter_char
        self.do_lower_case = do_lower_case
        self.vocab = load_ctc_vocab(vocab_file)
        self.target_lang = target_lang
        self.encoder = self._language_vocab(target_lang)
        self.decoder = {index: token for token, index in self.encoder.items()}
        super().__init__(
            bos_token=bos_token,
            eos_token=eos_token,
            unk_token=unk_token,
            pad_token=pad_token,
            word_delimiter_token=word_delimiter_token,
            replace_word_delimiter_char=replace_word_delimiter_char,
            do_lower_case=do_lower_case,
            target_lang=target_lang,
            **kwargs,
        )
        self._add_vocabulary_tokens()

    # -- vocabulary ------------------------------------------------------------------------
    def _language_vocab(self, target_lang: str | None) -> dict[str, int]:
        nested = bool(self.vocab) and all(isinstance(v, dict) for v in self.vocab.values())
        if target_lang is None:
            if nested:
                raise ValueError(
                    f"this vocabulary is multi-lingual: pass target_lang, one of {', '.join(sorted(self.vocab))}"
                )
            return self.vocab
        if not nested:
            raise ValueError(f"target_lang={target_lang!r} was given, but the vocabulary is not multi-lingual")
        if target_lang not in self.vocab:
            raise ValueError(
                f"target_lang={target_lang!r} is not in the vocabulary; choose one of {', '.join(sorted(self.vocab))}")
        return self.vocab[target_lang]

    def _add_vocabulary_tokens(self) -> None:
        """Mark the word delimiter special and multi-character vocabulary tokens unsplittable, as transformers does."""
        delimiter = self._word_delimiter_token
        if delimiter is not None and delimiter not in self._added_tokens_encoder:
            self._add_tokens([AddedToken(delimiter, special=True, normalized=False)])
        self._add_tokens([AddedToken(token, rstrip=True, lstrip=True, normalized=False)
                          for token in self.encoder if len(token) > 1])

    def set_target_lang(self, target_lang: str) -> None:
        """Switch a multi-lingual tokenizer to the vocabulary of ``target_lang``."""
        self.encoder = self._language_vocab(target_lang)
        self.target_lang = target_lang
        self.decoder = {index: token for token, index in self.encoder.items()}
        # Added tokens that sat on ids of the new vocabulary give way to it.
        for index in [i for i in self._added_tokens_decoder if i in self.decoder]:
            self._added_tokens_encoder.pop(self._added_tokens_decoder.pop(index).content, None)
        self._add_vocabulary_tokens()

    @property
    def vocab_size(self) -> int:
        return len(self.decoder)

    def get_base_vocab(self) -> dict[str, int]:
        return dict(self.encoder)

    @property
    def word_delimiter_token(self) -> str | None:
        """The token that stands for a space between words (``"|"``)."""
        return None if self._word_delimiter_token is None else str(self._word_delimiter_token)

    @word_delimiter_token.setter
    def word_delimiter_token(self, value: str | None) -> None:
        self._word_delimiter_token = value

    @property
    def word_delimiter_token_id(self) -> int | None:
        return None if self._word_delimiter_token is None else self.convert_tokens_to_ids(self.word_delimiter_token)

    @property
    def special_tokens_map(self) -> dict[str, Any]:
        result = super().special_tokens_map
        if self._word_delimiter_token is not None:
            result["word_delimiter_token"] = self.word_delimiter_token
        return result

    @property
    def all_special_tokens(self) -> list[str]:
        """The named special tokens and the word delimiter (as transformers lists them)."""
        tokens = super().all_special_tokens
        if self._word_delimiter_token is not None and self.word_delimiter_token not in tokens:
            tokens.append(self.word_delimiter_token)
        return tokens

    # -- encoding --------------------------------------------------------------------------
    def _added_token_patterns(self) -> tuple:
        """Every added token in one pass, longest first, as transformers' Python tokenizers find them.

        This tokenizer has no text normaliser, so ``normalized`` changes nothing; one pass is
        what keeps an added token that contains the delimiter (``">>|<<"``) whole instead of
        cut around the special ``"|"``.
        """
        if self._patterns is None:
            every = _compile_added(list(self._added_tokens_decoder.values()), lambda token: token.content)
            self._patterns = (every, (None, []))
        return self._patterns

    def _tokenize(self, text: str) -> list[str]:
        if self.do_lower_case:
            text = text.upper()
        delimiter = self.word_delimiter_token
        return [delimiter if char == " " and delimiter is not None else char for char in text]

    def _convert_token_to_id(self, token: str) -> int | None:
        return self.encoder.get(token)

    def _convert_id_to_token(self, index: int) -> str | None:
        return self.decoder.get(index)

    def _id_to_token(self, index: int) -> str | None:
        # The language vocabulary first (it may have replaced an added token's id), and the
        # unknown token for an id outside the vocabulary, as transformers decodes it.
        token = self.decoder.get(index)
        if token is None and index in self._added_tokens_decoder:
            token = self._added_tokens_decoder[index].content
        return self.unk_token if token is None else token

    # -- decoding --------------------------------------------------------------------------
    def decode(
        self,
        token_ids,
        skip_special_tokens: bool = False,
        clean_up_tokenization_spaces: bool | None = None,
        group_tokens: bool = True,
        spaces_between_special_tokens: bool = False,
        output_char_offsets: bool = False,
        output_word_offsets: bool = False,
    ):
        """CTC-decode one sequence of ids (list, array or tensor, e.g. the argmax of the logits).

        Runs of the same token collapse to one (``group_tokens``), pad tokens (CTC blanks)
        are dropped, the word delimiter becomes ``replace_word_delimiter_char``.
        ``skip_special_tokens`` also drops ``<s>``, ``</s>``, ``<unk>`` (never the delimiter).
        With ``output_char_offsets`` / ``output_word_offsets`` a
        :class:`Wav2Vec2CTCTokenizerOutput` comes back, whose offsets count frames.
        """
        if hasattr(token_ids, "tolist"):
            token_ids = token_ids.tolist()
        if isinstance(token_ids, int):
            token_ids = [token_ids]
        if token_ids and isinstance(token_ids[0], list):
            raise TypeError("decode() takes one sequence of ids; use batch_decode() for a batch")
        tokens = [self._id_to_token(int(index)) for index in token_ids]
        tokens = [token for token in tokens if token is not None]  # unknown ids when there is no unk_token
        if skip_special_tokens:
            skip = set(self.all_special_tokens) - {self.word_delimiter_token}
            tokens = [token for token in tokens if token not in skip]
        text, char_offsets, word_offsets = self._ctc_text(
            tokens, group_tokens, spaces_between_special_tokens, output_char_offsets or output_word_offsets
        )
        if clean_up_tokenization_spaces is None:
            clean_up_tokenization_spaces = self.clean_up_tokenization_spaces
        if clean_up_tokenization_spaces:
            text = self.clean_up_tokenization(text)
        if not (output_char_offsets or output_word_offsets):
            return text
        return Wav2Vec2CTCTokenizerOutput(
            text=text,
            char_offsets=char_offsets if output_char_offsets else None,
            word_offsets=word_offsets if output_word_offsets else None,
        )

    def batch_decode(
        self,
        sequences,
        skip_special_tokens: bool = False,
        clean_up_tokenization_spaces: bool | None = None,
        group_tokens: bool = True,
        spaces_between_special_tokens: bool = False,
        output_char_offsets: bool = False,
        output_word_offsets: bool = False,
    ):
        """:meth:`decode` each sequence of a batch; with offsets, one output holding lists."""
        if hasattr(sequences, "tolist"):
            sequences = sequences.tolist()
        decoded = [
            self.decode(sequence, skip_special_tokens=skip_special_tokens,
                        clean_up_tokenization_spaces=clean_up_tokenization_spaces, group_tokens=group_tokens,
                        spaces_between_special_tokens=spaces_between_special_tokens,
                        output_char_offsets=output_char_offsets, output_word_offsets=output_word_offsets)
            for sequence in sequences
        ]
        if not (output_char_offsets or output_word_offsets):
            return decoded
        return Wav2Vec2CTCTokenizerOutput(
            text=[d.text for d in decoded],
            char_offsets=[d.char_offsets for d in decoded] if output_char_offsets else None,
            word_offsets=[d.word_offsets for d in decoded] if output_word_offsets else None,
        )

    def convert_tokens_to_string(
        self,
        tokens: list[str],
        group_tokens: bool = True,
        spaces_between_special_tokens: bool = False,
        output_char_offsets: bool = False,
        output_word_offsets: bool = False,
    ) -> dict[str, Any]:
        """CTC-decode frame tokens to ``{"text", "char_offsets", "word_offsets"}``, as transformers returns it.

        The offsets are None unless asked for (both are empty lists for no tokens). Unlike
        other tokenizers this is a dict, not a string, because the offsets come from the
        same pass over the tokens.
        """
        if not tokens:
            return {"text": "", "char_offsets": [], "word_offsets": []}
        text, char_offsets, word_offsets = self._ctc_text(
            tokens, group_tokens, spaces_between_special_tokens, output_char_offsets or output_word_offsets
        )
        return {
            "text": text,
            "char_offsets": char_offsets if output_char_offsets else None,
            "word_offsets": word_offsets if output_word_offsets else None,
        }

    def _ctc_text(self, tokens: list[str], group_tokens: bool, spaces_between: bool, offsets: bool) -> tuple:
        """``(text, char_offsets, word_offsets)`` of frame tokens; offsets only when asked."""
        if group_tokens:
            runs = [(token, len(list(run))) for token, run in groupby(tokens)]
        else:
            runs = [(token, 1) for token in tokens]
        chars, char_offsets, start = [], [], 0
        for token, length in runs:
            if token != self.pad_token:
                char = self.replace_word_delimiter_char if token == self.word_delimiter_token else token
                chars.append(char)
                char_offsets.append({"char": char, "start_offset": start, "end_offset": start + length})
            start += length
        text = (" " if spaces_between else "").join(chars).strip()
        if self.do_lower_case:
            text = text.lower()
        if not offsets:
            return text, None, None
        return text, char_offsets, _word_offsets(char_offsets, self.replace_word_delimiter_char)

    # -- saving ----------------------------------------------------------------------------
    def _config_for_saving(self) -> dict[str, Any]:
        config = super()._config_for_saving()
        config.update(
            word_delimiter_token=self.word_delimiter_token,
            replace_word_delimiter_char=self.replace_word_delimiter_char,
            do_lower_case=self.do_lower_case,
            target_lang=self.target_lang,
        )
        return config

    def save_vocabulary(self, save_directory: Path) -> tuple[str, ...]:
        """Write ``vocab.json`` (the whole vocabulary, every language of a multi-lingual one)."""
        path = Path(save_directory) / VOCAB_FILES_NAMES["vocab_file"]
        atomic_write_text(path, json.dumps(self.vocab, indent=2, sort_keys=True, ensure_ascii=False) + "\n")
        return (str(path),)


def _word_offsets(char_offsets: list[dict], delimiter: str) -> list[dict]:
    """Group character offsets into words, split on ``delimiter`` characters."""
    words = []
    for is_space, group in groupby(char_offsets, key=lambda offset: offset["char"] == delimiter):
        if not is_space:
            group = list(group)
            words.append({"word": "".join(o["char"] for o in group),
                          "start_offset": group[0]["start_offset"], "end_offset": group[-1]["end_offset"]})
    return words
