"""A Mooncake trace's prefix reuse reaches a real server's prefix cache (llama.cpp).

Two traces of 40 short requests (blocks of 16 tokens, prompts of 64-128, 4 output tokens) are
replayed against a one-slot llama-server: in one, about half of the
requests begin with earlier requests' blocks; in the other no hash id repeats. llama-server
counts the prompt tokens it took from its cache (``llamacpp:prompt_tokens_cached_total`` on
``/metrics``; its responses say the same in ``usage.prompt_tokens_details.cached_tokens``).
Every request shares the BOS token with the one before, so a trace without reuse still caches
one token per request (measured: 40 for 40 requests); the repeating trace must cache whole
blocks (measured: 4,352 tokens, more than the 34 blocks shared with the request just before:
this llama-server also keeps earlier prompts in a host-memory cache).

The traces are replayed at their own times (``--profile replay``, 50 requests/s: the one slot
takes them in turn).
"""

from __future__ import annotations

import importlib.util
import itertools
import json
import os
import subprocess
import sys
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from guidellm.testing.llama import LlamaServer

pytestmark = pytest.mark.realserver

ROOT = Path(__file__).resolve().parents[2]
REQUESTS = 40


def _make_trace(path: Path, reuse: float) -> list[dict[str, Any]]:
    spec = importlib.util.spec_from_file_location("mk", ROOT / "scripts/make_mooncake_trace.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    rows: list[dict[str, Any]] = module.make_trace(
        REQUESTS, 50.0, reuse=reuse, seed=1, block_size=16, input_tokens=(64, 128),
        output_tokens=(4, 4), pool=4,
    )  # fmt: skip
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return rows


def _cached_total(url: str) -> int:
    with urllib.request.urlopen(url + "/metrics", timeout=10) as resp:
        for line in resp.read().decode().splitlines():
            if line.startswith("llamacpp:prompt_tokens_cached_total "):
                return int(float(line.split()[1]))
    raise AssertionError("llama-server exposes no llamacpp:prompt_tokens_cached_total")


def _replay(server: LlamaServer, trace: Path, tmp_path: Path) -> int:
    """Send the trace; the prompt tokens the server took from its cache meanwhile."""
    before = _cached_total(server.url)
    env = {k: v for k, v in os.environ.items() if not k.startswith("GUIDELLM_")}
    proc = subprocess.run(
        [sys.executable, "-m", "guidellm", "run", "--target", server.url, "--data", str(trace),
         "--data-args", "block_size=16,ignore_eos=true", "--profile", "replay",
         "--max-requests", str(REQUESTS), "--backend-args", "request_format=text_completions",
         "--output", str(tmp_path / f"{trace.stem}.json"), "--disable-progress"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    report = json.loads((tmp_path / f"{trace.stem}.json").read_text())
    (bench,) = report["benchmarks"]
    assert bench["requests"]["successful"] == REQUESTS
    assert bench["strategy"]["type"] == "replay"
    assert report["resolved"]["data"]["trace"]["block_size"] == 16
    return _cached_total(server.url) - before


def test_repeating_hash_ids_hit_the_prefix_cache(
    start_llama_server: Callable[..., LlamaServer], tmp_path: Path
) -> None:
    server = start_llama_server(slots=1)
    fresh_rows = _make_trace(tmp_path / "fresh.jsonl", reuse=0.0)
    shared_rows = _make_trace(tmp_path / "shared.jsonl", reuse=0.8)
    ids = [h for r in fresh_rows for h in r["hash_ids"]]
    assert len(ids) == len(set(ids))
    # Blocks the shared trace takes from the request just before (what one slot can reuse).
    reused_blocks = 0
    for before, row in itertools.pairwise(shared_rows):
        for a, b in zip(before["hash_ids"], row["hash_ids"], strict=False):
            if a != b:
                break
            reused_blocks += 1
    assert reused_blocks >= 5
    fresh = _replay(server, tmp_path / "fresh.jsonl", tmp_path)
    shared = _replay(server, tmp_path / "shared.jsonl", tmp_path)
    # No reuse: the BOS token only (measured: exactly one per request), with room for a rare
    # word that happens to match.
    assert REQUESTS <= fresh <= REQUESTS + 8, fresh
    # Reuse: most of the repeated blocks' tokens (16 approximate tokens each, more for the
    # model's own tokenizer) come from the cache.
    assert shared - REQUESTS >= 0.5 * 16 * reused_blocks, (shared, reused_blocks)
