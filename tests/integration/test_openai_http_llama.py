"""openai_http against a real llama.cpp llama-server started by the test tooling.

The tiny test model never emits EOS and ``ignore_eos`` is sent anyway, so ``max_tokens=N``
gives exactly N tokens: the count the backend records must equal the server's ``usage``.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import uvloop

from guidellm.backends.openai_http import OpenAIHTTPBackend
from guidellm.errors import RequestError, UserError
from guidellm.request import GenerationRequest, RequestResult, RequestStatus, ResponseRecorder
from guidellm.testing.llama import LlamaServer

pytestmark = pytest.mark.realserver


def run_requests(
    url: str, model: str | None, n: int, concurrency: int, max_tokens: int, **options: Any
) -> tuple[str | None, list[RequestResult]]:
    async def main() -> tuple[str | None, list[RequestResult]]:
        backend = OpenAIHTTPBackend(
            url, model, extra_body={"ignore_eos": True, "temperature": 0}, **options
        )
        await backend.startup(1)
        await backend.validate()
        await backend.shutdown()
        await backend.startup(concurrency)

        async def one(i: int) -> RequestResult:
            request = GenerationRequest(
                f"r{i}", prompt=f"Request number {i} says", max_tokens=max_tokens
            )
            recorder = ResponseRecorder(request, 0.0)
            recorder.start()
            try:
                await backend.resolve(request, recorder)
            except RequestError as exc:
                return recorder.finish(
                    RequestStatus.ERRORED, error_category=exc.category, error=str(exc)
                )
            return recorder.finish(RequestStatus.SUCCESSFUL, keep_text=True)

        results = await asyncio.wait_for(asyncio.gather(*(one(i) for i in range(n))), 240)
        await backend.shutdown()
        return backend.model, list(results)

    return uvloop.run(main())


@pytest.mark.parametrize("fmt", ["chat_completions", "text_completions"])
def test_streamed_token_count_equals_server_usage(llama_server: LlamaServer, fmt: str) -> None:
    model, results = run_requests(
        llama_server.url, None, n=4, concurrency=4, max_tokens=16, request_format=fmt
    )
    assert model == llama_server.model  # discovered from /v1/models
    for r in results:
        assert r.status == RequestStatus.SUCCESSFUL, r.error
        assert r.output_tokens == 16
        assert r.content_chunks + r.reasoning_chunks == r.output_tokens
        assert r.prompt_tokens is not None and r.prompt_tokens > 0
        assert r.first_token_time is not None and r.last_token_time is not None
        assert r.request_start < r.first_token_time <= r.last_token_time <= r.request_end
        assert r.chunk_times == sorted(r.chunk_times)
        assert len(r.chunk_times) == r.output_tokens  # one chunk per token, each timed


@pytest.mark.parametrize("fmt", ["chat_completions", "text_completions"])
def test_non_streaming_records_usage_and_one_chunk(llama_server: LlamaServer, fmt: str) -> None:
    _, results = run_requests(
        llama_server.url,
        llama_server.model,
        n=2,
        concurrency=2,
        max_tokens=8,
        request_format=fmt,
        stream=False,
    )
    for r in results:
        assert r.status == RequestStatus.SUCCESSFUL, r.error
        assert r.output_tokens == 8
        assert r.content_chunks == 1 and r.output_text
        assert r.first_token_time == r.last_token_time


def test_unknown_model_is_one_line_before_any_load(llama_server: LlamaServer) -> None:
    with pytest.raises(UserError) as info:
        run_requests(llama_server.url, "no-such-model", n=1, concurrency=1, max_tokens=1)
    message = str(info.value)
    assert "no-such-model" in message and llama_server.model in message and "\n" not in message
