"""openai_http reads a real llama-server's prompt-cache figure.

llama-server keeps each slot's last prompt (``cache_prompt`` is on by default, and the test
fixture does not turn it off), so the same long prompt sent a second time is answered mostly
from the cache; ``usage.prompt_tokens_details.cached_tokens`` and ``timings.cache_n`` say how
much.
"""

from __future__ import annotations

import asyncio
import uuid

import pytest
import uvloop

from guidellm.backends.openai_http import OpenAIHTTPBackend
from guidellm.errors import RequestError
from guidellm.request import GenerationRequest, RequestResult, RequestStatus, ResponseRecorder
from guidellm.testing.llama import LlamaServer

pytestmark = pytest.mark.realserver


def send_twice(url: str, messages: list[dict[str, str]], stream: bool) -> list[RequestResult]:
    """The same chat request twice, one after the other, through the real backend."""

    async def main() -> list[RequestResult]:
        backend = OpenAIHTTPBackend(
            url,
            None,
            extra_body={"ignore_eos": True, "temperature": 0},
            request_format="chat_completions",
            stream=stream,
        )
        await backend.startup(1)
        await backend.validate()
        results = []
        for i in range(2):
            request = GenerationRequest(f"r{i}", messages=messages, max_tokens=4)
            recorder = ResponseRecorder(request, 0.0)
            recorder.start()
            try:
                await asyncio.wait_for(backend.resolve(request, recorder), 120)
            except RequestError as exc:
                results.append(
                    recorder.finish(
                        RequestStatus.ERRORED, error_category=exc.category, error=str(exc)
                    )
                )
                continue
            results.append(recorder.finish(RequestStatus.SUCCESSFUL))
        await backend.shutdown()
        return results

    return uvloop.run(main())


@pytest.mark.parametrize("stream", [True, False], ids=["streamed", "whole"])
def test_second_identical_prompt_reports_cached_tokens(
    llama_server: LlamaServer, stream: bool
) -> None:
    # a prompt no other test sends, long enough that the cache clearly shows
    words = " ".join(f"word{i}" for i in range(150))
    messages = [{"role": "user", "content": f"{uuid.uuid4().hex} {words}"}]
    first, second = send_twice(llama_server.url, messages, stream)
    for r in (first, second):
        assert r.status == RequestStatus.SUCCESSFUL, r.error
        assert r.prompt_tokens is not None and r.prompt_tokens > 150
        assert r.cached_tokens is not None  # llama-server always says, 0 included
    assert second.prompt_tokens == first.prompt_tokens
    assert first.cached_tokens is not None and second.cached_tokens is not None
    assert first.cached_tokens < first.prompt_tokens // 2  # the unique start misses
    assert second.prompt_tokens // 2 < second.cached_tokens < second.prompt_tokens
