"""Bad input costs one line naming the problem and the fix, exit 2, and nothing is sent.

Each case runs ``guidellm`` as a user would (a subprocess) against the real mock server and
holds the server's own request count (its ``/metrics``) before and after: zero requests.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from clirun import GUIDELLM, guidellm, mock_requests, one_line

from guidellm.mock_server import MockServer
from guidellm.mock_server.behavior import MockServerConfig


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    mock = MockServer(MockServerConfig(ttft_ms=1, itl_ms=1, output_tokens=4))
    url = mock.start_process()
    try:
        yield url
    finally:
        mock.stop()


@pytest.mark.parametrize(
    ("target", "words"),
    [
        ("http://[bad", ("not a valid URL", "Invalid IPv6")),
        ("http://127.0.0.1:99999", ("not a valid URL", "port out of range")),
        ("http://127.0.0.1:abc", ("not a valid URL", "abc")),
        ("http://u:pw-secret@127.0.0.1:abc", ("u:***@",)),
        ("grpc://127.0.0.1:70000", ("grpc://HOST:PORT",)),
    ],
)
def test_a_malformed_target_is_one_line(
    target: str, words: tuple[str, ...], tmp_path: Path
) -> None:
    line = one_line(guidellm(["run", "--target", target, "--max-requests", "1"], tmp_path), *words)
    assert "pw-secret" not in line


def test_binary_files_are_one_line_errors(server: str, tmp_path: Path) -> None:
    blob = bytes(range(256)) * 4
    for name in ("s.yaml", "s.json", "r.json", "r.yaml", "r.jsonl"):
        (tmp_path / name).write_bytes(blob)
    one_line(guidellm(["run", "--target", server, "--scenario", "s.yaml"], tmp_path), "text")
    one_line(guidellm(["run", "--target", server, "--scenario", "s.json"], tmp_path), "text")
    for name in ("r.json", "r.yaml", "r.jsonl"):
        one_line(guidellm(["report", name], tmp_path), name)
    one_line(guidellm(["compare", "r.json", "r.yaml"], tmp_path), "r.json")


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--slo", "foo_ms=5"], ("unknown SLO 'foo_ms'", "ttft_ms")),
        (["--slo", "ttft_ms=nan"], ("positive number",)),
        (["--output", "/proc/x.json"], ("--output '/proc/x.json'", "pick another path")),
        (["--output", "/proc/x.json", "--journal", "j.jsonl"], ("--output '/proc/x.json'",)),
        (["--journal", "/proc/j.jsonl"], ("--journal '/proc/j.jsonl'",)),
        (["--profile", "constant", "--rate", "1e12"], ("--rate", "at most 1,000,000")),
        (["--max-requests", "1e15"], ("--max-requests", "not a valid integer")),
        (["--max-requests", "10000000000000"], ("--max-requests", "at most 1,000,000,000,000")),
        (["--max-seconds", "1e9"], ("--max-seconds", "at most 10,000,000")),
        (["--workers", "100000"], ("--workers", "at most 1,024")),
        (
            ["--profile", "replay", "--profile-args", "time_scale=0"],
            ("time_scale must be a number > 0", "0.5 replays twice as fast"),
        ),
        (["--profile", "replay"], ("replay sends each request at its time", "timestamp")),
        (
            [
                "--profile",
                "stages",
                "--profile-args",
                'stages=[{"rate":10,"seconds":5},{"rate":20}]',
            ],
            ("stage 2 has no duration", '"seconds": N'),
        ),
        (["--profile", "gamma", "--rate", "10", "--profile-args", "cv=0"], ("cv must be",)),
    ],
)
def test_bad_settings_fail_before_any_request(
    server: str, tmp_path: Path, args: list[str], words: tuple[str, ...]
) -> None:
    before = mock_requests(server)
    base = ["run", "--target", server, "--profile", "synchronous", "--max-requests", "3"]
    one_line(guidellm([*base, *args], tmp_path), *words)
    assert mock_requests(server) == before


def test_a_row_without_prompt_is_counted_or_refused(server: str, tmp_path: Path) -> None:
    data = tmp_path / "d.jsonl"
    data.write_text('{"prompt": "hello there"}\n{"prompt": null}\n{"prompt": "again"}\n')
    before = mock_requests(server)
    strict = ["--data", str(data), "--data-args", "strict=true"]
    base = ["run", "--target", server, "--profile", "synchronous", "--max-requests", "5"]
    one_line(guidellm([*base, *strict], tmp_path), "row 2", "strict=true")
    assert mock_requests(server) == before
    proc = guidellm([*base, "--data", str(data), "--output", "r.json"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    (bench,) = json.loads((tmp_path / "r.json").read_text())["benchmarks"]
    assert bench["requests"]["successful"] == 2
    assert any("1 data rows skipped" in w and "row 2 of" in w for w in bench["warnings"])


@pytest.mark.parametrize(
    ("rows", "args", "words"),
    [
        (
            [
                [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hey"}],
                [{"role": "user", "content": "run it"}, {"role": "tool", "content": "done"}],
            ],
            [],
            ("chats.jsonl", "conversation row 2", "no preceding tool call", "put the assistant"),
        ),
        (
            [[{"from": "human", "value": "hi"}, {"from": "robot", "value": "beep"}]],
            [],
            ("chats.jsonl", "conversation row 1", "unknown from 'robot'", "use human, gpt"),
        ),
        (
            [[{"role": "user", "content": "a"}]],
            ["--data-args", "history=replayed"],
            ("history='replayed'", "history=live or history=recorded"),
        ),
    ],
)
def test_a_bad_conversation_is_one_line_and_nothing_is_sent(
    server: str,
    tmp_path: Path,
    rows: list[list[dict[str, str]]],
    args: list[str],
    words: tuple[str, ...],
) -> None:
    data = tmp_path / "chats.jsonl"
    data.write_text("".join(json.dumps({"messages": r}) + "\n" for r in rows))
    before = mock_requests(server)
    base = ["run", "--target", server, "--profile", "synchronous", "--max-requests", "3"]
    one_line(guidellm([*base, "--data", str(data), *args], tmp_path), *words)
    assert mock_requests(server) == before


def test_a_broken_dataset_folder_is_one_line(tmp_path: Path) -> None:
    folder = tmp_path / "broken"
    folder.mkdir()
    (folder / "x.json").write_text('{"a": [1,2')
    line = one_line(guidellm(["run", "--data", str(folder)], tmp_path), "broken")
    assert "JSON parse error" in line


@pytest.mark.parametrize(
    ("scenario", "env", "words"),
    [
        ("profile:\n  kind: concurrent\n  streams: [2]\n", {}, ("s.yaml", "rate: [2]")),
        ("max_requests: ten\n", {}, ("s.yaml", "max_requests: 'ten'", "whole number")),
        ("max_reqests: 10\n", {}, ("s.yaml", "did you mean max_requests?")),
        ("max_requests: 3\n", {"GUIDELLM_TARGETT": "x"}, ("GUIDELLM_TARGETT", "GUIDELLM_TARGET?")),
        ("max_requests: 3\n", {"GUIDELLM_MAX_SECONDS": "abc"}, ("GUIDELLM_MAX_SECONDS: 'abc'",)),
    ],
)
def test_bad_scenarios_and_variables_fail_before_any_request(
    server: str, tmp_path: Path, scenario: str, env: dict[str, str], words: tuple[str, ...]
) -> None:
    (tmp_path / "s.yaml").write_text(scenario)
    before = mock_requests(server)
    environ = {k: v for k, v in os.environ.items() if not k.startswith("GUIDELLM_")}
    proc = subprocess.run(
        [*GUIDELLM, "run", "--target", server, "--scenario", "s.yaml"], cwd=tmp_path,
        env={**environ, **env}, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    one_line(proc, *words)
    assert mock_requests(server) == before
