"""The issue signature of a message (what it is about, where) and the similarity of two signatures."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import numpy.typing as npt

from workers.judgement.places import SUFFIX_MATCH_CHARS, extract_place, same_place
from workers.judgement.text import Tokenizer
from workers.judgement.topic import TopicModel, Vector

SIGNATURE_VERSION = 1
# Every word any signature of this process has used, numbered: scoring gathers word weights by number
# (workers/judgement/scoring.py). It grows with the vocabulary of the messages, not with their number.
_WORD_IDS: dict[str, int] = {}
PLACE_PREFIX = "@"
_EMPTY: Vector = np.zeros(0, dtype=np.float32)


@dataclass(frozen=True)
class SignatureParams:
    """How a signature is built; defaults tuned on the hot-issue pool (see docs/judgement.md)."""

    title_weight: float = 3.0
    content_chars: int = 160  # the lede: later paragraphs drift into background and demands
    max_terms: int = 24
    retrieval_terms: int = 8


@dataclass(frozen=True)
class ScoreWeights:
    """How match_score mixes its evidence."""

    # Latent-topic similarity carries paraphrases; word overlap keeps two problems of one topic apart.
    topic: float = 0.5
    terms: float = 0.5
    # Sharing a named place (estate, school, village) lowers the similarity needed instead of replacing
    # it, so that different problems of one estate (parking sales, cracks, smoke) stay apart.
    place_bonus: float = 0.3
    # Without a shared place, word overlap must reach this before anything counts: otherwise every bus-route
    # or metro message of a year would chain into one "topic" rather than one incident.
    min_terms_without_place: float = 0.35


DEFAULT_WEIGHTS = ScoreWeights()


@dataclass(frozen=True)
class IssueSignature:
    """Unit-length topic vector, unit-length weighted words, named places, city and district."""

    terms: Mapping[str, float]
    topic: Vector = field(default_factory=lambda: _EMPTY, compare=False, repr=False)
    city: str | None = None
    district: str | None = None
    places: tuple[str, ...] = ()

    def retrieval_keys(self, n: int = SignatureParams.retrieval_terms) -> list[str]:
        """The heaviest words and the places: what a store indexes to fetch candidates (e.g. a GIN index
        on a text[] column queried with &&)."""
        top = sorted(self.terms.items(), key=lambda kv: (-kv[1], kv[0]))[:n]
        return sorted({k for k, _ in top} | {PLACE_PREFIX + p for p in self.places})

    @cached_property
    def term_arrays(self) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
        """The words' numbers (see vocabulary_size) and weights, in the order of `terms`."""
        ids = _WORD_IDS
        numbers = [ids.setdefault(word, len(ids)) for word in self.terms]
        return np.array(numbers, np.int64), np.fromiter(self.terms.values(), np.float64, len(numbers))

    @cached_property
    def place_forms(self) -> tuple[frozenset[str], frozenset[str]]:
        """The place names, and every suffix of them long enough for `same_place`: with both sets,
        `share_place` is three set intersections instead of a `same_place` call per pair of names (a
        grouped incident keeps up to eight names and is compared with most messages of its bucket)."""
        return frozenset(self.places), _long_suffixes(self.places)

    def to_json(self) -> dict[str, Any]:
        """A plain dict for a jsonb column (about 1 KB)."""
        return {
            "v": SIGNATURE_VERSION,
            "terms": dict(zip(self.terms, _rounded(self.terms.values()), strict=True)),
            "topic": _rounded(self.topic.tolist()),
            "city": self.city,
            "district": self.district,
            "places": list(self.places),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> IssueSignature:
        """Inverse of to_json."""
        return cls(
            terms={str(k): float(v) for k, v in data["terms"].items()},
            topic=np.asarray(data.get("topic", ()), dtype=np.float32),
            city=data.get("city"),
            district=data.get("district"),
            places=tuple(data.get("places", ())),
        )


def _rounded(values: Iterable[float]) -> list[float]:
    """`round(x, 4)` of each value, in one numpy pass: a worker writes the signature of every incident its
    batch touched (workers/linking.py), and rounding a centroid's ~150 numbers one by one in Python made
    `to_json` cost ~53 µs (~10 µs now). numpy rounds x · 10⁴ to the nearest integer (ties to even) and
    divides: the same doubles as Python's correctly rounded `round` except when x · 10⁴ lands within an ulp
    of a tie — none in 8 million topic values and 2 million word weights of 80,000 simulator signatures and
    centroids (tests/unit/test_signature_json.py checks a few hundred); a last-digit difference there would
    only change what another worker reads back."""
    rounded: list[float] = np.round(np.fromiter(values, np.float64), 4).tolist()
    return rounded


def vocabulary_size() -> int:
    """How many words signatures' `term_arrays` have numbered so far."""
    return len(_WORD_IDS)


def unit(weights: Mapping[str, float], max_terms: int) -> dict[str, float]:
    """Keep the heaviest max_terms weights and scale them to unit length."""
    top = sorted(weights.items(), key=lambda kv: (-kv[1], kv[0]))[:max_terms]
    norm = math.sqrt(sum(v * v for _, v in top)) or 1.0
    return {k: v / norm for k, v in top}


def cosine(a: Mapping[str, float], b: Mapping[str, float]) -> float:
    """Dot product of two unit-length sparse vectors."""
    if len(a) > len(b):
        a, b = b, a
    # Only shared words add anything: the same sum, in the same order, as over every word with 0 for the
    # missing ones (adding 0.0 changes no float), a third faster; it runs for every candidate of a message.
    total = 0.0
    get = b.get
    for k, v in a.items():
        w = get(k)
        if w is not None:
            total += v * w
    return total


def places_conflict(a: IssueSignature, b: IssueSignature) -> bool:
    """True when both name a city, or both a district, and they differ: then they cannot be one issue."""
    if a.city and b.city and a.city != b.city:
        return True
    return bool(a.district and b.district and a.district != b.district)


def _long_suffixes(names: Iterable[str]) -> frozenset[str]:
    n = SUFFIX_MATCH_CHARS
    return frozenset(name[i:] for name in names if len(name) >= n for i in range(len(name) - n + 1))


def share_place(a: IssueSignature, b: IssueSignature) -> bool:
    """Whether both name the same place: some pair of names for which `same_place` holds.

    `same_place(x, y)` is x == y, or both have at least SUFFIX_MATCH_CHARS characters and one ends with the
    other; the latter is "x is one of y's suffixes of that length or more", or the reverse.
    """
    if len(a.places) == 1 and len(b.places) == 1:  # the common case: no sets to build
        return same_place(a.places[0], b.places[0])
    names_a, suffixes_a = a.place_forms
    names_b, suffixes_b = b.place_forms
    return not (
        names_a.isdisjoint(names_b) and names_a.isdisjoint(suffixes_b) and names_b.isdisjoint(suffixes_a)
    )


def topic_similarity(a: IssueSignature, b: IssueSignature) -> float:
    """Cosine of the topic vectors (0 if either is missing)."""
    if a.topic.size == 0 or a.topic.size != b.topic.size:
        return 0.0
    return max(0.0, float(a.topic @ b.topic))


def combine(topic: float, terms: float, same_place: bool, weights: ScoreWeights = DEFAULT_WEIGHTS) -> float:
    """The match score from its parts, capped at 1."""
    if not same_place and terms < weights.min_terms_without_place:
        return 0.0
    score = weights.topic * topic + weights.terms * terms + (weights.place_bonus if same_place else 0.0)
    return min(1.0, score)


def match_score(a: IssueSignature, b: IssueSignature, weights: ScoreWeights = DEFAULT_WEIGHTS) -> float:
    """Similarity in [0, 1] of two signatures; 0 when their cities or districts differ."""
    if places_conflict(a, b):
        return 0.0
    return combine(topic_similarity(a, b), cosine(a.terms, b.terms), share_place(a, b), weights)


class SignatureBuilder:
    """Computes signatures with word weights (idf) and a topic space learnt at training time."""

    def __init__(
        self,
        tokenizer: Tokenizer,
        idf: Mapping[str, float],
        unseen_idf: float,
        topics: TopicModel,
        params: SignatureParams | None = None,
    ) -> None:
        self.tokenizer = tokenizer
        self.idf = idf
        self.unseen_idf = unseen_idf
        self.topics = topics
        self.params = params or SignatureParams()

    def words(self, text: str) -> list[str]:
        """Topic words of text: single characters and numbers say little about the issue."""
        return [w for w in self.tokenizer.search_tokens(text) if len(w) >= 2 and not w.isascii()]

    def build(self, title: str, content: str, district: str | None = None) -> IssueSignature:
        """The signature of one message."""
        p = self.params
        place = extract_place(title, content, district)
        tf: dict[str, float] = {}
        for text, weight in ((title, p.title_weight), (content[: p.content_chars], 1.0)):
            for w in self.words(text):
                tf[w] = tf.get(w, 0.0) + weight
        sublinear = {w: 1.0 + math.log(n) for w, n in tf.items()}
        topic = self.topics.vector(sublinear)
        # Words of a place name belong to the place, not to the problem.
        weights = {
            w: s * self.idf.get(w, self.unseen_idf)
            for w, s in sublinear.items()
            if not any(w in n for n in place.names)
        }
        return IssueSignature(
            terms=unit(weights, p.max_terms),
            topic=topic,
            city=place.city,
            district=place.district,
            places=place.names,
        )
