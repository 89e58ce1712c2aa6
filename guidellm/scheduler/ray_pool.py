"""RayPool: the same RequestsWorkers as Ray actors, possibly on other machines.

It stands behind the :class:`~guidellm.scheduler.executor.WorkerPool` protocol, so the
Scheduler, its strategies and its ledger do not change: the driver still computes the whole
schedule and ships each worker its requests with their send times. Each actor
(:class:`WorkerHost`) runs one RequestsWorker on its own uvloop in a thread, behind the pipes
it knows; the driver moves the protocol's frames as bytes, batched: every :meth:`RayPool.send`
of one event-loop turn goes in one ``push`` call (at most :data:`PUSHES_IN_FLIGHT` per actor
at once: more frames wait and join the next one), and one ``pull`` call per actor is always
outstanding, returning whatever the worker wrote. No Ray call is made per request.

Clocks: a worker times everything with its host's monotonic clock. :meth:`RayPool.connect`
measures each actor's offset to the driver's clock (:mod:`guidellm.scheduler.clocks`); an
actor on another host has its send times shifted onto its clock and its results shifted back
onto the driver's before they are merged. Each benchmark's start and the run's end measure the
offsets again: a drift past the bound is a warning in the report.

``ray`` is imported only here, only when ``--executor ray`` is chosen.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import signal
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from guidellm.errors import UserError
from guidellm.scheduler.clocks import ClockOffset, from_worker, measure, to_worker
from guidellm.scheduler.executor import HEARTBEAT_TIMEOUT_S, ReadyGate, pickled_backend
from guidellm.scheduler.protocol import Failed, FrameReader, Quit, Start, frame, to_parent_decoder
from guidellm.scheduler.worker_host import WorkerHost

if TYPE_CHECKING:
    from guidellm.backends.base import Backend

__all__ = ["PUSHES_IN_FLIGHT", "RAY_OPTIONS", "RayPool", "WorkerHost", "check_ray_options"]

#: Batches of frames on their way to one actor at once; more wait in the driver.
PUSHES_IN_FLIGHT = 4
#: How long one ``pull`` waits for the worker to write something (it returns sooner if so).
_PULL_WAIT_S = 0.25
_WATCH_S = 0.5
#: The ``--executor ray`` options and their defaults.
RAY_OPTIONS: dict[str, Any] = {
    "kind": "ray",
    "address": None,
    "workers": None,
    "max_workers": 64,
    "num_cpus": 1.0,
    "spread": True,
    "runtime_env": None,
}
_INSTALL = "pip install 'guidellm[ray]'"


def check_ray_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """``options`` over the defaults; an unknown or ill-typed one, or Ray missing, is a
    :class:`UserError` naming it and the fix."""
    from guidellm.options import bad_option, is_number, reject_unknown

    reject_unknown(options, RAY_OPTIONS, "--executor", "executor 'ray'")
    opts = {**RAY_OPTIONS, **options}

    def bad(name: str, want: str) -> UserError:
        return bad_option("--executor", name, want, opts[name])

    if opts["address"] is not None and not isinstance(opts["address"], str):
        raise bad("address", "a Ray cluster address (ray://host:10001, host:6379) or auto")
    for name in ("workers", "max_workers"):
        value = opts[name]
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int) or value < 1
        ):
            raise bad(name, "a positive whole number")
    if not is_number(opts["num_cpus"]):
        raise bad("num_cpus", "a number of CPUs >= 0 per actor, e.g. 1")
    if not isinstance(opts["spread"], bool):
        raise bad("spread", "true or false")
    if opts["runtime_env"] is not None and not isinstance(opts["runtime_env"], dict):
        raise bad("runtime_env", 'a JSON object, e.g. {"env_vars": {"A": "1"}}')
    try:
        import ray  # noqa: F401
    except ImportError:
        raise UserError(f"--executor ray needs Ray, which is not installed: {_INSTALL}") from None
    return opts


def _first_line(exc: BaseException) -> str:
    """An exception as one line: its type and its message's first line."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def _reachable(address: str | None) -> None:
    """A ``host:port`` cluster address must accept a connection within 5 s (Ray itself
    retries for minutes); ``auto``, ``ray://`` and none are left to Ray."""
    import socket

    if not address or address == "auto" or "://" in address or ":" not in address:
        return
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=5):
            pass
    except (OSError, ValueError):
        raise UserError(
            f"--executor address={address}: no Ray cluster answers there; check the address "
            "(the head's GCS port, 6379 by default) or drop it to start Ray here"
        ) from None


