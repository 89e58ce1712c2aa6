"""Real KServe-v2 gRPC servers for tests: NVIDIA Triton (via nvidia-pytriton) and MLServer.

``scripts/test-servers/setup-grpc.sh`` installs both into venvs in the cache
(:func:`guidellm.testing.process.cache_dir`); the model code they run lives in
``scripts/test-servers/grpc/``. Each server starts on free loopback ports, is ready when its
HTTP side says the model is ready, and is stopped by PID::

    with TritonServer().start() as server:      # server.target == "grpc://127.0.0.1:<port>"
        ...                                     # server.model == "toy_llm"

Session fixtures (enable with ``pytest_plugins = ["guidellm.testing.grpc_servers"]``):

* ``triton_server``: Triton 2.x serving the decoupled ``toy_llm`` (one response per token,
  `` tok<i>``, wrapper dialect, BYTES in ``raw_output_contents``) and ``vllm_like`` (the
  signature of Triton's vLLM backend: ``stream`` and ``sampling_parameters`` inputs).
* ``mlserver_server``: MLServer 1.7.1 serving ``tiny`` (bare-response dialect, one `` w<i>``
  token per response plus a running ``completion_tokens`` count).

A server that cannot start fails the test with its log tail and the setup command.
"""

from __future__ import annotations

import abc
import functools
import json
import os
import sysconfig
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from guidellm.testing.process import (
    RealServer,
    ServerProcess,
    TestServerError,
    cache_dir,
    free_port,
    http_ok,
)
from guidellm.testing.pytest_plugin import REALSERVER_FIXTURES

__all__ = ["MLServerServer", "TritonServer", "mlserver_server", "triton_server"]

SETUP_GRPC = "scripts/test-servers/setup-grpc.sh"
#: the model code the servers run; next to setup-grpc.sh in the checkout
SCRIPTS = Path(__file__).resolve().parents[2] / "scripts" / "test-servers" / "grpc"

REALSERVER_FIXTURES.update({"triton_server", "mlserver_server"})


def _all_ok(urls: tuple[str, ...]) -> bool:
    return all(http_ok(url) for url in urls)


def _venv_python(name: str, component: str) -> Path:
    python = cache_dir() / name / "bin" / "python"
    if not python.exists():
        raise TestServerError(
            f"{python} not found: the {component} test server is not installed. "
            f"Install it with: {SETUP_GRPC} {component}"
        )
    return python


def _lib_dir(python: Path) -> str:
    """The lib dir of the interpreter a venv was made from (pyenv Pythons need it for Triton's
    Python backend stub, which links libpython)."""
    cfg = python.parent.parent / "pyvenv.cfg"
    home = ""
    if cfg.exists():
        for line in cfg.read_text().splitlines():
            key, _, value = line.partition("=")
            if key.strip() == "home":
                home = value.strip()
    if home:
        return str(Path(home).parent / "lib")
    return str(sysconfig.get_config_var("LIBDIR") or "")


class _GRPCServer(RealServer):
    """A KServe v2 server on free gRPC and HTTP ports, ready when its HTTP side says every
    model it loads is ready."""

    name = "grpc-server"
    model = ""
    models: tuple[str, ...] = ()

    def __init__(self, log_dir: Path | None = None, timeout: float = 120.0) -> None:
        super().__init__(log_dir, timeout)
        self.grpc_port = 0
        self.http_port = 0
        self.metrics_port = 0

    @property
    def target(self) -> str:
        """``grpc://127.0.0.1:<port>`` for ``--target``."""
        return f"grpc://127.0.0.1:{self.grpc_port}"

    @property
    def metrics_url(self) -> str:
        """The server's Prometheus endpoint, for ``--server-metrics``."""
        return f"http://127.0.0.1:{self.metrics_port}/metrics"

    def _launch(self) -> tuple[ServerProcess, Callable[[], bool]]:
        self.grpc_port, self.http_port = free_port(), free_port()
        self.metrics_port = free_port()
        base = f"http://127.0.0.1:{self.http_port}/v2"
        # every model the server loads (it reports ready between two model loads)
        urls = (*(f"{base}/models/{m}/ready" for m in self.models), f"{base}/health/ready")
        return self._process(), functools.partial(_all_ok, urls)

    @abc.abstractmethod
    def _process(self) -> ServerProcess:
        """The server's command line, per server kind (ports already chosen)."""


