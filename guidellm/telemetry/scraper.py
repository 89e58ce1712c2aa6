"""Scraping the servers' ``/metrics`` (and sampling the client) while benchmarks run.

Everything here runs in threads of the parent process, never on a worker and never on the
scheduler's event loop: one clock thread ticks every interval (on a fixed grid, so the k-th
scrape of every endpoint lines up), samples the client's own CPU and loop lag, and wakes one
thread per endpoint. An endpoint that hangs only holds its own thread (its ticks are skipped
and counted, the timeout is short); one that fails or returns garbage is a failure counted for
the report. Nothing here waits on the load, and the load never waits on a scrape: the
Benchmarker may ask for a scrape at a benchmark's edge, it does not wait for one longer than
a fraction of a second, and only between benchmarks.

Scrapes are stored compactly (:class:`ScrapeLog`: a row of floats per scrape, a column per
sample name, the rows on disk once there are many: :class:`ScrapeRows`), so the parent's
memory does not grow with a long run's scrapes.
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
import threading
import time
from array import array
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from guidellm.telemetry.exposition import ExpositionError, fast_values, parse_exposition
from guidellm.telemetry.scrape_rows import ScrapeRows

if TYPE_CHECKING:
    from guidellm.telemetry.catalog import ServerCatalog

__all__ = ["ClientLog", "ScrapeLog", "Telemetry", "fetch"]

_clock = time.perf_counter
#: The most a scrape's answer may hold: larger is garbage, not metrics (and its parse would
#: hold the interpreter for tens of ms).
_MAX_BYTES = 8 * 1024 * 1024
_NAN = math.nan
#: Scrapes of an unknown server after which it is taken as unknown for good.
_REDETECT = 10


@dataclass
class ScrapeLog:
    """One endpoint's successful scrapes and its failures."""

    url: str
    catalog: type[ServerCatalog] | None = None
    raw: bool = False
    #: The catalog's model label, when the server serves several models (series per model).
    model_label: str | None = None
    keys: dict[str, int] = field(default_factory=dict)
    types: dict[str, str] = field(default_factory=dict)
    rows: ScrapeRows = field(default_factory=ScrapeRows)
    #: Per successful scrape: when it was asked for, when its answer was read, its round
    #: (every endpoint's scrapes of one tick, or of one ``scrape_now``, share a round).
    t0: array[float] = field(default_factory=lambda: array("d"))
    t1: array[float] = field(default_factory=lambda: array("d"))
    ticks: array[int] = field(default_factory=lambda: array("q"))
    #: Per failed scrape: when it was asked for, and why (a dead endpoint fails every
    #: second: equal reasons share one string, 16 bytes a failure).
    failed_at: array[float] = field(default_factory=lambda: array("d"))
    failed_why: list[str] = field(default_factory=list)
    #: When a tick found the previous scrape still waiting (a slow endpoint) and was dropped.
    skipped_at: array[float] = field(default_factory=lambda: array("d"))
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, t0: float, t1: float, tick: int, values: dict[str, float]) -> None:
        with self.lock:  # the summary reads keys and rows from another thread
            keys = self.keys
            for key in values:
                if key not in keys:
                    keys[key] = len(keys)
            row = array("d", [_NAN]) * len(keys)
            for key, value in values.items():
                row[keys[key]] = value
            self.rows.append(row)
            self.t0.append(t0)
            self.t1.append(t1)
            self.ticks.append(tick)

    def fail(self, t0: float, reason: str) -> None:
        with self.lock:
            self.failed_at.append(t0)
            self.failed_why.append(sys.intern(reason))

    def value(self, row: int, key: str) -> float:
        """Sample ``key`` in scrape ``row`` (NaN when that scrape did not have it)."""
        column = self.keys.get(key)
        if column is None:
            return _NAN
        return self.rows.value(row, column)


