"""Small inline-SVG charts (line charts with linear or log axes), so the HTML report needs nothing online."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f")
_PAD_L, _PAD_R, _PAD_T, _PAD_B = 64, 16, 44, 40


@dataclass(frozen=True)
class Series:
    """One line: a name, values (None = gap) and a colour.

    Lines that may coincide (offered, sent, accepted) stay told apart by drawing the first ones wider and
    paler under the later ones, with their own dash pattern (`dash`, an SVG dasharray) or point markers."""

    name: str
    values: Sequence[float | None]
    color: str
    dashed: bool = False
    width: float = 1.6
    dash: str | None = None
    marker: bool = False
    opacity: float = 1.0

    @property
    def dasharray(self) -> str | None:
        """The SVG stroke-dasharray of the line, if it is not solid."""
        return self.dash or ("5,3" if self.dashed else None)


@dataclass(frozen=True)
class Mark:
    """A vertical line at `x` with a label (the last request, the end of the drain)."""

    x: float
    label: str


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """Round tick values covering [lo, hi]."""
    if hi <= lo:
        hi = lo + 1.0
    raw = (hi - lo) / count
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    first = math.floor(lo / step) * step
    ticks, v = [], first
    while True:  # up to the first tick at or above `hi`, so the axis covers every value
        ticks.append(round(v, 10))
        if v >= hi - step * 1e-9:
            return ticks
        v += step


def _fmt(v: float) -> str:
    if v == 0:
        return "0"
    if abs(v) >= 1000:
        return f"{v / 1000:g}k" if abs(v) < 1e6 else f"{v / 1e6:g}M"
    return f"{v:g}"


class _Scale:
    def __init__(self, lo: float, hi: float, a: float, b: float, log: bool = False) -> None:
        self.log = log
        self.lo, self.hi = (math.log10(lo), math.log10(hi)) if log else (lo, hi)
        if self.hi <= self.lo:
            self.hi = self.lo + 1.0
        self.a, self.b = a, b

    def __call__(self, v: float) -> float:
        x = math.log10(max(v, 1e-12)) if self.log else v
        return self.a + (x - self.lo) / (self.hi - self.lo) * (self.b - self.a)


def line_chart(
    title: str,
    x: Sequence[float],
    series: Sequence[Series],
    *,
    y_label: str = "",
    x_label: str = "seconds since start",
    log_y: bool = False,
    shade: tuple[float, float] | None = None,
    shade_label: str = "",
    width: int = 920,
    height: int = 260,
    x_ticks: Sequence[tuple[float, str]] | None = None,
    log_x: bool = False,
    marks: Sequence[Mark] = (),
) -> str:
    """An SVG line chart; values of None break the line."""
    values = [v for s in series for v in s.values if v is not None and (v > 0 or not log_y)]
    # The axis spans the marks too: a drain that ends after the last sample still shows where it ended.
    xs = [v for v in (*x, *(m.x for m in marks)) if v > 0 or not log_x]
    if not values or not xs:
        return f'<svg width="{width}" height="60"><text x="10" y="35">{escape(title)}: no data</text></svg>'
    y_lo = min(values) if log_y else min(0.0, *values)
    y_hi = max(values)
    if log_y:
        y_lo = 10 ** math.floor(math.log10(max(y_lo, 1e-3)))
        y_hi = 10 ** math.ceil(math.log10(max(y_hi, y_lo * 10)))
    else:
        y_hi = nice_ticks(y_lo, y_hi * 1.05 if y_hi > 0 else 1.0)[-1]
    sx = _Scale(min(xs), max(xs), _PAD_L, width - _PAD_R, log_x)
    legend, rows = _legend(series, width)
    top = _PAD_T + _LEGEND_ROW * (rows - 1)  # the plot moves down for each extra row of the legend
    height += top - _PAD_T
    sy = _Scale(y_lo, y_hi, height - _PAD_B, top, log_y)
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" class="chart" role="img" aria-label="{escape(title)}">',
        f'<text x="{_PAD_L}" y="18" class="title">{escape(title)}</text>',
    ]
    if shade:
        x0, x1 = sx(shade[0]), sx(shade[1])
        out.append(
            f'<rect x="{x0:.1f}" y="{top}" width="{max(x1 - x0, 1.5):.1f}" '
            f'height="{height - top - _PAD_B}" fill="#ffe8a8" opacity="0.6"/>'
            f'<text x="{x0 + 3:.1f}" y="{top + 12}" class="shade">{escape(shade_label)}</text>'
        )
    y_ticks = (
        [10**e for e in range(round(math.log10(y_lo)), round(math.log10(y_hi)) + 1)]
        if log_y
        else nice_ticks(y_lo, y_hi)
    )
    for t in y_ticks:
        y = sy(t)
        out.append(
            f'<line x1="{_PAD_L}" x2="{width - _PAD_R}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>'
            f'<text x="{_PAD_L - 6}" y="{y + 4:.1f}" class="tick" text-anchor="end">{_fmt(t)}</text>'
        )
    ticks = x_ticks if x_ticks is not None else [(t, _fmt(t)) for t in nice_ticks(min(xs), max(xs), 8)]
    for t, label in ticks:
        if not min(xs) <= t <= max(xs):
            continue
        xp = sx(t)
        out.append(
            f'<line x1="{xp:.1f}" x2="{xp:.1f}" y1="{top}" y2="{height - _PAD_B}" class="grid"/>'
            f'<text x="{xp:.1f}" y="{height - _PAD_B + 15}" class="tick" text-anchor="middle">{label}</text>'
        )
    out.append(
        f'<text x="{(width + _PAD_L) / 2:.0f}" y="{height - 6}" class="axis" text-anchor="middle">'
        f"{escape(x_label)}</text>"
        f'<text x="14" y="{(height - _PAD_B + top) / 2:.0f}" class="axis" text-anchor="middle" '
        f'transform="rotate(-90 14 {(height - _PAD_B + top) / 2:.0f})">{escape(y_label)}</text>'
    )
    for i, mark in enumerate(marks):
        if min(xs) <= mark.x <= max(xs):
            # Each label a line lower than the one before: marks close together stay legible.
            xp, yp = sx(mark.x), top + 12 * (i + 2)
            out.append(
                f'<line x1="{xp:.1f}" x2="{xp:.1f}" y1="{top}" y2="{height - _PAD_B}" stroke="#555" '
                f'stroke-dasharray="2,3"/><text x="{xp - 3:.1f}" y="{yp}" class="shade" '
                f'text-anchor="end">{escape(mark.label)}</text>'
            )
    for s in series:
        for run in _runs(x, s.values, log_y, log_x):
            out.append(_line(s, [(sx(a), sy(b)) for a, b in run]))
    out.append(legend)
    out.append("</svg>")
    return "".join(out)


def _runs(
    x: Sequence[float], values: Sequence[float | None], log_y: bool, log_x: bool
) -> list[list[tuple[float, float]]]:
    """Consecutive points with values, split at gaps (and at non-positive values on log axes)."""
    runs: list[list[tuple[float, float]]] = [[]]
    for a, b in zip(x, values, strict=False):
        if b is None or (log_y and b <= 0) or (log_x and a <= 0):
            if runs[-1]:
                runs.append([])
            continue
        runs[-1].append((a, b))
    return [r for r in runs if r]


# At most this many markers a line: enough to see it, few enough not to hide the others.
_MARKERS_PER_LINE = 40


def _line(s: Series, points: Sequence[tuple[float, float]]) -> str:
    """One run of a series as a polyline, with its dash pattern and markers."""
    dash = f' stroke-dasharray="{s.dasharray}"' if s.dasharray else ""
    alpha = f' stroke-opacity="{s.opacity:g}"' if s.opacity < 1 else ""
    coords = " ".join(f"{a:.1f},{b:.1f}" for a, b in points)
    out = [
        f'<polyline fill="none" stroke="{s.color}" stroke-width="{s.width}"{dash}{alpha} points="{coords}">'
        f"<title>{escape(s.name)}</title></polyline>"
    ]
    if s.marker:
        step = max(1, math.ceil(len(points) / _MARKERS_PER_LINE))
        out.extend(_marker(a, b, s.color) for a, b in points[::step])
    return "".join(out)


def _marker(x: float, y: float, color: str) -> str:
    return f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.6" fill="#fff" stroke="{color}" stroke-width="1.3"/>'


_LEGEND_ROW = 14


def _legend(series: Sequence[Series], width: int) -> tuple[str, int]:
    """Legend entries under the title, left to right, each drawn as its line is, in as many rows as they
    need; and how many rows that is."""
    parts, x, y = [], _PAD_L, 29
    for s in series:
        step = round(6.2 * len(s.name)) + 36
        if x > _PAD_L and x + step > width - _PAD_R:
            x, y = _PAD_L, y + _LEGEND_ROW
        dash = f' stroke-dasharray="{s.dasharray}"' if s.dasharray else ""
        alpha = f' stroke-opacity="{s.opacity:g}"' if s.opacity < 1 else ""
        width_px = max(2.5, s.width)
        parts.append(
            f'<line x1="{x}" x2="{x + 22}" y1="{y}" y2="{y}" stroke="{s.color}" stroke-width="{width_px}"'
            f"{dash}{alpha}/>"
            + (_marker(x + 11, y, s.color) if s.marker else "")
            + f'<text x="{x + 26}" y="{y + 4}" class="legend">{escape(s.name)}</text>'
        )
        x += step
    return "".join(parts), (y - 29) // _LEGEND_ROW + 1
