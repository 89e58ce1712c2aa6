"""The binary journal: results come back as written (chunk times to the microsecond), and a
torn, padded or damaged journal still yields every sound record, naming what it skipped."""

from __future__ import annotations

import random
from pathlib import Path

import msgspec
import pytest
from journalread import frames

from guidellm.benchmark.journal import Journal, read_journal, rebuild_report
from guidellm.benchmark.journal_frames import decode_results, encode_results
from guidellm.request import RequestResult

_SETTINGS = {
    "warmup": None,
    "cooldown": None,
    "max_seconds": None,
    "max_requests": None,
    "slo": None,
}


def _results(n: int, seed: int = 0, first: int = 0) -> list[RequestResult]:
    rng = random.Random(seed)
    out = []
    for i in range(first, first + n):
        start = 5000.0 + i * 0.01 + rng.random() * 1e-3
        count = rng.choice([0, 1, 3, 128])
        t = start + rng.uniform(0.01, 0.2)
        times = []
        for _ in range(count):
            times.append(t)
            t += rng.uniform(0.0, 0.05)
        out.append(
            RequestResult(
                request_id=f"r{i}",
                status="successful" if count else "errored",
                scheduled_time=start - 1e-4,
                request_start=start,
                request_end=t + 0.001,
                first_token_time=times[0] if times else None,
                last_token_time=times[-1] if times else None,
                chunk_times=times,
                content_chunks=count,
                output_tokens=count or None,
                prompt_tokens=50,
                error_category=None if count else "http_5xx",
                error=None if count else "server said no",
                worker=i % 3,
            )
        )
    return out


def _roundtrip(results: list[RequestResult]) -> list[RequestResult]:
    encoder = msgspec.msgpack.Encoder()
    encoded = [encoder.encode(msgspec.structs.replace(r, chunk_times=[])) for r in results]
    body = encode_results(
        7, encoded, [r.request_start for r in results], [r.chunk_times for r in results]
    )
    index, back = decode_results(body)
    assert index == 7
    return back


def test_results_come_back_with_chunk_times_to_the_microsecond() -> None:
    results = _results(400)
    back = _roundtrip(results)
    assert len(back) == len(results)
    for a, b in zip(results, back, strict=True):
        assert msgspec.structs.replace(b, chunk_times=[]) == msgspec.structs.replace(
            a, chunk_times=[]
        )
        assert len(b.chunk_times) == len(a.chunk_times)
        pairs = zip(a.chunk_times, b.chunk_times, strict=True)
        assert all(abs(x - y) <= 0.5e-6 + 1e-9 for x, y in pairs)


def test_chunk_times_that_go_back_or_wait_long_survive() -> None:
    """A chunk before the request's start, one going back, a gap over 65 ms and over 71
    minutes: widths 8 and 4 hold what 2 bytes cannot."""
    base = _results(3)
    base[0].chunk_times = [base[0].request_start - 0.002, base[0].request_start + 0.001]
    base[1].chunk_times = [base[1].request_start + 0.5, base[1].request_start + 0.3]
    base[2].chunk_times = [base[2].request_start + 0.1, base[2].request_start + 4300.0]
    for a, b in zip(base, _roundtrip(base), strict=True):
        assert all(abs(x - y) <= 1e-6 for x, y in zip(a.chunk_times, b.chunk_times, strict=True))
    wide = _results(2)
    wide[0].chunk_times = [wide[0].request_start + 0.1, wide[0].request_start + 0.2]
    for a, b in zip(wide, _roundtrip(wide), strict=True):
        assert all(abs(x - y) <= 1e-6 for x, y in zip(a.chunk_times, b.chunk_times, strict=True))


def _journal(path: Path, blocks: int = 5, per_block: int = 200) -> list[RequestResult]:
    """A journal of one benchmark, its results in ``blocks`` frames, unfinished."""
    journal = Journal(path)
    journal.run_started({}, {"profile": "constant"})
    journal.benchmark_started(0, {"type": "constant", "rate": 100.0}, _SETTINGS)
    written = []
    for b in range(blocks):
        chunk = _results(per_block, seed=b, first=b * per_block)
        for r in chunk:
            journal.result(0, r)
        journal.flush()
        written.extend(chunk)
    journal.close()
    return written


