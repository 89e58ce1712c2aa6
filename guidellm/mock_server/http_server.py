"""The OpenAI-compatible HTTP/1.1 side of the mock server: an asyncio protocol over httptools.

No web framework: the connections of :mod:`guidellm.mock_server.http_framing` parse requests
with httptools (keep-alive, pipelined requests answered in order) and this module writes
pre-rendered bytes; every token is written from a :class:`DeadlineScheduler` callback at
``arrival + ttft + k * itl`` (absolute deadlines, so lateness never accumulates). What to send
(lengths, timings, faults, text) comes from :mod:`guidellm.mock_server.behavior`.

Routes: ``GET /health``, ``GET /metrics``, ``GET /v1/models``, ``POST /v1/completions`` and
``POST /v1/chat/completions`` (streaming SSE with one token per chunk, or one JSON answer);
``POST /v1/embeddings`` and ``POST /v1/rerank`` (:mod:`guidellm.mock_server.pooling`);
``POST /v1/messages`` (Anthropic's Messages API, :mod:`guidellm.mock_server.anthropic_stream`);
``POST /v1/audio/transcriptions`` (multipart audio, :mod:`guidellm.mock_server.transcriptions`).
``/metrics`` speaks vLLM's names (:mod:`guidellm.mock_server.metrics`); the gauges are read
from the connections' running requests at each scrape.
"""

from __future__ import annotations

import asyncio
import os
import time
from bisect import bisect_left
from dataclasses import replace
from typing import Any

import orjson

from guidellm.mock_server.answers import anthropic_answer, full_answer, usage
from guidellm.mock_server.behavior import (
    VOCABULARY,
    CapacityGate,
    MockServerConfig,
    RequestPlan,
    count_prompt_tokens,
    plan_request,
    requested_max_tokens,
)
from guidellm.mock_server.http_framing import (
    HTTPConnection,
    Request,
    chunk,
    error_body,
    response_head,
)
from guidellm.mock_server.metrics import ITL_BUCKETS, MockMetrics, RunningRequest
from guidellm.mock_server.models import ModelTable, ServedModel
from guidellm.mock_server.pooling import POOLING_ROUTES, serve_pooling
from guidellm.mock_server.prefix_cache import PrefixCache, prompt_token_sequence
from guidellm.mock_server.timers import DeadlineScheduler
from guidellm.mock_server.transcriptions import TRANSCRIPTION_ROUTE, serve_transcription

__all__ = ["MockHTTPState", "serve_http"]

_TOKEN_JSON: dict[str, bytes] = {" " + w: orjson.dumps(" " + w) for w in VOCABULARY}
_GENERATION_PATHS = {
    b"/v1/completions": False,
    b"/v1/chat/completions": True,
    b"/v1/messages": True,  # Anthropic's Messages API (:mod:`.anthropic_stream`)
}
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
        self.metrics = MockMetrics(
            config.served_models,
            max_concurrency=config.max_concurrency,
            kv_cache_tokens=config.kv_cache_tokens,
        )
        self.models = ModelTable(config, self.metrics)
        self.prefix_cache = (
            PrefixCache(config.prefix_block_tokens, config.prefix_cache_blocks)
            if config.prefix_cache_blocks > 0
            else None
        )
        self.connections: set[HTTPConnection] = set()
        self.created = int(time.time())
        self.models_body = self.models.listing(self.created, MAX_MODEL_LEN)

    def arrived(self, model: ServedModel) -> int:
        """A request of ``model`` with a valid body arrived: its index (its draws' seed)."""
        index = self.requests
        self.requests = index + 1
        model.series.requests += 1
        return index

    def close_all(self) -> None:
        """Drop every connection at once (stalled streams included)."""
        for conn in list(self.connections):
            conn.abort()
        self.connections.clear()

    def render_metrics(self) -> bytes:
        """``/metrics`` now: the counters, and the gauges read from the running requests."""
        now = time.monotonic()
        held = 0
        for conn in self.connections:
            job = conn.job if isinstance(conn, _Connection) else None
            if job is not None:
                held += job.prompt_tokens + job.generated(now)
        return self.metrics.render(
            running=self.gate.active,
            waiting=len(self.gate.waiting),
            held_tokens=held,
        )


