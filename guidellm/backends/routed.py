"""RoutedBackend: one backend per route of a mix, chosen per request by its tags.

A weighted mix sends requests that differ in what the server sees: the model or LoRA adapter
they name, and, for traffic classes, the API they use (chat, embeddings...) and that API's
options. Each combination is a complete backend of its own, built by the runner with that
model and those options, so every backend (third-party ones included) takes part in a mix
without knowing about it: its body, its validation of the model against the server and its
timing rules are unchanged. A request's ``(traffic_class, model)`` picks its route: one dict
lookup per request.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from guidellm.backends.base import Backend

if TYPE_CHECKING:
    from guidellm.request import GenerationRequest, ResponseRecorder

__all__ = ["RouteKey", "RoutedBackend"]

#: A route's key: the request's traffic class and model tags (``None``: untagged).
RouteKey = tuple[str | None, str | None]


class RoutedBackend(Backend):
    """Sends each request through the route its tags name; see the module docstring.

    ``routes`` maps ``(traffic_class, model)`` to a backend built for it. Validation runs
    every route's own check (each model must be served), in the order given.
    """

    name = "routed"

    def __init__(self, routes: Mapping[RouteKey, Backend]) -> None:
        if not routes:
            raise ValueError("a RoutedBackend needs at least one route")
        first = next(iter(routes.values()))
        super().__init__(first.target, first.model)
        self.routes: dict[RouteKey, Backend] = dict(routes)

    def secrets(self) -> list[str]:
        return [s for backend in self.routes.values() for s in backend.secrets()]

    def remember_secrets(self) -> None:
        for backend in self.routes.values():
            backend.remember_secrets()

    @property
    def timing_source(self) -> str:
        """The routes' source when they agree, else ``mixed``."""
        sources = {backend.timing_source for backend in self.routes.values()}
        return sources.pop() if len(sources) == 1 else "mixed"

    def describe(self) -> dict[str, Any]:
        """The first route's settings, plus each route's type, model and request format."""
        first = next(iter(self.routes.values()))
        info = first.describe()
        info["routes"] = [
            {
                "traffic_class": key[0],
                "model": backend.model,
                **{
                    k: v
                    for k, v in backend.describe().items()
                    if k in ("type", "request_format", "batch_size", "stream")
                },
            }
            for key, backend in self.routes.items()
        ]
        return info

    async def startup(self, concurrency: int = 1) -> None:
        for backend in self.routes.values():
            await backend.startup(concurrency)

    async def validate(self) -> None:
        for backend in self.routes.values():
            await backend.validate()
        self.model = next(iter(self.routes.values())).model

    async def resolve(self, request: GenerationRequest, recorder: ResponseRecorder) -> None:
        await self.routes[request.traffic_class, request.model].resolve(request, recorder)

    async def shutdown(self) -> None:
        for backend in self.routes.values():
            await backend.shutdown()
