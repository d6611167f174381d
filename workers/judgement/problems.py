"""What is wrong, as a small set of problem kinds read from the words of a message (暖气不热 → heating,
电梯困人 → lift), so that two problems at one site stay two incidents.

A lexicon rather than the category classifier: its seven classes put a heating outage and a broken lift
in one class (城乡建设). The kinds are broad on purpose: a nuisance that one citizen calls smoke and another
noise (the gold sample's night-stall group) is one kind, so that only problems that plainly differ keep
two messages apart. A message whose words name no kind is compatible with every kind.
"""

from __future__ import annotations

from functools import cache

import ahocorasick_rs

# kind -> the words that name it. A word may stand for two kinds (渗水: a leak, and the water it brings).
LEXICON: dict[str, tuple[str, ...]] = {
    "heating": ("暖气", "供暖", "供热", "采暖", "室温", "热力", "取暖"),
    "lift": ("电梯", "扶梯", "困人", "关人", "轿厢"),
    # A burst main and the water cut it causes are one incident: one kind.
    "water": (
        "爆管",
        "水管爆",
        "管爆",
        "爆裂",
        "跑水",
        "冒水",
        "漏水",
        "渗水",
        "渗漏",
        "管道破裂",
        "管子裂",
        "水管裂",
        "自来水管",
        "水漫",
        "进水",
        "水流了一地",
        "停水",
        "没水",
        "来水",
        "供水",
        "断水",
        "水压",
        "水管破裂",
    ),
    # Yellow or smelly tap water is the supply's quality, another problem than a burst main or a water cut.
    "water_quality": ("发黄", "浑浊", "水质", "黄水", "铁锈", "锈水", "水垢", "水有异味", "水有味", "水发臭"),
    "power": ("停电", "没电", "断电", "供电", "跳闸"),
    "gas": ("燃气", "煤气", "天然气", "液化气"),
    "signal": ("红绿灯", "信号灯", "信号机", "红灯"),
    # A light that works but changes too fast is another problem than a light that is out.
    "signal_timing": ("绿灯", "配时", "绿灯时间", "时间太短", "时间过短", "太短"),
    "streetlight": ("路灯",),
    "manhole": ("井盖",),
    "road_surface": ("坑洼", "大坑", "塌陷", "路面破损", "坑坑洼洼", "塌了", "坑太多", "有个坑", "路面坑"),
    "ice": ("结冰", "冰面", "滑冰", "溜冰", "冰层", "冰上", "冻实", "一片冰", "大片冰", "打滑"),
    "construction": ("施工", "打桩", "工地", "干活", "渣土车声"),
    "nuisance": (
        "噪音",
        "扰民",
        "吵得",
        "吵死",
        "音响",
        "广场舞",
        "跳舞",
        "油烟",
        "烧烤",
        "夜宵",
        "炒菜",
        "电钻",
        "装修",
        "放炮",
        "鞭炮",
    ),
    "refuse": ("垃圾", "清运", "满溢"),
    "bikes": ("共享单车", "单车", "自行车"),
    "parking": ("违停", "乱停", "停车", "停放", "占道停车", "车位", "排队进", "地锁", "车位锁"),
    "black_cab": ("黑车", "黑摩的", "拉活", "揽客", "拉客"),
    "tout": ("号贩子", "倒号", "卖号", "黄牛", "专家号", "挂号", "号源"),
    "vendor": ("摆摊", "摊贩", "占道经营", "摊位", "小摊", "早点摊", "流动摊"),
    "sewage": ("下水道", "污水", "反味", "臭味", "下水井", "化粪池", "返水", "管道堵"),
    "tree": ("大树", "树木", "倒伏", "树倒", "树枝", "棵树"),
    "dog": ("遛狗", "狗绳", "犬只", "大狗", "拴绳", "养狗"),
    "toilet": ("厕所", "公厕", "卫生间"),
    "dust": ("渣土", "遗撒", "扬尘", "拉土", "尘土"),
    "fees": ("物业费", "停车费", "收费", "涨价", "乱收费"),
    "group_rent": ("群租", "隔断房", "地下室住"),
    "blind_path": ("盲道",),
    "bus": ("公交站牌", "站牌", "公交车", "等车", "公交站", "路车", "班次", "末班"),
    "signboard": ("广告牌", "招牌", "牌匾", "灯箱"),
    "flooding": ("积水", "内涝", "淹了"),
    "equipment": ("健身器材", "器材", "座椅", "护栏", "围栏"),
    "charging": ("飞线充电", "充电"),
    "clutter": ("堆物", "杂物", "纸箱", "堆满了"),
}
# Compound words that contain a kind's word without meaning it: 停车费 is a fee, not parking.
_OVERRIDES = {
    "停车费": ("fees",),
    "停车场": (),
    "公交都": (),
    # Tap water itself: "自来水发黄" is its quality, not a water cut (来水).
    "自来水": (),
    "扶梯的事": ("lift",),
    # A radiator leaking into the flat below is the building's leak, not the estate's heating.
    "暖气漏水": ("indoor_leak",),
    "暖气片漏水": ("indoor_leak",),
    "楼上漏水": ("indoor_leak",),
}


@cache
def _automaton() -> tuple[ahocorasick_rs.AhoCorasick, list[tuple[str, ...]]]:
    kinds: dict[str, list[str]] = {}
    for kind, words in LEXICON.items():
        for w in words:
            kinds.setdefault(w, []).append(kind)
    table = {w: tuple(k) for w, k in kinds.items()} | _OVERRIDES
    patterns = list(table)
    return (
        ahocorasick_rs.AhoCorasick(patterns, matchkind=ahocorasick_rs.MatchKind.LeftmostLongest),
        [table[p] for p in patterns],
    )


def problem_kinds(text: str) -> tuple[str, ...]:
    """The problem kinds the text names, in order of first mention, each once."""
    automaton, kinds = _automaton()
    found: dict[str, None] = {}
    for i, _, _ in automaton.find_matches_as_indexes(text):
        for k in kinds[i]:
            found[k] = None
    return tuple(found)


# Problems of one building rather than of the estate: a lift, a stairwell's gas smell or clutter. Reports of
# these from two buildings are two incidents; a heating outage or a water cut reported from several buildings
# of one estate is one.
BUILDING_SCOPED = frozenset(("lift", "gas", "clutter", "charging", "group_rent", "indoor_leak"))


def building_scoped(a: frozenset[str], b: frozenset[str]) -> bool:
    """Whether two messages' problems are of one building (or either names none)."""
    return not (a and b) or not BUILDING_SCOPED.isdisjoint(a & b)


def problems_conflict(a: frozenset[str], b: frozenset[str]) -> bool:
    """Two messages name problems and none is shared: two incidents even at one site."""
    return bool(a and b) and a.isdisjoint(b)
