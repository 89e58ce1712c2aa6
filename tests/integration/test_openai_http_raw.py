"""openai_http and its lean transport against a tiny raw-socket server that can misbehave.

Each test scripts the exact bytes (and pauses, resets, closes) the server sends, so split
events, comments, missing ``[DONE]``, resets, error bodies and stalls are reproduced exactly.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import struct
import subprocess
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import uvloop

from guidellm.backends.http_transport import LeanHTTPTransport
from guidellm.backends.openai_http import OpenAIHTTPBackend
from guidellm.errors import RequestError, UserError
from guidellm.request import GenerationRequest, ResponseRecorder, now

#: A step of a scripted answer: bytes to send, seconds to wait, or one of these actions.
RESET, CLOSE, HANG = "reset", "close", "hang"
Step = bytes | float | str
Script = Callable[[int, bytes], list[Step]]


class RawServer:
    """An asyncio server that answers request ``i`` (counted over all connections) with
    ``script(i, request_bytes)``; connections stay open between requests (keep-alive)."""

    def __init__(self, script: Script, ssl_context: ssl.SSLContext | None = None) -> None:
        self.script = script
        self.ssl_context = ssl_context
        self.requests: list[bytes] = []
        self.connections = 0
        self.server: asyncio.Server | None = None

    async def __aenter__(self) -> str:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0, ssl=self.ssl_context)
        port = self.server.sockets[0].getsockname()[1]
        return f"{'https' if self.ssl_context else 'http'}://127.0.0.1:{port}"

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()
        if hasattr(self.server, "close_clients"):
            self.server.close_clients()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                request = head + await reader.readexactly(length)
                index = len(self.requests)
                self.requests.append(request)
                for step in self.script(index, request):
                    if isinstance(step, bytes):
                        writer.write(step)
                        await writer.drain()
                    elif isinstance(step, float):
                        await asyncio.sleep(step)
                    elif step == RESET:
                        sock = writer.get_extra_info("socket")
                        sock.setsockopt(
                            socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                        )
                        writer.transport.abort()
                        return
                    elif step == CLOSE:
                        writer.close()
                        return
                    elif step == HANG:
                        await asyncio.sleep(3600)
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()


def sse_head(chunked: bool = True) -> bytes:
    framing = b"Transfer-Encoding: chunked\r\n" if chunked else b"Connection: close\r\n"
    return b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n" + framing + b"\r\n"


def chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


END = b"0\r\n\r\n"


def event(obj: Any) -> bytes:
    return b"data: " + orjson.dumps(obj) + b"\n\n"


def delta(text: str, key: str = "content") -> bytes:
    return event({"id": "c", "choices": [{"index": 0, "delta": {key: text}}]})


USAGE = event({"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 4}})
DONE = b"data: [DONE]\n\n"


def response(
    status: int, body: bytes, ctype: bytes = b"application/json", extra: bytes = b""
) -> bytes:
    return b"HTTP/1.1 %d X\r\nContent-Type: %s\r\nContent-Length: %d\r\n%s\r\n%s" % (
        status,
        ctype,
        len(body),
        extra,
        body,
    )


def run(coro: Awaitable[Any]) -> Any:
    async def main() -> Any:
        return await asyncio.wait_for(coro, 30)

    return uvloop.run(main())


async def resolve(
    url: str, script_server: RawServer | None = None, **options: Any
) -> tuple[ResponseRecorder, RequestError | None]:
    backend = OpenAIHTTPBackend(url, "m", **options)
    await backend.startup(4)
    request = GenerationRequest("r", prompt="hi", max_tokens=4)
    recorder = ResponseRecorder(request, now())
    recorder.start()
    error: RequestError | None = None
    try:
        await backend.resolve(request, recorder)
    except RequestError as exc:
        error = exc
    await backend.shutdown()
    return recorder, error


def scripted(*steps: Step) -> Script:
    return lambda _i, _req: list(steps)


def test_events_split_across_reads_and_several_per_read() -> None:
    body = delta("a") + delta("b") + delta("c") + delta("d") + USAGE + DONE
    # one chunk carries three events, the next splits an event in the middle of its JSON
    script = scripted(
        sse_head(), chunk(body[:40]), 0.02, chunk(body[40:150]), 0.02, chunk(body[150:]), END
    )

    async def go() -> tuple[ResponseRecorder, RequestError | None]:
        async with RawServer(script) as url:
            return await resolve(url)

    recorder, error = run(go())
    assert error is None
    assert recorder.text == "abcd"
    assert recorder.content_chunks == 4
    assert recorder.output_tokens == 4 and recorder.prompt_tokens == 3
    # events are 66 bytes: a and b complete in the second read, c and d in the third; each
    # chunk carries the time its read arrived, not the time it was parsed
    a, b, c, d = recorder.chunk_times
    assert a == b < c == d
    assert c - b >= 0.015


def test_comments_keep_alives_crlf_and_reasoning() -> None:
    body = (
        b": keep-alive\r\n\r\n"
        + delta("think", "reasoning_content")
        + b": ping\n\n"
        + delta("more", "reasoning")
        + delta("", "content")
        + delta("answer")
        + USAGE
        + DONE
    )
    script = scripted(sse_head(), chunk(body), END)

    async def go() -> tuple[ResponseRecorder, RequestError | None]:
        async with RawServer(script) as url:
            return await resolve(url)

    recorder, error = run(go())
    assert error is None
    assert recorder.reasoning_chunks == 2 and recorder.content_chunks == 1
    assert recorder.text == "answer"
    assert recorder.first_token_time == recorder.chunk_times[0]


def test_text_completions_and_a_body_delimited_by_close() -> None:
    text = b"".join(event({"choices": [{"index": 0, "text": t}]}) for t in ("x", "y")) + DONE
    script = scripted(sse_head(chunked=False), text, CLOSE)

    async def go() -> tuple[ResponseRecorder, RequestError | None]:
        async with RawServer(script) as url:
            return await resolve(url, request_format="text_completions")

    recorder, error = run(go())
    assert error is None
    assert recorder.text == "xy"


@pytest.mark.parametrize(
    ("steps", "category", "fragment"),
    [
        ((sse_head(), chunk(delta("a")), END), "protocol", "without [DONE]"),
        ((sse_head(), chunk(delta("a")), 0.05, RESET), "connection", "mid-response"),
        ((RESET,), "connection", "before a response"),
        ((sse_head(), chunk(b"data: {not json\n\n"), END), "protocol", "malformed JSON"),
        (
            (sse_head(), chunk(event({"error": {"message": "out of KV cache"}})), END),
            "server_error",
            "out of KV cache",
        ),
        (
            (sse_head(), chunk(b'event: error\ndata: {"message": "bad things"}\n\n'), END),
            "server_error",
            "bad things",
        ),
        (
            (response(500, b'{"error": {"message": "engine died", "code": 500}}'),),
            "http_5xx",
            "engine died",
        ),
        (
            (response(429, b'{"detail": "slow down"}', extra=b"Retry-After: 3\r\n"),),
            "http_429",
            "Retry-After: 3",
        ),
        ((response(400, b"max_tokens too large", b"text/plain"),), "http_4xx", "max_tokens"),
        ((b"NOT HTTP AT ALL\r\n\r\n",), "protocol", "malformed HTTP"),
        ((response(307, b"", extra=b"Location: /v2/x\r\n"),), "http_3xx", "redirect to /v2/x"),
    ],
)
def test_faults_end_in_their_error_category(
    steps: tuple[Step, ...], category: str, fragment: str
) -> None:
    async def go() -> tuple[ResponseRecorder, RequestError | None]:
        async with RawServer(scripted(*steps)) as url:
            return await resolve(url)

    _, error = run(go())
    assert error is not None
    assert error.category == category, error
    assert fragment in str(error)


def test_stall_and_first_token_deadlines() -> None:
    stall = scripted(sse_head(), chunk(delta("a")), HANG)
    silent = scripted(sse_head(), HANG)

    async def go() -> list[tuple[str | None, float]]:
        out = []
        for script, options in (
            (stall, {"stall_timeout": 0.3}),
            (silent, {"first_token_timeout": 0.3}),
            (silent, {"stall_timeout": None, "timeout": 0.3}),
        ):
            async with RawServer(script) as url:
                start = now()
                _, error = await resolve(url, **options)
                out.append((error.category if error else None, now() - start))
        return out

    results = run(go())
    assert [c for c, _ in results] == ["stall", "first_token_deadline", "timeout"]
    assert all(0.25 < elapsed < 3 for _, elapsed in results), results


def test_the_watchdog_does_not_swallow_an_outside_cancel() -> None:
    async def go() -> bool:
        async with RawServer(scripted(sse_head(), chunk(delta("a")), HANG)) as url:
            task = asyncio.ensure_future(resolve(url, stall_timeout=5))
            await asyncio.sleep(0.2)
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                return True
            return False

    assert run(go())


def test_non_streaming_json_and_a_json_answer_to_a_stream_request() -> None:
    body = orjson.dumps(
        {
            "choices": [{"message": {"content": "whole", "reasoning_content": "why"}}],
            "usage": {"prompt_tokens": 2, "completion_tokens": 9},
        }
    )

    async def go() -> list[ResponseRecorder]:
        out = []
        async with RawServer(lambda _i, _r: [response(200, body)]) as url:
            for stream in (False, True):
                recorder, error = await resolve(url, stream=stream)
                assert error is None
                out.append(recorder)
        return out

    for recorder in run(go()):
        assert recorder.text == "whole"
        assert recorder.reasoning_chunks == 1 and recorder.output_tokens == 9


# -- the transport ---------------------------------------------------------------------------


def test_transport_reuses_connections_and_retries_one_closed_while_idle() -> None:
    def script(i: int, _req: bytes) -> list[Step]:
        answer = response(200, b'{"n": %d}' % i)
        return [answer, CLOSE] if i == 1 else [answer]

    server = RawServer(script)

    async def wrapped() -> tuple[list[int], int]:
        async with server as url:
            transport = LeanHTTPTransport(max_connections=1)
            async with httpx.AsyncClient(transport=transport) as client:
                seen = []
                for _ in range(4):
                    r = await client.post(url + "/x", content=b"{}")
                    seen.append(r.json()["n"])
                    await asyncio.sleep(0.05)
                return seen, server.connections

    seen, connections = run(wrapped())
    assert seen == [0, 1, 2, 3]
    assert connections == 2  # the second connection only after the server closed the first


def test_transport_pool_limits_connections_and_queues() -> None:
    server = RawServer(scripted(0.05, response(200, b"{}")))

    async def go() -> int:
        async with server as url:
            transport = LeanHTTPTransport(max_connections=3)
            async with httpx.AsyncClient(transport=transport) as client:
                results = await asyncio.gather(*(client.get(url) for _ in range(9)))
                assert all(r.status_code == 200 for r in results)
                return server.connections

    assert run(go()) == 3


def test_transport_streams_chunks_as_they_arrive() -> None:
    server = RawServer(scripted(sse_head(), chunk(b"one"), 0.2, chunk(b"two"), END))

    async def go() -> list[tuple[bytes, float]]:
        async with (
            server as url,
            httpx.AsyncClient(transport=LeanHTTPTransport()) as client,
            client.stream("GET", url) as r,
        ):
            return [(data, now()) async for data in r.aiter_raw()]

    parts = run(go())
    assert [p for p, _ in parts] == [b"one", b"two"]
    assert parts[1][1] - parts[0][1] >= 0.15


# -- validate() --------------------------------------------------------------------------------


def _models(*ids: str) -> bytes:
    return response(200, orjson.dumps({"object": "list", "data": [{"id": i} for i in ids]}))


def _validate(url: str, model: str | None = None, **options: Any) -> str | UserError:
    async def go() -> str | UserError:
        backend = OpenAIHTTPBackend(url, model, **options)
        await backend.startup(1)
        try:
            await backend.validate()
        except UserError as exc:
            return exc
        finally:
            await backend.shutdown()
        assert backend.model is not None
        return backend.model

    return run(go())  # type: ignore[no-any-return]


def _routes(routes: dict[bytes, bytes]) -> Script:
    def script(_i: int, request: bytes) -> list[Step]:
        path = request.split(b" ")[1]
        return [routes.get(path, response(404, b'{"detail":"Not Found"}'))]

    return script


def test_validate_discovers_the_model_and_checks_a_given_one() -> None:
    async def go() -> list[str | UserError]:
        async with RawServer(
            _routes({b"/health": response(200, b"ok"), b"/v1/models": _models("a", "b")})
        ) as url:
            return [
                await asyncio.to_thread(_validate, url + "/v1"),
                await asyncio.to_thread(_validate, url, "b"),
                await asyncio.to_thread(_validate, url, "zz"),
            ]

    found, given, unknown = run(go())
    assert found == "a" and given == "b"
    assert isinstance(unknown, UserError)
    assert "'zz'" in str(unknown) and "a, b" in str(unknown) and "--model" in str(unknown)


def test_validate_names_a_redirect() -> None:
    moved = response(301, b"", extra=b"Location: https://elsewhere/health\r\n")

    async def go() -> str | UserError:
        async with RawServer(_routes({b"/health": moved})) as url:
            return await asyncio.to_thread(_validate, url)

    error = run(go())
    assert isinstance(error, UserError)
    assert "301" in str(error) and "https://elsewhere/health" in str(error)


def test_validate_without_health_or_models_endpoint() -> None:
    async def go() -> list[str | UserError]:
        async with RawServer(_routes({})) as url:
            return [
                await asyncio.to_thread(_validate, url, "given"),
                await asyncio.to_thread(_validate, url),
            ]

    given, missing = run(go())
    assert given == "given"
    assert isinstance(missing, UserError) and "--model" in str(missing)


def test_validate_bad_key_and_not_ready(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GUIDELLM_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    secret = "sk-very-secret-42"
    denied = response(401, b'{"error":{"message":"Invalid key sk-very-secret-42"}}')

    async def go() -> list[str | UserError]:
        async with RawServer(
            _routes({b"/health": response(200, b"ok"), b"/v1/models": denied})
        ) as url:
            wrong = await asyncio.to_thread(_validate, url, None, api_key=secret)
            missing = await asyncio.to_thread(_validate, url)
        async with RawServer(
            _routes({b"/health": response(503, b'{"error":{"message":"Loading model"}}')})
        ) as url:
            loading = await asyncio.to_thread(_validate, url)
        return [wrong, missing, loading]

    wrong, missing, loading = run(go())
    assert isinstance(wrong, UserError) and "401" in str(wrong) and "api_key" in str(wrong)
    assert secret not in str(wrong) and "is wrong" in str(wrong)
    assert isinstance(missing, UserError) and "is missing" in str(missing)
    assert isinstance(loading, UserError) and "Loading model" in str(loading)
    assert "not ready" in str(loading)


def test_a_secret_header_echoed_by_the_server_is_scrubbed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("GUIDELLM_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    denied = response(401, b'{"error":{"message":"Invalid token sk-hdr-77 for X-Api-Token hx-9"}}')

    async def go() -> str | UserError:
        async with RawServer(
            _routes({b"/health": response(200, b"ok"), b"/v1/models": denied})
        ) as url:
            headers = {"Authorization": "Bearer sk-hdr-77", "X-Api-Token": "hx-9"}
            return await asyncio.to_thread(_validate, url, None, headers=headers)

    error = run(go())
    assert isinstance(error, UserError) and "401" in str(error) and "Invalid token" in str(error)
    assert "sk-hdr-77" not in str(error) and "hx-9" not in str(error)


@pytest.mark.parametrize("transport", ["lean", "httpx"])
def test_validate_connection_refused_is_one_line(transport: str) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    error = _validate(f"http://127.0.0.1:{port}", transport=transport)
    assert isinstance(error, UserError)
    assert "connection refused" in str(error) and "--target" in str(error)
    assert "\n" not in str(error)


def _self_signed(tmp: Path) -> tuple[ssl.SSLContext, Path]:
    cert, key = tmp / "cert.pem", tmp / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )  # fmt: skip
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    return ctx, cert


def test_tls_failure_is_explained_and_verify_false_skips_it(tmp_path: Path) -> None:
    routes = _routes({b"/health": response(200, b"ok"), b"/v1/models": _models("tls-model")})
    context, cert = _self_signed(tmp_path)
    server = RawServer(routes, ssl_context=context)

    async def go() -> list[str | UserError | Any]:
        async with server as url:
            checked = await asyncio.to_thread(_validate, url)
            unchecked = await asyncio.to_thread(_validate, url, None, verify=False)
            bundle = await asyncio.to_thread(_validate, url, None, verify=str(cert))
            assert bundle == "tls-model", bundle
            stream = scripted(sse_head(), chunk(delta("t") + DONE), END)
            server.script = stream
            recorder, error = await resolve(url, verify=False)
            return [checked, unchecked, (recorder.text, error)]

    checked, unchecked, streamed = run(go())
    assert isinstance(checked, UserError)
    assert "TLS" in str(checked) and "verify=false" in str(checked)
    assert unchecked == "tls-model"
    assert streamed == ("t", None)


def test_transport_sends_a_streamed_request_body_with_a_length() -> None:
    server = RawServer(scripted(response(200, b"{}")))

    async def parts() -> Any:
        yield b'{"a":'
        yield b"1}"

    async def go() -> bytes:
        async with server as url, httpx.AsyncClient(transport=LeanHTTPTransport()) as client:
            r = await client.post(url + "/p", content=parts())
            assert r.status_code == 200
            return server.requests[0]

    request = run(go())
    assert request.endswith(b'\r\n\r\n{"a":1}')
    assert b"content-length: 7" in request.lower() and b"chunked" not in request.lower()


@pytest.mark.parametrize(("options", "expected"), [({}, 4), ({"max_connections": 2}, 2)])
def test_backend_keeps_one_connection_per_stream(options: dict[str, Any], expected: int) -> None:
    server = RawServer(scripted(0.01, sse_head(), chunk(delta("x") + USAGE + DONE), END))

    async def go() -> int:
        async with server as url:
            backend = OpenAIHTTPBackend(url, "m", **options)
            await backend.startup(4)

            async def lane() -> None:
                for i in range(5):
                    request = GenerationRequest(f"r{i}", prompt="p")
                    recorder = ResponseRecorder(request, now())
                    recorder.start()
                    await backend.resolve(request, recorder)
                    assert recorder.text == "x"

            await asyncio.gather(*(lane() for _ in range(4)))
            await backend.shutdown()
            assert len(server.requests) == 20
            return server.connections

    assert run(go()) == expected


def test_connection_kept_when_the_body_ends_after_done() -> None:
    """uvicorn and llama.cpp send the chunked terminator in a later write than [DONE]."""
    late_end = RawServer(scripted(sse_head(), chunk(delta("x") + DONE), 0.02, END))
    never_ends = RawServer(scripted(sse_head(), chunk(delta("x") + DONE), HANG))

    async def go(server: RawServer) -> tuple[int, float]:
        async with server as url:
            backend = OpenAIHTTPBackend(url, "m")
            await backend.startup(1)
            start = now()
            for i in range(3):
                request = GenerationRequest(f"r{i}", prompt="p")
                recorder = ResponseRecorder(request, now())
                recorder.start()
                await backend.resolve(request, recorder)
                assert recorder.text == "x"
            elapsed = now() - start
            await backend.shutdown()
            return server.connections, elapsed

    connections, _ = run(go(late_end))
    assert connections == 1
    connections, elapsed = run(go(never_ends))
    assert connections == 3  # given up after a short wait, never an error
    assert elapsed < 3


def test_pool_passes_a_slot_on_when_the_woken_waiter_is_cancelled() -> None:
    server = RawServer(scripted(0.1, response(200, b"{}")))

    async def go() -> int:
        async with server as url:
            transport = LeanHTTPTransport(max_connections=1)
            async with httpx.AsyncClient(transport=transport) as client:
                later: list[asyncio.Task[httpx.Response]] = []

                async def first() -> None:
                    await client.get(url)
                    # the slot was just handed to the second request, which has not run yet:
                    # cancel it now, so the hand-off must pass on to the third
                    later[0].cancel()

                a = asyncio.ensure_future(first())
                await asyncio.sleep(0.02)
                later.append(asyncio.ensure_future(client.get(url)))
                later.append(asyncio.ensure_future(client.get(url)))
                await asyncio.sleep(0.02)
                await a
                third = await asyncio.wait_for(later[1], 5)
                assert later[0].cancelled()
                return third.status_code

    assert run(go()) == 200


def test_connect_timeout_is_a_timeout() -> None:
    """A listening socket whose accept queue is full never completes a handshake (Linux)."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = listener.getsockname()[1]
        fillers = []
        for _ in range(4):  # fill the accept queue; later handshakes are dropped
            s = socket.socket()
            s.setblocking(False)
            s.connect_ex(("127.0.0.1", port))
            fillers.append(s)
        try:

            async def go() -> tuple[RequestError | None, float]:
                start = now()
                _, error = await resolve(f"http://127.0.0.1:{port}", connect_timeout=0.3)
                return error, now() - start

            error, elapsed = run(go())
        finally:
            for s in fillers:
                s.close()
    assert error is not None and error.category == "timeout", error
    assert "0.3" in str(error)
    assert elapsed < 3


