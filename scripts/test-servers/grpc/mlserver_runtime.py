"""An MLServer runtime that streams tokens itself (no inference engine behind it).

Loaded by Seldon MLServer 1.7.1 (``scripts/test-servers/setup-grpc.sh mlserver``) from the
model folder that ``guidellm/testing/grpc_servers.py`` writes. What matters for guidellm's tests
is MLServer's own gRPC ``ModelStreamInfer``: it writes bare ``ModelInferResponse`` messages,
unlike Triton's ``ModelStreamInferResponse`` wrapper.

Inputs: ``text_input`` (BYTES), ``max_tokens`` (INT32, default 16). Outputs: ``text_output``
(BYTES, one token `` w<i>`` per streamed response) and ``completion_tokens`` (INT32, the
running count, as a server-side usage figure). ``ITL_MS`` in the model parameters' ``extra``
sets the delay between tokens. A prompt containing ``FAIL`` raises after two tokens.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from mlserver import MLModel
from mlserver.codecs import StringCodec
from mlserver.types import InferenceRequest, InferenceResponse, ResponseOutput


def _first(request: InferenceRequest, name: str, default: Any) -> Any:
    for tensor in request.inputs:
        if tensor.name == name:
            data = tensor.data.root if hasattr(tensor.data, "root") else tensor.data
            return data[0]
    return default


class TokenStreamRuntime(MLModel):
    """Streams ``max_tokens`` fake tokens, one response each."""

    async def load(self) -> bool:
        extra = (self.settings.parameters.extra or {}) if self.settings.parameters else {}
        self.itl_s = float(extra.get("itl_ms", 5.0)) / 1000.0
        return True

    def _args(self, request: InferenceRequest) -> tuple[str, int]:
        prompt = _first(request, "text_input", b"")
        if isinstance(prompt, bytes):
            prompt = prompt.decode()
        return str(prompt), int(_first(request, "max_tokens", 16))

    def _response(self, text: str, count: int) -> InferenceResponse:
        return InferenceResponse(
            model_name=self.name,
            outputs=[
                StringCodec.encode_output("text_output", [text]),
                ResponseOutput(name="completion_tokens", shape=[1], datatype="INT32", data=[count]),
            ],
        )

    async def predict(self, payload: InferenceRequest) -> InferenceResponse:
        _, n = self._args(payload)
        await asyncio.sleep(self.itl_s * n)
        return self._response("".join(f" w{i}" for i in range(n)), n)

    async def predict_stream(
        self, payloads: AsyncIterator[InferenceRequest]
    ) -> AsyncIterator[InferenceResponse]:
        async for payload in payloads:
            prompt, n = self._args(payload)
            for i in range(n):
                if i == 2 and "FAIL" in prompt:
                    raise RuntimeError("token runtime: injected failure")
                await asyncio.sleep(self.itl_s)
                yield self._response(f" w{i}", i + 1)
