"""The site a message is about (metro exit, estate, school, hospital, park, market, intersection, bridge,
road) and the building (12号楼1单元), from the words that end such names.

A site's name is read backwards from its place-type word ("园", "医院", "地铁站", "路") over Chinese
characters, up to a length per kind, and stops at a division, street or road name found before it
("丰台区方庄芳城园" → 芳城园), at a word that cannot be part of a name ("那个华清嘉园" → 华清嘉园)
and at punctuation. The place-type words (SITE_WORDS) are found by the caller, in its pass over the text
for division names.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from typing import NamedTuple

from workers.judgement.places import NAME_BREAKS, NOT_NAMES

# Kinds in order of preference: the finest and least ambiguous site a message names wins. A landmark is a
# well-known place of the area table (公主坟, 北医三院, 北京站) named without a place word.
METRO = "metro"
ESTATE = "estate"
VILLAGE = "village"
SCHOOL = "school"
HOSPITAL = "hospital"
PARK = "park"
MARKET = "market"
INTERSECTION = "intersection"
BRIDGE = "bridge"
LANDMARK = "landmark"
ROAD = "road"
_KINDS = (METRO, ESTATE, VILLAGE, SCHOOL, HOSPITAL, PARK, MARKET, INTERSECTION, BRIDGE, LANDMARK, ROAD)
_RANK = {k: i for i, k in enumerate(_KINDS)}
_MAX_NAME = {METRO: 8, ESTATE: 6, VILLAGE: 4, SCHOOL: 8, HOSPITAL: 8, PARK: 6, MARKET: 6, BRIDGE: 4, ROAD: 6}
# Estate subdivision (一区, C区); metro line; "站" (a station only before an exit or after an area's name);
# a transport hub (苹果园枢纽).
_SUB, _LINE, _STATION, _HUB = "sub", "line", "station", "hub"
# The best rank of the sites a site word can make (a road's word can make an intersection).
_GROUP = _RANK | {_SUB: _RANK[ESTATE], _LINE: _RANK[METRO], _STATION: _RANK[METRO], _HUB: _RANK[METRO]}
_GROUP[ROAD] = _RANK[INTERSECTION]

_NUMERAL_CHARS = "一二三四五六七八九十"


def _numerals(n: int) -> str:
    tens, ones = divmod(n, 10)
    return ("" if tens == 0 else ("十" if tens == 1 else _NUMERAL_CHARS[tens - 1] + "十")) + (
        _NUMERAL_CHARS[ones - 1] if ones else ""
    )


def _words() -> dict[str, str]:
    words = {w: METRO for w in ("地铁站",)}
    words |= {"站": _STATION, "地铁": _LINE, "号线": _LINE, "枢纽": _HUB}
    words |= {w: SCHOOL for w in ("大学", "学院", "中学", "小学", "幼儿园", "学校")}
    words |= {w: HOSPITAL for w in ("医院", "卫生院")}
    words |= {"公园": PARK}
    words |= {w: MARKET for w in ("农贸市场", "菜市场", "市场", "商场", "超市", "广场")}
    words |= {
        w: ESTATE
        for w in ("小区", "花园", "家园", "新村", "公寓", "社区", "苑", "园", "东里", "西里", "南里", "北里")
    }
    words |= {"村": VILLAGE, "桥": BRIDGE}
    words |= {w: ROAD for w in ("大街", "大道", "步行街", "胡同", "路", "街", "巷")}
    for n in range(1, 31):
        for side in ("", "东", "西", "南", "北", "中"):
            words[side + _numerals(n) + "区"] = _SUB
    for side in "东西南北中":
        words[side + "区"] = _SUB
    for letter in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz":
        words[letter + "区"] = _SUB
        for digit in "123456789":
            words[letter + digit + "区"] = _SUB
    return words


# The words that end a site's name, with their kind: address.py finds them in the same Aho–Corasick pass as
# the division names, rather than with a `re` alternation that tries every word at every character.
SITE_WORDS: tuple[tuple[str, str], ...] = tuple(_words().items())


_EXIT = re.compile(r"([A-Za-z]\d?)出?口|([东西南北]{1,2})出?口")
_STATION_AFTER = re.compile(r"(?:\d{1,2}号线|[\u4e00-\u9fff]{1,4}线)?([\u4e00-\u9fff]{2,8}?)站")
_LINE_NUMBER = re.compile(r"\d{1,2}$")
ROAD_AFTER = re.compile(r"[东西南北中内外]?[一二三四五六七八九十\d]*(?:路|大街|街|大道|步行街|巷|胡同)")
_CROSSING = frozenset(("与", "和", "跟", "及", "、", "/"))
_CROSSING_END = re.compile(r"(?:十字路口|交叉路口|交叉口|交汇处|交界处|路口|交口)")
_BUILDING = re.compile(
    r"(\d{1,3}|[一二三四五六七八九十]{1,3})(?:号楼|栋|幢|号住宅楼)(?:(\d{1,2}|[一二三四五六七八九十]{1,3})单元)?"
)
# Characters that never belong to a site's name: they end the backward scan.
_STOP = frozenset("的在是与了我你他她们对从到被把给这那个住及或该各就说想要有没也还很其此某边面旁近区县")
# "于" ends a name only in 关于, 位于, 对于…: 于家务, 于辛庄 are names.
_YU = re.compile(r"[关位对由属至等]于")
_ROAD_CHARS = frozenset("路街道巷")
# Whole names that only describe ("周边小区", "附近公园"): places.NOT_NAMES and more ("人民医院" is a name).
_NOT_NAMES = NOT_NAMES | frozenset(
    [
        "地铁",
        "公交",
        "火车",
        "汽车",
        "高铁",
        "加油",
        "垃圾",
        "物业",
        "社区",
        "街道",
        "村里",
        "乡村",
        "水泥",
        "柏油",
        "主干",
        "高速",
        "小区",
        "家门",
        "楼下",
        "楼上",
        "门口",
        "大学",
        "中学",
        "小学",
        "市区",
        "城区",
        "郊区",
        "省市",
        "人行",
        "盲",
    ]
)
_BAD_ROAD_END = frozenset("马公道线夜辅环条上下出进回走过一半铁水土")
_NUMERALS = {c: i + 1 for i, c in enumerate(_NUMERAL_CHARS[:9])}


class Site(NamedTuple):
    """A site found in a text: its canonical name, kind and where it was found."""

    name: str
    kind: str
    start: int
    end: int


_STOP_CLASS = "".join(sorted(_STOP))
# A run of name characters ending where the place word starts (searched between lo and the word, `\\Z` being
# that end): word characters that are not Latin letters, digits or stop characters.
_RUN = re.compile(rf"[^\W\d_A-Za-z{_STOP_CLASS}]+\Z")
_RUN_NO_ROAD = re.compile(rf"[^\W\d_A-Za-z{_STOP_CLASS}路街道巷]+\Z")


def name_before(text: str, end: int, kind: str, cuts: Sequence[int]) -> str:
    """The name that ends at `end`: name characters backwards, at most the kind's length, starting after
    the last cut (the end of a division or road name) that leaves at least two characters."""
    m = (_RUN if kind == METRO else _RUN_NO_ROAD).search(text, max(0, end - _MAX_NAME[kind]), end)
    if m is None:
        return ""
    start = m.start()
    yu = text.rfind("于", start, end)
    if yu > 0 and _YU.match(text, yu - 1):
        start = yu + 1
    if kind != METRO:  # "粗石江镇喜洋洋幼儿园", "中路铺镇碧云村": a township's name ends before
        town = max(text.rfind("镇", start, end - 2), text.rfind("乡", start, end - 2))
        if town >= start:
            start = town + 1
    start = max([cut for cut in cuts if start < cut <= end - 2], default=start)
    breaks = [m.end() for m in NAME_BREAKS.finditer(text, start, end)]
    if breaks:
        if breaks[-1] > end - 2:  # "居民小区", "今天一早小区": no name at all
            return ""
        start = breaks[-1]
    if (
        kind == ROAD
        and end - start > 2
        and text[start] in "和跟及"
        and start
        and text[start - 1] in _ROAD_CHARS
    ):
        start += 1  # "西二旗大街和后厂村路": the second road
    return text[start:end]


def _number(value: str) -> str:
    """ "12" → 12, "十二" → 12, "三" → 3."""
    if value.isdigit():
        return str(int(value))
    if "十" in value:
        tens, _, ones = value.partition("十")
        return str(_NUMERALS.get(tens, 1) * 10 + _NUMERALS.get(ones, 0))
    return str(_NUMERALS.get(value, 0)) if len(value) == 1 else value


def building(text: str) -> str | None:
    """ "12号楼1单元", "8号楼": the first building (and unit) named."""
    m = _BUILDING.search(text)
    if not m:
        return None
    unit = f"{_number(m.group(2))}单元" if m.group(2) else ""
    return f"{_number(m.group(1))}号楼{unit}"


_COUNTED = re.compile(r"[一两几某这那该每各][家个座所条栋片处]")  # 一家商场, 这个小区: no name


# A verb or preposition before the place word: "孩子上幼儿园", "送到医院", "进优质学校".
_BAD_END = frozenset("上下进去到回读入来")


def _good(name: str, kind: str) -> bool:
    if len(name) < 2 or name in _NOT_NAMES or _COUNTED.match(name) or name[-1] in _BAD_END:
        return False
    if kind == VILLAGE and name[-1] in "农乡":  # 农村, 乡村
        return False
    return not (kind in (ROAD, BRIDGE) and name[-1] in _BAD_ROAD_END)


def _exit(text: str, at: int) -> tuple[str, int]:
    m = _EXIT.match(text, at)
    if not m:
        return "", at
    return (m.group(1) or m.group(2)).upper() + "口", m.end()


class _Finder:
    """One text's sites, found anchor by anchor."""

    def __init__(
        self, text: str, cuts: Sequence[int], alias_cuts: Sequence[int], areas: Sequence[tuple[int, int]]
    ) -> None:
        self.text = text
        self.narrow = cuts
        self.cuts = [*cuts, *alias_cuts]
        self.areas = areas
        self.sites: list[Site] = []
        self.roads: list[Site] = []

    def station(self, a: int, b: int, kind: str) -> None:
        """ "X地铁站", "X站B口", "X枢纽", an area's name and "站" (天通苑南站), or a line ("地铁10号线",
        "10号线") followed by "X站"."""
        text = self.text
        if kind == _LINE:
            if text.startswith("号线", a) and not _LINE_NUMBER.search(text, 0, a):
                return
            m = _STATION_AFTER.match(text, b)
            if m is None:
                return
            name, end = m.group(1), m.end()
        else:
            if kind == _STATION and not _EXIT.match(text, b) and not any(e == a for _, e in self.areas):
                return  # a bare "站" (加油站, 公交站) without an exit letter
            name, end = name_before(text, a, METRO, self.narrow), b
            if len(name) < 2:
                return
        exit_, end = _exit(text, end)
        word = "枢纽" if kind == _HUB else "站"
        self.sites.append(Site(name + word + exit_, METRO, a - len(name) if kind != _LINE else a, end))

    def estate(self, a: int, b: int, kind: str) -> None:
        text = self.text
        name = name_before(text, a, ESTATE if kind == _SUB else kind, self.cuts)
        if not _good(name, ESTATE):
            return
        word = text[a:b]
        prev = self.sites[-1] if self.sites else None
        if kind == _SUB:
            if prev is not None and prev.kind == ESTATE and prev.end == a:
                self.sites[-1] = Site(prev.name + word, ESTATE, prev.start, b)  # 芳城园 + 一区
            else:
                self.sites.append(Site(name + word, ESTATE, a - len(name), b))
            return
        if word == "小区":  # "碧桂园小区" is 碧桂园
            if prev is not None and prev.kind == ESTATE and prev.end == a:
                return
            word = ""
        self.sites.append(Site(name + word, kind, a - len(name), b))

    def other(self, a: int, b: int, kind: str) -> None:
        text = self.text
        word = text[a:b]
        if kind == ROAD and word == "步行街" and self.roads and self.roads[-1].end == a:
            prev = self.roads.pop()  # 北京路步行街
            self.sites.remove(prev)
            site = Site(prev.name + word, ROAD, prev.start, b)
        else:
            narrow = kind in (SCHOOL, HOSPITAL, PARK, MARKET)  # 亦庄同仁医院, 潘家园旧货市场
            name = name_before(text, a, kind, self.narrow if narrow else self.cuts)
            start = a - len(name)
            if start and text[start - 1] in _ROAD_CHARS:  # 新街口北大街: 街 inside an area's name
                start = next((s for s, e in self.areas if s < start < e), start)
                name = text[start:a]
            if not _good(name, kind):
                return
            site = Site(name + word, kind, start, b)
        if kind == ROAD:
            self.roads.append(site)
        self.sites.append(site)

    def anchor(self, kind: str, a: int, b: int) -> None:
        """The site (if any) that the site word text[a:b] of this kind ends."""
        text = self.text
        if kind in (METRO, _LINE, _STATION, _HUB):
            self.station(a, b, kind)
        elif kind == _SUB:
            self.estate(a, b, kind)
        elif kind in (ESTATE, VILLAGE, SCHOOL) and ROAD_AFTER.match(text, b):
            return  # 后厂村路, 中关村大街, 学院路: part of a road's name
        elif (kind == SCHOOL and text.startswith(("城", "生"), b)) or (
            kind == MARKET and text.startswith("舞", b)
        ):
            return  # 大学城, 小学生, 广场舞
        elif kind == ROAD and text.startswith("道", b):
            return  # 粤海街道
        elif (kind == VILLAGE and text.startswith(("民", "级", "委", "里", "道"), b)) or (
            kind == BRIDGE and text.startswith(("镇", "乡"), b)
        ):
            return  # 村民, 村级, 村里; 梅桥镇
        elif (kind in (ESTATE, VILLAGE) or (kind == ROAD and b - a == 1 and text[a] == "街")) and any(
            s <= a and b == e for s, e in self.areas
        ):
            return  # 苹果园, 中关村, 金融街: an area's name, not an estate's or a road's
        elif kind in (ESTATE, VILLAGE):
            self.estate(a, b, kind)
        else:
            self.other(a, b, kind)

    def intersections(self) -> None:
        text, roads = self.text, self.roads
        for r1, r2 in itertools.pairwise(roads):
            if text[r1.end : r2.start] in _CROSSING and _CROSSING_END.match(text, r2.end):
                first, second = sorted((r1.name, r2.name))
                self.sites.append(Site(f"{first}与{second}交叉口", INTERSECTION, r1.start, r2.end))


