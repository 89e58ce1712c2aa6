"""The ``openai_http`` backend: any OpenAI-compatible server (vLLM, SGLang, TGI, llama.cpp...).

Sends ``/v1/chat/completions`` (default) or ``/v1/completions`` requests, streaming by default,
and times every content-bearing chunk. httpx is the client; HTTP/1.1 goes through our own lean
transport (:mod:`guidellm.backends.http_transport`) because httpx's stock one costs several
times more CPU per streamed token; ``http2=true`` uses httpx's stock transport.

Options (``--backend-args``):

``api_key``         sent as ``Authorization: Bearer``; default ``GUIDELLM_API_KEY`` then
                    ``OPENAI_API_KEY``; never shown in reports, logs or errors.
``verify``          TLS verification: ``true`` (default), ``false``, or a CA bundle path.
``http2``           use HTTP/2 (httpx's stock transport); default ``false``.
``timeout``         read timeout in seconds between any two reads (default 300).
``connect_timeout`` seconds to open a connection (default 10).
``first_token_timeout``  seconds from sending to the first content chunk (default: none).
``stall_timeout``   longest gap in seconds between content chunks (default 60).
``headers``         extra HTTP headers, a JSON object.
``extra_body``      fields merged into every request body (``temperature``, ``ignore_eos``...).
``request_format``  ``chat_completions`` (default), ``text_completions``, the pooling
                    formats ``embeddings`` and ``rerank`` (:mod:`.openai_pooling`), or
                    ``anthropic_messages`` (``/v1/messages``, :mod:`.anthropic_messages`:
                    the key goes as ``x-api-key``, with ``anthropic-version`` unless
                    ``headers`` give one), or ``transcriptions`` (multipart audio to
                    ``/v1/audio/transcriptions``, never streamed: :mod:`.openai_audio`).
``batch_size``      inputs per embeddings request (default 1), documents per rerank request
                    (default 4); pooling formats only.
``stream``          stream the response (default ``true``; pooling requests never stream).
``max_connections`` connection pool size (default: the worker's concurrency).
``transport``       ``lean`` (default) or ``httpx`` (httpx's stock HTTP/1.1 transport).
``timing``          ``auto`` (default): chunk arrival times are the kernel's receive stamps
                    where the platform gives them (Linux, plain HTTP, the lean transport),
                    else the time the worker read them; ``kernel`` insists (an error where
                    it cannot be had); ``loop``: read times (:mod:`.stamped_socket`).
``session_header``  the header carrying a session's identity on each of its turns, so that
                    gateways and routers can keep a conversation on one replica (default
                    ``X-Session-ID``; ``""`` sends none).
``session_user``    also send the session's identity as the OpenAI ``user`` field
                    (default ``false``).

A session's turns also share one connection when it is idle (the lean transport).

``timeout`` also bounds the wait for a non-streamed answer's headers, which come only after
the whole generation: raise it for long non-streamed outputs. Proxy variables (``HTTP_PROXY``...)
are not used: a benchmark measures the path to the server, not through a proxy by accident.
Redirects are not followed. Cookies are not kept between requests.

The output length is sent as ``max_tokens`` on both endpoints: vLLM, SGLang, TGI, llama.cpp
and Ollama all honour it (OpenAI's newer ``max_completion_tokens`` is not understood by every
server; add it through ``extra_body`` if a server needs it).

Error categories: connection refused or lost mid-stream -> ``connection``; connect/read
timeout -> ``timeout``; the deadlines -> ``first_token_deadline`` / ``stall``; an HTTP status
of 300 or more -> ``http_3xx`` (redirects are not followed), ``http_4xx``, ``http_429``,
``http_5xx``, with the server's message; an error object in the stream -> ``server_error``;
malformed JSON or a stream that ends without ``[DONE]`` -> ``protocol``.
"""

from __future__ import annotations

import asyncio
import functools
import os
from typing import TYPE_CHECKING, Any

