"""DistilBERT's fast tokenizer, on the Rust ``tokenizers`` library."""

from ...core.wordpiece import WordPieceTokenizerFast
from .tokenization import DistilBertTokenizer

__all__ = ["DistilBertTokenizerFast"]


class DistilBertTokenizerFast(WordPieceTokenizerFast):
    """Construct a fast DistilBERT tokenizer from ``tokenizer_file`` (``tokenizer.json``) or ``vocab_file``.

    The same tokens and ids as :class:`DistilBertTokenizer`, plus character offsets
    (``return_offsets_mapping``) and ``word_ids()``; see
    :class:`~polyformer.core.wordpiece.WordPieceTokenizerFast`.
    """

    model_input_names = ["input_ids", "attention_mask"]
    slow_tokenizer_class = DistilBertTokenizer
