"""`python -m judgement_lab.urgency.band_cost FOLDER`: what asking a fine-tuned encoder about a band of the
urgency model's scores would add to each message's judgement on everyday traffic.

For each band's lower bound: the share of everyday messages the committed urgency model scores in the band
(the reference data's `messages_unlabelled.csv` and the surge simulator's `loadtest.texts.everyday`), the
int8 ONNX encoder's time per message on those very messages (one thread, one message at a time as a worker
would ask, and in batches of 8), the urgency model's own time per message, and the average added cost per
message (share × time). FOLDER holds a fine-tuned `params.npz` (`finetune_band`'s cache); it is exported to
int8 ONNX there once.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from judgement_lab.dataset import default_data_dir, read_raw
from judgement_lab.finetune import OnnxTeacher, _restrict_threads, export_teacher, fp32_dir
from loadtest.texts import everyday
from workers.judgement.urgency.features import focus_text
from workers.judgement.urgency.model import UrgencyModel


def _per_message(seconds: float, n: int) -> float:
    return round(seconds / max(n, 1) * 1000, 3)


def encoder_ms(teacher: OnnxTeacher, texts: Sequence[str], batch_size: int, repeats: int) -> float:
    """Milliseconds per message, the best of `repeats` passes (this machine is shared)."""
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        for start in range(0, len(texts), batch_size):
            teacher.probabilities(texts[start : start + batch_size], batch_size=batch_size)
        best = min(best, time.perf_counter() - started)
    return _per_message(best, len(texts))


def model_ms(model: UrgencyModel, messages: Sequence[tuple[str, str]], repeats: int) -> float:
    """The urgency model's milliseconds per message, one message at a time (best of `repeats`)."""
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        for title, content in messages:
            model.assess(title, content)
        best = min(best, time.perf_counter() - started)
    return _per_message(best, len(messages))


def main(argv: list[str] | None = None) -> None:
    """Print the shares, times and average added cost as JSON."""
    parser = argparse.ArgumentParser(prog="python -m judgement_lab.urgency.band_cost")
    parser.add_argument("folder", type=Path)
    parser.add_argument("--band", type=float, action="append", default=None)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--simulated", type=int, default=1500)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    _restrict_threads(1)
    base = fp32_dir()
    teacher = OnnxTeacher(
        export_teacher(args.folder, base), ["normal", "urgent"], base / "tokenizer.json", args.max_tokens
    )
    model = UrgencyModel.load()
    rng = random.Random(0)
    traffic: dict[str, list[tuple[str, str]]] = {
        "reference_everyday": [
            (m.title, m.content) for m in read_raw(default_data_dir(), "messages_unlabelled.csv")
        ],
        "simulator_everyday": [(t.title, t.content) for t in (everyday(rng) for _ in range(args.simulated))],
    }
    out: dict[str, Any] = {"model_version": model.meta["model_version"], "threshold": model.threshold}
    for name, messages in traffic.items():
        scores = np.array([u.score for u in model.assess_many(messages)])
        part: dict[str, Any] = {
            "messages": len(messages),
            "model_ms": model_ms(model, messages, args.repeats),
        }
        for lower in args.band or [0.05, 0.1, 0.15, model.threshold]:
            band = [focus_text(*messages[i]) for i in np.flatnonzero(scores >= lower).tolist()]
            share = len(band) / len(messages)
            one = encoder_ms(teacher, band, 1, args.repeats) if band else 0.0
            eight = encoder_ms(teacher, band, 8, args.repeats) if band else 0.0
            part[f"band_{lower}"] = {
                "share": round(share, 4),
                "encoder_ms_one_at_a_time": one,
                "encoder_ms_batches_of_8": eight,
                "added_ms_per_message": round(share * one, 4),
                "added_share_of_model": round(share * one / part["model_ms"], 3),
            }
        out[name] = part
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
