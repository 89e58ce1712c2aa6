"""Spilled to disk, a benchmark compiles to exactly what it compiles to in memory.

The aggregator's columns, sorted samples, sparse columns and gap buckets move to unlinked
files past ``SPILL_ROWS``; these tests force that at a few dozen rows (and merge slices of a
few values) and compare every number of the compiled benchmark with the in-memory one.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
import pytest
from reportdata import compile_results, session_results, stream

from guidellm.benchmark import spill, timeline
from guidellm.benchmark.spill import SpillArray, merge_sorted
from guidellm.benchmark.timeline import ConcurrencyTimeline
from guidellm.request import RequestResult


def test_a_spill_array_reads_back_what_was_appended(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(spill, "SPILL_ROWS", 10)
    rng = np.random.default_rng(1)
    array = SpillArray(np.float64)
    parts = [rng.random(k) for k in (3, 4, 2, 9, 0, 5)]
    for part in parts:
        array.append(part)
    whole = np.concatenate(parts)
    assert array.spilled
    assert np.array_equal(array.view(), whole)
    assert np.array_equal(array.read(5, 17), whole[5:17])
    assert np.array_equal(array.read(20, 40), whole[20:])
    # The file has no name: nothing is left behind, however the process ends.
    assert array._file is not None
    link = Path(f"/proc/self/fd/{array._file.fileno()}").readlink()
    assert str(link).endswith("(deleted)"), link
    array.close()
    assert array.size == 0


def test_a_small_array_stays_in_memory() -> None:
    array = SpillArray(np.int64)
    array.append(np.arange(100))
    assert not array.spilled
    assert array.view().tolist() == list(range(100))


@pytest.mark.parametrize("seed", range(4))
def test_merging_on_disk_equals_merging_in_memory(
    monkeypatch: pytest.MonkeyPatch, seed: int
) -> None:
    monkeypatch.setattr(spill, "_MERGE_SLICE", 7)
    rng = np.random.default_rng(seed)
    values = np.sort(rng.integers(0, 50, 60).astype(np.float64))  # ties on purpose
    weights = rng.integers(1, 9, 60).astype(np.float64)
    block = np.sort(rng.integers(-5, 60, 25).astype(np.float64))
    block_w = rng.integers(1, 9, 25).astype(np.float64)
    run = tuple(SpillArray(a.dtype, spill_at=0) for a in (values, np.arange(60), weights))
    for dest, src in zip(run, (values, np.arange(60), weights), strict=True):
        dest.append(src)
    out = merge_sorted(run, (block, np.arange(100, 125), block_w), cum=True)
    merged_values, merged_rows, merged_weights, cum = (a.view() for a in out)
    assert np.array_equal(merged_values, np.sort(np.concatenate([values, block]), kind="stable"))
    assert np.array_equal(cum, np.cumsum(merged_weights))
    # Each row keeps its own weight, and equal values keep the run's rows first.
    by_row = dict(zip(range(60), weights, strict=True)) | dict(
        zip(range(100, 125), block_w, strict=True)
    )
    assert [by_row[r] for r in merged_rows.tolist()] == merged_weights.tolist()
    for v in np.unique(merged_values):
        rows = merged_rows[merged_values == v].tolist()
        assert rows == sorted(rows)


def _mixed(n: int, seed: int) -> list[RequestResult]:
    """Requests of every kind the aggregator keeps apart: errors, cancels, two traffic
    classes and models, cached tokens, images, no usage, long and empty streams."""
    rng = random.Random(seed)
    out = stream(n, rate=50.0, seed=seed, tokens=24, error_every=13)
    for i, r in enumerate(out):
        if i % 17 == 5:
            r.status = "incomplete"
            r.error_category = "cancelled"
        if i % 3:
            r.traffic_class = "chat" if i % 3 == 1 else "batch"
            r.model = "m1" if i % 2 else "m2"
        if i % 4 == 0:
            r.cached_tokens = rng.randrange(0, 10)
        if i % 11 == 0:
            r.images, r.image_bytes = 1, rng.randrange(1000, 5000)
        if i % 7 == 0:
            r.output_tokens = None  # counted from the chunks
        if i % 29 == 0:
            r.chunk_times = []
            r.first_token_time = r.last_token_time = None
            r.content_chunks = 0
    return out


@pytest.fixture(autouse=True)
def _one_epoch(monkeypatch: pytest.MonkeyPatch) -> None:
    """Both compilations turn the clock into wall time with the same offset."""
    from guidellm.benchmark import aggregator

    monkeypatch.setattr(aggregator, "epoch_offset", lambda: 1.7e9)


def _dump(benchmark: Any) -> Any:
    data = benchmark.model_dump(mode="json")
    data.pop("created", None)
    return msgspec.json.decode(msgspec.json.encode(data))


@pytest.mark.parametrize(
    ("warmup", "cooldown"), [(None, None), (0.1, 0.1), (2.0, None), (None, 0.3)]
)
def test_a_spilled_benchmark_compiles_to_the_in_memory_numbers(
    monkeypatch: pytest.MonkeyPatch, warmup: float | None, cooldown: float | None
) -> None:
    results = _mixed(3000, seed=3)
    options = {"warmup": warmup, "cooldown": cooldown, "slo": {"ttft_ms": 58.0}}
    in_memory = compile_results(results, **options)
    monkeypatch.setattr(spill, "SPILL_ROWS", 40)
    monkeypatch.setattr(spill, "_MERGE_SLICE", 33)
    monkeypatch.setattr(timeline, "_SETTLE_AT", 600)
    monkeypatch.setattr(timeline, "_KEEP", 300)
    spilled = compile_results(results, **options)
    assert _dump(spilled) == _dump(in_memory)
    assert spilled.metrics.time_to_first_token_ms.successful.count > 1000


def test_a_request_reaching_back_past_the_disk_compiles_to_the_in_memory_numbers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A request as long as most of the run, answered last: its start is older than the
    events moved to disk, so the timeline is made again in start order at compile."""
    results = _mixed(3000, seed=5)
    long = results[-1]
    long.scheduled_time = long.request_start = results[10].request_start
    options = {"warmup": 0.1, "cooldown": 0.1, "slo": {"ttft_ms": 58.0}}
    in_memory = compile_results(results, **options)
    made_again: list[int] = []
    rebuild = ConcurrencyTimeline.from_columns.__func__  # type: ignore[attr-defined]

    def counted(cls: Any, *args: Any) -> Any:
        made_again.append(1)
        return rebuild(cls, *args)

    monkeypatch.setattr(ConcurrencyTimeline, "from_columns", classmethod(counted))
    monkeypatch.setattr(spill, "SPILL_ROWS", 40)
    monkeypatch.setattr(timeline, "_SETTLE_AT", 600)
    monkeypatch.setattr(timeline, "_KEEP", 300)
    spilled = compile_results(results, **options)
    assert made_again  # the late path ran
    assert _dump(spilled) == _dump(in_memory)
    assert spilled.metrics.request_concurrency.total.max > 1


