"""Conversations against a real llama-server, through a recording proxy: 8 users run
synthetic 4-turn sessions; every later turn's request body carries the previous answer exactly
as the client received it, and the server serves the earlier turns from its prefix cache."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from clirun import guidellm
from journalread import journal_results

from guidellm.request import RequestStatus
from guidellm.testing.llama import LlamaServer
from guidellm.testing.recording_proxy import RecordingProxy

SESSIONS, TURNS = 8, 4


def test_live_history_reaches_llama_server_and_hits_its_cache(
    start_llama_server: Callable[..., LlamaServer], tmp_path: Path
) -> None:
    server = start_llama_server(slots=8)
    proxy = RecordingProxy(server.url)
    with proxy as target:
        proc = guidellm(
            ["run", "--target", target, "--disable-progress", "--output", "r.json",
             "--data", "turns=4,prompt_tokens=64,turn_prompt_tokens=24,output_tokens=12",
             "--data-args", "ignore_eos=true", "--profile", "concurrent", "--rate", "8",
             "--max-sessions", str(SESSIONS), "--output-sampling", "100"],
            tmp_path,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
    recorded = list(proxy.requests)
    results = journal_results(tmp_path / "r.journal")
    assert len(results) == SESSIONS * TURNS
    assert all(r.status == RequestStatus.SUCCESSFUL for r in results)
    answers = {(r.session_id, r.turn): r.output_text for r in results}
    assert all(answers.values())

    # One body per turn (a request the client retried on a fresh connection, when the
    # server had closed the idle one, reached the proxy twice: the same body both times).
    turn_bodies: dict[str, dict[int, dict[str, Any]]] = defaultdict(dict)
    for request in recorded:
        if request.path == "/v1/chat/completions":
            body = json.loads(request.body)
            session = turn_bodies[request.headers["x-session-id"]]
            users = sum(1 for m in body["messages"] if m["role"] == "user")
            assert session.setdefault(users, body) == body
    assert len(turn_bodies) == SESSIONS
    for session, by_turn in turn_bodies.items():
        assert sorted(by_turn) == list(range(1, TURNS + 1))
        sent = [by_turn[k] for k in sorted(by_turn)]
        for k in range(2, TURNS + 1):
            assistant = [m for m in sent[k - 1]["messages"] if m["role"] == "assistant"]
            # Every earlier answer, byte for byte as the client received it.
            assert [m["content"] for m in assistant] == [answers[(session, j)] for j in range(1, k)]

    cached: dict[int, list[int]] = defaultdict(list)
    for r in results:
        assert r.cached_tokens is not None
        cached[r.turn].append(r.cached_tokens)
    for k in range(2, TURNS + 1):
        print(f"turn {k}: cached tokens {sorted(cached[k])}")
        assert min(cached[k]) > 0, (k, cached[k])
    # The report's per-turn table shows them, and the console prints it.
    bench = json.loads((tmp_path / "r.json").read_text())["benchmarks"][0]
    rows = {row["turn"]: row for row in bench["turns"]}
    assert sorted(rows) == [1, 2, 3, 4]
    for k in range(2, TURNS + 1):
        assert rows[k]["cached_tokens"] == sum(cached[k])
        assert rows[k]["cache_hit_ratio"] > 0
    assert bench["sessions"]["started"] == bench["sessions"]["completed"] == SESSIONS
    assert "Turns:" in proc.stdout and "Cache" in proc.stdout
