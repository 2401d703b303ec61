"""Tokenizers: text in, token ids out, in the Hugging Face format.

Four classes live here:

* :class:`BatchEncoding`: what a tokenizer returns, a ``dict`` of lists (or tensors)
  readable by key or attribute, plus the ``tokenizers`` encodings of a fast tokenizer.
* :class:`PreTrainedTokenizerBase`: everything slow and fast tokenizers share, written
  once: special tokens, argument checking for padding and truncation, the encoding
  entry points (``__call__``, ``encode``, ``encode_plus``, ``batch_encode_plus``),
  ``pad``, tensor conversion, ``decode``, ``add_tokens``, ``save_pretrained`` and
  ``from_pretrained``.
* :class:`PreTrainedTokenizer`: pure Python. A subclass supplies ``_tokenize`` and the
  vocabulary; this class adds the added-token handling, truncation and padding.
* :class:`PreTrainedTokenizerFast`: wraps a Rust ``tokenizers.Tokenizer`` and uses its
  batch encoding, truncation (with ``stride`` and overflowing windows), padding,
  offsets and word ids.

Why slow and fast agree: ``transformers`` v5 tokenizes with the Rust library only, so
its behaviour *is* the Rust behaviour. The slow tokenizer therefore follows the Rust
rules, including the ones the old Python tokenizers did differently: how
``longest_first`` shares the budget of a pair, the order of overflowing windows, which
type ids a pair gets without special tokens, and that an added token marked
``normalized`` is matched in the normalized text. Both classes then give the same ids.

Files on disk are the Hugging Face ones (``tokenizer_config.json``,
``special_tokens_map.json``, ``added_tokens.json``, the vocabulary files,
``tokenizer.json``), so folders move freely between polyformer and ``transformers``.
"""

from __future__ import annotations

import copy
import json
import os
import re
import unicodedata
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tokenizers import AddedToken

from .hub import SourceFolder, contained_path, pop_hub_options
from .io import atomic_path, check_not_interrupted, folder_transaction
from .tensors import stack_as_array, tensor_converter

__all__ = [
    "AddedToken",
    "BatchEncoding",
    "PreTrainedTokenizerBase",
    "PreTrainedTokenizer",
    "PreTrainedTokenizerFast",
    "SPECIAL_TOKENS_ATTRIBUTES",
    "TOKENIZER_CONFIG_FILE",
    "SPECIAL_TOKENS_MAP_FILE",
    "ADDED_TOKENS_FILE",
    "TOKENIZER_FILE",
    "VERY_LARGE_INTEGER",
]

TOKENIZER_CONFIG_FILE = "tokenizer_config.json"
SPECIAL_TOKENS_MAP_FILE = "special_tokens_map.json"
ADDED_TOKENS_FILE = "added_tokens.json"
TOKENIZER_FILE = "tokenizer.json"

#: ``model_max_length`` of a tokenizer that knows no limit (the value ``transformers`` writes).
VERY_LARGE_INTEGER = int(1e30)
#: Above this, ``model_max_length`` means "no limit": padding or truncating to it is skipped.
LARGE_INTEGER = int(1e20)

#: The named special tokens every tokenizer has (each may be None).
SPECIAL_TOKENS_ATTRIBUTES = (
    "bos_token",
    "eos_token",
    "unk_token",
    "sep_token",
    "pad_token",
    "cls_token",
    "mask_token",
)

#: Keys of a saved config that only describe where files came from; never passed back to __init__.
_LOADER_ONLY_KEYS = (
    "tokenizer_class",
    "auto_map",
    "init_inputs",
    "name_or_path",
    "is_local",
    "local_files_only",
    "files_loaded",
    "backend",
)


#: from_pretrained arguments of transformers that mean nothing here (no remote code; AutoTokenizer reads use_fast).
_IGNORED_KWARGS = ("trust_remote_code", "use_fast", "proxies")

# ---------------------------------------------------------------------------------------------
# Small helpers
# ---------------------------------------------------------------------------------------------


def _as_added_token(token: Any, special: bool) -> AddedToken:
    """An :class:`AddedToken` for ``token`` (str, AddedToken or its JSON dict).

    A plain string becomes ``normalized`` unless it is special, as in the ``tokenizers``
    library, so slow and fast tokenizers match it the same way.
    """
    if isinstance(token, AddedToken):
        return token
    if isinstance(token, str):
        return AddedToken(token, special=special, normalized=not special)
    if isinstance(token, Mapping) and "content" in token:
        return AddedToken(**{k: v for k, v in token.items() if k != "__type"})
    raise TypeError(f"a token must be a str or a tokenizers.AddedToken, got {type(token).__name__}: {token!r}")


def _added_token_json(token: AddedToken) -> dict[str, Any]:
    return dict(token.__getstate__())


def _as_special(token: AddedToken) -> AddedToken:
    """``token`` marked special (a copy; the caller's object is left alone)."""
    if token.special:
        return token
    state = _added_token_json(token)
    state["special"] = True
    return AddedToken(**state)


def _content(token: Any) -> str:
    """The text of a token given as a str, an AddedToken or its JSON dict."""
    return token.get("content", "") if isinstance(token, Mapping) else str(token)


def _plain(value: Any) -> Any:
    """Numpy arrays and framework tensors as Python lists (or scalars); anything else unchanged."""
    return value.tolist() if hasattr(value, "tolist") else value


def _to_int_list(values: Any) -> list:
    """Lists, tuples, numpy arrays and framework tensors (anything with ``tolist``) as Python lists."""
    if hasattr(values, "tolist"):
        values = values.tolist()
    if isinstance(values, (int, np.integer)):
        return [int(values)]
    return list(values)


def _jsonable(value: Any) -> Any:
    """Config values as JSON: AddedTokens as their dict, paths as strings, sets as sorted lists."""
    if isinstance(value, AddedToken):
        return {"__type": "AddedToken", **_added_token_json(value)}
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (set, frozenset)):
        return sorted(_jsonable(v) for v in value)
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if hasattr(value, "tolist"):
        return value.tolist()
    return value


def _read_json(path: Path) -> Any:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path} is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from None


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _lone_surrogate_error(what: str, char: str, index: int | None = None) -> ValueError:
    where = f"U+{ord(char):04X}" + ("" if index is None else f" at index {index}")
    return ValueError(
        f"{what} holds a lone surrogate ({where}), which is not a Unicode character; expected valid "
        f"Unicode text (decode bytes with errors='replace', not 'surrogateescape')"
    )


def _refuse_lone_surrogates(text: str, what: str) -> None:
    """Refuse text holding a lone surrogate (as bytes decoded with ``errors="surrogateescape"`` give).

    It is not Unicode text and has no UTF-8 form: the Rust library cannot take it, so the
    Python tokenizers refuse it the same way instead of quietly dropping it.
    """
    if text.isascii():
        return
    found = _LONE_SURROGATE.search(text)
    if found:
        raise _lone_surrogate_error(what, found.group(), found.start())


# ---------------------------------------------------------------------------------------------
# Truncation rules (those of the Rust `tokenizers` library, used by slow and fast alike)
# ---------------------------------------------------------------------------------------------


def _truncation_lengths(len_a: int, len_b: int | None, max_len: int, strategy: str) -> tuple[int, int | None]:
    """How many tokens of each sequence to keep so that both fit in ``max_len``.

    ``max_len`` excludes the special tokens. The rules are those of ``tokenizers``:
    ``longest_first`` keeps a short sequence whole and gives the rest to the long one,
    or splits the budget in two halves (the first sequence gets the smaller half when
    both are equally long); ``only_first`` / ``only_second`` cut one sequence and fail
    when that sequence would have to disappear entirely.
    """
    if max_len == 0:  # no room at all: every sequence is emptied, whatever the strategy
        return 0, None if len_b is None else 0
    total = len_a + (len_b or 0)
    if total <= max_len:
        return len_a, len_b
    if strategy == "longest_first":
        if len_b is None:
            return max_len, None
        short, long = (len_b, len_a) if len_a > len_b else (len_a, len_b)
        if short > max_len:
            long = short
        else:
            long = max(short, max_len - short)
        if short + long > max_len:
            short = max_len // 2
            long = short + max_len % 2
        return (long, short) if len_a > len_b else (short, long)
    to_remove = total - max_len
    if strategy == "only_second" and len_b is None:
        raise ValueError(
            "truncation='only_second' needs pairs of sequences (text_pair), but a single sequence was given"
        )
    target = len_a if strategy == "only_first" else len_b
    if target <= to_remove:
        which = "first" if strategy == "only_first" else "second"
        raise ValueError(
            f"truncation={strategy!r} cannot make this input fit max_length: the {which} sequence has "
            f"{target} tokens but {to_remove} must be removed. Use truncation='longest_first' or a larger max_length."
        )
    return (len_a - to_remove, len_b) if strategy == "only_first" else (len_a, len_b - to_remove)


