"""Servers that break the protocol: the run ends within its bound, counts every request it
sent, and shows no credential, whatever the server echoes (basic ``user:pass``, its base64,
the API key), in any output, the journal or on the console."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from chaosrun import API_KEY, ChaosRun, with_credentials

from guidellm.testing.hostile_server import HostileServer

#: mode -> (exit codes, the error category its requests end in, or None: successful).
#: A run in which no request succeeded exits 1.
CASES = {
    "hang_after_headers": ((1,), "cancelled"),
    "reset_mid_stream": ((1,), "connection"),
    "echo_headers": ((1,), "http_5xx"),
    "echo_in_text": ((0,), None),
    "garbage": ((1,), "protocol"),
    "enormous_chunks": ((0,), None),
    "close_before_headers": ((1,), "connection"),
}


@pytest.fixture
def hostile(request: pytest.FixtureRequest) -> Iterator[HostileServer]:
    server = HostileServer(request.param)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _args(url: str) -> list[str]:
    return ["--target", with_credentials(url), "--backend-args", f"api_key={API_KEY}"]


@pytest.mark.parametrize("hostile", list(CASES), indirect=True)
def test_a_hostile_server_costs_no_request_and_no_secret(
    hostile: HostileServer, tmp_path: Path
) -> None:
    codes, category = CASES[hostile.mode]
    args = [
        *_args(hostile.url), "--profile", "concurrent", "--rate", "2", "--max-seconds", "3",
        "--output-sampling", "4",
    ]  # fmt: skip
    run = ChaosRun(args, tmp_path, bound_s=25).start().finish()
    run.check(codes=codes, server=hostile.url)
    (bench,) = json.loads(run.outputs["r.json"])["benchmarks"]
    if category is None:
        assert bench["requests"]["successful"] >= 1
    else:
        assert bench["errors"].get(category, 0) >= 1, bench["errors"]


def test_echoed_basic_credentials_are_hidden_in_every_form(tmp_path: Path) -> None:
    """The server repeats the Authorization header and the decoded user:pass in its error."""
    with HostileServer("echo_headers") as url:
        run = ChaosRun([*_args(url), "--profile", "synchronous", "--max-requests", "3"],
                       tmp_path, bound_s=20)  # fmt: skip
        run.start().finish().check(codes=(1,))
    example = json.loads(run.outputs["r.json"])["benchmarks"][0]["error_examples"]["http_5xx"]
    assert "authorization: ***" in example.lower()


def test_a_trickling_health_check_ends_within_its_deadline(tmp_path: Path) -> None:
    """One byte a second kept a per-read timeout waiting forever; the check has a total one."""
    with HostileServer("trickle_health") as url:
        args = [*_args(url), "--max-seconds", "3"]
        args[3] += ",timeout=2"
        run = ChaosRun(args, tmp_path, bound_s=15).start().finish()
    run.check(codes=(2,), outputs=False)
    lines = run.err.strip().splitlines()
    assert len(lines) == 1 and "did not answer within 2 s" in lines[0], run.err
