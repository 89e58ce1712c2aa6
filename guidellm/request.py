"""What flows between the parts: a request to send, and the timed result of sending it.

Both are msgspec structs encoded as arrays: the scheduler ships thousands of them a second over
pipes, so they must be cheap to build, pickle and encode. :class:`ResponseRecorder` is what a
backend fills while a response streams in; it owns the timing rules of docs/metrics.md so that
every backend (HTTP, gRPC, third-party) measures the same way.
"""

from __future__ import annotations

import base64
import binascii
import time
from typing import Any

import msgspec

__all__ = [
    "GenerationRequest",
    "RequestResult",
    "RequestStatus",
    "ResponseRecorder",
    "Turn",
    "audio_counts",
    "image_counts",
    "media_counts",
    "now",
    "wav_seconds",
]

#: The one clock every timestamp comes from (CLOCK_MONOTONIC, shared by processes on Linux).
now = time.perf_counter


class RequestStatus:
    """The three ways a request can end (string constants; they are what reports count)."""

    SUCCESSFUL = "successful"
    ERRORED = "errored"
    INCOMPLETE = "incomplete"


class Turn(msgspec.Struct, array_like=True, omit_defaults=True):
    """One turn of a session: the messages it adds to the conversation, then the answer.

    ``messages`` are appended to the history before the turn is sent: one ``user`` message,
    or the ``tool`` messages answering the previous answer's tool calls (``kind="tool"``).
    ``think_time`` is the pause, in seconds, between the previous turn's answer and this
    turn (a user's reading time, or a tool's latency). ``reply`` is the recorded assistant
    message that followed this turn in a conversation file: ``history=recorded`` sends it
    instead of the live answer, and its ``tool_calls`` are kept in live history so that the
    next turn's tool messages answer calls the conversation made. ``prompt_tokens`` is the
    length of this turn's own new content, when the data knows it.
    """

    messages: list[dict[str, Any]]
    max_tokens: int | None = None
    think_time: float = 0.0
    reply: dict[str, Any] | None = None
    prompt_tokens: int | None = None
    kind: str = "user"


class GenerationRequest(msgspec.Struct, array_like=True, omit_defaults=True):
    """One request to send: text (``prompt``) or chat (``messages``), and how much to generate.

    ``prompt_tokens`` is the prompt's length when the dataset knows it (synthetic data always
    does). ``max_tokens`` is the wanted output length, ``None`` to let the server decide.
    ``extra_body`` holds per-request fields merged into the request body by the backend.
    ``timestamp`` is when a trace says the request was sent, in seconds on the trace's own
    clock (``None`` for untimed data); the ``replay`` strategy sends requests by it.

    A session (a conversation) is one item with ``turns``: strategies schedule sessions and a
    worker sends the turns one after another, each with the conversation so far
    (``messages`` then holds what precedes the first turn, a system prompt). The worker
    makes each turn's own request with ``session_id`` set (the backend sends it as the
    session's identity). ``planned_turns`` is the session's length in the data when fewer
    turns were shipped (a ``max_requests`` limit cut it); ``recorded_history`` sends the
    turns' recorded replies instead of the live answers. ``last_turn`` marks a turn's request
    after which the session sends nothing more (its connection is then free for others).

    In a mix, ``model`` is the model (or LoRA adapter) this request names instead of the
    backend's, and ``traffic_class`` the class it belongs to: the backend that sends it is
    chosen by both, and its result carries both (:class:`RequestResult`).
    """

    request_id: str
    prompt: str | None = None
    messages: list[dict[str, Any]] | None = None
    prompt_tokens: int | None = None
    max_tokens: int | None = None
    extra_body: dict[str, Any] | None = None
    timestamp: float | None = None
    turns: list[Turn] | None = None
    session_id: str | None = None
    planned_turns: int = 0
    recorded_history: bool = False
    last_turn: bool = False
    model: str | None = None
    traffic_class: str | None = None

    @property
    def units(self) -> int:
        """How many requests this item sends at most: its turns, or 1."""
        return len(self.turns) if self.turns else 1


