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
