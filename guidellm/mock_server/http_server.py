"""The OpenAI-compatible HTTP/1.1 side of the mock server: an asyncio protocol over httptools.

No web framework: a raw :class:`asyncio.Protocol` parses requests with httptools and writes
pre-rendered bytes, and every token is written from a :class:`DeadlineScheduler` callback at
``arrival + ttft + k * itl`` (absolute deadlines, so lateness never accumulates). What to send
(lengths, timings, faults, text) comes from :mod:`guidellm.mock_server.behavior`.

Routes: ``GET /health``, ``GET /v1/models``, ``POST /v1/completions`` and
``POST /v1/chat/completions`` (streaming SSE with one token per chunk, or one JSON answer).
Keep-alive connections; pipelined requests are answered in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import struct
import time
from collections import deque
from typing import Any

import httptools
import orjson

from guidellm.mock_server.behavior import (
    VOCABULARY,
    CapacityGate,
    MockServerConfig,
    RequestPlan,
    count_prompt_tokens,
    plan_request,
    requested_max_tokens,
)
from guidellm.mock_server.timers import DeadlineScheduler

__all__ = ["MockHTTPState", "serve_http"]

_TOKEN_JSON: dict[str, bytes] = {" " + w: orjson.dumps(" " + w) for w in VOCABULARY}
_REASONS = {
    200: b"OK",
    400: b"Bad Request",
    404: b"Not Found",
    405: b"Method Not Allowed",
    429: b"Too Many Requests",
    500: b"Internal Server Error",
}
_GENERATION_PATHS = {b"/v1/completions": False, b"/v1/chat/completions": True}
_LINGER_RESET = struct.pack("ii", 1, 0)
#: Longest answer the mock agrees to produce (advertised as ``max_model_len``).
MAX_MODEL_LEN = 1_000_000
# The fixed start of every SSE event of a stream, up to the token (id, created, model filled in).
_CHAT_HEAD = b'data: {"id":"chatcmpl-%d","object":"chat.completion.chunk","created":%d,"model":%s,"choices":[{"index":0,"delta":{'  # noqa: E501
_TEXT_HEAD = b'data: {"id":"cmpl-%d","object":"text_completion","created":%d,"model":%s,"choices":[{"index":0,"text":'  # noqa: E501


class MockHTTPState:
    """What all connections of one listening server share: config, clock, request counter."""

    def __init__(self, config: MockServerConfig, scheduler: DeadlineScheduler) -> None:
        self.config = config
        self.scheduler = scheduler
        self.requests = 0
        self.gate = CapacityGate(config.max_concurrency)
        self.connections: set[_Connection] = set()
        self.model_json = orjson.dumps(config.model)
        self.created = int(time.time())
        self.models_body = orjson.dumps(
            {
                "object": "list",
                "data": [
                    {
                        "id": config.model,
                        "object": "model",
                        "created": self.created,
                        "owned_by": "guidellm-mock",
                        "max_model_len": MAX_MODEL_LEN,
                    }
                ],
            }
        )

    def close_all(self) -> None:
        """Drop every connection at once (stalled streams included)."""
        for conn in list(self.connections):
            conn.abort()
        self.connections.clear()


#: Generation requests received (valid bodies), generating now, waiting for a slot.
_METRICS = (
    b"# TYPE guidellm_mock_requests_total counter\nguidellm_mock_requests_total %d\n"
    b"# TYPE guidellm_mock_requests_running gauge\nguidellm_mock_requests_running %d\n"
    b"# TYPE guidellm_mock_requests_waiting gauge\nguidellm_mock_requests_waiting %d\n"
)


def _response_head(status: int, headers: list[tuple[bytes, bytes]], keep_alive: bool) -> bytes:
    lines = [b"HTTP/1.1 %d %s" % (status, _REASONS.get(status, b"Unknown"))]
    lines += [name + b": " + value for name, value in headers]
    if not keep_alive:
        lines.append(b"connection: close")
    return b"\r\n".join(lines) + b"\r\n\r\n"


def _error_body(message: str, kind: str, code: int | str) -> bytes:
    return orjson.dumps({"error": {"message": message, "type": kind, "code": code}})


def _chunk(data: bytes) -> bytes:
    """One HTTP/1.1 chunk of the chunked transfer encoding."""
    return b"%x\r\n%s\r\n" % (len(data), data)


class _Request:
    __slots__ = ("arrival", "body", "keep_alive", "method", "path")

    def __init__(
        self, method: bytes, path: bytes, body: bytes, keep_alive: bool, arrival: float
    ) -> None:
        self.method = method
        self.path = path
        self.body = body
        self.keep_alive = keep_alive
        self.arrival = arrival


class _Connection(asyncio.Protocol):
    """One client connection: parse requests, answer them one after the other."""

    def __init__(self, state: MockHTTPState) -> None:
        self.state = state
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpRequestParser(self)
        self.url = b""
        self.body: list[bytes] = []
        self.queue: deque[_Request] = deque()
        self.busy = False
        self.closed = False
        self.slot = False  # holds a CapacityGate slot (a generation in progress)
        self.expect_continue = False

    # -- asyncio.Protocol ------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is no subclass
        self.state.connections.add(self)
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.state.connections.discard(self)
        self._release()  # a reset, a stalled stream or a client gone mid-answer

    def _release(self) -> None:
        if self.slot:
            self.slot = False
            self.state.gate.leave()

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._refuse("upgrade not supported")
        except httptools.HttpParserError as exc:
            self._refuse(f"bad HTTP request: {exc}")

    def _refuse(self, message: str) -> None:
        """Answer 400 and close; in the middle of a response only closing is possible."""
        if self.busy:
            self.abort()
            return
        self._write_simple(400, _error_body(message, "invalid_request", 400))
        self._close()

    # -- httptools callbacks ---------------------------------------------------------------
    def on_message_begin(self) -> None:
        self.url = b""
        self.body = []
        self.expect_continue = False

    def on_header(self, name: bytes, value: bytes) -> None:
        if len(name) == 6 and name.lower() == b"expect":
            self.expect_continue = value.lower() == b"100-continue"

    def on_headers_complete(self) -> None:
        # curl sends 'Expect: 100-continue' before a body > 1 KiB and waits 1 s unless told to go
        if self.expect_continue and not self.closed and self.transport is not None:
            self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        arrival = time.monotonic()
        path = self.url.split(b"?", 1)[0]
        request = _Request(
            self.parser.get_method(),
            path,
            b"".join(self.body),
            self.parser.should_keep_alive(),
            arrival,
        )
        self.queue.append(request)
        if not self.busy:
            self._next(fresh=True)

    # -- answering -------------------------------------------------------------------------
    def abort(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.abort()

    def _close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    def _write(self, data: bytes) -> None:
        if not self.closed and self.transport is not None:
            self.transport.write(data)

    def _write_simple(
        self,
        status: int,
        body: bytes,
        keep_alive: bool = False,
        extra: list[tuple[bytes, bytes]] | None = None,
        content_type: bytes = b"application/json",
    ) -> None:
        headers = [
            (b"content-type", content_type),
            (b"content-length", str(len(body)).encode()),
        ]
        if extra:
            headers += extra
        self._write(_response_head(status, headers, keep_alive) + body)

    def _finish(self, keep_alive: bool) -> None:
        """The current response is complete: close, or answer the next queued request."""
        self.busy = False
        if not keep_alive:
            self._close()
        elif self.queue and not self.closed:
            self._next()

    def _next(self, fresh: bool = False) -> None:
        request = self.queue.popleft()
        self.busy = True
        if not fresh:  # it waited behind another response: the server starts on it now
            request.arrival = time.monotonic()
        self._dispatch(request)

    def _dispatch(self, req: _Request) -> None:
        state = self.state
        keep = req.keep_alive
        if req.path == b"/health":
            if req.method != b"GET":
                self._method_not_allowed(keep)
                return
            self._write_simple(200, b'{"status":"ok"}', keep)
            self._finish(keep)
            return
        if req.path == b"/metrics":  # Prometheus text: what the server itself counted
            gate = state.gate
            text = _METRICS % (state.requests, gate.active, len(gate.waiting))
            self._write_simple(200, text, keep, content_type=b"text/plain; version=0.0.4")
            self._finish(keep)
            return
        if req.path == b"/v1/models":
            if req.method != b"GET":
                self._method_not_allowed(keep)
                return
            self._write_simple(200, state.models_body, keep)
            self._finish(keep)
            return
        chat = _GENERATION_PATHS.get(req.path)
        if chat is None:
            body = _error_body(f"no route {req.path.decode(errors='replace')}", "not_found", 404)
            self._write_simple(404, body, keep)
            self._finish(keep)
            return
        if req.method != b"POST":
            self._method_not_allowed(keep)
            return
        self._generate(req, chat)

    def _method_not_allowed(self, keep: bool) -> None:
        self._write_simple(405, _error_body("method not allowed", "invalid_request", 405), keep)
        self._finish(keep)

    def _bad_request(self, message: str, keep: bool, status: int = 400) -> None:
        kind = "not_found" if status == 404 else "invalid_request_error"
        self._write_simple(status, _error_body(message, kind, status), keep)
        self._finish(keep)

    def _generate(self, req: _Request, chat: bool) -> None:
        state = self.state
        config = state.config
        keep = req.keep_alive
        try:
            body = orjson.loads(req.body)
        except orjson.JSONDecodeError as exc:
            self._bad_request(f"request body is not valid JSON: {exc}", keep)
            return
        if not isinstance(body, dict):
            self._bad_request("request body must be a JSON object", keep)
            return
        if chat and not isinstance(body.get("messages"), list):
            self._bad_request("'messages' (a list) is required", keep)
            return
        if not chat and "prompt" not in body:
            self._bad_request("'prompt' is required", keep)
            return
        model = body.get("model")
        if model is not None and model != config.model:
            message = f"The model `{model}` does not exist; this server serves `{config.model}`."
            self._bad_request(message, keep, 404)
            return
        max_tokens = requested_max_tokens(body)
        if max_tokens is not None and max_tokens > MAX_MODEL_LEN:
            message = f"max_tokens {max_tokens} exceeds this server's limit of {MAX_MODEL_LEN}"
            self._bad_request(message, keep)
            return
        plan = plan_request(config, state.requests, max_tokens, body.get("ignore_eos") is not False)
        state.requests += 1
        if plan.fault == "error_500":
            self._write_simple(500, _error_body("injected server error", "server_error", 500), keep)
            self._finish(keep)
            return
        if plan.fault == "error_429":
            retry = str(config.retry_after_s).encode()
            body429 = _error_body("injected rate limit", "rate_limit_exceeded", 429)
            self._write_simple(429, body429, keep, [(b"retry-after", retry)])
            self._finish(keep)
            return
        hit_limit = max_tokens is not None and plan.total >= max_tokens
        reasoning = plan.reasoning if chat else 0
        prompt_tokens = count_prompt_tokens(body)
        stream_options = body.get("stream_options")
        stream = bool(body.get("stream"))
        include_usage = isinstance(stream_options, dict) and bool(
            stream_options.get("include_usage")
        )

        def start(waited: bool) -> bool:
            if self.closed:
                return False
            if waited:  # queued behind max_concurrency: the server starts on it now
                req.arrival = time.monotonic()
            self.slot = True
            if stream:
                _Stream(
                    self,
                    req,
                    plan,
                    chat=chat,
                    reasoning=reasoning,
                    prompt_tokens=prompt_tokens,
                    include_usage=include_usage,
                    hit_limit=hit_limit,
                )
            else:
                answer = _full_answer(
                    state,
                    plan=plan,
                    chat=chat,
                    reasoning=reasoning,
                    prompt_tokens=prompt_tokens,
                    hit_limit=hit_limit,
                )
                deadline = req.arrival + plan.duration_s
                state.scheduler.call_at(deadline, self._answer, plan, answer, keep)
            return True

        state.gate.enter(start)

    def _answer(self, plan: RequestPlan, answer: bytes, keep: bool) -> None:
        if self.closed:
            return
        if plan.fault == "reset":
            self._reset()
            return
        if plan.fault == "stall":
            return  # never answer; the socket stays open until the client gives up
        if plan.fault == "malformed":
            answer = answer[: len(answer) // 2]
            headers = [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(answer)).encode()),
            ]
            self._write(_response_head(200, headers, keep) + answer)
        else:
            self._write_simple(200, answer, keep)
        self._release()
        self._finish(keep)

    def _reset(self) -> None:
        """Close with a TCP RST (SO_LINGER 0): the client sees 'connection reset by peer'."""
        if self.transport is None or self.closed:
            return
        sock = self.transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RESET)
        self.abort()


def _usage(plan: RequestPlan, reasoning: int, prompt_tokens: int) -> dict[str, Any]:
    usage: dict[str, Any] = {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": plan.total,
        "total_tokens": prompt_tokens + plan.total,
    }
    if reasoning:
        usage["completion_tokens_details"] = {"reasoning_tokens": reasoning}
    return usage


def _full_answer(
    state: MockHTTPState,
    *,
    plan: RequestPlan,
    chat: bool,
    reasoning: int,
    prompt_tokens: int,
    hit_limit: bool,
) -> bytes:
    finish = "length" if hit_limit else "stop"
    choice: dict[str, Any]
    if chat:
        message: dict[str, Any] = {"role": "assistant", "content": "".join(plan.tokens[reasoning:])}
        if reasoning:
            message["reasoning_content"] = "".join(plan.tokens[:reasoning])
        choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": finish}
    else:
        choice = {
            "index": 0,
            "text": "".join(plan.tokens),
            "logprobs": None,
            "finish_reason": finish,
        }
    return orjson.dumps(
        {
            "id": f"{'chatcmpl' if chat else 'cmpl'}-{plan.index}",
            "object": "chat.completion" if chat else "text_completion",
            "created": state.created,
            "model": state.config.model,
            "choices": [choice],
            "usage": _usage(plan, reasoning, prompt_tokens),
        }
    )


class _Stream:
    """One streaming answer: headers now, then one SSE chunk per token on its deadline."""

    __slots__ = (
        "chat",
        "conn",
        "head",
        "hit_limit",
        "include_usage",
        "k",
        "last_tail",
        "plan",
        "prompt_tokens",
        "reasoning",
        "req",
        "tail",
    )

    def __init__(
        self,
        conn: _Connection,
        req: _Request,
        plan: RequestPlan,
        *,
        chat: bool,
        reasoning: int,
        prompt_tokens: int,
        include_usage: bool,
        hit_limit: bool,
    ) -> None:
        self.conn = conn
        self.req = req
        self.plan = plan
        self.chat = chat
        self.reasoning = reasoning
        self.prompt_tokens = prompt_tokens
        self.include_usage = include_usage
        self.hit_limit = hit_limit
        self.k = 0
        state = conn.state
        if chat:
            self.head = _CHAT_HEAD % (plan.index, state.created, state.model_json)
            self.tail = b'},"logprobs":null,"finish_reason":null}]}\n\n'
            self.last_tail = b'},"logprobs":null,"finish_reason":"%s"}]}\n\n' % (
                b"length" if hit_limit else b"stop"
            )
        else:
            self.head = _TEXT_HEAD % (plan.index, state.created, state.model_json)
            self.tail = b',"logprobs":null,"finish_reason":null}]}\n\n'
            self.last_tail = b',"logprobs":null,"finish_reason":"%s"}]}\n\n' % (
                b"length" if hit_limit else b"stop"
            )
        headers = [
            (b"content-type", b"text/event-stream"),
            (b"cache-control", b"no-cache"),
            (b"transfer-encoding", b"chunked"),
        ]
        conn._write(_response_head(200, headers, req.keep_alive))
        state.scheduler.call_at(req.arrival + plan.ttft_s, self._tick)

    def _event(self, k: int) -> bytes:
        token = _TOKEN_JSON[self.plan.tokens[k]]
        tail = self.last_tail if k == self.plan.total - 1 else self.tail
        if not self.chat:
            return self.head + token + tail
        field = b'"reasoning_content":' if k < self.reasoning else b'"content":'
        if k == 0:
            field = b'"role":"assistant",' + field
        return self.head + field + token + tail

    def _tick(self) -> None:
        """Send every token that is due (usually one; several when the ITL is tiny or the
        loop was late), in one write, then sleep until the next deadline."""
        conn = self.conn
        if conn.closed:
            return
        plan = self.plan
        fault = plan.fault
        total = plan.total
        out: list[bytes] = []
        while True:
            k = self.k
            if fault is not None and k == plan.fault_at:
                if fault == "reset":
                    conn._write(b"".join(out))
                    conn._reset()
                    return
                if fault == "stall":
                    conn._write(b"".join(out))
                    return  # stop sending; keep the socket until the client closes it
                if fault == "malformed":
                    out.append(_chunk(self.head + b'"broken\n\n'))  # unterminated JSON string
            if k >= total:
                break
            out.append(_chunk(self._event(k)))
            self.k = k = k + 1
            if k == total and (plan.fault_at < total or fault in (None, "no_done")):
                break
            deadline = self.req.arrival + plan.due(k)
            if deadline > time.monotonic() + DeadlineScheduler.EARLY_S:
                conn._write(b"".join(out))
                conn.state.scheduler.call_at(deadline, self._tick)
                return
        self._end(b"".join(out))

    def _end(self, out: bytes) -> None:
        """The last token(s), then the usage event, [DONE] and the end of the chunked body."""
        conn = self.conn
        if self.include_usage:
            usage = orjson.dumps(_usage(self.plan, self.reasoning, self.prompt_tokens))
            close = self.head.index(b'"choices"')
            out += _chunk(self.head[:close] + b'"choices":[],"usage":' + usage + b"}\n\n")
        if self.plan.fault != "no_done":
            out += _chunk(b"data: [DONE]\n\n")
        conn._write(out + b"0\r\n\r\n")
        conn._release()
        conn._finish(self.req.keep_alive)


async def serve_http(
    config: MockServerConfig,
    host: str,
    port: int,
    use_timerfd: bool | None = None,
) -> tuple[asyncio.Server, MockHTTPState]:
    """Listen on ``host:port`` (0: a free port); the caller closes the server and the state.

    ``use_timerfd=None`` reads ``GUIDELLM_MOCK_TIMERFD`` (``0`` selects the loop's own timers,
    which benchmarks/mock_precision.py uses to show the difference).
    """
    if use_timerfd is None:
        use_timerfd = os.environ.get("GUIDELLM_MOCK_TIMERFD", "1") != "0"
    loop = asyncio.get_running_loop()
    state = MockHTTPState(config, DeadlineScheduler(loop, use_timerfd=use_timerfd))
    server = await loop.create_server(
        lambda: _Connection(state), host, port, reuse_address=True, backlog=1024
    )
    return server, state