def _windows(ids: list[int], keep: int, stride: int, side: str) -> list[list[int]]:
    """``ids`` cut into windows of ``keep`` tokens; the first is the kept part, the rest overflow.

    Consecutive windows overlap by ``stride`` tokens. With ``side="left"`` the kept part is
    the end of the sequence and the windows walk backwards, as in ``tokenizers``.
    """
    n = len(ids)
    if keep >= n:
        return [ids]
    if keep == 0:
        return [[], ids]
    if stride >= keep:
        raise ValueError(
            f"stride ({stride}) must be smaller than the number of tokens kept per window ({keep}): "
            f"that is max_length minus the special tokens, shared between the two sequences of a pair"
        )
    step = keep - stride
    windows = []
    if side == "right":
        for start in range(0, n, step):
            stop = min(start + keep, n)
            windows.append(ids[start:stop])
            if stop == n:
                break
    else:
        for stop in range(n, 0, -step):
            start = max(0, stop - keep)
            windows.append(ids[start:stop])
            if start == 0:
                break
    return windows


def _pair_windows(windows_a: list[list[int]], windows_b: list[list[int]] | None) -> list[tuple]:
    """Combine the windows of a pair in the order ``tokenizers`` lists overflowing encodings."""
    if windows_b is None:
        return [(window, None) for window in windows_a]
    first_a, first_b = windows_a[0], windows_b[0]
    combos = [(first_a, first_b)]
    for a in windows_a[1:]:
        combos.append((a, first_b))
        combos.extend((a, b) for b in windows_b[1:])
    combos.extend((first_a, b) for b in windows_b[1:])
    return combos


@dataclass
class _EncodeOptions:
    """Every knob of one encoding call, resolved and checked once by the base class."""

    add_special_tokens: bool
    padding: str | None  # None, "longest" or "max_length"
    truncation: str | None  # None, "longest_first", "only_first" or "only_second"
    max_length: int | None
    stride: int
    pad_to_multiple_of: int | None
    padding_side: str
    is_split_into_words: bool
    return_token_type_ids: bool
    return_attention_mask: bool
    return_overflowing_tokens: bool
    return_special_tokens_mask: bool
    return_offsets_mapping: bool


# ---------------------------------------------------------------------------------------------
# BatchEncoding
# ---------------------------------------------------------------------------------------------


class BatchEncoding(dict):
    """The output of a tokenizer: ``input_ids``, ``attention_mask``... by key or attribute.

    Values are Python lists, or tensors after :meth:`convert_to_tensors` (what
    ``return_tensors`` does). Outputs of a fast tokenizer also keep the ``tokenizers``
    encodings, which answer :meth:`tokens`, :meth:`word_ids` and :meth:`sequence_ids`.
    """

    def __init__(
        self,
        data: Mapping | None = None,
        encodings: list | None = None,
        tensor_type: str | None = None,
        prepend_batch_axis: bool = False,
    ) -> None:
        super().__init__(data or {})
        self._encodings = encodings
        if tensor_type is not None:
            self.convert_to_tensors(tensor_type, prepend_batch_axis=prepend_batch_axis)

    def __getattr__(self, name: str):
        if name.startswith("__"):  # keep copy / pickle protocols out of the dict
            raise AttributeError(name)
        try:
            return self[name]
        except KeyError:
            raise AttributeError(f"BatchEncoding has no key or attribute '{name}'") from None

    def __getitem__(self, key):
        if isinstance(key, int):
            if self._encodings is None:
                raise KeyError(
                    "Indexing a BatchEncoding by integer gives the tokenizers Encoding of that row, which only "
                    "fast tokenizers produce; use a key such as 'input_ids'."
                )
            return self._encodings[key]
        return super().__getitem__(key)

    @property
    def encodings(self) -> list | None:
        """The ``tokenizers.Encoding`` of each row (fast tokenizers only, else None)."""
        return self._encodings

    @property
    def is_fast(self) -> bool:
        return self._encodings is not None

    def _encoding(self, batch_index: int, what: str):
        if self._encodings is None:
            raise ValueError(f"{what}() is only available on the output of a fast tokenizer (PreTrainedTokenizerFast)")
        return self._encodings[batch_index]

    def tokens(self, batch_index: int = 0) -> list[str]:
        """The token strings of row ``batch_index``, special and padding tokens included."""
        return self._encoding(batch_index, "tokens").tokens

    def word_ids(self, batch_index: int = 0) -> list[int | None]:
        """For each token of row ``batch_index``, the index of the word it comes from (None for special tokens)."""
        return self._encoding(batch_index, "word_ids").word_ids

    def sequence_ids(self, batch_index: int = 0) -> list[int | None]:
        """For each token, 0 or 1 for the sequence of the pair it belongs to (None for special tokens)."""
        return self._encoding(batch_index, "sequence_ids").sequence_ids

    def convert_to_tensors(self, tensor_type: str | None = None, prepend_batch_axis: bool = False) -> BatchEncoding:
        """Turn every value into a ``tensor_type`` tensor ("np", "pt", or a type a backend registers)."""
        convert = tensor_converter(tensor_type)
        if convert is None:
            return self
        for key, value in list(self.items()):
            if prepend_batch_axis:
                value = [value]
            array = stack_as_array(key, value, "its sequences have different lengths. Pass padding=True "
                                               "(and truncation=True for inputs longer than the model allows).")
            if array.dtype.kind in "iub" and array.dtype != np.int64:
                array = array.astype(np.int64)
            self[key] = convert(array)
        return self


# ---------------------------------------------------------------------------------------------
# The shared base class
# ---------------------------------------------------------------------------------------------


def _special_token_property(name: str) -> property:
    def get(self) -> str | None:
        value = self._special_tokens.get(name)
        return None if value is None else str(value)

    def set(self, value) -> None:
        if value is not None and not isinstance(value, (str, AddedToken)):
            raise TypeError(f"{name} must be a str, a tokenizers.AddedToken or None, got {type(value).__name__}")
        self._special_tokens[name] = value
        self._on_special_tokens_changed()

    return property(get, set, doc=f"The {name.replace('_', ' ')} as a string (None if the tokenizer has none).")


def _special_token_id_property(name: str) -> property:
    def get(self) -> int | None:
        token = getattr(self, name)
        return None if token is None else self.convert_tokens_to_ids(token)

    def set(self, value: int | None) -> None:
        setattr(self, name, None if value is None else self.convert_ids_to_tokens(value))

    return property(get, set, doc=f"The id of the {name.replace('_', ' ')} (None if unset).")


