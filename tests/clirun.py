"""Running ``guidellm`` as a user does (a subprocess, no ``GUIDELLM_*`` variables) against a
mock server whose own request count (``/metrics``) proves whether anything was sent."""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.request
from pathlib import Path

GUIDELLM = [sys.executable, "-m", "guidellm"]


def mock_requests(url: str) -> int:
    """The generation requests the mock server at ``url`` has received."""
    with urllib.request.urlopen(url + "/metrics", timeout=5) as resp:
        for line in resp.read().decode().splitlines():
            series, _, value = line.rpartition(" ")  # name{model_name="..."} N
            if series.split("{")[0] == "guidellm_mock_requests_total":
                return int(value)
    raise AssertionError("no request counter")


def guidellm(args: list[str], cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GUIDELLM_")}
    return subprocess.run(
        [*GUIDELLM, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout,
        check=False,
    )  # fmt: skip


def one_line(proc: subprocess.CompletedProcess[str], *words: str) -> str:
    """The run's only stderr line, a ``guidellm: error:`` with exit 2 holding every word."""
    assert proc.returncode == 2, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("guidellm: error: ")
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]
