"""guidellm.testing.process: the server-process helper fails loudly and stops what it started.

Real child processes (the running Python), real sockets: the helper is what every real-server
fixture relies on to turn "connection refused" into a message that says what went wrong.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from guidellm.testing.process import ServerProcess, TestServerError, free_port, http_ok

REPO = Path(__file__).resolve().parents[2]


def python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_free_port_can_be_bound() -> None:
    port = free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))


def test_a_process_that_dies_fails_at_once_with_its_log(tmp_path: Path) -> None:
    proc = ServerProcess(
        "dying-server",
        python("import sys; print('model file is corrupt'); sys.exit(3)"),
        tmp_path / "dying.log",
        setup_hint="scripts/test-servers/setup.sh thing",
    )
    proc.start()
    t0 = time.monotonic()
    with pytest.raises(TestServerError) as info:
        proc.wait_ready(lambda: False, timeout=30)
    assert time.monotonic() - t0 < 10  # noticed the exit, did not wait for the timeout
    message = str(info.value)
    assert "dying-server exited with code 3" in message
    assert "model file is corrupt" in message  # the log tail
    assert "scripts/test-servers/setup.sh thing" in message  # the fix
    assert sys.executable in message  # the command


def test_a_server_that_never_gets_ready_times_out_and_is_stopped(tmp_path: Path) -> None:
    proc = ServerProcess("slow-server", python("import time; time.sleep(60)"), tmp_path / "s.log")
    proc.start()
    pid = proc.pid
    assert pid is not None
    with pytest.raises(TestServerError, match=r"slow-server was not ready after 1 s"):
        proc.wait_ready(lambda: False, timeout=1)
    assert not alive(pid)


def test_ready_server_answers_and_stop_ends_it(tmp_path: Path) -> None:
    port = free_port()
    argv = [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"]
    with ServerProcess("http.server", argv, tmp_path / "h.log", cwd=tmp_path) as proc:
        proc.start()
        took = proc.wait_ready(lambda: http_ok(f"http://127.0.0.1:{port}/"), timeout=30)
        assert took >= 0
        pid = proc.pid
        assert pid is not None
        assert http_ok(f"http://127.0.0.1:{port}/")
    assert not alive(pid)
    assert not http_ok(f"http://127.0.0.1:{port}/", timeout=1)


def test_stop_kills_a_process_that_ignores_sigterm(tmp_path: Path) -> None:
    code = (
        "import signal, time, sys; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        "print('ready', flush=True); time.sleep(60)"
    )
    log = tmp_path / "stubborn.log"
    proc = ServerProcess("stubborn", python(code), log)
    proc.start()
    proc.wait_ready(lambda: "ready" in log.read_text(), timeout=30)
    pid = proc.pid
    assert pid is not None
    proc.stop(timeout=0.5)
    assert not alive(pid)


def test_setup_script_rejects_an_unknown_component(tmp_path: Path) -> None:
    result = subprocess.run(
        [str(REPO / "scripts/test-servers/setup.sh"), "no-such-server"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "GUIDELLM_TEST_SERVERS": str(tmp_path)},
        check=False,
    )
    assert result.returncode == 2
    assert "unknown component 'no-such-server'" in result.stderr
    assert "llama" in result.stderr  # lists what exists
