"""Weak category labels for raw messages from the government's reply, which often names the answering
bureau (住建局, 人社局, 教育局 …). Used only by the cross-validation experiments (`crossval.py`): measured,
these labels are too noisy to train on (see docs/judgement.md), so the shipped model does not use them."""

from __future__ import annotations

import csv
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from judgement_lab.dataset import REPLIES

# Bureau names -> first-level category, written by hand from the taxonomy. The reply's first 400 characters
# are searched; when several bureaus are named the earliest wins (usually the one that handled the case).
BUREAUS: tuple[tuple[str, str], ...] = (
    (
        "城乡建设",
        r"住建|住房和城乡建设|住房保障|城乡建设|城乡规划|规划局|规划分局|自然资源|房产局|房屋交易|"
        r"住房公积金|公积金管理|城管|管理和行政执法|行政执法局|市政|不动产登记|征收|重点建设",
    ),
    ("劳动和社会保障", r"人社|人力资源和社会保障|社保|社会保险|医保|医疗保障|民政|退役军人|劳动监察|就业"),
    ("教育文体", r"教育局|教育厅|教育体育局|教体局|教育委员会|体育局|文化馆|文广"),
    ("商贸旅游", r"商务局|市场监督|市场监管|工商|文旅|文化旅游|旅游局|物价局|烟草|食药监|质监"),
    ("环境保护", r"环保|生态环境|环境保护"),
    ("卫生计生", r"卫健|卫生健康|卫计|卫生和计划生育|卫生局|计生|疾控"),
    ("交通运输", r"交通运输|交通局|运管|公路局|客运|出租车管理|轨道交通"),
)
_PATTERNS = [(category, re.compile(pattern)) for category, pattern in BUREAUS]
REPLY_HEAD = 400
# A candidate whose char-trigram cosine with any held-out row exceeds this is dropped. Measured on the
# replies file: similarities are ≤ 0.2 or ≥ 0.9 with a dozen rows between, so 0.2 drops every copy.
LEAK_COSINE = 0.2


@dataclass(frozen=True)
class RepliedMessage:
    """A raw message of the replies file with the official reply."""

    id: str
    title: str
    content: str
    reply: str


def read_replies(data_dir: Path) -> list[RepliedMessage]:
    """The replies file with its reply column (dataset.read_raw drops it)."""
    with (data_dir / REPLIES).open(encoding="utf-8", newline="") as fh:
        return [
            RepliedMessage(r["留言编号"].strip(), r["留言主题"].strip(), r["留言详情"].strip(), r["答复意见"])
            for r in csv.DictReader(fh)
        ]


def bureau_category(reply: str) -> str | None:
    """The category of the earliest bureau named in the reply's opening, or None."""
    head = reply[:REPLY_HEAD]
    hits = [(m.start(), category) for category, p in _PATTERNS if (m := p.search(head))]
    return min(hits)[1] if hits else None


def leak_free(candidates: Sequence[str], held_out: Sequence[str]) -> list[bool]:
    """Whether each candidate text (glued tokens or raw) is unlike every held-out text: the held-out raw
    rows were recovered from these very files, so training on a copy would leak the answer."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    vec = TfidfVectorizer(analyzer="char", ngram_range=(3, 3), sublinear_tf=True)
    vec.fit(list(candidates) + list(held_out))
    sims = vec.transform(candidates) @ vec.transform(held_out).T
    best = np.asarray(sims.max(axis=1).todense()).ravel()
    return [bool(s <= LEAK_COSINE) for s in best]
