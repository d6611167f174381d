"""A second opinion on the messages the urgency model flags or nearly flags: bge-small-zh-v1.5 fine-tuned to
tell urgent messages from everyday ones (`make urgency-encoder`, int8 ONNX in .data/models/urgency-encoder/).

The character model finds the emergencies but also flags everyday complaints that sound alarming; the encoder,
which reads the words in their order, clears many of those. It is asked only about a band of the character
model's scores (`Band`), and only as often as a per-process budget allows, because one encoding costs twenty
to forty times the rest of a message's judgement: when the model files are missing or the budget is spent, the
character model decides alone, at its own threshold, and the reason and the metrics say so.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
from prometheus_client import Counter

from ingest.token_buckets import TokenBuckets

log = logging.getLogger("jiesu.worker")

REPO_ROOT = Path(__file__).resolve().parents[3]
DIR_ENV = "JIESU_URGENCY_ENCODER_DIR"
DEFAULT_DIR = REPO_ROOT / ".data" / "models" / "urgency-encoder"
MODEL_FILE = "model.onnx"
TOKENIZER_FILE = "tokenizer.json"
CONFIG_FILE = "second-opinion.json"
RATE_ENV = "JIESU_URGENCY_ENCODER_RATE"
# Encodings a second per process: at a few milliseconds each, well under a tenth of a second of one core, so
# a worker running flat out loses less than a tenth of its rate; a hotline's everyday traffic never spends it.
DEFAULT_RATE = 10.0

ASKED = "asked"
BUDGET_SPENT = "budget_spent"
FAILED = "failed"
SECOND_OPINIONS = Counter(
    "jiesu_worker_urgency_second_opinions_total",
    "Messages in the urgency model's band: `asked` the fine-tuned encoder, or judged by the character model "
    "alone because the encoder's budget was spent (`budget_spent`) or it raised an error (`failed`)",
    ["outcome"],
)


@dataclass(frozen=True)
class Band:
    """Where the encoder is asked: character-model scores from `lower`; a message there is urgent when the
    mean of the two scores reaches `threshold` (both chosen by leaving writers out)."""

    lower: float
    threshold: float

    @property
    def upper(self) -> float:
        """From this character score on, the mean reaches the threshold whatever the encoder says."""
        return 2 * self.threshold

    def asks(self, score: float) -> bool:
        """Whether the encoder's score can change the decision about a message with this character score."""
        return self.lower <= score < self.upper

    def urgent(self, score: float, encoder: float) -> bool:
        """The two stages' decision about a message in the band (or above it)."""
        return score >= self.upper or (score >= self.lower and (score + encoder) / 2 >= self.threshold)


def default_dir() -> Path:
    """`$JIESU_URGENCY_ENCODER_DIR` if set, else `<repo>/.data/models/urgency-encoder`."""
    env = os.environ.get(DIR_ENV)
    return Path(env) if env else DEFAULT_DIR


def default_rate() -> float:
    """`$JIESU_URGENCY_ENCODER_RATE` (encodings a second per process; 0 turns the encoder off)."""
    raw = os.environ.get(RATE_ENV, "")
    try:
        rate = float(raw) if raw else DEFAULT_RATE
    except ValueError as exc:
        raise ValueError(f"{RATE_ENV} must be a number of encodings a second, got {raw!r}") from exc
    if rate < 0:
        raise ValueError(f"{RATE_ENV} must not be negative, got {raw!r}")
    return rate


class SecondOpinion:
    """The fine-tuned encoder's probability that a message is urgent, within a per-process budget."""

    def __init__(self, folder: Path, rate: float) -> None:
        import onnxruntime as ort

        from workers.judgement.word_pieces import load_tokenizer

        config = json.loads((folder / CONFIG_FILE).read_text(encoding="utf-8"))
        self.band = Band(float(config["band_lower"]), float(config["threshold"]))
        self.max_tokens = int(config["max_tokens"])
        self.version = str(config["version"])
        options = ort.SessionOptions()
        # One thread: the worker's processes are the parallelism, and the encoder must not take a second core.
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        self._session = ort.InferenceSession(
            str(folder / MODEL_FILE), options, providers=["CPUExecutionProvider"]
        )
        self._tokenizer = load_tokenizer(folder / TOKENIZER_FILE)
        cls, sep = self._tokenizer.token_to_id("[CLS]"), self._tokenizer.token_to_id("[SEP]")
        if cls is None or sep is None:
            raise ValueError("[CLS] or [SEP] is not in the tokenizer's vocabulary")
        self._ends = (int(cls), int(sep))
        # Tokens of the budget; with a rate of 0 the encoder is never asked.
        self._budget = TokenBuckets(rate, max(1, int(rate)))
        self._off = rate <= 0
        self._lock = threading.Lock()

    @classmethod
    def load(cls, folder: Path | None = None, rate: float | None = None) -> SecondOpinion | None:
        """The encoder in `folder` (default: default_dir()), or None with a warning when its files are not
        there (`make urgency-encoder` builds them)."""
        where = folder or default_dir()
        if not all((where / name).is_file() for name in (MODEL_FILE, TOKENIZER_FILE, CONFIG_FILE)):
            log.warning(
                "no fine-tuned urgency encoder in %s: the urgency model decides alone "
                "(run `make urgency-encoder` to build it)",
                where,
            )
            return None
        return cls(where, default_rate() if rate is None else rate)

    def grant(self, wanted: int) -> int:
        """How many of `wanted` encodings the budget allows now (taken from it)."""
        if self._off:
            return 0
        granted = 0
        with self._lock:
            while granted < wanted and self._budget.take("encoder") == 0.0:
                granted += 1
        return granted

    def scores(self, texts: Sequence[str]) -> npt.NDArray[np.float64]:
        """The probability that each focus text is urgent (first `max_tokens` word pieces)."""
        if not texts:
            return np.zeros(0)
        cls, sep = self._ends
        encoded = self._tokenizer.encode_batch(list(texts), add_special_tokens=False)
        rows = [[cls, *e.ids[: self.max_tokens - 2], sep] for e in encoded]
        ids = np.zeros((len(rows), max(len(r) for r in rows)), dtype=np.int64)
        mask = np.zeros_like(ids)
        for i, r in enumerate(rows):
            ids[i, : len(r)] = r
            mask[i, : len(r)] = 1
        (logits,) = self._session.run(
            ["logits"], {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        )
        margin = logits[:, 1].astype(np.float64) - logits[:, 0].astype(np.float64)
        out: npt.NDArray[np.float64] = 1.0 / (1.0 + np.exp(-margin))
        return out