from guidellm.backends.anthropic_messages import ANTHROPIC_VERSION, MessagesReader, messages_body
from guidellm.backends.base import Backend, split_target
from guidellm.backends.openai_audio import TRANSCRIPTION_PATHS, TranscriptionFormat
from guidellm.backends.openai_chunks import ChunkReader, server_message
from guidellm.backends.openai_options import FORMATS, check_options, timing_obstacle
from guidellm.backends.openai_pooling import (
    POOLING_PATHS,
    PoolingFormat,
    join_contents,
)
from guidellm.backends.sse import SSEDecoder
from guidellm.backends.stamped_socket import choose_kernel_timing
from guidellm.backends.watchdog import FIRST_TOKEN, Watchdog
from guidellm.errors import (
    BadResponseError,
    ConnectError,
    FirstTokenTimeoutError,
    HTTPStatusError,
    RequestError,
    RequestTimeoutError,
    StallTimeoutError,
)
from guidellm.hookspecs import Register, hookimpl
from guidellm.redact import REDACTED, mask_url, remember_secret, scrub

if TYPE_CHECKING:
    import httpx

    from guidellm.backends.http_transport import LeanHTTPTransport
    from guidellm.request import GenerationRequest, ResponseRecorder

__all__ = ["OpenAIHTTPBackend"]

#: Connections a worker opens at start-up (more open as needed).
_WARM_CONNECTIONS = 8


def _base_url(target: str) -> str:
    """``http://h:8000/v1/`` -> ``http://h:8000``: endpoint paths add ``/v1`` themselves."""
    url = target.rstrip("/")
    if url.endswith("/v1"):
        url = url[:-3]
    return url


def _ssl_context(verify: bool | str) -> Any:
    """TLS settings from ``verify``: system/certifi roots, none, or a CA bundle file."""
    import ssl

    import httpx

    if isinstance(verify, str):
        return ssl.create_default_context(cafile=verify)
    return httpx.create_ssl_context(verify=verify)


@functools.cache
def _client_class() -> Any:
    """httpx.AsyncClient without cookie handling.

    httpx parses every response's headers into an ``email.message.Message`` to look for
    cookies: about a tenth of the CPU of a streamed request. A load generator must not carry
    cookies between requests anyway (a sticky-session cookie would pin the whole benchmark to
    one replica behind a load balancer).
    """
    import httpx

    class _NoCookies(httpx.Cookies):
        def extract_cookies(self, response: httpx.Response) -> None:
            pass

    class _Client(httpx.AsyncClient):
        @property
        def cookies(self) -> httpx.Cookies:
            return _NO_COOKIES

        @cookies.setter
        def cookies(self, value: Any) -> None:
            pass

    _NO_COOKIES = _NoCookies()
    return _Client


def _nothing() -> None:
    """The watchdog's expiry without a current task (a coroutine always has one; typing does
    not know it)."""