class PreTrainedTokenizerBase:
    """What every tokenizer does, whatever computes the tokens.

    Subclasses provide: ``_encode_rows`` (text -> unpadded or padded rows),
    ``_decode_ids``, the vocabulary access (``_token_to_id``, ``_id_to_token``,
    ``vocab_size``, ``get_vocab``, ``added_tokens_decoder``), ``_add_tokens``,
    ``num_special_tokens_to_add`` and ``save_vocabulary``.
    """

    #: ``{__init__ argument: file name}`` of the vocabulary files ``from_pretrained`` looks for.
    vocab_files_names: dict[str, str] = {}
    #: The inputs the model takes; decides whether token_type_ids / attention_mask are returned.
    model_input_names: list[str] = ["input_ids", "token_type_ids", "attention_mask"]
    padding_side: str = "right"
    truncation_side: str = "right"

    bos_token = _special_token_property("bos_token")
    eos_token = _special_token_property("eos_token")
    unk_token = _special_token_property("unk_token")
    sep_token = _special_token_property("sep_token")
    pad_token = _special_token_property("pad_token")
    cls_token = _special_token_property("cls_token")
    mask_token = _special_token_property("mask_token")
    bos_token_id = _special_token_id_property("bos_token")
    eos_token_id = _special_token_id_property("eos_token")
    unk_token_id = _special_token_id_property("unk_token")
    sep_token_id = _special_token_id_property("sep_token")
    pad_token_id = _special_token_id_property("pad_token")
    cls_token_id = _special_token_id_property("cls_token")
    mask_token_id = _special_token_id_property("mask_token")

    def __init__(self, **kwargs: Any) -> None:
        # What save_pretrained writes back: every argument, including ones we do not know
        # (a tokenizer_config.json written by another library round-trips).
        self.init_kwargs = dict(kwargs)
        self.name_or_path = os.fspath(kwargs.pop("name_or_path", ""))

        self._special_tokens: dict[str, str | AddedToken | None] = {}
        for name in SPECIAL_TOKENS_ATTRIBUTES:
            value = kwargs.pop(name, None)
            if value is not None and not isinstance(value, (str, AddedToken)):
                value = _as_added_token(value, special=True)  # a JSON dict from a config file
            self._special_tokens[name] = value
        extra = kwargs.pop("additional_special_tokens", None)
        extra_v5 = kwargs.pop("extra_special_tokens", None)
        extra = extra if extra is not None else extra_v5
        if isinstance(extra, Mapping):  # transformers v5 may store named extra tokens
            extra = list(extra.values())
        self._extra_special_tokens = [
            t if isinstance(t, (str, AddedToken)) else _as_added_token(t, special=True) for t in (extra or [])
        ]

        model_max_length = kwargs.pop("model_max_length", kwargs.pop("max_len", None))
        self.model_max_length = int(model_max_length) if model_max_length is not None else VERY_LARGE_INTEGER
        self.padding_side = self._check_side("padding_side", kwargs.pop("padding_side", type(self).padding_side))
        self.truncation_side = self._check_side(
            "truncation_side", kwargs.pop("truncation_side", type(self).truncation_side)
        )
        self.model_input_names = list(kwargs.pop("model_input_names", type(self).model_input_names))
        # False as in transformers v5: decoding returns what the decoder builds, untouched.
        self.clean_up_tokenization_spaces = bool(kwargs.pop("clean_up_tokenization_spaces", False))
        self._warned_too_long = False

    @staticmethod
    def _check_side(name: str, value: str) -> str:
        if value not in ("right", "left"):
            raise ValueError(f"{name} must be 'right' or 'left', got {value!r}")
        return value

    # -- special tokens ---------------------------------------------------------------------
    @property
    def additional_special_tokens(self) -> list[str]:
        """Special tokens beyond the named ones (never split, skipped by ``skip_special_tokens``)."""
        return [str(t) for t in self._extra_special_tokens]

    @additional_special_tokens.setter
    def additional_special_tokens(self, tokens) -> None:
        self._extra_special_tokens = list(tokens or [])
        self._on_special_tokens_changed()

    @property
    def additional_special_tokens_ids(self) -> list[int]:
        return self.convert_tokens_to_ids(self.additional_special_tokens)

    # transformers v5 name for the same list
    extra_special_tokens = additional_special_tokens
    extra_special_tokens_ids = additional_special_tokens_ids

    @property
    def special_tokens_map(self) -> dict[str, Any]:
        """The named special tokens that are set, plus ``additional_special_tokens`` if any."""
        result: dict[str, Any] = {
            name: str(value) for name, value in self._special_tokens.items() if value is not None
        }
        if self._extra_special_tokens:
            result["additional_special_tokens"] = self.additional_special_tokens
        return result

    @property
    def all_special_tokens(self) -> list[str]:
        """Every special token once: the named ones in their usual order, then the additional ones."""
        tokens: list[str] = []
        for value in list(self._special_tokens.values()) + list(self._extra_special_tokens):
            if value is not None and str(value) not in tokens:
                tokens.append(str(value))
        return tokens

    @property
    def all_special_ids(self) -> list[int]:
        return self.convert_tokens_to_ids(self.all_special_tokens)

    def _on_special_tokens_changed(self) -> None:
        """Called after a special token changed; a fast tokenizer rebuilds its post-processor."""

    def _special_added_tokens(self) -> list[AddedToken]:
        """The special tokens as AddedTokens (never normalized, never split), in the usual order."""
        result, seen = [], set()
        for value in list(self._special_tokens.values()) + list(self._extra_special_tokens):
            if value is None or str(value) in seen:
                continue
            seen.add(str(value))
            result.append(_as_special(value) if isinstance(value, AddedToken)
                          else AddedToken(value, special=True, normalized=False))
        return result

    # -- vocabulary ---------------------------------------------------------------------------
    @property
    def is_fast(self) -> bool:
        return False

    @property
    def vocab_size(self) -> int:
        """Size of the base vocabulary, without added tokens."""
        raise NotImplementedError

    def __len__(self) -> int:
        """Size of the full vocabulary, added tokens included (what an embedding matrix needs)."""
        return len(self.get_vocab())

    def get_vocab(self) -> dict[str, int]:
        raise NotImplementedError

    @property
    def added_tokens_decoder(self) -> dict[int, AddedToken]:
        raise NotImplementedError

    @property
    def added_tokens_encoder(self) -> dict[str, int]:
        return {token.content: index for index, token in sorted(self.added_tokens_decoder.items())}

    def get_added_vocab(self) -> dict[str, int]:
        """The added tokens (special tokens included) and their ids."""
        return self.added_tokens_encoder

    def _token_to_id(self, token: str) -> int | None:
        """The id of ``token``, or None if it is neither in the vocabulary nor added."""
        raise NotImplementedError

    def _id_to_token(self, index: int) -> str | None:
        """The token of ``index``, or None for an id outside the vocabulary."""
        raise NotImplementedError

    def convert_tokens_to_ids(self, tokens: str | list[str]) -> int | list[int]:
        """Ids of ``tokens`` (one string or a list); unknown tokens get the unknown token's id."""
        if tokens is None:
            return None
        if isinstance(tokens, (str, AddedToken)):
            return self._lookup_id(str(tokens))
        return [self._lookup_id(str(token)) for token in tokens]

    def _lookup_id(self, token: str) -> int | None:
        index = self._token_to_id(token)
        if index is None and self.unk_token is not None:
            index = self._token_to_id(self.unk_token)
        return index

    def convert_ids_to_tokens(self, ids: int | list[int], skip_special_tokens: bool = False) -> str | list[str]:
        """Tokens of ``ids`` (one id or a list); an id outside the vocabulary gives None."""
        if isinstance(ids, (int, np.integer)):
            return self._id_to_token(int(ids))
        skip = self._ids_to_skip() if skip_special_tokens else set()
        return [self._id_to_token(index) for index in _to_int_list(ids) if index not in skip]

    def _ids_to_skip(self) -> set[int]:
        """Ids that ``skip_special_tokens`` removes: the special tokens and added special tokens."""
        ids = {i for i in self.all_special_ids if i is not None}
        ids.update(index for index, token in self.added_tokens_decoder.items() if token.special)
        return ids

    def add_tokens(self, new_tokens, special_tokens: bool = False) -> int:
        """Add tokens that are matched whole and never split; returns how many new ids were created.

        A token already in the vocabulary keeps its id (it is only marked as never split);
        a new token gets the next id. Resize the model's embeddings to ``len(tokenizer)``.
        """
        if not new_tokens:
            return 0
        if isinstance(new_tokens, (str, AddedToken)):
            new_tokens = [new_tokens]
        tokens = []
        for token in new_tokens:
            is_special = special_tokens or (isinstance(token, str) and token in self.all_special_tokens)
            token = _as_added_token(token, special=is_special)
            if special_tokens:
                token = _as_special(token)
            if token.content:
                tokens.append(token)
        before = len(self)
        self._add_tokens(tokens)
        return len(self) - before

    def add_special_tokens(self, special_tokens_dict: Mapping[str, Any], replace_additional_special_tokens: bool = True) -> int:
        """Set named special tokens (``{"pad_token": "[PAD]"}``) or ``additional_special_tokens``.

        Tokens missing from the vocabulary are added with new ids; returns how many.
        """
        tokens: list = []
        for key, value in dict(special_tokens_dict).items():
            if key in ("additional_special_tokens", "extra_special_tokens"):
                if isinstance(value, (str, AddedToken)) or not isinstance(value, (list, tuple)):
                    raise TypeError(f"{key} must be a list of tokens, got {type(value).__name__}")
                new = [_as_added_token(t, special=True) for t in value]
                if replace_additional_special_tokens:
                    self._extra_special_tokens = list(new)
                else:
                    known = set(self.additional_special_tokens)
                    self._extra_special_tokens.extend(t for t in new if t.content not in known)
                tokens.extend(new)
            elif key in SPECIAL_TOKENS_ATTRIBUTES:
                token = _as_added_token(value, special=True)
                self._special_tokens[key] = token
                tokens.append(token)
            else:
                accepted = ", ".join(SPECIAL_TOKENS_ATTRIBUTES + ("additional_special_tokens",))
                raise ValueError(f"{key!r} is not a special token name; accepted: {accepted}")
        added = self.add_tokens(tokens, special_tokens=True)
        self._on_special_tokens_changed()
        return added

    def _add_tokens(self, tokens: list[AddedToken]) -> None:
        raise NotImplementedError

    def num_special_tokens_to_add(self, pair: bool = False) -> int:
        """How many special tokens encoding adds to one sequence (or a pair)."""
        raise NotImplementedError

    @property
    def max_len_single_sentence(self) -> int:
        return self.model_max_length - self.num_special_tokens_to_add(pair=False)

    @property
    def max_len_sentences_pair(self) -> int:
        return self.model_max_length - self.num_special_tokens_to_add(pair=True)

    def get_special_tokens_mask(
        self, token_ids_0: list[int], token_ids_1: list[int] | None = None, already_has_special_tokens: bool = False
    ) -> list[int]:
        """1 for a special token, 0 for a sequence token.

        With ``already_has_special_tokens`` the ids are a finished sequence and every special
        id counts; otherwise the mask describes what encoding would add around the sequences.
        """
        if already_has_special_tokens:
            if token_ids_1 is not None:
                raise ValueError("token_ids_1 must be None when the ids already have their special tokens")
            special = self._ids_to_skip()
            return [1 if index in special else 0 for index in token_ids_0]
        return [0] * (len(token_ids_0) + len(token_ids_1 or []))

    # -- encoding -----------------------------------------------------------------------------
    def __call__(
        self,
        text=None,
        text_pair=None,
        *,
        add_special_tokens: bool = True,
        padding: bool | str = False,
        truncation: bool | str | None = None,
        max_length: int | None = None,
        stride: int = 0,
        is_split_into_words: bool = False,
        pad_to_multiple_of: int | None = None,
        padding_side: str | None = None,
        return_tensors: str | None = None,
        return_token_type_ids: bool | None = None,
        return_attention_mask: bool | None = None,
        return_overflowing_tokens: bool = False,
        return_special_tokens_mask: bool = False,
        return_offsets_mapping: bool = False,
        return_length: bool = False,
        verbose: bool = True,
    ) -> BatchEncoding:
        """Tokenize one text, a pair, or a batch of texts or pairs.

        ``text`` is a string (one example), a list of strings (a batch), or with
        ``is_split_into_words=True`` a list of words (one example) or a list of such lists.
        ``text_pair`` has the same shape and makes pairs. Without ``return_tensors`` a single
        example comes back without its batch dimension.
        """
        items, is_batched = self._as_batch(text, text_pair, is_split_into_words)
        tensor_converter(return_tensors)  # a bad value fails before any work
        padding, truncation, max_length = self._resolve_strategies(padding, truncation, max_length, pad_to_multiple_of)
        if not isinstance(stride, int) or stride < 0:
            raise ValueError(f"stride must be a non-negative int, got {stride!r}")
        options = _EncodeOptions(
            add_special_tokens=add_special_tokens,
            padding=padding,
            truncation=truncation,
            max_length=max_length,
            stride=stride,
            pad_to_multiple_of=pad_to_multiple_of,
            padding_side=self._check_side("padding_side", padding_side or self.padding_side),
            is_split_into_words=is_split_into_words,
            return_token_type_ids=(
                "token_type_ids" in self.model_input_names if return_token_type_ids is None else return_token_type_ids
            ),
            return_attention_mask=(
                "attention_mask" in self.model_input_names if return_attention_mask is None else return_attention_mask
            ),
            return_overflowing_tokens=return_overflowing_tokens,
            return_special_tokens_mask=return_special_tokens_mask,
            return_offsets_mapping=return_offsets_mapping,
        )
        rows = self._encode_rows(items, options)
        if verbose and options.truncation is None:
            self._warn_if_too_long(rows)
        return self._collate(rows, is_batched, options, return_length, return_tensors)

    def encode(self, text, text_pair=None, add_special_tokens: bool = True, **kwargs) -> list[int]:
        """The ``input_ids`` of one text or pair."""
        return self(text, text_pair, add_special_tokens=add_special_tokens, **kwargs)["input_ids"]

    def encode_plus(self, text, text_pair=None, **kwargs) -> BatchEncoding:
        """Tokenize one text or pair (the same as calling the tokenizer on it)."""
        return self(text, text_pair, **kwargs)

    def batch_encode_plus(self, batch_text_or_text_pairs, **kwargs) -> BatchEncoding:
        """Tokenize a batch whose items are texts or ``(text, text_pair)`` tuples."""
        items = list(batch_text_or_text_pairs)
        pretokenized = kwargs.get("is_split_into_words", False)

        def is_pair(item) -> bool:
            if not isinstance(item, tuple) or len(item) != 2:
                return False
            return not pretokenized or all(isinstance(part, (list, tuple)) for part in item)

        if items and all(is_pair(item) for item in items):
            return self([a for a, _ in items], [b for _, b in items], **kwargs)
        return self(items, **kwargs)

    def tokenize(self, text: str, pair: str | None = None, add_special_tokens: bool = False) -> list[str]:
        """The token strings of ``text`` (and ``pair``)."""
        ids = self.encode(text, pair, add_special_tokens=add_special_tokens)
        return self.convert_ids_to_tokens(ids)

    def _as_batch(self, text, text_pair, is_split_into_words: bool) -> tuple[list[tuple], bool]:
        """Normalise the accepted input shapes to a list of ``(text, pair)`` and say if it was a batch."""
        if text is None:
            raise ValueError("text is required: a string, a list of strings, or pre-split words")

        def check(value, what: str):
            if is_split_into_words:
                ok = isinstance(value, (list, tuple)) and all(isinstance(word, str) for word in value)
                shape = "a list of words (str)"
            else:
                ok = isinstance(value, str)
                shape = "a str"
            if not ok:
                raise TypeError(
                    f"{what} must be {shape}, a list of those (a batch)"
                    + ("" if is_split_into_words else ", or lists of words with is_split_into_words=True")
                    + f"; got {type(value).__name__}: {value!r:.80}"
                )
            for piece in value if is_split_into_words else (value,):
                _refuse_lone_surrogates(piece, what)
            return list(value) if is_split_into_words else value

        if is_split_into_words:
            is_batched = isinstance(text, (list, tuple)) and len(text) > 0 and isinstance(text[0], (list, tuple))
        else:
            is_batched = isinstance(text, (list, tuple))
        if not is_batched:
            # As transformers: an empty text_pair beside a single text means "no pair".
            pair = check(text_pair, "text_pair") if text_pair else None
            return [(check(text, "text"), pair)], False
        if text_pair is not None:
            if isinstance(text_pair, str) or not isinstance(text_pair, (list, tuple)):
                raise TypeError("with a batch of texts, text_pair must be a list of the same length as text")
            if len(text_pair) != len(text):
                raise ValueError(f"text has {len(text)} items but text_pair has {len(text_pair)}; they must match")
            return [(check(a, "text"), check(b, "text_pair")) for a, b in zip(text, text_pair)], True
        return [(check(a, "text"), None) for a in text], True

    def _resolve_strategies(self, padding, truncation, max_length, pad_to_multiple_of) -> tuple:
        """Check ``padding`` / ``truncation`` / ``max_length`` and reduce them to plain values.

        Follows transformers: ``max_length`` alone turns on ``longest_first`` truncation;
        without ``max_length``, padding to "max_length" and truncation use
        ``model_max_length``, and are skipped when the tokenizer knows no limit.
        """
        if max_length is not None and padding is False and truncation is None:
            truncation = "longest_first"
        if padding is True or padding == "longest":
            padding = "longest"
        elif padding is False or padding is None or padding == "do_not_pad":
            padding = None
        elif padding != "max_length":
            raise ValueError(
                f"padding={padding!r} is not valid; accepted: True or 'longest', 'max_length', False or 'do_not_pad'"
            )
        if truncation is True or truncation == "longest_first":
            truncation = "longest_first"
        elif truncation is False or truncation is None or truncation == "do_not_truncate":
            truncation = None
        elif truncation not in ("only_first", "only_second"):
            raise ValueError(
                f"truncation={truncation!r} is not valid; accepted: True or 'longest_first', 'only_first', "
                f"'only_second', False or 'do_not_truncate'"
            )
        if max_length is not None and (not isinstance(max_length, int) or max_length < 0):
            raise ValueError(f"max_length must be a non-negative int, got {max_length!r}")
        if pad_to_multiple_of is not None and (not isinstance(pad_to_multiple_of, int) or pad_to_multiple_of <= 0):
            raise ValueError(f"pad_to_multiple_of must be a positive int, got {pad_to_multiple_of!r}")
        if max_length is None and (padding == "max_length" or truncation is not None):
            if self.model_max_length <= LARGE_INTEGER:
                max_length = self.model_max_length
            else:  # no limit known: nothing to pad or truncate to
                padding = None if padding == "max_length" else padding
                truncation = None
        if padding is not None and (self.pad_token is None or self.pad_token_id is None):
            raise ValueError(
                "padding needs a pad token, and this tokenizer has none: set tokenizer.pad_token, "
                "or add one with tokenizer.add_special_tokens({'pad_token': '[PAD]'})"
            )
        if padding and truncation and pad_to_multiple_of and max_length and max_length % pad_to_multiple_of:
            raise ValueError(
                f"truncation and padding are both on, but max_length ({max_length}) is not a multiple of "
                f"pad_to_multiple_of ({pad_to_multiple_of})"
            )
        return padding, truncation, max_length

    def _encode_rows(self, items: list[tuple], options: _EncodeOptions) -> list[tuple[int, dict, Any]]:
        """Encode ``items``: one ``(sample index, row dict, encoding or None)`` per output row.

        Rows are truncated and padded as ``options`` says; overflowing windows are extra rows.
        """
        raise NotImplementedError

    def _truncate_pair(self, ids: list[int], pair_ids: list[int] | None, options: _EncodeOptions) -> list[tuple]:
        """The ``(ids, pair_ids)`` windows of one example: the kept part first, then the overflow."""
        if options.truncation is None:
            return [(ids, pair_ids)]
        budget = options.max_length
        if options.add_special_tokens:
            budget -= self.num_special_tokens_to_add(pair=pair_ids is not None)
        if budget < 0:  # fewer places than special tokens: tokenizers leaves the input whole
            return [(ids, pair_ids)]
        keep_a, keep_b = _truncation_lengths(len(ids), None if pair_ids is None else len(pair_ids), budget,
                                             options.truncation)
        windows_a = _windows(ids, keep_a, options.stride, self.truncation_side)
        windows_b = None if pair_ids is None else _windows(pair_ids, keep_b, options.stride, self.truncation_side)
        return _pair_windows(windows_a, windows_b)

    def _pad_rows(self, rows: list[dict], padding, max_length, pad_to_multiple_of, padding_side, return_attention_mask):
        """Pad ``rows`` (dicts of lists) in place to a common length; adds ``attention_mask`` if asked."""
        main = self.model_input_names[0]
        if return_attention_mask:
            for row in rows:
                row.setdefault("attention_mask", [1] * len(row[main]))
        if padding is None or not rows:
            return
        target = max(len(row[main]) for row in rows) if padding == "longest" else max_length
        if pad_to_multiple_of and target % pad_to_multiple_of:
            target += pad_to_multiple_of - target % pad_to_multiple_of
        fill = {
            main: self.pad_token_id,
            "token_type_ids": 0,
            "attention_mask": 0,
            "special_tokens_mask": 1,
            "offset_mapping": (0, 0),
        }
        for row in rows:
            missing = target - len(row[main])
            if missing <= 0:
                continue
            for key in list(row):
                if key in fill:
                    pad = [fill[key]] * missing
                    row[key] = pad + list(row[key]) if padding_side == "left" else list(row[key]) + pad

    def _collate(self, rows, is_batched: bool, options: _EncodeOptions, return_length: bool, return_tensors):
        """Rows -> one BatchEncoding of lists (or tensors), without the batch axis for a lone example."""
        keys = ["input_ids", "token_type_ids", "attention_mask", "special_tokens_mask", "offset_mapping"]
        present = [key for key in keys if rows and key in rows[0][1]]
        data: dict[str, Any] = {key: [row[key] for _, row, _ in rows] for key in present}
        if return_length:
            data["length"] = [len(row["input_ids"]) for _, row, _ in rows]
        if options.return_overflowing_tokens:
            data["overflow_to_sample_mapping"] = [index for index, _, _ in rows]
        encodings = [encoding for _, _, encoding in rows] if self.is_fast else None
        if not is_batched and return_tensors is None and not options.return_overflowing_tokens:
            # Only the per-token columns lose the batch axis; "length" stays a one-item list (as transformers).
            data = {key: value if key == "length" else value[0] for key, value in data.items()}
        return BatchEncoding(data, encodings=encodings, tensor_type=return_tensors)

    def _warn_if_too_long(self, rows) -> None:
        if self._warned_too_long or self.model_max_length > LARGE_INTEGER:
            return
        longest = max((len(row["input_ids"]) for _, row, _ in rows), default=0)
        if longest > self.model_max_length:
            self._warned_too_long = True
            warnings.warn(
                f"A sequence of {longest} tokens is longer than this model's maximum ({self.model_max_length}); "
                f"running the model on it will fail. Pass truncation=True to cut it.",
                stacklevel=3,
            )

    def pad(
        self,
        encoded_inputs,
        padding: bool | str = True,
        max_length: int | None = None,
        pad_to_multiple_of: int | None = None,
        padding_side: str | None = None,
        return_attention_mask: bool | None = None,
        return_tensors: str | None = None,
    ) -> BatchEncoding:
        """Pad already encoded inputs: one dict, a dict of lists, or a list of dicts (a batch).

        This is what data collators use to batch examples that were tokenized one by one.
        """
        main = self.model_input_names[0]
        if isinstance(encoded_inputs, (list, tuple)):
            if not encoded_inputs or not isinstance(encoded_inputs[0], Mapping):
                raise TypeError("pad() takes a dict of lists, or a list of dicts, of encoded inputs")
            rows = [{key: _plain(value) for key, value in item.items()} for item in encoded_inputs]
            is_batched = True
        elif isinstance(encoded_inputs, Mapping):
            if main not in encoded_inputs:
                raise ValueError(f"pad() needs '{main}' in the encoded inputs; got keys {sorted(encoded_inputs)}")
            columns = {key: _plain(value) for key, value in encoded_inputs.items()}
            first = columns[main]
            is_batched = bool(first) and isinstance(first[0], (list, tuple))
            if is_batched:
                rows = [{key: columns[key][i] for key in columns} for i in range(len(first))]
            else:
                rows = [columns]
        else:
            raise TypeError(f"pad() takes a dict or a list of dicts, got {type(encoded_inputs).__name__}")
        tensor_converter(return_tensors)
        padding, _, max_length = self._resolve_strategies(padding, False, max_length, pad_to_multiple_of)
        if return_attention_mask is None:
            return_attention_mask = "attention_mask" in self.model_input_names
        self._pad_rows(rows, padding, max_length, pad_to_multiple_of,
                       self._check_side("padding_side", padding_side or self.padding_side), return_attention_mask)
        data = {key: [row[key] for row in rows] for key in rows[0]}
        if not is_batched:
            data = {key: value[0] for key, value in data.items()}
        return BatchEncoding(data, tensor_type=return_tensors, prepend_batch_axis=False)

    # -- decoding -----------------------------------------------------------------------------
    def decode(self, token_ids, skip_special_tokens: bool = False, clean_up_tokenization_spaces: bool | None = None) -> str:
        """Ids (list, array or tensor) back to text."""
        if isinstance(token_ids, Mapping):
            token_ids = token_ids["input_ids"]
        ids = _to_int_list(token_ids)
        if ids and isinstance(ids[0], list):
            raise TypeError("decode() takes one sequence of ids; use batch_decode() for a batch")
        text = self._decode_ids(ids, skip_special_tokens)
        if clean_up_tokenization_spaces is None:
            clean_up_tokenization_spaces = self.clean_up_tokenization_spaces
        return self.clean_up_tokenization(text) if clean_up_tokenization_spaces else text

    def batch_decode(self, sequences, skip_special_tokens: bool = False, clean_up_tokenization_spaces: bool | None = None) -> list[str]:
        """Decode each sequence of a batch (list of lists, 2-D array or tensor)."""
        if isinstance(sequences, Mapping):
            sequences = sequences["input_ids"]
        return [
            self.decode(seq, skip_special_tokens=skip_special_tokens,
                        clean_up_tokenization_spaces=clean_up_tokenization_spaces)
            for seq in _to_int_list(sequences)
        ]

    def _decode_ids(self, ids: list[int], skip_special_tokens: bool) -> str:
        raise NotImplementedError

    @staticmethod
    def clean_up_tokenization(text: str) -> str:
        """Remove the spaces English tokenization puts before punctuation and contractions."""
        return (
            text.replace(" .", ".")
            .replace(" ?", "?")
            .replace(" !", "!")
            .replace(" ,", ",")
            .replace(" ' ", "'")
            .replace(" n't", "n't")
            .replace(" 'm", "'m")
            .replace(" 's", "'s")
            .replace(" 've", "'ve")
            .replace(" 're", "'re")
        )

    # -- saving and loading -------------------------------------------------------------------
    def save_vocabulary(self, save_directory: Path) -> tuple[str, ...]:
        """Write the vocabulary file(s) into ``save_directory``; returns their paths."""
        raise NotImplementedError

    def _config_for_saving(self) -> dict[str, Any]:
        skip = set(self.vocab_files_names) | {"tokenizer_object", "added_tokens_decoder", "max_len",
                                              "additional_special_tokens", "extra_special_tokens",
                                              *SPECIAL_TOKENS_ATTRIBUTES, *_LOADER_ONLY_KEYS}
        config = {key: value for key, value in self.init_kwargs.items() if key not in skip}
        for name, value in self._special_tokens.items():
            if value is not None:
                config[name] = str(value)
        if self._extra_special_tokens:
            config["additional_special_tokens"] = self.additional_special_tokens
        config["added_tokens_decoder"] = {
            str(index): _added_token_json(token) for index, token in sorted(self.added_tokens_decoder.items())
        }
        config["model_max_length"] = self.model_max_length
        config["padding_side"] = self.padding_side
        config["truncation_side"] = self.truncation_side
        config["clean_up_tokenization_spaces"] = self.clean_up_tokenization_spaces
        if self.model_input_names != list(type(self).model_input_names):
            config["model_input_names"] = self.model_input_names
        name = type(self).__name__
        # As transformers does: the fast class is named by its slow name, which loads either way.
        config["tokenizer_class"] = name[:-4] if name.endswith("Fast") and name != "PreTrainedTokenizerFast" else name
        return _jsonable(config)

    def save_pretrained(self, save_directory: str | os.PathLike, **kwargs: Any) -> tuple[str, ...]:
        """Write the tokenizer to a folder that ``from_pretrained`` (here or in transformers) reloads.

        Files: ``tokenizer_config.json``, ``special_tokens_map.json``, ``added_tokens.json``
        (only when tokens were added past the base vocabulary), and the vocabulary
        (``vocab.txt``; ``tokenizer.json`` for fast tokenizers). Each is written atomically.
        """
        if kwargs:
            raise TypeError(f"save_pretrained() got unexpected keyword arguments: {', '.join(sorted(kwargs))}")
        folder = Path(save_directory).expanduser()
        if folder.is_file():
            raise ValueError(f"save_pretrained() needs a folder, but '{folder}' is a file")

        # Every file, and the removal of an older save's added_tokens.json, is committed together.
        with folder_transaction(folder) as transaction:

            def write_json(name: str, data) -> str:
                text = json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
                return str(transaction.write_text(folder / name, text))

            files = [write_json(TOKENIZER_CONFIG_FILE, self._config_for_saving())]
            files.append(write_json(SPECIAL_TOKENS_MAP_FILE, _jsonable(self.special_tokens_map)))
            beyond_vocab = {token.content: index for index, token in sorted(self.added_tokens_decoder.items())
                            if index >= self.vocab_size}
            if beyond_vocab:
                files.append(write_json(ADDED_TOKENS_FILE, beyond_vocab))
            else:
                transaction.remove(folder / ADDED_TOKENS_FILE)
            files.extend(self.save_vocabulary(folder))  # through atomic_path / atomic_write_text: same commit
        return tuple(files)

    @classmethod
    def pretrained_file_names(cls) -> tuple[str, ...]:
        """The files :meth:`from_pretrained` reads from a folder (those a hub repo has are downloaded)."""
        return (TOKENIZER_CONFIG_FILE, *cls.vocab_files_names.values(), SPECIAL_TOKENS_MAP_FILE, ADDED_TOKENS_FILE)

    @classmethod
    def from_pretrained(
        cls,
        pretrained_model_name_or_path: str | os.PathLike,
        *init_inputs: Any,
        **kwargs: Any,
    ):
        """Load from a folder, a vocabulary file, or a hub id.

        Saved settings (``tokenizer_config.json``) are the defaults and ``kwargs`` override
        them. Tokens listed in ``added_tokens_decoder`` (or the older
        ``added_tokens.json``) are restored with their ids. A hub id's tokenizer files
        (:meth:`pretrained_file_names`) are downloaded into the Hugging Face cache.

        Args:
            pretrained_model_name_or_path: a folder with the tokenizer's files, the path of a
                lone vocabulary file (``vocab.txt``), or a hub id.
            *init_inputs: positional arguments for the class's constructor.
            **kwargs: the hub options (``revision``, ``cache_dir``, ``token``,
                ``local_files_only``, ``force_download``), settings overriding the saved ones
                (``do_lower_case``, special tokens, ``model_max_length``...), or vocabulary
                files by their argument name.
        """
        name = pretrained_model_name_or_path
        path = Path(name).expanduser() if isinstance(name, (str, os.PathLike)) else None
        files: dict[str, Path] = {}
        folder_files: dict[str, Path] = {}
        source = None
        if path is not None and path.is_file() and path.name != TOKENIZER_CONFIG_FILE:
            # A lone vocabulary file: it is the whole tokenizer.
            check_not_interrupted(path.parent)
            key = next((k for k, f in cls.vocab_files_names.items() if f == path.name), None)
            files[key or next(iter(cls.vocab_files_names), "vocab_file")] = path
            location = path
        else:
            source = SourceFolder(name, **pop_hub_options(kwargs))
            location = source.fetch(optional_files=cls.pretrained_file_names())
            in_folder = f"the folder {location}"
            for key, filename in cls.vocab_files_names.items():
                if (location / filename).is_file():
                    files[key] = contained_path(location, filename, named_by=in_folder)
            for filename in (TOKENIZER_CONFIG_FILE, SPECIAL_TOKENS_MAP_FILE, ADDED_TOKENS_FILE):
                if (location / filename).is_file():
                    folder_files[filename] = contained_path(location, filename, named_by=in_folder)
        if not files and not any(kwargs.get(key) for key in cls.vocab_files_names):
            expected = " or ".join(cls.vocab_files_names.values()) or "vocabulary files"
            raise FileNotFoundError(
                f"Cannot load {cls.__name__} from '{location}': no {expected} in that folder. "
                f"{cls.__name__} needs {expected} there (write one with save_pretrained, or pass the file "
                f"path as {' / '.join(cls.vocab_files_names)}=...)."
            )
        config: dict[str, Any] = {}
        if TOKENIZER_CONFIG_FILE in folder_files:
            config = _read_json(folder_files[TOKENIZER_CONFIG_FILE])
            if not isinstance(config, dict):
                raise ValueError(f"{folder_files[TOKENIZER_CONFIG_FILE]} must hold a JSON object")
        for key in cls.vocab_files_names:
            # A file the config names is used only when the folder lacks the usual one, and only
            # inside the folder: a tokenizer_config.json never makes us read elsewhere.
            named = config.pop(key, None)
            if named is not None and key not in files and kwargs.get(key) is None:
                files[key] = contained_path(location, named, named_by=f"{folder_files[TOKENIZER_CONFIG_FILE]}: '{key}'")
                if source is not None and source.is_hub:
                    source.get(named, required=False)  # from the same commit, into the same snapshot

        for key in _IGNORED_KWARGS:  # transformers' options that mean nothing here
            kwargs.pop(key, None)
        init_kwargs = {key: value for key, value in config.items() if key not in _LOADER_ONLY_KEYS}
        if "added_tokens_decoder" not in init_kwargs:
            init_kwargs.update(cls._legacy_added_tokens(folder_files, init_kwargs, kwargs))
        init_kwargs.update(kwargs)
        for key, file in files.items():
            # Paths come from the folder, never from the (untrusted) config; explicit kwargs win.
            if kwargs.get(key) is None:
                init_kwargs[key] = str(file)
        init_kwargs["added_tokens_decoder"] = {
            int(index): _as_added_token(token, special=True)
            for index, token in (init_kwargs.get("added_tokens_decoder") or {}).items()
        }
        init_kwargs["name_or_path"] = os.fspath(name)
        return cls(*init_inputs, **init_kwargs)

    @classmethod
    def _legacy_added_tokens(cls, folder_files, init_kwargs, kwargs) -> dict[str, Any]:
        """Special and added tokens of folders saved before ``added_tokens_decoder`` existed."""
        result: dict[str, Any] = {}
        special_map_file = folder_files.get(SPECIAL_TOKENS_MAP_FILE)
        if special_map_file is not None:
            for key, value in _read_json(special_map_file).items():
                if key not in init_kwargs and key not in kwargs:
                    result[key] = value
        added_file = folder_files.get(ADDED_TOKENS_FILE)
        if added_file is not None:
            named = {**init_kwargs, **result, **kwargs}
            specials = {_content(named[key]) for key in SPECIAL_TOKENS_ATTRIBUTES if named.get(key)}
            specials.update(_content(t) for t in (named.get("additional_special_tokens") or []))
            result["added_tokens_decoder"] = {
                int(index): AddedToken(token, special=token in specials, normalized=token not in specials)
                for token, index in _read_json(added_file).items()
            }
        return result

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(name_or_path='{self.name_or_path}', vocab_size={self.vocab_size}, "
            f"model_max_length={self.model_max_length}, is_fast={self.is_fast}, padding_side='{self.padding_side}', "
            f"truncation_side='{self.truncation_side}', special_tokens={self.special_tokens_map})"
        )


