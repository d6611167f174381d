"""China's administrative divisions and Beijing's streets, estates and well-known areas, found in one pass.

The tables beside this module come from jionlp's location data (`judgement_lab/divisions_build.py`
regenerates them) plus beijing_areas.csv, kept by hand. Every name, with its short forms where they are
safe, goes into one Aho–Corasick automaton; `Gazetteer.hits` returns the leftmost-longest matches,
so "朝阳门" (东城区) is not read as "朝阳", and "长春市朝阳区" gives 长春 first.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import NamedTuple

import ahocorasick_rs

HERE = Path(__file__).resolve().parent
HOME = "北京市"  # the hotline's own city: its districts may be named without "区", its streets imply them

PROVINCE, CITY, DISTRICT, STREET, AREA, ESTATE = 1, 2, 3, 4, 5, 6

# Short forms of streets that are ordinary words, or name other places too ("河北" is a province, "天桥" a
# footbridge, "鼓楼" stands in Dongcheng and Xicheng as well as in Miyun's 鼓楼街道).
_NOT_ALIASES = frozenset(
    [
        "鼓楼",
        "城关",
        "城北",
        "城南",
        "新村",
        "光明",
        "胜利",
        "向阳",
        "东风",
        "新华",
        "天桥",
        "八角",
        "古城",
        "果园",
        "龙潭",
        "曙光",
        "东升",
        "温泉",
        "永定",
        "城子",
        "王平",
        "清水",
        "南口",
        "平房",
        "东湖",
        "首都机场",
        "太平桥",
        "北苑",
        "新镇",
        "星城",
        "空港",
        "滨河",
        "迎风",
        "通运",
        "和义",
        "清源",
        "观音寺",
        "荣华",
        "安定",
        "十里堡",
        "北庄",
        "石城",
        "新城子",
        "康庄",
        "旧县",
        "永宁",
        "四海",
        "龙山",
        "北房",
        "渤海",
        "宝山",
        "河北",
        "龙泉",
    ]
)
# Short city names that are ordinary words or name streets and parks everywhere ("中山公园", "北海公园",
# "日照不足", "未开封").
_NOT_SHORT_CITIES = frozenset(
    ("中山", "来宾", "白山", "黄山", "北海", "安康", "大同", "普洱", "白银", "玉树", "阿里", "大理", "朝阳")
) | {"日照", "开封"}
# Short city names that are the end of a word after these characters: 大厦门口, 确保定期, 出海口, 浙江门户.
WORD_BEFORE = {"厦门": "大", "保定": "确担", "海口": "出入", "江门": "浙"}
# County-level names that are also ordinary words ("老城区居民", "沿海城市", "一三工业城东区").
_NOT_DISTRICTS = frozenset(
    ["老城区", "新城区", "城东区", "城西区", "城南区", "城北区", "城中区", "海城市", "开发区"]
)
# Communities named after an institution (农业大学社区, 图书馆社区) name the institution, which other cities
# have too, not an estate.
_INSTITUTION = re.compile(
    r"(?:大学|学院|医院|中学|小学|学校|图书馆|研究所|研究院|设计院|公司|集团|工厂|厂|站|局|部|所|处|机场|仓库|宿舍)$"
)
_INNER_ROAD = re.compile(r"[路街].")  # 南路东: a road's name inside would hide the road from sites.py
_STREET_SUFFIX = re.compile(r"(?:回族乡|满族乡|街道|地区|镇|乡)$")
_COMMUNITY_SUFFIX = re.compile(r"(?:社区居委会|居委会|村委会|社区)$")
_ORDINAL = re.compile(r"第[一二三四五六七八九十]+$")
SUBDIVISION = r"(?:[东西南北中]?[一二三四五六七八九十]{1,3}区|[东西南北中]区|[A-Za-z]\d?区)"
_SUBDIVISION_END = re.compile(SUBDIVISION + "$")


@dataclass(frozen=True, slots=True)
class Division:
    """One reading of a name: its level and where it sits (province, city, district, street, estate)."""

    level: int
    province: str
    city: str | None = None
    district: str | None = None
    street: str | None = None
    estate: str | None = None


class Hit(NamedTuple):
    """A name found in a text: [start, end), whether it was a short form, its readings and the level of the
    first (all readings of a name but an ambiguous district's share their level)."""

    start: int
    end: int
    short: bool
    readings: tuple[Division, ...]
    level: int


def _rows(name: str) -> Iterator[dict[str, str]]:
    with (HERE / name).open(encoding="utf-8", newline="") as fh:
        yield from csv.DictReader(fh)


def street_aliases(street: str) -> list[tuple[str, bool]]:
    """(name, short) forms of a Beijing street: the official name, 镇/乡/地区 variants, the bare name."""
    core = _STREET_SUFFIX.sub("", street)
    if core == street:  # 北京经济技术开发区, 大兴国际机场: only the full name
        return [(street, False)]
    forms = [(street, False)] + [(core + s, False) for s in ("镇", "乡", "地区") if core + s != street]
    if len(core) >= 2 and not core.endswith("路") and core not in _NOT_ALIASES:
        forms.append((core, True))
    return forms


def community_keys(name: str) -> list[str]:
    """Estate names a community's name gives: "芳古园一区第一社区" → 芳古园一区, 芳古园; "小堡村" → 小堡村."""
    key = _ORDINAL.sub("", _COMMUNITY_SUFFIX.sub("", name))
    if _INSTITUTION.search(key) or _INNER_ROAD.search(key):
        return []
    keys = [key] if len(key) >= 3 else []
    base = _SUBDIVISION_END.sub("", key)
    if base != key and len(base) >= 3:
        keys.append(base)
    return keys


class _Table:
    """name → readings, with the precedence rules applied when the automaton is built."""

    def __init__(self) -> None:
        self.names: dict[str, dict[Division, bool]] = {}

    def add(self, name: str, division: Division, short: bool) -> None:
        self.names.setdefault(name, {}).setdefault(division, short)

    def entries(self) -> Iterator[tuple[str, bool, tuple[Division, ...]]]:
        for name, readings in self.names.items():
            kept = _precedence(readings)
            if kept:
                yield name, all(readings.values()), tuple(kept)


def _precedence(readings: dict[Division, bool]) -> list[Division]:
    """The readings a name keeps: full administrative names first; a home-city reading over other cities'
    short forms; among Beijing's streets, areas and estates the finest level, if it names one district."""
    exact_admin = [d for d, short in readings.items() if d.level <= DISTRICT and not short]
    if exact_admin:
        return exact_admin
    admin = [d for d in readings if d.level <= DISTRICT]
    home_admin = [d for d in admin if d.city == HOME]
    if home_admin:
        return home_admin
    if admin:
        return admin
    level = min(d.level for d in readings)
    local = [d for d in readings if d.level == level]
    districts = {d.district for d in local}
    if len(districts) != 1:
        return []  # 八里庄 is a street of both 朝阳区 and 海淀区: it says nothing
    if len(local) > 1:  # one district, several streets: keep the district only
        d = local[0]
        return [Division(d.level, d.province, d.city, d.district, None, d.estate)]
    return local


def _division(r: dict[str, str], by_code: dict[tuple[str, str], Division]) -> Division:
    """One row of divisions.csv, placed under its parent (by_code: (level, adcode) → division; a
    municipality's city has the province's code)."""
    name, level, parent_code = r["name"], r["level"], r["parent"]
    if level == "province":
        return Division(PROVINCE, name)
    if level == "city":
        parent = by_code.get(("province", parent_code))
        return Division(CITY, parent.province if parent else name, name)
    parent = by_code.get(("city", parent_code)) or by_code.get(("province", parent_code))
    return Division(DISTRICT, parent.province if parent else "", parent.city if parent else None, name)


def _load_divisions(table: _Table) -> set[str]:
    """Add China's divisions; return the short names of provinces and cities (never a street's alias)."""
    by_code: dict[tuple[str, str], Division] = {}
    shorts_admin: set[str] = set()
    for r in _rows("divisions.csv"):
        name, short, level = r["name"], r["short"], r["level"]
        if "直辖" in name or (level == "district" and (len(name) <= 2 or name in _NOT_DISTRICTS)):
            continue  # 城区, 东区, 和县: two characters are a word more often than a county
        d = _division(r, by_code)
        by_code.setdefault((level, r["adcode"]), d)
        table.add(name, d, False)
        if level != "district" and len(short) >= 2 and short != name:
            shorts_admin.add(short)
            if short not in _NOT_SHORT_CITIES:
                table.add(short, d, True)
        elif d.city == HOME and len(short) >= 2:
            table.add(short, d, True)  # 海淀, 朝阳: the home city's districts without "区"
    return shorts_admin


def _load() -> _Table:
    table = _Table()
    shorts_admin = _load_divisions(table)
    home_shorts = {n for n, rs in table.names.items() if any(d.city == HOME for d in rs)}
    blocked = shorts_admin | home_shorts
    for r in _rows("beijing_streets.csv"):
        for alias, is_short in street_aliases(r["street"]):
            if not (is_short and alias in blocked):
                table.add(alias, Division(STREET, HOME, HOME, r["district"], r["street"]), is_short)
    for r in _rows("beijing_areas.csv"):
        table.add(r["area"], Division(AREA, HOME, HOME, r["district"], r["street"] or None), True)
    for r in _rows("beijing_communities.csv"):
        for key in community_keys(r["community"]):
            if key not in blocked:
                table.add(key, Division(ESTATE, HOME, HOME, r["district"], r["street"], key), True)
    return table


Anchor = tuple[str, int, int]  # (kind, start, end) of a word that ends a site's name ("园", "地铁站")


class Gazetteer:
    """Finds division, street, area and estate names in a text, and in the same pass the words given as
    `words` (word → kind: the site words of sites.py). A name ending with such a word ("学院路", "苹果园")
    gives that word too; a word inside a name is not found (马驹桥镇 has no bridge)."""

    def __init__(self, table: _Table, words: Mapping[str, str] | None = None) -> None:
        words = dict(words or {})
        longest = max(map(len, words), default=0)
        patterns: list[str] = []
        self._values: list[tuple[bool, tuple[Division, ...], int, str | None, int]] = []
        for name, short, readings in table.entries():
            tail = next(
                (name[-k:] for k in range(min(longest, len(name) - 1), 0, -1) if name[-k:] in words), None
            )
            kind = words[tail] if tail is not None and short else None
            patterns.append(name)
            self._values.append((short, readings, readings[0].level, kind, len(tail) if tail else 0))
        self._words: list[str] = []
        for word, kind in words.items():
            if word not in table.names:
                patterns.append(word)
                self._words.append(kind)
        self._n_names = len(self._values)
        # The Rust automaton, not pyahocorasick: that one scans a node's children one by one, and the root
        # here has one child per first character of some name.
        self._automaton = ahocorasick_rs.AhoCorasick(
            patterns, matchkind=ahocorasick_rs.MatchKind.LeftmostLongest
        )

    def scan(self, text: str) -> tuple[list[Hit], list[Anchor]]:
        """Leftmost-longest names and site words, each in text order."""
        values, n, words = self._values, self._n_names, self._words
        hits: list[Hit] = []
        anchors: list[Anchor] = []
        for i, start, end in self._automaton.find_matches_as_indexes(text):
            if i >= n:
                anchors.append((words[i - n], start, end))
                continue
            short, readings, level, kind, tail = values[i]
            hits.append(Hit(start, end, short, readings, level))
            if kind is not None:
                anchors.append((kind, end - tail, end))
        return hits, anchors

    def hits(self, text: str) -> list[Hit]:
        """Leftmost-longest names in text order."""
        return self.scan(text)[0]


@cache
def gazetteer(words: tuple[tuple[str, str], ...] = ()) -> Gazetteer:
    """The process's gazetteer (with these site words), built on first use."""
    return Gazetteer(_load(), dict(words))
