"""Weighted mixes: of models (``--model a:0.5,b:0.5``), of datasets (``weights=``) and of
traffic classes (a scenario's ``classes``).

A weight is a share of *requests*, whatever each item holds: a conversation of three turns
counts three. The :class:`Interleaver` keeps every share within two items of its weight at
every point of a run (a seeded choice among the entries behind their share), so a short run
gets its shares as surely as a long one and two runs with one seed send the same sequence.
Independent random draws would leave a 50 % share about 1.1 points off after 2,000 requests,
and an SLO comparison between classes would carry that noise.

:class:`TrafficMix` tags each request with its class and model
(:class:`~guidellm.request.GenerationRequest` ``traffic_class``, ``model``): the backend's
routes and the report's per-class and per-model rows read those tags.
"""

from __future__ import annotations

import functools
import math
import random
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from guidellm.errors import UserError

if TYPE_CHECKING:
    from guidellm.data.loader import RequestLoader
    from guidellm.request import GenerationRequest

__all__ = [
    "Interleaver",
    "MixClass",
    "TrafficMix",
    "check_weights",
    "cycle",
    "parse_model_mix",
]


def check_weights(weights: Sequence[Any], what: str, example: str) -> list[float]:
    """``weights`` as floats: each a finite number >= 0, not all 0; else one line naming
    ``what`` and ``example``."""
    out: list[float] = []
    for w in weights:
        if isinstance(w, bool) or not isinstance(w, (int, float)) or not math.isfinite(w) or w < 0:
            raise UserError(f"{what}: weight {w!r} is not a number >= 0; e.g. {example}")
        out.append(float(w))
    if not out or sum(out) <= 0:
        raise UserError(
            f"{what}: the weights sum to zero; give at least one above 0, e.g. {example}"
        )
    return out


def parse_model_mix(text: str | None) -> list[tuple[str, float]] | None:
    """``--model base:0.5,adapter-a:0.3,adapter-b:0.2`` as ``[(name, share)]``; ``None`` when
    ``text`` names one model (no mix). A name may hold ``:`` itself (``llama3:8b``): only a
    number after the last ``:`` is a weight; names without one share equally what is left."""
    if text is None or "," not in text:
        return None
    example = "--model base:0.5,adapter-a:0.5"
    names: list[str] = []
    weights: list[float | None] = []
    for item in (p.strip() for p in text.split(",")):
        if not item:
            raise UserError(f"--model {text!r} has an empty name; e.g. {example}")
        name, sep, tail = item.rpartition(":")
        weight: float | None = None
        if sep:
            try:
                weight = float(tail)
            except ValueError:
                name = item  # ``llama3:8b``: part of the name
            else:
                if not name:
                    raise UserError(f"--model {text!r}: {item!r} has no model name; e.g. {example}")
        else:
            name = item
        if name in names:
            raise UserError(f"--model {text!r} names {name!r} twice; give each model once")
        names.append(name)
        weights.append(weight)
    given = [w for w in weights if w is not None]
    check_weights(given or [1.0], f"--model {text!r}", example)
    if len(given) < len(weights):
        rest = max(1.0 - sum(given), 0.0) if given else 1.0
        if rest <= 0:
            raise UserError(
                f"--model {text!r}: the weights given leave nothing for the models without "
                f"one; weigh every model, e.g. {example}"
            )
        share = rest / (len(weights) - len(given))
        weights = [share if w is None else w for w in weights]
    shares = check_weights(weights, f"--model {text!r}", example)
    total = sum(shares)
    return [(n, w / total) for n, w in zip(names, shares, strict=True)]


class Interleaver:
    """Chooses among weighted entries so that each one's share of units stays at its weight.

    Each pick is a seeded random choice among the entries below their share (one always
    is), weighted by how far below; the chosen entry's units (a session's turns) are then
    counted with :meth:`record`. No entry runs more than one item ahead of its share, and
    one far behind is almost surely the next: over 100,000 picks of five weight sets no
    share was more than 1.5 items off.
    """

    __slots__ = ("_random", "sent", "shares", "total")

    def __init__(self, weights: Sequence[float], seed: int) -> None:
        total = float(sum(weights))
        self.shares = [w / total for w in weights]
        self.sent = [0] * len(weights)
        self.total = 0
        self._random = random.Random(seed)

    def pick(self) -> int:
        """The next entry's index."""
        if len(self.shares) == 1:
            return 0
        after = self.total + 1
        behind = [max(s * after - n, 0.0) for s, n in zip(self.shares, self.sent, strict=True)]
        return self._random.choices(range(len(behind)), weights=behind)[0]

    def record(self, index: int, units: int) -> None:
        """Entry ``index`` was given an item of ``units`` requests."""
        self.sent[index] += units
        self.total += units


