"""Small inline SVG line charts for the HTML report (no JavaScript library, no network).

A chart is a string of SVG; every point carries a ``<title>`` so that hovering shows what
it is (its benchmark), its value and units without any script. Series carry a
``data-series`` attribute that the report's few lines of JavaScript use to toggle them from
the legend. A series may have error bars (its 95 % intervals), short tags drawn next to its
points, and its own axis on the right (a rate and a concurrency never share an axis);
:class:`Mark` draws a labelled vertical line with a shaded bracket (the run's capacity). A
series of samples (a server's scrapes) may break its line where a value is missing.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape

__all__ = ["PALETTE", "Mark", "Series", "line_chart", "nice_ticks"]

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
#: The right margin when a second y axis needs room for its ticks and label.
_RIGHT_AXIS = 60


@dataclass(frozen=True)
class Series:
    name: str
    xs: Sequence[float]
    ys: Sequence[float | None]
    dashed: bool = False
    #: Per point: what it is (a benchmark's label), named in its tooltip.
    labels: Sequence[str] | None = None
    #: Per point: a short tag drawn next to it (a benchmark's index).
    tags: Sequence[str] | None = None
    #: Per point: its 95 % interval ``(lo, hi)``, drawn as an error bar (``None``: none).
    errors: Sequence[tuple[float, float] | None] | None = None
    #: The y unit named in tooltips.
    unit: str = ""
    #: Plot against the right-hand axis (``line_chart``'s ``y2_label``).
    right: bool = False
    #: A missing value (``None``) breaks the line instead of being stepped over: samples
    #: (scrapes) that failed are not joined across.
    gaps: bool = False


@dataclass(frozen=True)
class Mark:
    """A labelled vertical line at ``x``, with ``bracket`` ``(lo, hi)`` shaded behind it;
    ``css`` is its group's class (tests and readers find it by that), ``title`` its tooltip."""

    x: float
    label: str
    bracket: tuple[float, float] | None = None
    css: str = "capacity-marker"
    title: str = ""
    kind: str = ""


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


def _finite(s: Series) -> list[tuple[int, float, float]]:
    """``(index, x, y)`` of the points of ``s`` that can be drawn."""
    return [
        (i, x, y)
        for i, (x, y) in enumerate(zip(s.xs, s.ys, strict=False))
        if y is not None and math.isfinite(y) and math.isfinite(x)
    ]


def _segments(s: Series, pts: list[tuple[int, float, float]]) -> list[list[tuple[float, float]]]:
    """The runs of points drawn as one line: all of them, or (``gaps``) those between missing
    values."""
    runs: list[list[tuple[float, float]]] = []
    last = -2
    for i, x, y in pts:
        if not runs or (s.gaps and i != last + 1):
            runs.append([])
        runs[-1].append((x, y))
        last = i
    return runs


def _error(s: Series, i: int) -> tuple[float, float] | None:
    if s.errors is None or i >= len(s.errors) or s.errors[i] is None:
        return None
    lo, hi = s.errors[i]  # type: ignore[misc]
    return (lo, hi) if math.isfinite(lo) and math.isfinite(hi) else None


def _y_range(series: Sequence[Series]) -> list[float]:
    """Every y value of ``series`` with its error bar's ends (the axis must hold them)."""
    out = []
    for s in series:
        for i, _, y in _finite(s):
            out.append(y)
            err = _error(s, i)
            if err is not None:
                out.extend(err)
    return out


def _with_unit(value: str, unit: str) -> str:
    return f"{value} {unit}" if unit else value


def _tooltip(s: Series, i: int, shown_x: str, y: float, x_unit: str) -> str:
    """``p99 · #2 constant 8/s: 8 req/s → 123.4 ms (95 % CI 120 to 130 ms)``."""
    what = s.name
    if s.labels is not None and i < len(s.labels) and s.labels[i]:
        what += f" · {s.labels[i]}"
    text = f"{what}: {_with_unit(shown_x, x_unit)} → {_with_unit(f'{y:.4g}', s.unit)}"
    err = _error(s, i)
    if err is not None:
        text += f" (95 % CI {_with_unit(f'{err[0]:.4g} to {err[1]:.4g}', s.unit)})"
    return text


