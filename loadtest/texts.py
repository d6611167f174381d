"""Complaint texts: built-in everyday complaints, one incident's paraphrases, a corpus of real messages, and
the hand-labelled urgency corpus (urgent messages and hard negatives with known labels).

Everything is drawn from a `random.Random` the caller seeds, so the same seed gives the same texts.
"""

from __future__ import annotations

import csv
import json
import random
from dataclasses import dataclass
from pathlib import Path

DISTRICTS = (
    "东城区", "西城区", "朝阳区", "海淀区", "丰台区", "石景山区", "门头沟区", "房山区",
    "通州区", "顺义区", "昌平区", "大兴区", "怀柔区", "平谷区", "密云区", "延庆区",
)  # fmt: skip
_ESTATE_HEADS = (
    "阳光",
    "幸福",
    "和平",
    "金色",
    "翠微",
    "望京",
    "芳城",
    "清河",
    "龙泽",
    "天通",
    "华清",
    "枫林",
)
_ESTATE_TAILS = ("家园", "小区", "花园", "嘉园", "新村", "西里", "北苑", "雅苑")
_ROADS = (
    "学院路",
    "建国路",
    "复兴路",
    "长安街",
    "安立路",
    "京顺路",
    "丰北路",
    "西三环",
    "朝阳北路",
    "阜成路",
)
# The district each road runs through (the longer ones: the district of their best-known stretch), and the
# district of the estate-name heads that are Beijing area names (望京 is in Chaoyang). A burst's incident is
# one place: its reports name its road, its estate and its district, so the three must agree, as a real
# city's do. Everyday complaints draw estate and district independently: the same estate name in another
# district is a distractor grouping must keep apart.
_ROAD_DISTRICTS = {
    "学院路": "海淀区",
    "建国路": "朝阳区",
    "复兴路": "海淀区",
    "长安街": "东城区",
    "安立路": "朝阳区",
    "京顺路": "朝阳区",
    "丰北路": "丰台区",
    "西三环": "海淀区",
    "朝阳北路": "朝阳区",
    "阜成路": "海淀区",
}
_HEAD_DISTRICTS = {
    "望京": "朝阳区",
    "清河": "海淀区",
    "天通": "昌平区",
    "芳城": "丰台区",
    "华清": "海淀区",
    "翠微": "海淀区",
    "龙泽": "昌平区",
}
_OPENINGS = ("", "你好，", "您好，", "尊敬的领导：", "我要反映一个问题，", "麻烦帮忙解决一下，")
_DURATIONS = ("好几天了", "一个多星期了", "半个多月了", "从上个月开始", "已经很长时间了", "这两天")
_ASKS = (
    "请相关部门尽快处理。",
    "希望有关部门管一管。",
    "请尽快派人来看看。",
    "多次反映没有结果，请督促解决。",
    "请给个答复。",
    "",
)

# Everyday complaints: (title, what is wrong, why it matters). Slots: {place} {road}.
_TOPICS: tuple[tuple[str, str, str], ...] = (
    ("{place}路灯不亮", "{place}门口的路灯坏了{duration}", "晚上出行很不安全"),
    ("{place}夜间施工噪音扰民", "{road}旁边的工地每天夜里施工到凌晨", "居民根本没法休息"),
    ("{place}垃圾清运不及时", "{place}的垃圾桶满了没人清理{duration}", "气味很大，招来很多蚊蝇"),
    ("{place}烧烤摊油烟扰民", "{place}门口的烧烤摊每天营业到凌晨两点", "油烟和噪音很大"),
    ("{road}红绿灯故障", "{road}路口的红绿灯坏了{duration}", "早晚高峰非常拥堵，容易出事故"),
    ("{place}物业乱收停车费", "{place}物业未经业主同意收取停车费", "业主多次反映物业置之不理"),
    ("{place}电梯经常故障", "{place}的电梯{duration}经常停运", "楼里老人上下楼非常困难"),
    ("{road}井盖缺失", "{road}人行道上的井盖丢了{duration}", "晚上很容易有人掉下去"),
    ("{place}违章建筑", "{place}一楼住户私自扩建围墙占用绿地", "影响其他居民通行"),
    ("公司拖欠工资", "我在{road}附近一家公司上班，公司拖欠三个月工资不发", "家里生活很困难"),
    ("{place}附近学校周边交通拥堵", "{road}上的小学放学时段车辆乱停", "孩子过马路很危险"),
    ("{place}饮用水浑浊", "{place}自来水发黄浑浊{duration}", "不敢给孩子喝"),
    ("{road}公交站撤销", "{road}的公交站被撤了", "附近老人看病出行很不方便"),
    ("{place}共享单车乱停放", "{place}门口共享单车堆满了人行道", "轮椅和婴儿车都过不去"),
    ("{place}下水道堵塞", "{place}下水道堵了{duration}", "污水流到路面上"),
)


