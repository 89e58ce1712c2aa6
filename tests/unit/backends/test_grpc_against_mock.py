"""grpc_kserve against the gRPC mock server over real loopback sockets: both dialects, unary,
validation errors, every fault category and the deadlines."""

from __future__ import annotations

import asyncio
import collections
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvloop

from guidellm.backends.grpc_kserve import GRPCKServeBackend
from guidellm.errors import RequestError, UserError
from guidellm.mock_server.behavior import MockServerConfig, plan_request
from guidellm.mock_server.grpc_server import GRPCMockServer
from guidellm.request import GenerationRequest, RequestResult, ResponseRecorder, now
from guidellm.testing.process import free_port

FAST = {"ttft_ms": 20.0, "itl_ms": 2.0}


@pytest.fixture(params=["h2", "grpc"])
def transport(request: pytest.FixtureRequest) -> str:
    """Both client transports: guidellm's lean HTTP/2 one and grpcio's."""
    return str(request.param)


@pytest.fixture(scope="module", params=["triton", "mlserver"])
def mock(request: pytest.FixtureRequest) -> Iterator[GRPCMockServer]:
    server = GRPCMockServer(MockServerConfig(**FAST), dialect=request.param)
    server.start_thread()
    try:
        yield server
    finally:
        server.stop()


def _start(config: MockServerConfig, dialect: str = "triton") -> GRPCMockServer:
    server = GRPCMockServer(config, dialect=dialect)
    server.start_thread()
    return server


async def _run(
    target: str, requests: list[GenerationRequest], model: str | None = None, **options: Any
) -> tuple[GRPCKServeBackend, list[tuple[RequestResult, RequestError | None]]]:
    backend = GRPCKServeBackend(target, model, **options)
    await backend.startup(1)
    try:
        await backend.validate()
        out = []
        for request in requests:
            recorder = ResponseRecorder(request, now())
            recorder.start()
            error: RequestError | None = None
            try:
                await backend.resolve(request, recorder)
            except RequestError as exc:
                error = exc
            out.append((recorder.finish("x", keep_text=True), error))
        return backend, out
    finally:
        await backend.shutdown()


def test_stream_one_chunk_per_token_with_the_servers_text(
    mock: GRPCMockServer, transport: str
) -> None:
    assert mock.target is not None
    first = mock.requests
    requests = [GenerationRequest(f"r{i}", prompt="a b c", max_tokens=8) for i in range(3)]
    backend, results = uvloop.run(_run(mock.target, requests, transport=transport))
    assert backend.model == "mock-model"  # discovered through RepositoryIndex
    assert backend.dialect == mock.dialect  # sniffed from the first stream message
    config = MockServerConfig(**FAST)
    for i, (result, error) in enumerate(results):
        assert error is None
        expected = plan_request(config, first + i, 8)
        assert result.content_chunks == 8
        assert result.output_text == "".join(expected.tokens)
        assert result.first_token_time is not None and result.last_token_time is not None
        assert result.first_token_time - result.request_start >= 0.019
        assert len(result.chunk_times) == 8
        assert result.chunk_times == sorted(result.chunk_times)
        # usage: MLServer-style servers send a running completion_tokens count; Triton none
        assert result.output_tokens == (8 if mock.dialect == "mlserver" else None)


def test_unary_is_one_chunk_with_the_whole_text(mock: GRPCMockServer, transport: str) -> None:
    assert mock.target is not None
    request = GenerationRequest("u", prompt="x", max_tokens=5)
    _, [(result, error)] = uvloop.run(
        _run(mock.target, [request], "mock-model", stream=False, transport=transport)
    )
    assert error is None
    assert result.content_chunks == 1
    assert len(result.output_text.split()) == 5  # type: ignore[union-attr]
    assert result.first_token_time is not None
    assert result.first_token_time - result.request_start >= 0.019 + 4 * 0.002


