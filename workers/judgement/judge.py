"""The facade a worker process loads once: category, confidence, urgency and department of a message, and
the pieces deduplication needs (tokenizer, signature builder)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from workers.judgement.address import locate_opening, scanner
from workers.judgement.artefact import Artefact, load_artefact
from workers.judgement.classifier import CategoryClassifier
from workers.judgement.routing import RoutingTable
from workers.judgement.signature import IssueSignature, SignatureBuilder
from workers.judgement.text import Tokenizer
from workers.judgement.topic import TopicModel
from workers.judgement.urgency.model import UrgencyModel
from workers.judgement.urgency.second_opinion import SecondOpinion


@dataclass(frozen=True)
class Judgement:
    """The judgement of one message, before deduplication."""

    category: str | None
    category_confidence: float
    needs_review: bool
    urgency: str
    urgency_reason: str | None
    department: str
    urgency_situation: str | None = None
    # The message's district: the adapter's, else a real one its text names or implies (None if neither).
    district: str | None = None


def signature_builder(art: Artefact, tokenizer: Tokenizer) -> SignatureBuilder:
    """The signature builder described by an artefact."""
    a, m = art.arrays, art.meta["grouping"]
    words = art.words("grp_words")
    idf = dict(zip(words, a["grp_idf"].astype(float).tolist(), strict=True))
    lsa_words = art.words("lsa_words")
    q, scale = a["lsa_components"], a["lsa_scale"]
    components = (q.astype(np.float32) * scale[:, None]).astype(np.float32)
    topics = TopicModel({w: i for i, w in enumerate(lsa_words)}, a["lsa_idf"].astype(np.float32), components)
    return SignatureBuilder(tokenizer, idf, float(m["unseen_idf"]), topics)


# Where a message says where it is: the title and the opening (reading whole long letters for a district cost
# as much again as the rest of the judgement, and the opening names the place in nearly every message).
LOCATE_CHARS = 160


def located_district(title: str, content: str) -> str | None:
    """A real district the title or opening names or implies (海淀区; 方庄 → 丰台区); the contest's anonymised
    codes are left to the adapter's field."""
    place = locate_opening(title, content[:LOCATE_CHARS])
    return place.district if place.district_source not in (None, "code") else None


class Judge:
    """Loaded once per process; judging is pure and thread-safe."""

    def __init__(self, artefact: Artefact, routing: RoutingTable, urgency: UrgencyModel) -> None:
        self.artefact = artefact
        self.urgency = urgency
        scanner()  # the place names' automaton, built now rather than on the first message
        self.tokenizer = Tokenizer(artefact.words("stopwords"))
        self.classifier = CategoryClassifier.from_artefact(artefact)
        self.signatures = signature_builder(artefact, self.tokenizer)
        self.routing = routing
        self.review_threshold = float(artefact.meta["classifier"]["review_threshold"])

    @classmethod
    def load(
        cls,
        model_path: Path | None = None,
        routing_path: Path | None = None,
        urgency_path: Path | None = None,
    ) -> Judge:
        """Load the artefacts (default: the committed ones in workers/judgement/model/) and routing table."""
        return cls(
            load_artefact(model_path),
            RoutingTable.load(routing_path),
            UrgencyModel.load(urgency_path, SecondOpinion.load()),
        )

    @property
    def model_version(self) -> str:
        """The artefact's model version string (e.g. "judgement-v1+<sha>")."""
        return str(self.artefact.meta["model_version"])

    def judge(self, title: str, content: str, district: str | None = None) -> Judgement:
        """Judge one message."""
        return self.judge_many([(title, content, district)])[0]

    def judge_many(self, messages: Sequence[tuple[str, str, str | None]]) -> list[Judgement]:
        """Judge a batch (faster per message: features are computed with one numpy pass)."""
        docs = [self.tokenizer.tokens(t, c) for t, c, _ in messages]
        scores = self.classifier.predict(docs)
        urgencies = self.urgency.assess_many([(t, c) for t, c, _ in messages])
        out: list[Judgement] = []
        for (title, content, field), doc, score, urgency in zip(
            messages, docs, scores, urgencies, strict=True
        ):
            district = field or located_district(title, content)
            # With no usable word the model has nothing to go on: leave the category to a person.
            category = score.category if doc else None
            confidence = score.confidence if doc else 0.0
            out.append(
                Judgement(
                    category=category,
                    category_confidence=round(confidence, 4),
                    needs_review=category is None or confidence < self.review_threshold,
                    urgency=urgency.level,
                    urgency_reason=urgency.reason,
                    department=self.routing.department(category, district),
                    urgency_situation=urgency.situation,
                    district=district,
                )
            )
        return out

    def signature(self, title: str, content: str, district: str | None = None) -> IssueSignature:
        """The issue signature used for incident grouping."""
        return self.signatures.build(title, content, district)
