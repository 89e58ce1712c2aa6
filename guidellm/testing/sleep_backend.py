"""A backend that needs no server: it sleeps, then streams chunks at a fixed pace.

For tests of the scheduler and of report writers, and for plugin authors who want a run
without a network. ``SleepBackend(target, ttft_ms=.., itl_ms=.., output_tokens=..)``; a
request whose ``request_id`` ends in ``-fail`` (or every ``fail_every``-th) fails with a
``ServerError``. Importable by module path so that worker processes can unpickle it.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, ClassVar

from guidellm.backends.base import Backend
from guidellm.errors import ServerError
from guidellm.request import now

if TYPE_CHECKING:
    from guidellm.request import GenerationRequest, ResponseRecorder

__all__ = ["SleepBackend"]


class SleepBackend(Backend):
    """Sleeps ``ttft_ms``, then emits ``output_tokens`` chunks ``itl_ms`` apart."""

    name = "sleep"
    schemes: ClassVar[tuple[str, ...]] = ("sleep",)

    def __init__(self, target: str = "sleep://", model: str | None = None, **options: Any) -> None:
        super().__init__(target, model or "sleep-model", **options)
        self.ttft = float(options.get("ttft_ms", 5.0)) / 1000
        self.itl = float(options.get("itl_ms", 1.0)) / 1000
        self.tokens = int(options.get("output_tokens", 4))
        self.fail_every = int(options.get("fail_every", 0))
        self._count = 0

    async def resolve(self, request: GenerationRequest, recorder: ResponseRecorder) -> None:
        self._count += 1
        await asyncio.sleep(self.ttft)
        if request.request_id.endswith("-fail") or (
            self.fail_every and self._count % self.fail_every == 0
        ):
            raise ServerError(f"sleep backend: request {request.request_id} told to fail")
        tokens = request.max_tokens or self.tokens
        for i in range(tokens):
            if i:
                await asyncio.sleep(self.itl)
            recorder.content("x", now())
        recorder.usage(request.prompt_tokens, tokens)
