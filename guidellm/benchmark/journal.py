"""The run journal: every result on disk as it completes, so a killed run can be rebuilt.

JSON lines, one object each, in the order they happen:

* ``{"type": "run", "metadata": {...}, "config": {...}}`` (config already redacted);
* ``{"type": "benchmark", "index": i, "strategy": {...}, "settings": {...}}`` when a
  benchmark starts (``settings`` are the BenchmarkAggregator's arguments);
* ``{"type": "result", "b": i, "r": [...]}`` per :class:`~guidellm.request.RequestResult`
  (its msgspec array form);
* ``{"type": "benchmark_end", "index": i, "start_time": t0, "end_time": t1, "benchmark": {...}}``
  with the compiled benchmark;
* ``{"type": "server", "index": i, "server": {...}, "warnings": [...]}`` per benchmark, once
  the run's scrapes are summarised (after the last benchmark: a killed run has none);
* ``{"type": "run_end", "exit_code": n}``.

Writes are buffered and flushed at least once a second (:meth:`Journal.flush` is called by
the Benchmarker's ticker), so a SIGKILL loses at most the last second. :func:`rebuild_report`
replays a journal, even one cut mid-line: finished benchmarks are taken as written, an
unfinished one is recompiled from its results.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import msgspec

from guidellm.errors import UserError
from guidellm.request import RequestResult

if TYPE_CHECKING:
    from guidellm.benchmark.report import Benchmark, Report

__all__ = ["Journal", "default_journal_path", "is_journal", "read_journal", "rebuild_report"]

_FLUSH_S = 1.0
_encode = msgspec.json.encode


def default_journal_path(outputs: list[str]) -> Path:
    """Next to the first ``--output`` (``report.json`` -> ``report.journal.jsonl``), else in
    ``$GUIDELLM_JOURNAL_DIR`` or ``~/.cache/guidellm/journals``, named by the start time."""
    if outputs:
        first = Path(outputs[0])
        return first.with_name(first.stem + ".journal.jsonl")
    root = os.environ.get("GUIDELLM_JOURNAL_DIR")
    folder = Path(root) if root else Path.home() / ".cache" / "guidellm" / "journals"
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return folder / f"run-{stamp}-{os.getpid()}.jsonl"


def _to_dict(obj: Any) -> Any:
    if hasattr(obj, "model_dump"):
        return obj.model_dump(mode="json")
    return obj


class Journal:
    """Appends the journal lines of one run to ``path`` (see the module docstring)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file: IO[bytes] = self.path.open("wb", buffering=1 << 20)
        except OSError as exc:
            raise UserError(
                f"cannot write the journal {str(self.path)!r} ({exc.strerror}); "
                "pass --journal PATH in a writable folder"
            ) from None
        self._last_flush = time.monotonic()

    def _line(self, data: Mapping[str, Any]) -> None:
        self._file.write(_encode(data) + b"\n")

    def run_started(
        self,
        metadata: Mapping[str, Any],
        config: Mapping[str, Any],
        resolved: Mapping[str, Any] | None = None,
        labels: Mapping[str, str] | None = None,
    ) -> None:
        self._line(
            {
                "type": "run",
                "metadata": metadata,
                "config": config,
                "resolved": resolved or {},
                "labels": labels or {},
            }
        )
        self.flush()

    def benchmark_started(
        self, index: int, strategy: Mapping[str, Any], settings: Mapping[str, Any]
    ) -> None:
        self._line(
            {"type": "benchmark", "index": index, "strategy": strategy, "settings": settings}
        )
        self.flush()

    def result(self, index: int, result: RequestResult) -> None:
        """One result; hot: one msgspec encode and a buffered write."""
        self._file.write(b'{"type":"result","b":%d,"r":%b}\n' % (index, _encode(result)))

    def benchmark_finished(
        self, index: int, start_time: float, end_time: float, benchmark: Benchmark
    ) -> None:
        self._line(
            {
                "type": "benchmark_end",
                "index": index,
                "start_time": start_time,
                "end_time": end_time,
                "benchmark": _to_dict(benchmark),
            }
        )
        self.flush()

    def server_metrics(self, index: int, server: Any, warnings: list[str]) -> None:
        """Benchmark ``index``'s server view (a ``ServerMetrics``) and its warnings."""
        self._line(
            {"type": "server", "index": index, "server": _to_dict(server), "warnings": warnings}
        )

    def run_finished(self, exit_code: int) -> None:
        self._line({"type": "run_end", "exit_code": exit_code})
        self.flush()

    def maybe_flush(self) -> None:
        """Flush if the last flush is a second old (called a few times a second)."""
        if time.monotonic() - self._last_flush >= _FLUSH_S:
            self.flush()

    def flush(self) -> None:
        self._file.flush()
        self._last_flush = time.monotonic()

    def close(self) -> None:
        if not self._file.closed:
            self._file.flush()
            self._file.close()


def is_journal(path: str | Path) -> bool:
    """Whether ``path`` is a run journal (a saved report is one JSON or YAML document)."""
    try:
        with Path(path).open("rb") as f:
            first = f.readline(1 << 20).strip()
    except OSError:
        return False
    if not (first.startswith(b"{") and first.endswith(b"}")):
        return False
    try:
        record = json.loads(first)
    except ValueError:
        return False
    return isinstance(record, dict) and record.get("type") in ("run", "benchmark", "result")


