"""`python -m judgement_lab.urgency.train` (`make urgency-model`): rebuild the urgency model from the
catalogue (ingest/urgency/situations.toml) and the corpus's training split; writes
workers/judgement/model/urgency-v1.npz and the gateway screen's ingest/urgency/screen-model.json, and prints
the leave-one-writer-out figures of both."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ingest.urgency.catalogue import CATALOGUE_PATH
from ingest.urgency.screen import SCREEN_MODEL_PATH
from judgement_lab.dataset import add_data_dir_option, default_data_dir
from judgement_lab.urgency.screen_training import build_screen, save_screen
from judgement_lab.urgency.training import SEED, build_artefact, training_set
from workers.judgement.urgency.model import URGENCY_MODEL_PATH


def main(argv: list[str] | None = None) -> None:
    """Train and write the artefact."""
    parser = argparse.ArgumentParser(prog="python -m judgement_lab.urgency.train")
    add_data_dir_option(parser)
    parser.add_argument("--out", type=Path, default=URGENCY_MODEL_PATH)
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--screen-out", type=Path, default=SCREEN_MODEL_PATH)
    parser.add_argument("--no-cv", action="store_true", help="skip leaving writers out (threshold 0.5)")
    args = parser.parse_args(argv)
    data_dir = args.data_dir or default_data_dir()
    catalogue_text = CATALOGUE_PATH.read_text(encoding="utf-8")
    ts = training_set(catalogue_text, data_dir if data_dir.exists() else None, args.seed)
    art = build_artefact(ts, catalogue_text, args.seed, not args.no_cv)
    size = art.save(args.out)
    print(json.dumps(art.meta["training"], ensure_ascii=False, indent=1))
    print(f"wrote {args.out} ({size / 1024:.0f} KiB), threshold {art.meta['threshold']:.3f}")
    screen = build_screen(ts, not args.no_cv)
    size = save_screen(screen, args.screen_out)
    print(json.dumps(screen["training"], ensure_ascii=False, indent=1))
    print(f"wrote {args.screen_out} ({size / 1024:.0f} KiB, {len(screen['weights'])} n-grams)")


if __name__ == "__main__":
    main()