def test_sessions_spilled_compile_to_the_in_memory_numbers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    results = session_results() * 40
    in_memory = compile_results(results)
    monkeypatch.setattr(spill, "SPILL_ROWS", 8)
    spilled = compile_results(results)
    assert _dump(spilled) == _dump(in_memory)


def test_the_aggregator_holds_no_per_request_memory_once_spilled(tmp_path: Path) -> None:
    """Rows, samples, sparse columns and time-slice histograms past their bounds live in
    files: after 200,000 rows (200 s at 1,000/s, sliced as the run goes) the arrays in
    memory are no larger than after 100,000."""
    from guidellm.benchmark.aggregator import BenchmarkAggregator

    agg = BenchmarkAggregator(
        index=0,
        strategy={"type": "constant"},
        warmup=None,
        cooldown=None,
        max_seconds=None,
        max_requests=None,
        slo=None,
        origin=0.0,
    )
    sizes = []
    for block in range(20):
        for r in stream(10_000, rate=1000.0, seed=block, tokens=4):
            shift = block * 10.0
            r.scheduled_time += shift
            r.request_start += shift
            r.request_end += shift
            r.first_token_time = None if r.first_token_time is None else r.first_token_time + shift
            r.last_token_time = None if r.last_token_time is None else r.last_token_time + shift
            r.chunk_times = [t + shift for t in r.chunk_times]
            r.cached_tokens = 3
            agg.add(r)
        if block in (9, 19):
            sizes.append(_array_bytes(agg))
    assert sizes[1] <= sizes[0] * 1.05 + 1e5, sizes