def line_chart(
    title: str,
    series: Sequence[Series],
    *,
    x_label: str,
    y_label: str,
    categories: Sequence[str] | None = None,
    markers: Sequence[tuple[float, str]] = (),
    dots: bool = True,
    marks: Sequence[Mark] = (),
    x_unit: str = "",
    y2_label: str = "",
    x_range: tuple[float, float] | None = None,
) -> str:
    """An SVG line chart; with ``categories`` the x values are indexes into those labels.

    ``markers`` are labelled vertical lines at x values (stage boundaries); ``marks`` are
    :class:`Mark` lines with shaded brackets (the capacity); ``dots=False`` draws lines only
    (a time series of hundreds of points stays small). Series with ``right=True`` are drawn
    against a second axis on the right, labelled ``y2_label``; ``x_unit`` names the x unit
    in tooltips; the x axis also covers ``x_range`` (charts of one benchmark share an axis)."""
    left = [s for s in series if not s.right]
    right = [s for s in series if s.right]
    points = [(x, y) for s in series for _, x, y in _finite(s)]
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
    x_ticks: list[float]
    if categories is not None:
        x_ticks = [float(i) for i in range(len(categories))]
        x_lo, x_hi = -0.5, len(categories) - 0.5
    else:
        marked = [x for x, _ in markers] + [v for m in marks for v in (m.x, *(m.bracket or ()))]
        marked += list(x_range or ())
        marked = [x for x in marked if math.isfinite(x)]
        x_ticks = nice_ticks(min(xs + marked), max(xs + marked))
        x_lo, x_hi = x_ticks[0], x_ticks[-1]
        if x_hi == x_lo:
            x_hi = x_lo + 1
    right_edge = _W - (_RIGHT_AXIS if right else _RIGHT)
    plot_w = right_edge - _LEFT
    plot_h = _H - _TOP - _BOTTOM

    def scale(values: list[float]) -> tuple[list[float], float, float]:
        ticks = nice_ticks(min(0.0, *values), max(values)) if values else [0.0, 1.0]
        return ticks, ticks[0], ticks[-1]

    y_ticks, y_lo, y_hi = scale(_y_range(left))
    y2_ticks, y2_lo, y2_hi = scale(_y_range(right))

    def px(x: float) -> float:
        return _LEFT + (x - x_lo) / (x_hi - x_lo) * plot_w

    def py(y: float, on_right: bool = False) -> float:
        lo, hi = (y2_lo, y2_hi) if on_right else (y_lo, y_hi)
        return _TOP + plot_h - (y - lo) / ((hi - lo) or 1.0) * plot_h

    # Grid and axes.
    for t in y_ticks if left else ():
        y = py(t)
        parts.append(
            f'<line class="grid" x1="{_LEFT}" x2="{right_edge}" y1="{y:.1f}" y2="{y:.1f}"/>'
        )
        parts.append(
            f'<text class="tick" x="{_LEFT - 6}" y="{y + 4:.1f}" '
            f'text-anchor="end">{_label(t)}</text>'
        )
    for t in y2_ticks if right else ():
        y = py(t, True)
        parts.append(
            f'<text class="tick y2" x="{right_edge + 6}" y="{y + 4:.1f}" '
            f'text-anchor="start">{_label(t)}</text>'
        )
    for i, t in enumerate(x_ticks):
        x = px(t)
        text = categories[i] if categories is not None else _label(t)
        parts.append(
            f'<text class="tick" x="{x:.1f}" y="{_TOP + plot_h + 16}" '
            f'text-anchor="middle">{escape(text)}</text>'
        )
    parts.append(
        f'<line class="axis" x1="{_LEFT}" x2="{right_edge}" y1="{_TOP + plot_h}" '
        f'y2="{_TOP + plot_h}"/><line class="axis" x1="{_LEFT}" x2="{_LEFT}" y1="{_TOP}" '
        f'y2="{_TOP + plot_h}"/>'
    )
    parts.append(
        f'<text class="label" x="{_LEFT + plot_w / 2}" y="{_H - 6}" '
        f'text-anchor="middle">{escape(x_label)}</text>'
        f'<text class="label" transform="translate(14 {_TOP + plot_h / 2}) rotate(-90)" '
        f'text-anchor="middle">{escape(y_label)}</text>'
    )
    if right:
        parts.append(
            f'<line class="axis" x1="{right_edge}" x2="{right_edge}" y1="{_TOP}" '
            f'y2="{_TOP + plot_h}"/>'
            f'<text class="label y2" transform="translate({_W - 8} {_TOP + plot_h / 2}) '
            f'rotate(90)" text-anchor="middle">{escape(y2_label)}</text>'
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
    if categories is None:
        parts.extend(_mark(m, px, plot_h) for m in marks if math.isfinite(m.x))
    # Series.
    for i, s in enumerate(series):
        color = PALETTE[i % len(PALETTE)]
        pts = _finite(s)
        if not pts:
            continue
        dash = ' stroke-dasharray="5 4"' if s.dashed else ""
        parts.append(f'<g class="series" data-series="{escape(s.name)}">')
        for run in _segments(s, pts):
            if len(run) == 1 and s.gaps and not dots:
                # A lone sample between gaps (a line of one point draws nothing): a dot.
                x, y = run[0]
                parts.append(
                    f'<circle class="lone" cx="{px(x):.1f}" cy="{py(y, s.right):.1f}" r="2" '
                    f'fill="{color}"/>'
                )
                continue
            path = " ".join(f"{px(x):.1f},{py(y, s.right):.1f}" for x, y in run)
            parts.append(
                f'<polyline fill="none" stroke="{color}" stroke-width="2"{dash} points="{path}"/>'
            )
        for k, x, y in pts if dots else ():
            cx, cy = px(x), py(y, s.right)
            err = _error(s, k)
            if err is not None:
                lo, hi = py(err[0], s.right), py(err[1], s.right)
                parts.append(
                    f'<path class="ci" stroke="{color}" stroke-width="1" fill="none" '
                    f'd="M{cx:.1f} {lo:.1f}V{hi:.1f}M{cx - 3:.1f} {lo:.1f}H{cx + 3:.1f}'
                    f'M{cx - 3:.1f} {hi:.1f}H{cx + 3:.1f}"/>'
                )
            shown = categories[int(x)] if categories is not None else _label(x)
            parts.append(
                f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="3.5" fill="{color}">'
                f"<title>{escape(_tooltip(s, k, shown, y, x_unit))}</title></circle>"
            )
            if s.tags is not None and k < len(s.tags) and s.tags[k]:
                parts.append(
                    f'<text class="point-label" x="{cx + 4:.1f}" y="{cy + 14:.1f}">'
                    f"{escape(s.tags[k])}</text>"
                )
        parts.append("</g>")
    parts.append("</svg>")
    # Legend (HTML, clickable).
    parts.append('<div class="legend">')
    for i, s in enumerate(series):
        color = PALETTE[i % len(PALETTE)]
        side = " (right axis)" if s.right else ""
        parts.append(
            f'<button type="button" class="key" data-series="{escape(s.name)}">'
            f'<span style="background:{color}"></span>{escape(s.name)}{side}</button>'
        )
    parts.append("</div></figure>")
    return "".join(parts)


def _mark(m: Mark, px: Callable[[float], float], plot_h: float) -> str:
    """A capacity mark: the bracket shaded, a solid line at the value, its label on top
    (anchored to stay inside the plot)."""
    mx = px(m.x)
    kind = f' data-kind="{escape(m.kind)}"' if m.kind else ""
    out = [f'<g class="{escape(m.css)}"{kind}>']
    if m.title:
        out.append(f"<title>{escape(m.title)}</title>")
    if m.bracket is not None and all(math.isfinite(v) for v in m.bracket):
        lo, hi = sorted(px(v) for v in m.bracket)
        out.append(
            f'<rect class="capacity-bracket" x="{lo:.1f}" y="{_TOP}" '
            f'width="{max(hi - lo, 2):.1f}" height="{plot_h}" fill="#f59e0b" '
            'fill-opacity="0.15"/>'
        )
    anchor, dx = ("end", -4) if mx > _LEFT + (_W - _LEFT) / 2 else ("start", 4)
    out.append(
        f'<line x1="{mx:.1f}" x2="{mx:.1f}" y1="{_TOP}" y2="{_TOP + plot_h}" '
        'stroke="#b45309" stroke-width="1.5"/>'
        f'<text class="capacity-label" x="{mx + dx:.1f}" y="{_TOP + 12}" '
        f'text-anchor="{anchor}">{escape(m.label)}</text></g>'
    )
    return "".join(out)