@dataclass(frozen=True)
class Text:
    """A message's words and where it is about."""

    title: str
    content: str
    district: str | None
    address: str | None


def estate(rng: random.Random) -> str:
    """A plausible residential estate name."""
    return rng.choice(_ESTATE_HEADS) + rng.choice(_ESTATE_TAILS)


def everyday(rng: random.Random) -> Text:
    """An everyday complaint in a random district."""
    district = rng.choice(DISTRICTS)
    place = estate(rng)
    road = rng.choice(_ROADS)
    title, problem, impact = rng.choice(_TOPICS)
    slots = {"place": place, "road": road, "duration": rng.choice(_DURATIONS)}
    content = f"{rng.choice(_OPENINGS)}{district}{problem.format(**slots)}，{impact}。{rng.choice(_ASKS)}"
    address = f"{place}{rng.randint(1, 30)}号楼" if rng.random() < 0.6 else None
    return Text(title.format(**slots), content, district, address)


@dataclass(frozen=True)
class Incident:
    """The one incident a surge day's burst reports: what broke, where."""

    kind: str  # "heating" or "water"
    district: str
    estate: str
    road: str

    @property
    def label(self) -> str:
        """A human-readable name of the incident, for the report."""
        what = "heating outage" if self.kind == "heating" else "burst water main"
        return f"{what}, {self.estate} ({self.road}), {self.district}"


def incident(rng: random.Random, kind: str | None = None) -> Incident:
    """Pick the burst's incident: a heating outage or a burst main at one estate on one road, in the
    district both are in."""
    kind = kind or rng.choice(("heating", "water"))
    road = rng.choice(_ROADS)
    district = _ROAD_DISTRICTS[road]
    heads = [h for h in _ESTATE_HEADS if _HEAD_DISTRICTS.get(h, district) == district]
    return Incident(
        kind=kind, district=district, estate=rng.choice(heads) + rng.choice(_ESTATE_TAILS), road=road
    )


_HEATING = {
    "title": (
        "{estate}暖气不热",
        "{estate}停暖了",
        "{estate}供暖中断",
        "{district}{estate}没有暖气",
        "暖气片冰凉",
    ),
    "what": (
        "家里暖气片冰凉",
        "暖气突然停了",
        "暖气一点都不热",
        "整栋楼都停暖了",
        "供暖中断，屋里冷得不行",
        "暖气管子是凉的",
    ),
    "since": ("从昨天晚上开始", "今天早上起", "已经三个小时了", "从下午四点到现在", "一整天了", ""),
    "impact": (
        "室内只有十几度",
        "家里老人孩子冻得受不了",
        "孩子已经感冒发烧了",
        "穿着羽绒服在屋里还冷",
        "老人有心脏病，很担心",
        "",
    ),
    "ask": ("请尽快派人维修", "希望尽快恢复供暖", "打供热公司电话没人接，请帮忙协调", "请问什么时候能来暖气"),
}
_WATER = {
    "title": (
        "{road}水管爆裂",
        "{estate}停水",
        "{road}路面冒水",
        "{district}{estate}自来水管破裂",
        "家里没水了",
    ),
    "what": (
        "小区门口水管爆了",
        "路面上大量冒水",
        "家里突然停水",
        "自来水管破裂，水流了一地",
        "马路上水漫过脚踝",
        "地下水管爆裂",
    ),
    "since": ("从凌晨开始", "一个小时前", "今天一早", "到现在还没人来修", "已经大半天了", ""),
    "impact": (
        "全楼都没水用",
        "做饭洗漱都没法弄",
        "路面结冰很滑，有人摔倒了",
        "车辆过不去",
        "地下车库进水了",
        "",
    ),
    "ask": ("请尽快派人抢修", "希望尽快恢复供水", "请自来水公司赶紧来处理", "请问什么时候能来水"),
}


def paraphrase(inc: Incident, rng: random.Random) -> Text:
    """One citizen's report of `inc`, in their own words: parts recombined, order and details varied."""
    words = _HEATING if inc.kind == "heating" else _WATER
    slots = {"estate": inc.estate, "district": inc.district, "road": inc.road}
    where = rng.choice(
        (
            f"{inc.estate}{rng.randint(1, 24)}号楼",
            f"{inc.district}{inc.estate}",
            f"{inc.road}{inc.estate}",
            f"{inc.estate}小区",
            f"{inc.road}附近",
        )
    )
    parts = [rng.choice(words["since"]), rng.choice(words["what"]), rng.choice(words["impact"])]
    if rng.random() < 0.5:
        parts[0], parts[1] = parts[1], parts[0]
    body = "，".join(p for p in parts if p)
    content = f"{rng.choice(_OPENINGS)}我是{where}的居民，{body}。{rng.choice(words['ask'])}。"
    title = rng.choice(words["title"]).format(**slots) if rng.random() < 0.7 else ""
    address = where if "号楼" in where else inc.estate
    return Text(title, content, inc.district if rng.random() < 0.8 else None, address)


