"""Where a message is about, as a real address: province, city, district, street, site and building.

`locate(title, content, district, address)` reads the adapter's location fields first, then the text. The
contest's anonymised codes ("A市A3区", "K8县") keep the meaning `places.normalise_district` gives them. A
district implied only by a street, a well-known area or an estate of the hotline's city (方庄 → 丰台区,
回龙观 → 昌平区, 芳城园一区 → 丰台区) is filled in, and `district_source` says so.
See docs/judgement.md, "Places".
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from functools import cache, lru_cache

from ingest.normalise import nfkc
from workers.judgement.divisions import (
    AREA,
    CITY,
    DISTRICT,
    ESTATE,
    HOME,
    PROVINCE,
    STREET,
    WORD_BEFORE,
    Anchor,
    Division,
    Gazetteer,
    Hit,
    gazetteer,
)
from workers.judgement.places import normalise_district
from workers.judgement.sites import ROAD_AFTER, SITE_WORDS, Site, best_site, building, find_sites

# Places are named early: the title, the opening of the content (after a phone call's greetings).
CONTENT_CHARS = 160
_CODE = re.compile(r"([A-N])(\d{1,2})\s*[区县市]")
_CITY_CODE = re.compile(r"([A-N])\s*市")
# A street or township written right after a district outside the home city ("浦东新区张江镇").
_STREET_AFTER = re.compile(r"[\u4e00-\u9fff]{1,6}?(?:街道|镇|乡)")
_NOT_IN_STREET = frozenset("的在是与了我你他她们这那个和有")
# district_source values: how the district was found.
FIELD, TEXT, CODE = "field", "text", "code"
_IMPLIED = {STREET: "street", AREA: "area", ESTATE: "estate"}


@cache
def scanner() -> Gazetteer:
    """The process's gazetteer with the site words, built on first use; cached here so that a call does
    not hash the site words to find it in `gazetteer`'s cache."""
    return gazetteer(SITE_WORDS)


@dataclass(frozen=True, slots=True)
class RealPlace:
    """A message's place. Unknown parts are None; `district_source` is "field", "text" (the district is
    named), "street" / "area" / "estate" (implied by a Beijing street, area or estate) or "code" (the
    contest's anonymised codes, in the form `normalise_district` gives: city "A", district "A3")."""

    province: str | None = None
    city: str | None = None
    district: str | None = None
    street: str | None = None
    site: str | None = None
    site_kind: str | None = None
    building: str | None = None
    district_source: str | None = None

    def to_json(self) -> dict[str, str | None]:
        """The fields as a plain dict (for `predict`'s "place")."""
        return asdict(self)


def _consistent(d: Division, province: str | None, city: str | None) -> bool:
    return (province is None or d.province == province) and (city is None or d.city in (city, None))


def _pick_district(readings: tuple[Division, ...], province: str | None, city: str | None) -> Division | None:
    """The reading of a district name that fits the province and city named so far; with none named, the
    home city's, else the only one. An ambiguous name (鼓楼区 without a city) keeps only what all share."""
    cands = [d for d in readings if d.level == DISTRICT and _consistent(d, province, city)]
    if not cands:
        return None
    if len(cands) == 1:
        return cands[0]
    home = [d for d in cands if d.city == HOME]
    if home:
        return home[0]
    first = cands[0]
    same_province = all(d.province == first.province for d in cands)
    return Division(DISTRICT, first.province if same_province else "", None, first.district)


class _Resolver:
    """One ordered pass over the hits of the fields and the text."""

    def __init__(self) -> None:
        self.province: str | None = None
        self.city: str | None = None
        self.district: Division | None = None
        self.source: str | None = None
        self.end: tuple[str, int] | None = None  # where the district's name ends (for a street after it)

    def admin(self, hits: list[Hit], text: str, source: str) -> None:
        for h in hits:
            if self.district is not None:
                return
            levels = {d.level for d in h.readings}
            if levels & {PROVINCE, CITY}:
                if _city_word(h, text):
                    continue
                for d in h.readings:
                    if d.level <= CITY and _consistent(d, self.province, self.city):
                        self.province = self.province or d.province
                        if d.level == CITY:
                            self.city = self.city or d.city
                        break
                continue
            if DISTRICT in levels:
                if text.startswith(("域", "长"), h.end):
                    continue  # 河东区域, 唐县长: a word, not a district
                pick = _pick_district(h.readings, self.province, self.city)
                if pick is not None:
                    self.district, self.source, self.end = pick, source, (text, h.end)

    def implied(self, hits: list[Hit], text: str) -> Division | None:
        """The first home-city street, area or estate, if the message names no other city."""
        if self.province not in (None, HOME) or self.city not in (None, HOME):
            return None
        for h in hits:
            if h.level >= STREET and not _ring_road(h, text):
                return h.readings[0]
        return None


def _city_word(h: Hit, text: str) -> bool:
    """A short province or city name that is part of another word: a road named after a city (北京路,
    南京西路) or the end of a word (大厦门口)."""
    if not h.short or h.level > CITY:
        return False
    before = WORD_BEFORE.get(text[h.start : h.end])
    return bool(ROAD_AFTER.match(text, h.end)) or bool(before and h.start and text[h.start - 1] in before)


def _ring_road(h: Hit, text: str) -> bool:
    """东四环 is a ring road, not 东四 (东城区)."""
    return h.short and text.startswith("环", h.end)