class TritonServer(_GRPCServer):
    """NVIDIA Triton from nvidia-pytriton with the decoupled ``toy_llm`` model."""

    name = "triton"
    model = "toy_llm"
    models = ("toy_llm", "vllm_like")

    def __init__(self, log_dir: Path | None = None, timeout: float = 120.0, itl_ms: float = 5.0):
        super().__init__(log_dir, timeout)
        self.itl_ms = itl_ms

    def _process(self) -> ServerProcess:
        python = _venv_python("venv-pytriton", "triton")
        env = dict(os.environ)
        lib = _lib_dir(python)
        env["LD_LIBRARY_PATH"] = ":".join(p for p in (lib, env.get("LD_LIBRARY_PATH", "")) if p)
        # keep pytriton's workspace out of the user's home when tests run in parallel
        env.setdefault("PYTRITON_HOME", str(self.log_dir / "pytriton-home"))
        argv = [
            str(python),
            str(SCRIPTS / "triton_server.py"),
            "--grpc-port",
            str(self.grpc_port),
            "--http-port",
            str(self.http_port),
            "--metrics-port",
            str(self.metrics_port),
            "--model",
            self.model,
            "--itl-ms",
            str(self.itl_ms),
        ]
        return ServerProcess(
            "triton",
            argv,
            self.log_dir / f"triton-{self.grpc_port}.log",
            env=env,
            setup_hint=f"{SETUP_GRPC} triton",
        )


class MLServerServer(_GRPCServer):
    """Seldon MLServer 1.7.1 with a runtime that streams tokens itself (model ``tiny``)."""

    name = "mlserver"
    model = "tiny"
    models = ("tiny",)

    def __init__(self, log_dir: Path | None = None, timeout: float = 120.0, itl_ms: float = 5.0):
        super().__init__(log_dir, timeout)
        self.itl_ms = itl_ms

    def _process(self) -> ServerProcess:
        python = _venv_python("venv-mlserver", "mlserver")
        root = self.log_dir / f"mlserver-{self.grpc_port}"
        model_dir = root / self.model
        model_dir.mkdir(parents=True, exist_ok=True)
        settings = {
            "debug": False,
            "host": "127.0.0.1",
            "http_port": self.http_port,
            "grpc_port": self.grpc_port,
            "metrics_port": self.metrics_port,
            "parallel_workers": 0,
        }
        (root / "settings.json").write_text(json.dumps(settings))
        tensor = {"shape": [1], "parameters": {}}
        model_settings = {
            "name": self.model,
            "implementation": "mlserver_runtime.TokenStreamRuntime",
            "inputs": [
                {"name": "text_input", "datatype": "BYTES", **tensor},
                {"name": "max_tokens", "datatype": "INT32", **tensor},
            ],
            "outputs": [
                {"name": "text_output", "datatype": "BYTES", **tensor},
                {"name": "completion_tokens", "datatype": "INT32", **tensor},
            ],
            "parameters": {"extra": {"itl_ms": self.itl_ms}},
        }
        (model_dir / "model-settings.json").write_text(json.dumps(model_settings))
        env = dict(os.environ)
        env["PYTHONPATH"] = ":".join(p for p in (str(SCRIPTS), env.get("PYTHONPATH", "")) if p)
        argv = [str(python.parent / "mlserver"), "start", str(root)]
        return ServerProcess(
            "mlserver",
            argv,
            self.log_dir / f"mlserver-{self.grpc_port}.log",
            env=env,
            cwd=root,
            setup_hint=f"{SETUP_GRPC} mlserver",
        )


def _session_server(server: _GRPCServer) -> Iterator[_GRPCServer]:
    try:
        server.start()
    except TestServerError as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def triton_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[_GRPCServer]:
    """A real Triton (decoupled ``toy_llm``) on free loopback ports for the session."""
    yield from _session_server(TritonServer(log_dir=tmp_path_factory.mktemp("triton")))


@pytest.fixture(scope="session")
def mlserver_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[_GRPCServer]:
    """A real MLServer (``tiny``, bare-response stream dialect) for the session."""
    yield from _session_server(MLServerServer(log_dir=tmp_path_factory.mktemp("mlserver")))