class RequestResult(msgspec.Struct, array_like=True, omit_defaults=True):
    """The measured outcome of one request; all times are :func:`now` seconds.

    ``chunk_times`` holds the arrival of every content-bearing chunk (reasoning included) in
    order. ``prompt_tokens``/``output_tokens``/``reasoning_tokens`` are what the server's
    ``usage`` said (``None`` when it sent none); ``content_chunks``/``reasoning_chunks`` are what
    the client counted. ``request_prompt_tokens`` is the prompt length the dataset promised.
    ``cached_tokens`` is how many prompt tokens the server said it took from its prefix cache
    (``None``: it did not say).

    A turn of a session carries ``session_id``, ``turn`` (1 for the first; 0 outside a
    session), ``session_turns`` (the session's planned turns), ``turn_kind`` (``user`` or
    ``tool``) and ``session_end`` (no more turns of the session follow: it was the last
    one, or it did not succeed). A session stopped while thinking has no such last result;
    its turns never sent are ``session_turns`` minus the results it has.

    ``images`` and ``image_bytes`` count the request's ``image_url`` parts and their encoded
    size (a ``data:`` URL's decoded bytes; an http(s) URL counts no bytes).
    ``inputs`` is how many texts a pooling request (embeddings, rerank) sent: its inputs or
    documents; 0 for generation. A pooling request has no chunks, so no TTFT or ITL.
    ``whole`` marks an answer that came in one piece (``stream=false``): its one chunk is no
    token count to compare with the server's, and its first token is its whole answer.
    ``audio_clips`` and ``audio_seconds`` count the request's ``input_audio`` parts and their
    length, read from each WAV header (:func:`wav_seconds`).
    ``model`` and ``traffic_class`` are the request's tags in a mix (``None`` outside one).
    """

    request_id: str
    status: str
    scheduled_time: float
    request_start: float
    request_end: float
    first_token_time: float | None = None
    last_token_time: float | None = None
    chunk_times: list[float] = []
    content_chunks: int = 0
    reasoning_chunks: int = 0
    prompt_tokens: int | None = None
    output_tokens: int | None = None
    reasoning_tokens: int | None = None
    request_prompt_tokens: int | None = None
    requested_output_tokens: int | None = None
    error_category: str | None = None
    error: str | None = None
    output_text: str | None = None
    reasoning_text: str | None = None
    worker: int = 0
    cached_tokens: int | None = None
    session_id: str | None = None
    turn: int = 0
    session_turns: int = 0
    turn_kind: str | None = None
    session_end: bool = False
    images: int = 0
    image_bytes: int = 0
    inputs: int = 0
    whole: bool = False
    audio_clips: int = 0
    audio_seconds: float = 0.0
    model: str | None = None
    traffic_class: str | None = None


def image_counts(messages: list[dict[str, Any]] | None) -> tuple[int, int]:
    """``(images, bytes)`` of the ``image_url`` parts of chat messages (:func:`media_counts`)."""
    return media_counts(messages)[:2]


def wav_seconds(data: str | bytes) -> float:
    """The length in seconds of a WAV file given as base64 text or bytes, read from its header
    only (0.0 when it is no readable PCM WAV). A ``data`` chunk longer than the file (a
    streamed WAV's placeholder size) counts what the file holds."""
    if isinstance(data, str):
        total = len(data) * 3 // 4 - (2 if data.endswith("==") else data.endswith("="))
        try:
            head = base64.b64decode(data[:4096], validate=True)
        except (binascii.Error, ValueError):
            return 0.0
    else:
        total, head = len(data), bytes(data[:3072])
    if head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return 0.0
    offset, byte_rate = 12, 0
    while offset + 8 <= len(head):
        chunk = head[offset : offset + 4]
        size = int.from_bytes(head[offset + 4 : offset + 8], "little")
        if chunk == b"fmt " and offset + 20 <= len(head):
            byte_rate = int.from_bytes(head[offset + 16 : offset + 20], "little")
        elif chunk == b"data":
            if byte_rate <= 0:
                return 0.0
            return min(size, max(total - offset - 8, 0)) / byte_rate
        offset += 8 + size + (size & 1)
    return 0.0


def audio_counts(messages: list[dict[str, Any]] | None) -> tuple[int, float]:
    """``(clips, seconds)`` of the ``input_audio`` parts of chat messages."""
    return media_counts(messages)[2:]


def media_counts(messages: list[dict[str, Any]] | None) -> tuple[int, int, int, float]:
    """``(images, image bytes, audio clips, audio seconds)`` of chat messages' parts, in one
    pass: a ``data:`` URL's bytes are its decoded base64 payload, an http(s) URL's unknown (0);
    a clip's seconds are read from its WAV header."""
    images = size = clips = 0
    seconds = 0.0
    for message in messages or ():
        content = message.get("content")
        if type(content) is not list:
            continue
        for part in content:
            kind = part.get("type") if type(part) is dict else None
            if kind == "image_url":
                images += 1
                image = part.get("image_url")
                url = image.get("url") if type(image) is dict else image
                if type(url) is str and url.startswith("data:"):
                    payload = len(url) - url.find(",") - 1
                    size += payload * 3 // 4 - (2 if url.endswith("==") else url.endswith("="))
            elif kind == "input_audio":
                clips += 1
                audio = part.get("input_audio")
                data = audio.get("data") if type(audio) is dict else None
                if type(data) is str:
                    seconds += wav_seconds(data)
    return images, size, clips, seconds


