"""BERT's tokenizers: polyformer's public WordPiece tokenizers with BERT's model inputs."""

from polyformer.core.wordpiece import WordPieceTokenizer, WordPieceTokenizerFast


class BertTokenizer(WordPieceTokenizer):
    """Pure-Python BERT tokenizer (basic tokenization + WordPiece) from ``vocab.txt``."""

    model_input_names = ["input_ids", "token_type_ids", "attention_mask"]


class BertTokenizerFast(WordPieceTokenizerFast):
    """BERT tokenizer on the Rust ``tokenizers`` library, from ``vocab.txt`` or ``tokenizer.json``."""

    model_input_names = ["input_ids", "token_type_ids", "attention_mask"]
