"""A server in a child process: started apart, ready within a bound, stopped by PID.

The mock servers (``MockServer.start_process()``, ``GRPCMockServer``) and the real servers
the tests run (llama-server, Triton, MLServer in :mod:`guidellm.testing`) share one life
cycle, held here:

* the child runs in a session of its own: Ctrl-C in a terminal reaches the parent only, which
  then stops the server when *it* is done, and a stop never reaches the parent;
* the wait for readiness is bounded and notices at once when the child dies;
* a failure says what happened (:meth:`ServerProcess.failure`, specialised by each kind);
* the stop is by PID (SIGTERM, then SIGKILL), then whatever the child left in its process
  group, never by process name.

Standard library only, so importing it costs nothing.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from subprocess import Popen
from types import TracebackType
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = ["ServerProcess"]


class ServerProcess:
    """One server child process: :meth:`start`, :meth:`wait_ready`, :meth:`stop`.

    With ``log_path`` the child's stdout and stderr go to that file. Without, the child talks
    through pipes: it announces itself on its stdout (read with :meth:`read_line`), keeps the
    parent's stderr, and its stdin is a pipe it can watch to exit when the parent dies.
    """

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        log_path: Path | None = None,
        *,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.name = name
        self.argv = [str(a) for a in argv]
        self.log_path = log_path
        self.env = dict(env) if env is not None else None
        self.cwd = cwd
        self._proc: Popen[str] | None = None
        self._eof = False

    @property
    def pid(self) -> int | None:
        """The child's PID while it runs."""
        return self._proc.pid if self._proc is not None else None

    def start(self) -> None:
        """Spawn the child (in a session of its own)."""
        self._eof = False
        if self.log_path is None:
            self._proc = self._spawn(subprocess.PIPE, subprocess.PIPE, None)
            return
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("wb") as log:
            self._proc = self._spawn(subprocess.DEVNULL, log, subprocess.STDOUT)

    def _spawn(self, stdin: int, stdout: int | IO[Any], stderr: int | None) -> Popen[str]:
        return subprocess.Popen(
            self.argv,
            stdin=stdin,
            stdout=stdout,
            stderr=stderr,
            env=self.env,
            cwd=self.cwd,
            text=True,
            close_fds=True,
            start_new_session=True,
        )

    def wait_ready(self, ready: Callable[[], bool], timeout: float) -> float:
        """Call ``ready`` until it returns True; return the seconds that took.

        The child exiting first, ``ready`` raising, or ``timeout`` passing stops the child and
        raises (:meth:`failure`, or what ``ready`` raised). Between two calls it sleeps a
        tenth of a second, or less when the child writes to its stdout pipe.
        """
        proc = self._proc
        if proc is None:
            raise self.failure("was waited for before start()")
        t0 = time.monotonic()
        deadline = t0 + timeout
        while (remaining := deadline - time.monotonic()) > 0:
            code = proc.poll()
            try:
                if code is not None:
                    raise self.failure(f"exited with code {code} before it was ready")
                if ready():
                    return time.monotonic() - t0
            except BaseException:
                self.stop()
                raise
            self._pause(min(0.1, remaining))
        error = self.failure(f"was not ready after {timeout:g} s")
        self.stop()
        raise error

    def _pause(self, seconds: float) -> None:
        stdout = self._proc.stdout if self._proc is not None else None
        if stdout is None or stdout.closed or self._eof:
            time.sleep(seconds)
        else:
            select.select([stdout], [], [], seconds)

    def read_line(self) -> str | None:
        """A line the child wrote to its stdout pipe, without waiting for one to come;
        ``None`` when none has (or there is no pipe)."""
        stdout = self._proc.stdout if self._proc is not None else None
        if stdout is None or stdout.closed or not select.select([stdout], [], [], 0)[0]:
            return None
        line = stdout.readline()
        if not line:
            self._eof = True  # the child closed its output: it is exiting
        return line or None

    def failure(self, what: str) -> Exception:
        """The error raised when the child ``what`` ("exited with code 1 before it was
        ready"); kinds of server override it to say more (a log tail, a fix)."""
        return RuntimeError(f"{self.name} {what}")

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the child by PID (SIGTERM, then SIGKILL after ``timeout`` s), then SIGKILL
        what is left of its process group (servers that start helpers of their own); close
        the pipes. Safe to call twice."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, signal.SIGKILL)
                proc.wait(timeout=timeout)
        # The child led a session of its own, so its group id is its PID.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        for stream in (proc.stdin, proc.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