def _array_bytes(agg: Any) -> int:
    """Bytes of every in-memory numpy array the aggregator holds (not the memory maps)."""
    seen: set[int] = set()
    total = 0

    def walk(obj: Any, depth: int) -> None:
        nonlocal total
        if id(obj) in seen or depth > 6:
            return
        seen.add(id(obj))
        if isinstance(obj, np.memmap):
            return
        if isinstance(obj, np.ndarray):
            total += obj.nbytes if obj.base is None else 0
            return
        if isinstance(obj, dict):
            for v in obj.values():
                walk(v, depth + 1)
        elif isinstance(obj, (list, tuple)):
            for v in obj:
                walk(v, depth + 1)
        elif hasattr(obj, "__dict__") or hasattr(obj, "__slots__"):
            for name in getattr(obj, "__slots__", ()) or vars(obj):
                walk(getattr(obj, name, None), depth + 1)

    walk(agg, 0)
    return total


def _timeline_of(starts: Any, ends: Any, status: Any, block: int) -> Any:
    line = ConcurrencyTimeline()
    for at in range(0, len(starts), block):
        part = slice(at, at + block)
        line.extend(starts[part], ends[part], status[part])
    return line


@pytest.mark.parametrize("longest", [0.5, 400.0])
def test_a_settled_timeline_reads_as_one_kept_in_memory(
    monkeypatch: pytest.MonkeyPatch, longest: float
) -> None:
    """Older events move to disk as blocks come (in completion order); a request that
    reaches back past them marks the timeline late, and the aggregator makes it again in
    start order, settling as it goes: the same timeline either way."""
    rng = np.random.default_rng(2)
    n = 5000
    starts = np.sort(rng.random(n) * 1000)
    ends = starts + rng.random(n) * 2
    ends[-1] = starts[-1] + 0.01
    starts[-1] = ends[-1] - longest  # one long request, ending last
    order = np.argsort(ends, kind="stable")
    starts, ends = starts[order], ends[order]
    status = rng.integers(0, 3, n)
    kept = _timeline_of(starts, ends, status, 97)
    monkeypatch.setattr(timeline, "_SETTLE_AT", 800)
    monkeypatch.setattr(timeline, "_KEEP", 400)
    settled = _timeline_of(starts, ends, status, 97)
    assert settled.settled > 0
    assert settled.late == (longest > 100)
    if settled.late:
        settled = ConcurrencyTimeline.from_columns(starts, ends, status, 97)
        assert settled.settled > 0 and not settled.late
        assert settled.size <= 800 + 2 * 97  # bounded: never the whole run in memory
    assert np.array_equal(settled.times, kept.times)
    assert np.array_equal(settled.levels, kept.levels)
    probe = np.linspace(-1, 1003, 777)
    assert np.allclose(settled.areas(probe), kept.areas(probe), rtol=1e-12, atol=1e-9)
    lasting = np.bincount(status, minlength=3)
    assert settled.summaries(100.0, 900.0, lasting) == kept.summaries(100.0, 900.0, lasting)


@pytest.mark.parametrize("spill_at", [None, 0])
def test_reading_past_the_end_reads_to_the_end(spill_at: int | None) -> None:
    """In memory the array has room past its values (it doubles): a read past the end must
    not return that room. (An hour's run crashed at compile on such garbage.)"""
    arr = SpillArray(np.int64, spill_at=spill_at)
    arr.append(np.arange(10, dtype=np.int64))
    assert arr.read(0, 1 << 20).tolist() == list(range(10))
    assert arr.read(8, 100).tolist() == [8, 9]
