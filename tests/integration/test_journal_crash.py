"""A run killed with SIGKILL at a random moment loses at most its last second of results.

Each of 20 runs (seeded) sends a constant 100 requests/s to the mock server; the whole
process group is killed at a random moment, and the journal must hold every request sent
on the schedule's grid that could have finished more than a second before the kill: the
journalled send times are that grid, without a hole, up to there.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from journalread import count_results

from guidellm.benchmark.journal import read_journal, rebuild_report
from guidellm.mock_server import MockServer
from guidellm.mock_server.behavior import MockServerConfig

RATE = 100.0
KILLS = 20


@pytest.fixture(scope="module")
def quick_server() -> Iterator[str]:
    server = MockServer(MockServerConfig(ttft_ms=5, itl_ms=2, output_tokens=8))
    url = server.start_process()
    try:
        yield url
    finally:
        server.stop()


def _run(url: str, journal: Path, cwd: Path) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    env.pop("GUIDELLM_WORKERS", None)
    return subprocess.Popen(
        [
            sys.executable, "-m", "guidellm", "run", "--target", url,
            "--profile", "constant", "--rate", str(RATE), "--max-seconds", "60",
            "--journal", str(journal), "--output", str(cwd / "r.json"),
            "--disable-console-outputs", "--server-metrics", "off",
        ],
        cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip


def test_sigkill_at_random_moments_loses_at_most_the_last_second(
    quick_server: str, tmp_path: Path
) -> None:
    rng = random.Random(20261205)
    for attempt in range(KILLS):
        folder = tmp_path / f"run{attempt}"
        folder.mkdir()
        journal = folder / "r.journal"
        proc = _run(quick_server, journal, folder)
        try:
            deadline = time.monotonic() + 30
            while count_results(journal) < 1:
                assert proc.poll() is None, "the run ended before any result"
                assert time.monotonic() < deadline, "no result journalled within 30 s"
                time.sleep(0.05)
            time.sleep(rng.uniform(0.0, 2.5))
            killed_at = time.perf_counter()  # the results' clock (CLOCK_MONOTONIC)
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)
        warnings: list[str] = []
        results = [rec[1] for kind, rec in read_journal(journal, warnings) if kind == "result"]
        assert results, f"attempt {attempt}: nothing journalled"
        assert all("ends mid-record" in w for w in warnings), warnings
        first = min(r.scheduled_time for r in results)
        slots = sorted(round((r.scheduled_time - first) * RATE) for r in results)
        assert len(set(slots)) == len(slots), f"attempt {attempt}: a request journalled twice"
        # Every request on the grid that was sent long enough before the kill to have finished
        # more than a second before it is there.
        slowest = max(r.request_end - r.scheduled_time for r in results)
        due = int((killed_at - 1.0 - slowest - first) * RATE)
        missing = sorted(set(range(due + 1)) - set(slots))
        assert not missing, (
            f"attempt {attempt}: requests {missing[:5]}... of {due + 1} sent before the last "
            f"second are not in the journal ({len(results)} are)"
        )
        ended = max(r.request_end for r in results)
        assert ended >= killed_at - 1.0 - 0.05, (
            f"attempt {attempt}: the newest result ended {killed_at - ended:.2f} s before the kill"
        )
        (bench,) = rebuild_report(journal).benchmarks
        assert bench.requests.successful == sum(r.status == "successful" for r in results)
