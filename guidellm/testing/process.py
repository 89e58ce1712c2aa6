"""Run a real server as a child process for a test: free port, readiness wait, loud failure.

Every real-server helper (llama-server in ``llama.py``, Triton and MLServer in
``grpc_servers.py``) runs on :class:`ServerProcess`: the life cycle the mock servers use too
(:class:`guidellm.server_process.ServerProcess`: a session of its own, a bounded wait for
readiness that notices at once when the process dies, a stop by PID), plus what a test needs:

* a free loopback port (bind port 0); :class:`RealServer` retries on fresh ports when the log
  says a port was taken in the moment before the server bound it;
* a failure that explains itself: the command, the exit code, the tail of the log and the
  command that installs the server, because "connection refused" in a test teaches nothing.

Only the standard library is used, so importing this costs nothing.
"""

from __future__ import annotations

import abc
import os
import shlex
import socket
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from guidellm import server_process

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = [
    "SETUP_SCRIPT",
    "RealServer",
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


class ServerProcess(server_process.ServerProcess):
    """One real server's child process with its log file; its failures are
    :class:`TestServerError` with the command, the log tail and ``setup_hint``.

    ``ready`` (of :meth:`wait_ready`) is called repeatedly until it returns True or ``timeout``
    seconds pass; the process dying meanwhile fails at once. Use as a context manager or call
    ``stop()``.
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
        super().__init__(name, argv, log_path, env=env, cwd=cwd)
        self.log_path: Path = log_path
        self.setup_hint = setup_hint

    def failure(self, what: str) -> TestServerError:
        """An error naming the command, the log tail and the setup command."""
        return TestServerError(
            f"{self.name} {what}.\n"
            f"command: {shlex.join(self.argv)}\n"
            f"log ({self.log_path}), last lines:\n{log_tail(self.log_path)}\n"
            f"If the server is missing or broken, install it with: {self.setup_hint}"
        )


class RealServer(abc.ABC):
    """A real server for tests on free loopback ports, started with :meth:`start` (which
    retries on fresh ports when one was lost to a race) and stopped by PID.

    A kind of server says how to launch it on fresh ports (:meth:`_launch`: its
    :class:`ServerProcess` and its readiness check) and what its log says when a port was
    taken (:attr:`port_taken`).
    """

    #: Lower-case log fragments meaning "the port was taken": start again on fresh ports.
    port_taken: tuple[str, ...] = ("address already in use", "couldn't bind", "failed to bind")

    def __init__(self, log_dir: Path | None, timeout: float) -> None:
        self.log_dir = log_dir or cache_dir() / "logs"
        self.timeout = timeout
        #: Seconds the last start took until the server was ready.
        self.startup_seconds = 0.0
        self.process: ServerProcess | None = None

    @property
    def pid(self) -> int | None:
        """The server's PID while it runs."""
        return self.process.pid if self.process is not None else None

    @property
    def log_path(self) -> Path | None:
        """The server's log file (stdout and stderr) once started."""
        return self.process.log_path if self.process is not None else None

    @abc.abstractmethod
    def _launch(self) -> tuple[ServerProcess, Callable[[], bool]]:
        """Pick fresh ports and return the (not yet started) process and its readiness check."""

    def start(self, attempts: int = 3) -> Self:
        """Start on free ports and wait until ready; raise :class:`TestServerError` (with the
        log tail) when it cannot start."""
        last: TestServerError | None = None
        for _ in range(attempts):
            process, ready = self._launch()
            process.start()
            try:
                self.startup_seconds = process.wait_ready(ready, self.timeout)
            except TestServerError as exc:  # wait_ready stopped it
                last = exc
                try:
                    log = process.log_path.read_text(errors="replace").lower()
                except OSError:
                    log = ""
                if any(marker in log for marker in self.port_taken):
                    continue
                raise
            self.process = process
            return self
        assert last is not None
        raise last

    def stop(self) -> None:
        """Stop the server by PID, then whatever it started in its process group; safe to
        call twice."""
        process, self.process = self.process, None
        if process is not None:
            process.stop()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
