"""ScrapeRows: a scrape's values read back as written, from memory or from disk, and the
parent keeps 16 bytes a scrape however many values each has."""

from __future__ import annotations

import math
from array import array

import numpy as np
import pytest

from guidellm.benchmark import spill
from guidellm.telemetry.scrape_rows import ScrapeRows
from guidellm.telemetry.scraper import ScrapeLog


@pytest.mark.parametrize("spill_at", [1 << 15, 50])
def test_rows_of_growing_length_read_back(monkeypatch: pytest.MonkeyPatch, spill_at: int) -> None:
    monkeypatch.setattr(spill, "SPILL_ROWS", spill_at)
    rows = ScrapeRows()
    written = []
    for i in range(300):
        row = array("d", [i + c / 1000 for c in range(5 + i // 50)])
        written.append(row)
        rows.append(row)
        assert rows.value(i, 2) == i + 0.002  # readable as soon as appended
    assert len(rows) == 300
    assert rows._values.spilled == (spill_at == 50)
    for i, row in enumerate(written):
        assert list(rows[i]) == list(row)
        assert rows.value(i, len(row) - 1) == row[-1]
        assert math.isnan(rows.value(i, len(row)))  # a column the scrape did not have


def test_a_log_of_an_hour_of_a_large_server_keeps_its_rows_on_disk() -> None:
    """3,600 scrapes of 500 values each: 14 MB as arrays; the rows go to disk."""
    log = ScrapeLog(url="http://127.0.0.1:1/metrics")
    names = [f"m{k}" for k in range(500)]
    for t in range(3600):
        log.add(float(t), t + 0.01, t, {name: float(t + k) for k, name in enumerate(names)})
    assert log.rows._values.spilled
    assert log.value(3599, "m499") == 3599 + 499
    assert log.value(0, "m0") == 0.0 and math.isnan(log.value(0, "nope"))
    assert np.array_equal(log.rows[1234], np.arange(500) + 1234.0)


def test_failures_share_their_reason() -> None:
    log = ScrapeLog(url="http://127.0.0.1:1/metrics")
    for t in range(1000):
        log.fail(float(t), "cannot connect (" + "ConnectError" + ")")
    assert len(log.failed_at) == 1000 and len({id(w) for w in log.failed_why}) == 1
