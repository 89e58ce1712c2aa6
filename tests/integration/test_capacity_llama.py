"""The SLO search against a real llama-server (tiny model, 4 slots), checked against the
server's capacity measured the plain way: a concurrency scan. The scan's knee interval runs
from the best throughput of the levels whose TTFT stayed near one stream's to the best
throughput of any level (15 % of measurement noise either side: two shared cores); the
search, with a TTFT limit three times one stream's, must answer inside it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from guidellm.benchmark.capacity import achieved
from guidellm.benchmark.report import Report
from guidellm.testing.llama import LlamaServer

NOISE = 0.15


def _run(url: str, tmp_path: Path, name: str, seed: int, *args: str) -> Report:
    """One run; each its own seed, so no run's prompts are in the server's prompt cache from
    an earlier one (cached prompts answer in a few ms and would measure the cache)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GUIDELLM_")}
    proc = subprocess.run(
        [sys.executable, "-m", "guidellm", "run", "--target", url,
         "--data", "prompt_tokens=64,output_tokens=32", "--data-args", "ignore_eos=true",
         "--workers", "1", "--random-seed", str(seed), "--output", f"{name}.json",
         "--disable-progress", *args],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=400, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return Report.load(tmp_path / f"{name}.json")


def test_slo_search_answers_inside_the_scans_knee(
    start_llama_server: Callable[..., LlamaServer], tmp_path: Path
) -> None:
    server = start_llama_server(slots=4)
    # A warm server: its first requests are slower than any later ones.
    _run(server.url, tmp_path, "warm", 1, "--profile", "concurrent", "--rate", "2",
         "--max-seconds", "3")  # fmt: skip
    scan = _run(server.url, tmp_path, "scan", 2, "--profile", "concurrent", "--rate", "1,2,4,8",
                "--max-seconds", "6")  # fmt: skip
    rates = [achieved(b) for b in scan.benchmarks]
    ttfts = [b.metrics.time_to_first_token_ms.successful.percentiles.p50 for b in scan.benchmarks]
    assert all(t is not None for t in ttfts)
    one = ttfts[0] or 0.0
    near = [r for r, t in zip(rates, ttfts, strict=True) if t is not None and t <= 2 * one]
    knee = (max(near) * (1 - NOISE), max(rates) * (1 + NOISE))

    search = _run(server.url, tmp_path, "search", 3, "--profile", "slo-search",
                  "--slo", f"ttft_ms={3 * one:.0f}", "--max-seconds", "6")  # fmt: skip
    capacity = search.capacity
    assert capacity is not None and capacity.kind == "slo" and capacity.value is not None
    assert knee[0] <= capacity.value <= knee[1], (capacity.value, knee, rates, ttfts)
    print(json.dumps({"scan": rates, "ttft_p50": ttfts, "knee": knee, "answer": capacity.value}))
