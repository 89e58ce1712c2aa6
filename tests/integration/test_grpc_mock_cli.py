"""``guidellm mock-server --protocol grpc``: the CLI serves KServe v2 gRPC on a free port."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys

import pytest
import uvloop

from guidellm.backends.grpc_kserve import GRPCKServeBackend
from guidellm.request import GenerationRequest, ResponseRecorder, now


async def _one(target: str) -> tuple[str | None, int, str]:
    backend = GRPCKServeBackend(target, None)
    await backend.startup(1)
    try:
        await backend.validate()
        request = GenerationRequest("cli", prompt="x", max_tokens=5)
        recorder = ResponseRecorder(request, now())
        recorder.start()
        await backend.resolve(request, recorder)
        return backend.model, recorder.content_chunks, backend.dialect
    finally:
        await backend.shutdown()


def test_mock_server_cli_grpc_mode() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "guidellm", "mock-server", "--protocol", "grpc",
         "--grpc-dialect", "mlserver", "--port", "0", "--ttft-ms", "5", "--itl-ms", "1",
         "--model", "cli-model"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], 30)
        assert ready, "the gRPC mock server printed no target within 30 s"
        target = proc.stdout.readline().strip()
        assert target.startswith("grpc://127.0.0.1:"), target
        model, chunks, dialect = uvloop.run(_one(target))
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        proc.wait(10)
    assert (model, chunks, dialect) == ("cli-model", 5, "mlserver")
    assert proc.returncode == 0


def test_grpc_mock_process_has_its_own_session_and_stops_by_pid() -> None:
    from guidellm.mock_server.grpc_server import GRPCMockServer

    server = GRPCMockServer()
    target = server.start_process()
    pid = server.pid
    try:
        assert target.startswith("grpc://127.0.0.1:"), target
        assert pid is not None and os.getsid(pid) != os.getsid(0)  # Ctrl-C reaches the parent
    finally:
        server.stop()
    assert server.target is None and server.pid is None
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_grpc_mock_busy_port_is_one_user_error_in_both_modes() -> None:
    from guidellm.errors import UserError
    from guidellm.mock_server.grpc_server import GRPCMockServer

    first = GRPCMockServer()
    target = first.start_thread()
    port = int(target.rsplit(":", 1)[1])
    try:
        with pytest.raises(UserError) as thread_err:
            GRPCMockServer(port=port).start_thread()
        assert str(thread_err.value).startswith("The gRPC mock server cannot listen on"), str(
            thread_err.value
        )
        with pytest.raises(UserError, match=r"^The gRPC mock server cannot listen on"):
            GRPCMockServer(port=port).start_process()
    finally:
        first.stop()


def test_grpc_mock_cli_busy_port_exits_2_with_one_line() -> None:
    from guidellm.mock_server.grpc_server import GRPCMockServer

    first = GRPCMockServer()
    port = first.start_thread().rsplit(":", 1)[1]
    try:
        done = subprocess.run(
            [sys.executable, "-m", "guidellm", "mock-server", "--protocol", "grpc",
             "--port", port],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
    finally:
        first.stop()
    assert done.returncode == 2, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.startswith("guidellm")]
    assert len(lines) == 1 and "cannot listen" in lines[0], done.stderr
    assert "Traceback" not in done.stderr
