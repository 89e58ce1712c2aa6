"""A worker process killed (SIGKILL) or frozen (SIGSTOP) at a random moment loses nothing.

Its requests on the wire end as ``incomplete`` with category ``worker_lost``, the others are
cancelled and counted, every output is written, and the run exits 1 (130 when Ctrl-C came too)
within a bound: a frozen worker is killed after HEARTBEAT_TIMEOUT_S without a heartbeat.
"""

from __future__ import annotations

import json
import os
import random
import signal
import time
from pathlib import Path

import pytest
from chaosrun import ChaosRun, server_count, with_credentials

from guidellm.scheduler.executor import HEARTBEAT_TIMEOUT_S

ARGS = ["--profile", "constant", "--rate", "20", "--workers", "2", "--max-seconds", "8"]


def _run(url: str, tmp_path: Path, bound: float) -> ChaosRun:
    args = ["--target", with_credentials(url), "--backend-args", "api_key=sk-chaos-7f3a91c2e5"]
    return ChaosRun([*args, *ARGS], tmp_path, bound).start()


def _categories(run: ChaosRun) -> dict[str, int]:
    (bench,) = json.loads(run.outputs["r.json"])["benchmarks"]
    return dict(bench["errors"])


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_sigkill_of_a_worker_loses_no_request(mock_url: str, tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    before = server_count(mock_url)
    run = _run(mock_url, tmp_path, bound=30)
    run.wait_for_results(rng.randint(1, 20))
    time.sleep(rng.uniform(0, 0.5))
    victim = rng.choice(run.workers())
    os.kill(victim, signal.SIGKILL)
    run.finish().check(codes=(1,), server=mock_url, before=before)
    assert _categories(run).get("worker_lost", 0) >= 1
    assert "worker" in run.err and "SIGKILL" in run.outputs["r.json"]


@pytest.mark.parametrize("seed", [1, 2])
def test_sigstop_of_a_worker_is_detected_and_counted(
    mock_url: str, tmp_path: Path, seed: int
) -> None:
    rng = random.Random(seed)
    before = server_count(mock_url)
    run = _run(mock_url, tmp_path, bound=8 + HEARTBEAT_TIMEOUT_S + 10)
    run.wait_for_results(rng.randint(1, 20))
    victim = rng.choice(run.workers())
    os.kill(victim, signal.SIGSTOP)
    try:
        run.finish()
    finally:
        os.kill(victim, signal.SIGCONT) if Path(f"/proc/{victim}").exists() else None
    run.check(codes=(1,), server=mock_url, before=before)
    assert _categories(run).get("worker_lost", 0) >= 1
    assert "stopped responding" in run.outputs["r.json"]


def test_ctrl_c_with_a_frozen_worker_still_ends_with_outputs(mock_url: str, tmp_path: Path) -> None:
    before = server_count(mock_url)
    run = _run(mock_url, tmp_path, bound=3 + HEARTBEAT_TIMEOUT_S + 10)
    run.wait_for_results(5)
    victim = run.workers()[0]
    os.kill(victim, signal.SIGSTOP)
    time.sleep(0.5)
    run.signal(signal.SIGINT)
    run.finish().check(codes=(130,), server=mock_url, before=before)
    assert run.elapsed < 3 + HEARTBEAT_TIMEOUT_S + 8


@pytest.mark.parametrize(("profile", "seed"), [("constant", 1), ("constant", 2), ("concurrent", 3)])
def test_with_continue_the_survivors_send_what_a_killed_worker_held(
    mock_url: str, tmp_path: Path, profile: str, seed: int
) -> None:
    """``--on-worker-loss continue``: the benchmark goes on without the killed worker. What
    it had on the wire is ``worker_lost``; what it held unsent is sent by the other: every
    one of the planned requests is accounted for exactly once, and the run exits 0."""
    rng = random.Random(seed)
    before = server_count(mock_url)
    planned = 150
    # Requests of about 0.85 s (40 tokens 20 ms apart): every worker always has some on the
    # wire, so the kill always catches one.
    rate = "30" if profile == "constant" else "15"
    args = ["--target", with_credentials(mock_url), "--backend-args", "api_key=sk-chaos-7f3a91c2e5"]
    run = ChaosRun(
        [*args, "--profile", profile, "--rate", rate, "--workers", "3",
         "--max-requests", str(planned), "--max-seconds", "30", "--on-worker-loss", "continue",
         "--data", "prompt_tokens=16,output_tokens=40"],
        tmp_path,
        50,
    ).start()  # fmt: skip
    run.wait_for_results(rng.randint(10, 40))
    victim = rng.choice(run.workers())
    os.kill(victim, signal.SIGKILL)
    run.finish().check(codes=(0,), server=mock_url, before=before)
    (bench,) = json.loads(run.outputs["r.json"])["benchmarks"]
    total, _ = run.report_total()
    assert total == planned, bench["requests"]
    assert bench["errors"].get("worker_lost", 0) >= 1, bench["errors"]
    client = bench["client"]
    (lost,) = client["lost_workers"].values()
    assert "SIGKILL" in lost and client["stop_reason"] == "completed"
    assert sum(client["sent_by_worker"].values()) == planned
    assert any("the others carried on" in w for w in bench["warnings"])
    assert "the others carried on" in run.err + run.out
