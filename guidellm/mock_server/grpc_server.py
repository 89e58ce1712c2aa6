"""The mock server's gRPC mode: KServe v2 ``inference.GRPCInferenceService`` with streaming.

Same behaviour as the HTTP mock (:mod:`guidellm.mock_server.behavior`: seeded TTFT/ITL/length
draws, deterministic tokens, fault decisions), spoken as a Triton-like server:

* ``ModelStreamInfer`` sends one response per token, due ``ttft + k * itl`` after arrival
  (kept by the same timerfd :class:`~guidellm.mock_server.timers.DeadlineScheduler`), then an
  empty final response flagged ``triton_final_response`` when the request asked for it with
  ``triton_enable_empty_final_response``;
* ``dialect="triton"`` wraps responses in ``ModelStreamInferResponse`` and puts BYTES in
  ``raw_output_contents`` (as Triton does); ``dialect="mlserver"`` writes bare
  ``ModelInferResponse`` messages with typed ``bytes_contents`` and a running
  ``completion_tokens`` count (as MLServer does);
* ``ModelInfer`` answers the whole text once the last token is due.

The model takes ``text_input`` (BYTES), ``max_tokens`` (INT32) and ``ignore_eos`` (BOOL).
Faults: ``error_500`` -> an ``error_message`` in a Triton stream, else status INTERNAL;
``error_429`` -> RESOURCE_EXHAUSTED; ``reset`` -> status UNAVAILABLE half-way; ``malformed`` ->
one undecodable message half-way; ``stall`` -> silence half-way, stream kept open;
``no_done`` -> the stream ends without its final response.

Run it with ``guidellm mock-server --protocol grpc`` or :class:`GRPCMockServer`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import struct
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from guidellm.errors import UserError
from guidellm.mock_server.behavior import MockServerConfig, count_prompt_tokens, plan_request
from guidellm.mock_server.server import ServerRunner, stop_on_stdin_eof
from guidellm.mock_server.timers import DeadlineScheduler

__all__ = ["DIALECTS", "GRPCMockServer", "run_grpc_foreground", "serve_grpc"]

DIALECTS = ("triton", "mlserver")
_SERVICE = "inference.GRPCInferenceService"


def _wake(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


class MockGRPCState:
    """Per-server state: config, dialect, request counter and the deadline scheduler."""

    def __init__(self, config: MockServerConfig, dialect: str, scheduler: DeadlineScheduler):
        from guidellm.backends.grpc_proto import inference_pb2 as pb

        self.pb = pb
        self.config = config
        self.dialect = dialect
        self.scheduler = scheduler
        self.requests = 0

    async def until(self, deadline: float) -> None:
        """Sleep until ``deadline`` (``time.monotonic()``) with sub-millisecond precision."""
        if deadline <= time.monotonic():
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.scheduler.call_at(deadline, _wake, fut)
        await fut

    # -- request reading ---------------------------------------------------------------------

    def read_request(self, req: Any) -> tuple[str, int | None, bool, bool]:
        """(prompt, max_tokens, ignore_eos, wants empty final) from a ModelInferRequest."""
        prompt = ""
        max_tokens: int | None = None
        ignore_eos = True
        raw = req.raw_input_contents
        for i, t in enumerate(req.inputs):
            c = t.contents
            if t.name == "text_input":
                if c.bytes_contents:
                    prompt = c.bytes_contents[0].decode(errors="replace")
                elif i < len(raw) and len(raw[i]) >= 4:
                    (n,) = struct.unpack_from("<I", raw[i])
                    prompt = raw[i][4 : 4 + n].decode(errors="replace")
            elif t.name == "max_tokens":
                values = c.int_contents or c.uint_contents or c.int64_contents or c.uint64_contents
                if values and values[0] > 0:
                    max_tokens = int(values[0])
            elif t.name == "ignore_eos" and c.bool_contents:
                ignore_eos = bool(c.bool_contents[0])
        p = req.parameters
        key = "triton_enable_empty_final_response"
        final = key in p and p[key].bool_param
        return prompt, max_tokens, ignore_eos, final

    # -- response building -------------------------------------------------------------------

    def response(self, req_id: str, text: str, count: int, final: bool | None) -> bytes:
        """One serialized stream message (or unary answer body) in this server's dialect."""
        pb = self.pb
        resp = pb.ModelInferResponse(model_name=self.config.model, id=req_id)
        data = text.encode()
        if self.dialect == "triton":
            if text or final is None:
                resp.outputs.add(name="text_output", datatype="BYTES", shape=[1])
                resp.raw_output_contents.append(struct.pack("<I", len(data)) + data)
            if final is not None:
                resp.parameters["triton_final_response"].bool_param = final
            return bytes(pb.ModelStreamInferResponse(infer_response=resp).SerializeToString())
        out = resp.outputs.add(name="text_output", datatype="BYTES", shape=[1])
        out.contents.bytes_contents.append(data)
        n = resp.outputs.add(name="completion_tokens", datatype="INT32", shape=[1])
        n.contents.int_contents.append(count)
        return bytes(resp.SerializeToString())


