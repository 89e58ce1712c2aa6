"""The per-request export's rows: each column as docs/metrics.md defines it, blocks that split
anywhere give the same rows, and what a journal lacks is null and said."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from guidellm.benchmark import request_rows
from guidellm.benchmark.request_rows import COLUMNS, request_blocks, request_columns
from guidellm.request import RequestResult

EPOCH = 1_750_000_000.0


def _results() -> list[RequestResult]:
    return [
        RequestResult(  # usage from the server, a session's second turn, cached tokens
            request_id="a",
            status="successful",
            scheduled_time=100.0,
            request_start=100.002,
            request_end=100.5,
            first_token_time=100.05,
            last_token_time=100.45,
            chunk_times=[100.05, 100.25, 100.45],
            content_chunks=3,
            prompt_tokens=12,
            output_tokens=5,
            reasoning_tokens=2,
            cached_tokens=8,
            session_id="s1",
            turn=2,
            turn_kind="tool",
            worker=1,
            model="m",
            traffic_class="chat",
        ),
        RequestResult(  # no usage: tokens are its chunks, the prompt the dataset's
            request_id="b",
            status="successful",
            scheduled_time=101.0,
            request_start=101.0,
            request_end=101.2,
            first_token_time=101.1,
            last_token_time=101.1,
            chunk_times=[101.1],
            content_chunks=1,
            request_prompt_tokens=30,
            images=2,
            image_bytes=1000,
        ),
        RequestResult(  # failed before any token, no category from the backend
            request_id="c",
            status="errored",
            scheduled_time=102.0,
            request_start=102.01,
            request_end=102.02,
            error="HTTP 500: api_key=sk-abcdef123456 " + "x" * 600,
        ),
        RequestResult(
            request_id="d",
            status="incomplete",
            scheduled_time=103.0,
            request_start=103.0,
            request_end=104.0,
            audio_clips=1,
            audio_seconds=2.5,
        ),
    ]


def _records(
    results: list[RequestResult], run: dict[str, Any] | None = None
) -> Iterator[tuple[str, Any]]:
    yield "run", run if run is not None else {"metadata": {}, "epoch_offset": EPOCH}
    yield "benchmark", {"index": 0, "strategy": {"type": "constant", "rate": 2.5}, "settings": {}}
    for result in results[:2]:
        yield "result", (0, result)
    yield "benchmark_end", {"index": 0, "start_time": 0.0, "end_time": 1.0, "benchmark": {}}
    yield "benchmark", {"index": 1, "strategy": {"type": "concurrent", "streams": 8}}
    for result in results[2:]:
        yield "result", (1, result)
    yield "run_end", {"exit_code": 0}


def _rows(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Blocks as one list of rows, NaN as None (to compare)."""
    rows = []
    for block in blocks:
        n = len(block["request_id"])
        for i in range(n):
            row = {}
            for name, values in block.items():
                value = values[i]
                if isinstance(value, (float, np.floating)):
                    value = None if math.isnan(value) else float(value)
                row[name] = value
            rows.append(row)
    return rows


def test_each_column_is_defined_as_the_docs_say() -> None:
    results = _results()
    (block,) = request_blocks(_records(results))
    assert list(block) == [name for name, _ in COLUMNS]
    a, b, c, d = _rows([block])
    assert (a["benchmark"], a["strategy"], c["benchmark"], c["strategy"]) == (
        0, "constant 2.5/s", 1, "concurrent 8"
    )  # fmt: skip
    assert (a["session_id"], a["turn"], a["turn_kind"], b["turn"]) == ("s1", 2, "tool", None)
    assert (a["model"], a["traffic_class"], a["worker"]) == ("m", "chat", 1)
    # The aggregator's arithmetic on the same float64 values, bit for bit.
    assert a["ttft_ms"] == (100.05 - 100.002) * 1000.0
    assert a["itl_ms"] == (100.45 - 100.05) * 1000.0 / 4.0
    assert a["tpot_ms"] == (100.45 - 100.002) * 1000.0 / 5.0
    assert a["latency_s"] == 100.5 - 100.002
    assert a["scheduled_latency_s"] == 100.5 - 100.0
    assert a["scheduling_delay_ms"] == (100.002 - 100.0) * 1000.0
    assert a["started_at"] == 100.002 + EPOCH and a["ended_at"] == 100.5 + EPOCH
    assert (a["prompt_tokens"], a["prompt_tokens_source"]) == (12, "usage")
    assert (a["output_tokens"], a["output_tokens_source"], a["chunks"]) == (5, "usage", 3)
    assert (a["reasoning_tokens"], a["cached_tokens"]) == (2, 8)
    assert (b["prompt_tokens"], b["prompt_tokens_source"]) == (30, "dataset")
    assert (b["output_tokens"], b["output_tokens_source"]) == (1, "chunks")
    assert b["itl_ms"] is None and b["tpot_ms"] == pytest.approx(100.0)
    assert (b["images"], b["image_bytes"], b["cached_tokens"]) == (2, 1000, None)
    assert (a["status"], a["error_category"], a["error"]) == ("successful", None, None)
    assert (c["status"], c["error_category"]) == ("errored", "error")
    assert c["ttft_ms"] is None and c["first_token_at"] is None
    assert c["error"] is not None and len(c["error"]) <= 500
    assert "sk-abcdef123456" not in c["error"] and c["error"].startswith("HTTP 500")
    assert (c["prompt_tokens"], c["prompt_tokens_source"]) == (None, None)
    assert (d["status"], d["error_category"], d["error"]) == ("incomplete", "cancelled", None)
    assert (d["audio_clips"], d["audio_seconds"], d["inputs"]) == (1, 2.5, 0)


