"""The worker-pool seam: where RequestsWorkers run. Local processes now.

The Scheduler only needs :class:`WorkerPool`: start the workers, send each a message, receive
theirs, close. A distributed pool (Ray actors, remote hosts) can replace
:class:`LocalProcessPool` without touching strategies or the Scheduler, as long as its
workers share the parent's monotonic clock or translate times (a documented limit).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import mmap
import multiprocessing
import os
import pickle
import signal
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

from guidellm.errors import UserError
from guidellm.scheduler.protocol import Failed, FrameReader, Quit, Ready, frame, to_parent_decoder
from guidellm.scheduler.worker import worker_main

if TYPE_CHECKING:
    from multiprocessing.process import BaseProcess

    from guidellm.backends.base import Backend

__all__ = [
    "HEARTBEAT_TIMEOUT_S",
    "LocalProcessPool",
    "ReadyGate",
    "WorkerPool",
    "default_worker_count",
    "describe_pool",
    "make_pool",
]

#: A worker that sends nothing for this long (it sends Stats four times a second) is frozen:
#: the pool kills it, and the Scheduler counts what it held as ``worker_lost``.
HEARTBEAT_TIMEOUT_S = 5.0
_WATCH_S = 0.5


def default_worker_count() -> int:
    """One worker per core this process may use (``GUIDELLM_WORKERS`` overrides)."""
    env = os.environ.get("GUIDELLM_WORKERS")
    if env:
        try:
            value = int(env)
        except ValueError:
            raise UserError(f"GUIDELLM_WORKERS={env!r} is not a whole number") from None
        if value < 1:
            raise UserError(f"GUIDELLM_WORKERS={env!r} must be at least 1")
        return value
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


#: fcntl's F_SETPIPE_SZ (Linux): bigger pipes absorb a busy moment of either side.
_F_SETPIPE_SZ = 1031
_PIPE_BYTES = 1 << 20


def _pipe() -> tuple[int, int]:
    r, w = os.pipe()
    with contextlib.suppress(OSError):
        import fcntl

        fcntl.fcntl(w, _F_SETPIPE_SZ, _PIPE_BYTES)
    return r, w


def pickled_backend(backend: Backend, where: str) -> bytes:
    """``backend`` pickled once, proving it can travel to the workers (``where``); one line
    naming the fix when it cannot."""
    try:
        return pickle.dumps(backend)
    except Exception as exc:
        raise UserError(
            f"backend {type(backend).__name__} cannot be sent to {where} "
            f"({type(exc).__name__}: {exc}); keep it picklable until startup()"
        ) from None


def _set_once(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class ReadyGate:
    """A pool's start: done once every worker said :class:`Ready`, or at the first failure.

    :meth:`passes` takes each message from a worker and says whether it goes on to the
    Scheduler (readiness and start-up failures stop here); :meth:`wait` raises the first
    failure as one line for the user.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self.ready: set[int] = set()
        self.failures: list[str] = []
        self.done = asyncio.get_running_loop().create_future()

    def fail(self, why: str) -> None:
        self.failures.append(why)
        _set_once(self.done)

    def passes(self, message: Any) -> bool:
        if isinstance(message, Ready):
            self.ready.add(message.worker)
            if len(self.ready) == self.size:
                _set_once(self.done)
            return False
        if isinstance(message, Failed):
            self.fail(message.error)
            return False
        return True

    async def wait(self, timeout: float, what: str) -> None:
        try:
            await asyncio.wait_for(asyncio.shield(self.done), timeout)
        except asyncio.TimeoutError:
            self.failures.append(f"not ready after {timeout:.0f} s")
        if self.failures:
            raise UserError(f"could not start the request workers{what}: {self.failures[0]}")


class WorkerPool(Protocol):
    """What the Scheduler needs from a pool of RequestsWorkers."""

    size: int
    #: Workers lost so far (died, or killed when frozen), with one line on how.
    lost_workers: dict[int, str]

    def start(self) -> None:
        """Create the workers (before the parent's event loop runs)."""

    async def connect(self, on_message: Callable[[Any], None]) -> None:
        """Attach to the running loop and wait until every worker is ready."""

    def send(self, worker: int, message: Any) -> None:
        """Queue ``message`` for ``worker`` (never blocks)."""

    def quit(self) -> None:
        """Ask the workers to finish, without waiting (they exit while the parent works)."""

    async def close(self, timeout: float = 5.0) -> None:
        """Ask the workers to finish and wait for them; kill the ones that do not."""

    def kill(self) -> None:
        """Stop every worker at once (second Ctrl-C)."""

    def launched(self, worker: int) -> int | None:
        """How many requests ``worker`` has handed to its backend so far (``None``: unknown).

        Read after the worker is lost: its requests shipped but never launched were not sent.
        """