def test_forced_dialect_and_tensor_overrides(mock: GRPCMockServer, transport: str) -> None:
    assert mock.target is not None
    request = GenerationRequest("f", prompt="x", max_tokens=3)
    backend, [(result, error)] = uvloop.run(
        _run(
            mock.target,
            [request],
            dialect=mock.dialect,
            max_tokens_datatype="INT64",
            transport=transport,
        )
    )
    assert error is None and result.content_chunks == 3
    assert backend.plan is not None and backend.plan["max_tokens_datatype"] == "INT64"


def test_validation_errors_are_one_line_user_errors(mock: GRPCMockServer, transport: str) -> None:
    assert mock.target is not None
    with pytest.raises(UserError) as info:
        uvloop.run(_run(mock.target, [], "nope", transport=transport))
    assert "'nope'" in str(info.value) and "mock-model" in str(info.value)
    assert "\n" not in str(info.value)
    with pytest.raises(UserError) as info:
        uvloop.run(_run(mock.target, [], None, text_input="prompt_ids", transport=transport))
    assert "prompt_ids" in str(info.value) and "text_input" in str(info.value)
    with pytest.raises(UserError) as info:
        uvloop.run(_run(f"grpc://127.0.0.1:{free_port()}", [], "m", transport=transport))
    assert "Cannot reach" in str(info.value) and "--target" in str(info.value)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("dialect", "fault", "category"),
    [
        ("triton", "error_500", "server_error"),
        ("mlserver", "error_500", "grpc_internal"),
        ("triton", "error_429", "grpc_resource_exhausted"),
        ("triton", "reset", "connection"),
        ("mlserver", "reset", "connection"),
        ("triton", "malformed", "protocol"),
        ("mlserver", "stall", "stall"),
    ],
)
def test_faults_become_categorised_errors(
    dialect: str, fault: str, category: str, transport: str
) -> None:
    server = _start(MockServerConfig(**FAST, **{f"{fault}_rate": 1.0}), dialect)  # type: ignore[arg-type]
    try:
        assert server.target is not None
        request = GenerationRequest("e", prompt="x", max_tokens=6)
        _, [(result, error)] = uvloop.run(
            _run(server.target, [request], dialect=dialect, stall_timeout=0.3, transport=transport)
        )
    finally:
        server.stop()
    assert error is not None
    assert error.category == category, str(error)
    if fault in ("reset", "stall", "malformed"):
        assert result.content_chunks == 3  # the fault strikes half-way


def test_no_final_response_still_counts_every_token(transport: str) -> None:
    server = _start(MockServerConfig(**FAST, no_done_rate=1.0))
    try:
        assert server.target is not None
        request = GenerationRequest("n", prompt="x", max_tokens=4)
        _, [(result, error)] = uvloop.run(_run(server.target, [request], transport=transport))
    finally:
        server.stop()
    assert error is None and result.content_chunks == 4


def test_first_token_and_call_deadlines(transport: str) -> None:
    server = _start(MockServerConfig(ttft_ms=600.0, itl_ms=1.0))
    try:
        assert server.target is not None
        request = GenerationRequest("d", prompt="x", max_tokens=2)
        _, [(_, first)] = uvloop.run(
            _run(server.target, [request], first_token_timeout=0.1, transport=transport)
        )
        _, [(_, whole)] = uvloop.run(
            _run(server.target, [request], timeout=0.1, transport=transport)
        )
        _, [(_, unary)] = uvloop.run(
            _run(server.target, [request], stream=False, first_token_timeout=0.1,
                 transport=transport)
        )  # fmt: skip
    finally:
        server.stop()
    assert first is not None and first.category == "first_token_deadline"
    assert whole is not None and whole.category == "timeout"
    assert unary is not None and unary.category == "first_token_deadline"