def test_url_credentials_are_sent_but_never_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GUIDELLM_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    denied = response(401, b'{"error":{"message":"who are you"}}')
    server = RawServer(_routes({b"/health": response(200, b"ok"), b"/v1/models": denied}))

    async def go() -> str | UserError:
        async with server as url:
            with_user = url.replace("http://", "http://ann:s3cret-pw@")
            return await asyncio.to_thread(_validate, with_user)

    error = run(go())
    assert isinstance(error, UserError)
    assert "s3cret-pw" not in str(error) and "ann:***@" in str(error)
    assert b"authorization: basic " in server.requests[0].lower()


def test_no_deadline_fires_once_done_was_read() -> None:
    """After [DONE] the wait for the end of the HTTP message must not become a stall."""
    server = RawServer(scripted(sse_head(), chunk(delta("x") + DONE), HANG))

    async def go() -> tuple[ResponseRecorder, RequestError | None]:
        async with server as url:
            return await resolve(url, stall_timeout=0.1, first_token_timeout=0.2)

    recorder, error = run(go())
    assert error is None, error
    assert recorder.text == "x"


def test_a_worker_opens_its_first_connections_at_startup() -> None:
    """startup(N > 1) connects min(N, 8) times before any request, and the requests then
    reuse those connections; the parent's check (startup(1)) opens none."""
    ok = [sse_head(), chunk(delta("a")), chunk(USAGE), chunk(DONE), END]

    async def go() -> tuple[int, int, int, int]:
        server = RawServer(lambda _i, _r: list(ok))
        async with server as url:
            check = OpenAIHTTPBackend(url, "m")
            await check.startup(1)
            await asyncio.sleep(0.05)
            after_check = server.connections
            await check.shutdown()
            backend = OpenAIHTTPBackend(url, "m")
            await backend.startup(20)
            await asyncio.sleep(0.05)
            warmed = server.connections - after_check
            for i in range(3):
                request = GenerationRequest(f"r{i}", prompt="hi", max_tokens=4)
                recorder = ResponseRecorder(request, now())
                recorder.start()
                await backend.resolve(request, recorder)
            after_requests = server.connections - after_check
            await backend.shutdown()
            return after_check, warmed, after_requests, len(server.requests)

    assert run(go()) == (0, 8, 8, 3)
