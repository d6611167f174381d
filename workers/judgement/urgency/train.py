"""`python -m workers.judgement.urgency.train` (`make urgency-model`): rebuild the urgency model from the
catalogue (ingest/urgency/situations.toml) and the corpus's training split; writes
workers/judgement/model/urgency-v1.npz and prints the leave-one-writer-out figures."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from workers.judgement.dataset import default_data_dir
from workers.judgement.urgency.model import URGENCY_MODEL_PATH
from workers.judgement.urgency.training import SEED, build_artefact


def main(argv: list[str] | None = None) -> None:
    """Train and write the artefact."""
    parser = argparse.ArgumentParser(prog="python -m workers.judgement.urgency.train")
    parser.add_argument(
        "--data-dir", type=Path, default=None, help="default: $JIESU_DATA_DIR or ../shared/data"
    )
    parser.add_argument("--out", type=Path, default=URGENCY_MODEL_PATH)
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--no-cv", action="store_true", help="skip leaving writers out (threshold 0.5)")
    args = parser.parse_args(argv)
    data_dir = args.data_dir or default_data_dir()
    art = build_artefact(data_dir if data_dir.exists() else None, args.seed, not args.no_cv)
    size = art.save(args.out)
    print(json.dumps(art.meta["training"], ensure_ascii=False, indent=1))
    print(f"wrote {args.out} ({size / 1024:.0f} KiB), threshold {art.meta['threshold']:.3f}")


if __name__ == "__main__":
    main()
