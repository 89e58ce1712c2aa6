"""The report's audio block: clips and seconds over every status, the real-time factor over
the successful requests whose clips have a length, only the measured window's rows."""

from __future__ import annotations

import numpy as np
import pytest

from guidellm.benchmark.compile import audio_counts


def test_audio_block_and_rtf() -> None:
    rows = np.array([[0, 1, 3], [1, 1, 2], [2_000_000, 1_000_000, 0]], dtype=np.int64)
    cols = {
        "status": np.array([0, 1, 0, 0]),
        "start": np.array([10.0, 10.0, 10.0, 10.0]),
        "end": np.array([10.5, 19.0, 11.0, 10.1]),
    }
    block = audio_counts(rows, cols, None)
    assert block is not None
    assert block["requests_with_audio"] == 3 and block["clips"] == 4
    assert block["audio_seconds"] == 3.0 and block["audio_seconds_per_request_mean"] == 1.0
    # row 1 errored and row 3 has no readable length: only row 0, 0.5 s for 2 s of audio
    assert block["rtf_mean"] == pytest.approx(0.25)
    window = np.array([False, True, True, True])
    outside = audio_counts(rows, cols, window)
    assert outside is not None and outside["requests_with_audio"] == 2
    assert outside["rtf_mean"] is None
    empty = np.zeros((3, 0), dtype=np.int64)
    assert audio_counts(empty, cols, None) is None
    assert audio_counts(rows, cols, np.array([False] * 4)) is None
