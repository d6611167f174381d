"""Sentence vectors from the pretrained Chinese encoder bge-small-zh-v1.5 (int8 ONNX, from `make encoder`).

`Encoder.load()` once per process, then `embed(texts)`: float32 rows of 512, L2-normalised ([CLS] position),
so the cosine similarity of two texts is the dot product of their rows.
`python -m judgement_lab.encoder bench` prints its throughput on one thread.
"""

from __future__ import annotations

import argparse
import json
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import onnxruntime as ort
from tokenizers import Tokenizer

from judgement_lab import dataset as ds
from workers.judgement.word_pieces import load_tokenizer

REPO_ROOT = Path(__file__).resolve().parents[1]
DIR_ENV = "JIESU_ENCODER_DIR"
DEFAULT_DIR = REPO_ROOT / ".data" / "models" / "bge-small-zh-v15-q"
MODEL_FILE = "model.onnx"
TOKENIZER_FILE = "tokenizer.json"
DIM = 512
MAX_POSITIONS = 512
BATCH_SIZE = 8  # measured: 4–8 are fastest on one thread; 32 is ~10 % slower

Vectors = npt.NDArray[np.float32]

_sessions: dict[tuple[Path, int], Encoder] = {}
_sessions_lock = threading.Lock()


def default_dir() -> Path:
    """`$JIESU_ENCODER_DIR` if set, else `<repo>/.data/models/bge-small-zh-v15-q`."""
    env = os.environ.get(DIR_ENV)
    return Path(env) if env else DEFAULT_DIR


@dataclass(frozen=True, eq=False)
class Encoder:
    """An ONNX Runtime session and the model's tokenizer; shared by every caller in the process."""

    session: ort.InferenceSession
    tokenizer: Tokenizer
    path: Path
    threads: int

    @classmethod
    def load(cls, path: Path | None = None, threads: int = 1) -> Encoder:
        """The process's encoder for the folder `path` (default: `default_dir()`), created on first use."""
        folder = (path or default_dir()).resolve()
        if threads < 1:
            raise ValueError(f"threads must be at least 1, got {threads}")
        with _sessions_lock:
            encoder = _sessions.get((folder, threads))
            if encoder is None:
                encoder = _sessions[(folder, threads)] = cls._create(folder, threads)
        return encoder

    @classmethod
    def _create(cls, folder: Path, threads: int) -> Encoder:
        missing = [name for name in (MODEL_FILE, TOKENIZER_FILE) if not (folder / name).is_file()]
        if missing:
            raise FileNotFoundError(
                f"the sentence encoder is missing in {folder} ({', '.join(missing)}): run `make encoder`"
            )
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        session = ort.InferenceSession(
            str(folder / MODEL_FILE), sess_options=options, providers=["CPUExecutionProvider"]
        )
        return cls(session, load_tokenizer(folder / TOKENIZER_FILE), folder, threads)

    def token_ids(self, text: str, max_tokens: int = 128) -> list[int]:
        """[CLS] + the text's first `max_tokens - 2` word pieces + [SEP]."""
        if not 2 <= max_tokens <= MAX_POSITIONS:
            raise ValueError(f"max_tokens must be in 2..{MAX_POSITIONS}, got {max_tokens}")
        ids: list[int] = self.tokenizer.encode(text, add_special_tokens=False).ids
        return [self._cls, *ids[: max_tokens - 2], self._sep]

    def embed(self, texts: Sequence[str], max_tokens: int = 128, batch_size: int = BATCH_SIZE) -> Vectors:
        """One L2-normalised float32 row of 512 per text, in input order."""
        if isinstance(texts, str):
            raise TypeError("embed takes a sequence of texts, not one str")
        encoded = [self.token_ids(t, max_tokens) for t in texts]
        out = np.empty((len(encoded), DIM), dtype=np.float32)
        # batches of similar length pad less; the rows go back to input order
        order = sorted(range(len(encoded)), key=lambda i: len(encoded[i]))
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            out[rows] = self._run([encoded[i] for i in rows])
        return out

    def _run(self, batch: list[list[int]]) -> Vectors:
        width = max(len(ids) for ids in batch)
        input_ids = np.zeros((len(batch), width), dtype=np.int64)
        attention = np.zeros((len(batch), width), dtype=np.int64)
        for row, ids in enumerate(batch):
            input_ids[row, : len(ids)] = ids
            attention[row, : len(ids)] = 1
        (hidden,) = self.session.run(
            ["last_hidden_state"],
            {"input_ids": input_ids, "attention_mask": attention, "token_type_ids": np.zeros_like(input_ids)},
        )
        cls: Vectors = np.asarray(hidden[:, 0, :], dtype=np.float32)
        norms = np.linalg.norm(cls, axis=1, keepdims=True)
        return np.asarray(cls / np.maximum(norms, np.float32(1e-12)), dtype=np.float32)

    @property
    def _cls(self) -> int:
        return self._special("[CLS]")

    @property
    def _sep(self) -> int:
        return self._special("[SEP]")

    def _special(self, token: str) -> int:
        token_id = self.tokenizer.token_to_id(token)
        if token_id is None:
            raise ValueError(f"{token} is not in the tokenizer's vocabulary")
        return int(token_id)


