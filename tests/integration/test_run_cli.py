"""``guidellm run`` as a user runs it: a real subprocess, real workers, the real mock server.

Ctrl-C (a real SIGINT) writes every output with what was measured and exits 130; a SIGKILL
leaves a journal that ``rebuild_report`` turns into a report; bad input costs one line and
exit code 2 before anything is sent.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from journalread import count_results

from guidellm.benchmark.journal import rebuild_report
from guidellm.mock_server import MockServer
from guidellm.mock_server.behavior import MockServerConfig

GUIDELLM = [sys.executable, "-m", "guidellm"]


@pytest.fixture(scope="module")
def slow_server() -> Iterator[str]:
    """~1 s per request: runs are still going when the test signals them."""
    server = MockServer(MockServerConfig(ttft_ms=20, itl_ms=30, output_tokens=32))
    url = server.start_process()
    try:
        yield url
    finally:
        server.stop()


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["GUIDELLM_DISABLE_PLUGINS"] = ""
    env.pop("GUIDELLM_WORKERS", None)
    return env


def _start(args: list[str], tmp_path: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*GUIDELLM, "run", *args],
        cwd=tmp_path,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for_results(journal: Path, count: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if count_results(journal) >= count:
            return
        time.sleep(0.1)
    raise AssertionError(f"{journal} did not get {count} results within {timeout} s")


def test_sigint_writes_outputs_and_counts_incomplete(slow_server: str, tmp_path: Path) -> None:
    out_json, out_csv = tmp_path / "r.json", tmp_path / "r.csv"
    proc = _start(
        [
            "--target",
            slow_server,
            "--profile",
            "concurrent",
            "--rate",
            "6",
            "--max-seconds",
            "60",
            "--data",
            "prompt_tokens=16,output_tokens=32",
            "--output",
            str(out_json),
            "--output",
            str(out_csv),
            "--disable-progress",
        ],
        tmp_path,
    )
    try:
        # Wait until requests have completed (the journal flushes once a second).
        _wait_for_results(tmp_path / "r.journal", 6)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    report = json.loads(out_json.read_text())
    (bench,) = report["benchmarks"]
    assert bench["requests"]["successful"] >= 6
    # Six streams were mid-request when Ctrl-C came: each ends as incomplete, none lost.
    assert bench["requests"]["incomplete"] == 6
    assert bench["errors"].get("cancelled") == 6
    assert bench["client"]["stop_reason"] == "interrupted"
    assert out_csv.read_text().count("\n") >= 2
    assert "Ctrl-C" in err


def test_sigterm_exits_143_with_outputs(slow_server: str, tmp_path: Path) -> None:
    out_json = tmp_path / "t.json"
    proc = _start(
        [
            "--target",
            slow_server,
            "--profile",
            "constant",
            "--rate",
            "5",
            "--max-seconds",
            "60",
            "--output",
            str(out_json),
            "--disable-console-outputs",
        ],
        tmp_path,
    )
    try:
        _wait_for_results(tmp_path / "t.journal", 2)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 143, err
    (bench,) = json.loads(out_json.read_text())["benchmarks"]
    assert bench["requests"]["successful"] >= 2
    assert bench["requests"]["incomplete"] >= 1


def test_sigkill_leaves_a_journal_that_rebuilds(slow_server: str, tmp_path: Path) -> None:
    journal = tmp_path / "k.jsonl"
    proc = _start(
        [
            "--target",
            slow_server,
            "--profile",
            "concurrent",
            "--rate",
            "4",
            "--max-seconds",
            "60",
            "--journal",
            str(journal),
            "--disable-console-outputs",
        ],
        tmp_path,
    )
    try:
        _wait_for_results(journal, 8)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    report = rebuild_report(journal)
    (bench,) = report.benchmarks
    assert bench.requests.successful >= 8
    assert bench.metrics.time_to_first_token_ms.successful.median is not None
    assert report.config["profile"] == "concurrent"
    assert report.resolved["profile"]["type"] == "concurrent"
    # The killed run's workers noticed their parent was gone and exited.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        ps = subprocess.run(
            ["ps", "-o", "ppid=", "-A"], capture_output=True, text=True, check=False
        )
        if str(proc.pid) not in ps.stdout.split():
            break
        time.sleep(0.2)
    else:
        raise AssertionError("worker processes outlived their killed parent")


def test_no_target_runs_the_mock_server(tmp_path: Path) -> None:
    out = tmp_path / "m.json"
    proc = subprocess.run(
        [
            *GUIDELLM,
            "run",
            "--profile",
            "synchronous",
            "--max-requests",
            "3",
            "--data",
            "prompt_tokens=8,output_tokens=4",
            "--output",
            str(out),
            "--disable-progress",
        ],
        cwd=tmp_path,
        check=False,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "built-in mock server" in proc.stderr
    (bench,) = json.loads(out.read_text())["benchmarks"]
    assert bench["requests"]["successful"] == 3


def test_benchmark_run_alias_and_scenario(slow_server: str, tmp_path: Path) -> None:
    scenario = tmp_path / "s.yaml"
    scenario.write_text(
        f"target: {slow_server}\nprofile: concurrent\nrate: [2]\nmax_requests: 2\n"
        "data: prompt_tokens=8,output_tokens=2\n"
    )
    out = tmp_path / "a.json"
    proc = subprocess.run(
        [
            *GUIDELLM,
            "benchmark",
            "run",
            "--scenario",
            str(scenario),
            "--max-requests",
            "4",
            "--output",
            str(out),
            "--disable-console-outputs",
        ],
        cwd=tmp_path,
        check=False,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    (bench,) = json.loads(out.read_text())["benchmarks"]
    assert bench["strategy"] == {"type": "concurrent", "streams": 2}
    assert bench["requests"]["successful"] == 4  # the flag won over the scenario's 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--profile", "constant"], "needs --rate"),
        (["--profile", "nope"], "Unknown profile 'nope'"),
        (["--rate", "x"], "--rate: 'x' is not a number"),
        (["--max-seconds", "-1"], "--max-seconds"),
        (["--output", "r.docx"], "unknown report format"),
        (["--target", "http://127.0.0.1:9"], ""),
        (["--target", "ftp://x"], "no backend handles 'ftp'"),
        (["--scenario", "missing.yaml"], "--scenario"),
    ],
)
def test_bad_input_one_line_exit_2(tmp_path: Path, args: list[str], message: str) -> None:
    proc = subprocess.run(
        [*GUIDELLM, "run", "--max-requests", "1", *args],
        cwd=tmp_path,
        check=False,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.startswith("guidellm: error")]
    assert len(lines) == 1 and message in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr
    assert not list(tmp_path.glob("*.jsonl"))


def test_ctrl_c_to_the_process_group_with_the_mock_server(tmp_path: Path) -> None:
    """A terminal's Ctrl-C reaches every process of the group: the built-in mock server must
    live on until the in-flight requests are cancelled, so they end incomplete, not failed."""
    out = tmp_path / "g.json"
    proc = subprocess.Popen(
        [
            *GUIDELLM, "run", "--profile", "concurrent", "--rate", "4", "--max-seconds", "60",
            "--output", str(out), "--disable-progress",
        ],
        cwd=tmp_path, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True,
    )  # fmt: skip
    try:
        _wait_for_results(tmp_path / "g.journal", 4)
        os.killpg(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, err
    (bench,) = json.loads(out.read_text())["benchmarks"]
    assert bench["requests"]["incomplete"] == 4
    assert bench["requests"]["errored"] == 0, bench["errors"]


def test_second_ctrl_c_exits_at_once(slow_server: str, tmp_path: Path) -> None:
    proc = _start(
        [
            "--target", slow_server, "--profile", "concurrent", "--rate", "4",
            "--max-seconds", "60", "--output", str(tmp_path / "d.json"),
            "--disable-progress",
        ],
        tmp_path,
    )  # fmt: skip
    try:
        _wait_for_results(tmp_path / "d.journal", 4)
        proc.send_signal(signal.SIGINT)
        time.sleep(0.02)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    # Wherever the second Ctrl-C landed (cancelling or writing), the process left at once
    # and its workers with it.
    ps = subprocess.run(["ps", "-o", "ppid=", "-A"], capture_output=True, text=True, check=False)
    assert str(proc.pid) not in ps.stdout.split()


def test_a_worker_killed_mid_run_ends_the_run_with_what_was_measured(
    slow_server: str, tmp_path: Path
) -> None:
    out = tmp_path / "w.json"
    proc = _start(
        [
            "--target", slow_server, "--profile", "concurrent", "--rate", "4",
            "--max-seconds", "60", "--output", str(out), "--disable-progress", "--workers", "2",
        ],
        tmp_path,
    )  # fmt: skip
    try:
        _wait_for_results(tmp_path / "w.journal", 4)
        children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
        workers = [
            int(c) for c in children
            if "guidellm" in Path(f"/proc/{c}/cmdline").read_text()
            and "mock_server" not in Path(f"/proc/{c}/cmdline").read_text()
        ]  # fmt: skip
        assert len(workers) == 2
        os.kill(workers[0], signal.SIGKILL)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 1, err
    assert "worker" in err and "Traceback" not in err
    (bench,) = json.loads(out.read_text())["benchmarks"]
    assert bench["requests"]["successful"] >= 4
    # The surviving worker's two streams were cancelled and counted.
    assert bench["requests"]["incomplete"] >= 2
    assert bench["client"]["stop_reason"].startswith("worker failed")
