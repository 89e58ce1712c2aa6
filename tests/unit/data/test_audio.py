"""Audio in chat requests: synthetic WAV clips (read back with the stdlib ``wave`` reader),
every form of an audio column, bad values as one-line errors, and the results' audio counts."""

from __future__ import annotations

import base64
import io
import itertools
import json
import random
import wave
from pathlib import Path
from typing import Any

import pytest

from guidellm.data.audio import AudioError, SyntheticAudio, audio_clips, encode_wav
from guidellm.data.loader import RequestLoader
from guidellm.data.synthetic import SyntheticSource
from guidellm.errors import UserError
from guidellm.plugins import PluginHost
from guidellm.request import (
    GenerationRequest,
    ResponseRecorder,
    audio_counts,
    wav_seconds,
)


@pytest.fixture
def host() -> PluginHost:
    return PluginHost(builtins=("guidellm.data.sources",), entry_points=False)


def _loader(host: PluginHost, data: str, seed: int = 7, **args: Any) -> RequestLoader:
    return RequestLoader([data], args, processor=None, random_seed=seed, host=host)


def _read(b64: str) -> wave.Wave_read:
    return wave.open(io.BytesIO(base64.b64decode(b64, validate=True)))


def _parts(request: GenerationRequest) -> list[dict[str, Any]]:
    assert request.messages is not None
    content = request.messages[-1]["content"]
    assert isinstance(content, list)
    return content


def _wav(seconds: float = 0.25, rate: int = 8000) -> bytes:
    return encode_wav([0.1] * int(seconds * rate), rate)


def test_synthetic_clips_are_wav_of_the_asked_length(host: PluginHost) -> None:
    spec = "prompt_tokens=16,output_tokens=4,audio=2,audio_seconds=1.5"
    for request in itertools.islice(_loader(host, spec), 5):
        assert request.prompt is None
        parts = _parts(request)
        assert parts[0]["type"] == "text" and parts[0]["text"]
        assert [p["type"] for p in parts[1:]] == ["input_audio", "input_audio"]
        for part in parts[1:]:
            assert part["input_audio"]["format"] == "wav"
            clip = _read(part["input_audio"]["data"])
            assert clip.getframerate() == 16000 and clip.getnchannels() == 1
            assert clip.getsampwidth() == 2 and clip.getnframes() == 24000
            assert clip.getnframes() / clip.getframerate() == 1.5
            assert wav_seconds(part["input_audio"]["data"]) == 1.5
            frames = clip.readframes(clip.getnframes())
            assert len(frames) == 48000 and len(set(frames)) > 100  # a signal, not silence
        assert request.prompt_tokens == 16  # text tokens only: the server adds audio tokens
        assert audio_counts(request.messages) == (2, 3.0)


def test_synthetic_clips_are_deterministic_and_reused(host: PluginHost) -> None:
    spec = "prompt_tokens=16,output_tokens=4,audio=1,audio_seconds=1"

    def clips(seed: int) -> list[str]:
        requests = itertools.islice(_loader(host, spec, seed=seed), 40)
        return [_parts(r)[1]["input_audio"]["data"] for r in requests]

    first, again, other = clips(7), clips(7), clips(8)
    assert first == again
    assert set(first) != set(other)
    # one duration: the variants, encoded once, shared by every request (the same objects)
    assert len(set(first)) == SyntheticAudio.VARIANTS
    assert len({id(c) for c in first}) == SyntheticAudio.VARIANTS


def test_synthetic_audio_encodes_each_variant_once(monkeypatch: pytest.MonkeyPatch) -> None:
    maker = SyntheticAudio("wav", 1)
    made: list[tuple[int, int]] = []
    real = maker.make
    monkeypatch.setattr(maker, "make", lambda ms, k: made.append((ms, k)) or real(ms, k))
    rng = random.Random(0)
    for _ in range(200):
        maker.pick(500 + 250 * rng.randrange(2), rng)
    assert len(made) == len(set(made)) == 2 * SyntheticAudio.VARIANTS
    assert {wav_seconds(maker.pick(750, rng)), wav_seconds(maker.pick(500, rng))} == {0.75, 0.5}


def test_audio_durations_follow_the_distribution(host: PluginHost) -> None:
    spec = "prompt_tokens=8,audio=1,audio_min=0,audio_max=2,audio_seconds=0.75,"
    spec += "audio_seconds_min=0.5,audio_seconds_max=1"
    counts, seconds = set(), set()
    for request in itertools.islice(_loader(host, spec), 60):
        clips, total = audio_counts(request.messages)
        counts.add(clips)
        if clips:
            each = [wav_seconds(p["input_audio"]["data"]) for p in _parts(request)[1:]]
            assert total == pytest.approx(sum(each))
            seconds |= set(each)
        assert request.prompt_tokens == 8
    assert counts == {0, 1, 2}
    assert min(seconds) >= 0.5 and max(seconds) <= 1.0 and len(seconds) > 5


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        ("prompt_tokens=8,audio_seconds=2", ["audio_seconds", "audio=N"]),
        ("prompt_tokens=8,audio_format=wav", ["audio_format", "audio=N"]),
        ("prompt_tokens=8,audio=1,audio_format=mp3", ["audio_format='mp3'", "wav"]),
        ("prompt_tokens=8,audio=1,audio_seconds=-1", ["audio_seconds=-1", "non-negative"]),
        ("prompt_tokens=8,audio=1,audio_seconds=x", ["audio_seconds='x'"]),
        ("prompt_tokens=8,audio=1,turns=2", ["single requests", "audio"]),
        ("prompt_tokens=8,audio=-1", ["audio=-1"]),
    ],
)
def test_bad_synthetic_audio_keys(spec: str, words: list[str]) -> None:
    with pytest.raises(UserError) as err:
        SyntheticSource(spec, {})
    for word in words:
        assert word in str(err.value)


