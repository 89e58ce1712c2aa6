"""DelaySeries keeps every delay for the final verdict but only the newest in memory."""

from __future__ import annotations

import numpy as np

from guidellm.scheduler.delays import DelaySeries
from guidellm.scheduler.judgement import LIVE_SENDS, live_limited


def test_every_delay_comes_back_and_the_newest_stay_in_memory() -> None:
    series = DelaySeries(keep=LIVE_SENDS, chunk=500)
    expected = []
    for batch in range(40):
        for k in range(97):
            value = float(batch * 97 + k)
            series.recent.append(value)
            expected.append(value)
        series.settle()
        assert len(series.recent) < LIVE_SENDS + 500
        assert list(series.recent[-10:]) == expected[-10:]
    assert len(series) == len(expected) == 3880
    assert np.array_equal(np.asarray(series.values()), np.array(expected))


def test_the_live_verdict_reads_the_newest_delays_after_a_spill() -> None:
    series = DelaySeries(keep=LIVE_SENDS, chunk=200)
    series.recent.extend([50.0] * 5000)  # an early backlog, long gone
    series.settle()
    series.recent.extend([0.1] * 1000)
    series.settle()
    assert not live_limited(series.recent, open_loop=True)
    series.recent.extend([30.0] * 100)
    assert live_limited(series.recent, open_loop=True)
