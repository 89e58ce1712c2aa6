"""Ctrl-C and SIGTERM at random moments, once or twice in quick succession.

One signal: exit 130 (SIGINT) or 143 (SIGTERM); once a request was sent every output is
written and every request the server received is counted. Two signals: out at once with the
same code. Never a traceback nor "Exception ignored", whatever the moment (startup, the pre-load
check, mid-run, while the outputs are written).
"""

from __future__ import annotations

import random
import signal
import time
from pathlib import Path

import pytest
from chaosrun import ChaosRun, server_count, with_credentials

ARGS = ["--profile", "concurrent", "--rate", "4", "--workers", "2", "--max-seconds", "3"]
CODES = {signal.SIGINT: 130, signal.SIGTERM: 143}


def _signal_at_random(
    mock_url: str, tmp_path: Path, seed: int, sig: signal.Signals, twice: bool
) -> ChaosRun:
    rng = random.Random(seed)
    target = ["--target", with_credentials(mock_url)]
    run = ChaosRun([*target, *ARGS], tmp_path, bound_s=25).start()
    time.sleep(rng.uniform(0.05, 4.0))  # startup, pre-load check, mid-run or the outputs
    if run.proc is not None and run.proc.poll() is None:
        run.signal(sig)
        if twice:
            time.sleep(rng.uniform(0.0, 0.3))
            if run.proc.poll() is None:
                run.signal(sig)
    return run.finish()


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["int", "term"])
def test_one_signal_at_a_random_moment(
    mock_url: str, tmp_path: Path, seed: int, sig: signal.Signals
) -> None:
    before = server_count(mock_url)
    run = _signal_at_random(mock_url, tmp_path, seed, sig, twice=False)
    sent = server_count(mock_url) - before
    if run.code == 0:  # the signal came after the run had ended
        run.check(codes=(0,), server=mock_url, before=before)
        return
    # Outputs are promised once a request went out; before that nothing was measured.
    run.check(codes=(CODES[sig],), outputs=sent > 0, server=mock_url, before=before)


@pytest.mark.parametrize("seed", [*range(6), 31])
def test_two_ctrl_c_in_quick_succession(mock_url: str, tmp_path: Path, seed: int) -> None:
    run = _signal_at_random(mock_url, tmp_path, seed, signal.SIGINT, twice=True)
    run.check(codes=(0, 130), outputs=run.code == 0)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["int", "term"])
def test_a_signal_during_startup_is_one_line(mock_url: str, tmp_path: Path, sig: int) -> None:
    """Before the run's own handlers exist (imports, the pre-load check): still no traceback
    and the documented code, not death by the signal."""
    run = ChaosRun(["--target", mock_url, *ARGS], tmp_path, bound_s=20).start()
    time.sleep(0.15)
    run.signal(sig)
    run.finish().check(codes=(CODES[signal.Signals(sig)],), outputs=False)
