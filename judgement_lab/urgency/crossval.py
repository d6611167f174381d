"""`python -m judgement_lab.urgency.crossval`: the feature sets and regularisation tried for the urgent
head, each scored by leaving each writer of the training split out in turn (the test split is never read).

Prints, per variant, the false-alarm rate on the held-out writers' normal messages and on held-out everyday
messages of the reference data, at the thresholds that keep 97 % and 98.5 % of their urgent messages. With
`--encoder --band L`: also the two stages where the encoder's variant rescores only the messages that the
character model scores at L or more (the uncertain band), and the share of messages it would encode.
"""

from __future__ import annotations

import argparse
import functools
import json
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import sparse

from ingest.urgency.catalogue import CATALOGUE_PATH, parse_catalogue
from judgement_lab.dataset import default_data_dir
from judgement_lab.urgency.training import (
    HeldOut,
    Matrices,
    TrainingSet,
    feature_matrices,
    fit_urgent,
    held_out_scores,
    leave_writer_out,
    summarise,
    training_set,
)
from workers.judgement.urgency.features import NOT_NOW, Reader
from workers.judgement.urgency.model import NONE


def variants(reader: Reader, vectors: dict[str, npt.NDArray[np.float32]] | None) -> dict[str, Matrices]:
    """The feature sets compared; with `vectors` (the encoder's, per text) the encoder's too."""
    chars = feature_matrices(reader)
    found: dict[str, Matrices] = {"chars": chars}
    if vectors is None:
        return found

    def encoded(texts: Sequence[str]) -> sparse.csr_matrix:
        return sparse.csr_matrix(np.stack([vectors[t] for t in texts]))

    def encoder(train: list[str], test: list[str]) -> tuple[sparse.csr_matrix, sparse.csr_matrix]:
        return encoded(train), encoded(test)

    def both(train: list[str], test: list[str]) -> tuple[sparse.csr_matrix, sparse.csr_matrix]:
        a, b = chars(train, test)
        return sparse.hstack([a, encoded(train)], "csr"), sparse.hstack([b, encoded(test)], "csr")

    found.update({"encoder": encoder, "chars+encoder": both})
    return found


def banded(ts: TrainingSet, first: HeldOut, second: HeldOut, lower: float, detail: bool) -> dict[str, Any]:
    """The figures of two stages: the second's score where the first's is at least `lower`, else the first's
    (both held out the same way), and the shares of writers' and background messages the second scores."""
    in_band = first.scores >= lower
    bg_in_band = first.background >= lower
    combined = HeldOut(
        first.held,
        np.where(in_band, second.scores, first.scores),
        np.where(bg_in_band, second.background, first.background),
    )
    return {
        "band_lower": lower,
        "band_share_writers": round(float(in_band.mean()), 4),
        "band_share_background": round(float(bg_in_band.mean()), 4),
        **summarise(ts, combined, detail),
    }


def false_alarms_by(ts: TrainingSet, h: HeldOut, reader: Reader, threshold: float) -> dict[str, Any]:
    """Where the held-out writers' false alarms at a threshold come from: [false alarms, normal messages] by
    kind, channel, the not-now context groups the text names ("none" without any) and the situations its cues
    name ("none" without a cue), biggest first."""
    counts: dict[str, Counter[str]] = {k: Counter() for k in ("kind", "channel", "context", "cue")}
    alarms: dict[str, Counter[str]] = {k: Counter() for k in counts}
    for i, score in zip(h.held, h.scores.tolist(), strict=True):
        if ts.labels[i] != NONE:
            continue
        reading = reader.read(ts.texts[i])
        keys = {
            "kind": ts.kinds[i],
            "channel": ts.channels[i],
            "context": ",".join(g for g in NOT_NOW if g in reading.groups()) or "none",
            "cue": ",".join(sorted({hit.value for hit in reading.cues})) or "none",
        }
        for field, key in keys.items():
            counts[field][key] += 1
            alarms[field][key] += score >= threshold
    return {
        field: {
            key: [alarms[field][key], n] for key, n in sorted(c.items(), key=lambda kv: -alarms[field][kv[0]])
        }
        for field, c in counts.items()
    }


def main(argv: list[str] | None = None) -> None:
    """Print each variant's figures as JSON lines."""
    parser = argparse.ArgumentParser(prog="python -m judgement_lab.urgency.crossval")
    parser.add_argument("--variant", action="append", default=None)
    parser.add_argument("--c", type=float, action="append", default=None, help="regularisation (default 64)")
    parser.add_argument("--encoder", action="store_true", help="also the encoder's variants (make encoder)")
    parser.add_argument("--encoder-tokens", type=int, default=64)
    parser.add_argument(
        "--band", type=float, action="append", default=None, help="with --encoder: a band's lower bound"
    )
    parser.add_argument(
        "--detail", action="store_true", help="critical recall, hard negatives, by channel and by writer"
    )
    parser.add_argument(
        "--breakdown", action="store_true", help="the char model's false alarms by kind, context and cue"
    )
    args = parser.parse_args(argv)
    catalogue_text = CATALOGUE_PATH.read_text(encoding="utf-8")
    reader = Reader(parse_catalogue(catalogue_text))
    data_dir = default_data_dir()
    ts = training_set(catalogue_text, data_dir if data_dir.exists() else None)
    vectors = None
    if args.encoder:
        from judgement_lab.encoder import Encoder

        unique = sorted(set(ts.texts))
        rows = Encoder.load().embed(unique, max_tokens=args.encoder_tokens)
        vectors = dict(zip(unique, rows, strict=True))
    for name, matrices in variants(reader, vectors).items():
        if args.variant and name not in args.variant:
            continue
        for c in args.c or [64.0]:
            figures = leave_writer_out(ts, matrices, functools.partial(fit_urgent, c=c), args.detail)
            print(json.dumps({"variant": name, "c": c, **figures}), flush=True)
    if args.breakdown:
        held = held_out_scores(ts, feature_matrices(reader), fit_urgent)
        threshold = summarise(ts, held)["threshold"]
        print(
            json.dumps(
                {"threshold": threshold, **false_alarms_by(ts, held, reader, threshold)}, ensure_ascii=False
            )
        )
    if args.band and vectors is not None:
        found = variants(reader, vectors)
        first = held_out_scores(ts, found["chars"], fit_urgent)
        second = held_out_scores(ts, found["chars+encoder"], fit_urgent)
        for lower in args.band:
            figures = banded(ts, first, second, lower, args.detail)
            print(json.dumps({"variant": "chars, then chars+encoder", **figures}), flush=True)


if __name__ == "__main__":
    main()
