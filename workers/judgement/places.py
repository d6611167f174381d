"""Extract where a message is about: district / city codes and named places (estates, schools, villages)."""

from __future__ import annotations

import re
from dataclasses import dataclass

# The data set anonymises places as a city letter plus a district number: "A5区", "K3县", "B9市", "A市".
_DISTRICT = re.compile(r"([A-N])(\d{1,2})\s*[区县市]")
_CITY = re.compile(r"([A-N])\s*市")
# A named place: up to four name characters right before a place-type suffix. Administrative words and
# common function characters are excluded from the name so that "A市经济学院" and "西地省经济学院" both
# give "经济学院" and "A5区劳动东路魅力之城小区" gives "魅力之城小区".
# Sub-district words (街道, 社区, 镇) are left out: they name areas with many unrelated problems, not sites.
PLACE_SUFFIXES = "小区|花园|家园|新村|公寓|学院|大学|中学|小学|幼儿园|医院|公园|广场|市场|商城|村|苑|园|湾"
_SUFFIXES = PLACE_SUFFIXES
_PLACE = re.compile(rf"((?:(?!{_SUFFIXES})[\u4e00-\u9fff]){{2,4}}?)({_SUFFIXES})")
# Characters that end an administrative prefix or belong to the sentence, never to a name: "本小区",
# "我们村", "该学校" have no name.
_NOT_NAME = frozenset("省市区县的在是和与了我你他她们对向从到被把给这那个家住位于及或该本各")
# Names are looked for in the title and the start of the content only: deeper in, "xx学校" or "xx小区" are
# mostly fragments of sentences ("准提前回学校") rather than the place the message is about.
_CONTENT_WINDOW = 80
# Below this length one name ending another says nothing ("新城小区" and "小区" are not one place).
SUFFIX_MATCH_CHARS = 4


@dataclass(frozen=True)
class Place:
    """Where a message is about, as far as its text or its district field tells."""

    city: str | None
    district: str | None
    names: tuple[str, ...]


def normalise_district(value: str | None) -> tuple[str | None, str | None]:
    """(city, district) from a district field such as "A5区", "A市" or a real name like "朝阳区"."""
    if not value or not value.strip():
        return None, None
    v = value.strip()
    m = _DISTRICT.search(v)
    if m:
        return m.group(1), m.group(1) + m.group(2)
    m = _CITY.fullmatch(v)
    if m:
        return m.group(1), None
    return None, v


# Words that stand before a place-type word without naming a place ("周边小区", "附近村").
NOT_NAMES = frozenset(
    {
        "周边",
        "附近",
        "周围",
        "整个",
        "所在",
        "其他",
        "其它",
        "相关",
        "各个",
        "全部",
        "所有",
        "本地",
        "当地",
        "城市",
        "农村",
        "老旧",
        "新建",
        "部分",
        "同一",
        "一个",
        "多个",
        "几个",
        "隔壁",
        "对面",
        "旁边",
        "这些",
        "那些",
        "高档",
        "普通",
        "公立",
        "私立",
        "民办",
        "公办",
    }
)


# Words that run straight into the place a message names when a sentence has no punctuation (a phone
# call's transcript, a hurried post): a request ("派人抢修望京花园"), a utility ("恢复供水清河花园"), a time
# ("今天一早小区门口"), who writes ("居民小区"). No place name holds them: a name starts after the last one.
NAME_BREAKS = re.compile(
    "处理|抢修|维修|修理|修复|检修|解决|检查|查看|派人|赶紧|尽快|马上|帮忙|看看|管管|清理|疏通|协调|反映|投诉|举报"
    "|联系|通知|恢复|供水|来水|停水|供电|来电|停电|供暖|停暖|暖气|今天|昨天|前天|凌晨|一早|早上|晚上|开始|刚才"
    "|现在|已经|一直|居民"
)


def clean_name(name: str) -> str:
    """Keep what follows the last character that cannot be part of a place name ("地省经济" -> "经济") and
    the last word that breaks a name ("处理望京" -> "望京")."""
    for i in range(len(name) - 1, -1, -1):
        if name[i] in _NOT_NAME:
            name = name[i + 1 :]
            break
    breaks = [m.end() for m in NAME_BREAKS.finditer(name)]
    if breaks:
        name = name[breaks[-1] :]
    return "" if name in NOT_NAMES else name


def extract_names(text: str, limit: int = 4) -> tuple[str, ...]:
    """Named places in text order, deduplicated, at most `limit`."""
    found: dict[str, None] = {}
    for m in _PLACE.finditer(text):
        name = clean_name(m.group(1))
        if len(name) >= 2:
            found.setdefault(name + m.group(2), None)
            if len(found) >= limit:
                break
    return tuple(found)


def same_place(a: str, b: str) -> bool:
    """Two names of one place: equal, or one ends the other ("经济学院" and "涉外经济学院")."""
    return a == b or (min(len(a), len(b)) >= SUFFIX_MATCH_CHARS and (a.endswith(b) or b.endswith(a)))


def extract_place(title: str, content: str, district: str | None = None) -> Place:
    """The place of a message: the district field wins, else the first district / city code in the text."""
    city, dist = normalise_district(district)
    text = f"{title} {content}"
    if dist is None:
        m = _DISTRICT.search(text)
        if m:
            city, dist = city or m.group(1), m.group(1) + m.group(2)
    if city is None:
        m = _CITY.search(text)
        if m:
            city = m.group(1)
    return Place(city=city, district=dist, names=extract_names(f"{title} {content[:_CONTENT_WINDOW]}"))
