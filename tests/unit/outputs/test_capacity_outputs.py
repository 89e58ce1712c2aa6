"""The capacity and the readable charts in the console and HTML: hand-made reports with a
saturation point, an SLO capacity, a capacity not found, and none."""

from __future__ import annotations

import io
import re

import pytest
from reportdata import capacity, capacity_report, sweep_report
from rich.console import Console

from guidellm.benchmark.report import Report
from guidellm.outputs.console import ConsoleWriter
from guidellm.outputs.html import render_html
from guidellm.outputs.loadcharts import capacity_marks
from guidellm.outputs.tables import report_tables

SATURATION = "Saturation point: 10.3 requests/s (between 8.0 and 12.0; benchmark 2)"
SLO = (
    "SLO capacity: 10.3 requests/s (between 8.0 and 12.0; benchmark 2) at goodput ≥ 95 % of "
    "ttft_ms ≤ 200, itl_ms ≤ 20"
)
LOAD_CHARTS = 5


def _console(report: Report, width: int = 200) -> list[str]:
    console = Console(width=width, record=True, file=io.StringIO())
    ConsoleWriter(console=console, progress=False).write(report)
    return [line.rstrip() for line in console.export_text().splitlines()]


def _page(report: Report) -> str:
    """The page without its embedded JSON (which holds every string of the report)."""
    return render_html(report).split("id='report-data'")[0]


def _chart(page: str, title: str) -> str:
    return page.split(f"<figcaption>{title}</figcaption>", 1)[1].split("</figure>", 1)[0]


@pytest.mark.parametrize(
    ("kind", "found", "line"),
    [
        ("saturation", True, SATURATION),
        ("slo", True, SLO),
        (
            "saturation",
            False,
            "Saturation point: not found: no benchmark reached the threshold; sweep to higher "
            "rates",
        ),
    ],
)
def test_console_ends_with_the_capacity_line(kind: str, found: bool, line: str) -> None:
    lines = [ln for ln in _console(capacity_report(kind, found=found)) if ln]
    assert lines[-1] == line


def test_a_found_answer_keeps_its_caveat() -> None:
    report = capacity_report("saturation")
    assert report.capacity is not None
    report.capacity.reason = "no measured rate failed: at least this much"
    lines = [ln for ln in _console(report) if ln]
    assert lines[-1] == SATURATION[:-1] + "; no measured rate failed: at least this much)"


def test_console_without_capacity_has_no_capacity_line() -> None:
    text = "\n".join(_console(capacity_report(None)))
    assert "Saturation point" not in text and "SLO capacity" not in text


def test_latency_tables_show_p90_and_p95_within_80_columns() -> None:
    # Long labels and four-digit latencies: the widest rows these tables get.
    report = sweep_report((1.25, 12.75, 125.5), n=60)
    for b in report.benchmarks:
        b.metrics.time_to_first_token_ms.successful.percentiles.p95 = 12345.678
    lines = _console(report)
    text = "\n".join(lines)
    for table in report_tables(report)[1:5]:
        assert table.headers == ["Benchmark", "mean", "p50", "p90", "p95", "p99"]
        block = text.split(table.title, 1)[1].split("\n\n\n", 1)[0]
        assert max(len(ln) for ln in block.splitlines()) <= 80
    widest = max(len(ln) for ln in lines if not ln.startswith("Saturation"))
    assert widest <= 80, [ln for ln in lines if len(ln) > 80]
    ttft = report.benchmarks[1].metrics.time_to_first_token_ms.successful
    row = next(
        ln
        for ln in text.split("Time to first token ms")[1].splitlines()
        if ln.startswith(" constant 12.75/s")
    )
    p = ttft.percentiles
    assert row.split()[2:] == [f"{v:.2f}" for v in (ttft.mean, p.p50, p.p90)] + [
        "12,346",
        f"{p.p99:.2f}",
    ]


@pytest.mark.parametrize("kind", ["saturation", "slo"])
def test_html_marks_the_capacity_on_every_load_chart(kind: str) -> None:
    page = _page(capacity_report(kind))
    assert page.count(f'class="capacity-marker" data-kind="{kind}"') == LOAD_CHARTS
    assert page.count('class="capacity-bracket"') == LOAD_CHARTS
    label = "saturation" if kind == "saturation" else "SLO capacity"
    assert page.count(f">{label} 10.3 req/s</text>") == LOAD_CHARTS
    ttft = _chart(page, "Time to first token")
    # The line at 10.3 and the bracket from 8 to 12 on the same x scale as the points.
    xs = {
        rate: float(x)
        for rate, x in zip(
            (2, 4, 8, 12, 16),
            re.findall(r'<circle cx="([\d.]+)"', ttft.split('data-series="p50"')[1]),
            strict=False,
        )
    }
    bracket = re.search(r'class="capacity-bracket" x="([\d.]+)" y="\d+" width="([\d.]+)"', ttft)
    assert bracket is not None
    assert float(bracket[1]) == pytest.approx(xs[8], abs=0.2)
    assert float(bracket[1]) + float(bracket[2]) == pytest.approx(xs[12], abs=0.2)
    line_x = float(re.findall(r'<line x1="([\d.]+)"', ttft.split("capacity-marker")[1])[0])
    assert line_x == pytest.approx(xs[8] + (xs[12] - xs[8]) * 2.3 / 4, abs=0.2)


