"""DistilBERT's tokenizer in pure Python: BERT's WordPiece, without ``token_type_ids``."""

from ...core.wordpiece import WordPieceTokenizer

__all__ = ["DistilBertTokenizer"]


class DistilBertTokenizer(WordPieceTokenizer):
    """Construct a DistilBERT tokenizer from ``vocab_file`` (``vocab.txt``).

    Everything comes from :class:`~polyformer.core.wordpiece.WordPieceTokenizer`
    (``do_lower_case``, ``strip_accents``, ``tokenize_chinese_chars``, ``never_split``,
    the special tokens, ``padding_side``...). DistilBERT has no segment embeddings, so
    ``token_type_ids`` are only returned when asked for.

    >>> tokenizer = DistilBertTokenizer(vocab_file="my_vocab_file.txt", do_lower_case=False, padding_side="left")
    """

    model_input_names = ["input_ids", "attention_mask"]
