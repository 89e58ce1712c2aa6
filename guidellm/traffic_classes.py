"""TrafficClass: one kind of traffic in a mixed benchmark, as a scenario's ``classes`` give it.

Products that share a deployment send different requests with different promises: a chat
product's multi-turn sessions must see a first token within 300 ms, a batch summarizer's long
prompts must finish within 30 s, an embedding service answers in bulk. A class says what it
sends (its own ``data`` and ``data_args``, ``model`` or model mix, ``request_format`` and
``backend_args``), how much of the traffic it is (a ``weight``, or its own ``rate`` in
requests/s: the rates add up to the benchmark's rate) and its ``slo``. The report gives each
class its own row and goodput, and an overall goodput of every class against its own SLOs.
"""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

__all__ = ["RequestFormat", "TrafficClass", "check_classes"]

#: The request formats of the ``openai_http`` backend (its ``request_format`` option).
RequestFormat = Literal[
    "chat_completions",
    "text_completions",
    "embeddings",
    "rerank",
    "anthropic_messages",
    "transcriptions",
]

_EXAMPLE = (
    "classes: [{name: chat, weight: 0.7, data: 'prompt_tokens=128,output_tokens=64'}, "
    "{name: embed, weight: 0.3, data: 'prompt_tokens=64', request_format: embeddings}]"
)


class TrafficClass(BaseModel):
    """One class of a scenario's ``classes``; see the module docstring."""

    model_config = ConfigDict(extra="forbid")

    name: str
    weight: float | None = None
    rate: float | None = None
    data: list[str] = Field(default_factory=list)
    data_args: dict[str, Any] = Field(default_factory=dict)
    model: str | None = None
    request_format: RequestFormat | None = None
    backend_args: dict[str, Any] = Field(default_factory=dict)
    slo: dict[str, float] = Field(default_factory=dict)


def _number(value: Any) -> bool:
    return (
        not isinstance(value, bool)
        and isinstance(value, (int, float))
        and math.isfinite(value)
        and value > 0
    )


def check_classes(value: Any) -> list[TrafficClass]:
    """``value`` (a list of mappings) as classes; the first problem is a ``ValueError`` whose
    text is one line naming the class, the key and the fix."""
    from guidellm.benchmark.slo import SLO_KEYS

    if value is None:
        return []
    if not isinstance(value, list):
        raise ValueError(f"classes must be a list of classes, e.g. {_EXAMPLE}")
    out: list[TrafficClass] = []
    for number, entry in enumerate(value, 1):
        item = entry.model_dump() if isinstance(entry, TrafficClass) else entry
        if not isinstance(item, dict):
            raise ValueError(f"class {number} is not a mapping; e.g. {_EXAMPLE}")
        name = item.get("name")
        label = f"class {name!r}" if isinstance(name, str) and name else f"class {number}"
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"{label} has no name; give each class a name, e.g. name: chat")
        data = item.get("data")
        try:
            cls = TrafficClass.model_validate(
                {**item, "data": [data]} if isinstance(data, str) else item
            )
        except ValidationError as exc:
            error = exc.errors()[0]
            key = ".".join(str(p) for p in error.get("loc", ()) if not isinstance(p, int))
            if error.get("type") == "extra_forbidden":
                known = ", ".join(TrafficClass.model_fields)
                raise ValueError(f"{label}: unknown key {key!r}; a class takes {known}") from None
            raise ValueError(f"{label}: {key} {error.get('msg', 'is not valid').lower()}") from None
        if not [d for d in cls.data if d.strip()]:
            raise ValueError(
                f"{label} has no data; give it its own, e.g. "
                "data: 'prompt_tokens=128,output_tokens=64'"
            )
        for key in ("weight", "rate"):
            given = getattr(cls, key)
            if given is not None and not _number(given):
                raise ValueError(
                    f"{label}: {key} {given!r} must be a number above 0, e.g. {key}: 0.5"
                )
        if cls.weight is not None and cls.rate is not None:
            raise ValueError(f"{label} has a weight and a rate; give one of them")
        for key, limit in cls.slo.items():
            if key not in SLO_KEYS:
                raise ValueError(
                    f"{label}: unknown SLO {key!r}; a class's slo takes "
                    f"{', '.join(SLO_KEYS)}, e.g. slo: {{ttft_ms: 300}}"
                )
            if not _number(limit):
                raise ValueError(
                    f"{label}: slo {key}={limit!r} must be a positive number of milliseconds"
                )
        out.append(cls)
    names = [c.name for c in out]
    twice = next((n for n in names if names.count(n) > 1), None)
    if twice is not None:
        raise ValueError(f"two classes are named {twice!r}; give each class its own name")
    rated = [c.rate is not None for c in out]
    if any(rated) and not all(rated):
        raise ValueError(
            "some classes have a rate and some a weight; give every class a rate (they add up "
            "to the benchmark's rate) or every class a weight"
        )
    return out