# ---------------------------------------------------------------------------------------------
# Pure-Python tokenizers
# ---------------------------------------------------------------------------------------------


class PreTrainedTokenizer(PreTrainedTokenizerBase):
    """A tokenizer written in Python.

    A subclass loads its vocabulary *before* calling ``super().__init__`` and implements
    ``_tokenize`` (text without added tokens -> token strings), ``_convert_token_to_id``
    (None when unknown), ``_convert_id_to_token``, ``vocab_size``, ``get_base_vocab``
    and ``save_vocabulary``. It may override ``normalize_text`` (used to match added
    tokens marked ``normalized``), ``convert_tokens_to_string`` and the three methods
    that place special tokens (``build_inputs_with_special_tokens``...).
    """

    def __init__(self, **kwargs: Any) -> None:
        saved_added = kwargs.pop("added_tokens_decoder", None) or {}
        super().__init__(**kwargs)
        self._added_tokens_decoder: dict[int, AddedToken] = {}
        self._added_tokens_encoder: dict[str, int] = {}
        self._patterns: tuple | None = None
        # Added tokens of a saved tokenizer keep their saved ids.
        for index, token in sorted(saved_added.items()):
            token = _as_added_token(token, special=True)
            self._added_tokens_decoder[int(index)] = token
            self._added_tokens_encoder[token.content] = int(index)
        # Special tokens are added tokens too, so they are never split (the same as fast).
        self._add_tokens([t for t in self._special_added_tokens() if t.content not in self._added_tokens_encoder])

    # -- what subclasses implement ---------------------------------------------------------
    def _tokenize(self, text: str) -> list[str]:
        """Split text that holds no added tokens into token strings."""
        raise NotImplementedError

    def _convert_token_to_id(self, token: str) -> int | None:
        """The base-vocabulary id of ``token``, None if it is not there."""
        raise NotImplementedError

    def _convert_id_to_token(self, index: int) -> str | None:
        raise NotImplementedError

    def get_base_vocab(self) -> dict[str, int]:
        """The base vocabulary, without added tokens."""
        raise NotImplementedError

    def normalize_text(self, text: str) -> str:
        """The text as the tokenizer's normalizer sees it (used to find ``normalized`` added tokens)."""
        return text

    def convert_tokens_to_string(self, tokens: list[str]) -> str:
        return " ".join(tokens)

    def build_inputs_with_special_tokens(self, token_ids_0: list[int], token_ids_1: list[int] | None = None) -> list[int]:
        """The ids of one sequence or a pair with the model's special tokens around them."""
        return token_ids_0 + (token_ids_1 or [])

    def create_token_type_ids_from_sequences(self, token_ids_0: list[int], token_ids_1: list[int] | None = None) -> list[int]:
        """Segment ids matching :meth:`build_inputs_with_special_tokens`."""
        return [0] * len(token_ids_0) + [1] * len(token_ids_1 or [])

    # -- vocabulary ------------------------------------------------------------------------
    def get_vocab(self) -> dict[str, int]:
        return {**self.get_base_vocab(), **self._added_tokens_encoder}

    @property
    def added_tokens_decoder(self) -> dict[int, AddedToken]:
        return dict(sorted(self._added_tokens_decoder.items()))

    def _token_to_id(self, token: str) -> int | None:
        if token in self._added_tokens_encoder:
            return self._added_tokens_encoder[token]
        return self._convert_token_to_id(token)

    def _id_to_token(self, index: int) -> str | None:
        if index in self._added_tokens_decoder:
            return self._added_tokens_decoder[index].content
        return self._convert_id_to_token(index)

    def _add_tokens(self, tokens: list[AddedToken]) -> None:
        """Register added tokens with the ids ``tokenizers`` would give them."""
        for token in tokens:
            if token.content in self._added_tokens_encoder:  # known: only its options change
                self._added_tokens_decoder[self._added_tokens_encoder[token.content]] = token
                continue
            index = self._convert_token_to_id(token.content)
            if index is None:
                index = max([self.vocab_size - 1, *self._added_tokens_decoder]) + 1
            self._added_tokens_decoder[index] = token
            self._added_tokens_encoder[token.content] = index
        self._patterns = None

    def num_special_tokens_to_add(self, pair: bool = False) -> int:
        return len(self.build_inputs_with_special_tokens([], [] if pair else None))

    # -- tokenizing ------------------------------------------------------------------------
    def _added_token_patterns(self) -> tuple:
        """Regexes finding added tokens in raw text and in normalized text, with the token of each group."""
        if self._patterns is None:
            raw = [t for t in self._added_tokens_decoder.values() if not t.normalized]
            normalized = {}
            for token in self._added_tokens_decoder.values():  # later tokens win a clash, as in tokenizers
                if token.normalized:
                    normalized[self.normalize_text(token.content)] = token
            self._patterns = (_compile_added(raw, lambda t: t.content),
                              _compile_added(list(normalized.items()), lambda item: item[0]))
        return self._patterns

    def tokenize(self, text: str, pair: str | None = None, add_special_tokens: bool = False) -> list[str]:
        """Token strings of ``text``: added tokens whole, the rest through ``_tokenize``."""
        if pair is not None or add_special_tokens:
            return super().tokenize(text, pair, add_special_tokens)
        _refuse_lone_surrogates(text, "text")
        (raw_pattern, raw_tokens), (norm_pattern, norm_items) = self._added_token_patterns()
        tokens: list[str] = []
        for piece, token in _split_on(text, raw_pattern, raw_tokens):
            if token is not None:
                tokens.append(token.content)
            elif norm_pattern is None:
                tokens.extend(self._tokenize(piece))
            else:
                # Like tokenizers: normalized added tokens are found after normalization.
                for sub, item in _split_on(self.normalize_text(piece), norm_pattern, norm_items):
                    tokens.extend([item[1].content] if item is not None else self._tokenize(sub))
        return tokens

    def _text_to_ids(self, text, is_split_into_words: bool) -> list[int]:
        if is_split_into_words:
            return [index for word in text for index in self.convert_tokens_to_ids(self.tokenize(word))]
        return self.convert_tokens_to_ids(self.tokenize(text))

    def _encode_rows(self, items, options):
        if options.return_offsets_mapping:
            raise NotImplementedError(
                "return_offsets_mapping is only available with fast tokenizers (PreTrainedTokenizerFast): "
                "a Python tokenizer does not track character offsets"
            )
        rows = []
        for index, (text, pair) in enumerate(items):
            ids = self._text_to_ids(text, options.is_split_into_words)
            pair_ids = None if pair is None else self._text_to_ids(pair, options.is_split_into_words)
            windows = self._truncate_pair(ids, pair_ids, options)
            if not options.return_overflowing_tokens:
                windows = windows[:1]
            for first, second in windows:
                rows.append((index, self._row(first, second, options), None))
        self._pad_rows([row for _, row, _ in rows], options.padding, options.max_length, options.pad_to_multiple_of,
                       options.padding_side, options.return_attention_mask)
        return rows

    def _row(self, ids: list[int], pair_ids: list[int] | None, options: _EncodeOptions) -> dict:
        if options.add_special_tokens:
            input_ids = self.build_inputs_with_special_tokens(ids, pair_ids)
            type_ids = self.create_token_type_ids_from_sequences(ids, pair_ids)
            special = self.get_special_tokens_mask(ids, pair_ids)
        else:
            input_ids = ids + (pair_ids or [])
            type_ids = [0] * len(ids) + [1] * len(pair_ids or [])
            special = [0] * len(input_ids)
        row = {"input_ids": input_ids}
        if options.return_token_type_ids:
            row["token_type_ids"] = type_ids
        if options.return_special_tokens_mask:
            row["special_tokens_mask"] = special
        return row

    # -- decoding --------------------------------------------------------------------------
    def _decode_ids(self, ids: list[int], skip_special_tokens: bool) -> str:
        tokens = [token for token in self.convert_ids_to_tokens(ids, skip_special_tokens=skip_special_tokens)
                  if token is not None]
        return self.convert_tokens_to_string(tokens)


