"""`python -m judgement_lab.train`: train on ../shared/data and write the versioned artefact."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from judgement_lab.dataset import add_data_dir_option, default_data_dir
from judgement_lab.split import SEED
from judgement_lab.teacher_labels import TEACHER_LABELS, read_labels
from judgement_lab.training import build_artefact, read_corpus
from workers.judgement.artefact import DEFAULT_MODEL_PATH


def main(argv: list[str] | None = None) -> int:
    """Train and write the artefact; prints its version and size."""
    parser = argparse.ArgumentParser(prog="python -m judgement_lab.train", description=__doc__)
    add_data_dir_option(parser)
    parser.add_argument("--out", type=Path, default=DEFAULT_MODEL_PATH, help="artefact path to write")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument(
        "--teacher-labels",
        type=Path,
        default=None,
        help="also train the classifier on the fine-tuned encoder's labels of raw messages (distillation; "
        f"make finetune writes {TEACHER_LABELS.relative_to(TEACHER_LABELS.parents[3])})",
    )
    args = parser.parse_args(argv)
    started = time.perf_counter()
    corpus = read_corpus(args.data_dir or default_data_dir(), args.seed)
    teacher = read_labels(args.teacher_labels) if args.teacher_labels else None
    art = build_artefact(corpus, args.seed, teacher)
    size = art.save(args.out)
    rows = art.meta["classifier"]
    print(
        f"wrote {args.out} ({size / 1024:.0f} KiB, {art.meta['model_version']}) "
        f"in {time.perf_counter() - started:.0f} s; split {art.meta['split']}; classifier on "
        f"{rows['train_rows']} rows ({rows.get('teacher_rows', 0)} of them teacher-labelled raw messages)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
