"""The run journal: every result on disk as it completes, so a killed run can be rebuilt.

Binary frames (:mod:`guidellm.benchmark.journal_frames`: checksummed, results packed about
a second at a time), holding these records in the order they happen:

* ``{"type": "run", "metadata": {...}, "config": {...}, "epoch_offset": s}`` (config already
  redacted; ``epoch_offset`` turns the results' clock into Unix time);
* ``{"type": "benchmark", "index": i, "strategy": {...}, "settings": {...}}`` when a
  benchmark starts (``settings`` are the BenchmarkAggregator's arguments);
* results, a block of :class:`~guidellm.request.RequestResult` of benchmark ``i`` at a time;
* ``{"type": "benchmark_end", "index": i, "start_time": t0, "end_time": t1, "benchmark": {...}}``
  with the compiled benchmark;
* ``{"type": "server", "index": i, "server": {...}, "warnings": [...]}`` per benchmark, once
  the run's scrapes are summarised (after the last benchmark: a killed run has none);
* ``{"type": "run_end", "exit_code": n}``.

Results are packed and written at least twice a second (:meth:`Journal.maybe_flush` is
called by the Benchmarker's ticker), so a SIGKILL loses less than the last second.
:func:`read_journal` streams the records back, skipping (and naming by byte offset) a torn
tail or damaged bytes; it also reads the JSON-lines journals earlier versions wrote.
:func:`rebuild_report` replays a journal: finished benchmarks are taken as written, an
unfinished one is recompiled from its results.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Container, Iterator, Mapping
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import msgspec

from guidellm.benchmark.journal_frames import (
    MAGIC,
    RECORD,
    RESULTS,
    block_index,
    decode_results,
    encode_frame,
    encode_results,
    scan_frames,
)
from guidellm.errors import UserError
from guidellm.request import RequestResult

if TYPE_CHECKING:
    from guidellm.benchmark.report import Benchmark, Report

__all__ = ["Journal", "default_journal_path", "is_journal", "read_journal", "rebuild_report"]

#: Pending results are written this often (the ticker asks a few times a second) ...
_FLUSH_S = 0.5
#: ... or once this many wait, whichever comes first (bounds the memory they take).
_BLOCK_RESULTS = 8192


def default_journal_path(outputs: list[str]) -> Path:
    """Next to the first ``--output`` (``report.json`` -> ``report.journal``), else in
    ``$GUIDELLM_JOURNAL_DIR`` or ``~/.cache/guidellm/journals``, named by the start time."""
    if outputs:
        first = Path(outputs[0])
        return first.with_name(first.stem + ".journal")
    root = os.environ.get("GUIDELLM_JOURNAL_DIR")
    folder = Path(root) if root else Path.home() / ".cache" / "guidellm" / "journals"
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return folder / f"run-{stamp}-{os.getpid()}.journal"


def _to_dict(obj: Any) -> Any:
    if hasattr(obj, "model_dump"):
        return obj.model_dump(mode="json")
    return obj


class Journal:
    """Appends the records of one run to ``path`` (see the module docstring)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file: IO[bytes] = self.path.open("wb", buffering=1 << 20)
            self._file.write(MAGIC)
        except OSError as exc:
            raise UserError(
                f"cannot write the journal {str(self.path)!r} ({exc.strerror}); "
                "pass --journal PATH in a writable folder"
            ) from None
        self._encode = msgspec.msgpack.Encoder().encode
        self._last_flush = time.monotonic()
        self._index = -1
        self._encoded: list[bytes] = []
        self._starts: list[float] = []
        self._times: list[list[float]] = []
        #: Results written so far (a block's are counted when it is written).
        self.results = 0

    def _record(self, data: Mapping[str, Any]) -> None:
        self._write_results()  # records and results stay in the order they happened
        self._file.write(encode_frame(RECORD + self._encode(data)))

    def run_started(
        self,
        metadata: Mapping[str, Any],
        config: Mapping[str, Any],
        resolved: Mapping[str, Any] | None = None,
        labels: Mapping[str, str] | None = None,
    ) -> None:
        from guidellm.benchmark.report import epoch_offset

        self._record(
            {
                "type": "run",
                "metadata": metadata,
                "config": config,
                "resolved": resolved or {},
                "labels": labels or {},
                "epoch_offset": epoch_offset(),
            }
        )
        self.flush()

    def benchmark_started(
        self, index: int, strategy: Mapping[str, Any], settings: Mapping[str, Any]
    ) -> None:
        self._record(
            {"type": "benchmark", "index": index, "strategy": strategy, "settings": settings}
        )
        self.flush()

    def result(self, index: int, result: RequestResult) -> None:
        """One result; hot: one msgspec encode (its chunk times are packed with the block's)."""
        if index != self._index:
            self._write_results()
            self._index = index
        times = result.chunk_times
        result.chunk_times = []
        try:
            self._encoded.append(self._encode(result))
        finally:
            result.chunk_times = times
        self._starts.append(result.request_start)
        self._times.append(times)
        if len(self._encoded) >= _BLOCK_RESULTS:
            self._write_results()

    def _write_results(self) -> None:
        if not self._encoded:
            return
        body = encode_results(self._index, self._encoded, self._starts, self._times)
        self._file.write(encode_frame(body))
        self.results += len(self._encoded)
        self._encoded, self._starts, self._times = [], [], []

    def benchmark_finished(
        self, index: int, start_time: float, end_time: float, benchmark: Benchmark
    ) -> None:
        self._record(
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
        self._record(
            {"type": "server", "index": index, "server": _to_dict(server), "warnings": warnings}
        )

    def run_finished(self, exit_code: int) -> None:
        self._record({"type": "run_end", "exit_code": exit_code})
        self.flush()

    def maybe_flush(self) -> None:
        """Write what waits if the last flush is :data:`_FLUSH_S` old (called a few times a
        second)."""
        if time.monotonic() - self._last_flush >= _FLUSH_S:
            self.flush()

    def flush(self) -> None:
        self._write_results()
        self._file.flush()
        self._last_flush = time.monotonic()

    def close(self) -> None:
        if not self._file.closed:
            self._write_results()
            self._file.flush()
            self._file.close()


def is_journal(path: str | Path) -> bool:
    """Whether ``path`` is a run journal (a saved report is one JSON or YAML document)."""
    try:
        with Path(path).open("rb") as f:
            if f.read(len(MAGIC)) == MAGIC:
                return True
            f.seek(0)
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


def read_journal(
    path: str | Path,
    warnings: list[str] | None = None,
    *,
    skip_results: Container[int] = frozenset(),
) -> Iterator[tuple[str, Any]]:
    """The journal's records in order, streamed: ``(type, record)`` with the record's dict
    for ``run``, ``benchmark``, ``benchmark_end``, ``server`` and ``run_end``, and
    ``("result", (benchmark index, RequestResult))`` for each result (none of the
    benchmarks in ``skip_results``: their blocks are not even unpacked).

    What cannot be read (a torn tail, damaged bytes) is skipped and said in ``warnings``,
    with its byte offset. ``UserError`` when the file cannot be read or is no journal.
    """
    path = Path(path)
    try:
        f = path.open("rb")
    except OSError as exc:
        raise UserError(
            f"cannot read journal {str(path)!r}: {exc.strerror}; check the path"
        ) from None
    with f:
        if f.read(len(MAGIC)) == MAGIC:
            yield from _read_frames(path, f, warnings, skip_results)
        else:
            f.seek(0)
            yield from _read_lines(path, f, warnings, skip_results)


def _not_a_journal(path: Path, why: str) -> UserError:
    return UserError(
        f"{str(path)!r} is not a guidellm journal ({why}); pass the journal that "
        "'guidellm run' wrote"
    )


def _read_frames(
    path: Path, f: IO[bytes], warnings: list[str] | None, skip_results: Container[int]
) -> Iterator[tuple[str, Any]]:
    size = os.fstat(f.fileno()).st_size
    skipped: list[tuple[int, int, str]] = []
    decode_record = msgspec.msgpack.Decoder(dict[str, Any]).decode
    first = True
    damaged = False  # bytes were skipped: a missing header may be one of them
    for offset, body in scan_frames(f, size, skipped):
        damaged = damaged or bool(skipped)
        _say_skipped(path, skipped, warnings)
        kind = body[:1]
        try:
            if kind == RECORD:
                record = decode_record(body[1:])
                # A run stopped while it started journals only its end (no header).
                if first and record.get("type") not in ("run", "run_end") and not damaged:
                    raise _not_a_journal(path, "no run header")
                first = False
                yield str(record.get("type")), record
            elif kind == RESULTS and block_index(body) not in skip_results:
                index, results = decode_results(body)
                for result in results:
                    yield "result", (index, result)
        except (ValueError, msgspec.DecodeError, msgspec.ValidationError) as exc:
            if warnings is not None:
                warnings.append(
                    f"journal {str(path)!r}: a record at byte {offset} does not decode "
                    f"({exc}); skipped"
                )
    damaged = damaged or bool(skipped)
    _say_skipped(path, skipped, warnings)
    if first and not damaged:
        raise _not_a_journal(path, "no readable run header")


def _say_skipped(
    path: Path, skipped: list[tuple[int, int, str]], warnings: list[str] | None
) -> None:
    for offset, length, why in skipped:
        if warnings is None:
            continue
        if why == "torn":
            warnings.append(
                f"journal {str(path)!r} ends mid-record at byte {offset}: the last {length} "
                "bytes (a record being written when the run stopped) were skipped"
            )
        else:
            warnings.append(
                f"journal {str(path)!r}: {length} unreadable bytes at byte {offset} skipped "
                "(damaged, or not journal data)"
            )
    skipped.clear()


def _read_lines(
    path: Path, f: IO[bytes], warnings: list[str] | None, skip_results: Container[int]
) -> Iterator[tuple[str, Any]]:
    """The JSON-lines journals of earlier versions, read as :func:`read_journal` reads."""
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
            raise _not_a_journal(path, "no run header")
        first = False
        if not isinstance(record, dict):
            if warnings is not None:
                warnings.append(
                    f"journal {str(path)!r}: unreadable line at byte {at} skipped "
                    f"({len(line)} bytes)"
                )
            continue
        kind = str(record.get("type"))
        if kind != "result":
            yield kind, record
            continue
        try:
            index = int(record["b"])
            if index in skip_results:
                continue
            result = msgspec.convert(record["r"], RequestResult)
        except (KeyError, TypeError, ValueError, msgspec.ValidationError) as exc:
            if warnings is not None:
                warnings.append(
                    f"journal {str(path)!r}: a result at byte {at} does not decode ({exc}); skipped"
                )
            continue
        yield kind, (index, result)
    if first:
        raise _not_a_journal(path, "it is empty")


class _Every:
    """Every benchmark index (to skip every result)."""

    def __contains__(self, _index: object) -> bool:
        return True


_EVERY = _Every()


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
    orphans: dict[int, int] = {}
    # A first pass over the records alone: finished benchmarks are taken as written, so
    # their results need not be unpacked, nor replayed.
    finished = frozenset(
        int(record["index"])
        for kind, record in read_journal(path, skip_results=_EVERY)
        if kind == "benchmark_end"
    )
    for kind, record in read_journal(path, warnings, skip_results=finished):
        if kind == "result":
            index, result = record
            seen += 1
            agg = open_aggs.get(index)
            if agg is None:
                started = opened.pop(index, None)
                if started is None:  # its start record was lost to damaged bytes
                    orphans[index] = orphans.get(index, 0) + 1
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
    for index, count in sorted(orphans.items()):
        warnings.append(
            f"journal {str(path)!r}: {count} results of benchmark {index} skipped: the "
            "record that starts the benchmark is unreadable (damaged bytes)"
        )
    if orphans and not (benchmarks or opened or open_aggs):
        raise UserError(warnings[-1] + "; there is no benchmark to rebuild")
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
            "timing_source": None,
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