class OpenAIHTTPBackend(Backend):
    """OpenAI-compatible HTTP server; see the module docstring for ``--backend-args``."""

    name = "openai_http"
    schemes = ("http", "https")

    def __init__(self, target: str, model: str | None = None, **options: Any) -> None:
        super().__init__(target, model, **options)
        split_target(target, "http://127.0.0.1:8000")
        self._opts = check_options(options)
        key = self._opts["api_key"]
        if key is None:
            key = os.environ.get("GUIDELLM_API_KEY") or os.environ.get("OPENAI_API_KEY")
        self._api_key: str | None = key or None
        # Remembered now (and by the worker after unpickling): every form of them, "Bearer
        # sk-..." without its scheme included, leaves no text this process writes.
        remember_secret(*self.secrets())
        self._base = _base_url(target)
        self._shown = mask_url(self._base)  # for messages and reports
        self._kernel_timing = choose_kernel_timing(
            self._opts["timing"], timing_obstacle(self._opts, self._base)
        )
        self._path = FORMATS[self._opts["request_format"]]
        self._chat = self._opts["request_format"] == "chat_completions"
        fmt = self._opts["request_format"]
        self._anthropic = fmt == "anthropic_messages"
        self._pooling = (
            PoolingFormat(fmt, self._opts["batch_size"]) if fmt in POOLING_PATHS else None
        )
        self._audio = TranscriptionFormat() if fmt in TRANSCRIPTION_PATHS else None
        self._client: httpx.AsyncClient | None = None
        self._url: Any = None
        self._headers: Any = None
        self._extensions: dict[str, Any] = {}
        self._direct: LeanHTTPTransport | None = None
        self._chunks: ChunkReader | MessagesReader | None = None

    @property
    def timing_source(self) -> str:
        if self._direct is None:
            return "loop"
        return self._direct.timing_source

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_client"] = state["_url"] = state["_headers"] = None  # per process
        state["_chunks"] = None
        return state

    def secrets(self) -> list[str]:
        # Secret-named options (api_key, an Authorization header) come from the base class;
        # a key taken from the environment is this backend's own.
        return [*super().secrets(), *([self._api_key] if self._api_key else [])]

    def describe(self) -> dict[str, Any]:
        info = super().describe()
        info["target"] = mask_url(self.target)
        info["request_format"] = self._opts["request_format"]
        info["stream"] = self._opts["stream"]
        if self._pooling is not None:
            info["batch_size"] = self._opts["batch_size"]
        if self._api_key and "api_key" not in self.options:
            info["api_key"] = REDACTED  # came from the environment
        return info

    # -- life cycle -----------------------------------------------------------------------------

    async def startup(self, concurrency: int = 1) -> None:
        import httpx

        # Request errors are redacted once, where their result leaves the worker.
        self._chunks = MessagesReader() if self._anthropic else ChunkReader(self._chat)
        opts = self._opts
        limit = opts["max_connections"] or max(1, concurrency)
        verify = opts["verify"]
        from guidellm.version import __version__

        headers = {
            "Accept": "*/*",
            # Raw bytes are parsed as they come: ask servers not to compress.
            "Accept-Encoding": "identity",
            "Content-Type": "application/json" if self._audio is None else self._audio.content_type,
            "User-Agent": f"guidellm/{__version__}",
        }
        headers.update({str(k): str(v) for k, v in (opts["headers"] or {}).items()})
        if self._anthropic:
            if not any(k.lower() == "anthropic-version" for k in headers):
                headers["anthropic-version"] = ANTHROPIC_VERSION
            if self._api_key:
                headers["x-api-key"] = self._api_key
        elif self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        timeout = httpx.Timeout(opts["timeout"], connect=opts["connect_timeout"], pool=None)
        transport: httpx.AsyncBaseTransport
        self._direct = None
        if opts["http2"] or opts["transport"] == "httpx":
            limits = httpx.Limits(max_connections=limit, max_keepalive_connections=limit)
            transport = httpx.AsyncHTTPTransport(
                verify=_ssl_context(verify), http2=opts["http2"], limits=limits
            )
        else:
            from guidellm.backends.http_transport import LeanHTTPTransport

            ctx = _ssl_context(verify) if self._base.startswith("https") else None
            # Called directly, not through the client's send: auth, redirects, hooks, cookies
            # and timers cost about 0.1 ms a request, all of it between the recorded start
            # and the request's bytes leaving, and none of it applies here.
            transport = self._direct = LeanHTTPTransport(
                max_connections=limit, ssl_context=ctx, kernel_timing=self._kernel_timing
            )
        self._client = _client_class()(
            transport=transport, headers=headers, timeout=timeout, follow_redirects=False
        )
        # Each request is built from these, skipping the client's per-request merging.
        self._url = httpx.URL(self._base + self._path)
        self._headers = self._client.headers
        self._extensions = {"timeout": timeout.as_dict()}
        if self._direct is not None and concurrency > 1:
            # A worker (the parent's check runs with 1): connections opened before the first
            # send, so the start of a benchmark is not late by a handshake per connection.
            probe = httpx.Request("POST", self._url, extensions=self._extensions)
            await self._direct.warm(probe, min(limit, _WARM_CONNECTIONS))

    async def shutdown(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            await client.aclose()

    def _require_client(self) -> httpx.AsyncClient:
        if self._client is None:
            raise RuntimeError("OpenAIHTTPBackend.startup() was not called")
        return self._client

    # -- validation (parent, before any load) -----------------------------------------------------

    async def validate(self) -> None:
        """Health, auth and the model list before any load (:mod:`.openai_validate`)."""
        from guidellm.backends.openai_validate import check_server

        self.model = await check_server(
            self._require_client(),
            base=self._base,
            shown=self._shown,
            timeout=self._opts["timeout"],
            has_api_key=bool(self._api_key),
            model=self.model,
            scrub=self._scrub,
        )

    def _scrub(self, text: str) -> str:
        """Remove the credentials this process remembered (guidellm.redact) from a server's
        message in the pre-load check, whose errors leave as exceptions (the Python API too);
        a request's errors are redacted where its result leaves the worker."""
        return scrub(text)

    # -- requests ---------------------------------------------------------------------------------

    def _body(self, request: GenerationRequest) -> bytes:
        import orjson

        if self._pooling is not None:
            return self._pooling.body(request, self.model, self._opts["extra_body"])
        if self._audio is not None:
            return self._audio.body(request, self.model, self._opts["extra_body"])
        stream = self._opts["stream"]
        body: dict[str, Any] = {}
        if self.model is not None:
            body["model"] = self.model
        if self._anthropic:
            body = messages_body(request, self.model, stream)
        elif self._chat:
            if request.messages is not None:
                body["messages"] = request.messages
            elif request.prompt is not None:
                body["messages"] = [{"role": "user", "content": request.prompt}]
            else:
                raise RequestError(f"request {request.request_id} has no prompt or messages")
        elif request.prompt is not None:
            body["prompt"] = request.prompt
        elif request.messages is not None:
            body["prompt"] = join_contents(request.messages)
        else:
            raise RequestError(f"request {request.request_id} has no prompt or messages")
        if request.max_tokens is not None:
            body["max_tokens"] = request.max_tokens
        body["stream"] = stream
        if stream and not self._anthropic:
            body["stream_options"] = {"include_usage": True}
        if self._opts["extra_body"]:
            body.update(self._opts["extra_body"])
        if request.extra_body:
            body.update(request.extra_body)
        if request.session_id is not None and self._opts["session_user"]:
            body["user"] = request.session_id
        return orjson.dumps(body)

    async def resolve(self, request: GenerationRequest, recorder: ResponseRecorder) -> None:
        import httpx

        client = self._require_client()
        content = self._body(request)
        if self._pooling is not None:
            recorder.inputs = self._pooling.batch  # counted whatever the outcome
        opts = self._opts
        # Without streaming the whole answer is the first token: only that deadline applies.
        stall = opts["stall_timeout"] if opts["stream"] else None
        first = opts["first_token_timeout"]
        watchdog = None
        if first or stall:
            task = asyncio.current_task()
            watchdog = Watchdog(recorder, first, stall, task.cancel if task else _nothing)
        try:
            headers, extensions = self._headers, self._extensions
            session = request.session_id
            if session is not None:
                # A session's identity, for routers (a header) and for the transport (its
                # turns share a connection).
                header = opts["session_header"]
                if header:
                    headers = headers.copy()
                    headers[header] = session
                extensions = {**extensions, "affinity": session}
                if request.last_turn:
                    extensions["affinity_end"] = True
            req = httpx.Request(
                "POST", self._url, headers=headers, content=content, extensions=extensions
            )
            direct = self._direct
            if direct is not None:
                response = await direct.handle_async_request(req)
                sent = response.extensions["arrival_clock"]
                if sent.kept:
                    # Timed from when the bytes went to the kernel, not from before the body
                    # was built and a kept connection taken (a new connection's connect and
                    # handshake stay in the TTFT, as a user's first request has them).
                    recorder.request_start = sent.sent
            else:
                response = await client.send(req, stream=True)
            try:
                if response.status_code >= 300:  # redirects are not followed: say so
                    await self._raise_status(response)
                ctype = response.headers.get("content-type", "")
                streamed = opts["stream"] and "json" not in ctype
                if streamed:
                    await self._read_stream(response, recorder)
                else:
                    await self._read_json(response, recorder)
                # Everything is recorded: no deadline may fail the request from here on.
                if watchdog is not None:
                    watchdog.close()
                clock = response.extensions.get("arrival_clock")
                if clock is not None and streamed:
                    # Read to the end of the response: keep the connection. A whole body was
                    # read to its end, and its connection is back in the pool already.
                    await clock.finish()
            finally:
                await response.aclose()
        except asyncio.CancelledError:
            if watchdog is not None and watchdog.fired is not None:
                task = asyncio.current_task()
                if task is not None and hasattr(task, "uncancel"):
                    task.uncancel()
                raise self._deadline_error(watchdog.fired) from None
            raise
        except httpx.TimeoutException as exc:
            raise RequestTimeoutError(str(exc) or type(exc).__name__) from None
        except (httpx.ConnectError, httpx.ReadError, httpx.WriteError) as exc:
            raise ConnectError(str(exc) or type(exc).__name__) from None
        except httpx.RemoteProtocolError as exc:
            text = str(exc)
            if "closed" in text or "incomplete" in text:
                raise ConnectError(text) from None  # the peer went away mid-response
            raise BadResponseError(text) from None
        except httpx.HTTPError as exc:
            raise ConnectError(str(exc) or type(exc).__name__) from None
        finally:
            if watchdog is not None:
                watchdog.close()

    def _deadline_error(self, kind: str) -> RequestError:
        """The error of a deadline the watchdog saw pass."""
        if kind == FIRST_TOKEN:
            first = self._opts["first_token_timeout"]
            return FirstTokenTimeoutError(f"no token within {first:g} s of sending")
        return StallTimeoutError(f"no token for {self._opts['stall_timeout']:g} s mid-stream")

    async def _raise_status(self, response: httpx.Response) -> None:
        body = await response.aread()
        if response.status_code < 400:
            location = response.headers.get("location", "?")
            raise HTTPStatusError(response.status_code, f"redirect to {location}")
        message = server_message(body)
        retry_after = response.headers.get("retry-after")
        if retry_after:
            message += f" (Retry-After: {retry_after})"
        raise HTTPStatusError(response.status_code, message)

    def _reader(self) -> ChunkReader | MessagesReader:
        if self._chunks is None:
            raise RuntimeError("OpenAIHTTPBackend.startup() was not called")
        return self._chunks

    async def _read_json(self, response: httpx.Response, recorder: ResponseRecorder) -> None:
        """A whole (non-streamed) completion: one chunk, timed when the body has arrived."""
        from guidellm.request import now

        body = await response.aread()
        clock = response.extensions.get("arrival_clock")
        arrived = clock.arrived if clock is not None and clock.arrived else now()
        if self._pooling is not None:
            self._pooling.read(body, arrived, recorder)
        elif self._audio is not None:
            self._audio.read(body, arrived, recorder)
        else:
            self._reader().whole(body, arrived, recorder)

    async def _read_stream(self, response: httpx.Response, recorder: ResponseRecorder) -> None:
        """The hot loop: one timestamp and one JSON decode per network read, nothing per chunk
        but the recorder call (see :class:`~guidellm.backends.openai_chunks.ChunkReader`)."""
        from guidellm.request import now

        reader = self._reader()
        decoder = SSEDecoder()
        on_read = reader.on_read
        clock = response.extensions.get("arrival_clock")
        if clock is not None:  # our transport stamps each socket read as it happens
            async for data in response.aiter_raw():
                if on_read(data, clock.arrived, decoder, recorder):
                    return
        else:
            async for data in response.aiter_raw():
                if on_read(data, now(), decoder, recorder):
                    return
        pending = decoder.pending
        if reader.events(decoder.close(), now(), recorder):
            return
        raise BadResponseError(
            f"stream ended without {'message_stop' if self._anthropic else '[DONE]'}"
            + (f" ({pending} bytes of an unfinished event)" if pending else "")
        )


@hookimpl
def register_backends(register: Register[Backend]) -> None:
    register(OpenAIHTTPBackend)