class LocalProcessPool:
    """RequestsWorker processes on this machine, forked from the parent, talking over pipes.

    Forking (not spawning) makes a worker ready in milliseconds: the parent has already
    imported everything, and the Backend is pickled once to prove it can travel.
    """

    def __init__(self, backend: Backend, size: int, concurrency: int) -> None:
        self.size = size
        self.concurrency = concurrency
        self._payload = pickled_backend(backend, "worker processes")
        self._processes: list[BaseProcess] = []
        self._to_worker: list[int] = []
        self._from_worker: list[int] = []
        self._transports: list[asyncio.BaseTransport] = []
        self._readers: list[asyncio.BaseTransport] = []
        self._quit_sent = False
        self.pids: list[int] = []
        # One int64 per worker, shared with the forked workers: each adds 1 per request it
        # launches. It outlives a SIGKILL or SIGSTOP of the worker, unlike any message.
        self._launch_counts = mmap.mmap(-1, 8 * max(1, size))
        self._counts = memoryview(self._launch_counts).cast("q")
        self._heard: list[float] = []
        self._lost_why: dict[int, str] = {}
        self.lost_workers: dict[int, str] = {}
        self._watch_handle: asyncio.TimerHandle | None = None
        self._last_watch = 0.0

    def start(self) -> None:
        ctx = multiprocessing.get_context("fork")
        pipes = [(_pipe(), _pipe()) for _ in range(self.size)]
        every_fd = [fd for pair in pipes for p in pair for fd in p]
        for index, ((down_r, down_w), (up_r, up_w)) in enumerate(pipes):
            keep = {down_r, up_w}
            process = ctx.Process(
                target=worker_main,
                args=(index, down_r, up_w),
                kwargs={
                    "payload": self._payload,
                    "concurrency": self.concurrency,
                    "close_fds": [fd for fd in every_fd if fd not in keep],
                    "launched": self._launch_counts,
                },
                name=f"guidellm-worker-{index}",
                daemon=True,
            )
            process.start()
            self._processes.append(process)
            self._to_worker.append(down_w)
            self._from_worker.append(up_r)
        for (down_r, _), (_, up_w) in pipes:
            os.close(down_r)
            os.close(up_w)
        self.pids = [p.pid for p in self._processes if p.pid is not None]

    async def connect(self, on_message: Callable[[Any], None], timeout: float = 60.0) -> None:
        loop = asyncio.get_running_loop()
        gate = ReadyGate(self.size)
        heard = self._heard = [time.monotonic()] * self.size

        def heard_from(index: int) -> Callable[[Any], None]:
            def on_frame(message: Any) -> None:
                heard[index] = time.monotonic()
                if gate.passes(message):
                    on_message(message)

            return on_frame

        def lost(index: int) -> Callable[[], None]:
            def on_eof() -> None:
                if index not in gate.ready or not gate.done.done():
                    gate.fail(f"worker {index} exited before it was ready")
                if not self._quit_sent or index in self._lost_why:
                    why = self.lost_workers[index] = self._why_lost(index)
                    on_message(Failed(index, why))

            return on_eof

        for index in range(self.size):
            transport, _ = await loop.connect_write_pipe(
                asyncio.Protocol, os.fdopen(self._to_worker[index], "wb", buffering=0)
            )
            self._transports.append(transport)
            protocol = FrameReader(to_parent_decoder, heard_from(index), lost(index))
            reader, _ = await loop.connect_read_pipe(
                lambda p=protocol: p,  # type: ignore[misc]
                os.fdopen(self._from_worker[index], "rb", buffering=0),
            )
            self._readers.append(reader)
        await gate.wait(timeout, "")
        self._last_watch = time.monotonic()
        self._watch_handle = loop.call_later(_WATCH_S, self._watch)

    def _watch(self) -> None:
        """Kill a worker that stopped sending heartbeats (frozen, swapped out, SIGSTOPped)."""
        now = time.monotonic()
        if now - self._last_watch > 3 * _WATCH_S:
            # This process itself was held up (a long compile, the machine suspended):
            # silence meanwhile says nothing about the workers.
            self._heard = [max(h, now) for h in self._heard]
        self._last_watch = now
        for index, process in enumerate(self._processes):
            silent = now - self._heard[index]
            if silent > HEARTBEAT_TIMEOUT_S and process.is_alive() and not self._quit_sent:
                self._lost_why[index] = (
                    f"worker {index} stopped responding (no heartbeat for {silent:.1f} s) "
                    "and was killed"
                )
                if process.pid is not None:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(process.pid, signal.SIGKILL)
                self._heard[index] = math.inf  # killed once; its pipe's end reports the loss
        if not self._quit_sent:
            loop = asyncio.get_running_loop()
            self._watch_handle = loop.call_later(_WATCH_S, self._watch)

    def _why_lost(self, index: int) -> str:
        """One line on how worker ``index`` ended, for the report's stop reason."""
        if index in self._lost_why:
            return self._lost_why[index]
        process = self._processes[index]
        process.join(0.5)  # its pipe closed: it is exiting, reap it to read its status
        code = process.exitcode
        if code is None:
            return f"worker {index} closed its pipe unexpectedly"
        if code < 0:
            with contextlib.suppress(ValueError):
                return f"worker {index} was killed by {signal.Signals(-code).name}"
        return f"worker {index} exited unexpectedly (exit code {code})"

    def launched(self, worker: int) -> int | None:
        return int(self._counts[worker])

    def send(self, worker: int, message: Any) -> None:
        transport = self._transports[worker]
        if not transport.is_closing():
            transport.write(frame(message))  # type: ignore[attr-defined]

    def quit(self) -> None:
        if self._quit_sent:
            return
        self._quit_sent = True
        if self._watch_handle is not None:
            self._watch_handle.cancel()
        for index in range(len(self._transports)):
            self.send(index, Quit())

    async def close(self, timeout: float = 5.0) -> None:
        self.quit()
        # Each process's sentinel becomes readable when it exits: no polling interval added
        # to the end of every run.
        loop = asyncio.get_running_loop()
        exits: list[asyncio.Future[None]] = []
        for process in self._processes:
            if not process.is_alive():
                continue
            exited: asyncio.Future[None] = loop.create_future()
            loop.add_reader(process.sentinel, _set_once, exited)
            exits.append(exited)
        deadline = loop.time() + timeout
        try:
            # A sentinel stays unreadable while a grandchild the worker forked holds it: the
            # processes' own state is checked too, every 0.1 s.
            while any(p.is_alive() for p in self._processes) and loop.time() < deadline:
                await asyncio.wait(exits, timeout=min(0.1, max(deadline - loop.time(), 0)))
        finally:
            for process in self._processes:
                with contextlib.suppress(Exception):
                    loop.remove_reader(process.sentinel)
        self.kill()
        for transport in self._transports:
            transport.close()
        for reader in self._readers:
            reader.close()

    def kill(self) -> None:
        for process in self._processes:
            if process.pid is not None and process.is_alive():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(process.pid, signal.SIGKILL)
        for process in self._processes:
            with contextlib.suppress(Exception):
                process.join(1)


def make_pool(
    backend: Backend,
    executor: Mapping[str, Any] | None,
    size: int,
    concurrency: int,
    planned: int | None = None,
) -> WorkerPool:
    """The pool ``executor`` names (``{"kind": "local"}`` by default; ``ray``: a
    :class:`~guidellm.scheduler.ray_pool.RayPool`, imported only then). ``planned``: the
    most requests the run will have in flight, when known (a cluster's actors are no more)."""
    kind = (executor or {}).get("kind", "local")
    if kind == "ray":
        from guidellm.scheduler.ray_pool import RayPool

        return RayPool(backend, size, concurrency, executor or {}, planned)
    return LocalProcessPool(backend, size, concurrency)


def describe_pool(pool: WorkerPool | None) -> dict[str, Any]:
    """A distributed pool's own account (workers, nodes, clocks) for the report's
    ``resolved.executor``; nothing for local processes."""
    describe = getattr(pool, "describe", None)
    return {"executor": describe()} if describe is not None else {}
