"""``guidellm mock-server --protocol grpc``: the CLI serves KServe v2 gRPC on a free port."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys

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
