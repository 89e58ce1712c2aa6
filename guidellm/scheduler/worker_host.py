"""WorkerHost: one RequestsWorker inside a Ray actor, reached by ``push`` and ``pull`` calls.

The worker keeps its own protocol: it runs on its own uvloop in a thread, behind two pipes,
and the actor's methods move the protocol's frames through them as bytes. The driver side is
:class:`~guidellm.scheduler.ray_pool.RayPool`.
"""

from __future__ import annotations

import contextlib
import mmap
import os
import pickle
import select
import threading
from typing import Any

from guidellm.scheduler.clocks import from_worker, to_worker
from guidellm.scheduler.protocol import FrameReader, frame, to_parent_decoder, to_worker_decoder

__all__ = ["WorkerHost"]

_READ_BYTES = 1 << 20


class WorkerHost:
    """One RequestsWorker inside a Ray actor: a thread with its own uvloop, behind two pipes
    that :meth:`push` writes to and :meth:`pull` reads from (the worker's protocol unchanged).
    """

    def __init__(self, index: int) -> None:
        from guidellm.scheduler.executor import _pipe  # 1 MB pipes, as the local pool's

        self.index = index
        self._error: str | None = None
        self._down_r, self._down_w = _pipe()
        self._up_r, self._up_w = _pipe()
        # The worker counts its launches at its own index of a shared int64 array.
        self._launched = mmap.mmap(-1, 8 * (index + 1))
        self._done = False
        #: Pushes are written in the order they were sent (see :meth:`push`).
        self._turn = threading.Condition()
        self._next = 0
        #: Test only: this actor pretends its clock reads ``offset`` seconds ahead, shifting
        #: the frames it passes as another host's clock would need.
        self._virtual = float(os.environ.get("GUIDELLM_TEST_CLOCK_OFFSET_S", "0") or 0)
        self._up: list[bytes] = []
        self._reader = FrameReader(
            to_parent_decoder,
            lambda m: self._up.append(frame(from_worker(m, -self._virtual))),
            lambda: None,
        )

    def serve(self, payload: bytes, concurrency: int) -> dict[str, Any]:
        """Start the worker on the pickled backend ``payload``: sent as a call, not as an
        actor argument, which Ray would keep in its actor table. Returns :meth:`where`."""
        from guidellm.scheduler.worker import RequestsWorker

        backend = pickle.loads(payload)
        backend.remember_secrets()
        counts = memoryview(self._launched).cast("q")
        worker = RequestsWorker(self.index, backend, concurrency, counts)
        self._thread = threading.Thread(
            target=self._serve, args=(worker,), name=f"guidellm-worker-{self.index}"
        )
        self._thread.daemon = True
        self._thread.start()
        return self.where()

    def _serve(self, worker: Any) -> None:
        import uvloop

        try:
            uvloop.run(worker.serve(self._down_r, self._up_w))
        except Exception as exc:  # the driver reads it with the pipe's end
            self._error = f"{type(exc).__name__}: {exc}"
            with contextlib.suppress(OSError):
                os.close(self._up_w)  # the worker's transport did not get to close it
        finally:
            self._done = True

    def push(self, seq: int, data: bytes) -> None:
        """Batch ``seq`` of frames for the worker (blocking until the pipe took them all).

        The actor runs calls on several threads, so two pushes in flight may start in either
        order: each waits for its turn, and batches reach the pipe whole and in sequence."""
        with self._turn:
            if not self._turn.wait_for(lambda: self._next == seq, timeout=60):
                raise RuntimeError(f"push {seq} waited 60 s for push {self._next}")
            try:
                self._write(data)
            finally:
                self._next += 1
                self._turn.notify_all()

    def _write(self, data: bytes) -> None:
        if self._virtual:
            shifted: list[bytes] = []
            FrameReader(
                to_worker_decoder,
                lambda m: shifted.append(frame(to_worker(m, -self._virtual))),
                lambda: None,
            ).data_received(data)
            data = b"".join(shifted)
        view = memoryview(data)
        while view:
            written = os.write(self._down_w, view)
            view = view[written:]

    def pull(self, wait: float) -> tuple[bytes, bool, str | None]:
        """What the worker wrote (waiting up to ``wait`` seconds for something), whether its
        end of the pipe closed (it finished), and why it failed if it did."""
        ready, _, _ = select.select([self._up_r], [], [], wait)
        if not ready:
            return b"", False, None
        data = os.read(self._up_r, _READ_BYTES)
        if self._virtual and data:
            self._reader.data_received(data)
            data, self._up[:] = b"".join(self._up), []
            return data, False, None
        return data, not data, None if data else self._error

    def where(self) -> dict[str, Any]:
        """This actor's node and process, for the report."""
        import socket

        import ray

        from guidellm.version import __version__

        return {
            "node_id": ray.get_runtime_context().get_node_id(),
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "version": __version__,
        }

    def clock(self) -> float:
        """This host's monotonic clock (``GUIDELLM_TEST_CLOCK_OFFSET_S`` in the actor's
        environment shifts it, and the frames with it: how the tests stand in for another
        machine's clock)."""
        from guidellm.request import now

        return now() + self._virtual
