"""CPU cost of the ``grpc_kserve`` backend per streamed request, against the gRPC mock server.

The mock runs in its own process with no simulated latency (``ttft_ms=0, itl_ms=0``), so its
token responses arrive as fast as it can write them. This process runs one uvloop loop (as a
RequestsWorker does) and sends requests in a closed loop through the real
``GRPCKServeBackend.resolve`` with a real ``ResponseRecorder``; it reports its own CPU
milliseconds per request (all threads: gRPC's C core polls on threads of its own) and per
token response. ``--compare-http`` measures ``openai_http`` against the HTTP mock server the
same way, so the two protocols are compared on one machine in one run. A last line times the
per-message work alone (protobuf parsing, BYTES decoding, recording; no sockets).

    python benchmarks/bench_grpc_client.py                      # 128 tokens, 1/8/32 streams
    python benchmarks/bench_grpc_client.py --tokens 128 --streams 1,8,32 --compare-http
"""

from __future__ import annotations

import argparse
import asyncio
import struct
import time
from collections.abc import Callable
from typing import Any

import uvloop

from guidellm.backends.base import Backend
from guidellm.backends.grpc_kserve import GRPCKServeBackend
from guidellm.mock_server.behavior import MockServerConfig
from guidellm.mock_server.grpc_server import GRPCMockServer
from guidellm.request import GenerationRequest, ResponseRecorder, now


async def _closed_loop(
    backend: Backend, streams: int, seconds: float, tokens: int
) -> tuple[int, int, float, float]:
    """Run ``streams`` closed-loop senders for ``seconds``; (requests, chunks, cpu_s, wall_s)."""
    await backend.startup(streams)
    done = chunks = 0
    errors: list[BaseException] = []
    stop_at = 0.0

    async def sender(k: int) -> None:
        nonlocal done, chunks
        i = 0
        while now() < stop_at:
            request = GenerationRequest(f"b{k}-{i}", prompt="bench mark", max_tokens=tokens)
            recorder = ResponseRecorder(request, now())
            recorder.start()
            try:
                await backend.resolve(request, recorder)
            except Exception as exc:  # a benchmark with errors must say so, not look fast
                errors.append(exc)
                return
            done += 1
            chunks += recorder.content_chunks
            i += 1

    try:
        # warm-up: connections, first-use imports
        stop_at = now() + 0.5
        await asyncio.gather(*(sender(k) for k in range(streams)))
        done = chunks = 0
        cpu0, wall0 = time.process_time(), now()
        stop_at = wall0 + seconds
        await asyncio.gather(*(sender(k) for k in range(streams)))
        cpu, wall = time.process_time() - cpu0, now() - wall0
    finally:
        await backend.shutdown()
    if errors:
        raise SystemExit(f"requests failed: {errors[0]!r}")
    return done, chunks, cpu, wall


def _measure(name: str, make: Callable[[], Backend], args: argparse.Namespace) -> None:
    for streams in args.streams:
        run = uvloop.run if args.loop == "uvloop" else asyncio.run
        done, chunks, cpu, wall = run(_closed_loop(make(), streams, args.seconds, args.tokens))
        if done == 0:
            raise SystemExit(f"{name}: no request finished in {args.seconds} s")
        if chunks != done * args.tokens:
            raise SystemExit(f"{name}: {chunks} chunks for {done} requests of {args.tokens}")
        print(
            f"| {name} | {streams} | {1000 * cpu / done:.2f} | {1e6 * cpu / chunks:.1f} "
            f"| {done / wall:.0f} | {cpu / wall:.2f} |",
            flush=True,
        )


def _parse_only(tokens: int, repeat: int) -> float:
    """Microseconds of client work per token message without sockets (Triton dialect)."""
    from guidellm.backends.grpc_proto import inference_pb2 as pb

    backend = GRPCKServeBackend("grpc://127.0.0.1:1", "m", dialect="triton")
    backend.plan = {"text_output": "text_output", "output_count": "", "prompt_count": ""}
    messages = []
    for k in range(tokens):
        resp = pb.ModelInferResponse(model_name="m", id="x")
        resp.outputs.add(name="text_output", datatype="BYTES", shape=[1])
        data = f" tok{k}".encode()
        resp.raw_output_contents.append(struct.pack("<I", len(data)) + data)
        resp.parameters["triton_final_response"].bool_param = False
        messages.append(pb.ModelStreamInferResponse(infer_response=resp).SerializeToString())
    wrapper = pb.ModelStreamInferResponse.FromString
    request = GenerationRequest("p", prompt="x", max_tokens=tokens)
    t0 = time.process_time()
    for _ in range(repeat):
        recorder = ResponseRecorder(request, now())
        for raw in messages:
            arrived = now()
            resp: Any = wrapper(raw).infer_response
            text, _, _ = backend._read_outputs(resp)
            if text:
                recorder.content(text, arrived)
            if resp.parameters["triton_final_response"].bool_param:
                break
    return 1e6 * (time.process_time() - t0) / (repeat * tokens)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--streams", default="1,8,32")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--dialect", default="triton", choices=("triton", "mlserver"))
    parser.add_argument("--compare-http", action="store_true")
    parser.add_argument("--transports", default="h2,grpc", help="grpc_kserve transports to measure")
    parser.add_argument(
        "--itl-ms",
        type=float,
        default=0.0,
        help="mock latency per token: 0 bursts every token at once; >0 makes each its own read",
    )
    parser.add_argument("--loop", default="uvloop", choices=("uvloop", "asyncio"))
    args = parser.parse_args()
    args.streams = [int(s) for s in args.streams.split(",")]
    args.transports = args.transports.split(",")
    config = MockServerConfig(ttft_ms=args.itl_ms, itl_ms=args.itl_ms, output_tokens=args.tokens)
    print(
        f"{args.tokens} tokens per request, mock itl {args.itl_ms:g} ms, {args.seconds:g} s per "
        "row, mock in its own process\n"
        "| client | streams | CPU ms / request | CPU µs / token response | requests/s | "
        "client cores |\n|---|---|---|---|---|---|"
    )
    server = GRPCMockServer(config, dialect=args.dialect)
    target = server.start_process()
    try:
        for transport in args.transports:
            _measure(
                f"grpc_kserve ({args.dialect}, {transport})",
                lambda t=transport: GRPCKServeBackend(target, config.model, transport=t),
                args,
            )
    finally:
        server.stop()
    if args.compare_http:
        from guidellm.backends.openai_http import OpenAIHTTPBackend
        from guidellm.mock_server.server import MockServer

        http = MockServer(config)
        url = http.start_process()
        try:
            _measure(
                "openai_http (text, SSE)",
                lambda: OpenAIHTTPBackend(url, config.model, request_format="text_completions"),
                args,
            )
        finally:
            http.stop()
    print(
        f"per-message work alone (parse + BYTES decode + record): "
        f"{_parse_only(args.tokens, 2000):.2f} µs per token response"
    )


if __name__ == "__main__":
    main()
