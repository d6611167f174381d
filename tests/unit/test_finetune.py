"""The fine-tuned encoder (the teacher) and its distillation into the fast model, without fine-tuning: the
committed teacher labels, the artefact built from them, the BERT in JAX against the ONNX graph (when the fp32
model is there), and the helpers of finetune.py."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest

from judgement_lab import dataset as ds
from judgement_lab.split import Split
from judgement_lab.teacher_labels import (
    RAW_FILES,
    TEACHER_LABELS,
    TeacherLabel,
    labelled_messages,
    labels_digest,
    read_labels,
    write_labels,
)
from judgement_lab.training import Corpus, teacher_rows
from workers.judgement.judge import Judge
from workers.judgement.text import Tokenizer

# Measured 0.775 on these 600: the raw files also hold messages of the 8 first-level classes that have no
# labelled rows (police, finance …), which both models must force into one of the 7.
AGREEMENT = 0.7

jax = pytest.importorskip("jax")  # the train extra (in dev); the workers never need it

from judgement_lab import bert, finetune  # noqa: E402


@pytest.fixture(scope="module")
def judge() -> Judge:
    return Judge.load()


def test_teacher_labels_file_is_small_and_well_formed(judge: Judge) -> None:
    labels = read_labels()
    assert TEACHER_LABELS.stat().st_size < 512 * 1024
    assert len(labels) > 8000
    assert set(t.source for t in labels) == set(RAW_FILES)
    assert len({(t.source, t.id) for t in labels}) == len(labels)
    assert {t.category for t in labels} == set(judge.classifier.classes)
    assert all(0.0 < t.confidence <= 1.0 for t in labels)
    # every class is well represented (the teacher does not collapse onto 城乡建设)
    counts = Counter(t.category for t in labels)
    assert min(counts.values()) > 0.03 * len(labels)


def test_teacher_labels_agree_with_the_fast_model_mostly() -> None:
    """A small evaluation of the committed labels: on 600 of the labelled raw messages (title + content
    through the run-time path) the committed fast model and the teacher mostly agree; labels shuffled or
    made from another copy of the data would not."""
    data_dir = ds.default_data_dir()
    if not (data_dir / ds.POOL).is_file():
        pytest.skip("shared reference data not present")
    labels = sorted(read_labels(), key=lambda t: (t.source, t.id))[::15][:600]
    messages = {source: ds.read_raw(data_dir, name) for source, name in RAW_FILES.items()}
    pairs = labelled_messages(labels, messages)
    judged = Judge.load().judge_many([(m.title, m.content, None) for m, _ in pairs])
    agree = sum(j.category == t.category for j, (_, t) in zip(judged, pairs, strict=True)) / len(pairs)
    assert agree > AGREEMENT


def _message(i: int, text: str) -> ds.RawMessage:
    return ds.RawMessage(str(i), "u", text, text, datetime(2019, 1, 1))


def test_teacher_rows_join_labels_to_messages_and_refuse_held_out_ones() -> None:
    held = _message(3, "学校食堂收费不合理")
    corpus = Corpus(
        labelled=[ds.LabelledRow(1, ("学校",), "教育文体")],
        unlabelled=[_message(1, "小区垃圾无人清理")],
        replies=[_message(2, "公交线路调整不合理"), held],
        pool=[],
        categories=["城乡建设", "教育文体"],
        split=Split(train=(), held_out=(), raw_eval=((0, held),)),
    )
    tokenizer = Tokenizer([])
    docs, labels = teacher_rows(
        corpus,
        tokenizer,
        [TeacherLabel("unlabelled", "1", "城乡建设", 0.9), TeacherLabel("replies", "2", "城乡建设", 0.8)],
    )
    assert labels == ["城乡建设", "城乡建设"]
    assert "垃圾" in docs[0]
    with pytest.raises(ValueError, match="held-out"):
        teacher_rows(corpus, tokenizer, [TeacherLabel("replies", "3", "教育文体", 0.9)])


def test_labelled_messages_rejects_unknown_ids() -> None:
    labels = [TeacherLabel("pool", "no-such-id", "城乡建设", 0.9)]
    with pytest.raises(ValueError, match="not in the data"):
        labelled_messages(labels, {"pool": []})


def test_labels_round_trip_and_digest_ignores_order(tmp_path: Path) -> None:
    labels = [
        TeacherLabel("pool", "2", "教育文体", 0.51234),
        TeacherLabel("replies", "1", "城乡建设", 1.0),
    ]
    path = tmp_path / "labels.csv"
    write_labels(labels, path)
    back = read_labels(path)
    assert [(t.source, t.id, t.category) for t in back] == [
        ("pool", "2", "教育文体"),
        ("replies", "1", "城乡建设"),
    ]
    assert back[0].confidence == 0.512
    assert labels_digest(back) == labels_digest(list(reversed(labels)))


def test_epoch_batches_cover_every_row_once_in_similar_lengths() -> None:
    rng = np.random.default_rng(0)
    lengths = list(rng.integers(3, 129, size=1000))
    batches = finetune.epoch_batches(lengths, 32, rng)
    assert sorted(i for b in batches for i in b) == list(range(1000))
    assert all(len(b) <= 32 for b in batches)
    # sorted inside chunks: a batch's lengths span far less than the whole range
    spans = [max(lengths[i] for i in b) - min(lengths[i] for i in b) for b in batches]
    assert np.median(spans) < 10


def test_pad_and_width() -> None:
    ids, mask = finetune.pad([[101, 7, 102], [101, 102]], 32, 4)
    assert ids.shape == mask.shape == (4, 32)
    assert mask.sum(axis=1).tolist() == [3, 2, 0, 0]
    assert [finetune._width(n, 128) for n in (3, 32, 33, 127, 128)] == [32, 32, 64, 128, 128]


def test_parameters_round_trip(tmp_path: Path) -> None:
    tree = {
        "encoder": {"layers": [{"w": np.ones((2, 3))}, {"w": np.zeros(4)}]},
        "head": {"b": np.arange(3.0)},
    }
    finetune.save_params(tree, tmp_path / "p.npz")
    back = finetune.load_params(tmp_path / "p.npz")
    assert isinstance(back["encoder"]["layers"], list)
    np.testing.assert_array_equal(back["encoder"]["layers"][0]["w"], np.ones((2, 3)))
    np.testing.assert_array_equal(back["head"]["b"], np.arange(3.0))


@pytest.fixture(scope="module")
def fp32_dir() -> Path:
    folder = finetune.fp32_dir()
    if not (folder / "model.onnx").is_file():
        pytest.skip(
            f"the fp32 encoder is not in {folder} (scripts/encoder.sh fetch fp32; make finetune does it)"
        )
    return folder


def test_jax_bert_reproduces_the_onnx_graph_and_exports_back(fp32_dir: Path, tmp_path: Path) -> None:
    """The weights loaded into the JAX BERT give the ONNX file's [CLS] row, and the exported graph (weights
    written back, plus the head) gives the JAX logits."""
    import onnxruntime as ort

    from workers.judgement.word_pieces import load_tokenizer

    tokenizer = load_tokenizer(fp32_dir / "tokenizer.json")
    texts = ["楼道里煤气味特别重", "小区停车收费太贵，物业乱收费，请相关部门调查处理"]
    pieces = finetune.word_pieces(tokenizer, texts, 64)
    ids, mask = finetune.pad(pieces, 32, len(texts))
    feed = {
        "input_ids": ids.astype(np.int64),
        "attention_mask": mask.astype(np.int64),
        "token_type_ids": np.zeros_like(ids, dtype=np.int64),
    }
    session = ort.InferenceSession(str(fp32_dir / "model.onnx"), providers=["CPUExecutionProvider"])
    (want,) = session.run(["last_hidden_state"], feed)
    encoder = bert.encoder_params(bert.load_onnx_weights(fp32_dir / "model.onnx"))
    got = np.asarray(bert.hidden_states(encoder, ids, mask))
    a, b = want[:, 0], got[:, 0]
    cosine = (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
    assert cosine.min() > 0.9999

    rng = np.random.default_rng(1)
    params = {
        "encoder": encoder,
        "head": {"w": rng.normal(size=(512, 7)).astype(np.float32), "b": np.ones(7)},
    }
    bert.export_onnx(params, fp32_dir / "model.onnx", tmp_path / "teacher.onnx")
    exported = ort.InferenceSession(str(tmp_path / "teacher.onnx"), providers=["CPUExecutionProvider"])
    (logits,) = exported.run(["logits"], feed)
    np.testing.assert_allclose(
        logits, np.asarray(bert.classifier_logits(params, ids, mask)), rtol=1e-3, atol=1e-3
    )


def test_cache_key_names_the_inputs(fp32_dir: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / ds.LABELLED).write_text("row,tokens,category\n1,a b,城乡建设\n", encoding="utf-8")
    key = finetune.cache_key(finetune.Settings(), fp32_dir, data)
    assert key == finetune.cache_key(finetune.Settings(), fp32_dir, data)
    assert key != finetune.cache_key(finetune.Settings(epochs=3), fp32_dir, data)
    (data / ds.LABELLED).write_text("row,tokens,category\n1,a b,教育文体\n", encoding="utf-8")
    assert key != finetune.cache_key(finetune.Settings(), fp32_dir, data)
