"""The word-piece tokenizer of bge-small-zh-v1.5, as every reader of that encoder must build it."""

from __future__ import annotations

from pathlib import Path

from tokenizers import Tokenizer
from tokenizers.normalizers import BertNormalizer


def load_tokenizer(path: Path) -> Tokenizer:
    """The model's word-piece tokenizer from `tokenizer.json`, lower-casing, without truncation or padding."""
    tokenizer = Tokenizer.from_file(str(path))
    # The vocabulary is lower-case only (BAAI's tokenizer lower-cases); the tokenizer.json in the jar does
    # not, which would turn every capital letter (the data's "A市", "A1区") into [UNK].
    tokenizer.normalizer = BertNormalizer(
        clean_text=True, handle_chinese_chars=True, strip_accents=None, lowercase=True
    )
    tokenizer.no_truncation()
    tokenizer.no_padding()
    return tokenizer
