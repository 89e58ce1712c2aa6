"""Cached prompt tokens read from raw response bytes, on every parsing path of ChunkReader."""

from __future__ import annotations

import orjson
import pytest

from guidellm.backends.openai_chunks import ChunkReader
from guidellm.backends.sse import SSEDecoder
from guidellm.request import GenerationRequest, ResponseRecorder

CONTENT = {"choices": [{"index": 0, "delta": {"content": " hi"}, "finish_reason": None}]}
FINISH = {"choices": [{"index": 0, "delta": {}, "finish_reason": "length"}]}


def usage(cached: int | None = None) -> dict[str, object]:
    body: dict[str, object] = {"prompt_tokens": 40, "completion_tokens": 1, "total_tokens": 41}
    if cached is not None:
        body["prompt_tokens_details"] = {"cached_tokens": cached}
    return body


def stream_bytes(*chunks: dict[str, object], comment: bool = False) -> bytes:
    """An SSE body; ``comment`` adds an SSE comment, which sends the read down the general path."""
    out = b": keep-alive\n\n" if comment else b""
    for chunk in chunks:
        out += b"data: " + orjson.dumps(chunk) + b"\n\n"
    return out + b"data: [DONE]\n\n"


def read_stream(body: bytes) -> ResponseRecorder:
    recorder = ResponseRecorder(GenerationRequest("r", prompt="x"), 0.0)
    recorder.start()
    assert ChunkReader(chat=True).on_read(body, 1.0, SSEDecoder(), recorder)
    assert recorder.content_chunks == 1
    return recorder


@pytest.mark.parametrize("comment", [False, True], ids=["fast-path", "general-path"])
@pytest.mark.parametrize(
    ("last", "expected"),
    [
        ({"choices": [], "usage": usage(12)}, 12),  # OpenAI / vLLM
        ({"choices": [], "usage": usage(0)}, 0),  # a miss is a figure too
        ({"choices": [], "usage": usage()}, None),  # a server that does not say
        ({**FINISH, "timings": {"cache_n": 33, "prompt_n": 7}}, 33),  # llama.cpp, no usage
        ({"choices": [], "usage": usage(), "timings": {"cache_n": 9}}, 9),
        ({"choices": [], "usage": usage(5), "timings": {"cache_n": 9}}, 5),  # usage wins
        ({"choices": [], "usage": usage(0), "timings": {"cache_n": 9}}, 0),
    ],
)
def test_streamed_cached_tokens(
    last: dict[str, object], expected: int | None, comment: bool
) -> None:
    recorder = read_stream(stream_bytes(CONTENT, last, comment=comment))
    assert recorder.cached_tokens == expected
    if "usage" in last:
        assert recorder.prompt_tokens == 40 and recorder.output_tokens == 1


def test_streamed_cached_tokens_survive_a_later_chunk_without_them() -> None:
    # llama.cpp: timings on the finish chunk, then a usage chunk that has no details
    body = stream_bytes(
        CONTENT, {**FINISH, "timings": {"cache_n": 21}}, {"choices": [], "usage": usage()}
    )
    assert read_stream(body).cached_tokens == 21


@pytest.mark.parametrize("chat", [True, False])
@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ({"usage": usage(48)}, 48),
        ({"usage": usage(), "timings": {"cache_n": 17}}, 17),
        ({"usage": usage(3), "timings": {"cache_n": 17}}, 3),
        ({"timings": {"cache_n": 6}}, 6),
        ({"usage": usage()}, None),
        ({"usage": {**usage(), "prompt_tokens_details": {"cached_tokens": True}}}, None),
    ],
)
def test_whole_response_cached_tokens(
    extra: dict[str, object], expected: int | None, chat: bool
) -> None:
    choice = {"message": {"role": "assistant", "content": "hi"}} if chat else {"text": "hi"}
    body = orjson.dumps({"choices": [{"index": 0, **choice, "finish_reason": "length"}], **extra})
    recorder = ResponseRecorder(GenerationRequest("r", prompt="x"), 0.0)
    recorder.start()
    ChunkReader(chat=chat).whole(body, 1.0, recorder)
    assert recorder.cached_tokens == expected
    assert recorder.text == "hi"
