"""The issue signature of a message (what it is about, where) and the similarity of two signatures."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import numpy.typing as npt

from workers.judgement.address import CODE, FIELD, TEXT, field_district, locate_opening
from workers.judgement.places import SUFFIX_MATCH_CHARS, clean_name, extract_place, same_place
from workers.judgement.problems import building_scoped, problem_kinds
from workers.judgement.text import Tokenizer
from workers.judgement.topic import TopicModel, Vector

LOCATE_CHARS = 160
USE_STREET = True

SIGNATURE_VERSION = 1
# Every word any signature of this process has used, numbered: scoring gathers word weights by number
# (workers/judgement/scoring.py). It grows with the vocabulary of the messages, not with their number.
_WORD_IDS: dict[str, int] = {}
PLACE_PREFIX = "@"
_EMPTY: Vector = np.zeros(0, dtype=np.float32)


@dataclass(frozen=True)
class SignatureParams:
    """How a signature is built; defaults tuned on the hot-issue pool (see docs/judgement.md)."""

    title_weight: float = 3.0
    content_chars: int = 160  # the lede: later paragraphs drift into background and demands
    max_terms: int = 24
    retrieval_terms: int = 8


@dataclass(frozen=True)
class ScoreWeights:
    """How match_score mixes its evidence."""

    # Latent-topic similarity carries paraphrases; word overlap keeps two problems of one topic apart.
    topic: float = 0.5
    terms: float = 0.5
    # Sharing a named place (estate, school, village) lowers the similarity needed instead of replacing
    # it, so that different problems of one estate (parking sales, cracks, smoke) stay apart.
    place_bonus: float = 0.3
    # Without a shared place, word overlap must reach this before anything counts: otherwise every bus-route
    # or metro message of a year would chain into one "topic" rather than one incident.
    min_terms_without_place: float = 0.35
    # Naming one problem kind (problems.py) is evidence of one incident beyond the shared words: a short
    # WeChat post and a long web letter about one burst main share few words but the kind.
    problem_bonus: float = 0.3


DEFAULT_WEIGHTS = ScoreWeights()


@dataclass(frozen=True)
class IssueSignature:
    """Unit-length topic vector, unit-length weighted words, named places, city and district."""

    terms: Mapping[str, float]
    topic: Vector = field(default_factory=lambda: _EMPTY, compare=False, repr=False)
    city: str | None = None
    district: str | None = None
    places: tuple[str, ...] = ()
    # The real place (address.locate): the site's name and kind, the building, the district the text or the
    # adapter names (not one only implied by an area), and the problem kinds (problems.py).
    site: str | None = None
    site_kind: str | None = None
    building: str | None = None
    area: str | None = None
    area_implied: bool = False
    street: str | None = None
    problems: tuple[str, ...] = ()

    def retrieval_keys(self, n: int = SignatureParams.retrieval_terms) -> list[str]:
        """The heaviest words and the places: what a store indexes to fetch candidates (e.g. a GIN index
        on a text[] column queried with &&)."""
        top = sorted(self.terms.items(), key=lambda kv: (-kv[1], kv[0]))[:n]
        keys = {k for k, _ in top} | {PLACE_PREFIX + p for p in self.places}
        if self.site:
            keys.add(PLACE_PREFIX + self.site)
        return sorted(keys)

    @cached_property
    def term_arrays(self) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
        """The words' numbers (see vocabulary_size) and weights, in the order of `terms`."""
        ids = _WORD_IDS
        numbers = [ids.setdefault(word, len(ids)) for word in self.terms]
        return np.array(numbers, np.int64), np.fromiter(self.terms.values(), np.float64, len(numbers))

    @cached_property
    def place_forms(self) -> tuple[frozenset[str], frozenset[str]]:
        """The place names, and every suffix of them long enough for `same_place`: with both sets,
        `share_place` is three set intersections instead of a `same_place` call per pair of names (a
        grouped incident keeps up to eight names and is compared with most messages of its bucket)."""
        return frozenset(self.places), _long_suffixes(self.places)

    @cached_property
    def problem_set(self) -> frozenset[str]:
        """The problem kinds as a set (compared with every candidate's)."""
        return frozenset(self.problems)

    def to_json(self) -> dict[str, Any]:
        """A plain dict for a jsonb column (about 1 KB)."""
        return {
            "v": SIGNATURE_VERSION,
            "terms": dict(zip(self.terms, _rounded(self.terms.values()), strict=True)),
            "topic": _rounded(self.topic.tolist()),
            "city": self.city,
            "district": self.district,
            "places": list(self.places),
            "site": self.site,
            "site_kind": self.site_kind,
            "building": self.building,
            "area": self.area,
            "area_implied": self.area_implied,
            "street": self.street,
            "problems": list(self.problems),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> IssueSignature:
        """Inverse of to_json."""
        return cls(
            terms={str(k): float(v) for k, v in data["terms"].items()},
            topic=np.asarray(data.get("topic", ()), dtype=np.float32),
            city=data.get("city"),
            district=data.get("district"),
            places=tuple(data.get("places", ())),
            site=data.get("site"),
            site_kind=data.get("site_kind"),
            building=data.get("building"),
            area=data.get("area"),
            area_implied=bool(data.get("area_implied", False)),
            street=data.get("street"),
            problems=tuple(data.get("problems", ())),
        )


def _rounded(values: Iterable[float]) -> list[float]:
    """`round(x, 4)` of each value, in one numpy pass: a worker writes the signature of every incident its
    batch touched (workers/linking.py), and rounding a centroid's numbers one by one in Python would be
    most of `to_json`'s cost. numpy rounds x · 10⁴ to the nearest integer (ties to even) and
    divides: the same doubles as Python's correctly rounded `round` except when x · 10⁴ lands within an ulp
    of a tie — none in 8 million topic values and 2 million word weights of 80,000 simulator signatures and
    centroids (tests/unit/test_signature_json.py checks a few hundred); a last-digit difference there would
    only change what another worker reads back."""
    rounded: list[float] = np.round(np.fromiter(values, np.float64), 4).tolist()
    return rounded


def vocabulary_size() -> int:
    """How many words signatures' `term_arrays` have numbered so far."""
    return len(_WORD_IDS)


def unit(weights: Mapping[str, float], max_terms: int) -> dict[str, float]:
    """Keep the heaviest max_terms weights and scale them to unit length."""
    top = sorted(weights.items(), key=lambda kv: (-kv[1], kv[0]))[:max_terms]
    norm = math.sqrt(sum(v * v for _, v in top)) or 1.0
    return {k: v / norm for k, v in top}


def cosine(a: Mapping[str, float], b: Mapping[str, float]) -> float:
    """Dot product of two unit-length sparse vectors."""
    if len(a) > len(b):
        a, b = b, a
    # Only shared words add anything: the same sum, in the same order, as over every word with 0 for the
    # missing ones (adding 0.0 changes no float), in fewer steps; it runs for every candidate of a message.
    total = 0.0
    get = b.get
    for k, v in a.items():
        w = get(k)
        if w is not None:
            total += v * w
    return total


def places_conflict(a: IssueSignature, b: IssueSignature) -> bool:
    """True when both name a city, or both a district, and they differ: then they cannot be one issue."""
    if a.city and b.city and a.city != b.city:
        return True
    return bool(a.district and b.district and a.district != b.district)


def _long_suffixes(names: Iterable[str]) -> frozenset[str]:
    n = SUFFIX_MATCH_CHARS
    return frozenset(name[i:] for name in names if len(name) >= n for i in range(len(name) - n + 1))


def share_place(a: IssueSignature, b: IssueSignature) -> bool:
    """Whether both name the same place: some pair of names for which `same_place` holds.

    `same_place(x, y)` is x == y, or both have at least SUFFIX_MATCH_CHARS characters and one ends with the
    other; the latter is "x is one of y's suffixes of that length or more", or the reverse.
    """
    if len(a.places) == 1 and len(b.places) == 1:  # the common case: no sets to build
        return same_place(a.places[0], b.places[0])
    names_a, suffixes_a = a.place_forms
    names_b, suffixes_b = b.place_forms
    return not (
        names_a.isdisjoint(names_b) and names_a.isdisjoint(suffixes_b) and names_b.isdisjoint(suffixes_a)
    )


def topic_similarity(a: IssueSignature, b: IssueSignature) -> float:
    """Cosine of the topic vectors (0 if either is missing)."""
    if a.topic.size == 0 or a.topic.size != b.topic.size:
        return 0.0
    return max(0.0, float(a.topic @ b.topic))


def combine(
    topic: float,
    terms: float,
    same_place: bool,
    weights: ScoreWeights = DEFAULT_WEIGHTS,
    same_problem: bool = False,
) -> float:
    """The match score from its parts. `same_problem` is true only for one problem kind in one district (see
    `relate`). It is not capped at 1: among candidates that all clear the threshold, the one with more
    evidence (closer words and topic besides the place and problem) is the better match."""
    if not (same_place or same_problem) and terms < weights.min_terms_without_place:
        return 0.0
    score = weights.topic * topic + weights.terms * terms + (weights.place_bonus if same_place else 0.0)
    if same_problem:
        score += weights.problem_bonus
    return score


# How two messages' sites relate (site_relation).
CONFLICT, NEUTRAL, SAME = -1, 0, 1
SLIP = 2  # one name, misheard: not the same place for the bonus, but one place for the problem
# Site kinds compared with each other: an estate and a village are both where people live.
_KIND_GROUP = {"village": "estate"}
# Characters that tell two sites of one name apart (劲松八区 / 九区, 呼家楼站A口 / D口, 东门 / 西门); a
# difference in any other single character is taken for a slip of the ear (安化桥, 西罗元三区).
_TELLING = frozenset("一二三四五六七八九十百零两0123456789东西南北中上下前后内外左右新老大小")


def _agree(a: str, b: str) -> bool:
    """One name is the other's beginning or end: 芳城园 and 芳城园一区, 安华桥 and 北三环安华桥."""
    return a.startswith(b) or b.startswith(a) or a.endswith(b) or b.endswith(a)


def _slip(a: str, b: str) -> bool:
    """Equal but for one character that does not tell sites apart (a homophone heard on the phone), the
    longer name compared over the shorter's length (呼家搂站 and 呼家楼站A口)."""
    n = min(len(a), len(b))
    if n < 3:
        return False
    diff = [(x, y) for x, y in zip(a[:n], b[:n], strict=True) if x != y]
    return len(diff) == 1 and not any(c in _TELLING or c.isascii() for c in diff[0])


# Sites along roads: a bridge is named after its road (学院桥 on 学院路), an intersection after its two.
_ROADISH = frozenset(("intersection", "bridge", "road"))
_ROAD_END = re.compile(r"(?:辅路|路|大街|街|大道|胡同|巷|桥)$")


def _stems(name: str, kind: str | None) -> tuple[str, ...]:
    """学院桥 → 学院; 学院路 → 学院; 广渠路与西大望路交叉口 → 广渠, 西大望."""
    parts: tuple[str, ...] = (name,)
    if kind == "intersection":
        first, _, rest = name.partition("与")
        parts = (first, rest.removesuffix("交叉口"))
    return tuple(_ROAD_END.sub("", p) for p in parts)


def _roads_agree(a: str, kind_a: str | None, b: str, kind_b: str | None) -> bool:
    return any(
        x == y or (min(len(x), len(y)) >= 2 and _agree(x, y))
        for x in _stems(a, kind_a)
        for y in _stems(b, kind_b)
    )


def _building_number(building: str) -> str:
    return building.partition("号楼")[0]


def site_relation(a: IssueSignature, b: IssueSignature) -> int:
    """SAME when both name one site (at the finest level both give), CONFLICT when they name two sites of a
    kind (two estates, 一区 and 二区, two bridges, two exits), two places along roads that do not share a
    road (学院桥 and 学院路 do), or two buildings or exits for a problem of one building (a lift); SLIP for
    one name misheard; else NEUTRAL."""
    rel = NEUTRAL
    sa, sb = a.site, b.site
    if sa and sb:
        ka, kb = a.site_kind, b.site_kind
        if sa == sb or _agree(sa, sb):
            rel = SAME
        elif ka in _ROADISH and kb in _ROADISH and (ka != kb or ka == "intersection"):
            if not _roads_agree(sa, ka, sb, kb):
                return CONFLICT
            rel = SAME
        elif _KIND_GROUP.get(ka or "", ka) == _KIND_GROUP.get(kb or "", kb):
            return SLIP if _slip(sa, sb) else CONFLICT
    if (
        a.building
        and b.building
        and _building_number(a.building) != _building_number(b.building)
        and building_scoped(a.problem_set, b.problem_set)
    ):
        return CONFLICT
    return rel


def finer_site(a: IssueSignature, b: IssueSignature) -> tuple[str | None, str | None]:
    """The site of an incident after a member joins: the member's when it continues the incident's (芳城园一区
    after 芳城园), else the incident's own (the member's if the incident had none). A name longer at its
    start is not finer: "供水望京花园" is words of a sentence run into 望京花园."""
    if a.site and b.site and len(b.site) > len(a.site) and b.site.startswith(a.site):
        return b.site, b.site_kind
    return (a.site, a.site_kind) if a.site else (b.site, b.site_kind)


def relate(a: IssueSignature, b: IssueSignature) -> tuple[bool, bool, bool]:
    """(apart, same place, same problem): the one rule every scoring path applies. Apart when cities,
    districts, named real districts, sites or problem kinds conflict."""
    if places_conflict(a, b):
        return True, False, False
    if a.problems and b.problems and a.problem_set.isdisjoint(b.problem_set):
        return True, False, False
    rel = site_relation(a, b) if (a.site or a.building) and (b.site or b.building) else NEUTRAL
    if rel == CONFLICT:
        return True, False, False
    # Two streets (街道), or two districts: apart, unless the sites say one place and the street or one of
    # the districts is only implied (by an estate or road name that several share, or that straddles).
    one_site = rel in (SAME, SLIP)
    if a.street and b.street and a.street != b.street and not one_site:
        return True, False, False
    if a.area and b.area and a.area != b.area and (a.area_implied == b.area_implied or not one_site):
        return True, False, False
    same = rel == SAME or (bool(a.places and b.places) and share_place(a, b))
    # A place shared with a message that names no problem (a question about opening hours, a call that only
    # says "it is broken") is weaker evidence: no bonus for it.
    if bool(a.problems) != bool(b.problems):
        same = False
    # One problem kind counts where the place is known to be one: the same site, or one district.
    same_problem = bool(a.problems and b.problems) and (
        same or rel == SLIP or bool(a.area and a.area == b.area)
    )
    return False, same, same_problem


def match_score(a: IssueSignature, b: IssueSignature, weights: ScoreWeights = DEFAULT_WEIGHTS) -> float:
    """Similarity in [0, 1] of two signatures; 0 when they are apart (see `relate`)."""
    apart, same, same_problem = relate(a, b)
    if apart:
        return 0.0
    return min(1.0, combine(topic_similarity(a, b), cosine(a.terms, b.terms), same, weights, same_problem))


# Words of talk rather than of the problem: a phone call's greetings and fillers, a post's opening.
FILLERS = frozenset((
    "您好", "你好", "喂喂", "一下", "反映", "有个", "个事", "号楼", "单元", "那边",
    "这边", "那块", "块儿", "这块", "一直", "赶紧", "好几", "现在", "已经", "还是",
    "我家", "我们", "你们", "他们", "老是", "怎么", "什么", "谁管", "管管", "麻烦",
    "帮忙", "请问", "那里", "这里", "知道",
))  # fmt: skip
# A ring road before a bridge's name is how it is found, not its name (北三环安华桥).
_RING = re.compile(r"^[东西南北]?[二三四五六七]环(?:路|辅路)?")
# Words of a call before a site's name that the site reader takes into it (我说一下立水桥地铁站).
_LEAD = re.compile(r"^(?:反映一下|说一下|一下|车走|路过|经过)")
# Names of a kind of place, not of one place.
_GENERIC_SITES = frozenset(("批发市场", "农贸市场", "菜市场", "停车场", "地铁站", "公交站", "小区", "学校"))


# A metro exit named without its station's 站 (还是呼家楼A口扶梯的事): as fine a level as a building.
_EXIT = re.compile(r"(?<![A-Za-z0-9])([A-Ha-h])\d?(?:出入口|出口|口)")


def _exit(title: str, content: str) -> str | None:
    m = _EXIT.search(f"{title}\n{content[:LOCATE_CHARS]}")
    return m.group(1).upper() + "口" if m else None


def _without(text: str, name: str | None) -> str:
    """The text without the site's name: 积水潭医院 is a hospital, not standing water."""
    return text.replace(name, "\n") if name else text


# A road right before a site's name: the road an estate or a school is named on (安立路天通小区).
_ROAD_BEFORE = re.compile(r"([\u4e00-\u9fff]{1,6}?(?:大街|大道|胡同|路|街|巷))$")
_ROAD_KINDS = frozenset(("road",))


def named_road(text: str, site: str, kind: str | None) -> str | None:
    """The road a message's site is, or is named on: the site itself when it is a road, else a road named
    right before the site in the text. Kept among the message's places, it lets a report that names only the
    road meet an incident whose members named the road and the estate; two estates on one road stay apart
    (`site_relation`)."""
    if kind in _ROAD_KINDS:
        return site
    at = text.find(site, 1)
    while at > 0:
        m = _ROAD_BEFORE.search(text, max(0, at - 8), at)
        road = clean_name(m.group(1)) if m else ""
        if len(road) >= 2:
            return road
        at = text.find(site, at + 1)
    return None


def _site_name(site: str | None) -> str | None:
    if not site:
        return None
    name = _LEAD.sub("", _RING.sub("", site))
    return name if len(name) >= 2 and name not in _GENERIC_SITES else None


class SignatureBuilder:
    """Computes signatures with word weights (idf) and a topic space learnt at training time."""

    def __init__(
        self,
        tokenizer: Tokenizer,
        idf: Mapping[str, float],
        unseen_idf: float,
        topics: TopicModel,
        params: SignatureParams | None = None,
    ) -> None:
        self.tokenizer = tokenizer
        self.idf = idf
        self.unseen_idf = unseen_idf
        self.topics = topics
        self.params = params or SignatureParams()

    def words(self, text: str) -> list[str]:
        """Topic words of text: single characters, numbers and the phrases of talk (a phone call's 您好,
        一下) say little about the issue."""
        return [
            w
            for w in self.tokenizer.search_tokens(text)
            if len(w) >= 2 and not w.isascii() and w not in FILLERS
        ]

    def build(self, title: str, content: str, district: str | None = None) -> IssueSignature:
        """The signature of one message."""
        p = self.params
        place = extract_place(title, content, district)
        real = locate_opening(title, content[:LOCATE_CHARS])
        given = field_district(district) if district else None
        if given is not None and given.district_source == FIELD:
            area, area_implied = given.district, False
        else:
            area = real.district if real.district_source not in (None, CODE) else None
            area_implied = real.district_source not in (FIELD, TEXT)
        site = _site_name(real.site)
        road = named_road(f"{title}\n{content[:LOCATE_CHARS]}", site, real.site_kind) if site else None
        places = (*place.names, road) if road and road not in place.names else place.names
        # Every name in one string, one substring test per word (words hold no newline).
        names = "\n".join((*places, site) if site else places)
        tf: dict[str, float] = {}
        for text, weight in ((title, p.title_weight), (content[: p.content_chars], 1.0)):
            for w in self.words(text):
                tf[w] = tf.get(w, 0.0) + weight
        sublinear = {w: 1.0 + math.log(n) for w, n in tf.items()}
        topic = self.topics.vector(sublinear)
        # Words of a place name belong to the place, not to the problem.
        weights = {w: s * self.idf.get(w, self.unseen_idf) for w, s in sublinear.items() if w not in names}
        return IssueSignature(
            terms=unit(weights, p.max_terms),
            topic=topic,
            city=place.city,
            district=place.district,
            places=places,
            site=site,
            site_kind=real.site_kind if site else None,
            building=real.building or _exit(title, content),
            area=area,
            area_implied=area_implied,
            street=real.street if USE_STREET else None,
            problems=problem_kinds(_without(f"{title}\n{content[:LOCATE_CHARS]}", real.site)),
        )