def _init(ray: Any, opts: Mapping[str, Any]) -> None:
    """``ray.init`` for the run. A Ray Client head (``ray://``) starts a server process per
    connection and, when busy, can fail that start ("Initialization failure from server") or
    not answer in time ("ray client connection timeout"): either is tried again, twice, a
    second apart."""
    attempts = 3
    for attempt in range(1, attempts + 1):
        try:
            ray.init(
                address=opts["address"],
                include_dashboard=False,
                log_to_driver=False,
                configure_logging=False,
                runtime_env=opts["runtime_env"],
            )
            return
        except ConnectionError:
            if attempt == attempts or not str(opts["address"] or "").startswith("ray://"):
                raise
            with contextlib.suppress(Exception):
                ray.shutdown()  # a half-made client connection must not answer the next init
            time.sleep(1.0)


class RayPool:
    """RequestsWorkers as Ray actors; see the module docstring.

    ``size`` is ``options["workers"]``; else, on a cluster (``address``, or Ray's own
    ``RAY_ADDRESS``), one per CPU it offers, at most ``max_workers`` and no more than the
    requests the run will ever have in flight (``planned``, when known); else the ``size``
    given. ``size * concurrency`` in-flight requests are shared between them.
    """

    def __init__(
        self,
        backend: Backend,
        size: int,
        concurrency: int,
        options: Mapping[str, Any],
        planned: int | None = None,
    ) -> None:
        self.options = check_ray_options({k: v for k, v in options.items() if k != "kind"})
        self.size = size
        self._planned = planned
        self._cap = size * concurrency
        self.concurrency = concurrency
        self._payload = pickled_backend(backend, "Ray actors")
        self.lost_workers: dict[int, str] = {}
        self.actors: list[Any] = []
        #: Where each actor runs (node id, host, pid), and what each measured of its clock.
        self.placement: list[dict[str, Any]] = []
        #: Each actor's clock offset to the driver's, and drifts seen when re-measured.
        self.offsets: list[ClockOffset] = []
        self.clock_warnings: list[str] = []
        self._checks: set[asyncio.Task[None]] = set()
        self._started_ray = False
        self._out: list[list[bytes]] = []
        self._in_flight: list[int] = []
        self._pushed: list[int] = []
        self._pulls: list[asyncio.Task[None]] = []
        self._heard: list[float] = []
        self._quit_sent = False
        self.loss_is_uncertain = True
        self._watch_handle: asyncio.TimerHandle | None = None
        self._last_watch = 0.0
        self._lost: Callable[[int, str], None] = lambda _index, _why: None

    def start(self) -> None:
        import ray

        opts = self.options
        if not ray.is_initialized():
            os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
            _reachable(opts["address"])
            handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
            try:
                _init(ray, opts)
            except Exception as exc:
                raise UserError(
                    f"Ray could not start or reach its cluster ({_first_line(exc)}); check "
                    "--executor address= (none starts Ray here, unless RAY_ADDRESS is set)"
                ) from None
            finally:  # Ray installs its own: the run's Ctrl-C and SIGTERM rules stay
                for sig, handler in handlers.items():
                    if handler is not None:
                        signal.signal(sig, handler)
            self._started_ray = True
        if opts["workers"]:
            self.size = int(opts["workers"])
        elif opts["address"] is not None or os.environ.get("RAY_ADDRESS"):
            resources = ray.cluster_resources()  # type: ignore[no-untyped-call]
            cpus = int(resources.get("CPU", 0) // max(opts["num_cpus"], 1e-9))
            most = min(opts["max_workers"], self._planned or opts["max_workers"])
            self.size = max(1, min(cpus or self.size, most))
        self.concurrency = max(1, math.ceil(self._cap / self.size))
        host = ray.remote(WorkerHost).options(
            num_cpus=opts["num_cpus"],
            max_concurrency=PUSHES_IN_FLIGHT + 4,
            scheduling_strategy="SPREAD" if opts["spread"] else "DEFAULT",
        )
        self.actors = [host.remote(index) for index in range(self.size)]
        self._out = [[] for _ in range(self.size)]
        self._in_flight = [0] * self.size
        self._pushed = [0] * self.size

    async def connect(self, on_message: Callable[[Any], None], timeout: float = 120.0) -> None:
        loop = asyncio.get_running_loop()
        gate = ReadyGate(self.size)
        self._heard = [time.monotonic()] * self.size

        def dispatch(index: int, message: Any) -> None:
            self._heard[index] = time.monotonic()
            offset = self.offsets[index]
            if offset.shifted:
                message = from_worker(message, offset.offset)
            if gate.passes(message):
                on_message(message)

        def lost(index: int, why: str) -> None:
            if not gate.done.done():
                gate.fail(why)
            elif not self._quit_sent and index not in self.lost_workers:
                self.lost_workers[index] = why
                self._kill(index)  # a pull that failed on a live actor: stop what it sends
                on_message(Failed(index, why))

        from guidellm.version import __version__

        try:
            self.placement = await asyncio.wait_for(
                asyncio.gather(
                    *(a.serve.remote(self._payload, self.concurrency) for a in self.actors)
                ),
                timeout,
            )
            await self._measure_clocks()
        except asyncio.TimeoutError:
            raise UserError(
                f"the Ray actors did not start within {timeout:.0f} s: does the cluster have "
                f"{self.size} x {self.options['num_cpus']:g} free CPUs? (lower --executor "
                "workers= or num_cpus=)"
            ) from None
        except Exception as exc:
            raise UserError(f"could not start the Ray actors: {_first_line(exc)}") from None
        other = next((p for p in self.placement if p.get("version") != __version__), None)
        if other is not None:
            raise UserError(
                f"a Ray actor on {other.get('host')} runs guidellm {other.get('version')}, the "
                f"driver {__version__}; install the same version on every node"
            )
        self._lost = lost
        for index in range(self.size):
            self._pulls.append(loop.create_task(self._pull(index, dispatch, lost)))
        await gate.wait(timeout, " on Ray")
        self._last_watch = time.monotonic()
        self._watch_handle = loop.call_later(_WATCH_S, self._watch)

    async def _measure_clocks(self) -> None:
        """Each actor's offset to the driver's clock, used for the whole run."""
        self.offsets = [await measure(a.clock.remote) for a in self.actors]

    async def _recheck_clocks(self, when: str) -> None:
        """Measure again; a drift past both estimates' bounds is a warning (the offsets in
        use are kept: changing them mid-run would move times already merged)."""
        for index, actor in enumerate(self.actors):
            if index in self.lost_workers:
                continue
            try:
                again = await measure(actor.clock.remote, samples=3)
            except Exception:  # a lost actor: its pull reports it
                continue
            used = self.offsets[index]
            drift = abs(again.offset - used.offset)
            if drift > used.bound + again.bound:
                self.clock_warnings.append(
                    f"worker {index}'s clock drifted {drift * 1000:.2f} ms from its offset "
                    f"(bound {(used.bound + again.bound) * 1000:.2f} ms) by {when}"
                )

    def clock_report(self) -> dict[str, Any]:
        """For each benchmark's ``client``: the largest offset, its bound, drift warnings."""
        if not self.offsets:
            return {}
        worst = max(self.offsets, key=lambda o: abs(o.offset))
        return {
            "clock_offset_ms": worst.offset * 1000,
            "clock_offset_bound_ms": max(o.bound for o in self.offsets) * 1000,
            "clock_shifted": any(o.shifted for o in self.offsets),
            "clock_warnings": list(self.clock_warnings),
        }

    async def _pull(
        self, index: int, dispatch: Callable[[int, Any], None], lost: Callable[[int, str], None]
    ) -> None:
        """Keep one ``pull`` outstanding on actor ``index``; hand its frames on."""
        actor = self.actors[index]
        reader = FrameReader(to_parent_decoder, lambda m: dispatch(index, m), lambda: None)
        try:
            while True:
                data, finished, error = await actor.pull.remote(_PULL_WAIT_S)
                if data:  # its Stats, four a second, are its heartbeat
                    reader.data_received(data)
                if finished:
                    if not self._quit_sent:
                        tail = f": {error}" if error else ""
                        lost(index, f"worker {index} (a Ray actor) ended unexpectedly{tail}")
                    return
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the actor died: RayActorError, a lost node...
            lost(index, f"worker {index} (a Ray actor) was lost: {type(exc).__name__}")

    def _watch(self) -> None:
        """An actor that answers no pull for a heartbeat's time is frozen: kill it."""

        now = time.monotonic()
        if now - self._last_watch > 3 * _WATCH_S:
            # The driver itself was held up (a long compile): silence says nothing then.
            self._heard = [max(h, now) for h in self._heard]
        self._last_watch = now
        try:
            for index, heard in enumerate(self._heard):
                silent = now - heard
                if silent > HEARTBEAT_TIMEOUT_S and index not in self.lost_workers:
                    why = (
                        f"worker {index} (a Ray actor) stopped responding (no heartbeat for "
                        f"{silent:.1f} s) and was killed"
                    )
                    self._heard[index] = math.inf
                    # Lost now: its pull may hang until Ray declares its node dead (seconds
                    # to minutes); nothing it sends from here on is read.
                    self._pulls[index].cancel()
                    self._lost(index, why)
        finally:  # the watch goes on whatever the loss's handling raised
            if not self._quit_sent:
                loop = asyncio.get_running_loop()
                self._watch_handle = loop.call_later(_WATCH_S, self._watch)

    def _kill(self, index: int) -> None:
        import ray

        if index < len(self.actors):
            with contextlib.suppress(Exception):
                ray.kill(self.actors[index])

    def send(self, worker: int, message: Any) -> None:
        offset = self.offsets[worker] if self.offsets else None
        if isinstance(message, Start) and worker == 0 and self.offsets:
            task = asyncio.get_running_loop().create_task(
                self._recheck_clocks(f"benchmark {message.index}'s start")
            )
            self._checks.add(task)
            task.add_done_callback(self._checks.discard)
        if offset is not None and offset.shifted:
            message = to_worker(message, offset.offset)
        out = self._out[worker]
        out.append(frame(message))
        if len(out) == 1:
            asyncio.get_running_loop().call_soon(self._flush, worker)

    def _flush(self, worker: int) -> None:
        out = self._out[worker]
        if not out or self._in_flight[worker] >= PUSHES_IN_FLIGHT or worker in self.lost_workers:
            return
        if worker >= len(self.actors):  # killed already: nothing can reach it
            out.clear()
            return
        data = b"".join(out)
        out.clear()
        self._in_flight[worker] += 1
        seq = self._pushed[worker]
        self._pushed[worker] += 1
        future = asyncio.wrap_future(self.actors[worker].push.remote(seq, data).future())

        def pushed(done: asyncio.Future[Any]) -> None:
            self._in_flight[worker] -= 1
            if not done.cancelled() and done.exception() is not None:
                # It may or may not have reached the worker, and a later push would wait
                # for it: the actor is lost (its pull reports it once it is killed).
                self._kill(worker)
                return
            if self._out[worker]:
                self._flush(worker)

        future.add_done_callback(pushed)

    def describe(self) -> dict[str, Any]:
        """For the report: the executor, its actors (node, host, pid), the clock offsets."""
        nodes = {p.get("node_id") for p in self.placement}
        return {
            "kind": "ray",
            "workers": self.size,
            "nodes": len(nodes),
            "actors": [{"worker": i, **p} for i, p in enumerate(self.placement)],
            "offsets_ms": [round(o.offset * 1000, 3) for o in self.offsets],
            **self.clock_report(),
            "lost": dict(self.lost_workers),
        }

    def launched(self, worker: int) -> int | None:
        """Unknown: the count lives in the actor, which may be gone, or (its node going
        down) still sending for a moment after the driver saw it lost
        (:attr:`loss_is_uncertain`: the ledger counts all it held as lost)."""
        return None

    @property
    def cores(self) -> int | None:
        """The most cores the client's processes can use: this machine's when every actor
        runs on it, else what the actors were given on each host (``num_cpus`` each, at
        least one core a host: actors packed on a fraction of a core share it) and one for
        the driver."""
        import socket
        from collections import Counter

        here = socket.gethostname()
        hosts = Counter(str(p.get("host")) for p in self.placement)
        if set(hosts) <= {here}:
            return None
        share = float(self.options["num_cpus"])
        return 1 + sum(max(1, math.ceil(n * share)) for n in hosts.values())

    def quit(self) -> None:
        if self._quit_sent:
            return
        for index in range(self.size):
            self.send(index, Quit())
        self._quit_sent = True
        if self._watch_handle is not None:
            self._watch_handle.cancel()

    async def close(self, timeout: float = 5.0) -> None:
        if self.offsets and self.actors:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._recheck_clocks("the run's end"), 2.0)
        self.quit()
        if self._pulls:
            await asyncio.wait(self._pulls, timeout=timeout)
        for task in self._pulls:
            task.cancel()
        self.kill()

    def kill(self) -> None:
        import ray

        for actor in self.actors:
            with contextlib.suppress(Exception):
                ray.kill(actor)
        self.actors = []
        if self._started_ray:
            with contextlib.suppress(Exception):
                ray.shutdown()
            self._started_ray = False
