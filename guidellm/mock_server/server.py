"""Start and stop a mock server: in a separate process, on a thread, or in the foreground.

``MockServer(config).start_process()`` runs ``python -m guidellm.mock_server`` as a child (its
own interpreter, its own core time, no GIL shared with the client) and returns the base URL
once the child is listening; the child also exits when its parent dies (it watches its stdin
pipe). ``start_thread()`` runs the server on a uvloop loop in a daemon thread of this process,
which is what tests want; it shares the GIL, so its timing is only as good as the rest of the
process lets it be (use a process to measure timing). Both bind a free port by default.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import json
import os
import signal
import sys
import threading
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any

from guidellm.errors import UserError
from guidellm.mock_server.behavior import MockServerConfig
from guidellm.server_process import ServerProcess

__all__ = ["MockServer", "run_foreground"]

_READY = "LISTENING "
_FAILED = "FAILED "


def _url(host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


def _new_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop

        loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
    except ImportError:  # pragma: no cover - uvloop is a dependency; stay usable without it
        loop = asyncio.new_event_loop()
    return loop


class _ChildServer(ServerProcess):
    """A mock server's child process: ready when its first stdout line is ``LISTENING ADDR``;
    ``FAILED MESSAGE`` there becomes a :class:`UserError` with that message."""

    def __init__(self, label: str, cmd: list[str]) -> None:
        super().__init__(label, cmd)
        self.address: str | None = None

    def announced(self) -> bool:
        """Whether the child said where it listens (read without waiting); its first line
        decides."""
        line = self.read_line()
        if line is None:
            return False
        if line.startswith(_READY):
            self.address = line[len(_READY) :].strip()
            return True
        if line.startswith(_FAILED):
            raise UserError(line[len(_FAILED) :].strip())
        raise self.failure(f"printed {line.strip()[:200]!r} instead of its address")

    def failure(self, what: str) -> UserError:
        line = self.read_line()  # a child that exits has usually said why
        if line is not None and line.startswith(_FAILED):
            return UserError(line[len(_FAILED) :].strip())
        return UserError(f"The {self.name} process {what}; run 'guidellm mock-server' to see why.")


class LoopThread:
    """A server coroutine on a fresh uvloop loop in a daemon thread (the mocks' thread mode).

    ``serve(ready, stop)`` sets ``ready`` once it listens and returns after ``stop`` is set.
    ``new_loop`` makes the loop (uvloop by default; grpc.aio wants asyncio's own).
    """

    def __init__(
        self,
        serve: Callable[[threading.Event, asyncio.Event], Awaitable[None]],
        name: str,
        new_loop: Callable[[], asyncio.AbstractEventLoop] = _new_loop,
    ) -> None:
        self.name = name
        self._serve = serve
        self._new_loop = new_loop
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None

    def start(self, timeout: float) -> None:
        """Start and wait until the server listens; a failure stops the thread and raises
        :class:`UserError` (the server's own one unwrapped)."""
        ready = threading.Event()
        failure: list[BaseException] = []

        async def main() -> None:
            self._stop = asyncio.Event()
            await self._serve(ready, self._stop)

        def run() -> None:
            loop = self._new_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(main())
            except BaseException as exc:
                failure.append(exc)
            finally:
                ready.set()
                loop.close()

        self._thread = threading.Thread(target=run, name=self.name, daemon=True)
        self._thread.start()
        if ready.wait(timeout) and not failure:
            return
        self.stop()
        if failure and isinstance(failure[0], UserError):
            raise failure[0]
        if failure:
            raise UserError(f"The {self.name} could not start: {failure[0]}") from failure[0]
        raise UserError(f"The {self.name} thread did not start within {timeout:g}s.")

    def stop(self, timeout: float = 5.0) -> None:
        """Set the stop event from outside the loop and wait for the thread."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        loop, event = self._loop, self._stop
        if loop is not None and event is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(event.set)
        thread.join(timeout)


def stop_on_stdin_eof(loop: asyncio.AbstractEventLoop, stop: asyncio.Event) -> None:
    """Set ``stop`` when stdin reaches EOF: a child started with a stdin pipe exits when its
    parent dies, even by SIGKILL."""

    def on_stdin() -> None:
        try:
            data = os.read(0, 4096)
        except OSError:
            data = b""
        if not data:
            loop.remove_reader(0)
            stop.set()

    loop.add_reader(0, on_stdin)


class ServerRunner(abc.ABC):
    """The life cycle both mock servers share: a child process (a
    :class:`~guidellm.server_process.ServerProcess`, as the real test servers use) or a loop
    thread, started once, stopped by PID or by stopping the loop. ``address`` is where it
    listens."""

    #: Shown in start-up errors ("mock server did not start ...").
    label = "mock server"

    def __init__(self) -> None:
        self.address: str | None = None
        self._proc: _ChildServer | None = None
        self._thread: LoopThread | None = None

    @property
    def pid(self) -> int | None:
        """The child's process id in process mode, else ``None``."""
        return self._proc.pid if self._proc is not None else None

    def _start_child(self, cmd: list[str], timeout: float) -> str:
        """Run ``cmd`` (an entry point printing ``LISTENING ADDR`` or ``FAILED MESSAGE`` as
        its first line); return ``ADDR`` once it listens, else raise :class:`UserError`."""
        self._check_not_started()
        child = _ChildServer(self.label, cmd)
        child.start()
        child.wait_ready(child.announced, timeout)  # a failure stops it
        self._proc, self.address = child, child.address
        return str(child.address)

    def _start_thread(
        self,
        serve: Callable[[threading.Event, asyncio.Event], Awaitable[None]],
        timeout: float,
        new_loop: Callable[[], asyncio.AbstractEventLoop] = _new_loop,
    ) -> str:
        self._check_not_started()
        thread = LoopThread(serve, self.label, new_loop)
        thread.start(timeout)
        self._thread = thread
        assert self.address is not None
        return self.address

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the server (SIGTERM, then SIGKILL for a child; the loop for a thread)."""
        proc, self._proc = self._proc, None
        if proc is not None:
            proc.stop(timeout)
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.stop(timeout)
        self.address = None

    def _check_not_started(self) -> None:
        if self._proc is not None or self._thread is not None:
            raise RuntimeError(f"this {self.label} is already running; stop() it first")

    @abc.abstractmethod
    def start_process(self, timeout: float = 15.0) -> str:
        """Start the server in a child process; return its address once it listens."""

    def __enter__(self) -> str:
        return self.start_process()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class MockServer(ServerRunner):
    """A mock OpenAI-compatible server; ``with MockServer(config) as url:`` runs it as a process.

    ``url`` is the base URL (``http://127.0.0.1:PORT``) while running, ``pid`` the child's
    process id in process mode, ``requests`` the number of generation requests served (thread
    mode only).
    """

    def __init__(
        self, config: MockServerConfig | None = None, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        super().__init__()
        self.config = config if config is not None else MockServerConfig()
        self.host = host
        self.port = port
        self._state: Any = None

    @property
    def url(self) -> str | None:
        """The base URL (``http://host:port``) while running."""
        return self.address

    @property
    def requests(self) -> int:
        """Generation requests answered so far (thread mode; 0 otherwise)."""
        return int(self._state.requests) if self._state is not None else 0

    def start_process(self, timeout: float = 15.0) -> str:
        """Start the server in a child process; return its base URL once it listens."""
        cmd = [
            sys.executable,
            "-m",
            "guidellm.mock_server",
            "--config-json",
            json.dumps(self.config.to_dict()),
            "--host",
            self.host,
            "--port",
            str(self.port),
            "--watch-stdin",
        ]
        return self._start_child(cmd, timeout)

    def start_thread(self, timeout: float = 10.0) -> str:
        """Start the server on its own event loop in a daemon thread; return its base URL."""
        return self._start_thread(self._serve, timeout)

    async def _serve(self, ready: threading.Event, stop: asyncio.Event) -> None:
        server, state = await _listen(self.config, self.host, self.port)
        self._state = state
        port = server.sockets[0].getsockname()[1]
        self.address = _url(self.host, port)
        ready.set()
        try:
            await stop.wait()
        finally:
            await _shutdown(server, state)


async def _listen(config: MockServerConfig, host: str, port: int) -> tuple[asyncio.Server, Any]:
    from guidellm.mock_server.http_server import serve_http

    try:
        return await serve_http(config, host, port)
    except OSError as exc:
        raise UserError(
            f"The mock server cannot listen on {host}:{port}: {exc.strerror or exc}; "
            "pick another --port (0 picks a free one)."
        ) from exc


async def _shutdown(server: asyncio.Server, state: Any) -> None:
    server.close()
    state.close_all()
    state.scheduler.close()
    with contextlib.suppress(Exception):
        await asyncio.wait_for(server.wait_closed(), 2.0)


def run_foreground(
    config: MockServerConfig,
    host: str,
    port: int,
    announce: Any = None,
    watch_stdin: bool = False,
) -> None:
    """Serve until SIGINT/SIGTERM (or stdin EOF with ``watch_stdin``); ``announce(url)`` once up.

    Used by ``guidellm mock-server`` and by the child of :meth:`MockServer.start_process`.
    """

    async def main() -> None:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        server, state = await _listen(config, host, port)
        if watch_stdin:
            stop_on_stdin_eof(loop, stop)
        url = _url(host, server.sockets[0].getsockname()[1])
        if announce is not None:
            announce(url)
        try:
            await stop.wait()
        finally:
            await _shutdown(server, state)

    loop = _new_loop()
    try:
        loop.run_until_complete(main())
    finally:
        loop.close()
