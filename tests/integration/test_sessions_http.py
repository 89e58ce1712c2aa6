"""Sessions over real HTTP: 2 worker processes, the openai_http backend, the mock server
behind a recording proxy. Every turn of a session comes from one worker, carries the same
session header and rides one connection; each turn's body holds the previous answer exactly
as the client received it."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest
from clirun import guidellm
from journalread import journal_results
from schedulerrun import run_schedule

from guidellm.backends.openai_http import OpenAIHTTPBackend
from guidellm.errors import UserError
from guidellm.mock_server import MockServer, MockServerConfig
from guidellm.request import GenerationRequest, RequestStatus, Turn
from guidellm.scheduler.scheduler import Limits
from guidellm.scheduler.strategies import ConcurrentStrategy, ConstantStrategy
from guidellm.testing.recording_proxy import RecordingProxy

AGENT = Path(__file__).resolve().parents[2] / "examples/conversations/agent.jsonl"


def _sessions(count: int, turns: int, think: float = 0.004) -> Iterator[GenerationRequest]:
    for i in range(count):
        yield GenerationRequest(
            f"conv{i}",
            turns=[
                # Think times that differ, so that sessions on a worker interleave and
                # another's request could take a session's connection.
                Turn(
                    [{"role": "user", "content": f"conversation {i}, question {k}"}],
                    max_tokens=6,
                    think_time=think * (1 + (i + k) % 3),
                )
                for k in range(1, turns + 1)
            ],
            session_id=f"conv{i}",
        )


@pytest.mark.parametrize("user_field", [False, True])
def test_a_session_keeps_one_worker_one_header_one_connection(user_field: bool) -> None:
    server = MockServer(MockServerConfig(ttft_ms=2, itl_ms=1, output_tokens=6))
    url = server.start_thread()
    proxy = RecordingProxy(url)
    try:
        target = proxy.start()
        backend = OpenAIHTTPBackend(target, "mock-model", session_user=user_field)
        summary, results = run_schedule(ConcurrentStrategy(4), _sessions(8, 4), backend)
    finally:
        proxy.stop()
        server.stop()
    assert len(results) == summary.sent == 32
    assert all(r.status == RequestStatus.SUCCESSFUL for r in results)
    answers = {(r.session_id, r.turn): r.output_text for r in results}
    workers: dict[str, set[int]] = defaultdict(set)
    for r in results:
        assert r.session_id is not None
        workers[r.session_id].add(r.worker)
    assert all(len(w) == 1 for w in workers.values())
    assert {w for ws in workers.values() for w in ws} == {0, 1}

    chats = [r for r in proxy.requests if r.path == "/v1/chat/completions"]
    assert len(chats) == 32
    by_session: dict[str, list[dict[str, object]]] = defaultdict(list)
    ports: dict[str, set[int]] = defaultdict(set)
    for recorded in chats:
        session = recorded.headers["x-session-id"]
        body = json.loads(recorded.body)
        assert (body.get("user") == session) is user_field
        by_session[session].append(body)
        ports[session].add(recorded.client_port)
    assert sorted(by_session) == sorted(workers)
    for session, bodies in by_session.items():
        assert len(ports[session]) == 1, (session, ports[session])
        bodies.sort(key=lambda b: len(b["messages"]))  # type: ignore[arg-type]
        for k, body in enumerate(bodies, 1):
            messages = body["messages"]
            assert isinstance(messages, list) and len(messages) == 2 * k - 1
            for j in range(1, k):  # every earlier answer, verbatim
                assert messages[2 * j - 1] == {
                    "role": "assistant",
                    "content": answers[(session, j)],
                }
            assert messages[-1]["content"].endswith(f"question {k}")


def test_open_loop_sessions_keep_their_connections() -> None:
    """New sessions arriving while others think take a free or a new connection, never a
    thinking session's; a session's last turn frees its connection for the next ones."""
    server = MockServer(MockServerConfig(ttft_ms=2, itl_ms=1, output_tokens=4))
    url = server.start_thread()
    proxy = RecordingProxy(url)
    try:
        target = proxy.start()
        backend = OpenAIHTTPBackend(target, "mock-model")
        summary, results = run_schedule(
            ConstantStrategy(50), _sessions(30, 3, think=0.05), backend, Limits(max_sessions=30)
        )
    finally:
        proxy.stop()
        server.stop()
    assert len(results) == summary.sent == 90
    ports: dict[str, set[int]] = defaultdict(set)
    for recorded in proxy.requests:
        if recorded.path == "/v1/chat/completions":
            ports[recorded.headers["x-session-id"]].add(recorded.client_port)
    assert len(ports) == 30
    assert all(len(p) == 1 for p in ports.values()), {s: p for s, p in ports.items() if len(p) > 1}
    # Freed connections are reused: far fewer connections than sessions.
    assert len({p for ps in ports.values() for p in ps}) < 30


def test_a_session_header_must_be_a_header_name() -> None:
    with pytest.raises(UserError, match="session_header"):
        OpenAIHTTPBackend("http://127.0.0.1:1", session_header="X Session")
    # Not one the client sends already: the session id would replace the API key.
    for taken in ("Authorization", "content-type"):
        with pytest.raises(UserError, match="does not already send"):
            OpenAIHTTPBackend("http://127.0.0.1:1", session_header=taken)
    with pytest.raises(UserError, match="does not already send"):
        OpenAIHTTPBackend("http://127.0.0.1:1", session_header="X-A", headers={"x-a": "1"})


def test_an_agentic_conversation_sends_tools_tool_calls_and_tool_results(tmp_path: Path) -> None:
    """The example agent file: the tool turn follows the recorded tool latency, sends the
    tool definitions, the assistant's recorded tool calls (after its live answer) and the
    recorded tool output; the results tag it as a tool turn."""
    server = MockServer(MockServerConfig(ttft_ms=2, itl_ms=1, output_tokens=5))
    url = server.start_thread()
    proxy = RecordingProxy(url)
    try:
        with proxy as target:
            proc = guidellm(
                ["run", "--target", target, "--data", str(AGENT), "--profile", "concurrent",
                 "--rate", "3", "--output", "r.json", "--disable-progress",
                 "--output-sampling", "100"],
                tmp_path,
            )  # fmt: skip
    finally:
        server.stop()
    assert proc.returncode == 0, proc.stderr
    results = journal_results(tmp_path / "r.journal")
    assert len(results) == 9
    kinds = sorted((r.turn, r.turn_kind) for r in results)
    assert kinds == [(1, "user")] * 3 + [(2, "tool")] * 3 + [(3, "user")] * 3
    by_turn = {(r.session_id, r.turn): r for r in results}
    for (session, turn), r in by_turn.items():
        if turn == 2:  # 250 ms of recorded tool latency after turn 1's answer
            before = by_turn[(session, 1)]
            assert abs(r.scheduled_time - before.request_end - 0.25) < 1e-6
    rows = [json.loads(line) for line in AGENT.read_text().splitlines()]
    chats = [
        (r.headers["x-session-id"], json.loads(r.body))
        for r in proxy.requests
        if r.path == "/v1/chat/completions"
    ]
    tool_turns = [(s, b) for s, b in chats if b["messages"][-1]["role"] == "tool"]
    assert len(tool_turns) == 3
    for session, body in tool_turns:
        system, user, assistant, tool = body["messages"]
        row = next(r for r in rows if r["messages"][1] == user)
        assert system == row["messages"][0]
        assert body["tools"] == row["tools"]
        assert assistant["tool_calls"] == row["messages"][2]["tool_calls"]
        assert assistant["content"] == by_turn[(session, 1)].output_text
        assert tool["tool_call_id"] == row["messages"][3]["tool_call_id"]
        assert tool["content"] == row["messages"][3]["content"]