class ResponseRecorder:
    """Collects the timings of one response while it streams; cheap enough to call per chunk.

    A backend calls :meth:`content` (or :meth:`reasoning`) once per content-bearing chunk with
    the chunk's arrival time, and :meth:`usage` when the server reports token counts; a pooling
    request (no chunks) calls :meth:`complete` when its answer arrived. The worker
    sets ``request_start`` just before calling the backend and turns the recorder into a
    :class:`RequestResult` with :meth:`finish`.
    """

    __slots__ = (
        "cached_tokens",
        "chunk_times",
        "content_chunks",
        "end_time",
        "first_token_time",
        "inputs",
        "last_token_time",
        "output_tokens",
        "parts",
        "prompt_tokens",
        "reasoning_chunks",
        "reasoning_parts",
        "reasoning_tokens",
        "request",
        "request_start",
        "scheduled_time",
        "whole",
    )

    def __init__(self, request: GenerationRequest, scheduled_time: float) -> None:
        self.request = request
        self.scheduled_time = scheduled_time
        self.request_start = scheduled_time
        self.first_token_time: float | None = None
        self.last_token_time: float | None = None
        self.chunk_times: list[float] = []
        self.parts: list[str] = []
        self.reasoning_parts: list[str] = []
        self.content_chunks = 0
        self.reasoning_chunks = 0
        self.prompt_tokens: int | None = None
        self.output_tokens: int | None = None
        self.reasoning_tokens: int | None = None
        self.cached_tokens: int | None = None
        self.inputs = 0
        self.end_time: float | None = None
        #: The answer came in one piece (not streamed): its chunk count is no token count.
        self.whole = False

    def start(self) -> float:
        """Mark the moment the request is handed to the transport; returns that time."""
        self.request_start = t = now()
        return t

    def content(self, text: str, arrived: float) -> None:
        """A chunk carrying output text arrived at ``arrived`` (empty text is not content)."""
        if self.first_token_time is None:
            self.first_token_time = arrived
        self.last_token_time = arrived
        self.chunk_times.append(arrived)
        self.parts.append(text)
        self.content_chunks += 1

    def reasoning(self, text: str, arrived: float) -> None:
        """A chunk carrying reasoning text arrived; it counts for TTFT but is kept apart."""
        if self.first_token_time is None:
            self.first_token_time = arrived
        self.last_token_time = arrived
        self.chunk_times.append(arrived)
        self.reasoning_parts.append(text)
        self.reasoning_chunks += 1

    def usage(
        self,
        prompt_tokens: int | None,
        output_tokens: int | None,
        reasoning_tokens: int | None = None,
        cached_tokens: int | None = None,
    ) -> None:
        """The server's own token counts (``usage``), when it sends them; ``cached_tokens``
        are the prompt tokens it served from its prefix cache."""
        if prompt_tokens is not None:
            self.prompt_tokens = prompt_tokens
        if output_tokens is not None:
            self.output_tokens = output_tokens
        if reasoning_tokens is not None:
            self.reasoning_tokens = reasoning_tokens
        if cached_tokens is not None:
            self.cached_tokens = cached_tokens

    def complete(self, inputs: int, end: float) -> None:
        """A pooling answer (embeddings, rerank) of ``inputs`` texts arrived whole at ``end``.

        It has no content chunks, so no first token: the result is successful with a latency
        and no TTFT or ITL (docs/metrics.md)."""
        self.inputs = inputs
        self.end_time = end

    @property
    def text(self) -> str:
        """The output text received so far."""
        return "".join(self.parts)

    def finish(
        self,
        status: str,
        *,
        end: float | None = None,
        error_category: str | None = None,
        error: str | None = None,
        keep_text: bool = False,
        worker: int = 0,
    ) -> RequestResult:
        """Freeze what was recorded into a :class:`RequestResult`."""
        req = self.request
        images, image_bytes, clips, seconds = (
            media_counts(req.messages) if req.messages else (0, 0, 0, 0.0)
        )
        return RequestResult(
            request_id=req.request_id,
            status=status,
            scheduled_time=self.scheduled_time,
            request_start=self.request_start,
            request_end=end if end is not None else self.end_time or now(),
            first_token_time=self.first_token_time,
            last_token_time=self.last_token_time,
            chunk_times=self.chunk_times,
            content_chunks=self.content_chunks,
            reasoning_chunks=self.reasoning_chunks,
            prompt_tokens=self.prompt_tokens,
            output_tokens=self.output_tokens,
            reasoning_tokens=self.reasoning_tokens,
            request_prompt_tokens=req.prompt_tokens,
            requested_output_tokens=req.max_tokens,
            error_category=error_category,
            error=error,
            output_text="".join(self.parts) if keep_text else None,
            reasoning_text="".join(self.reasoning_parts)
            if keep_text and self.reasoning_parts
            else None,
            worker=worker,
            cached_tokens=self.cached_tokens,
            images=images,
            image_bytes=image_bytes,
            inputs=self.inputs,
            whole=self.whole,
            audio_clips=clips,
            audio_seconds=seconds,
            model=req.model,
            traffic_class=req.traffic_class,
        )