def similarity(a: Vectors, b: Vectors) -> npt.NDArray[np.float32]:
    """Cosine similarities of the rows of `a` against the rows of `b` (both from `embed`)."""
    return np.asarray(np.atleast_2d(a) @ np.atleast_2d(b).T, dtype=np.float32)


def bench(encoder: Encoder, texts: Sequence[str], max_tokens: Sequence[int]) -> dict[str, Any]:
    """Messages per second of `embed` over `texts` at each token limit."""
    encoder.embed(texts[:BATCH_SIZE], max_tokens=max(max_tokens))  # warm-up: first-run allocations
    figures: dict[str, Any] = {"messages": len(texts), "threads": encoder.threads, "batch_size": BATCH_SIZE}
    for limit in max_tokens:
        mean_tokens = sum(len(encoder.token_ids(t, limit)) for t in texts) / len(texts)
        t = time.perf_counter()
        encoder.embed(texts, max_tokens=limit)
        seconds = time.perf_counter() - t
        figures[f"max_tokens_{limit}"] = {
            "mean_tokens": round(mean_tokens, 1),
            "msgs_per_s": round(len(texts) / seconds, 1),
        }
    return figures


def main(argv: list[str] | None = None) -> int:
    """`bench`: the encoder's throughput on the first messages of the unlabelled file (title + text)."""
    parser = argparse.ArgumentParser(prog="python -m judgement_lab.encoder", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    b = commands.add_parser("bench", help="messages/s on one thread at 64 and 128 tokens")
    ds.add_data_dir_option(b)
    b.add_argument("--model-dir", type=Path, default=None, help="default: .data/models/bge-small-zh-v15-q")
    b.add_argument("--messages", type=int, default=200)
    b.add_argument("--max-tokens", type=int, nargs="+", default=[64, 128])
    b.add_argument("--threads", type=int, default=1)
    b.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if args.threads == 1 and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core, like judgement_lab.bench
    encoder = Encoder.load(args.model_dir, threads=args.threads)
    raw = ds.read_raw(args.data_dir or ds.default_data_dir(), ds.UNLABELLED)[: args.messages]
    figures = bench(encoder, [f"{m.title}\n{m.content}" for m in raw], args.max_tokens)
    if args.json:
        print(json.dumps(figures))
    else:
        print(f"{figures['messages']} messages, {encoder.threads} thread(s), batches of {BATCH_SIZE}")
        for limit in args.max_tokens:
            f = figures[f"max_tokens_{limit}"]
            print(f"max_tokens {limit:>3}: {f['msgs_per_s']:>7} messages/s (mean {f['mean_tokens']} tokens)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