def _ids(path: Path, warnings: list[str]) -> list[str]:
    return [rec[1].request_id for kind, rec in read_journal(path, warnings) if kind == "result"]


def _skipped(path: Path, size: int, at: int) -> str:
    """The warning for ``size`` unreadable bytes skipped at byte ``at``."""
    return (
        f"journal {str(path)!r}: {size} unreadable bytes at byte {at} skipped "
        "(damaged, or not journal data)"
    )


def test_a_whole_journal_reads_back_every_result_without_warnings(tmp_path: Path) -> None:
    path = tmp_path / "j.journal"
    written = _journal(path)
    warnings: list[str] = []
    assert _ids(path, warnings) == [r.request_id for r in written]
    assert warnings == []


def test_garbage_appended_is_skipped_and_named(tmp_path: Path) -> None:
    path = tmp_path / "j.journal"
    written = _journal(path)
    size = path.stat().st_size
    with path.open("ab") as f:
        f.write(random.Random(1).randbytes(5000))
    warnings: list[str] = []
    assert _ids(path, warnings) == [r.request_id for r in written]
    assert warnings == [_skipped(path, 5000, size)]


def test_a_journal_cut_mid_record_keeps_every_whole_record(tmp_path: Path) -> None:
    path = tmp_path / "j.journal"
    written = _journal(path)
    last = frames(path)[-1][0]  # the last block of results
    data = path.read_bytes()
    for cut in (last + 3, last + 12, last + 100, len(data) - 1):
        path.write_bytes(data[:cut])
        warnings: list[str] = []
        assert _ids(path, warnings) == [r.request_id for r in written[:800]]
        assert len(warnings) == 1
        assert f"ends mid-record at byte {last}" in warnings[0]


