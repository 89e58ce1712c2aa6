"""Audio end to end: ``guidellm run`` (a subprocess) sends synthetic WAV clips to the real mock
server (a process), whose prompt tokens count their seconds; the report counts clips, seconds
and the real-time factor. A run that cannot carry its audio, or a bad audio row, is one line,
exit 2, and the mock receives nothing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from clirun import guidellm, mock_requests, one_line

from guidellm.mock_server import MockServer
from guidellm.mock_server.behavior import MockServerConfig

DATA = "prompt_tokens=16,output_tokens=8,audio=1,audio_seconds=2"


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    mock = MockServer(MockServerConfig(ttft_ms=5, itl_ms=1, output_tokens=4))
    url = mock.start_process()
    try:
        yield url
    finally:
        mock.stop()


def test_audio_reaches_the_mock_and_the_report(server: str, tmp_path: Path) -> None:
    before = mock_requests(server)
    args = ["run", "--target", server, "--profile", "concurrent", "--rate", "2"]
    args += ["--data", DATA, "--max-requests", "8", "--output", "r.json", "--disable-progress"]
    proc = guidellm(args, tmp_path, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert mock_requests(server) - before == 8
    (bench,) = json.loads((tmp_path / "r.json").read_text())["benchmarks"]
    assert bench["requests"]["successful"] == 8
    prompt = bench["metrics"]["prompt_token_count"]["successful"]
    assert prompt["min"] == prompt["max"] == 16 + 50  # 25 tokens/s x 2 s
    audio = bench["audio"]
    assert audio["requests_with_audio"] == 8 and audio["clips"] == 8
    assert audio["audio_seconds"] == pytest.approx(16.0)
    assert audio["audio_seconds_per_request_mean"] == pytest.approx(2.0)
    latency = bench["metrics"]["request_latency"]["successful"]
    # every request takes at least the 5 ms TTFT; the RTF is latency / 2 s
    assert 0.005 / 2 <= audio["rtf_mean"] <= latency["max"] / 2
    assert audio["rtf_mean"] == pytest.approx(latency["mean"] / 2, rel=0.01)
    assert bench["images"] is None


def test_a_run_without_audio_reports_none(server: str, tmp_path: Path) -> None:
    args = ["run", "--target", server, "--profile", "synchronous", "--max-requests", "2"]
    args += ["--data", "prompt_tokens=8,output_tokens=4", "--output", "r.json"]
    proc = guidellm([*args, "--disable-progress"], tmp_path, timeout=120)
    assert proc.returncode == 0, proc.stderr
    (bench,) = json.loads((tmp_path / "r.json").read_text())["benchmarks"]
    assert bench["audio"] is None


def test_audio_with_text_completions_is_one_line(server: str, tmp_path: Path) -> None:
    before = mock_requests(server)
    args = ["run", "--target", server, "--data", DATA, "--max-requests", "8"]
    args += ["--backend-args", "request_format=text_completions"]
    one_line(guidellm(args, tmp_path), "audio", "text_completions")
    assert mock_requests(server) == before


def test_a_bad_audio_row_is_one_line(server: str, tmp_path: Path) -> None:
    before = mock_requests(server)
    (tmp_path / "a.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEfmt ")
    rows = [{"prompt": "a", "audio": "a.wav"}, {"prompt": "b", "audio": "missing.wav"}]
    (tmp_path / "d.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    args = ["run", "--target", server, "--data", "d.jsonl", "--max-requests", "2"]
    one_line(guidellm(args, tmp_path), "row 2", "'audio'", "missing.wav")
    assert mock_requests(server) == before
