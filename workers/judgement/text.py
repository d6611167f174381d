"""Cut raw title + content into the word tokens the labelled training file was prepared with."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

import rjieba

from ingest.normalise import nfkc

# Tokens with punctuation inside ("1-2", "2.5", "a/b") were dropped from the training file together with
# punctuation itself, so only all-word-character tokens are kept.
_WORD = re.compile(r"^\w+$")
_MAX_MEMO = 500_000


def cut(text: str) -> list[str]:
    """Segment text with rjieba (the Rust port of jieba: same dictionary, same cuts, much faster)."""
    return list(rjieba.cut(text))


def cut_for_search(text: str) -> list[str]:
    """Segment and also emit the shorter words inside long ones ("油烟味" -> "油烟", "烟味", "油烟味")."""
    return list(rjieba.cut_for_search(text))


def normalise(text: str) -> str:
    """NFKC-fold full-width letters, digits and spaces to ASCII; the gateway does the same on intake."""
    return nfkc(text)


class Tokenizer:
    """Raw text to training-style tokens: jieba words minus stopwords, punctuation and lone letters."""

    def __init__(self, stopwords: Iterable[str]) -> None:
        self.stopwords = frozenset(stopwords)
        # Words repeat across messages, so the verdict is memoised (bounded, so odd input cannot grow it).
        self._verdicts: dict[str, bool] = {}

    def keep(self, word: str) -> bool:
        """Whether a jieba word survives the training file's preparation."""
        verdict = self._verdicts.get(word)
        if verdict is None:
            # Lone letters and digits were removed from the training file, as were punctuation tokens.
            verdict = not (
                word in self.stopwords
                or not _WORD.match(word)
                or word == "_"
                or (len(word) == 1 and word.isascii())
            )
            if len(self._verdicts) < _MAX_MEMO:
                self._verdicts[word] = verdict
        return verdict

    def tokens(self, title: str, content: str) -> list[str]:
        """Training-style tokens of a raw message (title first, as in the training file)."""
        return [w for w in cut(normalise(f"{title} {content}")) if self.keep(w)]

    def search_tokens(self, text: str) -> list[str]:
        """Filtered words of text including the sub-words of long words, for matching paraphrases."""
        return [w for w in cut_for_search(normalise(text)) if self.keep(w)]

    def filter(self, words: Sequence[str]) -> list[str]:
        """Apply the stopword and punctuation filter to already-cut words."""
        return [w for w in words if self.keep(w)]
