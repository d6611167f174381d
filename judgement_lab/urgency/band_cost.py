"""`python -m judgement_lab.urgency.band_cost`: what the fine-tuned encoder's second opinion (`make
urgency-encoder`) adds to each message's urgency judgement on everyday traffic.

On the reference data's `messages_unlabelled.csv` and the surge simulator's `loadtest.texts.everyday`: the
share of messages in the band (the encoder is asked) and of messages the committed urgency model scores at the
band's lower bound or more, the encoder's time per message asked (one thread, one message at a time as a
worker's small batches mostly ask), and the urgency model's time per message one at a time alone, with the
second opinion unbounded, and with the default per-process budget. Best of `--repeats` passes (the machine is
shared).
"""

from __future__ import annotations

import argparse
import json
import random
import time
from collections.abc import Callable, Sequence
from typing import Any

from judgement_lab.dataset import default_data_dir, read_raw
from judgement_lab.finetune import _restrict_threads
from loadtest.texts import everyday
from workers.judgement.urgency.features import focus_text
from workers.judgement.urgency.model import UrgencyModel
from workers.judgement.urgency.second_opinion import SecondOpinion, default_rate

UNBOUNDED = 1e9


def best_ms(run: Callable[[], None], n: int, repeats: int) -> float:
    """Milliseconds per message of `run` over n messages, the best of `repeats` passes."""
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - started)
    return round(best / max(n, 1) * 1000, 4)


def one_at_a_time(model: UrgencyModel, messages: Sequence[tuple[str, str]]) -> Callable[[], None]:
    def run() -> None:
        for title, content in messages:
            model.assess(title, content)

    return run


def main(argv: list[str] | None = None) -> None:
    """Print the shares and times as JSON."""
    parser = argparse.ArgumentParser(prog="python -m judgement_lab.urgency.band_cost")
    parser.add_argument("--simulated", type=int, default=1500)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    _restrict_threads(1)
    unbounded = SecondOpinion.load(rate=UNBOUNDED)
    if unbounded is None:
        raise SystemExit("no fine-tuned urgency encoder: run `make urgency-encoder` first")
    band = unbounded.band
    alone = UrgencyModel.load()
    rng = random.Random(0)
    raw = read_raw(default_data_dir(), "messages_unlabelled.csv")
    traffic: dict[str, list[tuple[str, str]]] = {
        "reference_everyday": [(m.title, m.content) for m in raw],
        "simulator_everyday": [(t.title, t.content) for t in (everyday(rng) for _ in range(args.simulated))],
    }
    out: dict[str, Any] = {
        "urgency_model": alone.meta["model_version"],
        "urgency_encoder": unbounded.version,
        "band": {"lower": band.lower, "upper": round(band.upper, 4), "threshold": band.threshold},
        "default_rate": default_rate(),
    }
    for name, messages in traffic.items():
        scores = [u.score for u in alone.assess_many(messages)]
        asked = [focus_text(*messages[i]) for i, s in enumerate(scores) if band.asks(s)]
        n = len(messages)

        def encode(texts: list[str] = asked) -> None:
            for text in texts:
                unbounded.scores([text])

        models = {
            "alone": alone,
            "unbounded": UrgencyModel.load(None, unbounded),
            "default_budget": UrgencyModel.load(None, SecondOpinion.load(rate=default_rate())),
        }
        out[name] = {
            "messages": n,
            "share_at_or_above_lower": round(sum(s >= band.lower for s in scores) / n, 4),
            "share_asked": round(len(asked) / n, 4),
            "encoder_ms_per_message_asked": best_ms(encode, len(asked), args.repeats),
            "model_ms_per_message": {
                k: best_ms(one_at_a_time(m, messages), n, args.repeats) for k, m in models.items()
            },
        }
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
