"""The Anthropic Messages stream and body, read into a real ResponseRecorder."""

from __future__ import annotations

import pytest

from guidellm.backends.anthropic_messages import MessagesReader, messages_body
from guidellm.backends.sse import SSEDecoder
from guidellm.errors import BadResponseError, ServerError
from guidellm.request import GenerationRequest, RequestStatus, ResponseRecorder

STREAM = (
    b'event: message_start\ndata: {"type":"message_start","message":{"id":"m","usage":'
    b'{"input_tokens":20,"cache_read_input_tokens":12,"output_tokens":1}}}\n\n'
    b'event: content_block_start\ndata: {"type":"content_block_start","index":0,'
    b'"content_block":{"type":"thinking","thinking":""}}\n\n'
    b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,'
    b'"delta":{"type":"thinking_delta","thinking":"hmm"}}\n\n'
    b'event: ping\ndata: {"type":"ping"}\n\n'
    b'event: content_block_delta\ndata: {"type":"content_block_delta","index":1,'
    b'"delta":{"type":"text_delta","text":"Hello"}}\n\n'
    b'event: content_block_delta\ndata: {"type":"content_block_delta","index":1,'
    b'"delta":{"type":"text_delta","text":" there"}}\n\n'
    b'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"end_turn"},'
    b'"usage":{"output_tokens":3}}\n\n'
    b'event: message_stop\ndata: {"type":"message_stop"}\n\n'
)


def _recorder() -> ResponseRecorder:
    recorder = ResponseRecorder(GenerationRequest("1", prompt="hi"), 0.0)
    recorder.start()
    return recorder


@pytest.mark.parametrize("cut", [len(STREAM), 97, 13])
def test_a_stream_is_timed_per_delta_and_ends_at_message_stop(cut: int) -> None:
    reader, decoder, recorder = MessagesReader(), SSEDecoder(), _recorder()
    reads = [STREAM[i : i + cut] for i in range(0, len(STREAM), cut)]
    ended = [reader.on_read(data, float(k), decoder, recorder) for k, data in enumerate(reads)]
    assert ended[-1] and not any(ended[:-1])
    assert recorder.text == "Hello there"
    assert recorder.prompt_tokens == 32 and recorder.cached_tokens == 12
    assert recorder.output_tokens == 3
    result = recorder.finish(RequestStatus.SUCCESSFUL)
    assert result.content_chunks == 2 and result.reasoning_chunks == 1


def test_an_error_event_is_a_server_error_with_its_message() -> None:
    data = (
        b'event: error\ndata: {"type":"error","error":{"type":"overloaded_error",'
        b'"message":"Overloaded"}}\n\n'
    )
    with pytest.raises(ServerError, match="Overloaded"):
        MessagesReader().on_read(data, 0.0, SSEDecoder(), _recorder())
    with pytest.raises(BadResponseError):
        MessagesReader().on_read(b"event: x\ndata: {nope\n\n", 0.0, SSEDecoder(), _recorder())


def test_a_whole_message_and_its_usage() -> None:
    recorder = _recorder()
    body = (
        b'{"type":"message","content":[{"type":"thinking","thinking":"t"},'
        b'{"type":"text","text":"Hi"}],"usage":{"input_tokens":5,"output_tokens":2}}'
    )
    MessagesReader().whole(body, 1.0, recorder)
    assert recorder.text == "Hi" and recorder.prompt_tokens == 5 and recorder.output_tokens == 2
    with pytest.raises(BadResponseError):
        MessagesReader().whole(b'{"type":"message"}', 1.0, _recorder())


def test_the_body_moves_system_messages_and_always_asks_a_length() -> None:
    request = GenerationRequest(
        "1",
        messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}],
    )
    body = messages_body(request, "m", stream=True)
    assert body == {
        "messages": [{"role": "user", "content": "Hi"}],
        "max_tokens": 4096,
        "stream": True,
        "model": "m",
        "system": "Be brief.",
    }
    assert messages_body(GenerationRequest("2", prompt="x", max_tokens=7), None, False) == {
        "messages": [{"role": "user", "content": "x"}],
        "max_tokens": 7,
        "stream": False,
    }


def test_images_become_image_blocks_and_system_parts_text() -> None:
    request = GenerationRequest(
        "1",
        messages=[
            {"role": "system", "content": [{"type": "text", "text": "Be brief."}]},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is it?"},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBO"}},
                    {"type": "image_url", "image_url": {"url": "https://e.x/cat.jpg"}},
                ],
            },
        ],
    )
    body = messages_body(request, None, stream=False)
    assert body["system"] == "Be brief."
    assert body["messages"][0]["content"] == [
        {"type": "text", "text": "What is it?"},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBO"}},
        {"type": "image", "source": {"type": "url", "url": "https://e.x/cat.jpg"}},
    ]
