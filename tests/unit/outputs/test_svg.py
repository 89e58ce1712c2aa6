"""The inline SVG charts: tick choice and every point inside the plot area."""

from __future__ import annotations

import re

import pytest

from guidellm.outputs.svg import Series, line_chart, nice_ticks


@pytest.mark.parametrize(
    ("lo", "hi", "expected"),
    [
        (0, 10, [0, 2, 4, 6, 8, 10]),
        (0, 11, [0, 2.5, 5, 7.5, 10, 12.5]),
        (2, 8, [2, 4, 6, 8]),
        (0, 0.26, [0, 0.1, 0.2, 0.3]),
    ],
)
def test_nice_ticks_cover_the_range(lo: float, hi: float, expected: list[float]) -> None:
    ticks = nice_ticks(lo, hi)
    assert ticks == pytest.approx(expected)
    assert ticks[0] <= lo and ticks[-1] >= hi


def test_points_stay_inside_the_plot() -> None:
    svg = line_chart(
        "t",
        [Series("a", [1, 2, 3], [9.0, 10.5, 11.0]), Series("b", [1, 2, 3], [None, 1.0, 2.0])],
        x_label="x",
        y_label="y",
    )
    ys = [float(y) for y in re.findall(r'<circle cx="[\d.]+" cy="([\d.]+)"', svg)]
    xs = [float(x) for x in re.findall(r'<circle cx="([\d.]+)"', svg)]
    assert len(ys) == 5  # the missing value is skipped
    assert all(16 <= y <= 300 - 44 for y in ys)
    assert all(64 <= x <= 560 - 16 for x in xs)
    assert "<title>a: 3 → 11</title>" in svg
    assert svg.count('data-series="a"') == 2  # the series group and its legend key


def test_empty_chart_says_no_data() -> None:
    assert "no data" in line_chart("t", [Series("a", [1], [None])], x_label="x", y_label="y")


def test_error_bars_and_marks_stay_inside_the_plot() -> None:
    from guidellm.outputs.svg import Mark

    svg = line_chart(
        "t",
        [Series("a", [1, 2], [10.0, 20.0], errors=[None, (15.0, 41.0)], unit="ms")],
        x_label="x",
        y_label="y",
        marks=[Mark(5.0, "cap", (4.0, 6.0), kind="saturation")],
    )
    # The bar's top (41) raises the axis past the highest point (20), and the mark at x=5
    # widens the x axis past the last point (2).
    assert max(float(t) for t in re.findall(r'text-anchor="end">([\d.]+)</text>', svg)) >= 41
    [bar] = re.findall(r'class="ci"[^>]* d="M[\d.]+ ([\d.]+)V([\d.]+)', svg)
    assert all(16 <= float(v) <= 300 - 44 for v in bar)
    [mark_x] = re.findall(r'class="capacity-marker".*?<line x1="([\d.]+)"', svg)
    assert 64 <= float(mark_x) <= 560 - 16
    assert "<title>a: 2 → 20 ms (95 % CI 15 to 41 ms)</title>" in svg


def _polylines(svg: str) -> list[list[tuple[float, float]]]:
    return [
        [(float(x), float(y)) for x, y in (p.split(",") for p in points.split())]
        for points in re.findall(r'<polyline[^>]* points="([^"]*)"', svg)
    ]


def test_a_missing_sample_breaks_a_gapped_line() -> None:
    ys = [1.0, 2.0, None, 3.0, 4.0, None, 5.0]
    xs = list(range(len(ys)))
    gapped = line_chart("t", [Series("a", xs, ys, gaps=True)], x_label="x", y_label="y", dots=False)
    runs = _polylines(gapped)
    assert [len(r) for r in runs] == [2, 2]  # 0-1 and 3-4; 6 alone
    assert runs[0][-1][0] < runs[1][0][0]  # in time order
    assert gapped.count('<circle class="lone"') == 1
    # Without gaps the same samples are one line stepping over the missing ones.
    joined = line_chart("t", [Series("a", xs, ys)], x_label="x", y_label="y", dots=False)
    assert [len(r) for r in _polylines(joined)] == [5]
    assert "<circle" not in joined


def test_x_range_widens_the_axis() -> None:
    def ticks(svg: str) -> list[str]:
        return re.findall(r'y="272" text-anchor="middle">([^<]*)<', svg)

    series = [Series("a", [2, 3], [1.0, 2.0])]
    assert ticks(line_chart("t", series, x_label="x", y_label="y"))[0] != "0"
    wide = ticks(line_chart("t", series, x_label="x", y_label="y", x_range=(0.0, 10.0)))
    assert wide[0] == "0" and float(wide[-1]) >= 10