def _street(hits: list[Hit], text: str, district: str) -> str | None:
    """The first street of the district named outright or by its short name (a road named after an area,
    和平里北街, lies in it or beside it), else the street of the first estate of the district."""
    estate_street = None
    for h in hits:
        d = h.readings[0]
        if d.level < STREET or d.district != district or d.street is None or _ring_road(h, text):
            continue
        if d.level == ESTATE:
            estate_street = estate_street or d.street
        else:
            return d.street
    return estate_street


def _street_after(text: str, end: int) -> str | None:
    m = _STREET_AFTER.match(text, end)
    if m and not any(c in _NOT_IN_STREET for c in m.group()) and len(m.group()) >= 3:
        return m.group()
    return None


def _contest(field: str, full: str, window: str, hits: list[Hit]) -> tuple[str | None, str | None] | None:
    """(city, district) codes exactly as `places.extract_place` finds them (over the whole text), or None if
    the message is not written in codes: it is when the district field is a code, or the text names a city
    code ("G市西湖区": the contest's city, whatever real county name was left in the text), or a district
    code before any real county name of the text's opening."""
    if field and not (_CODE.search(field) or _CITY_CODE.fullmatch(field)):
        return None
    if not field and not _CITY_CODE.search(full):
        first_real = next((h.start for h in hits if h.level <= DISTRICT and not h.short), None)
        if first_real is None:
            if not _CODE.search(full):
                return None
        else:
            m = _CODE.search(window, 0, first_real)
            if m is None:
                return None
    city, dist = normalise_district(field) if field else (None, None)
    if dist is None:
        m = _CODE.search(full)
        if m:
            city, dist = city or m.group(1), m.group(1) + m.group(2)
    if city is None:
        m = _CITY_CODE.search(full)
        if m:
            city = m.group(1)
    return city, dist


def locate(title: str, content: str, district: str | None = None, address: str | None = None) -> RealPlace:
    """The place of one message, from the adapter's district and address fields and the text."""
    text = nfkc(f"{address or ''}\n{title}\n{content[:CONTENT_CHARS]}")
    field = nfkc(district).strip() if district else ""
    gaz = scanner()
    hits, anchors = gaz.scan(text)
    field_hits = gaz.hits(field) if field else []
    if not field_hits:
        codes = _contest(field, f"{title} {content}", text, hits)
        if codes is not None:
            return _coded(text, anchors, *codes)
    r = _Resolver()
    if field_hits:
        r.admin(field_hits, field, FIELD)
    r.admin(hits, text, TEXT)
    dist, source = r.district, r.source
    if dist is None:
        implied = r.implied(hits, text)
        if implied is not None:
            dist, source = implied, _IMPLIED[implied.level]
    street = None
    if dist is not None and dist.district:
        if dist.city == HOME:
            street = _street(hits, text, dist.district)
        elif r.end is not None:
            street = _street_after(*r.end)
    after_street = (
        r.end[1] + len(street) if street and r.end is not None and dist and dist.city != HOME else None
    )
    site = best_site(_sites(text, hits, anchors, after_street))
    # An ambiguous district (鼓楼区 with no city named) keeps only the province the text names, if any.
    province = (dist.province or r.province) if dist else r.province
    return RealPlace(
        province=province,
        city=dist.city if dist else r.city,
        district=dist.district if dist else None,
        street=street,
        site=site.name if site else None,
        site_kind=site.kind if site else None,
        building=building(text),
        district_source=source if dist else None,
    )


# A worker judges a batch (its district, from `locate`) and then computes the batch's incident signatures
# (their sites, from `locate` again): a few thousand places kept spare that second reading.
_MEMO = 4096


@lru_cache(maxsize=_MEMO)
def locate_opening(title: str, opening: str) -> RealPlace:
    """`locate(title, opening)` of a message's title and opening (no adapter fields), memoised."""
    return locate(title, opening)


@lru_cache(maxsize=256)
def field_district(district: str) -> RealPlace:
    """What the adapter's district field alone says ("朝阳" → 朝阳区, "A5区" → the contest's codes)."""
    return locate("", "", district)


def _sites(text: str, hits: list[Hit], anchors: list[Anchor], after_street: int | None) -> list[Site]:
    """The sites of text. A site's name starts after a division's or street's name, or where one that ends
    at its place word starts ("想反映一下西三旗桥" → 西三旗桥)."""
    cuts: list[int] = [] if after_street is None else [after_street]
    alias_cuts: list[int] = []
    areas: list[tuple[int, int]] = []
    names: list[tuple[int, int]] = []
    landmarks = [(h.start, h.end) for h in hits if h.level == AREA]
    for h in hits:
        if not h.short:
            names.append((h.start, h.end))
            cuts += (h.start, h.end)
        elif h.level <= DISTRICT:
            if not _city_word(h, text):  # not 山南 in 麓山南路
                cuts += (h.start, h.end)
        elif h.level != ESTATE:
            alias_cuts += (h.start, h.end)
        if h.level in (STREET, AREA):
            areas.append((h.start, h.end))
    return find_sites(
        text,
        anchors,
        cuts,
        alias_cuts=alias_cuts,
        area_spans=areas,
        name_spans=names,
        landmarks=landmarks,
        best_only=True,
    )


def _coded(text: str, anchors: list[Anchor], city: str | None, district: str | None) -> RealPlace:
    """A place in the contest's anonymised codes: its site and building are read as for real places."""
    spans = [m.span() for m in _CODE.finditer(text)] + [m.span() for m in _CITY_CODE.finditer(text)]
    cuts = [p for span in spans for p in span]
    site = best_site(find_sites(text, anchors, cuts, name_spans=spans, best_only=True))
    return RealPlace(
        city=city,
        district=district,
        site=site.name if site else None,
        site_kind=site.kind if site else None,
        building=building(text),
        district_source=CODE if district else None,
    )
