"""The hourly brief as CSV, for the spreadsheet the duty office forwards: one table, a row per figure.

Columns: section, key, name, tickets, baseline, score, detail. Sections: total, category, district, incident,
hotspot, urgent, alert, summary. UTF-8 with a byte-order mark, so that a spreadsheet opens the Chinese right;
text a spreadsheet would take for a formula is written as text.
"""

from __future__ import annotations

import csv
import io

from ingest.schemas.reports import HourlyBrief

COLUMNS = ("section", "key", "name", "tickets", "baseline", "score", "detail")
Row = tuple[str, str, str, int | str, float | str, float | str, str]
# What makes a spreadsheet read a cell as a formula. The titles are citizens' words: a complaint titled
# `=HYPERLINK("http://…", "详情")` must not become a live link, or a computation over the sheet, in the duty
# office's spreadsheet (CSV injection). A leading apostrophe makes the cell text, shown as written.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: int | float | str) -> int | float | str:
    return "'" + value if isinstance(value, str) and value.startswith(_FORMULA_START) else value


def _rows(brief: HourlyBrief) -> list[Row]:
    total = brief.total
    change = "" if total.change is None else f"{total.change:+.1%}"
    rows: list[Row] = [
        ("total", brief.hour, "全部", total.tickets, total.week_before, "", f"上周同时段 {change}".strip()),
        ("total", brief.hour, "紧急", total.urgent, "", "", ""),
        ("total", brief.hour, "新增事件", brief.new_incidents, "", "", ""),
    ]
    rows += [("category", c.name or "", c.name or "未分类", c.tickets, "", "", "") for c in brief.by_category]
    rows += [("district", d.name or "", d.name or "未知区", d.tickets, "", "", "") for d in brief.by_district]
    rows += [
        (
            "incident",
            i.incident_id,
            i.title or "",
            i.growth,
            "",
            "",
            " | ".join(
                [
                    f"累计{i.size}" if i.size is not None else "",
                    i.place or i.district or "",
                    i.category or "",
                    *i.sample_titles,
                ]
            ),
        )
        for i in brief.rising_incidents
    ]
    rows += [
        (
            "hotspot",
            f"{h.district or ''}·{h.category or ''}",
            f"{h.district or '未知区'}·{h.category or '未分类'}",
            h.tickets,
            h.baseline,
            h.score,
            f"expected {h.expected}",
        )
        for h in brief.hotspots
    ]
    rows += [
        (
            "urgent",
            t.ticket_id,
            t.title,
            1,
            "",
            "",
            " | ".join(
                [t.urgency, t.urgency_situation or "", t.status, t.district or "", t.department or ""]
            ),
        )
        for t in brief.urgent_tickets
    ]
    rows += [
        (
            "alert",
            a.alert_id,
            a.kind,
            a.observed,
            "" if a.baseline is None else a.baseline,
            "" if a.score is None else a.score,
            a.message,
        )
        for a in brief.alerts
    ]
    rows.append(("summary", brief.hour, "", "", "", "", brief.summary))
    return rows


def brief_csv(brief: HourlyBrief) -> str:
    """The brief as CSV text (with the byte-order mark)."""
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    writer.writerows([_cell(value) for value in row] for row in _rows(brief))
    return out.getvalue()