class _Connection(HTTPConnection):
    """One client connection of the OpenAI-compatible mock: routes, generation, faults."""

    def __init__(self, state: MockHTTPState) -> None:
        super().__init__(state.connections)
        self.state = state
        # the request holding a CapacityGate slot (a generation in progress)
        self.job: RunningRequest | None = None
        # the prefix-cache blocks of the request in progress, until its prefill is done
        self.prefill: list[int] | None = None

    def _lost(self) -> None:
        self._prefilled()  # gone before its first token: its prompt counts as computed now
        self._release()

    def _prefilled(self) -> None:
        """The current request's prefill is done: its prompt blocks enter the prefix cache."""
        hashes = self.prefill
        if hashes is not None:
            self.prefill = None
            cache = self.state.prefix_cache
            if cache is not None:
                cache.insert(hashes)

    def _prefill_due(self, hashes: list[int]) -> None:
        """A non-streaming request's first-token time (unless that request is over already)."""
        if self.prefill is hashes:
            self._prefilled()

    def _release(self) -> None:
        """The request in progress ends (done, faulted or its client gone): its slot frees."""
        job = self.job
        if job is not None:
            self.job = None
            series = job.series
            series.prompt_tokens += job.prompt_tokens
            series.generation_tokens += job.returned()
            self.state.gate.leave()

    def _dispatch(self, req: Request) -> None:
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
            text = state.render_metrics()
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
        pooling = POOLING_ROUTES.get(req.path) if chat is None else None
        if pooling is not None and req.method == b"POST":
            serve_pooling(self, state, req, pooling)
            return
        if req.path == TRANSCRIPTION_ROUTE and req.method == b"POST":
            serve_transcription(self, state, req)
            return
        if chat is None and pooling is None:
            body = error_body(f"no route {req.path.decode(errors='replace')}", "not_found", 404)
            self._write_simple(404, body, keep)
            self._finish(keep)
            return
        if req.method != b"POST" or chat is None:
            self._method_not_allowed(keep)
            return
        self._generate(req, chat)

    def _method_not_allowed(self, keep: bool) -> None:
        self._write_simple(405, error_body("method not allowed", "invalid_request", 405), keep)
        self._finish(keep)

    def _bad_request(self, message: str, keep: bool, status: int = 400) -> None:
        kind = "not_found" if status == 404 else "invalid_request_error"
        self._write_simple(status, error_body(message, kind, status), keep)
        self._finish(keep)

    def _generate(self, req: Request, chat: bool) -> None:
        state = self.state
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
        anthropic = req.path == b"/v1/messages"
        if anthropic and isinstance(body.get("system"), str):  # its tokens count too
            body["messages"] = [{"role": "system", "content": body["system"]}, *body["messages"]]
        model = state.models.resolve(body.get("model"))
        if model is None:
            self._bad_request(state.models.unknown(body.get("model")), keep, 404)
            return
        config = model.config  # the server's, with this model's timing
        max_tokens = requested_max_tokens(body)
        if max_tokens is not None and max_tokens > MAX_MODEL_LEN:
            message = f"max_tokens {max_tokens} exceeds this server's limit of {MAX_MODEL_LEN}"
            self._bad_request(message, keep)
            return
        cache = state.prefix_cache
        images, audio = config.image_tokens, config.audio_tokens_per_second
        tokens = None if cache is None else prompt_token_sequence(body, images, audio)
        prompt_tokens = count_prompt_tokens(body, images, audio) if tokens is None else len(tokens)
        ignore_eos = body.get("ignore_eos") is not False
        # drawn now, in arrival order; the prefill time is added when the request starts
        plan = plan_request(config, state.arrived(model), max_tokens, ignore_eos)
        if self._injected_error(plan.fault, config.retry_after_s, keep):
            return
        hit_limit = max_tokens is not None and plan.total >= max_tokens
        reasoning = plan.reasoning if chat else 0
        stream_options = body.get("stream_options")
        stream = bool(body.get("stream"))
        include_usage = anthropic or (
            isinstance(stream_options, dict) and bool(stream_options.get("include_usage"))
        )

        received = req.arrival
        metrics = state.metrics
        series = model.series

        def start(waited: bool) -> bool:
            if self.closed:
                return False
            if waited:  # queued behind max_concurrency: the server starts on it now
                req.arrival = time.monotonic()
            metrics.started(prompt_tokens + plan.total)
            # the cache as it is now, holding the prompts whose prefill is done; this prompt's
            # blocks go in at its first token (_prefilled), so a concurrent twin misses
            cached_tokens = 0
            hashes: list[int] = []
            if cache is not None and tokens is not None:
                cached_tokens, hashes = cache.admit(tokens)
                series.prefix_queries += prompt_tokens
                series.prefix_hits += cached_tokens
            run = plan
            if config.prefill_ms_per_token:
                prefill_s = config.prefill_ms_per_token * (prompt_tokens - cached_tokens) / 1000
                run = replace(plan, ttft_s=plan.ttft_s + prefill_s)
            if hashes:
                self.prefill = hashes
            if stream:
                cls = _Stream
                if anthropic:
                    from guidellm.mock_server.anthropic_stream import AnthropicStream as cls
                self.job = cls(
                    self,
                    req,
                    run,
                    received,
                    model,
                    chat=chat,
                    reasoning=reasoning,
                    prompt_tokens=prompt_tokens,
                    cached_tokens=cached_tokens,
                    include_usage=include_usage,
                    hit_limit=hit_limit,
                )
            else:
                self.job = RunningRequest(req, run, prompt_tokens, received, series)
                kw: dict[str, Any] = {
                    "model": model.name,
                    "plan": run,
                    "reasoning": reasoning,
                    "prompt_tokens": prompt_tokens,
                    "cached_tokens": cached_tokens,
                    "hit_limit": hit_limit,
                }
                if anthropic:
                    answer = anthropic_answer(state, **kw)
                else:
                    answer = full_answer(state, chat=chat, **kw)
                if hashes:
                    state.scheduler.call_at(req.arrival + run.ttft_s, self._prefill_due, hashes)
                deadline = req.arrival + run.duration_s
                state.scheduler.call_at(deadline, self._answer, run, answer, keep, hit_limit)
            return True

        state.gate.enter(start)

    def _answer(self, plan: RequestPlan, answer: bytes, keep: bool, hit_limit: bool) -> None:
        if self.closed:
            return
        self._prefilled()  # already done at its first-token time, unless that timer is late
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
            self._write(response_head(200, headers, keep) + answer)
        else:
            self._write_simple(200, answer, keep)
            job = self.job
            if job is not None:  # a whole answer (no_done means nothing without a stream)
                job.sent = plan.total
                ttft_s = job.req.arrival + plan.ttft_s - job.received  # by the schedule
                series = job.series
                series.succeeded(
                    length=hit_limit,
                    queue_s=job.queue_s,
                    ttft_s=ttft_s,
                    e2e_s=time.monotonic() - job.received,
                )
                series.itl.observe(plan.itl_s, plan.total - 1)
        self._release()
        self._finish(keep)


