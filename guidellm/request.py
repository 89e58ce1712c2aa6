"""What flows between the parts: a request to send, and the timed result of sending it.

Both are msgspec structs encoded as arrays: the scheduler ships thousands of them a second over
pipes, so they must be cheap to build, pickle and encode. :class:`ResponseRecorder` is what a
backend fills while a response streams in; it owns the timing rules of docs/metrics.md so that
every backend (HTTP, gRPC, third-party) measures the same way.
"""

from __future__ import annotations

import time
from typing import Any

import msgspec

__all__ = ["GenerationRequest", "RequestResult", "RequestStatus", "ResponseRecorder", "now"]

#: The one clock every timestamp comes from (CLOCK_MONOTONIC, shared by processes on Linux).
now = time.perf_counter


class RequestStatus:
    """The three ways a request can end (string constants; they are what reports count)."""

    SUCCESSFUL = "successful"
    ERRORED = "errored"
    INCOMPLETE = "incomplete"


class GenerationRequest(msgspec.Struct, array_like=True, omit_defaults=True):
    """One request to send: text (``prompt``) or chat (``messages``), and how much to generate.

    ``prompt_tokens`` is the prompt's length when the dataset knows it (synthetic data always
    does). ``max_tokens`` is the wanted output length, ``None`` to let the server decide.
    ``extra_body`` holds per-request fields merged into the request body by the backend.
    ``timestamp`` is when a trace says the request was sent, in seconds on the trace's own
    clock (``None`` for untimed data); the ``replay`` strategy sends requests by it.
    """

    request_id: str
    prompt: str | None = None
    messages: list[dict[str, Any]] | None = None
    prompt_tokens: int | None = None
    max_tokens: int | None = None
    extra_body: dict[str, Any] | None = None
    timestamp: float | None = None


class RequestResult(msgspec.Struct, array_like=True, omit_defaults=True):
    """The measured outcome of one request; all times are :func:`now` seconds.

    ``chunk_times`` holds the arrival of every content-bearing chunk (reasoning included) in
    order. ``prompt_tokens``/``output_tokens``/``reasoning_tokens`` are what the server's
    ``usage`` said (``None`` when it sent none); ``content_chunks``/``reasoning_chunks`` are what
    the client counted. ``request_prompt_tokens`` is the prompt length the dataset promised.
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


class ResponseRecorder:
    """Collects the timings of one response while it streams; cheap enough to call per chunk.

    A backend calls :meth:`content` (or :meth:`reasoning`) once per content-bearing chunk with
    the chunk's arrival time, and :meth:`usage` when the server reports token counts. The worker
    sets ``request_start`` just before calling the backend and turns the recorder into a
    :class:`RequestResult` with :meth:`finish`.
    """

    __slots__ = (
        "chunk_times",
        "content_chunks",
        "first_token_time",
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
    ) -> None:
        """The server's own token counts (``usage``), when it sends them."""
        if prompt_tokens is not None:
            self.prompt_tokens = prompt_tokens
        if output_tokens is not None:
            self.output_tokens = output_tokens
        if reasoning_tokens is not None:
            self.reasoning_tokens = reasoning_tokens

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
        return RequestResult(
            request_id=req.request_id,
            status=status,
            scheduled_time=self.scheduled_time,
            request_start=self.request_start,
            request_end=now() if end is None else end,
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
        )
