"""The models one HTTP mock serves: a base model and its adapters, each with its own timing.

:class:`ModelTable` is built once per server from :class:`MockServerConfig`: one
:class:`ServedModel` per name of ``config.served_models``, holding what a request of that
model needs, decided up front so a request only looks its model up once: its config
(:meth:`MockServerConfig.for_model`: the ``model_timing`` overrides applied), its name
pre-encoded as JSON for the pre-built SSE event heads, and its ``/metrics`` series.
``/v1/models`` lists them in vLLM's shape: the first is the base model (``parent`` null),
the others name it as their ``parent``, as vLLM lists LoRA adapters.
"""

from __future__ import annotations

from typing import Any

import orjson

from guidellm.mock_server.behavior import MockServerConfig
from guidellm.mock_server.metrics import MockMetrics, ModelSeries

__all__ = ["ModelTable", "ServedModel"]


class ServedModel:
    """One served name: its requests' config, its JSON-encoded name, its metrics series."""

    __slots__ = ("config", "json", "name", "series")

    def __init__(self, config: MockServerConfig, series: ModelSeries) -> None:
        self.name = config.model
        self.config = config
        self.json = orjson.dumps(config.model)
        self.series = series


class ModelTable:
    """Every served model by name; :attr:`default` answers requests that name none."""

    def __init__(self, config: MockServerConfig, metrics: MockMetrics) -> None:
        self.names = config.served_models
        self.by_name = {
            name: ServedModel(config.for_model(name), metrics.series[name]) for name in self.names
        }
        self.default = self.by_name[self.names[0]]

    def resolve(self, name: Any) -> ServedModel | None:
        """The model a request's ``model`` field names (``None``: the default), or ``None``
        when this server does not serve it."""
        if name is None:
            return self.default
        return self.by_name.get(name) if isinstance(name, str) else None

    def unknown(self, name: Any) -> str:
        """The 404 message for a request naming a model this server does not serve."""
        served = ", ".join(f"`{n}`" for n in self.names)
        return f"The model `{name}` does not exist; this server serves {served}."

    def listing(self, created: int, max_model_len: int) -> bytes:
        """The ``GET /v1/models`` body (vLLM's shape)."""
        base = self.names[0]
        data = [
            {
                "id": name,
                "object": "model",
                "created": created,
                "owned_by": "guidellm-mock",
                "root": name,
                "parent": None if name == base else base,
                "max_model_len": max_model_len,
            }
            for name in self.names
        ]
        return orjson.dumps({"object": "list", "data": data})
