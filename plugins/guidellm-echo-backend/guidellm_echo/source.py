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
    """``--data words:N``: endless prompts of exactly N words (``--data-args samples=K``: K).

    guidellm's own ``--data-args output_tokens=M`` sets every request's output length. With the
    ``echo`` backend a prompt of N words comes back as N chunks, so every length is known.
    """

    name = "words"

    @classmethod
    def accepts(cls, spec: str, options: Mapping[str, Any]) -> bool:
        return spec.startswith("words:")

    def validate(self) -> None:
        # Called once before any load is sent: bad input fails here, not mid-run.
        try:
            self.words = _count(int(self.spec.partition(":")[2]), "--data words:N")
        except ValueError:
            raise UserError(f"--data {self.spec!r}: write words:N, e.g. --data words:64") from None
        samples = self.options.get("samples")
        self.samples = None if samples is None else _count(samples, "--data-args samples")

    @property
    def size(self) -> int | None:
        self.validate()
        return self.samples

    def columns(self) -> list[str]:
        return ["prompt"]

    def rows(self) -> Iterator[dict[str, Any]]:
        self.validate()
        rng = random.Random(self.seed)
        indices = itertools.count() if self.samples is None else range(self.samples)
        for _ in indices:
            yield {"prompt": " ".join(rng.choices(VOCABULARY, k=self.words))}
