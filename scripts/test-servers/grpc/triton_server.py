"""A real NVIDIA Triton (through nvidia-pytriton) serving a decoupled model that streams tokens.

Runs inside the venv made by ``scripts/test-servers/setup-grpc.sh triton``; started by
``guidellm/testing/grpc_servers.py``. CPU only, loopback only. The model ``toy_llm`` takes
``text_input`` (BYTES) and ``max_tokens`` (INT32) and yields one ``text_output`` response per
token: token ``i`` is `` tok<i>``, ``--itl-ms`` apart. A prompt containing ``FAIL`` makes the
model raise after two tokens, so a client sees an ``error_message`` in the stream.

A second model, ``vllm_like``, has the signature of Triton's vLLM backend: ``text_input``,
``stream`` (BOOL) and ``sampling_parameters`` (a JSON string with ``max_tokens``); it streams
`` v<i>`` tokens when ``stream`` is true and answers once with the whole text otherwise.

usage: python triton_server.py --grpc-port P --http-port P --metrics-port P [--itl-ms 5]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
from pytriton.model_config import ModelConfig, Tensor
from pytriton.triton import Triton, TritonConfig


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--grpc-port", type=int, required=True)
    parser.add_argument("--http-port", type=int, required=True)
    parser.add_argument("--metrics-port", type=int, required=True)
    parser.add_argument("--model", default="toy_llm")
    parser.add_argument("--itl-ms", type=float, default=5.0)
    args = parser.parse_args()
    itl = args.itl_ms / 1000.0

    def infer(requests: list[Any]) -> Iterator[list[dict[str, np.ndarray]]]:
        for req in requests:
            prompt = req.data["text_input"].reshape(-1)[0].decode()
            n = int(req.data["max_tokens"].reshape(-1)[0]) if "max_tokens" in req.data else 16
            for i in range(n):
                if i == 2 and "FAIL" in prompt:
                    raise RuntimeError("toy_llm: injected failure")
                time.sleep(itl)
                yield [{"text_output": np.array([f" tok{i}".encode()], dtype=object)}]

    def infer_vllm_like(requests: list[Any]) -> Iterator[list[dict[str, np.ndarray]]]:
        for req in requests:
            sampling = json.loads(req.data["sampling_parameters"].reshape(-1)[0].decode())
            n = int(sampling.get("max_tokens", 16))
            stream = bool(req.data["stream"].reshape(-1)[0]) if "stream" in req.data else False
            tokens = [f" v{i}" for i in range(n)]
            if not stream:
                time.sleep(itl * n)
                yield [{"text_output": np.array(["".join(tokens).encode()], dtype=object)}]
                continue
            for token in tokens:
                time.sleep(itl)
                yield [{"text_output": np.array([token.encode()], dtype=object)}]

    config = TritonConfig(
        grpc_address="127.0.0.1",
        grpc_port=args.grpc_port,
        http_address="127.0.0.1",
        http_port=args.http_port,
        metrics_address="127.0.0.1",
        metrics_port=args.metrics_port,
        allow_metrics=True,
    )

    def stop(_signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt  # leave serve() so that Triton() stops tritonserver

    signal.signal(signal.SIGTERM, stop)
    with Triton(config=config) as triton:
        triton.bind(
            model_name=args.model,
            infer_func=infer,
            inputs=[
                Tensor(name="text_input", dtype=bytes, shape=(1,)),
                Tensor(name="max_tokens", dtype=np.int32, shape=(1,), optional=True),
            ],
            outputs=[Tensor(name="text_output", dtype=bytes, shape=(1,))],
            config=ModelConfig(batching=False, decoupled=True),
            strict=False,
        )
        triton.bind(
            model_name="vllm_like",
            infer_func=infer_vllm_like,
            inputs=[
                Tensor(name="text_input", dtype=bytes, shape=(1,)),
                Tensor(name="stream", dtype=np.bool_, shape=(1,), optional=True),
                Tensor(name="sampling_parameters", dtype=bytes, shape=(1,), optional=True),
            ],
            outputs=[Tensor(name="text_output", dtype=bytes, shape=(1,))],
            config=ModelConfig(batching=False, decoupled=True),
            strict=False,
        )
        print(f"serving {args.model} on 127.0.0.1:{args.grpc_port}", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            triton.serve()


if __name__ == "__main__":
    main()