def fetch(client: object, url: str, timeout: float) -> tuple[str | None, str | None]:
    """GET ``url`` within ``timeout`` seconds in total (a server trickling bytes included) and
    at most :data:`_MAX_BYTES`: ``(text, None)``, or ``(None, why not)``."""
    import httpx

    assert isinstance(client, httpx.Client)
    deadline = _clock() + timeout
    try:
        with client.stream("GET", url) as response:
            if response.status_code != 200:
                return None, f"HTTP {response.status_code}"
            body = bytearray()
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > _MAX_BYTES:
                    return None, f"an answer over {_MAX_BYTES // 2**20} MB"
                if _clock() > deadline:
                    return None, f"no whole answer within {timeout:g} s"
    except httpx.TimeoutException:
        return None, f"no answer within {timeout:g} s"
    except httpx.HTTPError as exc:
        return None, f"cannot connect ({type(exc).__name__})"
    return body.decode("utf-8", errors="replace"), None


@dataclass
class ClientLog:
    """The client's own telemetry, one entry per tick: CPU seconds of every guidellm process
    so far and the workers' worst event-loop lag since the previous tick."""

    t: array[float] = field(default_factory=lambda: array("d"))
    cpu_s: array[float] = field(default_factory=lambda: array("d"))
    lag_ms: array[float] = field(default_factory=lambda: array("d"))


def _lower_priority() -> None:
    # The scrapes and their parsing yield the cores to the workers (Linux: per thread).
    with contextlib.suppress(OSError, AttributeError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)


class _Endpoint(threading.Thread):
    """Scrapes one URL each time it is woken; see the module docstring."""

    def __init__(
        self,
        url: str,
        log: ScrapeLog,
        timeout: float,
        catalogs: Sequence[type[ServerCatalog]],
        done: threading.Condition,
    ) -> None:
        super().__init__(name="guidellm-metrics", daemon=True)
        self.url = url
        self.log = log
        self.timeout = timeout
        self.catalogs = catalogs
        self.done = done
        self.wake = threading.Event()
        self.stopping = False
        self.busy = False
        self.tick = 0
        #: A scrape asked for (at a benchmark's edge) while one was running: taken next.
        self.pending: int | None = None
        self._poke_lock = threading.Lock()

    def poke(self, tick: int, *, edge: bool = False) -> None:
        """Scrape now for round ``tick``; busy, a grid tick is dropped (and counted) and an
        edge scrape is taken as soon as the running one ends."""
        with self._poke_lock:
            if self.busy:
                if edge:
                    self.pending = tick
                else:
                    self.log.skipped_at.append(_clock())
                return
            self.tick = tick
            self.busy = True
        self.wake.set()

    def run(self) -> None:
        import httpx

        _lower_priority()
        # No credentials and no proxy from the environment: metrics are read as they are.
        with httpx.Client(timeout=self.timeout, trust_env=False) as client:
            while True:
                self.wake.wait()
                self.wake.clear()
                if self.stopping and not self.busy:
                    return
                while True:
                    try:
                        self._scrape(client)
                    except Exception as exc:  # a bug here must not end the thread silently
                        self.log.fail(_clock(), f"scrape failed ({type(exc).__name__})")
                    with self._poke_lock:
                        if self.pending is None or self.stopping:
                            self.busy = False
                            break
                        self.tick, self.pending = self.pending, None
                    with self.done:
                        self.done.notify_all()
                with self.done:
                    self.done.notify_all()
                if self.stopping:
                    return

    def _scrape(self, client: object) -> None:
        t0 = _clock()
        text, why = fetch(client, self.url, self.timeout)
        t1 = _clock()
        if text is None:
            self.log.fail(t0, why or "failed")
            return
        log = self.log
        try:
            if not log.rows or (log.raw and len(log.rows) < _REDETECT):
                # The first answers, while no catalog knows the server (metrics a server
                # registers lazily appear later): the reference parser, and detection.
                values, types = parse_exposition(text)
                from guidellm.telemetry.catalog import detect

                log.catalog = detect(self.catalogs, values)
                log.raw = log.catalog is None
                label = log.catalog.model_label if log.catalog else None
                if log.raw or label:
                    values, types = parse_exposition(text, raw=log.raw, model_label=label)
                # Series are kept per model only when the server serves several (it costs
                # the fast path a third more); one model's are its whole.
                if label:
                    models = {k.rpartition("@")[2] for k in values if "@" in k and "{" not in k}
                    log.model_label = label if len(models) > 1 else None
                    if log.model_label is None:
                        values = {k: v for k, v in values.items() if "@" not in k}
            else:
                label = log.model_label
                try:
                    values = fast_values(text, log.types, raw=log.raw, model_label=label)
                    types = {}
                except ExpositionError:  # a new family, an exemplar ...: the reference way
                    values, types = parse_exposition(text, raw=log.raw, model_label=label)
        except ExpositionError as exc:
            log.fail(t0, str(exc))
            return
        with log.lock:
            log.types.update(types)
        log.add(t0, t1, self.tick, values)


