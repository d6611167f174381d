"""`python -m judgement_lab.urgency.evaluate` (part of `make evaluate`): the urgency model on the corpus's
frozen test split — a writer whose messages the model never saw, and the test half of the real messages'
labels — with recall of urgent and of critical messages and the false-alarm rate on normal ones."""

from __future__ import annotations

import argparse
import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ingest.normalise import nfkc
from ingest.urgency.catalogue import CRITICAL, NORMAL
from ingest.urgency.screen import default_screen
from judgement_lab.dataset import add_data_dir_option, default_data_dir, read_raw
from judgement_lab.urgency.corpus import Example, examples
from workers.judgement.urgency.model import Urgency, UrgencyModel
from workers.judgement.urgency.second_opinion import SecondOpinion

# Encodings a second: more than any evaluation asks for.
UNLIMITED = 1e9


def _share(numerator: int, denominator: int) -> float | None:
    return round(numerator / denominator, 4) if denominator else None


def scores(items: Sequence[Example], predicted: Sequence[Urgency]) -> dict[str, Any]:
    """Recall of urgent (critical or high) and of critical messages, false alarms on normal ones."""
    pairs = list(zip(items, predicted, strict=True))
    urgent = [(e, p) for e, p in pairs if e.urgent]
    critical = [(e, p) for e, p in pairs if e.level == CRITICAL]
    normal = [(e, p) for e, p in pairs if not e.urgent]
    return {
        "messages": len(pairs),
        "urgent": len(urgent),
        "critical": len(critical),
        "normal": len(normal),
        "recall_urgent": _share(sum(p.level != NORMAL for _, p in urgent), len(urgent)),
        "recall_critical": _share(sum(p.level != NORMAL for _, p in critical), len(critical)),
        "critical_as_critical": _share(sum(p.level == CRITICAL for _, p in critical), len(critical)),
        "false_alarm_rate": _share(sum(p.level != NORMAL for _, p in normal), len(normal)),
        "hard_negative_false_alarms": _share(
            sum(p.level != NORMAL for e, p in normal if e.kind == "hard_negative"),
            sum(e.kind == "hard_negative" for e, _ in normal),
        ),
        "situation_accuracy": _share(sum(p.situation == e.situation for e, p in urgent), len(urgent)),
    }


def screen_figures(items: Sequence[Example], data_dir: Path | None) -> dict[str, Any]:
    """The gateway screen alone: the share of urgent messages it sends on the urgent lane (a miss still
    reaches the urgent topic, after the backlog), and the share of other traffic it sends there too."""
    screen = default_screen()

    def on_lane(title: str, text: str) -> bool:
        return screen.situation(nfkc(title), nfkc(text)) is not None

    urgent = [e for e in items if e.urgent]
    critical = [e for e in urgent if e.level == CRITICAL]
    normal = [e for e in items if not e.urgent]
    out: dict[str, Any] = {
        "urgent_on_lane": _share(sum(on_lane(e.title, e.text) for e in urgent), len(urgent)),
        "critical_on_lane": _share(sum(on_lane(e.title, e.text) for e in critical), len(critical)),
        "normal_on_lane": _share(sum(on_lane(e.title, e.text) for e in normal), len(normal)),
    }
    if data_dir is not None:
        everyday = [(m.title, m.content) for m in read_raw(data_dir, "messages_unlabelled.csv")]
        out["reference_data_on_lane"] = _share(sum(on_lane(t, c) for t, c in everyday), len(everyday))
        out["reference_data_messages"] = len(everyday)
    return out


def evaluate(model: UrgencyModel, items: Sequence[Example]) -> dict[str, Any]:
    """The figures overall, per channel and per source, and the misses and false alarms by id."""
    predicted = model.assess_many([(e.title, e.text) for e in items])
    pairs = list(zip(items, predicted, strict=True))

    def part(field: str, value: str) -> dict[str, Any]:
        chosen = [(e, p) for e, p in pairs if getattr(e, field) == value]
        return scores([e for e, _ in chosen], [p for _, p in chosen])

    by_channel = {c: part("channel", c) for c in sorted({e.channel for e in items})}
    by_source = {s: part("source", s) for s in sorted({e.source for e in items})}
    misses = [e.id for e, p in zip(items, predicted, strict=True) if e.urgent and p.level == NORMAL]
    alarms = [e.id for e, p in zip(items, predicted, strict=True) if not e.urgent and p.level != NORMAL]
    missed_situations = Counter(
        e.situation for e, p in zip(items, predicted, strict=True) if e.urgent and p.level == NORMAL
    )
    return {
        "model_version": model.meta["model_version"],
        "threshold": model.threshold,
        "overall": scores(items, predicted),
        "by_channel": by_channel,
        "by_source": by_source,
        "missed": misses,
        "missed_by_situation": dict(missed_situations),
        "false_alarms": alarms,
    }


def main(argv: list[str] | None = None) -> None:
    """Print the figures of the frozen test split as JSON."""
    parser = argparse.ArgumentParser(prog="python -m judgement_lab.urgency.evaluate")
    add_data_dir_option(parser)
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--split", default="test", choices=["test", "train"])
    parser.add_argument(
        "--chars-only", action="store_true", help="without the fine-tuned encoder's second opinion"
    )
    args = parser.parse_args(argv)
    data_dir = args.data_dir or default_data_dir()
    items = examples(args.split, data_dir if data_dir.exists() else None)
    # As a worker judges, but with no budget: every message in the band gets its second opinion.
    second = None if args.chars_only else SecondOpinion.load(rate=UNLIMITED)
    report = evaluate(UrgencyModel.load(args.model, second), items)
    report["urgency_encoder"] = second.version if second else None
    report["screen"] = screen_figures(items, data_dir if data_dir.exists() else None)
    print(json.dumps(report, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