def _metadata(state: MockGRPCState) -> Any:
    pb = state.pb
    t = pb.ModelMetadataResponse.TensorMetadata
    outputs = [t(name="text_output", datatype="BYTES", shape=[1])]
    if state.dialect == "mlserver":
        outputs.append(t(name="completion_tokens", datatype="INT32", shape=[1]))
    return pb.ModelMetadataResponse(
        name=state.config.model,
        versions=["1"],
        platform="guidellm-mock",
        inputs=[
            t(name="text_input", datatype="BYTES", shape=[1]),
            t(name="max_tokens", datatype="INT32", shape=[1]),
            t(name="ignore_eos", datatype="BOOL", shape=[1]),
        ],
        outputs=outputs,
    )


def _handlers(state: MockGRPCState) -> Any:
    """The generic RPC handler of the service (control plane typed, data plane raw bytes)."""
    import grpc

    pb = state.pb
    model = state.config.model

    async def server_live(_req: Any, _ctx: Any) -> Any:
        return pb.ServerLiveResponse(live=True)

    async def server_ready(_req: Any, _ctx: Any) -> Any:
        return pb.ServerReadyResponse(ready=True)

    async def server_metadata(_req: Any, _ctx: Any) -> Any:
        return pb.ServerMetadataResponse(name="guidellm-mock", version="1")

    async def model_ready(req: Any, _ctx: Any) -> Any:
        return pb.ModelReadyResponse(ready=req.name == model)

    async def model_metadata(req: Any, ctx: Any) -> Any:
        if req.name != model:
            await ctx.abort(grpc.StatusCode.NOT_FOUND, f"unknown model {req.name!r}")
        return _metadata(state)

    async def repository_index(_req: Any, _ctx: Any) -> Any:
        index = pb.RepositoryIndexResponse()
        index.models.add(name=model, version="1", state="READY")
        return index

    def plan(req: Any) -> tuple[Any, float, bool, int]:
        prompt, max_tokens, ignore_eos, final = state.read_request(req)
        index = state.requests
        state.requests += 1
        return (
            plan_request(state.config, index, max_tokens, ignore_eos),
            time.monotonic(),
            final,
            count_prompt_tokens({"prompt": prompt}),
        )

    async def model_infer(req: Any, ctx: Any) -> bytes:
        if req.model_name != model:
            await ctx.abort(grpc.StatusCode.NOT_FOUND, f"unknown model {req.model_name!r}")
        p, arrival, _, _ = plan(req)
        if p.fault == "error_429":
            await ctx.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, "mock: too many requests")
        if p.fault == "error_500":
            await ctx.abort(grpc.StatusCode.INTERNAL, "mock: injected server error")
        await state.until(arrival + p.duration_s)
        answer = pb.ModelInferResponse(model_name=model, id=req.id)
        out = answer.outputs.add(name="text_output", datatype="BYTES", shape=[1])
        out.contents.bytes_contents.append("".join(p.tokens).encode())
        return bytes(answer.SerializeToString())

    async def model_stream_infer(requests: AsyncIterator[Any], ctx: Any) -> AsyncIterator[bytes]:
        async for req in requests:
            if req.model_name != model:
                await ctx.abort(grpc.StatusCode.NOT_FOUND, f"unknown model {req.model_name!r}")
            p, arrival, final, _ = plan(req)
            if p.fault == "error_429":
                await ctx.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, "mock: too many requests")
            if p.fault == "error_500":
                if state.dialect == "triton":
                    error = pb.ModelStreamInferResponse(error_message="mock: injected server error")
                    yield bytes(error.SerializeToString())
                    continue
                await ctx.abort(grpc.StatusCode.INTERNAL, "mock: injected server error")
            for k, token in enumerate(p.tokens):
                if p.fault is not None and k == p.fault_at:
                    if p.fault == "reset":
                        await ctx.abort(grpc.StatusCode.UNAVAILABLE, "mock: connection reset")
                    if p.fault == "stall":
                        await asyncio.Event().wait()  # until the client gives up
                    if p.fault == "malformed":
                        yield b"\xff\xff\xff"  # not a protobuf message
                await state.until(arrival + p.due(k))
                yield state.response(req.id, token, k + 1, False if final else None)
            if final and p.fault != "no_done":
                yield state.response(req.id, "", p.total, True)

    def unary(fn: Callable[..., Any], req_type: Any, raw_response: bool = False) -> Any:
        return grpc.unary_unary_rpc_method_handler(
            fn,
            request_deserializer=req_type.FromString,
            response_serializer=None if raw_response else (lambda m: m.SerializeToString()),
        )

    return grpc.method_handlers_generic_handler(
        _SERVICE,
        {
            "ServerLive": unary(server_live, pb.ServerLiveRequest),
            "ServerReady": unary(server_ready, pb.ServerReadyRequest),
            "ServerMetadata": unary(server_metadata, pb.ServerMetadataRequest),
            "ModelReady": unary(model_ready, pb.ModelReadyRequest),
            "ModelMetadata": unary(model_metadata, pb.ModelMetadataRequest),
            "RepositoryIndex": unary(repository_index, pb.RepositoryIndexRequest),
            "ModelInfer": unary(model_infer, pb.ModelInferRequest, raw_response=True),
            "ModelStreamInfer": grpc.stream_stream_rpc_method_handler(
                model_stream_infer,
                request_deserializer=pb.ModelInferRequest.FromString,
                response_serializer=None,
            ),
        },
    )


