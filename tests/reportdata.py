"""Synthetic RequestResults and reports for the aggregator, writer and report-command tests.

Every timing is explicit so that expected statistics can be computed by hand.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from guidellm.request import RequestResult


def result(
    start: float,
    *,
    ttft: float | None = 0.05,
    itl: float = 0.01,
    tokens: int = 4,
    status: str = "successful",
    scheduled: float | None = None,
    usage: bool = True,
    prompt_tokens: int | None = 10,
    tail: float = 0.001,
    error_category: str | None = None,
    error: str | None = None,
    output_text: str | None = None,
    request_id: str | None = None,
) -> RequestResult:
    """One request: first chunk ``ttft`` s after ``start``, then a chunk every ``itl`` s."""
    times: list[float] = []
    if ttft is not None and tokens > 0:
        times = [start + ttft + k * itl for k in range(tokens)]
    end = (times[-1] if times else start + (ttft or 0.0)) + tail
    return RequestResult(
        request_id=request_id or f"r{start:.6f}",
        status=status,
        scheduled_time=start if scheduled is None else scheduled,
        request_start=start,
        request_end=end,
        first_token_time=times[0] if times else None,
        last_token_time=times[-1] if times else None,
        chunk_times=times,
        content_chunks=len(times),
        prompt_tokens=prompt_tokens if usage else None,
        output_tokens=tokens if usage else None,
        request_prompt_tokens=prompt_tokens,
        error_category=error_category,
        error=error,
        output_text=output_text,
    )


def stream(
    n: int,
    *,
    rate: float,
    seed: int = 0,
    ttft: float = 0.05,
    itl: float = 0.01,
    tokens: int = 16,
    error_every: int = 0,
) -> list[RequestResult]:
    """``n`` requests sent at ``rate``/s with a little jitter; every ``error_every``-th fails."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        start = i / rate
        failed = bool(error_every) and i % error_every == error_every - 1
        out.append(
            result(
                start,
                ttft=ttft * (1 + 0.2 * rng.random()),
                itl=itl * (1 + 0.1 * rng.random()),
                tokens=tokens,
                status="errored" if failed else "successful",
                error_category="http_5xx" if failed else None,
                error="HTTP 503: overloaded" if failed else None,
                request_id=f"r{i}",
            )
        )
    return out


def compile_results(
    results: Sequence[RequestResult],
    *,
    index: int = 0,
    strategy: dict[str, Any] | None = None,
    start_time: float = 0.0,
    end_time: float | None = None,
    client: dict[str, Any] | None = None,
    **options: Any,
) -> Any:
    """Feed ``results`` to a fresh aggregator and compile (end: the last request's end)."""
    from guidellm.benchmark.aggregator import BenchmarkAggregator

    kwargs: dict[str, Any] = {
        "warmup": None,
        "cooldown": None,
        "max_seconds": None,
        "max_requests": None,
        "slo": None,
    }
    kwargs.update(options)
    agg = BenchmarkAggregator(
        index=index, strategy=strategy or {"type": "constant", "rate": 1.0}, **kwargs
    )
    for r in results:
        agg.add(r)
    if end_time is None:
        end_time = max((r.request_end for r in results), default=start_time)
    return agg.compile(
        start_time=start_time, end_time=end_time, client=client or {"limited": False}
    )


_SLO = {"ttft_ms": 70.0}


def sweep_report(
    rates: Sequence[float] = (2.0, 4.0, 8.0), n: int = 200, slo: dict[str, float] | None = _SLO
) -> Any:
    """A report with one constant-rate benchmark per rate (latency grows with the rate);
    ``slo=None``: no goodput."""
    from guidellm.benchmark.report import Report

    benchmarks = [
        compile_results(
            stream(
                n,
                rate=rate,
                seed=i,
                ttft=0.04 + 0.005 * rate,
                itl=0.008 + rate / 4000,
                error_every=50,
            ),
            index=i,
            strategy={"type": "constant", "rate": rate},
            slo=slo,
        )
        for i, rate in enumerate(rates)
    ]
    return Report.create(
        {"target": "http://127.0.0.1:1/v1", "backend_args": {"api_key": "***"}},
        benchmarks,
        command="guidellm run --rate 2,4,8",
    )