def test_stall_deadline_does_not_bound_the_first_token(transport: str) -> None:
    # A stall is a gap between tokens (like openai_http): a long prefill is not one.
    server = _start(MockServerConfig(ttft_ms=600.0, itl_ms=1.0))
    try:
        assert server.target is not None
        request = GenerationRequest("s", prompt="x", max_tokens=2)
        _, [(result, error)] = uvloop.run(
            _run(server.target, [request], stall_timeout=0.2, transport=transport)
        )
    finally:
        server.stop()
    assert error is None, error
    assert result.content_chunks == 2
    assert result.first_token_time is not None
    assert result.first_token_time - result.request_start >= 0.55


def test_concurrent_streams_share_few_channels(transport: str) -> None:
    server = _start(MockServerConfig(ttft_ms=5.0, itl_ms=1.0))

    async def main(target: str) -> collections.Counter[int]:
        backend = GRPCKServeBackend(target, "mock-model", transport=transport)
        await backend.startup(150)
        assert len(backend._channels) == 2
        counts: collections.Counter[int] = collections.Counter()

        async def one(i: int) -> None:
            request = GenerationRequest(f"c{i}", prompt="x", max_tokens=5)
            recorder = ResponseRecorder(request, now())
            recorder.start()
            await backend.resolve(request, recorder)
            counts[recorder.content_chunks] += 1

        try:
            await asyncio.gather(*(one(i) for i in range(150)))
        finally:
            await backend.shutdown()
        return counts

    try:
        assert server.target is not None
        counts = uvloop.run(main(server.target))
    finally:
        server.stop()
    assert counts == {5: 150}


def test_a_prompt_larger_than_the_flow_control_window(transport: str) -> None:
    server = _start(MockServerConfig(**FAST))
    try:
        assert server.target is not None
        prompt = "word " * 100_000  # 500 kB: needs WINDOW_UPDATEs from the server
        request = GenerationRequest("big", prompt=prompt, max_tokens=4)
        _, [(result, error)] = uvloop.run(_run(server.target, [request], transport=transport))
    finally:
        server.stop()
    assert error is None and result.content_chunks == 4


def test_a_cancelled_request_leaves_the_connection_usable(transport: str) -> None:
    server = _start(MockServerConfig(ttft_ms=5.0, itl_ms=20.0))

    async def main(target: str) -> tuple[int, int]:
        backend = GRPCKServeBackend(target, "mock-model", transport=transport)
        await backend.startup(1)
        await backend.validate()
        try:
            request = GenerationRequest("c", prompt="x", max_tokens=50)
            recorder = ResponseRecorder(request, now())
            recorder.start()
            task = asyncio.ensure_future(backend.resolve(request, recorder))
            await asyncio.sleep(0.1)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            partial = recorder.content_chunks
            again = GenerationRequest("d", prompt="x", max_tokens=3)
            recorder = ResponseRecorder(again, now())
            recorder.start()
            await backend.resolve(again, recorder)
            return partial, recorder.content_chunks
        finally:
            await backend.shutdown()

    try:
        assert server.target is not None
        partial, after = uvloop.run(main(server.target))
    finally:
        server.stop()
    assert 0 < partial < 50
    assert after == 3


def test_grpcs_with_a_private_ca(tmp_path: Path, transport: str) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-keyout", str(key), "-out", str(cert), "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    server = GRPCMockServer(
        MockServerConfig(**FAST), host="localhost", tls=(cert.read_bytes(), key.read_bytes())
    )
    server.start_thread()
    try:
        assert server.target is not None and server.target.startswith("grpcs://localhost:")
        request = GenerationRequest("tls", prompt="x", max_tokens=3)
        _, [(result, error)] = uvloop.run(
            _run(server.target, [request], ca_cert=str(cert), transport=transport)
        )
        # without the CA the certificate is not trusted: a clear error before any load
        with pytest.raises(UserError) as info:
            uvloop.run(_run(server.target, [request], transport=transport))
    finally:
        server.stop()
    assert error is None and result.content_chunks == 3
    assert "Cannot reach" in str(info.value)
