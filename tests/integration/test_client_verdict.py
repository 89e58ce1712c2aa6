"""The client's verdict on itself in real runs: the first run a user makes (the built-in mock,
no options) is not client-limited, and a client overloaded on purpose says so and why."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from guidellm.mock_server import MockServer
from guidellm.mock_server.behavior import MockServerConfig

GUIDELLM = [sys.executable, "-m", "guidellm"]


def _run(args: list[str], cwd: Path, timeout: float) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GUIDELLM_")}
    return subprocess.run(
        [*GUIDELLM, *args], cwd=cwd, env=env, capture_output=True, text=True,
        timeout=timeout, check=False,
    )  # fmt: skip


def _signals(client: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["name"]: s for s in client["signals"]}


@pytest.mark.slow
def test_the_first_run_with_no_options_is_not_client_limited(tmp_path: Path) -> None:
    # The real thing, about 100 s: the default sweep (synchronous, throughput, 8 constant
    # rates, 10 s each) against the built-in mock. A shorter --max-seconds would leave the CPU
    # rule unjudged and the p99s over a few dozen sends: not the run a user first sees.
    proc = _run(["run", "--disable-progress"], tmp_path, timeout=280)
    assert proc.returncode == 0, proc.stderr
    report = json.loads((tmp_path / "benchmarks.json").read_text())
    kinds = [b["strategy"]["type"] for b in report["benchmarks"]]
    assert kinds[:2] == ["synchronous", "throughput"] and set(kinds[2:]) == {"constant"}
    limited = [(b["strategy"], b["client"]["reason"]) for b in report["benchmarks"]
               if b["client"]["limited"]]  # fmt: skip
    assert limited == []
    assert "client-limited" not in proc.stdout
    for b in report["benchmarks"]:
        delay = _signals(b["client"])["scheduling_delay_ms_p99"]
        if b["strategy"]["type"] in ("synchronous", "throughput"):
            assert delay["limit"] is None and "closed loop" in delay["note"]
        else:  # judged, or a few strays on a busy machine said to be so
            assert delay["limit"] == 10.0 or "strays" in delay["note"], delay


def test_an_overloaded_client_says_it_is_limited_and_why(tmp_path: Path) -> None:
    # One worker asked for 20,000 requests a second against a mock that answers at once:
    # about four times what one process sends (measured: 5,000/s at 0.21 CPU-ms each, which
    # one worker nearly keeps up with), so the sends leave late.
    mock = MockServer(MockServerConfig(ttft_ms=0, itl_ms=0, output_tokens=4))
    url = mock.start_process()
    try:
        proc = _run(
            [
                "run", "--target", url, "--workers", "1", "--profile", "constant",
                "--rate", "20000", "--max-seconds", "4", "--disable-progress",
                "--data", "prompt_tokens=16,output_tokens=4", "--output", "over.json",
            ],
            tmp_path,
            timeout=120,
        )  # fmt: skip
    finally:
        mock.stop()
    assert proc.returncode == 0, proc.stderr
    (bench,) = json.loads((tmp_path / "over.json").read_text())["benchmarks"]
    client = bench["client"]
    assert client["limited"] is True
    delay = _signals(client)["scheduling_delay_ms_p99"]
    assert delay["fired"] is True and delay["limit"] == 10.0 and delay["value"] > 10.0
    assert client["reason"].startswith("scheduling_delay_ms_p99 ")
    assert any(w.startswith("client-limited: scheduling_delay_ms_p99") for w in bench["warnings"])
