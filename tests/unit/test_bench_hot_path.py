"""The hot-path speed-ups compute exactly what the plain code computed."""

from __future__ import annotations

import random

from workers.judgement.signature import cosine


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
