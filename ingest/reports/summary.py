"""The brief's summary in Chinese, generated from its figures (never from free text of its own).

Three to five sentences a duty leader reads in ten seconds: the volume against last week, the urgent tickets
and how many are still open, the fastest-growing incident, the strongest hotspot, the alerts.
"""

from __future__ import annotations

from ingest.schemas.reports import HourlyBrief

# Tickets no longer waiting for anyone: the urgent ones not in these states are still open.
_SETTLED = frozenset({"resolved", "closed", "rejected"})


def _place(district: str | None, category: str | None) -> str:
    return f"{district or '未知区'}·{category or '未分类'}"


def _volume(brief: HourlyBrief) -> str:
    total = brief.total
    when = f"{brief.hour.replace('T', ' ')}时" + ("" if brief.complete else "（截至目前）")
    head = f"{when}共受理诉求{total.tickets:,}件"
    if total.change is None:
        return f"{head}，上周同时段无数据。" if total.week_before == 0 else f"{head}。"
    direction = "增加" if total.change >= 0 else "减少"
    return f"{head}，较上周同时段（{total.week_before:,}件）{direction}{abs(total.change):.1%}。"


def _urgent(brief: HourlyBrief) -> str:
    if brief.total.urgent == 0:
        return "无紧急诉求。"
    open_ = sum(1 for t in brief.urgent_tickets if t.status not in _SETTLED)
    return f"紧急诉求{brief.total.urgent}件，其中{open_}件尚未办结。"


def _incident(brief: HourlyBrief) -> str:
    lead = f"新增事件{brief.new_incidents}个"
    if not brief.rising_incidents:
        return f"{lead}。"
    top = brief.rising_incidents[0]
    where = top.place or top.district or "地点不详"
    title = top.title or (top.sample_titles[0] if top.sample_titles else top.incident_id)
    size = f"，累计{top.size:,}件" if top.size is not None else ""
    return (
        f"{lead}；上升最快的是“{title}”（{where}，{top.category or '未分类'}），"
        f"本小时新增{top.growth:,}件{size}。"
    )


def _hotspot(brief: HourlyBrief) -> str:
    if not brief.hotspots:
        return ""
    top = brief.hotspots[0]
    more = f"等{len(brief.hotspots)}处" if len(brief.hotspots) > 1 else ""
    return (
        f"热点：{_place(top.district, top.category)}{more}，{top.tickets:,}件，"
        f"为常态（{top.baseline:g}件）的{top.tickets / max(top.expected, 1.0):.1f}倍。"
    )


def summarise(brief: HourlyBrief) -> str:
    """The summary of `brief`'s figures."""
    parts = [_volume(brief), _urgent(brief), _incident(brief), _hotspot(brief)]
    if brief.alerts:
        parts.append(f"本小时告警{len(brief.alerts)}条。")
    return "".join(parts)
