"""Images and audio sent with the requests, in the tables the console and HTML share: only
when a benchmark sent any, with "-" for the kind it did not send."""

from __future__ import annotations

from reportdata import sweep_report

from guidellm.benchmark.report import AudioCounts, ImageCounts
from guidellm.outputs.html import render_html
from guidellm.outputs.tables import report_tables

TITLE = "Media sent with the requests (every status)"


def test_the_media_table_shows_what_each_benchmark_sent() -> None:
    report = sweep_report((2.0, 4.0, 8.0))
    first, second, _ = report.benchmarks
    first.images = ImageCounts(
        requests_with_images=10, images=20, image_bytes=40960, images_per_request_mean=2.0,
        image_bytes_per_request_mean=4096.0,
    )  # fmt: skip
    second.audio = AudioCounts(
        requests_with_audio=5, clips=5, audio_seconds=10.0, audio_seconds_per_request_mean=2.0,
        rtf_mean=0.125,
    )  # fmt: skip
    (table,) = [t for t in report_tables(report) if t.title == TITLE]
    assert table.rows == [
        [first.label, "10", "2.00", "4.0", "-", "-", "-"],
        [second.label, "-", "-", "-", "5", "2.00", "0.125"],
    ]
    assert TITLE in render_html(report)


def test_no_media_no_table() -> None:
    report = sweep_report((2.0,))
    assert not [t for t in report_tables(report) if t.title == TITLE]
