"""Audio end to end: ``guidellm run`` (a subprocess) sends synthetic WAV clips to the real mock
server (a process), whose prompt tokens count their seconds; the report counts clips, seconds
and the real-time factor. A run that cannot carry its audio, or a bad audio row, is one line,
exit 2, and the mock receives nothing."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from clirun import guidellm, mock_requests, one_line

from guidellm.data.audio import encode_wav
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


@pytest.mark.parametrize("fmt", ["text_completions", "embeddings", "anthropic_messages"])
def test_audio_with_a_format_that_cannot_send_it_is_one_line(
    fmt: str, server: str, tmp_path: Path
) -> None:
    before = mock_requests(server)
    args = ["run", "--target", server, "--data", DATA, "--max-requests", "8"]
    args += ["--backend-args", f"request_format={fmt}"]
    one_line(guidellm(args, tmp_path), "audio", fmt)
    assert mock_requests(server) == before


def test_a_bad_audio_row_is_one_line(server: str, tmp_path: Path) -> None:
    before = mock_requests(server)
    (tmp_path / "a.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEfmt ")
    rows = [{"prompt": "a", "audio": "a.wav"}, {"prompt": "b", "audio": "missing.wav"}]
    (tmp_path / "d.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    args = ["run", "--target", server, "--data", "d.jsonl", "--max-requests", "2"]
    one_line(guidellm(args, tmp_path), "row 2", "'audio'", "missing.wav")
    assert mock_requests(server) == before


def test_transcriptions_reach_the_mock_and_the_report(server: str, tmp_path: Path) -> None:
    before = mock_requests(server)
    args = ["run", "--target", server, "--profile", "concurrent", "--rate", "2"]
    args += ["--data", DATA, "--max-requests", "6", "--output", "r.json", "--disable-progress"]
    args += ["--backend-args", "request_format=transcriptions", "--output-sampling", "6"]
    proc = guidellm(args, tmp_path, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert mock_requests(server) - before == 6
    (bench,) = json.loads((tmp_path / "r.json").read_text())["benchmarks"]
    assert bench["requests"]["successful"] == 6
    metrics = bench["metrics"]
    prompt = metrics["prompt_token_count"]["successful"]
    assert prompt["min"] == prompt["max"] == 50  # the clip only: 25 tokens/s x 2 s
    output = metrics["output_token_count"]["successful"]
    assert output["min"] == output["max"] == 4  # the mock's output_tokens, as words
    texts = [s["output_text"] for s in bench["samples"] if s.get("output_text")]
    assert texts and all(len(t.split()) == 4 for t in texts)
    # one whole answer: the first token is the answer, after the mock's 5 ms
    ttft = metrics["time_to_first_token_ms"]["successful"]
    assert ttft["min"] >= 5
    audio = bench["audio"]
    assert audio["clips"] == 6 and audio["audio_seconds"] == pytest.approx(12.0)
    assert audio["rtf_mean"] > 0.005 / 2


def test_transcriptions_without_audio_are_one_line(server: str, tmp_path: Path) -> None:
    before = mock_requests(server)
    args = ["run", "--target", server, "--data", "prompt_tokens=8", "--max-requests", "2"]
    args += ["--backend-args", "request_format=transcriptions"]
    one_line(guidellm(args, tmp_path), "transcriptions", "audio")
    assert mock_requests(server) == before


def _post(url: str, body: bytes) -> tuple[int, dict[str, object]]:
    request = urllib.request.Request(url + "/v1/audio/transcriptions", data=body, method="POST")
    request.add_header("Content-Type", "multipart/form-data; boundary=B")
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def test_the_mock_route_answers_and_refuses_over_a_socket(server: str) -> None:
    clip = encode_wav([0.1] * 4000, 8000)  # 0.5 s: ceil(12.5) = 13 tokens
    head = b'--B\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n\r\n'
    status, answer = _post(server, head + clip + b"\r\n--B--\r\n")
    assert status == 200 and isinstance(answer["text"], str) and answer["text"]
    assert answer["usage"] == {
        "type": "tokens", "input_tokens": 13, "output_tokens": 4, "total_tokens": 17,
    }  # fmt: skip
    before = mock_requests(server)
    status, answer = _post(server, b"plain text")
    assert status == 400 and "boundary" in str(answer)
    status, answer = _post(
        server, b'--B\r\nContent-Disposition: form-data; name="x"\r\n\r\n1\r\n--B--\r\n'
    )
    assert status == 400 and "'file'" in str(answer)
    model = b'\r\n--B\r\nContent-Disposition: form-data; name="model"\r\n\r\nother'
    status, answer = _post(server, head + clip + model + b"\r\n--B--\r\n")
    assert status == 404 and "other" in str(answer)
    assert mock_requests(server) == before  # refused bodies are no requests
