"""The Anthropic Messages API (``/v1/messages``): request bodies and responses, recorded.

vLLM serves it and so do gateways in front of other servers. A stream is a sequence of named
SSE events: ``message_start`` (the prompt's usage), ``content_block_delta`` (``text_delta``
or ``thinking_delta``: the tokens, timed like OpenAI's chunks), ``message_delta`` (the final
output usage), ``message_stop`` (the end: there is no ``[DONE]``), ``ping`` and ``error``.
Usage: ``input_tokens`` leaves out the prompt tokens read from or written to the server's
cache (``cache_read_input_tokens``, ``cache_creation_input_tokens``); the prompt count
recorded is their sum, and the cached count the cache reads.

:class:`MessagesReader` has :class:`~guidellm.backends.openai_chunks.ChunkReader`'s
interface, so the backend's read loop is the same for both APIs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from guidellm.backends.openai_chunks import json_answer, server_message
from guidellm.backends.sse import SSEDecoder, SSEEvent
from guidellm.errors import BadResponseError, RequestError, ServerError

if TYPE_CHECKING:
    from guidellm.request import GenerationRequest, ResponseRecorder

__all__ = ["ANTHROPIC_VERSION", "MessagesReader", "messages_body"]

#: The ``anthropic-version`` header sent unless the user's headers give one.
ANTHROPIC_VERSION = "2023-06-01"
#: Anthropic requires ``max_tokens``; a request without one asks for this many.
DEFAULT_MAX_TOKENS = 4096


def messages_body(request: GenerationRequest, model: str | None, stream: bool) -> dict[str, Any]:
    """The ``/v1/messages`` body of ``request``: system messages move to ``system``."""
    if request.messages is not None:
        messages = request.messages
    elif request.prompt is not None:
        messages = [{"role": "user", "content": request.prompt}]
    else:
        raise RequestError(f"request {request.request_id} has no prompt or messages")
    system = [_text_of(m["content"]) for m in messages if m.get("role") == "system"]
    body: dict[str, Any] = {
        "messages": [
            {**m, "content": _content(m["content"])} if isinstance(m.get("content"), list) else m
            for m in messages
            if m.get("role") != "system"
        ],
        "max_tokens": request.max_tokens or DEFAULT_MAX_TOKENS,
        "stream": stream,
    }
    if model is not None:
        body["model"] = model
    if system:
        body["system"] = "\n\n".join(system)
    return body


def _text_of(content: Any) -> str:
    """A system message's text: a string, or its text parts joined."""
    if isinstance(content, list):
        return "".join(
            str(p.get("text", ""))
            for p in content
            if isinstance(p, dict) and p.get("type") == "text"
        )
    return str(content)


def _content(parts: list[Any]) -> list[Any]:
    """OpenAI content parts in the Messages API's shape: an ``image_url`` becomes an
    ``image`` block (a ``data:`` URL as base64 with its media type, else by URL)."""
    out: list[Any] = []
    for part in parts:
        if isinstance(part, dict) and part.get("type") == "image_url":
            image = part.get("image_url")
            url = str(image.get("url") if isinstance(image, dict) else image)
            if url.startswith("data:") and ";base64," in url:
                media, _, data = url[5:].partition(";base64,")
                source = {"type": "base64", "media_type": media, "data": data}
            else:
                source = {"type": "url", "url": url}
            out.append({"type": "image", "source": source})
        else:
            out.append(part)
    return out


def _usage(usage: Any, recorder: ResponseRecorder) -> None:
    if not isinstance(usage, dict):
        return
    fresh = usage.get("input_tokens")
    read = usage.get("cache_read_input_tokens")
    written = usage.get("cache_creation_input_tokens")
    prompt = None
    if isinstance(fresh, int):
        prompt = fresh + (read if isinstance(read, int) else 0)
        prompt += written if isinstance(written, int) else 0
    output = usage.get("output_tokens")
    recorder.usage(
        prompt,
        output if isinstance(output, int) else None,
        None,
        read if isinstance(read, int) else None,
    )


class MessagesReader:
    """Records what one process's Messages responses carry (see the module docstring)."""

    def __init__(self, scrub: Callable[[str], str] = str) -> None:
        import orjson

        self.scrub = scrub
        self.loads = orjson.loads

    def on_read(
        self, data: bytes, arrived: float, decoder: SSEDecoder, recorder: ResponseRecorder
    ) -> bool:
        """Record the events of one network read (all arrived at ``arrived``); True at the
        end (``message_stop``)."""
        return self.events(decoder.feed(data), arrived, recorder)

    def events(
        self, items: list[bytes | SSEEvent], arrived: float, recorder: ResponseRecorder
    ) -> bool:
        loads = self.loads
        for item in items:
            data = item.data if isinstance(item, SSEEvent) else item
            try:
                obj = loads(data)
            except ValueError:
                raise BadResponseError(f"malformed JSON in stream: {data[:80]!r}") from None
            if not isinstance(obj, dict):
                raise BadResponseError(f"unexpected event in stream: {data[:80]!r}")
            kind = obj.get("type")
            if kind == "content_block_delta":
                delta = obj.get("delta")
                if not isinstance(delta, dict):
                    raise BadResponseError(f"delta without content: {data[:80]!r}")
                text = delta.get("text")
                if text:
                    recorder.content(text, arrived)
                else:
                    thinking = delta.get("thinking")
                    if thinking:
                        recorder.reasoning(thinking, arrived)
            elif kind == "message_start":
                message = obj.get("message")
                if isinstance(message, dict):
                    _usage(message.get("usage"), recorder)
            elif kind == "message_delta":
                _usage(obj.get("usage"), recorder)
            elif kind == "message_stop":
                return True
            elif kind == "error":
                raise ServerError(self.scrub(server_message(data)))
            # ping, content_block_start/stop: nothing a benchmark needs
        return False

    def whole(self, body: bytes, arrived: float, recorder: ResponseRecorder) -> None:
        """A whole (non-streamed) message: one chunk, timed when the body arrived."""
        obj = json_answer(body, self.scrub)  # Anthropic's errors carry an "error" object
        content = obj.get("content")
        if not isinstance(content, list):
            raise BadResponseError(f"message without content: {body[:80]!r}")
        recorder.whole = True
        for block in content:
            if not isinstance(block, dict):
                continue
            if block.get("type") == "thinking" and block.get("thinking"):
                recorder.reasoning(block["thinking"], arrived)
            elif block.get("type") == "text" and block.get("text"):
                recorder.content(block["text"], arrived)
        _usage(obj.get("usage"), recorder)
