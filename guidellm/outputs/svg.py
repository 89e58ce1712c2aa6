"""Small inline SVG line charts for the HTML report (no JavaScript library, no network).

A chart is a string of SVG; every point carries a ``<title>`` so that hovering shows its
value without any script. Series carry a ``data-series`` attribute that the report's few
lines of JavaScript use to toggle them from the legend.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

__all__ = ["PALETTE", "Series", "line_chart", "nice_ticks"]

PALETTE = (
    "#2563eb",
    "#dc2626",
    "#16a34a",
    "#9333ea",
    "#ea580c",
    "#0891b2",
    "#ca8a04",
    "#db2777",
    "#4b5563",
    "#65a30d",
)

_W, _H = 560, 300
_LEFT, _RIGHT, _TOP, _BOTTOM = 64, 16, 16, 44


@dataclass(frozen=True)
class Series:
    name: str
    xs: Sequence[float]
    ys: Sequence[float | None]
    dashed: bool = False


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """Round tick values covering ``[lo, hi]`` (1, 2, 5 times a power of ten apart)."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return [0.0, 1.0]
    if hi <= lo:
        hi = lo + (abs(lo) or 1.0)
    raw = (hi - lo) / max(count, 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    start = math.floor(lo / step) * step
    ticks = [round(start, 10)]
    # Continue until a tick reaches hi, so that no point is drawn above the top tick.
    while ticks[-1] < hi - step * 1e-9:
        ticks.append(round(start + len(ticks) * step, 10))
    return ticks


def _label(value: float) -> str:
    if value == 0:
        return "0"
    if abs(value) >= 10000:
        return f"{value / 1000:.0f}k"
    if abs(value) >= 100:
        return f"{value:.0f}"
    return f"{value:.3g}"


def line_chart(
    title: str,
    series: Sequence[Series],
    *,
    x_label: str,
    y_label: str,
    categories: Sequence[str] | None = None,
    markers: Sequence[tuple[float, str]] = (),
    dots: bool = True,
) -> str:
    """An SVG line chart; with ``categories`` the x values are indexes into those labels.

    ``markers`` are labelled vertical lines at x values (stage boundaries); ``dots=False``
    draws lines only (a time series of hundreds of points stays small)."""
    points = [
        (x, y)
        for s in series
        for x, y in zip(s.xs, s.ys, strict=False)
        if y is not None and math.isfinite(y) and math.isfinite(x)
    ]
    parts = [
        f'<figure class="chart"><figcaption>{escape(title)}</figcaption>'
        f'<svg viewBox="0 0 {_W} {_H}" width="{_W}" height="{_H}" role="img" '
        f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">'
    ]
    if not points:
        parts.append(
            f'<text x="{_W / 2}" y="{_H / 2}" text-anchor="middle" class="muted">no data</text>'
        )
        parts.append("</svg></figure>")
        return "".join(parts)
    xs = [p[0] for p in points]
    ys = [p[1] for p in points]
    x_ticks: list[float]
    if categories is not None:
        x_ticks = [float(i) for i in range(len(categories))]
        x_lo, x_hi = -0.5, len(categories) - 0.5
    else:
        marked = [x for x, _ in markers if math.isfinite(x)]
        x_ticks = nice_ticks(min(xs + marked), max(xs + marked))
        x_lo, x_hi = x_ticks[0], x_ticks[-1]
        if x_hi == x_lo:
            x_hi = x_lo + 1
    y_ticks = nice_ticks(min(0.0, *ys), max(ys))
    y_lo, y_hi = y_ticks[0], y_ticks[-1]
    plot_w = _W - _LEFT - _RIGHT
    plot_h = _H - _TOP - _BOTTOM

    def px(x: float) -> float:
        return _LEFT + (x - x_lo) / (x_hi - x_lo) * plot_w

    def py(y: float) -> float:
        return _TOP + plot_h - (y - y_lo) / ((y_hi - y_lo) or 1.0) * plot_h

    # Grid and axes.
    for t in y_ticks:
        y = py(t)
        parts.append(
            f'<line class="grid" x1="{_LEFT}" x2="{_W - _RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>'
        )
        parts.append(
            f'<text class="tick" x="{_LEFT - 6}" y="{y + 4:.1f}" '
            f'text-anchor="end">{_label(t)}</text>'
        )
    for i, t in enumerate(x_ticks):
        x = px(t)
        text = categories[i] if categories is not None else _label(t)
        parts.append(
            f'<text class="tick" x="{x:.1f}" y="{_TOP + plot_h + 16}" '
            f'text-anchor="middle">{escape(text)}</text>'
        )
    parts.append(
        f'<line class="axis" x1="{_LEFT}" x2="{_W - _RIGHT}" y1="{_TOP + plot_h}" '
        f'y2="{_TOP + plot_h}"/><line class="axis" x1="{_LEFT}" x2="{_LEFT}" y1="{_TOP}" '
        f'y2="{_TOP + plot_h}"/>'
    )
    parts.append(
        f'<text class="label" x="{_LEFT + plot_w / 2}" y="{_H - 6}" '
        f'text-anchor="middle">{escape(x_label)}</text>'
        f'<text class="label" transform="translate(14 {_TOP + plot_h / 2}) rotate(-90)" '
        f'text-anchor="middle">{escape(y_label)}</text>'
    )
    # Markers: a dashed vertical line and its label at the top.
    for x, text in markers:
        if not math.isfinite(x):
            continue
        mx = px(x)
        parts.append(
            f'<g class="stage-marker"><line x1="{mx:.1f}" x2="{mx:.1f}" y1="{_TOP}" '
            f'y2="{_TOP + plot_h}" stroke="#64748b" stroke-dasharray="3 3"/>'
            f'<text class="tick" x="{mx + 3:.1f}" y="{_TOP + 10}">{escape(text)}</text></g>'
        )
    # Series.
    for i, s in enumerate(series):
        color = PALETTE[i % len(PALETTE)]
        pts = [
            (x, y)
            for x, y in zip(s.xs, s.ys, strict=False)
            if y is not None and math.isfinite(y) and math.isfinite(x)
        ]
        if not pts:
            continue
        dash = ' stroke-dasharray="5 4"' if s.dashed else ""
        path = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in pts)
        parts.append(f'<g class="series" data-series="{escape(s.name)}">')
        parts.append(
            f'<polyline fill="none" stroke="{color}" stroke-width="2"{dash} points="{path}"/>'
        )
        for x, y in pts if dots else ():
            shown = categories[int(x)] if categories is not None else _label(x)
            parts.append(
                f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="3.5" fill="{color}">'
                f"<title>{escape(s.name)}: {escape(shown)} → {y:.4g}</title></circle>"
            )
        parts.append("</g>")
    parts.append("</svg>")
    # Legend (HTML, clickable).
    parts.append('<div class="legend">')
    for i, s in enumerate(series):
        color = PALETTE[i % len(PALETTE)]
        parts.append(
            f'<button type="button" class="key" data-series="{escape(s.name)}">'
            f'<span style="background:{color}"></span>{escape(s.name)}</button>'
        )
    parts.append("</div></figure>")
    return "".join(parts)