@pytest.mark.parametrize(("kind", "found"), [(None, True), ("saturation", False)])
def test_html_has_no_marker_without_an_answer(kind: str | None, found: bool) -> None:
    page = _page(capacity_report(kind, found=found))
    assert "capacity-marker" not in page.split("<style>")[0] + page.split("</style>")[1]
    if kind is None:
        assert "id='capacity'" not in page
    else:
        assert "Saturation point: not found: no benchmark reached the threshold" in page


@pytest.mark.parametrize("kind", ["saturation", "slo"])
def test_html_capacity_section_lists_the_rule_and_probes(kind: str) -> None:
    page = _page(capacity_report(kind))
    section = page.split("id='capacity'", 1)[1].split("</section>", 1)[0]
    assert (SATURATION if kind == "saturation" else SLO) in section
    assert "<th>rule</th><td>" in section and "<th>bracket</th><td>8.0 to 12.0</td>" in section
    assert "<th>benchmark</th><td>2 constant 8/s</td>" in section
    assert section.count("<tr class='probe pass'>") == 3
    assert section.count("<tr class='probe fail'>") == 2
    judged = "goodput" if kind == "slo" else "latency ratio"
    assert f"<th>{judged}</th><th>95 % CI</th><th>reason</th>" in section
    row = section.split("<tr class='probe fail'>", 1)[1].split("</tr>", 1)[0]
    cells = re.findall(r"<td>(.*?)</td>", row)
    value = 0.81 if kind == "slo" else 2.4
    assert cells[:6] == [
        "3 constant 12/s",
        "12.00",
        "11.76",
        "fail",
        f"{value:.3f}",
        f"{value - 0.02:.3f} to {value + 0.02:.3f}",
    ]
    if kind == "slo":
        assert "<th>SLOs</th><td>goodput ≥ 95 % of ttft_ms ≤ 200, itl_ms ≤ 20</td>" in section
        assert "<th>precision</th><td>5 % of the bracket&#x27;s top</td>" in section


def test_html_points_name_their_benchmark_with_units_and_intervals() -> None:
    report = capacity_report("saturation")
    page = _page(report)
    # One tag per benchmark on each load chart.
    assert page.count('class="point-label"') == LOAD_CHARTS * len(report.benchmarks)
    tags = re.findall(r'class="point-label" x="[\d.]+" y="[\d.]+">(#\d+)</text>', page)
    assert sorted(set(tags)) == [f"#{i}" for i in range(len(report.benchmarks))]
    ttft = _chart(page, "Time to first token")
    b = report.benchmarks[2].metrics.time_to_first_token_ms.successful
    lo, hi = b.ci95["p90"]  # type: ignore[index]
    title = (
        f"p90 · #2 constant 8/s: 8 req/s → {b.percentiles.p90:.4g} ms "
        f"(95 % CI {lo:.4g} to {hi:.4g} ms)"
    )
    assert f"<title>{title}</title>" in ttft
    # p50 and p90 have intervals; p99's is withheld (120 requests, it needs 500): no bar.
    assert b.ci95 is not None and "p99" not in b.ci95
    assert ttft.count('class="ci"') == 2 * len(report.benchmarks)
    rate = _chart(page, "Request rate and concurrency")
    assert "successful req/s · #4 constant 16/s: 16 req/s → " in rate
    assert re.search(r"mean concurrency · #4 constant 16/s: 16 req/s → [\d.]+ requests<", rate)


def test_concurrency_has_its_own_axis() -> None:
    rate = _chart(_page(capacity_report(None)), "Request rate and concurrency")
    assert 'class="label y2"' in rate and ">requests in flight</text>" in rate
    assert ">requests/s</text>" in rate
    assert "mean concurrency (right axis)" in rate
    # The highest concurrency sits at the top of the right axis, not low on the rate axis.
    series = rate.split('data-series="mean concurrency"')[1].split("</g>")[0]
    top = min(float(y) for y in re.findall(r'cy="([\d.]+)"', series))
    assert top == pytest.approx(16, abs=25)


def test_goodput_is_drawn_only_with_slos() -> None:
    with_slo = _chart(_page(sweep_report()), "Request rate and concurrency")
    without = _chart(_page(sweep_report(slo=None)), "Request rate and concurrency")
    assert 'data-series="goodput req/s"' in with_slo
    assert 'data-series="goodput req/s"' not in without
    assert 'data-series="successful req/s"' in without


@pytest.mark.parametrize("axis", ["concurrency (streams)", "measured requests/s"])
def test_an_answer_off_the_axis_unit_sits_at_its_benchmark(axis: str) -> None:
    # An asked rate on a streams axis, or on a measured axis where a failing benchmark
    # achieved less than it asked: the mark goes to the benchmarks' own x values.
    cap = capacity("saturation")
    xs = dict(enumerate([1.0, 2.0, 4.0, 8.0, 16.0]))
    [mark] = capacity_marks(cap, axis, xs)
    assert mark.x == 4.0 and mark.bracket == (4.0, 8.0)
    assert mark.label == "saturation 10.3 req/s" and mark.title == SATURATION
    [direct] = capacity_marks(cap, "target rate (req/s)", xs)
    assert direct.x == 10.3 and direct.bracket == (8.0, 12.0)
    streams = cap.model_copy(update={"unit": "streams"})
    assert capacity_marks(streams, "concurrency (streams)", xs)[0].x == 10.3
    assert capacity_marks(streams, "target rate (req/s)", xs)[0].x == 4.0
    assert capacity_marks(capacity("slo", found=False), "target rate (req/s)", xs) == []