def capacity(kind: str = "saturation", *, found: bool = True) -> Any:
    """A hand-made capacity for a sweep over rates 2, 4, 8, 12, 16 (benchmarks 0 to 4):
    benchmarks 0 to 2 pass, 3 and 4 fail; found at 10.3 req/s (bracket 8 to 12, benchmark
    2), or not found with a reason."""
    from guidellm.benchmark.capacity import Capacity, CapacityProbe

    slo = kind == "slo"
    values = [0.99, 0.98, 0.96, 0.81, 0.52] if slo else [1.0, 1.1, 1.3, 2.4, 3.9]
    probes = [
        CapacityProbe(
            benchmark=i,
            rate=rate,
            achieved=rate * 0.98,
            passed=i < 3,
            value=v,
            ci95=(v - 0.02, v + 0.02),
            reason=(
                (f"goodput {v:.2f} ≥ 0.95" if i < 3 else f"goodput {v:.2f} < 0.95")
                if slo
                else (f"latency ratio {v:g} ≤ 1.5" if i < 3 else f"latency ratio {v:g} > 1.5")
            ),
        )
        for i, (rate, v) in enumerate(zip((2.0, 4.0, 8.0, 12.0, 16.0), values, strict=True))
    ]
    extra: dict[str, Any] = (
        {"slo": {"ttft_ms": 200.0, "itl_ms": 20.0}, "goodput": 0.95, "precision": 0.05}
        if slo
        else {}
    )
    if not found:
        return Capacity(
            kind=kind,  # type: ignore[arg-type]
            rule="the first rate whose TTFT p50 exceeds 1.5 times the lowest rate's",
            probes=probes[:3],
            reason="no benchmark reached the threshold; sweep to higher rates",
            **extra,
        )
    return Capacity(
        kind=kind,  # type: ignore[arg-type]
        rule=(
            "the highest rate whose goodput meets the SLOs"
            if slo
            else "the first rate whose TTFT p50 exceeds 1.5 times the lowest rate's"
        ),
        value=10.3,
        bracket=(8.0, 12.0),
        benchmark=2,
        probes=probes,
        **extra,
    )


def capacity_report(kind: str | None = "saturation", *, found: bool = True) -> Any:
    """A sweep over 2, 4, 8, 12, 16 req/s with :func:`capacity` (``kind=None``: none)."""
    report = sweep_report((2.0, 4.0, 8.0, 12.0, 16.0), n=120)
    if kind is not None:
        report.capacity = capacity(kind, found=found)
    return report


def turn(
    start: float,
    session: str,
    index: int,
    *,
    planned: int = 4,
    kind: str = "user",
    cached: int | None = None,
    end: bool = False,
    **kwargs: Any,
) -> RequestResult:
    """Turn ``index`` of ``session`` (a :func:`result` with the session fields set)."""
    import msgspec

    r = result(start, request_id=f"{session}-{index}", **kwargs)
    return msgspec.structs.replace(
        r,
        session_id=session,
        turn=index,
        session_turns=planned,
        turn_kind=kind,
        session_end=end,
        cached_tokens=cached,
    )


def session_results() -> list[RequestResult]:
    """Five sessions of 4 planned turns (prompt ``100 * turn`` tokens, the previous turns'
    ``100 * (turn - 1)`` cached) and two requests outside any session:

    - ``a``: completed, turns at 0, 1, 2, 3 s (TTFT 10, 20, 30, 40 ms);
    - ``b``: completed, turns at 0.5, 2.5, 4.5, 6.5 s, turn 2 a tool turn (TTFT 15 ... 45 ms);
    - ``c``: turn 2 errored (no usage, no cached count): ended by an error, 2 turns not sent;
    - ``d``: turn 3 cancelled (incomplete): stopped, 1 turn not sent;
    - ``e``: only turn 1 came back (the server did not say what it cached): stopped.
    """
    out = [result(0.2, request_id="solo-1"), result(5.0, request_id="solo-2", prompt_tokens=50)]
    for i in range(4):
        t = i + 1
        last = t == 4
        out.append(
            turn(float(i), "a", t, cached=100 * i, end=last, ttft=0.01 * t, prompt_tokens=100 * t)
        )
        out.append(
            turn(
                0.5 + 2 * i,
                "b",
                t,
                kind="tool" if t == 2 else "user",
                cached=100 * i,
                end=last,
                ttft=0.01 * t + 0.005,
                prompt_tokens=100 * t,
            )
        )
    out.append(turn(0.1, "c", 1, cached=0, ttft=0.02, prompt_tokens=100))
    out.append(
        turn(
            1.1,
            "c",
            2,
            end=True,
            status="errored",
            ttft=None,
            tokens=0,
            error_category="http_5xx",
            error="HTTP 500",
        )
    )
    out.append(turn(0.2, "d", 1, cached=0, ttft=0.03, prompt_tokens=100))
    out.append(turn(1.2, "d", 2, cached=100, ttft=0.04, prompt_tokens=200))
    out.append(
        turn(2.2, "d", 3, end=True, status="incomplete", tokens=2, error_category="cancelled")
    )
    out.append(turn(0.3, "e", 1, ttft=0.05, prompt_tokens=100))
    return out


