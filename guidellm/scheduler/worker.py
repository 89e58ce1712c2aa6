"""The RequestsWorker: one process, one uvloop event loop, one Backend, precise dispatch.

The parent sends a benchmark's requests ahead of time with their intended send times
(open loop) or without (closed loop: ``streams`` requests in flight, the next sent as soon as
one ends). The worker sends each at its deadline, woken by a :class:`DeadlineTimer` (a
timerfd: no polling, no spinning), records it with a :class:`ResponseRecorder`, and streams
the results back in batches. It never calls plugin hooks and ignores SIGINT: the parent
decides when to stop (a terminal's Ctrl-C reaches the whole process group).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import pickle
import signal
import sys
import time
from array import array
from collections import deque
from collections.abc import Coroutine
from functools import partial
from operator import itemgetter
from typing import TYPE_CHECKING, Any

from guidellm.errors import RequestError
from guidellm.redact import redact_text, scrub
from guidellm.request import GenerationRequest, RequestResult, RequestStatus, ResponseRecorder
from guidellm.scheduler.protocol import (
    Done,
    End,
    Failed,
    FrameReader,
    Items,
    Quit,
    Ready,
    Results,
    Start,
    Stats,
    Stop,
    Streams,
    frame,
    to_worker_decoder,
)
from guidellm.scheduler.sessions import ThinkClock, run_session
from guidellm.scheduler.timer import DeadlineTimer

if TYPE_CHECKING:
    from guidellm.backends.base import Backend

__all__ = ["RequestsWorker", "worker_main"]

#: Requests due within this much of now are sent in the same wake-up.
_EARLY_S = 20e-6
#: Results are sent back at least this often, or as soon as this many are waiting.
_FLUSH_S = 0.02
_FLUSH_COUNT = 128
#: The event-loop lag probe period; every few probes also report Stats.
_PROBE_S = 0.05
_ERROR_CHARS = 500

_perf = time.perf_counter
_at = itemgetter(0)
_SUCCESSFUL = RequestStatus.SUCCESSFUL
_ERRORED = RequestStatus.ERRORED
_INCOMPLETE = RequestStatus.INCOMPLETE


class RequestsWorker:
    """Runs benchmarks as the parent directs; see the module docstring."""

    def __init__(
        self,
        index: int,
        backend: Backend,
        concurrency: int,
        launched: memoryview | None = None,
    ) -> None:
        self.index = index
        self.backend = backend
        self.concurrency = concurrency
        #: The pool's shared count of requests this worker has handed to its backend: the
        #: parent reads it when this process dies or freezes, to know which requests it held
        #: were on the wire (and count them) and which were never sent.
        self._launched = launched
        self._bench = -1
        self._streams = 0
        #: Closed loop: the streams of the current stage, and those that retire when their
        #: request ends (the stage has fewer than are busy).
        self._live = 0
        self._retiring = 0
        self._cap = concurrency
        self._keep_text = 0
        self._pending: deque[tuple[float, GenerationRequest]] = deque()
        self._free_since: deque[float] = deque()
        self._tasks: set[asyncio.Task[None]] = set()
        #: Items in flight: requests, and sessions from their start to their last turn's end
        #: (the task set lags: tasks leave it a loop turn after finishing).
        self._active = 0
        self._out: list[RequestResult] = []
        self._flush_handle: asyncio.TimerHandle | None = None
        self._ending = False
        self._stopping = False
        self._started = False
        self._cpu0 = 0.0
        #: Loop-lag samples of the benchmark: 8 bytes each in an array (a float object in a
        #: list took 32), about 0.6 MB an hour at the probe's 20 a second.
        self._lags = array("d")
        self._sent = 0
        self._waited = 0
        self._cap_blocked = False
        self._probes = 0
        self._lag_peak = 0.0

    # -- plumbing ----------------------------------------------------------------------------

    async def serve(self, read_fd: int, write_fd: int) -> None:
        """Talk to the parent over the two pipe ends until told to quit (or the parent dies)."""
        loop = asyncio.get_running_loop()
        self._loop = loop
        self._closed: asyncio.Future[None] = loop.create_future()
        self._writer, _ = await loop.connect_write_pipe(
            asyncio.Protocol, os.fdopen(write_fd, "wb", buffering=0)
        )
        try:
            await self.backend.startup(self.concurrency)
        except Exception as exc:
            error = redact_text(f"backend startup failed: {type(exc).__name__}: {exc}")
            self._send(Failed(self.index, error))
            await self._drain_writer()
            return
        self._timer = DeadlineTimer(loop, self._due)
        self._think = ThinkClock(loop)
        reader, _ = await loop.connect_read_pipe(
            lambda: FrameReader(to_worker_decoder, self._on_message, self._on_eof),
            os.fdopen(read_fd, "rb", buffering=0),
        )
        loop.call_later(_PROBE_S, self._probe)
        self._send(Ready(self.index, os.getpid()))
        try:
            await self._closed
        finally:
            for task in list(self._tasks):
                task.cancel()
            if self._tasks:
                await asyncio.wait(self._tasks, timeout=2)
            self._timer.close()
            self._think.close()
            reader.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.backend.shutdown(), 5)
            await self._drain_writer()

    async def _drain_writer(self) -> None:
        # A pipe transport buffers what the pipe cannot take; give it a moment to empty.
        for _ in range(200):
            if self._writer.get_write_buffer_size() == 0 or self._writer.is_closing():
                break
            await asyncio.sleep(0.01)
        self._writer.close()

    def _send(self, message: Any) -> None:
        if not self._writer.is_closing():
            self._writer.write(frame(message))

    def _on_eof(self) -> None:
        if not self._closed.done():
            self._closed.set_result(None)

    def _on_message(self, message: Any) -> None:
        if isinstance(message, Items):
            if message.index == self._bench and not self._stopping:
                self._add_items(message)
        elif isinstance(message, Start):
            self._start(message)
        elif isinstance(message, Streams):
            if message.index == self._bench and not self._stopping:
                self._set_streams(message.streams, message.at)
        elif isinstance(message, End):
            if message.index == self._bench:
                self._ending = True
                self._maybe_done()
        elif isinstance(message, Stop):
            if message.index == self._bench:
                self._stop()
        elif isinstance(message, Quit):
            self._on_eof()

    # -- a benchmark -------------------------------------------------------------------------

    def _start(self, msg: Start) -> None:
        self._bench = msg.index
        self._streams = self._live = msg.streams
        self._retiring = 0
        self._cap = max(1, min(msg.max_concurrency or self.concurrency, self.concurrency))
        if self._streams:
            self._cap = min(self._cap, max(self._streams, msg.max_concurrency))
        self._keep_text = msg.keep_text
        self._pending.clear()
        self._free_since.clear()
        self._ending = self._stopping = self._cap_blocked = False
        self._started = not self._streams
        self._sent = self._waited = 0
        self._lags = array("d")
        self._cpu0 = time.process_time()
        if self._streams:
            # Closed loop: every stream is free from the start time on.
            self._free_since.extend([msg.start_time] * self._streams)
            self._timer.arm(msg.start_time)

    def _add_items(self, msg: Items) -> None:
        pending = self._pending
        was_empty = not pending
        if msg.times:
            if pending and msg.times[0] < pending[-1][0]:
                # Requests moved here from a lost worker: due among those queued, not after.
                merged = sorted([*pending, *zip(msg.times, msg.requests, strict=True)], key=_at)
                pending.clear()
                pending.extend(merged)
                was_empty = True  # the first due may have changed: arm again
            else:
                pending.extend(zip(msg.times, msg.requests, strict=True))
            if was_empty and not self._cap_blocked:
                self._timer.arm(pending[0][0])
        else:
            pending.extend((0.0, r) for r in msg.requests)
            if self._started:
                self._fill_streams()

    def _due(self) -> None:
        """The timer fired: send every request whose time has come (open loop)."""
        if self._streams:
            self._started = True
            self._fill_streams()
            return
        pending = self._pending
        if not pending:
            return
        limit = _perf() + _EARLY_S
        cap = self._cap
        launch = self._launch
        while pending and pending[0][0] <= limit:
            if self._active >= cap:
                self._cap_blocked = True
                return  # a finishing request calls _due again
            t, request = pending.popleft()
            if self._cap_blocked:
                self._waited += 1
            launch(request, t)
        self._cap_blocked = False
        if pending:
            self._timer.arm(pending[0][0])

    def _set_streams(self, streams: int, at: float) -> None:
        """A new closed-loop stage: streams added are free from ``at``; streams removed are
        free ones first, then busy ones as their requests end (never cancelled)."""
        live = self._live
        self._live = streams
        if streams > live:
            added = streams - live
            back = min(added, self._retiring)  # retiring streams simply stay
            self._retiring -= back
            self._free_since.extend([at] * (added - back))
            if self._started:
                self._fill_streams()
        elif streams < live:
            drop = live - streams
            free = self._free_since
            while drop and free:
                free.pop()
                drop -= 1
            self._retiring += drop

    def _fill_streams(self) -> None:
        """Closed loop: each free stream sends the next request, timed from when it freed."""
        pending = self._pending
        free = self._free_since
        while pending and free:
            _, request = pending.popleft()
            self._launch(request, free.popleft())

    def _launch(self, request: GenerationRequest, scheduled: float) -> None:
        if request.turns:
            self._active += 1
            task = self._loop.create_task(
                run_session(request, scheduled, self._send_turn, self._emit, self._think.wait)
            )
            self._tasks.add(task)
            task.add_done_callback(self._session_done)
            return
        self._sent += 1
        if self._launched is not None:
            self._launched[self.index] += 1
        self._active += 1
        recorder = ResponseRecorder(request, scheduled)
        coro = self._run(recorder)
        task = self._loop.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(partial(self._task_done, recorder, coro))

    def _task_done(
        self, recorder: ResponseRecorder, coro: Coroutine[Any, Any, None], task: asyncio.Task[None]
    ) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            # Cancelled before its first step: _run never ran, so count it here.
            coro.close()
            self._completed(
                recorder.finish(
                    _INCOMPLETE,
                    end=_perf(),
                    error_category="cancelled",
                    error="cancelled by a stop condition",
                    worker=self.index,
                )
            )

    def _session_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            # A bug, not a measurement: say so on stderr (the parent's log) and go on.
            sys.stderr.write(
                f"guidellm: worker {self.index}: session failed: {task.exception()!r}\n"
            )
        self._item_done()

    async def _send_turn(
        self, request: GenerationRequest, scheduled: float
    ) -> tuple[RequestResult, str]:
        """One turn of a session: launched and measured like any request."""
        self._sent += 1
        if self._launched is not None:
            self._launched[self.index] += 1
        recorder = ResponseRecorder(request, scheduled)
        result = await self._resolve(recorder)
        return result, recorder.text

    async def _run(self, recorder: ResponseRecorder) -> None:
        self._completed(await self._resolve(recorder))

    async def _resolve(self, recorder: ResponseRecorder) -> RequestResult:
        request = recorder.request
        keep = self._keep_text > 0
        recorder.start()
        try:
            await self.backend.resolve(request, recorder)
            result = recorder.finish(_SUCCESSFUL, keep_text=keep, worker=self.index)
        except RequestError as exc:
            result = recorder.finish(
                _ERRORED,
                error_category=exc.category,
                error=redact_text(str(exc)[:_ERROR_CHARS]),
                keep_text=keep,
                worker=self.index,
            )
        except asyncio.CancelledError:
            result = recorder.finish(
                _INCOMPLETE,
                error_category="cancelled",
                error="cancelled by a stop condition",
                worker=self.index,
            )
        except Exception as exc:  # a backend bug must not kill the run: count it
            # Errors only (never the success path): a third-party backend's message may
            # carry a key, and this text reaches the journal and the report as is.
            result = recorder.finish(
                _ERRORED,
                error_category="error",
                error=redact_text(f"{type(exc).__name__}: {exc}"[:_ERROR_CHARS]),
                worker=self.index,
            )
        if keep:
            # Generated text leaves the worker too: a server may have echoed a credential.
            if result.output_text:
                result.output_text = scrub(result.output_text)
            if result.reasoning_text:
                result.reasoning_text = scrub(result.reasoning_text)
            if result.status == _SUCCESSFUL:
                self._keep_text -= 1
        return result

    def _completed(self, result: RequestResult) -> None:
        self._emit(result)
        self._item_done()

    def _emit(self, result: RequestResult) -> None:
        out = self._out
        out.append(result)
        if len(out) >= _FLUSH_COUNT:
            self._flush()
        elif self._flush_handle is None:
            self._flush_handle = self._loop.call_later(_FLUSH_S, self._flush)

    def _item_done(self) -> None:
        """A request or a session ended: its stream or slot is free."""
        self._active -= 1
        if self._stopping:
            self._maybe_done()
            return
        if self._streams:
            if self._retiring:
                self._retiring -= 1
            else:
                self._free_since.append(_perf())
                self._fill_streams()
        elif self._cap_blocked:
            self._due()
        if self._ending and not self._pending:
            self._maybe_done()

    def _flush(self) -> None:
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        if self._out:
            self._send(Results(self._bench, self._out))
            self._out = []

    def _stop(self) -> None:
        self._stopping = True
        self._pending.clear()
        self._free_since.clear()
        self._timer.disarm()
        for task in list(self._tasks):
            task.cancel()
        self._maybe_done()

    def _maybe_done(self) -> None:
        """Report the benchmark done once nothing is queued or in flight."""
        if self._bench < 0 or self._active > 0:
            return
        if not (self._stopping or (self._ending and not self._pending)):
            return
        self._flush()
        self._timer.disarm()
        self._send(
            Done(
                index=self._bench,
                worker=self.index,
                cpu_seconds=time.process_time() - self._cpu0,
                loop_lags_ms=self._lags.tolist(),
                sent=self._sent,
                waited_for_slot=self._waited,
                timing_source=getattr(self.backend, "timing_source", "loop"),
            )
        )
        self._bench = -1
        self._lags = array("d")

    # -- self-judgement ----------------------------------------------------------------------

    def _probe(self) -> None:
        """Measure how long a ready callback waits for the loop (its lag)."""
        if self._closed.done():
            return
        self._loop.call_soon(self._probed, _perf())
        self._loop.call_later(_PROBE_S, self._probe)

    def _probed(self, t0: float) -> None:
        self._probes += 1
        lag = (_perf() - t0) * 1000.0
        if self._bench >= 0:
            self._lags.append(lag)
        self._lag_peak = max(self._lag_peak, lag)
        if self._probes % 5 == 0:
            # Also the heartbeat, between benchmarks too: a worker silent for seconds is
            # frozen, and the parent kills it and counts what it held.
            stats = Stats(
                self.index, self._active, len(self._pending), time.process_time(), self._lag_peak
            )
            self._lag_peak = 0.0
            self._send(stats)


def worker_main(
    index: int,
    read_fd: int,
    write_fd: int,
    *,
    payload: bytes,
    concurrency: int,
    close_fds: list[int],
    launched: Any = None,
) -> None:
    """Process entry point: ``payload`` is the pickled, validated Backend; ``launched`` the
    pool's shared buffer of per-worker launch counts (int64), inherited through fork."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    for fd in close_fds:
        with contextlib.suppress(OSError):
            os.close(fd)
    # Objects inherited from the parent never become garbage here: keep the collector off them.
    gc.freeze()
    import uvloop

    try:
        backend = pickle.loads(payload)
        backend.remember_secrets()  # inherited through fork already; a spawned worker needs it
        counts = memoryview(launched).cast("q") if launched is not None else None
        worker = RequestsWorker(index, backend, concurrency, counts)
        uvloop.run(worker.serve(read_fd, write_fd))
    except Exception as exc:  # reported on stderr; the parent sees the pipe close
        sys.stderr.write(f"guidellm: worker {index} failed: {type(exc).__name__}: {exc}\n")
        sys.stderr.flush()
        os._exit(1)