def read_journal(path: str | Path, warnings: list[str] | None = None) -> Iterator[tuple[str, Any]]:
    """The journal's records in order, streamed: ``(type, record)`` with the record's dict
    for ``run``, ``benchmark``, ``benchmark_end``, ``server`` and ``run_end``, and
    ``("result", (benchmark index, RequestResult))`` for each result.

    What cannot be read (a line cut by a kill) is skipped and said in ``warnings``.
    ``UserError`` when the file cannot be read or is no journal.
    """
    path = Path(path)
    try:
        f = path.open("rb")
    except OSError as exc:
        raise UserError(
            f"cannot read journal {str(path)!r}: {exc.strerror}; check the path"
        ) from None
    with f:
        first = True
        offset = 0
        for line in f:
            at, offset = offset, offset + len(line)
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError:
                record = None
            if first and not (isinstance(record, dict) and record.get("type") == "run"):
                raise UserError(
                    f"{str(path)!r} is not a guidellm journal (no run header); pass the "
                    "journal that 'guidellm run' wrote"
                )
            first = False
            if not isinstance(record, dict):
                if warnings is not None:
                    warnings.append(
                        f"journal {str(path)!r}: unreadable line at byte {at} skipped "
                        f"({len(line)} bytes)"
                    )
                continue
            kind = str(record.get("type"))
            if kind == "result":
                yield kind, (int(record["b"]), msgspec.convert(record["r"], RequestResult))
            else:
                yield kind, record
        if first:
            raise UserError(
                f"{str(path)!r} is not a guidellm journal (it is empty); pass the journal "
                "that 'guidellm run' wrote"
            )


def rebuild_report(path: str | Path) -> Report:
    """The report of the run journalled at ``path``, even if that run was killed."""
    from guidellm.benchmark.aggregator import BenchmarkAggregator
    from guidellm.benchmark.capacity import find_capacity
    from guidellm.benchmark.report import Benchmark, Report, ReportMetadata

    warnings: list[str] = []
    header: dict[str, Any] = {}
    benchmarks: dict[int, Benchmark] = {}
    open_aggs: dict[int, BenchmarkAggregator] = {}
    opened: dict[int, dict[str, Any]] = {}
    spans: dict[int, list[float]] = {}
    servers: dict[int, dict[str, Any]] = {}
    seen = 0
    for kind, record in read_journal(path, warnings):
        if kind == "result":
            index, result = record
            seen += 1
            agg = open_aggs.get(index)
            if agg is None:
                started = opened.pop(index, None)
                if started is None:  # no such benchmark, or it is finished
                    continue
                agg = open_aggs[index] = BenchmarkAggregator(
                    index=index,
                    strategy=started.get("strategy") or {},
                    **dict(started.get("settings") or {}),
                )
            agg.add(result)
            span = spans[index]
            span[0] = min(span[0], result.scheduled_time)
            span[1] = max(span[1], result.request_end)
        elif kind == "run":
            header = record
        elif kind == "benchmark":
            index = int(record["index"])
            opened[index] = record  # its aggregator is made at its first result
            spans[index] = [float("inf"), float("-inf")]
        elif kind == "benchmark_end":
            index = int(record["index"])
            seen += 1
            open_aggs.pop(index, None)
            opened.pop(index, None)
            benchmarks[index] = Benchmark.model_validate(record["benchmark"])
        elif kind == "server":
            servers[int(record["index"])] = record
    if not seen:
        # An empty report would look like a server that answered nothing: say what happened.
        raise UserError(
            f"journal {str(path)!r} holds no results (its run stopped before a request "
            "finished); there is no report to rebuild"
        )
    for index, started in opened.items():  # begun, no result journalled yet
        open_aggs[index] = BenchmarkAggregator(
            index=index,
            strategy=started.get("strategy") or {},
            **dict(started.get("settings") or {}),
        )
    for index, agg in sorted(open_aggs.items()):
        start, end = spans[index]
        if start > end:
            start = end = 0.0
        client: dict[str, Any] = {
            "workers": None,
            "cpu_seconds": None,
            "cpu_ms_per_request": None,
            "loop_lag_ms_p99": None,
            "loop_lag_ms_max": None,
            "scheduling_delay_ms_p99": None,
            "signals": [],
            "limited": False,
            "reason": None,
        }
        bench = agg.compile(start_time=start, end_time=end, client=client)
        bench.warnings.append(
            "rebuilt from the journal of an interrupted run: the last second of results may be "
            "missing and the client's self-judgement was not recorded"
        )
        benchmarks[index] = bench
    for index, line in servers.items():
        if index in benchmarks and benchmarks[index].server is None:
            from guidellm.telemetry.models import ServerMetrics

            benchmarks[index].server = ServerMetrics.model_validate(line["server"])
            benchmarks[index].warnings.extend(line.get("warnings") or [])
    for bench in benchmarks.values():
        bench.warnings.extend(warnings)
    metadata = header.get("metadata") or {}
    resolved = header.get("resolved") or {}
    ordered = [benchmarks[i] for i in sorted(benchmarks)]
    return Report(
        metadata=ReportMetadata.model_validate(metadata) if metadata else ReportMetadata.current(),
        config=header.get("config") or {},
        labels=header.get("labels") or {},
        resolved=resolved,
        benchmarks=ordered,
        capacity=find_capacity(resolved.get("profile"), ordered),
    )
