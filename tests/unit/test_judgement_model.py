"""The committed artefact: loads, is small, classifies clear examples, and the predict CLI round-trips."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import orjson
import pytest

from workers.judgement.artefact import DEFAULT_MODEL_PATH
from workers.judgement.features import char_ngram_counts
from workers.judgement.judge import Judge

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def judge() -> Judge:
    return Judge.load()


def test_artefact_is_small_and_versioned(judge: Judge) -> None:
    assert DEFAULT_MODEL_PATH.stat().st_size < 2 * 1024 * 1024
    assert judge.model_version.startswith("judgement-v1+")
    assert len(judge.artefact.meta["taxonomy_first_level"]) == 15
    assert set(judge.classifier.classes) <= set(judge.artefact.meta["taxonomy_first_level"])


@pytest.mark.parametrize(
    ("title", "content", "category"),
    [
        (
            "孩子入学问题",
            "我家孩子今年六岁，户口在本区，学校以学位已满为由拒绝孩子入学，请教育局解决",
            "教育文体",
        ),
        ("公司拖欠社保", "公司两年没有给我们缴纳养老保险和医疗保险，社保局也不处理", "劳动和社会保障"),
        ("工厂排放废气", "附近化工厂每天晚上偷排废气，气味刺鼻，河水也被污染了", "环境保护"),
        ("出租车拒载", "晚上在火车站打出租车，司机拒载还乱要价，不打表，请交通运输局管一管", "交通运输"),
        ("医院乱收费", "医院看病收费不合理，医生乱开药，医保报销也有问题", "卫生计生"),
    ],
)
def test_clear_examples_are_classified(judge: Judge, title: str, content: str, category: str) -> None:
    j = judge.judge(title, content, None)
    assert j.category == category
    assert 0.0 < j.category_confidence <= 1.0


def test_empty_text_needs_review(judge: Judge) -> None:
    j = judge.judge("", "", None)
    assert j.category is None and j.needs_review


def test_batch_and_single_scoring_agree(judge: Judge) -> None:
    docs = [judge.tokenizer.tokens(f"第{i}号小区停车收费问题", "物业乱收费，业主很不满") for i in range(10)]
    batch = judge.classifier.decision(docs)
    single = np.stack([judge.classifier.decision([d])[0] for d in docs])
    assert np.allclose(batch, single, atol=1e-4)


def test_char_ngrams_do_not_span_texts() -> None:
    both = char_ngram_counts(["ab", "cd"], 12, (2,))
    assert both.sum() == 2  # "ab" and "cd", never "bc"


def test_tokenizer_drops_stopwords_and_punctuation(judge: Judge) -> None:
    tokens = judge.tokenizer.tokens("我们小区的路灯坏了！", "请尽快维修。")
    assert "的" not in tokens and "！" not in tokens and "路灯" in tokens


def test_predict_cli_round_trips_json_lines() -> None:
    lines = [
        {"id": "1", "title": "燃气泄漏", "content": "楼道里闻到很浓的煤气味，请马上处理", "district": "A5区"},
        {"id": 2, "title": "", "content": "学校乱收费，一学期收资料费八百元"},
    ]
    stdin = b"".join(orjson.dumps(x) + b"\n" for x in lines)
    proc = subprocess.run(
        [sys.executable, "-m", "judgement_lab.classify", "predict"],
        input=stdin,
        capture_output=True,
        cwd=REPO,
        check=True,
        timeout=60,
    )
    out = [orjson.loads(x) for x in proc.stdout.splitlines()]
    assert [o["id"] for o in out] == ["1", "2"]
    assert set(out[0]) >= {"category", "category_confidence", "urgency", "urgency_reason", "department"}
    assert out[0]["urgency"] == "critical"
    assert out[1]["category"] == "教育文体"


def test_predict_cli_reports_bad_lines() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "judgement_lab.classify", "predict"],
        input=b'not json\n{"id":"x","content":"\xe8\xb7\xaf\xe7\x81\xaf\xe5\x9d\x8f\xe4\xba\x86"}\n',
        capture_output=True,
        cwd=REPO,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2
    assert b"line 1" in proc.stderr
    assert len(proc.stdout.splitlines()) == 1
