"""Whole (non-streamed) answers of the mock's generation routes, and their usage objects:
OpenAI's chat and text completions and Anthropic's Messages API."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    from guidellm.mock_server.behavior import RequestPlan
    from guidellm.mock_server.http_server import MockHTTPState

__all__ = ["anthropic_answer", "anthropic_usage", "full_answer", "usage"]


def usage(plan: RequestPlan, reasoning: int, prompt_tokens: int, cached: int) -> dict[str, Any]:
    usage: dict[str, Any] = {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": plan.total,
        "total_tokens": prompt_tokens + plan.total,
        "prompt_tokens_details": {"cached_tokens": cached},
    }
    if reasoning:
        usage["completion_tokens_details"] = {"reasoning_tokens": reasoning}
    return usage


def full_answer(
    state: MockHTTPState,
    *,
    model: str,
    plan: RequestPlan,
    chat: bool,
    reasoning: int,
    prompt_tokens: int,
    cached_tokens: int,
    hit_limit: bool,
) -> bytes:
    finish = "length" if hit_limit else "stop"
    choice: dict[str, Any]
    if chat:
        message: dict[str, Any] = {"role": "assistant", "content": "".join(plan.tokens[reasoning:])}
        if reasoning:
            message["reasoning_content"] = "".join(plan.tokens[:reasoning])
        choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": finish}
    else:
        choice = {
            "index": 0,
            "text": "".join(plan.tokens),
            "logprobs": None,
            "finish_reason": finish,
        }
    return orjson.dumps(
        {
            "id": f"{'chatcmpl' if chat else 'cmpl'}-{plan.index}",
            "object": "chat.completion" if chat else "text_completion",
            "created": state.created,
            "model": model,
            "choices": [choice],
            "usage": usage(plan, reasoning, prompt_tokens, cached_tokens),
        }
    )


def anthropic_usage(plan: RequestPlan, prompt_tokens: int, cached: int) -> dict[str, Any]:
    """Anthropic's usage: ``input_tokens`` leaves out what was read from the cache."""
    return {
        "input_tokens": prompt_tokens - cached,
        "cache_read_input_tokens": cached,
        "output_tokens": plan.total,
    }


def anthropic_answer(
    state: MockHTTPState,
    *,
    model: str,
    plan: RequestPlan,
    reasoning: int,
    prompt_tokens: int,
    cached_tokens: int,
    hit_limit: bool,
) -> bytes:
    """A whole ``/v1/messages`` answer: thinking (the reasoning tokens) then text blocks."""
    content: list[dict[str, Any]] = []
    if reasoning:
        content.append({"type": "thinking", "thinking": "".join(plan.tokens[:reasoning])})
    content.append({"type": "text", "text": "".join(plan.tokens[reasoning:])})
    return orjson.dumps(
        {
            "id": f"msg_{plan.index}",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": content,
            "stop_reason": "max_tokens" if hit_limit else "end_turn",
            "stop_sequence": None,
            "usage": anthropic_usage(plan, prompt_tokens, cached_tokens),
        }
    )
