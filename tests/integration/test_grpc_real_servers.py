"""grpc_kserve against a real NVIDIA Triton (nvidia-pytriton, decoupled model) and a real
MLServer 1.7.1 (bare-response stream dialect). Both are started by the session fixtures of
guidellm.testing.grpc_servers; install them with scripts/test-servers/setup-grpc.sh."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import uvloop

from guidellm.backends.grpc_kserve import GRPCKServeBackend
from guidellm.errors import RequestError, UserError
from guidellm.request import GenerationRequest, RequestResult, ResponseRecorder, now

pytestmark = pytest.mark.realserver


@pytest.fixture(params=["h2", "grpc"])
def transport(request: pytest.FixtureRequest) -> str:
    """Both client transports: guidellm's lean HTTP/2 one and grpcio's."""
    return str(request.param)


async def _resolve_all(
    backend: GRPCKServeBackend, requests: list[GenerationRequest]
) -> list[tuple[RequestResult, RequestError | None]]:
    async def one(request: GenerationRequest) -> tuple[RequestResult, RequestError | None]:
        recorder = ResponseRecorder(request, now())
        recorder.start()
        try:
            await backend.resolve(request, recorder)
        except RequestError as exc:
            return recorder.finish("errored", keep_text=True), exc
        return recorder.finish("successful", keep_text=True), None

    return list(await asyncio.gather(*(one(r) for r in requests)))


def _run(
    target: str, model: str | None, requests: list[GenerationRequest], **options: Any
) -> tuple[GRPCKServeBackend, list[tuple[RequestResult, RequestError | None]]]:
    async def main() -> tuple[GRPCKServeBackend, list[tuple[RequestResult, RequestError | None]]]:
        backend = GRPCKServeBackend(target, model, **options)
        await backend.startup(len(requests) or 1)
        try:
            await backend.validate()
            return backend, await _resolve_all(backend, requests)
        finally:
            await backend.shutdown()

    return uvloop.run(main())


def _check_timings(result: RequestResult, n: int) -> None:
    assert result.first_token_time is not None and result.last_token_time is not None
    assert result.request_start < result.first_token_time <= result.last_token_time
    assert len(result.chunk_times) == n
    assert result.chunk_times == sorted(result.chunk_times)
    itl = (result.last_token_time - result.first_token_time) / (n - 1)
    assert itl > 0.0005  # the servers sleep 5 ms between tokens; the client sees the gaps


def test_triton_streams_one_response_per_token(triton_server: Any, transport: str) -> None:
    requests = [GenerationRequest(f"t{i}", prompt=f"hello {i}", max_tokens=12) for i in range(4)]
    backend, results = _run(
        triton_server.target, triton_server.model, requests, transport=transport
    )
    assert backend.dialect == "triton"  # from ServerMetadata
    assert backend.plan is not None and backend.plan["max_tokens_datatype"] == "INT32"
    expected = "".join(f" tok{i}" for i in range(12))
    for result, error in results:
        assert error is None
        assert result.content_chunks == 12
        assert result.output_text == expected
        assert result.output_tokens is None  # Triton sent no counts: the report counts chunks
        _check_timings(result, 12)


def test_triton_without_the_empty_final_response(triton_server: Any, transport: str) -> None:
    request = GenerationRequest("nf", prompt="x", max_tokens=5)
    _, [(result, error)] = _run(
        triton_server.target,
        triton_server.model,
        [request],
        empty_final_response=False,
        transport=transport,
    )
    assert error is None and result.content_chunks == 5


def test_triton_error_message_in_the_stream_is_a_server_error(
    triton_server: Any, transport: str
) -> None:
    request = GenerationRequest("bad", prompt="please FAIL", max_tokens=6)
    _, [(result, error)] = _run(
        triton_server.target, triton_server.model, [request], transport=transport
    )
    assert error is not None and error.category == "server_error"
    assert "injected failure" in str(error) and "\n" not in str(error)
    assert result.content_chunks == 2


def test_triton_unary_on_a_decoupled_model_is_unimplemented(
    triton_server: Any, transport: str
) -> None:
    request = GenerationRequest("u", prompt="x", max_tokens=3)
    _, [(_, error)] = _run(
        triton_server.target, triton_server.model, [request], stream=False, transport=transport
    )
    assert error is not None and error.category == "grpc_unimplemented"


def test_triton_unknown_model_is_a_user_error(triton_server: Any, transport: str) -> None:
    with pytest.raises(UserError) as info:
        _run(triton_server.target, "no_such_model", [], transport=transport)
    assert "no_such_model" in str(info.value) and "--model" in str(info.value)


def test_mlserver_bare_stream_dialect_and_usage(mlserver_server: Any, transport: str) -> None:
    requests = [GenerationRequest(f"m{i}", prompt="hi", max_tokens=10) for i in range(3)]
    backend, results = _run(mlserver_server.target, None, requests, transport=transport)
    assert backend.model == mlserver_server.model  # the only model in the repository index
    assert backend.dialect == "mlserver"
    expected = "".join(f" w{i}" for i in range(10))
    for result, error in results:
        assert error is None
        assert result.output_text == expected
        assert result.content_chunks == 10
        assert result.output_tokens == 10  # the server's completion_tokens output
        _check_timings(result, 10)


def test_mlserver_dialect_sniffed_when_not_announced(mlserver_server: Any, transport: str) -> None:
    backend = GRPCKServeBackend(mlserver_server.target, mlserver_server.model, transport=transport)
    request = GenerationRequest("s", prompt="x", max_tokens=4)

    async def main() -> list[tuple[RequestResult, RequestError | None]]:
        await backend.startup(1)
        try:
            # no validate(): discovery happens on first use and the dialect is read off the wire
            return await _resolve_all(backend, [request])
        finally:
            await backend.shutdown()

    [(result, error)] = uvloop.run(main())
    assert error is None and result.content_chunks == 4
    assert backend.dialect == "mlserver"


def test_mlserver_unary_and_errors(mlserver_server: Any, transport: str) -> None:
    requests = [GenerationRequest("u", prompt="x", max_tokens=6)]
    _, [(result, error)] = _run(
        mlserver_server.target, mlserver_server.model, requests, stream=False, transport=transport
    )
    assert error is None
    assert result.content_chunks == 1 and result.output_tokens == 6
    assert result.output_text == "".join(f" w{i}" for i in range(6))
    bad = [GenerationRequest("e", prompt="FAIL now", max_tokens=6)]
    _, [(result, error)] = _run(
        mlserver_server.target, mlserver_server.model, bad, transport=transport
    )
    assert error is not None and error.category.startswith("grpc_")
    assert "injected failure" in str(error)
    assert result.content_chunks == 2


def test_triton_vllm_backend_signature_from_metadata(triton_server: Any, transport: str) -> None:
    request = GenerationRequest("v", prompt="x", max_tokens=7)
    backend, [(result, error)] = _run(
        triton_server.target, "vllm_like", [request], transport=transport
    )
    assert backend.plan is not None
    assert backend.plan["sampling_input"] == "sampling_parameters"
    assert backend.plan["stream_input"] == "stream"
    assert backend.plan["max_tokens_input"] == ""
    assert error is None
    assert result.content_chunks == 7  # max_tokens went in the sampling_parameters JSON
    assert result.output_text == "".join(f" v{i}" for i in range(7))