async def serve_grpc(
    config: MockServerConfig,
    host: str = "127.0.0.1",
    port: int = 0,
    dialect: str = "triton",
    tls: tuple[bytes, bytes] | None = None,
) -> tuple[Any, int, MockGRPCState]:
    """Start a ``grpc.aio`` server on ``host:port`` (0: free); returns (server, port, state).

    ``tls=(certificate_chain_pem, private_key_pem)`` serves TLS (``grpcs://``).
    """
    import grpc

    if dialect not in DIALECTS:
        raise UserError(f"Mock server: unknown gRPC dialect {dialect!r}; use triton or mlserver.")
    loop = asyncio.get_running_loop()
    use_timerfd = os.environ.get("GUIDELLM_MOCK_TIMERFD", "1") != "0"
    state = MockGRPCState(config, dialect, DeadlineScheduler(loop, use_timerfd=use_timerfd))
    server = grpc.aio.server(
        options=[("grpc.so_reuseport", 0), ("grpc.max_concurrent_streams", 10000)],
        maximum_concurrent_rpcs=None,
    )
    server.add_generic_rpc_handlers((_handlers(state),))
    shown = f"[{host}]" if ":" in host else host
    try:
        if tls is not None:
            credentials = grpc.ssl_server_credentials([(tls[1], tls[0])])
            bound = server.add_secure_port(f"{shown}:{port}", credentials)
        else:
            bound = server.add_insecure_port(f"{shown}:{port}")
    except RuntimeError:  # grpcio >= 1.49 raises where older ones returned 0
        bound = 0
    if bound == 0:
        state.scheduler.close()
        raise UserError(
            f"The gRPC mock server cannot listen on {host}:{port}; "
            "pick another --port (0 picks a free one)."
        )
    await server.start()
    return server, bound, state


