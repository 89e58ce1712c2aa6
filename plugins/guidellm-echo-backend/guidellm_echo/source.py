"""The ``words`` dataset source: prompts of an exact number of words, made for ``echo``."""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator, Mapping
from typing import Any

from guidellm import DatasetSource, UserError

__all__ = ["WordsSource"]

VOCABULARY = [
    "alpha",
    "bravo",
    "charlie",
    "delta",
    "echo",
    "foxtrot",
    "golf",
    "hotel",
    "india",
    "juliett",
    "kilo",
    "lima",
    "mike",
    "november",
    "oscar",
    "papa",
    "quebec",
    "romeo",
    "sierra",
    "tango",
    "uniform",
    "victor",
    "whiskey",
    "xray",
    "yankee",
    "zulu",
]


def _count(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise UserError(f"{what}={value!r}: needs a whole number >= 1, e.g. --data words:64")
    return value


class WordsSource(DatasetSource):
    """``--data words:N``: endless prompts of exactly N words (``samples=K`` for K of them).

    ``--data-args output_tokens=M`` asks for M output tokens per request. With the ``echo``
    backend a prompt of N words comes back as N chunks, so every length is known exactly.
    """

    name = "words"

    @classmethod
    def accepts(cls, spec: str, options: Mapping[str, Any]) -> bool:
        return spec.startswith("words:")

    def __init__(self, spec: str, options: Mapping[str, Any], *args: Any, **kwargs: Any) -> None:
        super().__init__(spec, options, *args, **kwargs)
        # Check everything now: bad input must fail before any load is sent.
        try:
            self.words = _count(int(spec.partition(":")[2]), "--data words:N")
        except ValueError:
            raise UserError(f"--data {spec!r}: write words:N, e.g. --data words:64") from None
        output = self.options.get("output_tokens")
        self.output = None if output is None else _count(output, "--data-args output_tokens")
        samples = self.options.get("samples")
        self.samples = None if samples is None else _count(samples, "--data-args samples")

    def rows(self) -> Iterator[dict[str, Any]]:
        rng = random.Random(self.seed)
        indices = itertools.count() if self.samples is None else range(self.samples)
        for _ in indices:
            row: dict[str, Any] = {"prompt": " ".join(rng.choices(VOCABULARY, k=self.words))}
            if self.output is not None:
                row["output_tokens_count"] = self.output
            yield row
