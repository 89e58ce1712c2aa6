"""The mock server's ``POST /v1/audio/transcriptions``: OpenAI's audio transcription route.

The body is ``multipart/form-data`` with a ``file`` (the audio), ``model`` (optional; another
model is a 404) and ``response_format`` (``json``, the default, or ``verbose_json``; the
answer is JSON either way). The boundary is read from the body's first line, so no header is
needed; at most :data:`MAX_PARTS` parts are read. Like a pooling request it takes a
``max_concurrency`` slot and answers whole after its drawn time to first token (plus
``prefill_ms_per_token`` per prompt token): ``{"text": WORDS, "usage": {...}}`` with as many
words as a generation would send (``output_tokens``), ``usage.input_tokens`` the clip's
``ceil(seconds x audio_tokens_per_second)`` (read from its WAV header; 0 when unreadable) and
``usage.output_tokens`` the words. The 500 and 429 faults apply. ``/metrics`` counts it as a
``stop`` success with its prompt and output tokens.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from guidellm.mock_server.behavior import plan_request
from guidellm.mock_server.http_framing import error_body
from guidellm.mock_server.metrics import RunningRequest
from guidellm.mock_server.pooling import admit_whole
from guidellm.request import wav_seconds

if TYPE_CHECKING:
    from guidellm.mock_server.http_framing import Request
    from guidellm.mock_server.http_server import MockHTTPState, _Connection

__all__ = ["MAX_PARTS", "TRANSCRIPTION_ROUTE", "multipart_fields", "serve_transcription"]

TRANSCRIPTION_ROUTE = b"/v1/audio/transcriptions"
MAX_PARTS = 32


def multipart_fields(body: bytes) -> dict[str, bytes] | str:
    """The fields of a multipart body by name (a file's content as its value), or an error
    message. The boundary is the body's first line (``--BOUNDARY``)."""
    end = body.find(b"\r\n", 0, 256)
    delimiter = body[:end] if end > 2 else b""
    if not delimiter.startswith(b"--"):
        return "the body is not multipart/form-data (no boundary line)"
    fields: dict[str, bytes] = {}
    pieces = body.split(b"\r\n" + delimiter, MAX_PARTS + 1)
    if len(pieces) < 2 or not pieces[-1].startswith(b"--"):
        return "the multipart body has no closing boundary (or too many parts)"
    for piece in [pieces[0][len(delimiter) :], *pieces[1:-1]]:
        head, sep, value = piece.partition(b"\r\n\r\n")
        if not sep:
            return "a multipart part without headers"
        name = None
        for line in head.split(b"\r\n"):
            key, _, rest = line.partition(b":")
            if key.strip().lower() == b"content-disposition":
                for item in rest.split(b";"):
                    k, _, v = item.strip().partition(b"=")
                    if k == b"name":
                        name = v.strip(b'"').decode(errors="replace")
        if name is None:
            return "a multipart part without a name"
        fields[name] = value
    return fields


def serve_transcription(conn: _Connection, state: MockHTTPState, req: Request) -> None:
    """Answer one transcription request on ``conn``."""
    keep = req.keep_alive

    def fail(message: str, status: int = 400, kind: str = "invalid_request_error") -> None:
        conn._write_simple(status, error_body(message, kind, status), keep)
        conn._finish(keep)

    fields = multipart_fields(req.body)
    if isinstance(fields, str):
        fail(fields)
        return
    audio = fields.get("file")
    if not audio:
        fail("'file' (the audio to transcribe) is required")
        return
    named = fields.get("model")
    name = None if named is None else named.decode(errors="replace")
    model = state.models.resolve(name)
    if model is None:
        fail(state.models.unknown(name), 404, "not_found")
        return
    config = model.config
    response_format = fields.get("response_format", b"json")
    if response_format not in (b"json", b"verbose_json"):
        fail("this server answers response_format json or verbose_json only")
        return
    rate = config.audio_tokens_per_second
    prompt_tokens = math.ceil(wav_seconds(audio) * rate) if rate > 0 else 0
    plan = replace(plan_request(config, state.arrived(model)), reasoning=0)
    if conn._injected_error(plan.fault, config.retry_after_s, keep):
        return

    def answer(job: RunningRequest) -> dict[str, Any]:
        words = job.plan.tokens
        job.sent = len(words)
        return {
            "text": "".join(words).strip(),
            "usage": {
                "type": "tokens",
                "input_tokens": prompt_tokens,
                "output_tokens": len(words),
                "total_tokens": prompt_tokens + len(words),
            },
        }

    admit_whole(
        conn,
        req,
        plan,
        prompt_tokens,
        model,
        held_tokens=prompt_tokens + len(plan.tokens),
        answer=answer,
        keep=keep,
    )