def _is_white_space(char: str) -> bool:
    """Unicode White_Space (what Rust's ``char::is_whitespace`` and regex ``\\s`` mean).

    ``str.isspace`` also says yes to U+001C..U+001F (separators in the bidirectional
    classes, but control characters in Unicode); they are not white space.
    """
    return char.isspace() and not "\x1c" <= char <= "\x1f"


#: The symbols with the Other_Alphabetic property (circled and squared Latin letters):
#: Unicode counts them as alphabetic, hence word characters, though their category is So.
#: ``unicodedata`` has no Alphabetic property, so they are listed.
_ALPHABETIC_SYMBOLS = ((0x24B6, 0x24E9), (0x1F130, 0x1F149), (0x1F150, 0x1F169), (0x1F170, 0x1F189))


def _is_word_char(char: str) -> bool:
    """A Unicode word character, as the Rust regex ``\\w`` that ``single_word`` tokens look at:
    alphabetic, a mark, a decimal digit, connector punctuation or a joiner (ZWNJ, ZWJ).

    Python's ``\\w`` differs (no marks, no joiners, but other numbers such as "²").
    """
    category = unicodedata.category(char)
    if category[0] in "LM" or category in ("Nd", "Nl", "Pc") or char in "\u200c\u200d":
        return True
    return any(low <= ord(char) <= high for low, high in _ALPHABETIC_SYMBOLS)