def server_metrics(b: Any, *, kind: str | None = "vllm", gap: bool = True) -> Any:
    """A hand-made server view of benchmark ``b`` (a vLLM-like server scraped every second):

    - gauges: running mean 3.5 / max 8, waiting 1.5 / 4, KV-cache 0.4234 / 0.871;
    - counters: the client's successful requests and tokens, 500 prefix-cache hits of 2,000
      queries (25 %), 3 preemptions;
    - histograms: TTFT mean 40 ms, p90 55.5, p99 70; queue time mean 2.5 ms;
    - cross-check: requests and output tokens agree, prompt tokens have no server number, the
      TTFT mean disagrees by 25 ms (tolerance 10);
    - series: one scrape a second from -0.05 s, ``gap``: the scrape at index 2 failed (every
      value ``None``); the client's CPU and loop lag on the same ticks (no CPU at the first).
    """
    from guidellm.telemetry.models import ServerMetrics

    ok = b.requests.successful
    output = b.metrics.output_token_count.successful
    out_tokens = float(round((output.mean or 0.0) * output.count))
    n = int(b.duration) + 2
    t = [round(-0.05 + k, 3) for k in range(n)]
    missing = {2} if gap and n > 3 else set()

    def col(f: Any) -> list[float | None]:
        return [None if k in missing else f(k) for k in range(n)]

    return ServerMetrics.model_validate(
        {
            "interval_s": 1.0,
            "server": kind,
            "endpoints": [{"url": "http://127.0.0.1:1/metrics", "server": kind, "scrapes": n}],
            "counters": {
                "requests": float(ok),
                "generation_tokens": out_tokens,
                "prefix_cache_queries": 2000.0,
                "prefix_cache_hits": 500.0,
                "preemptions": 3.0,
            },
            "gauges": {
                "requests_running": {"mean": 3.5, "p90": 7.0, "max": 8.0, "samples": n},
                "requests_waiting": {"mean": 1.5, "p90": 3.0, "max": 4.0, "samples": n},
                "kv_cache_usage": {"mean": 0.4234, "p90": 0.8, "max": 0.871, "samples": n},
            },
            "histograms": {
                "ttft": {
                    "count": ok,
                    "mean_ms": 40.0,
                    "p50_ms": 38.0,
                    "p90_ms": 55.5,
                    "p99_ms": 70.0,
                },
                "queue_time": {"count": ok, "mean_ms": 2.5},
            },
            "crosscheck": [
                {
                    "name": "requests",
                    "client": float(ok),
                    "server": float(ok),
                    "difference": 0.0,
                    "tolerance": 4.0,
                    "agree": True,
                    "rule": "r",
                },
                {
                    "name": "output_tokens",
                    "client": out_tokens,
                    "server": out_tokens,
                    "difference": 0.0,
                    "tolerance": 17.0,
                    "agree": True,
                    "rule": "r",
                },
                {"name": "prompt_tokens", "client": 2000.0, "rule": "r"},
                {
                    "name": "ttft_mean_ms",
                    "client": 65.0,
                    "server": 40.0,
                    "difference": 25.0,
                    "tolerance": 10.0,
                    "agree": False,
                    "rule": "r",
                },
            ],
            "series": {
                "t_s": t,
                "values": {
                    "requests_running": col(lambda k: float(k % 9)),
                    "requests_waiting": col(lambda k: float(k % 5)),
                    "kv_cache_usage": col(lambda k: 0.1 * (k % 9)),
                    "generation_tokens_per_s": col(lambda k: 100.0 * k),
                },
            },
            "client": {
                "t_s": t,
                "cpu_percent": [None, *(20.0 + k for k in range(1, n))],
                "loop_lag_ms": [0.5 * k for k in range(n)],
            },
        }
    )


def server_report(
    rates: Sequence[float] = (2.0, 4.0, 8.0), *, scraped: Sequence[int] | None = None
) -> Any:
    """:func:`sweep_report` with :func:`server_metrics` on the benchmarks whose index is in
    ``scraped`` (all by default)."""
    report = sweep_report(rates)
    for b in report.benchmarks:
        if scraped is None or b.id in scraped:
            b.server = server_metrics(b)
    return report
