"""guidellm.testing.grpc_servers fails loudly: a missing install names the setup command, a
server that dies shows its exit code and log tail. No real server needed."""

from __future__ import annotations

from pathlib import Path

import pytest

from guidellm.testing.grpc_servers import MLServerServer, TritonServer
from guidellm.testing.process import TestServerError


def test_missing_install_names_the_setup_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GUIDELLM_TEST_SERVERS", str(tmp_path))
    for cls, component in ((TritonServer, "triton"), (MLServerServer, "mlserver")):
        with pytest.raises(TestServerError) as info:
            cls(log_dir=tmp_path / "logs").start()
        assert f"scripts/test-servers/setup-grpc.sh {component}" in str(info.value)


def test_a_server_that_dies_reports_exit_code_and_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GUIDELLM_TEST_SERVERS", str(tmp_path))
    python = tmp_path / "venv-pytriton" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text("#!/bin/sh\necho 'tritonserver: cannot load libpython' >&2\nexit 3\n")
    python.chmod(0o755)
    server = TritonServer(log_dir=tmp_path / "logs", timeout=20)
    with pytest.raises(TestServerError) as info:
        server.start()
    message = str(info.value)
    assert "exited with code 3" in message
    assert "cannot load libpython" in message
    assert "setup-grpc.sh triton" in message
    assert server.pid is None