def test_audio_column_values_of_every_form(tmp_path: Path) -> None:
    wav = _wav()
    b64 = base64.b64encode(wav).decode()
    (tmp_path / "a.wav").write_bytes(wav)
    forms: list[Any] = [
        str(tmp_path / "a.wav"),
        wav,
        b64,
        "data:audio/wav;base64," + b64,
        {"bytes": wav, "path": None},
        {"bytes": None, "path": str(tmp_path / "a.wav")},
    ]
    for form in forms:
        assert audio_clips(form, "clip") == [b64], form
    assert audio_clips(None, "clip") == []
    assert audio_clips([wav, None, b64], "clip") == [b64, b64]
    decoded = audio_clips({"array": [0.0, 0.5, -0.5, 2.0] * 250, "sampling_rate": 4000}, "c")
    (clip,) = decoded
    reader = _read(clip)
    assert (reader.getframerate(), reader.getnframes()) == (4000, 1000)
    assert wav_seconds(clip) == 0.25
    assert audio_clips(str(tmp_path / "a.wav"), "clip", check_only=True) == [""]


@pytest.mark.parametrize(
    "value",
    [
        7,
        "missing.wav",
        b"ID3 an mp3, not a wav",
        "data:image/png;base64,AAAA",
        "data:audio/wav;base64," + "A" * 80,
        {"array": [0.1, 0.2], "sampling_rate": None},
        {"array": [0.1, 0.2], "sampling_rate": 0},
        {"bytes": None, "path": None},
    ],
)
def test_bad_audio_values_are_user_errors(value: Any) -> None:
    with pytest.raises(AudioError) as err:
        audio_clips(value, "clip")
    assert "'clip'" in str(err.value) and "\n" not in str(err.value)


def test_audio_column_makes_chat_parts(host: PluginHost, tmp_path: Path) -> None:
    (tmp_path / "a.wav").write_bytes(_wav(0.5))
    rows = [
        {"prompt": "transcribe", "clip": str(tmp_path / "a.wav")},
        {"prompt": "two", "clip": [str(tmp_path / "a.wav")] * 2},
        {"prompt": "none", "clip": None},
    ]
    path = tmp_path / "rows.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    loader = _loader(host, str(path), column_mapping={"audio": "clip"})
    assert loader.has_audio and not loader.has_images
    one, two, three = list(loader)
    assert _parts(one)[0] == {"type": "text", "text": "transcribe"}
    assert _parts(one)[1]["type"] == "input_audio"
    assert audio_counts(two.messages) == (2, 1.0)
    assert three.prompt == "none" and three.messages is None
    assert not _loader(host, "prompt_tokens=8").has_audio


def test_bad_audio_row_is_named_before_anything_is_sent(host: PluginHost, tmp_path: Path) -> None:
    path = tmp_path / "rows.jsonl"
    rows = [{"prompt": "a", "audio": None}, {"prompt": "b", "audio": 7}]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(UserError) as err:
        _loader(host, str(path))
    message = str(err.value)
    assert "row 2" in message and "'audio'" in message and "WAV file path" in message
    assert "\n" not in message


def test_result_counts_clips_and_seconds() -> None:
    b64 = base64.b64encode(_wav(0.25)).decode()
    messages = [
        {"role": "user", "content": [
            {"type": "text", "text": "t"},
            {"type": "input_audio", "input_audio": {"data": b64, "format": "wav"}},
            {"type": "input_audio", "input_audio": {"data": "bm90IGEgd2F2", "format": "mp3"}},
        ]},
    ]  # fmt: skip
    request = GenerationRequest(request_id="1", messages=messages)
    result = ResponseRecorder(request, 0.0).finish("successful")
    assert (result.audio_clips, result.audio_seconds) == (2, 0.25)
    plain = ResponseRecorder(GenerationRequest(request_id="2", prompt="x"), 0.0).finish("x")
    assert (plain.audio_clips, plain.audio_seconds) == (0, 0.0)


def test_wav_seconds_reads_headers_only() -> None:
    wav = _wav(1.0, 8000)
    assert wav_seconds(wav) == wav_seconds(base64.b64encode(wav).decode()) == 1.0
    # a LIST chunk before the data, and a streamed WAV's oversized data length
    listed = wav[:36] + b"LIST\x04\x00\x00\x00abcd" + wav[36:]
    assert wav_seconds(listed) == 1.0
    streamed = wav[:40] + b"\xff\xff\xff\xff" + wav[44:]
    assert wav_seconds(streamed) == 1.0
    for bad in (b"", b"RIFF", wav[:40], b"not a wav at all" * 4, "@@@@", "QUJD"):
        assert wav_seconds(bad) == 0.0
