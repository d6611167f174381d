"""A signature's JSON (what workers write for every touched incident) rounds as Python's `round(x, 4)`."""

from __future__ import annotations

import random

import orjson

from loadtest import texts
from workers.judgement.incidents import merge
from workers.judgement.judge import Judge
from workers.judgement.signature import IssueSignature


def _reference(sig: IssueSignature) -> dict[str, object]:
    return {
        "terms": {k: round(v, 4) for k, v in sig.terms.items()},
        "topic": [round(float(x), 4) for x in sig.topic],
    }


def test_to_json_rounds_messages_and_centroids_as_round_does() -> None:
    judge = Judge.load()
    rng = random.Random(8)
    everyday = [texts.everyday(rng) for _ in range(300)]
    sigs = [judge.signature(t.title, t.content, t.district) for t in everyday]
    centroid = sigs[0]
    for size, sig in enumerate(sigs[1:], start=1):
        centroid = merge(centroid, size, sig)
        for s in (sig, centroid):
            data = s.to_json()
            assert {k: data[k] for k in ("terms", "topic")} == _reference(s)
            assert list(data["terms"]) == list(s.terms)  # the words' order is kept
            assert all(type(x) is float for x in data["topic"])
    back = IssueSignature.from_json(orjson.loads(orjson.dumps(centroid.to_json())))
    assert back.terms == _reference(centroid)["terms"]