class Telemetry:
    """Scrapes ``urls`` every ``interval`` seconds and samples the client; see module doc.

    ``client_probe()`` returns the CPU seconds of every guidellm process so far and the worst
    worker loop lag (ms) since its previous call; it is called from the clock thread.
    """

    def __init__(
        self,
        urls: Sequence[str],
        catalogs: Sequence[type[ServerCatalog]],
        *,
        interval: float = 1.0,
        timeout: float | None = None,
        client_probe: Callable[[], tuple[float, float]] | None = None,
        shown: Sequence[str] | None = None,
        model: str | None = None,
    ) -> None:
        self.interval = interval
        #: The model the benchmarks ask for: a multi-model server's series of it are read.
        self.model = model
        self.timeout = timeout if timeout is not None else min(2.0, max(0.25, interval * 0.8))
        self.client_probe = client_probe
        self.logs = [ScrapeLog(url=name) for name in (shown or urls)]
        self.client = ClientLog()
        self._done = threading.Condition()
        self._endpoints = [
            _Endpoint(url, log, self.timeout, catalogs, self._done)
            for url, log in zip(urls, self.logs, strict=True)
        ]
        self._stop = threading.Event()
        self._clock_thread = threading.Thread(
            target=self._ticks, name="guidellm-telemetry", daemon=True
        )
        self._tick = 0  # the last round handed out
        self._tick_lock = threading.Lock()
        self.started = False

    def start(self) -> None:
        """Start the threads; the first scrape is taken at once."""
        for endpoint in self._endpoints:
            endpoint.start()
        self._clock_thread.start()
        self.started = True

    def _round(self) -> int:
        with self._tick_lock:
            self._tick += 1
            return self._tick

    def scrape_now(self) -> None:
        """Ask every endpoint for a scrape now, off the grid (a benchmark's edge); an
        endpoint still answering an earlier one takes it right after."""
        tick = self._round()
        for endpoint in self._endpoints:
            endpoint.poke(tick, edge=True)

    def wait_scraped_after(self, when: float, timeout: float) -> bool:
        """Wait (at most ``timeout`` s) until each endpoint that still answers has a scrape
        asked for after ``when``; ``True`` when they all do."""
        deadline = _clock() + timeout

        def settled() -> bool:
            for endpoint in self._endpoints:
                log = endpoint.log
                if log.t0 and log.t0[-1] >= when:
                    continue
                if log.failed_at and log.failed_at[-1] >= when:
                    continue
                if log.failed_at and (not log.t0 or log.failed_at[-1] > log.t0[-1]):
                    continue  # failing lately: not worth waiting for
                return False
            return True

        with self._done:
            while not settled():
                left = deadline - _clock()
                if left <= 0:
                    return False
                self._done.wait(left)
        return True

    def close(self, timeout: float | None = None) -> None:
        """A last scrape (bounded by the scrape timeout), then stop every thread."""
        if not self.started:
            return
        now = _clock()
        self._sample_client()
        self.scrape_now()
        self.wait_scraped_after(now, self.timeout + 0.1 if timeout is None else timeout)
        self._stop.set()
        for endpoint in self._endpoints:
            endpoint.stopping = True
            endpoint.wake.set()
        self._clock_thread.join(1.0)
        for endpoint in self._endpoints:
            endpoint.join(0.2)  # a hung endpoint's daemon thread is left to the exit

    def _ticks(self) -> None:
        _lower_priority()
        start = _clock()
        k = 0
        while True:
            tick = self._round()
            self._sample_client()
            for endpoint in self._endpoints:
                endpoint.poke(tick)
            k += 1
            wait = start + k * self.interval - _clock()
            if self._stop.wait(max(wait, 0.0)):
                return

    def _sample_client(self) -> None:
        if self.client_probe is None:
            return
        try:
            cpu, lag = self.client_probe()
        except Exception:  # the probe reads live state; a race costs one sample
            return
        log = self.client
        log.t.append(_clock())
        log.cpu_s.append(cpu)
        log.lag_ms.append(lag)