def resubmission(original: Text, rng: random.Random) -> Text:
    """The same citizen writing about the same problem again, because nothing happened."""
    again = rng.choice(("我之前反映过，", "再次反映：", "上次反映的问题还没解决，", "第二次反映，"))
    return Text(original.title, again + original.content, original.district, original.address)


class Corpus:
    """Real message texts from a CSV with the columns 留言主题 (title) and 留言详情 (detail)."""

    def __init__(self, rows: list[tuple[str, str]]) -> None:
        if not rows:
            raise ValueError("the corpus has no usable rows")
        self.rows = rows

    @classmethod
    def load(cls, path: Path, limit: int = 100_000) -> Corpus:
        """Read at most `limit` rows of `path` (UTF-8 CSV with a header row)."""
        rows: list[tuple[str, str]] = []
        with path.open(encoding="utf-8-sig", newline="") as fh:
            reader = csv.DictReader(fh)
            missing = {"留言主题", "留言详情"} - set(reader.fieldnames or ())
            if missing:
                raise ValueError(f"{path}: missing column(s) {', '.join(sorted(missing))}")
            for row in reader:
                title, detail = (row.get("留言主题") or "").strip(), (row.get("留言详情") or "").strip()
                if detail:
                    rows.append((title[:200], detail))
                if len(rows) >= limit:
                    break
        return cls(rows)

    def pick(self, rng: random.Random) -> Text:
        """A random message of the corpus, placed in a random district."""
        title, detail = rng.choice(self.rows)
        return Text(title, detail, rng.choice(DISTRICTS) if rng.random() < 0.5 else None, None)


# The labelled urgency corpus (corpus/urgency/README.md has the format and the labelling rules).
URGENCY_CORPUS_DIR = Path(__file__).resolve().parent.parent / "corpus" / "urgency"
URGENT_LEVELS = ("critical", "high")
_LEVELS = (*URGENT_LEVELS, "normal")
_KINDS = ("urgent", "hard_negative", "ordinary")


@dataclass(frozen=True)
class Labelled:
    """One hand-labelled message of the urgency corpus: its words, channel and label."""

    id: str
    channel: str
    title: str
    text: str
    level: str  # critical, high or normal
    situation: str | None  # the catalogue id that makes it urgent; None when normal
    kind: str  # urgent, hard_negative or ordinary

    @property
    def urgent(self) -> bool:
        """Labelled critical or high."""
        return self.level in URGENT_LEVELS

    def as_text(self) -> Text:
        """The message as the simulator posts it: the corpus's own words carry the place, so no location."""
        return Text(self.title, self.text, None, None)


def _labelled(line: str) -> Labelled | None:
    """One corpus line, or None when it is not a complete, consistent label (a line still being written,
    or an urgent kind without an urgent level): a bad label would be scored as the pipeline's mistake."""
    try:
        row = json.loads(line)
    except json.JSONDecodeError:
        return None
    if not isinstance(row, dict):
        return None
    text, level, kind = row.get("text"), row.get("level"), row.get("kind")
    if not isinstance(text, str) or not text.strip() or level not in _LEVELS or kind not in _KINDS:
        return None
    if (kind == "urgent") != (level in URGENT_LEVELS):
        return None
    situation = row.get("situation")
    return Labelled(
        id=str(row.get("id") or ""),
        channel=str(row.get("channel") or ""),
        title=str(row.get("title") or ""),
        text=text.strip(),
        level=level,
        situation=situation if isinstance(situation, str) and situation else None,
        kind=kind,
    )


@dataclass(frozen=True)
class UrgencyCorpus:
    """The corpus's urgent messages and hard negatives (ordinary ones are what the simulator makes anyway)."""

    urgent: tuple[Labelled, ...]
    hard_negatives: tuple[Labelled, ...]
    files: tuple[str, ...] = ()
    skipped: int = 0  # lines that were not a usable label

    @classmethod
    def load(cls, directory: Path = URGENCY_CORPUS_DIR) -> UrgencyCorpus:
        """Every `*.jsonl` of `directory`, training and test splits alike: the simulator measures the lane,
        not the model, so it uses all of them. Files in name order, lines in file order (deterministic)."""
        urgent: list[Labelled] = []
        negatives: list[Labelled] = []
        files = sorted(directory.glob("*.jsonl")) if directory.is_dir() else []
        skipped = 0
        for path in files:
            for line in path.read_text(encoding="utf-8-sig").splitlines():
                if not line.strip():
                    continue
                item = _labelled(line)
                if item is None:
                    skipped += 1
                elif item.kind == "urgent":
                    urgent.append(item)
                elif item.kind == "hard_negative":
                    negatives.append(item)
        return cls(tuple(urgent), tuple(negatives), tuple(p.name for p in files), skipped)

    def __bool__(self) -> bool:
        return bool(self.urgent or self.hard_negatives)