def test_blocks_of_any_size_give_the_same_rows() -> None:
    results = _results()
    whole = _rows(list(request_blocks(_records(results), chunks=True)))
    for size in (1, 3):
        blocks = list(request_blocks(_records(results), chunks=True, block_rows=size))
        assert [len(b["request_id"]) for b in blocks] == ([1] * 4 if size == 1 else [3, 1])
        assert _rows(blocks) == whole


def test_long_answers_cut_a_block_before_its_row_count(monkeypatch: pytest.MonkeyPatch) -> None:
    """With chunk times a block also ends at a chunk count: long answers stay bounded."""
    results = _results()
    whole = _rows(list(request_blocks(_records(results), chunks=True)))
    monkeypatch.setattr(request_rows, "BLOCK_CHUNKS", 1)
    blocks = list(request_blocks(_records(results), chunks=True))
    with_chunks = sum(1 for r in results if r.chunk_times)
    assert len(blocks) >= with_chunks > 1
    assert _rows(blocks) == whole
    plain = list(request_blocks(_records(results)))  # no chunk times asked: rows alone
    assert len(plain) == 1


def test_chunk_times_are_ms_after_the_start_to_the_microsecond() -> None:
    blocks = list(request_blocks(_records(_results()), chunks=True))
    assert list(blocks[0])[-1] == "chunk_times_ms"
    assert [name for name, _ in request_columns(True)] == list(blocks[0])
    times = blocks[0]["chunk_times_ms"]
    assert times[0] == [48.0, 248.0, 448.0]  # whole microseconds, as the journal keeps them
    assert [len(t) for t in times] == blocks[0]["chunks"] == [3, 1, 0, 0]


def test_a_journal_without_the_clock_offset_has_null_times_and_says_so() -> None:
    warnings: list[str] = []
    (block,) = request_blocks(_records(_results(), run={"metadata": {}}), warnings=warnings)
    for name in ("scheduled_at", "started_at", "first_token_at", "last_token_at", "ended_at"):
        assert np.isnan(block[name]).all()
    assert not np.isnan(block["ttft_ms"][0])  # durations need no offset
    assert len(warnings) == 1 and "UTC timestamp columns are empty" in warnings[0]


def test_tokenizer_counts_the_export_cannot_repeat_are_said() -> None:
    kept = RequestResult(
        request_id="t", status="successful", scheduled_time=1.0, request_start=1.0,
        request_end=2.0, chunk_times=[1.5], content_chunks=1, output_text="four tokens of text",
    )  # fmt: skip
    run = {"metadata": {}, "epoch_offset": EPOCH, "config": {"processor": "gpt2"}}
    warnings: list[str] = []
    (block,) = request_blocks(_records([kept, *_results()], run=run), warnings=warnings)
    assert block["output_tokens_source"][0] == "chunks"
    assert warnings == [
        "1 requests kept their text and had no usage from the server: the report counted "
        "their output tokens with the run's tokenizer (gpt2), the export counts their chunks"
    ]


def test_no_results_no_block() -> None:
    assert list(request_blocks(iter([("run", {"metadata": {}, "epoch_offset": EPOCH})]))) == []
