"""The hot-path speed-ups compute exactly what the plain code computed."""

from __future__ import annotations

import random

import orjson

from workers.judgement.signature import IssueSignature, cosine
from workers.linking import SignatureCache


def _plain_cosine(a: dict[str, float], b: dict[str, float]) -> float:
    if len(a) > len(b):
        a, b = b, a
    return sum(v * b.get(k, 0.0) for k, v in a.items())


def test_cosine_is_bit_identical_to_the_plain_sum() -> None:
    rng = random.Random(8)
    words = [f"w{i}" for i in range(60)]
    for _ in range(500):
        a = {w: rng.random() for w in rng.sample(words, rng.randint(0, 24))}
        b = {w: rng.random() for w in rng.sample(words, rng.randint(0, 24))}
        assert cosine(a, b) == _plain_cosine(a, b)


def test_signature_cache_parses_each_text_once_and_is_bounded() -> None:
    sig = IssueSignature(terms={"噪音": 0.8, "烧烤": 0.6}, city="A", places=("望京西园",))
    text = orjson.dumps(sig.to_json()).decode()
    cache = SignatureCache(max_entries=2)
    first = cache.get(text)
    assert cache.get(text) is first
    assert first.terms == sig.terms and first.places == sig.places and first.city == "A"
    other = orjson.dumps(IssueSignature(terms={"路灯": 1.0}).to_json()).decode()
    third = orjson.dumps(IssueSignature(terms={"井盖": 1.0}).to_json()).decode()
    cache.get(other)
    cache.get(third)  # over the bound: the cache starts again rather than growing
    assert cache.get(third).terms == {"井盖": 1.0}
