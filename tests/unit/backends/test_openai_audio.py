"""Transcription requests: the multipart body the backend builds is what the mock parses, and
the JSON answers are read into the recorder (text once, whole; usage in either shape)."""

from __future__ import annotations

import base64

import pytest

from guidellm.backends.openai_audio import TranscriptionFormat, first_clip
from guidellm.data.audio import encode_wav
from guidellm.errors import BadResponseError, RequestError, ServerError
from guidellm.mock_server.transcriptions import MAX_PARTS, multipart_fields
from guidellm.request import GenerationRequest, ResponseRecorder


def _request(clip: bytes | None, extra: dict[str, object] | None = None) -> GenerationRequest:
    parts: list[dict[str, object]] = [{"type": "text", "text": "t"}]
    if clip is not None:
        data = base64.b64encode(clip).decode()
        parts.append({"type": "input_audio", "input_audio": {"data": data, "format": "wav"}})
    messages = [{"role": "user", "content": parts}]
    return GenerationRequest(request_id="r1", messages=messages, extra_body=extra)


def test_the_body_carries_the_clip_and_fields() -> None:
    clip = encode_wav([0.2] * 800, 8000)
    fmt = TranscriptionFormat()
    body = fmt.body(_request(clip, {"temperature": 0}), "m", {"language": "en"})
    assert fmt.content_type.endswith(body.split(b"\r\n", 1)[0][2:].decode())
    fields = multipart_fields(body)
    assert isinstance(fields, dict)
    assert fields == {
        "file": clip,
        "model": b"m",
        "response_format": b"json",
        "language": b"en",
        "temperature": b"0",
    }
    assert b'filename="audio.wav"' in body and b"Content-Type: audio/wav" in body
    assert "model" not in multipart_fields(fmt.body(_request(clip), None, None))  # type: ignore[operator]


def test_a_request_without_audio_is_its_own_error() -> None:
    with pytest.raises(RequestError, match="no audio clip"):
        first_clip(_request(None))
    with pytest.raises(RequestError, match="no audio clip"):
        first_clip(GenerationRequest(request_id="r2", prompt="hello"))


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b"not multipart", "no boundary"),
        (b'--B\r\nContent-Disposition: form-data; name="a"\r\n\r\nx\r\n', "closing"),
        (b"--B\r\nno headers here\r\n--B--\r\n", "without headers"),
        (b"--B\r\nX-Other: 1\r\n\r\nx\r\n--B--\r\n", "without a name"),
        (b"--B" + b"\r\nContent-Disposition: form-data; name=a\r\n\r\nx\r\n--B" * 40, "closing"),
    ],
)
def test_bad_multipart_bodies(body: bytes, words: str) -> None:
    result = multipart_fields(body)
    assert isinstance(result, str) and words in result
    assert MAX_PARTS < 40


def test_answers_are_read_whole() -> None:
    fmt = TranscriptionFormat()
    recorder = ResponseRecorder(_request(b""), 0.0)
    fmt.read(
        b'{"text": "one two", "usage": {"input_tokens": 50, "output_tokens": 2}}', 1.5, recorder
    )
    result = recorder.finish("successful", keep_text=True)
    assert result.whole and result.output_text == "one two"
    assert (result.first_token_time, result.request_end) == (1.5, 1.5)
    assert (result.prompt_tokens, result.output_tokens) == (50, 2)
    recorder = ResponseRecorder(_request(b""), 0.0)
    fmt.read(b'{"text": "", "usage": {"prompt_tokens": 7, "completion_tokens": 1}}', 2.0, recorder)
    assert (recorder.prompt_tokens, recorder.output_tokens) == (7, 1)
    recorder = ResponseRecorder(_request(b""), 0.0)
    fmt.read(b'{"text": "no usage"}', 2.0, recorder)
    assert recorder.prompt_tokens is None and recorder.text == "no usage"
    with pytest.raises(BadResponseError, match="'text'"):
        fmt.read(b'{"transcript": "x"}', 1.0, ResponseRecorder(_request(b""), 0.0))
    with pytest.raises(BadResponseError, match="malformed"):
        fmt.read(b"{", 1.0, ResponseRecorder(_request(b""), 0.0))
    with pytest.raises(ServerError, match="boom"):
        fmt.read(b'{"error": {"message": "boom"}}', 1.0, ResponseRecorder(_request(b""), 0.0))
