"""The ``echo`` backend: streams the prompt's words back, locally, on a schedule you choose."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

from guidellm import Backend, UserError

if TYPE_CHECKING:  # only for annotations: msgspec need not load when the plugin registers
    from guidellm import GenerationRequest, ResponseRecorder

__all__ = ["EchoBackend"]

OPTIONS = ("ttft_ms", "itl_ms", "max_tokens")


def _number(options: dict[str, Any], key: str, default: float) -> float:
    value = options.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise UserError(
            f"--backend-args {key}={value!r}: the echo backend needs a number >= 0, "
            f"e.g. --backend-args {key}=10"
        )
    return float(value)


def prompt_words(request: GenerationRequest) -> list[str]:
    """The words to echo: the prompt's, or the text of every chat message."""
    if request.prompt is not None:
        return request.prompt.split()
    words: list[str] = []
    for message in request.messages or []:
        content = message.get("content")
        if isinstance(content, str):
            words.extend(content.split())
        elif isinstance(content, list):  # OpenAI content parts
            for part in content:
                if isinstance(part, dict) and isinstance(part.get("text"), str):
                    words.extend(part["text"].split())
    return words


class EchoBackend(Backend):
    """Answers every request by streaming its prompt's words back, one word per chunk.

    ``ttft_ms`` delays the first word, ``itl_ms`` each later one; the request's ``max_tokens``
    sets the answer's length (words repeat if the prompt is shorter), capped by the
    ``max_tokens`` option. With no delays, what a benchmark measures is guidellm's own cost.
    """

    name = "echo"
    schemes = ("echo",)

    def __init__(self, target: str = "echo://", model: str | None = None, **options: Any) -> None:
        unknown = sorted(set(options) - set(OPTIONS))
        if unknown:
            raise UserError(
                f"--backend-args: unknown option(s) {', '.join(unknown)} for backend 'echo'; "
                f"it knows {', '.join(OPTIONS)}"
            )
        self.ttft = _number(options, "ttft_ms", 0.0) / 1000.0
        self.itl = _number(options, "itl_ms", 0.0) / 1000.0
        cap = options.get("max_tokens")
        if cap is not None and (isinstance(cap, bool) or not isinstance(cap, int) or cap < 1):
            raise UserError(
                f"--backend-args max_tokens={cap!r}: needs a whole number >= 1, "
                "e.g. --backend-args max_tokens=128"
            )
        self.max_tokens: int | None = cap
        super().__init__(target, model, **options)

    async def validate(self) -> None:
        # There is no server to ask: the model is whatever the user named, or "echo".
        if self.model is None:
            self.model = "echo"

    async def resolve(self, request: GenerationRequest, recorder: ResponseRecorder) -> None:
        words = prompt_words(request)
        count = request.max_tokens if request.max_tokens is not None else len(words)
        if self.max_tokens is not None:
            count = min(count, self.max_tokens)
        prompt_count = len(words)
        if not words:
            words = ["echo"]
        # Absolute deadlines from the moment the worker handed us the request: sleeping
        # overshoots never accumulate over a long answer.
        deadline = recorder.request_start + self.ttft
        for index in range(count):
            # A loop timer may fire up to a millisecond early (uvloop counts whole ms), so
            # sleep again for what is left: a chunk never comes earlier than asked.
            while (delay := deadline - time.perf_counter()) > 0:
                await asyncio.sleep(delay)
            word = words[index % len(words)]
            recorder.content(word if index == 0 else " " + word, time.perf_counter())
            deadline += self.itl
        recorder.usage(prompt_count, count)

    def describe(self) -> dict[str, Any]:
        info = super().describe()
        info.update(ttft_ms=self.ttft * 1000.0, itl_ms=self.itl * 1000.0)
        return info
