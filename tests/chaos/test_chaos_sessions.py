"""Faults in the middle of conversations: a worker killed or the run interrupted while
sessions think or send keeps every count (started = completed + cut short; turns sent +
not sent = planned; turns sent = every request reported), and the server saw no more."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest
from chaosrun import ChaosRun, server_count

DATA = "turns=6,prompt_tokens=64,turn_prompt_tokens=16,output_tokens=20,think_time_ms=300"


def _check_sessions(run: ChaosRun) -> None:
    for bench in json.loads(run.outputs["r.json"])["benchmarks"]:
        s, req = bench["sessions"], bench["requests"]
        sent = req["successful"] + req["errored"] + req["incomplete"] + req["outside_window"]
        assert s["started"] > 0
        assert s["started"] == s["completed"] + s["cut_short"]
        assert s["turns_sent"] + s["turns_not_sent"] == s["turns_planned"]
        assert s["turns_sent"] == sent, (s["turns_sent"], sent)


@pytest.mark.parametrize(
    ("profile", "delay"),
    [
        (["--profile", "concurrent", "--rate", "8"], 0.0),
        (["--profile", "constant", "--rate", "6"], 0.25),
    ],
)
def test_a_worker_killed_mid_session_loses_no_count(
    mock_url: str, tmp_path: Path, profile: list[str], delay: float
) -> None:
    before = server_count(mock_url)
    args = ["--target", mock_url, "--data", DATA, *profile, "--workers", "2", "--max-seconds", "6"]
    run = ChaosRun(args, tmp_path, 40).start()
    run.wait_for_results(10)
    time.sleep(delay)
    os.kill(run.workers()[0], signal.SIGKILL)
    run.finish()
    _check_sessions(run)
    run.check(codes=(1,), server=mock_url, before=before)


def test_ctrl_c_while_sessions_think_loses_no_count(mock_url: str, tmp_path: Path) -> None:
    before = server_count(mock_url)
    args = ["--target", mock_url, "--data", DATA, "--profile", "concurrent", "--rate", "8",
            "--workers", "2", "--max-seconds", "20"]  # fmt: skip
    run = ChaosRun(args, tmp_path, 40).start()
    run.wait_for_results(12)
    time.sleep(0.2)
    run.signal(signal.SIGINT)
    run.finish()
    _check_sessions(run)
    run.check(codes=(130,), server=mock_url, before=before)