def find_sites(
    text: str,
    anchors: Sequence[tuple[str, int, int]],
    cuts: Sequence[int],
    *,
    alias_cuts: Sequence[int] = (),
    area_spans: Sequence[tuple[int, int]] = (),
    name_spans: Sequence[tuple[int, int]] = (),
    landmarks: Sequence[tuple[int, int]] = (),
    best_only: bool = False,
) -> list[Site]:
    """The sites named in text. `anchors` are the (kind, start, end) of the SITE_WORDS found in it; `cuts`
    where division names start and end; `alias_cuts` the same for short street and area names (方庄), which
    end an estate's or road's name but belong to a station's or a hospital's (良乡大学城西站, 亦庄同仁医院);
    `area_spans` the spans of street and area names (苹果园, 中关村), which are not estates or villages;
    `name_spans` the spans of full division and street names, inside which no site word counts (渝中区,
    大峪街道, 马驹桥镇); `landmarks` the spans of well-known places (公主坟), sites in themselves.

    All sites, or with `best_only` at least the one `best_site` picks: anchors are then taken kind by kind
    in order of preference, and kinds that cannot beat a site found are not read."""
    f = _Finder(text, cuts, alias_cuts, area_spans)
    for s, e in landmarks:
        if not ROAD_AFTER.match(text, e):  # 西直门内大街 is a road
            f.sites.append(Site(text[s:e], LANDMARK, s, e))
    best = _RANK[LANDMARK] if f.sites else len(_KINDS)
    for kind, a, b in sorted(anchors, key=_group_of) if best_only else anchors:
        if best_only and _GROUP[kind] > best:
            break
        if name_spans and any(s <= a and b <= e for s, e in name_spans):
            continue
        n = len(f.sites)
        f.anchor(kind, a, b)
        if len(f.sites) > n:
            best = min(best, *(_RANK[site.kind] for site in f.sites[n:]))
    f.intersections()
    return f.sites


def _group_of(anchor: tuple[str, int, int]) -> int:
    return _GROUP[anchor[0]]


def best_site(sites: Sequence[Site]) -> Site | None:
    """The preferred site: by kind (metro, estate, … road), then the first named."""
    if not sites:
        return None
    return min(sites, key=lambda s: (_RANK[s.kind], s.start))
