"""The mock's streamed answers in the Anthropic Messages API's shape (``POST /v1/messages``).

The same token schedule, faults and metrics as the OpenAI streams of
:mod:`guidellm.mock_server.http_server`; only the events differ: ``message_start`` (with the
prompt's usage) and ``content_block_start`` before the first token, one
``content_block_delta`` per token (``thinking_delta`` for the reasoning tokens, in a block of
their own, then ``text_delta``), then ``content_block_stop``, ``message_delta`` (the output
usage and stop reason) and ``message_stop``, which the ``no_done`` fault leaves out as it
leaves out ``[DONE]``.
"""

from __future__ import annotations

from typing import Any

import orjson

from guidellm.mock_server.answers import anthropic_usage
from guidellm.mock_server.http_framing import chunk
from guidellm.mock_server.http_server import _TOKEN_JSON, _Stream

__all__ = ["AnthropicStream"]


def _sse(name: bytes, data: bytes) -> bytes:
    return b"event: " + name + b"\ndata: " + data + b"\n\n"


def _block_start(index: int, thinking: bool) -> bytes:
    block = b'{"type":"thinking","thinking":""}' if thinking else b'{"type":"text","text":""}'
    return _sse(
        b"content_block_start",
        b'{"type":"content_block_start","index":%d,"content_block":%s}' % (index, block),
    )


def _block_stop(index: int) -> bytes:
    return _sse(b"content_block_stop", b'{"type":"content_block_stop","index":%d}' % index)


class AnthropicStream(_Stream):
    """One ``/v1/messages`` stream; see the module docstring."""

    __slots__ = ()

    def _event(self, k: int) -> bytes:
        token = _TOKEN_JSON[self.plan.tokens[k]]
        reasoning = self.reasoning
        out = b""
        if k == 0:
            usage = anthropic_usage(self.plan, self.prompt_tokens, self.cached_tokens)
            usage["output_tokens"] = 1
            message: dict[str, Any] = {
                "id": f"msg_{self.plan.index}",
                "type": "message",
                "role": "assistant",
                "model": self.model.name,
                "content": [],
                "stop_reason": None,
                "usage": usage,
            }
            start = orjson.dumps({"type": "message_start", "message": message})
            out += _sse(b"message_start", start) + _block_start(0, reasoning > 0)
        elif reasoning and k == reasoning:
            out += _block_stop(0) + _block_start(1, False)
        thinking = k < reasoning
        index = 1 if reasoning and not thinking else 0
        kind, field = (b"thinking_delta", b"thinking") if thinking else (b"text_delta", b"text")
        delta = b'{"type":"content_block_delta","index":%d,"delta":{"type":"%s","%s":%s}}' % (
            index,
            kind,
            field,
            token,
        )
        return out + _sse(b"content_block_delta", delta)

    def _closing(self) -> bytes:
        last = 1 if self.reasoning and self.plan.total > self.reasoning else 0
        stop = b"max_tokens" if self.hit_limit else b"end_turn"
        delta = b'{"type":"message_delta","delta":{"stop_reason":"%s","stop_sequence":null},' % stop
        delta += b'"usage":{"output_tokens":%d}}' % self.plan.total
        out = _block_stop(last) + _sse(b"message_delta", delta)
        if self.plan.fault != "no_done":
            out += _sse(b"message_stop", b'{"type":"message_stop"}')
        return chunk(out)