def _compile_added(entries: list, content_of) -> tuple:
    """One regex finding added tokens leftmost-longest, as the ``tokenizers`` matcher does;
    group i+1 matches entry i. Entries whose text is empty can match nothing and are left out.

    The regex only finds the tokens' text: ``single_word``, ``lstrip`` and ``rstrip`` are
    applied afterwards by :func:`_split_on`, in the order the Rust code applies them.
    """
    entries = sorted((e for e in entries if content_of(e)), key=lambda e: len(content_of(e)), reverse=True)
    if not entries:
        return None, []
    # At each position the first alternative that matches wins: longest first is leftmost-longest.
    return re.compile("|".join("(" + re.escape(content_of(entry)) + ")" for entry in entries)), entries


def _split_on(text: str, pattern, entries) -> list[tuple[str, Any]]:
    """Cut ``text`` around added tokens: ``(piece, None)`` or ``(matched text, entry)``.

    The rules are those of ``tokenizers`` (``AddedVocabulary::find_matches``): a match of a
    ``single_word`` token with a word character beside it is dropped (and the search goes on
    after it); ``lstrip`` takes in the white space before the match, back to the end of the
    previous match; ``rstrip`` the white space after it.
    """
    if pattern is None:
        return [(text, None)] if text else []
    pieces, done = [], 0
    for match in pattern.finditer(text):
        entry = entries[match.lastindex - 1]
        token = entry if isinstance(entry, AddedToken) else entry[1]
        start, stop = match.span()
        if token.single_word and (
            (start > 0 and _is_word_char(text[start - 1])) or (stop < len(text) and _is_word_char(text[stop]))
        ):
            continue
        if token.lstrip:
            new_start = start
            while new_start > 0 and _is_white_space(text[new_start - 1]):
                new_start -= 1
            start = max(new_start, done)
        if token.rstrip:
            while stop < len(text) and _is_white_space(text[stop]):
                stop += 1
        if done < start:
            pieces.append((text[done:start], None))
        pieces.append((match.group(), entry))
        done = stop
    if done < len(text):
        pieces.append((text[done:], None))
    return pieces