@pytest.mark.parametrize("seed", range(6))
def test_a_flipped_byte_costs_only_its_own_record(tmp_path: Path, seed: int) -> None:
    path = tmp_path / "j.journal"
    written = _journal(path)
    offsets = frames(path)
    rng = random.Random(seed)
    hit = rng.randrange(2, len(offsets) - 1)  # a results block in the middle of the file
    begin, end = offsets[hit][0], offsets[hit + 1][0]
    at = rng.randrange(begin, end)
    data = bytearray(path.read_bytes())
    data[at] ^= 1 << rng.randrange(8)
    path.write_bytes(bytes(data))
    warnings: list[str] = []
    lost_block = hit - 2  # frames: run, benchmark, then one per block
    expected = [r.request_id for i, r in enumerate(written) if i // 200 != lost_block]
    assert _ids(path, warnings) == expected
    assert warnings == [_skipped(path, end - begin, begin)]


def test_a_damaged_journal_rebuilds_from_its_good_records(tmp_path: Path) -> None:
    path = tmp_path / "j.journal"
    written = _journal(path)
    offsets = frames(path)
    data = bytearray(path.read_bytes())
    data[offsets[3][0] + 40] ^= 0xFF  # inside the second block of results
    path.write_bytes(bytes(data[:-7]) + b"\x00garbage")  # and a torn, padded tail
    report = rebuild_report(path)
    (bench,) = report.benchmarks
    kept = written[:200] + written[400:800]
    assert bench.requests.successful + bench.requests.errored == len(kept)
    assert bench.requests.successful == sum(r.status == "successful" for r in kept)
    said = [w for w in bench.warnings if "journal" in w and "byte" in w]
    assert len(said) == 2, bench.warnings
    assert f"at byte {offsets[3][0]} skipped" in said[0]
    assert f"at byte {offsets[-1][0]}" in said[1]


def test_an_old_json_lines_journal_still_rebuilds(tmp_path: Path) -> None:
    import json

    path = tmp_path / "old.journal.jsonl"
    results = _results(50)
    lines = [
        {"type": "run", "metadata": {}, "config": {}},
        {"type": "benchmark", "index": 0, "strategy": {"type": "constant"}, "settings": _SETTINGS},
    ]
    text = "\n".join(json.dumps(x) for x in lines) + "\n"
    for r in results:
        text += '{"type":"result","b":0,"r":' + msgspec.json.encode(r).decode() + "}\n"
    path.write_text(text + '{"type":"result","b":0,"r":[cut')
    report = rebuild_report(path)
    (bench,) = report.benchmarks
    assert bench.requests.successful + bench.requests.errored == 50
    assert any("unreadable line at byte" in w for w in bench.warnings)


def test_a_damaged_run_header_still_gives_the_results(tmp_path: Path) -> None:
    path = tmp_path / "j.journal"
    written = _journal(path)
    data = bytearray(path.read_bytes())
    data[frames(path)[0][0] + 20] ^= 0x40  # inside the run record
    path.write_bytes(bytes(data))
    warnings: list[str] = []
    assert _ids(path, warnings) == [r.request_id for r in written]
    assert len(warnings) == 1 and "unreadable bytes at byte 8" in warnings[0]


def test_a_run_stopped_while_starting_has_a_journal_with_no_results(tmp_path: Path) -> None:
    """Interrupted before its header, a run journals only its end: read as a journal whose
    report cannot be rebuilt for want of results (one line, exit 2 from the CLI)."""
    from guidellm.errors import UserError

    path = tmp_path / "j.journal"
    journal = Journal(path)
    journal.run_finished(130)
    journal.close()
    assert list(read_journal(path)) == [("run_end", {"type": "run_end", "exit_code": 130})]
    with pytest.raises(UserError, match="holds no results"):
        rebuild_report(path)


@pytest.mark.parametrize("second_fault", [False, True])
def test_a_damaged_length_costs_only_its_own_record(tmp_path: Path, second_fault: bool) -> None:
    """A length that points past the end of the file is not a torn tail when sound frames
    follow: they are read, and the damaged frame is named as unreadable. With a second
    fault (the next frame's body damaged too) the frames after both are still read."""
    path = tmp_path / "j.journal"
    written = _journal(path)
    offsets = frames(path)
    last = 5 if second_fault else 4  # the first frame read again
    begin, end = offsets[3][0], offsets[last][0]  # from the second block of results
    data = bytearray(path.read_bytes())
    data[begin + 4 : begin + 8] = (len(data) * 2).to_bytes(4, "little")
    if second_fault:
        data[offsets[4][0] + 40] ^= 0x08
    path.write_bytes(bytes(data))
    warnings: list[str] = []
    kept = written[:200] + written[(last - 2) * 200 :]
    assert _ids(path, warnings) == [r.request_id for r in kept]
    assert warnings == [_skipped(path, end - begin, begin)]


def test_an_old_journal_result_that_does_not_decode_is_skipped_and_named(
    tmp_path: Path,
) -> None:
    """A line of an old JSON-lines journal that is JSON but no result: a warning naming its
    byte, never a crash."""
    path = tmp_path / "j.journal.jsonl"
    head = msgspec.json.encode(
        {"type": "run", "metadata": {}, "config": {"profile": "constant"}}
    ).decode()
    bench = msgspec.json.encode(
        {"type": "benchmark", "index": 0, "strategy": {"type": "constant", "rate": 1.0},
         "settings": _SETTINGS}
    ).decode()  # fmt: skip
    good = [
        '{"type":"result","b":0,"r":' + msgspec.json.encode(r).decode() + "}" for r in _results(20)
    ]
    bad = '{"type":"result","r":[1,2]}'
    lines = [head, bench, *good[:10], bad, *good[10:]]
    path.write_text("\n".join(lines) + "\n")
    at = sum(len(line) + 1 for line in lines[:12])
    warnings: list[str] = []
    assert len(_ids(path, warnings)) == 20
    assert len(warnings) == 1 and f"a result at byte {at} does not decode" in warnings[0]


def test_results_whose_benchmark_start_is_lost_are_counted_in_a_warning(
    tmp_path: Path,
) -> None:
    """The record that starts the benchmark is damaged: its results cannot be placed, and the
    rebuild says how many were left out instead of returning an empty report."""
    from guidellm.errors import UserError

    path = tmp_path / "j.journal"
    _journal(path)
    data = bytearray(path.read_bytes())
    data[frames(path)[1][0] + 20] ^= 0x40  # inside the benchmark record
    path.write_bytes(bytes(data))
    with pytest.raises(UserError, match="1000 results of benchmark 0 skipped"):
        rebuild_report(path)
