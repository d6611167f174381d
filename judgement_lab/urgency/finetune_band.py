"""`python -m judgement_lab.urgency.finetune_band`: does a fine-tuned encoder, asked only about the messages
the character model is unsure of or flags, cut the urgent head's false alarms at the recall target?

Writers are left out in folds (a few writers together, since each fine-tuning costs minutes of both cores):
per fold, bge-small-zh-v1.5 (fp32, `scripts/encoder.sh fetch fp32`) is fine-tuned with a binary head
(urgent or not) on every other training example and a sample of the background (`judgement_lab/finetune.py`'s
machinery), and scores the fold's writers and the held-out background; the character model is held out on the
same folds. The two stages are then combined as `crossval --band` does (the second opinion replaces, or is
averaged with, the character model's score where that is at least the band's lower bound) and the threshold
is the one that keeps TARGET_RECALL of the held-out writers' urgent messages. The test split is never read.
Per-fold parameters and scores are cached under .data/models/urgency-finetune/<key>/.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import shutil
from collections.abc import Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import numpy as np

from ingest.urgency.catalogue import CATALOGUE_PATH, parse_catalogue
from judgement_lab.dataset import add_data_dir_option, default_data_dir
from judgement_lab.finetune import (
    REPO_ROOT,
    Settings,
    Teacher,
    _restrict_threads,
    export_teacher,
    fetch_base_model,
    load_params,
    save_params,
    train_teacher,
)
from judgement_lab.urgency.crossval import banded
from judgement_lab.urgency.training import (
    SEED,
    HeldOut,
    TrainingSet,
    feature_matrices,
    fit_urgent,
    held_background,
    held_out_scores,
    summarise,
    training_set,
)
from workers.judgement.urgency.features import Reader
from workers.judgement.urgency.model import NONE
from workers.judgement.urgency.second_opinion import CONFIG_FILE, MODEL_FILE, TOKENIZER_FILE, default_dir

CACHE_ROOT = REPO_ROOT / ".data" / "models" / "urgency-finetune"
# Writers left out together: about a third of the writers' messages each, the writers of mostly normal
# messages (F, H, J) spread over the folds.
FOLDS = (("train_a.jsonl", "train_j.jsonl"), ("train_b.jsonl", "train_h.jsonl"),
         ("train_c.jsonl", "train_e.jsonl", "train_f.jsonl"))  # fmt: skip
# Background examples fine-tuned on per fold: everyday text, of which the band holds little.
BACKGROUND_SAMPLE = 800
DEFAULT_SETTINGS = Settings(max_tokens=64, epochs=2)
# The band's lower bound `build` installs (chosen by leaving writers out: docs/judgement.md).
BAND_LOWER = 0.15


def _key(settings: Settings, ts: TrainingSet) -> str:
    digest = hashlib.sha256(json.dumps(asdict(settings), sort_keys=True).encode())
    for text, label, group in zip(ts.texts, ts.labels, ts.groups, strict=True):
        digest.update(f"{group}\t{label != NONE}\t{text}\n".encode())
    digest.update(json.dumps([FOLDS, BACKGROUND_SAMPLE]).encode())
    return digest.hexdigest()[:12]


def fold_scores(
    ts: TrainingSet, fold: Sequence[str], settings: Settings, base: Path, folder: Path
) -> dict[str, list[float]]:
    """The fine-tuned encoder's urgent probability of the fold's writers' messages and of the held-out
    background, trained without them (cached in `folder`)."""
    out_file = folder / "scores.json"
    if out_file.is_file():
        cached: dict[str, list[float]] = json.loads(out_file.read_text())
        return cached
    held_bg = held_background(ts)
    other_bg = sorted(set(i for i, g in enumerate(ts.groups) if g == "background") - set(held_bg))
    sample = set(random.Random(SEED).sample(other_bg, min(BACKGROUND_SAMPLE, len(other_bg))))
    train = [i for i, g in enumerate(ts.groups) if g not in fold and (g != "background" or i in sample)]
    params_file = folder / "params.npz"
    if params_file.is_file():
        params = load_params(params_file)
    else:
        params = train_teacher(
            [ts.texts[i] for i in train],
            [int(ts.labels[i] != NONE) for i in train],
            n_classes=2,
            base=base,
            settings=settings,
            log=lambda line: print(f"  {folder.name}: {line}", flush=True),
        )
        save_params(params, params_file)
    teacher = Teacher(params, ["normal", "urgent"], base, settings.max_tokens)
    held = [i for i, g in enumerate(ts.groups) if g in fold]
    scores = {
        "held": teacher.probabilities([ts.texts[i] for i in held])[:, 1].astype(float).tolist(),
        "background": teacher.probabilities([ts.texts[i] for i in held_bg])[:, 1].astype(float).tolist(),
    }
    out_file.write_text(json.dumps(scores))
    return scores


def compact(figures: dict[str, Any]) -> dict[str, Any]:
    """The figures that decide: per recall target, threshold, recall, critical recall and false alarms."""
    out = {k: v for k, v in figures.items() if k.startswith("band_")}
    for key, part in figures.items():
        if not key.startswith("at_recall_"):
            continue
        out[key] = {
            k: part.get(k)
            for k in (
                "threshold",
                "recall",
                "recall_critical",
                "false_alarms_writers",
                "false_alarms_hard_negative",
                "false_alarms_background",
            )
        }
        if "by_channel" in part:
            out[key]["false_alarms_by_channel"] = {
                c: p["false_alarms"] for c, p in part["by_channel"].items()
            }
    return out


def cross_validated(
    ts: TrainingSet,
    reader: Reader,
    *,
    settings: Settings,
    base: Path,
    root: Path,
    folds: Sequence[Sequence[str]],
) -> tuple[HeldOut, HeldOut]:
    """The character model's and the fine-tuned encoder's held-out scores on the same folds."""
    first = held_out_scores(ts, feature_matrices(reader), fit_urgent, folds)
    held: list[float] = []
    background: list[float] = []
    for n, fold in enumerate(folds):
        found = fold_scores(ts, fold, settings, base, root / f"fold-{n}")
        held += found["held"]
        background += found["background"]
    return first, HeldOut(first.held, np.asarray(held), np.asarray(background))


def mean_of_both(first: HeldOut, second: HeldOut) -> HeldOut:
    """The second stage of `Band`: the mean of the two scores."""
    return HeldOut(first.held, (first.scores + second.scores) / 2, (first.background + second.background) / 2)


def build(
    ts: TrainingSet,
    first: HeldOut,
    second: HeldOut,
    *,
    settings: Settings,
    base: Path,
    root: Path,
    lower: float,
) -> dict[str, Any]:
    """The encoder fine-tuned on every training example, as int8 ONNX with its band in default_dir(): the
    band's threshold keeps TARGET_RECALL of the held-out writers' urgent messages."""
    figures = banded(ts, first, mean_of_both(first, second), lower, True)
    threshold = figures["at_recall_0.985"]["threshold"]
    fold_scores(ts, (), settings, base, root / "all")
    int8 = export_teacher(root / "all", base)
    out = default_dir()
    out.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(int8, out / MODEL_FILE)
    shutil.copyfile(base / TOKENIZER_FILE, out / TOKENIZER_FILE)
    digest = hashlib.sha256((out / MODEL_FILE).read_bytes()).hexdigest()[:12]
    config = {
        "version": f"urgency-encoder+{digest}",
        "band_lower": lower,
        "threshold": threshold,
        "max_tokens": settings.max_tokens,
        "settings": asdict(settings),
        "folds": [list(f) for f in FOLDS],
        "leave_writers_out": compact(figures),
    }
    (out / CONFIG_FILE).write_text(json.dumps(config, indent=1), encoding="utf-8")
    return config


def main(argv: list[str] | None = None) -> None:
    """Fine-tune per fold (or reuse the cache), then print the character model's and the two stages'
    figures as JSON lines; `build --band L`: also fine-tune on everything and install the encoder."""
    parser = argparse.ArgumentParser(prog="python -m judgement_lab.urgency.finetune_band")
    parser.add_argument("command", nargs="?", choices=["crossval", "build"], default="crossval")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=DEFAULT_SETTINGS.epochs)
    parser.add_argument("--max-tokens", type=int, default=DEFAULT_SETTINGS.max_tokens)
    parser.add_argument("--band", type=float, action="append", default=None)
    parser.add_argument("--folds", type=int, default=len(FOLDS), help="only the first N folds")
    add_data_dir_option(parser)
    args = parser.parse_args(argv)
    _restrict_threads(args.threads)
    settings = replace(DEFAULT_SETTINGS, epochs=args.epochs, max_tokens=args.max_tokens)
    catalogue_text = CATALOGUE_PATH.read_text(encoding="utf-8")
    reader = Reader(parse_catalogue(catalogue_text))
    ts = training_set(catalogue_text, args.data_dir or default_data_dir())
    base = fetch_base_model()
    root = CACHE_ROOT / _key(settings, ts)
    folds = FOLDS[: args.folds]
    first, second = cross_validated(ts, reader, settings=settings, base=base, root=root, folds=folds)
    if args.command == "build":
        lower = (args.band or [BAND_LOWER])[0]
        config = build(ts, first, second, settings=settings, base=base, root=root, lower=lower)
        print(json.dumps(config, indent=1))
        return
    print(json.dumps({"cache": str(root), "settings": asdict(settings), "folds": folds}), flush=True)
    print(json.dumps({"variant": "chars", **compact(summarise(ts, first, True))}), flush=True)
    print(json.dumps({"variant": "fine-tuned encoder alone", **compact(summarise(ts, second, True))}))
    for lower in args.band or [0.05, 0.1, 0.15, 0.2]:
        # The encoder's score mapped above the band's lower bound, so that no message below the band can
        # outrank one the encoder keeps: it decides inside the band, the character model below it.
        above = HeldOut(
            first.held, lower + (1 - lower) * second.scores, lower + (1 - lower) * second.background
        )
        for name, stage in (("encoder", above), ("mean of both", mean_of_both(first, second))):
            figures = compact(banded(ts, first, stage, lower, True))
            print(json.dumps({"variant": f"chars, then {name} in the band", **figures}), flush=True)


if __name__ == "__main__":
    main()
