"""Scraping the servers' ``/metrics`` (and sampling the client) while benchmarks run.

Everything here runs in threads of the parent process, never on a worker and never on the
scheduler's event loop: one clock thread ticks every interval (on a fixed grid, so the k-th
scrape of every endpoint lines up), samples the client's own CPU and loop lag, and wakes one
thread per endpoint. An endpoint that hangs only holds its own thread (its ticks are skipped
and counted, the timeout is short); one that fails or returns garbage is a failure counted for
the report. Nothing here waits on the load, and the load never waits on a scrape: the
Benchmarker may ask for a scrape at a benchmark's edge, it does not wait for one longer than
a fraction of a second, and only between benchmarks.

Scrapes are stored compactly (:class:`ScrapeLog`: one float array per scrape, a column per
sample name) so an hour of a large server's metrics every second stays in tens of MB.
"""

from __future__ import annotations

import contextlib
import math
import os
import threading
import time
from array import array
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from guidellm.telemetry.exposition import ExpositionError, fast_values, parse_exposition

if TYPE_CHECKING:
    from guidellm.telemetry.catalog import ServerCatalog

__all__ = ["ClientLog", "ScrapeLog", "Telemetry"]

_clock = time.perf_counter
#: The most a scrape's answer may hold: larger is garbage, not metrics.
_MAX_BYTES = 32 * 1024 * 1024
_NAN = math.nan


@dataclass
class ScrapeLog:
    """One endpoint's successful scrapes and its failures."""

    url: str
    catalog: type[ServerCatalog] | None = None
    raw: bool = False
    keys: dict[str, int] = field(default_factory=dict)
    types: dict[str, str] = field(default_factory=dict)
    rows: list[array[float]] = field(default_factory=list)
    #: Per successful scrape: when it was asked for, when its answer was read, its tick.
    t0: array[float] = field(default_factory=lambda: array("d"))
    t1: array[float] = field(default_factory=lambda: array("d"))
    ticks: array[int] = field(default_factory=lambda: array("q"))
    #: Per failed scrape: when it was asked for, and why.
    failed_at: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)
    #: Ticks that came while the previous scrape was still waiting (a slow endpoint).
    skipped: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, t0: float, t1: float, tick: int, values: dict[str, float]) -> None:
        keys = self.keys
        for key in values:
            if key not in keys:
                keys[key] = len(keys)
        row = array("d", [_NAN]) * len(keys)
        for key, value in values.items():
            row[keys[key]] = value
        with self.lock:
            self.rows.append(row)
            self.t0.append(t0)
            self.t1.append(t1)
            self.ticks.append(tick)

    def fail(self, t0: float, reason: str) -> None:
        with self.lock:
            self.failed_at.append(t0)
            self.errors[reason] = self.errors.get(reason, 0) + 1

    def value(self, row: int, key: str) -> float:
        """Sample ``key`` in scrape ``row`` (NaN when that scrape did not have it)."""
        column = self.keys.get(key)
        values = self.rows[row]
        if column is None or column >= len(values):
            return _NAN
        return values[column]


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

    def poke(self, tick: int) -> None:
        if self.busy:
            self.log.skipped += 1
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
                try:
                    self._scrape(client)
                finally:
                    self.busy = False
                    with self.done:
                        self.done.notify_all()
                if self.stopping:
                    return

    def _scrape(self, client: object) -> None:
        import httpx

        assert isinstance(client, httpx.Client)
        t0 = _clock()
        deadline = t0 + self.timeout
        try:
            with client.stream("GET", self.url) as response:
                if response.status_code != 200:
                    self.log.fail(t0, f"HTTP {response.status_code}")
                    return
                body = bytearray()
                for chunk in response.iter_bytes():
                    body += chunk
                    if len(body) > _MAX_BYTES or _clock() > deadline:
                        self.log.fail(t0, "too slow or too large an answer")
                        return
        except httpx.TimeoutException:
            self.log.fail(t0, f"no answer within {self.timeout:g} s")
            return
        except httpx.HTTPError as exc:
            self.log.fail(t0, f"cannot connect ({type(exc).__name__})")
            return
        t1 = _clock()
        try:
            text = body.decode("utf-8", errors="replace")
            if self.log.catalog is None and not self.log.rows:
                values, types = parse_exposition(text)
                from guidellm.telemetry.catalog import detect

                self.log.catalog = detect(self.catalogs, values)
                self.log.raw = self.log.catalog is None
                if self.log.raw:
                    values, types = parse_exposition(text, raw=True)
            else:
                try:
                    values, types = fast_values(text, self.log.types, raw=self.log.raw), {}
                except ExpositionError:
                    values, types = parse_exposition(text, raw=self.log.raw)
        except ExpositionError as exc:
            self.log.fail(t0, str(exc))
            return
        self.log.types.update(types)
        self.log.add(t0, t1, self.tick, values)


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
    ) -> None:
        self.interval = interval
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
        self._tick = 0
        self._tick_lock = threading.Lock()
        self.started = False

    def start(self) -> None:
        """Start the threads; the first scrape is taken at once."""
        for endpoint in self._endpoints:
            endpoint.start()
        self._clock_thread.start()
        self.started = True

    def scrape_now(self) -> None:
        """Ask every endpoint for a scrape now, off the grid (a benchmark's edge)."""
        with self._tick_lock:
            tick = self._tick
        for endpoint in self._endpoints:
            endpoint.poke(tick)

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
        while True:
            with self._tick_lock:
                tick = self._tick
                self._tick += 1
            self._sample_client()
            for endpoint in self._endpoints:
                endpoint.poke(tick)
            wait = start + (tick + 1) * self.interval - _clock()
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