class _Stream(RunningRequest):
    """One streaming answer: headers now, then one SSE chunk per token on its deadline.

    For ``/metrics`` it notes when each write went out: the first gives the TTFT, the gap
    since the previous write one inter-token latency (tokens written together: gaps of 0),
    gathered in ``itl`` (its buckets) and kept only if the stream completes normally.
    """

    __slots__ = (
        "cached_tokens",
        "chat",
        "conn",
        "first_at",
        "head",
        "hit_limit",
        "include_usage",
        "itl",
        "k",
        "last_at",
        "last_tail",
        "model",
        "reasoning",
        "tail",
    )

    def __init__(
        self,
        conn: _Connection,
        req: Request,
        plan: RequestPlan,
        received: float,
        model: ServedModel,
        *,
        chat: bool,
        reasoning: int,
        prompt_tokens: int,
        cached_tokens: int,
        include_usage: bool,
        hit_limit: bool,
    ) -> None:
        super().__init__(req, plan, prompt_tokens, received, model.series)
        self.conn = conn
        self.model = model
        self.chat = chat
        self.reasoning = reasoning
        self.cached_tokens = cached_tokens
        self.include_usage = include_usage
        self.hit_limit = hit_limit
        self.k = 0
        self.first_at = self.last_at = 0.0
        # only a stream without a fault can complete normally and be observed
        self.itl: list[int] | None = [0] * (len(ITL_BUCKETS) + 1) if plan.fault is None else None
        state = conn.state
        if chat:
            self.head = _CHAT_HEAD % (plan.index, state.created, model.json)
            self.tail = b'},"logprobs":null,"finish_reason":null}]}\n\n'
            self.last_tail = b'},"logprobs":null,"finish_reason":"%s"}]}\n\n' % (
                b"length" if hit_limit else b"stop"
            )
        else:
            self.head = _TEXT_HEAD % (plan.index, state.created, model.json)
            self.tail = b',"logprobs":null,"finish_reason":null}]}\n\n'
            self.last_tail = b',"logprobs":null,"finish_reason":"%s"}]}\n\n' % (
                b"length" if hit_limit else b"stop"
            )
        headers = [
            (b"content-type", b"text/event-stream"),
            (b"cache-control", b"no-cache"),
            (b"transfer-encoding", b"chunked"),
        ]
        conn._write(response_head(200, headers, req.keep_alive))
        state.scheduler.call_at(req.arrival + plan.ttft_s, self._first)

    def generated(self, now: float) -> int:
        return self.k

    def returned(self) -> int:
        return self.k

    def _wrote(self, now: float, tokens: int) -> None:
        """``tokens`` token events went out at ``now`` (for the latency histograms)."""
        itl = self.itl
        if itl is None or not tokens:
            return
        if self.first_at:
            itl[bisect_left(ITL_BUCKETS, now - self.last_at)] += 1
        else:
            self.first_at = now
        itl[0] += tokens - 1  # written together: no time between them
        self.last_at = now

    def _first(self) -> None:
        """The first token is due: the prefill is done, then tokens flow as usual."""
        self.conn._prefilled()
        self._tick()

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
        first = self.k
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
                    out.append(chunk(self.head + b'"broken\n\n'))  # unterminated JSON string
            if k >= total:
                break
            out.append(chunk(self._event(k)))
            self.k = k = k + 1
            if k == total and (plan.fault_at < total or fault in (None, "no_done")):
                break
            deadline = self.req.arrival + plan.due(k)
            now = time.monotonic()
            if deadline > now + DeadlineScheduler.EARLY_S:
                conn._write(b"".join(out))
                self._wrote(now, k - first)
                conn.state.scheduler.call_at(deadline, self._tick)
                return
        self._end(b"".join(out), self.k - first)

    def _closing(self) -> bytes:
        """The events after the last token: the usage event and ``[DONE]``."""
        out = b""
        if self.include_usage:
            text = orjson.dumps(
                usage(self.plan, self.reasoning, self.prompt_tokens, self.cached_tokens)
            )
            close = self.head.index(b'"choices"')
            out += chunk(self.head[:close] + b'"choices":[],"usage":' + text + b"}\n\n")
        if self.plan.fault != "no_done":
            out += chunk(b"data: [DONE]\n\n")
        return out

    def _end(self, out: bytes, tokens: int) -> None:
        """The last token(s), then the usage event, [DONE] and the end of the chunked body."""
        conn = self.conn
        conn._write(out + self._closing() + b"0\r\n\r\n")
        itl = self.itl
        if itl is not None and not conn.closed:  # completed normally: observe it
            now = time.monotonic()
            self._wrote(now, tokens)
            series = self.series
            series.succeeded(
                length=self.hit_limit,
                queue_s=self.queue_s,
                ttft_s=self.first_at - self.received,
                e2e_s=now - self.received,
            )
            series.itl.add(itl, self.last_at - self.first_at)
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