def run_grpc_foreground(
    config: MockServerConfig,
    host: str,
    port: int,
    *,
    dialect: str = "triton",
    announce: Callable[[str], None] | None = None,
    watch_stdin: bool = False,
) -> None:
    """Serve until SIGINT/SIGTERM (or stdin EOF with ``watch_stdin``); ``announce(target)``."""

    async def main() -> None:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        server, bound, state = await serve_grpc(config, host, port, dialect)
        if watch_stdin:
            stop_on_stdin_eof(loop, stop)
        shown = f"[{host}]" if ":" in host else host
        if announce is not None:
            announce(f"grpc://{shown}:{bound}")
        try:
            await stop.wait()
        finally:
            await server.stop(0.5)
            state.scheduler.close()

    asyncio.run(main())


class GRPCMockServer(ServerRunner):
    """The gRPC mock as a child process (``with GRPCMockServer(config) as target``) or on a
    thread of this process (``start_thread()``, for tests); ``target`` is ``grpc://host:port``.
    """

    label = "gRPC mock server"

    def __init__(
        self,
        config: MockServerConfig | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        dialect: str = "triton",
        tls: tuple[bytes, bytes] | None = None,
    ) -> None:
        if dialect not in DIALECTS:
            raise UserError(
                f"Mock server: unknown gRPC dialect {dialect!r}; use triton or mlserver."
            )
        super().__init__()
        self.config = config if config is not None else MockServerConfig()
        self.host = host
        self.port = port
        self.dialect = dialect
        self.tls = tls  # (certificate chain PEM, private key PEM): thread mode only
        self.state: MockGRPCState | None = None

    @property
    def target(self) -> str | None:
        """``grpc://host:port`` (``grpcs://`` with TLS) while running."""
        return self.address

    def start_process(self, timeout: float = 20.0) -> str:
        """Run ``python -m guidellm.mock_server.grpc_server``; return the target once it listens."""
        cmd = [
            sys.executable,
            "-m",
            "guidellm.mock_server.grpc_server",
            "--config-json",
            json.dumps(self.config.to_dict()),
            "--host",
            self.host,
            "--port",
            str(self.port),
            "--dialect",
            self.dialect,
            "--watch-stdin",
        ]
        return self._start_child(cmd, timeout)

    def start_thread(self, timeout: float = 20.0) -> str:
        """Serve on a fresh asyncio loop (grpc.aio wants its own) in a daemon thread."""
        return self._start_thread(self._serve, timeout, asyncio.new_event_loop)

    async def _serve(self, ready: threading.Event, stop: asyncio.Event) -> None:
        server, bound, self.state = await serve_grpc(
            self.config, self.host, self.port, self.dialect, self.tls
        )
        scheme = "grpcs" if self.tls is not None else "grpc"
        self.address = f"{scheme}://{self.host}:{bound}"
        ready.set()
        try:
            await stop.wait()
        finally:
            await server.stop(0.2)
            self.state.scheduler.close()

    @property
    def requests(self) -> int:
        """Generation requests received (thread mode)."""
        return self.state.requests if self.state is not None else 0


def main(argv: list[str] | None = None) -> int:
    """Child-process entry: prints ``LISTENING grpc://...`` (or ``FAILED ...``) first."""
    parser = argparse.ArgumentParser(prog="python -m guidellm.mock_server.grpc_server")
    parser.add_argument("--config-json", default="{}")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--dialect", default="triton", choices=DIALECTS)
    parser.add_argument("--watch-stdin", action="store_true")
    args = parser.parse_args(argv)
    try:
        config = MockServerConfig.from_dict(json.loads(args.config_json))
        run_grpc_foreground(
            config,
            args.host,
            args.port,
            dialect=args.dialect,
            announce=lambda target: print(f"LISTENING {target}", flush=True),
            watch_stdin=args.watch_stdin,
        )
    except UserError as exc:
        print(f"FAILED {exc}", flush=True)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
