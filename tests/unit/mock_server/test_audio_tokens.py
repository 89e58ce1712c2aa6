"""The mock server counts each ``input_audio`` part as ``ceil(seconds x rate)`` prompt tokens,
read from the WAV header; a part it cannot read counts 0; its prefix cache tells clips apart."""

from __future__ import annotations

import base64

import pytest
from click.testing import CliRunner

from guidellm.cli.mock_server import mock_server
from guidellm.data.audio import encode_wav
from guidellm.errors import UserError
from guidellm.mock_server.audio import audio_part_tokens
from guidellm.mock_server.behavior import MockServerConfig, count_prompt_tokens
from guidellm.mock_server.prefix_cache import prompt_token_sequence


def _clip(seconds: float, rate: int = 16000, level: float = 0.1) -> str:
    return base64.b64encode(encode_wav([level] * int(seconds * rate), rate)).decode()


def _body(*clips: str) -> dict[str, object]:
    parts: list[dict[str, object]] = [{"type": "text", "text": "transcribe this clip"}]
    parts += [{"type": "input_audio", "input_audio": {"data": c, "format": "wav"}} for c in clips]
    return {"messages": [{"role": "user", "content": parts}]}


def test_audio_parts_count_seconds_times_rate() -> None:
    body = _body(_clip(2.0), _clip(0.3, 8000))
    assert count_prompt_tokens(body) == 3
    assert count_prompt_tokens(body, 0, 25.0) == 3 + 50 + 8  # ceil(0.3 x 25) = 8
    assert len(prompt_token_sequence(body, 0, 25.0)) == 3 + 50 + 8
    assert count_prompt_tokens(body, 0, 10.0) == 3 + 20 + 3


@pytest.mark.parametrize(
    "part",
    [
        {"type": "input_audio", "input_audio": {"data": "bm90IGEgd2F2", "format": "mp3"}},
        {"type": "input_audio", "input_audio": {"data": "@@@not base64", "format": "wav"}},
        {"type": "input_audio", "input_audio": "nothing"},
        {"type": "input_audio"},
    ],
)
def test_an_unreadable_part_counts_nothing(part: dict[str, object]) -> None:
    assert audio_part_tokens(part, 25.0) == 0
    body = {"messages": [{"role": "user", "content": [part]}]}
    assert count_prompt_tokens(body, 0, 25.0) == 0
    assert prompt_token_sequence(body, 0, 25.0) == []


def test_prefix_sequence_tells_clips_apart() -> None:
    a = prompt_token_sequence(_body(_clip(1.0)), 0, 4.0)
    again = prompt_token_sequence(_body(_clip(1.0)), 0, 4.0)
    b = prompt_token_sequence(_body(_clip(1.0, level=0.2)), 0, 4.0)
    assert a == again and len(a) == 3 + 4
    assert a[:3] == b[:3] and a[3:] != b[3:]


def test_audio_tokens_per_second_setting() -> None:
    assert MockServerConfig().audio_tokens_per_second == 25.0
    assert MockServerConfig(audio_tokens_per_second=0).audio_tokens_per_second == 0
    for bad in (-1, float("nan"), "25"):
        with pytest.raises(UserError, match="audio_tokens_per_second"):
            MockServerConfig(audio_tokens_per_second=bad)  # type: ignore[arg-type]
    result = CliRunner().invoke(mock_server, ["--help"])
    assert "--audio-tokens-per-second" in result.output
