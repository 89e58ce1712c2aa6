"""Transcription requests of the ``openai_http`` backend: ``request_format=transcriptions``.

``POST /v1/audio/transcriptions`` as ``multipart/form-data`` (OpenAI's audio API, which vLLM,
whisper.cpp's server and speaches answer): ``file`` is the request's first ``input_audio``
clip as ``audio.wav``, then ``model`` and ``response_format=json``, then any ``extra_body``
fields (``language``, ``temperature``...) as text fields. Never streamed: the answer is one
JSON body whose ``text`` is the output, recorded as one whole chunk when the body arrived (so
its TTFT is its latency). Token counts come from ``usage.input_tokens``/``output_tokens``
(OpenAI's newer transcription models) or ``usage.prompt_tokens``/``completion_tokens`` when
the server sends any. A request without audio is an error of that request; the run refuses
data without an audio column before anything is sent.
"""

from __future__ import annotations

import base64
import binascii
from typing import TYPE_CHECKING, Any

from guidellm.backends.openai_chunks import json_answer
from guidellm.errors import BadResponseError, RequestError

if TYPE_CHECKING:
    from guidellm.request import GenerationRequest, ResponseRecorder

__all__ = ["TRANSCRIPTION_PATHS", "TranscriptionFormat", "first_clip"]

#: ``request_format`` -> endpoint path of the audio formats.
TRANSCRIPTION_PATHS = {"transcriptions": "/v1/audio/transcriptions"}
_BOUNDARY = "guidellm-audio-9f3c2a7e5b1d4860"


def first_clip(request: GenerationRequest) -> bytes:
    """The WAV bytes of the request's first ``input_audio`` part."""
    for message in request.messages or ():
        content = message.get("content")
        if not isinstance(content, list):
            continue
        for part in content:
            if isinstance(part, dict) and part.get("type") == "input_audio":
                audio = part.get("input_audio")
                data = audio.get("data") if isinstance(audio, dict) else None
                if isinstance(data, str):
                    try:
                        return base64.b64decode(data, validate=True)
                    except (binascii.Error, ValueError):
                        break
    raise RequestError(
        f"request {request.request_id} has no audio clip to transcribe (an input_audio part)"
    )


def _field(name: str, value: Any) -> bytes:
    text = str(value).lower() if isinstance(value, bool) else str(value)
    return (
        f'--{_BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{text}\r\n'
    ).encode()


class TranscriptionFormat:
    """Builds the multipart bodies and reads the JSON answers of transcription requests."""

    content_type = f"multipart/form-data; boundary={_BOUNDARY}"

    def body(
        self, request: GenerationRequest, model: str | None, extra: dict[str, Any] | None
    ) -> bytes:
        """The multipart body of ``request``; ``extra`` (``extra_body``) adds text fields."""
        clip = first_clip(request)
        head = (
            f'--{_BOUNDARY}\r\nContent-Disposition: form-data; name="file"; '
            'filename="audio.wav"\r\nContent-Type: audio/wav\r\n\r\n'
        ).encode()
        fields = {"model": model, "response_format": "json", **(extra or {})}
        if request.extra_body:
            fields.update(request.extra_body)
        parts = [head, clip, b"\r\n"]
        parts += [_field(k, v) for k, v in fields.items() if v is not None]
        parts.append(f"--{_BOUNDARY}--\r\n".encode())
        return b"".join(parts)

    def read(self, body: bytes, arrived: float, recorder: ResponseRecorder) -> None:
        """Check a whole answer and record its text (one chunk) and usage."""
        obj = json_answer(body)
        text = obj.get("text")
        if not isinstance(text, str):
            raise BadResponseError(f"transcription without a 'text': {body[:80]!r}")
        recorder.whole = True
        recorder.content(text, arrived)
        recorder.end_time = arrived
        usage = obj.get("usage")
        if isinstance(usage, dict):
            prompt = usage.get("input_tokens", usage.get("prompt_tokens"))
            output = usage.get("output_tokens", usage.get("completion_tokens"))
            recorder.usage(
                prompt if prompt.__class__ is int else None,
                output if output.__class__ is int else None,
            )