# ---------------------------------------------------------------------------------------------
# Rust-backed tokenizers
# ---------------------------------------------------------------------------------------------


class PreTrainedTokenizerFast(PreTrainedTokenizerBase):
    """A tokenizer backed by a Rust ``tokenizers.Tokenizer`` (``tokenizer.json``).

    Built from ``tokenizer_object`` (a ``tokenizers.Tokenizer``) or ``tokenizer_file``.
    Subclasses that can build the pipeline from simpler files (such as ``vocab.txt``)
    do so and pass ``tokenizer_object``. Truncation and padding are set on the backend
    for each call, so its own settings never leak between calls (one tokenizer should
    therefore not be shared by threads that call it at the same time).
    """

    vocab_files_names = {"tokenizer_file": TOKENIZER_FILE}

    def __init__(self, *args: Any, tokenizer_object=None, tokenizer_file: str | os.PathLike | None = None, **kwargs: Any) -> None:
        from tokenizers import Tokenizer

        if args:
            raise TypeError(f"{type(self).__name__} takes keyword arguments only")
        saved_added = kwargs.pop("added_tokens_decoder", None) or {}
        if tokenizer_object is not None:
            backend = copy.deepcopy(tokenizer_object)
        elif tokenizer_file is not None:
            if not Path(tokenizer_file).is_file():
                raise FileNotFoundError(f"tokenizer file not found: '{tokenizer_file}'")
            backend = Tokenizer.from_file(os.fspath(tokenizer_file))
        else:
            raise ValueError(
                f"{type(self).__name__} needs tokenizer_object (a tokenizers.Tokenizer) or tokenizer_file "
                f"(a tokenizer.json path)"
            )
        backend.no_truncation()
        backend.no_padding()
        self._tokenizer = backend
        super().__init__(**kwargs)
        # Added tokens of the config that the backend does not have yet, in id order.
        known = {token.content for token in backend.get_added_tokens_decoder().values()}
        for index, token in sorted(saved_added.items()):
            token = _as_added_token(token, special=True)
            if token.content in known:
                continue
            if token.special:
                backend.add_special_tokens([token])
            else:
                backend.add_tokens([token])
            got = backend.token_to_id(token.content)
            if got != int(index):
                warnings.warn(f"added token {token.content!r} was saved with id {index} but got id {got}", stacklevel=2)
        # Special tokens are added special tokens of the backend: never split, skipped on decode.
        known = {token.content for token in backend.get_added_tokens_decoder().values()}
        backend.add_special_tokens([t for t in self._special_added_tokens() if t.content not in known])

    @property
    def is_fast(self) -> bool:
        return True

    @property
    def backend_tokenizer(self):
        """The ``tokenizers.Tokenizer`` doing the work."""
        return self._tokenizer

    # -- vocabulary ------------------------------------------------------------------------
    @property
    def vocab_size(self) -> int:
        return self._tokenizer.get_vocab_size(with_added_tokens=False)

    def __len__(self) -> int:
        return self._tokenizer.get_vocab_size(with_added_tokens=True)

    def get_vocab(self) -> dict[str, int]:
        return self._tokenizer.get_vocab(with_added_tokens=True)

    @property
    def added_tokens_decoder(self) -> dict[int, AddedToken]:
        return dict(sorted(self._tokenizer.get_added_tokens_decoder().items()))

    def _token_to_id(self, token: str) -> int | None:
        return self._tokenizer.token_to_id(token)

    def _id_to_token(self, index: int) -> str | None:
        return self._tokenizer.id_to_token(index)

    def _add_tokens(self, tokens: list[AddedToken]) -> None:
        special = [t for t in tokens if t.special]
        normal = [t for t in tokens if not t.special]
        if normal:
            self._tokenizer.add_tokens(normal)
        if special:
            self._tokenizer.add_special_tokens(special)

    def num_special_tokens_to_add(self, pair: bool = False) -> int:
        return self._tokenizer.num_special_tokens_to_add(pair)

    def tokenize(self, text: str, pair: str | None = None, add_special_tokens: bool = False) -> list[str]:
        for value, what in ((text, "text"), (pair, "pair")):
            if isinstance(value, str):
                _refuse_lone_surrogates(value, what)
        encoding = self._tokenizer.encode(text, pair, add_special_tokens=add_special_tokens)
        return encoding.tokens

    def convert_tokens_to_string(self, tokens: list[str]) -> str:
        decoder = self._tokenizer.decoder
        return decoder.decode(tokens) if decoder is not None else " ".join(tokens)

    # -- encoding --------------------------------------------------------------------------
    def _backend_inputs(self, items, options) -> list:
        if options.is_split_into_words:  # a list is one pre-split sequence, a tuple a pair
            return [list(text) if pair is None else (list(text), list(pair)) for text, pair in items]
        return [text if pair is None else (text, pair) for text, pair in items]

    def _check_stride(self, items, options) -> None:
        """Check that each window can overlap by ``stride`` tokens before the backend sees it.

        ``tokenizers`` aborts the process-level call with a panic when a window is not longer
        than ``stride``; we measure the sequences and raise a ValueError instead.
        """
        self._tokenizer.no_truncation()
        self._tokenizer.no_padding()
        texts = [text for text, _ in items] + [pair for _, pair in items if pair is not None]
        if options.is_split_into_words:
            texts = [list(t) for t in texts]
        lengths = [len(e.ids) for e in self._tokenizer.encode_batch(
            texts, add_special_tokens=False, is_pretokenized=options.is_split_into_words)]
        pair_lengths = iter(lengths[len(items):])
        for (text, pair), length in zip(items, lengths):
            pair_length = None if pair is None else next(pair_lengths)
            self._truncate_pair([0] * length, None if pair_length is None else [0] * pair_length, options)

    def _encode_rows(self, items, options):
        backend = self._tokenizer
        if options.truncation is not None and options.stride > 0:
            self._check_stride(items, options)
        if options.truncation is not None:
            backend.enable_truncation(options.max_length, stride=options.stride, strategy=options.truncation,
                                      direction=self.truncation_side)
        else:
            backend.no_truncation()
        if options.padding is not None:
            backend.enable_padding(
                direction=options.padding_side,
                pad_id=self.pad_token_id,
                pad_type_id=0,
                pad_token=self.pad_token,
                length=options.max_length if options.padding == "max_length" else None,
                pad_to_multiple_of=options.pad_to_multiple_of,
            )
        else:
            backend.no_padding()
        try:
            encodings = backend.encode_batch(self._backend_inputs(items, options),
                                             add_special_tokens=options.add_special_tokens,
                                             is_pretokenized=options.is_split_into_words)
        except Exception as exc:  # tokenizers raises a bare Exception for truncation errors
            raise ValueError(f"{type(self).__name__}: {exc}") from exc
        rows = []
        for index, encoding in enumerate(encodings):
            parts = [encoding] + (list(encoding.overflowing) if options.return_overflowing_tokens else [])
            for part in parts:
                row = {"input_ids": part.ids}
                if options.return_token_type_ids:
                    row["token_type_ids"] = part.type_ids
                if options.return_attention_mask:
                    row["attention_mask"] = part.attention_mask
                if options.return_special_tokens_mask:
                    row["special_tokens_mask"] = part.special_tokens_mask
                if options.return_offsets_mapping:
                    row["offset_mapping"] = part.offsets
                rows.append((index, row, part))
        return rows

    # -- decoding --------------------------------------------------------------------------
    def _decode_ids(self, ids: list[int], skip_special_tokens: bool) -> str:
        return self._tokenizer.decode(ids, skip_special_tokens=skip_special_tokens)

    # -- saving ----------------------------------------------------------------------------
    def save_vocabulary(self, save_directory: Path) -> tuple[str, ...]:
        """Write ``tokenizer.json`` (atomically)."""
        self._tokenizer.no_truncation()
        self._tokenizer.no_padding()
        target = Path(save_directory) / TOKENIZER_FILE
        with atomic_path(target) as tmp:
            self._tokenizer.save(os.fspath(tmp))
        return (str(target),)
