"""Urgency by rules a dispatcher can read: critical (danger to life or safety now), high or normal."""

from __future__ import annotations

import re
from dataclasses import dataclass

CRITICAL = "critical"
HIGH = "high"
NORMAL = "normal"


@dataclass(frozen=True)
class Rule:
    """A level, a short reason and the phrases that trigger it."""

    level: str
    reason: str
    pattern: re.Pattern[str]


def _rule(level: str, reason: str, *phrases: str) -> Rule:
    return Rule(level, reason, re.compile("|".join(phrases)))


# Critical phrases describe a danger happening now; the same words in the past tense or as a worry
# ("存在火灾隐患") are caught by the high rules instead, which is why the hazard rule runs first.
_HAZARD_ONLY = re.compile(r"(火灾|触电|爆炸|坍塌|倒塌|溺水)(隐患|风险|危险)|安全隐患|隐患")
RULES: tuple[Rule, ...] = (
    _rule(
        CRITICAL,
        "gas leak",
        r"(燃气|煤气|天然气|液化气)[^，。！？\n]{0,6}(泄漏|泄露|漏气|外泄)",
        r"(闻到|有|一股)(很?浓的?)?(煤气|燃气|天然气)味",
        r"漏气",
    ),
    _rule(
        CRITICAL,
        "fire",
        r"(着火|起火|失火|燃起大火|火势|大火|浓烟滚滚|火灾)",
    ),
    _rule(
        CRITICAL,
        "fallen or live wire",
        r"(电线|电缆|高压线|输电线)[^，。！？\n]{0,6}(掉|断|落|垂|倒|裸露|漏电|带电)",
        r"(电线杆|电杆)[^，。！？\n]{0,4}(倒|断)",
        r"(漏电|触电)",
    ),
    _rule(
        CRITICAL,
        "people trapped",
        r"(被困(?!扰|难)|困在(?!家)|困人|关在电梯|电梯[^，。！？\n]{0,4}困(?!扰|难))",
    ),
    _rule(
        CRITICAL,
        "medical emergency blocked",
        r"(救护车|急救车)[^，。！？\n]{0,10}(进不来|进不去|无法(通行|进入|通过)|堵|挡)",
        r"(生命危险|危及生命|命悬一线|昏迷|休克|抢救)",
    ),
    _rule(
        CRITICAL,
        "collapse or explosion",
        r"(爆炸|坍塌|塌方|倒塌|垮塌|塌陷)",
    ),
    _rule(
        HIGH,
        "safety hazard",
        r"(安全隐患|消防隐患|火灾隐患|危房|消防通道[^，。！？\n]{0,6}(堵|占)|消防设施[^，。！？\n]{0,4}(瘫痪|损坏))",
        r"(墙体|楼板|房屋|墙面)[^，。！？\n]{0,4}(开裂|裂缝)",
    ),
    _rule(
        HIGH,
        "utility outage",
        r"(停水|停电|断水|断电|停气|没有水|没水|没电)",
    ),
    _rule(
        HIGH,
        "health or food safety",
        r"(食物中毒|中毒|疫情|传染|病死|变质|过期食品|霉变)",
    ),
    _rule(
        HIGH,
        "unpaid wages",
        r"(拖欠|克扣|讨薪|欠薪|拿不到)[^，。！？\n]{0,8}(工资|工钱|薪)",
        r"(农民工|工人)[^，。！？\n]{0,6}工资",
    ),
    _rule(
        HIGH,
        "vulnerable people at risk",
        r"(老人|孕妇|儿童|小孩|学生|残疾人)[^，。！？\n]{0,10}(受伤|安全|危险|生病)",
    ),
)


@dataclass(frozen=True)
class Urgency:
    """The urgency level and why."""

    level: str
    reason: str | None


_SENTENCE = re.compile(r"[。！？!?\n；;]+")
# A sentence that speaks of what could happen or already happened long ago is no emergency now.
_NOT_NOW = re.compile(
    r"如果|一旦|万一|可能|容易|担心|害怕|恐|隐患|风险|曾|去年|前年|以前|之前|年前|月前|预防|防止|避免"
    # Past, and over: "last month", "a few days ago", "at the time", a calendar date ("2018年10月",
    # "6月21日"), "has been put out / repaired", the experiential 过 ("发生过", "泄漏过", "着火过一次";
    # not "漏气过了一夜": time passing); recurring rather than now ("经常被困电梯"); a rhetorical worry
    # ("出了火灾怎么办").
    r"|上个?月|上个?周|上个?星期|前几天|前些天|前段时间|前阵子|当时|已经?(?:修好|修复|处理|扑灭|排除|解决)"
    r"|\d{1,4}年\d{1,2}月|\d{1,2}月\d{1,2}[日号]|发生过|经常|屡次|多次|时常|总是|怎么办"
    r"|(?:泄漏|泄露|漏气|着火|起火|失火|爆炸|倒塌|坍塌|掉落?|被困)过(?![了去来])"
)
LEDE_SENTENCES = 2
LEDE_CHARS = 120


def _now_text(title: str, content: str) -> str:
    """Title and the opening sentences, minus hypothetical or past ones: where an emergency is reported."""
    lede = _SENTENCE.split(content[:LEDE_CHARS])[:LEDE_SENTENCES]
    return "。".join(x for x in [title, *lede] if x and not _NOT_NOW.search(x))


def assess(title: str, content: str) -> Urgency:
    """Critical when a danger phrase is in the title or opening sentences (not as a worry); a danger phrase
    elsewhere, or a high rule anywhere, gives high; else normal."""
    text = f"{title}。{content}"
    now = _HAZARD_ONLY.sub("□", _now_text(title, content))
    best: Urgency | None = None
    for rule in RULES:
        if rule.level == CRITICAL:
            m = rule.pattern.search(now)
            if m:
                return Urgency(CRITICAL, f"{rule.reason}: “{m.group(0)}”")
        if best is None:
            m = rule.pattern.search(text)
            if m:
                best = Urgency(HIGH, f"{rule.reason}: “{m.group(0)}”")
    return best or Urgency(NORMAL, None)
