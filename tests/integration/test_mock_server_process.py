"""Process mode and the ``guidellm mock-server`` command: real child processes, stopped by PID."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import httpx
import pytest

from guidellm.mock_server import MockServer, MockServerConfig


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _wait_gone(pid: int, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.05)
    return False


def test_process_mode_starts_serves_and_stops_by_pid() -> None:
    server = MockServer(MockServerConfig(ttft_ms=1, itl_ms=1, model="proc-model"))
    url = server.start_process()
    pid = server.pid
    assert pid is not None and pid != os.getpid() and _alive(pid)
    assert os.getsid(pid) != os.getsid(0)  # Ctrl-C in a terminal reaches the parent only
    try:
        with httpx.Client(base_url=url) as client:
            assert client.get("/v1/models").json()["data"][0]["id"] == "proc-model"
            answer = client.post("/v1/completions", json={"prompt": "x", "max_tokens": 4})
            assert answer.json()["usage"]["completion_tokens"] == 4
    finally:
        server.stop()
    assert server.url is None
    assert _wait_gone(pid)
    with pytest.raises(httpx.ConnectError):
        httpx.get(url + "/health", timeout=1)


def test_context_manager_runs_a_process() -> None:
    server = MockServer(MockServerConfig())
    with server as url:
        pid = server.pid
        assert pid is not None
        assert httpx.get(url + "/health").status_code == 200
    assert pid is not None and _wait_gone(pid)


def test_child_exits_when_its_parent_dies() -> None:
    code = (
        "import sys\n"
        "from guidellm.mock_server import MockServer\n"
        "s = MockServer()\n"
        "s.start_process()\n"
        "print(s.pid, flush=True)\n"
        "sys.stdin.read()\n"
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert parent.stdout is not None
        child = int(parent.stdout.readline())
        assert _alive(child)
        parent.kill()
        parent.wait(5)
        assert _wait_gone(child), "the orphaned mock server kept running"
    finally:
        if parent.poll() is None:
            parent.kill()
        parent.wait(5)


def test_cli_serves_until_sigterm() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "guidellm", "mock-server", "--port", "0", "--ttft-ms", "1",
         "--itl-ms", "1", "--model", "cli-model", "--reasoning-tokens", "2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        body = {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 4}
        answer = httpx.post(url + "/v1/chat/completions", json=body, timeout=5).json()
        assert answer["model"] == "cli-model"
        assert len(answer["choices"][0]["message"]["reasoning_content"].split()) == 2
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(5) == 0
        assert proc.stderr is not None
        assert "listening on" in proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--ttft-ms", "-5"], "ttft_ms must be a number >= 0"),
        (["--stall-rate", "2"], "stall_rate must be a probability"),
        (["--error-500-rate", "0.7", "--reset-rate", "0.7"], "add up to"),
        (["--output-tokens", "0"], "output_tokens must be an integer >= 1"),
        (["--port", "70000"], "--port"),
        (["--itl-ms", "fast"], "--itl-ms"),
        (["--max-concurrency", "-1"], "max_concurrency must be an integer >= 0"),
        (["--retry-after", "-1"], "pass e.g. --retry-after 1."),
        (["--protocol", "grpc", "--max-concurrency", "4"], "HTTP mock only"),
        (["--prefill-ms-per-token", "-0.5"], "prefill_ms_per_token must be a number >= 0"),
        (["--prefix-block-tokens", "0"], "prefix_block_tokens must be an integer >= 1"),
        (["--prefix-cache-blocks", "-1"], "pass e.g. --prefix-cache-blocks 1."),
        (["--protocol", "grpc", "--prefill-ms-per-token", "1"], "--prefill-ms-per-token applies"),
        (["--kv-cache-tokens", "-1"], "kv_cache_tokens must be an integer >= 0"),
        (["--protocol", "grpc", "--kv-cache-tokens", "8"], "--kv-cache-tokens applies"),
    ],
)
def test_cli_bad_values_exit_2_with_one_line(args: list[str], fragment: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "guidellm", "mock-server", "--port", "0", *args],
        check=False,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert fragment in lines[0]
    assert done.stdout == ""


def test_process_mode_reports_a_busy_port() -> None:
    with MockServer(MockServerConfig()) as url:
        port = int(url.rsplit(":", 1)[1])
        from guidellm.errors import UserError

        with pytest.raises(UserError, match="cannot listen"):
            MockServer(MockServerConfig(), port=port).start_process()
