"""Run a real server as a child process for a test: free port, readiness wait, loud failure.

Every real-server helper (llama-server here, Triton and MLServer in ``grpc_servers.py``) needs
the same four things, so they live in one place:

* a free loopback port (bind port 0; the tiny race until the server binds is handled by a retry
  in the caller when the log says the address is in use);
* a bounded wait for readiness that notices at once when the process dies;
* a failure that explains itself: the command, the exit code, the tail of the log and the
  command that installs the server, because "connection refused" in a test teaches nothing;
* a stop by PID (terminate, then kill), never by process name.

Only the standard library is used, so importing this costs nothing.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType

__all__ = [
    "SETUP_SCRIPT",
    "ServerProcess",
    "TestServerError",
    "cache_dir",
    "free_port",
    "http_ok",
    "log_tail",
]

#: the script that installs every real test server (relative to the repository root)
SETUP_SCRIPT = "scripts/test-servers/setup.sh"


class TestServerError(RuntimeError):
    """A real test server could not be found or started; the message says why and how to fix."""

    __test__ = False  # not a test class, whatever pytest's name-based collection thinks


def cache_dir() -> Path:
    """Where ``setup.sh`` installs servers and models: outside the checkout, shared by runs."""
    env = os.environ.get("GUIDELLM_TEST_SERVERS")
    return Path(env) if env else Path.home() / ".cache" / "guidellm-test-servers"


def free_port(host: str = "127.0.0.1") -> int:
    """Return a port that was free on ``host`` a moment ago (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def http_ok(url: str, timeout: float = 2.0) -> bool:
    """True when ``GET url`` answers 2xx; any error (refused, 503 while loading) is False."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return 200 <= int(response.status) < 300
    except (OSError, urllib.error.URLError):
        return False


def log_tail(path: Path, lines: int = 30) -> str:
    """The last ``lines`` lines of a log file, or a note that it is missing."""
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        return f"(no log at {path}: {exc})"
    return "\n".join(text.splitlines()[-lines:])


class ServerProcess:
    """One server child process with its log file; start, wait until ready, stop by PID.

    ``ready`` is called repeatedly until it returns True or ``timeout`` seconds pass; the
    process dying meanwhile fails at once. Use as a context manager or call ``stop()``.
    """

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        log_path: Path,
        *,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        setup_hint: str = SETUP_SCRIPT,
    ) -> None:
        self.name = name
        self.argv = [str(a) for a in argv]
        self.log_path = log_path
        self.env = dict(env) if env is not None else None
        self.cwd = cwd
        self.setup_hint = setup_hint
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        """The child's PID while it runs."""
        return self._proc.pid if self._proc is not None else None

    def start(self) -> None:
        """Spawn the process, its stdout and stderr going to ``log_path``."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("wb") as log:
            self._proc = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env,
                cwd=self.cwd,
                # its own process group, so a stop never reaches pytest and Ctrl-C is ours
                start_new_session=True,
            )

    def wait_ready(self, ready: Callable[[], bool], timeout: float) -> float:
        """Poll ``ready`` until True; return the seconds it took. Fails loudly otherwise."""
        if self._proc is None:
            raise TestServerError(f"{self.name}: wait_ready() before start()")
        t0 = time.monotonic()
        deadline = t0 + timeout
        while time.monotonic() < deadline:
            code = self._proc.poll()
            if code is not None:
                raise self.failure(f"exited with code {code} before it was ready")
            if ready():
                return time.monotonic() - t0
            time.sleep(0.1)
        self.stop()
        raise self.failure(f"was not ready after {timeout:.0f} s")

    def failure(self, what: str) -> TestServerError:
        """An error naming the command, the log tail and the setup command."""
        return TestServerError(
            f"{self.name} {what}.\n"
            f"command: {shlex.join(self.argv)}\n"
            f"log ({self.log_path}), last lines:\n{log_tail(self.log_path)}\n"
            f"If the server is missing or broken, install it with: {self.setup_hint}"
        )

    def stop(self, timeout: float = 10.0) -> None:
        """Terminate the process by PID (SIGTERM, then SIGKILL after ``timeout`` s)."""
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=timeout)

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