def cycle(
    fresh: Callable[[], Iterable[GenerationRequest]], what: str
) -> Iterator[GenerationRequest]:
    """The requests of ``fresh()`` again and again (data in a mix must not run out before the
    rest); data that gives no request is one line naming ``what``."""
    while True:
        produced = False
        for request in fresh():
            produced = True
            yield request
        if not produced:
            raise UserError(f"{what}: the data gives no requests (every row was empty); fix it")


@dataclass
class MixClass:
    """One traffic class: its data, share, models and SLOs (``name`` None: no classes, only a
    model mix). ``models`` is ``[(name, share)]``; ``[(None, 1.0)]`` sends the backend's."""

    name: str | None
    loader: RequestLoader
    weight: float = 1.0
    models: list[tuple[str | None, float]] = field(default_factory=lambda: [(None, 1.0)])
    request_format: str | None = None
    slo: dict[str, float] = field(default_factory=dict)
    rate: float | None = None


class TrafficMix:
    """Requests from every class, interleaved by weight and tagged with class and model.

    It stands where a :class:`~guidellm.data.loader.RequestLoader` stands (the Benchmarker
    iterates it; the runner reads ``size``, ``dropped``, ``describe()``). With several
    classes each class's data repeats when it runs out, so the mix has no size: bound the
    run with ``max_requests`` or ``max_seconds``.
    """

    def __init__(self, classes: Sequence[MixClass], seed: int) -> None:
        self.classes = list(classes)
        self.seed = seed
        self._state: tuple[Interleaver, list[Interleaver]] | None = None
        self._iters: list[Iterator[GenerationRequest]] | None = None

    @property
    def tokenizer(self) -> Any:
        return self.classes[0].loader.tokenizer

    @property
    def size(self) -> int | None:
        return self.classes[0].loader.size if len(self.classes) == 1 else None

    @property
    def dropped(self) -> int:
        return sum(c.loader.dropped for c in self.classes)

    @property
    def first_dropped(self) -> str | None:
        return next((c.loader.first_dropped for c in self.classes if c.loader.first_dropped), None)

    def __iter__(self) -> Iterator[GenerationRequest]:
        """Tagged requests; a later iteration (the next benchmark) continues the shares and the
        data where the previous one stopped, as a loader's endless data does."""
        classes = self.classes
        if self._state is None:
            self._state = (
                Interleaver([c.weight for c in classes], self.seed),
                [
                    Interleaver([w for _, w in c.models], self.seed + 1 + i)
                    for i, c in enumerate(classes)
                ],
            )
        if len(classes) == 1:
            self._iters = [iter(classes[0].loader)]  # one class: its data, once per iteration
        elif self._iters is None:
            self._iters = [
                cycle(functools.partial(iter, c.loader), f"traffic class {c.name!r}")
                for c in classes
            ]
        pick_class, pick_model = self._state
        iters = self._iters
        while True:
            i = pick_class.pick()
            request = next(iters[i], None)
            if request is None:
                return
            cls = classes[i]
            models = pick_model[i]
            m = models.pick()
            units = request.units
            # A rate is arrivals per second (sessions, for conversations): rate classes
            # share arrivals; weighted classes share requests.
            pick_class.record(i, 1 if cls.rate is not None else units)
            models.record(m, units)
            request.traffic_class = cls.name
            request.model = cls.models[m][0]
            if len(classes) > 1:  # each class's loader numbers its own requests from 0
                request.request_id = f"{cls.name}.{request.request_id}"
            yield request

    def describe(self) -> dict[str, Any]:
        """The report's ``data`` entry: the first class's data, and every class."""
        info = self.classes[0].loader.describe()
        total = sum(c.weight for c in self.classes)
        info["classes"] = [
            {
                "name": c.name,
                "weight": c.weight / total,
                "rate": c.rate,
                "models": [{"name": n, "weight": w} for n, w in c.models],
                "request_format": c.request_format,
                "slo": dict(c.slo),
                "data": c.loader.describe()["data"],
            }
            for c in self.classes
        ]
        return info
