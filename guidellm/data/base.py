"""The DatasetSource contract: turn one ``--data`` spec into rows."""

from __future__ import annotations

import abc
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from guidellm.data.tokenizers import Tokenizer

__all__ = ["DatasetSource"]


class DatasetSource(abc.ABC):
    """A DatasetCreator: produces rows (plain dicts) from a ``--data`` spec.

    Runs in the parent process. The RequestLoader maps each row's columns (``prompt``,
    ``messages``, ``output_tokens_count`` ...) to a :class:`~guidellm.request.GenerationRequest`,
    so a source only has to yield dicts. A spec that cannot be read raises a
    :class:`~guidellm.errors.UserError` naming the fix *before* any load is sent.
    """

    #: The name users pass as ``--data-args source=NAME`` (and that ``plugins`` lists).
    name: ClassVar[str]
    #: When the loader guesses a source from a spec, higher priorities are asked first (a
    #: trace file is also a file, so the ``trace`` source goes before ``files``).
    priority: ClassVar[int] = 0
    #: Whether ``rows()`` already uses the standard column names (``prompt``,
    #: ``prompt_tokens_count`` ...): the source applied ``column_mapping`` itself, and the
    #: loader does not apply it again.
    normalized_rows: ClassVar[bool] = False

    @classmethod
    @abc.abstractmethod
    def accepts(cls, spec: str, options: Mapping[str, Any]) -> bool:
        """Whether ``spec`` looks like this source's input (a path, an id, ``k=v`` pairs).

        ``options`` are the source options plus ``timed`` (bool, from the RequestLoader):
        whether the run sends requests at the data's own times (the ``replay`` profile).
        """

    def __init__(
        self,
        spec: str,
        options: Mapping[str, Any],
        tokenizer: Tokenizer | None = None,
        seed: int = 42,
    ) -> None:
        self.spec = spec
        self.options = dict(options)
        self.tokenizer = tokenizer
        self.seed = seed
        #: The user's ``column_mapping`` (set by the loader), for sources that map columns.
        self.column_mapping: Mapping[str, Any] | None = None

    @abc.abstractmethod
    def rows(self) -> Iterable[dict[str, Any]]:
        """The rows, lazily; may be endless (synthetic data without ``samples``)."""

    def validate(self) -> None:
        """Open the data and raise a :class:`~guidellm.errors.UserError` naming the fix when it
        cannot be used. The RequestLoader calls it once, before any load is sent; the default
        does nothing (``rows()`` is then the first to notice a problem)."""
        return None

    @property
    def size(self) -> int | None:
        """The number of rows of a finite dataset, ``None`` when unknown or endless."""
        return None

    def columns(self) -> list[str] | None:
        """The dataset's column names when known without reading rows (``None``: peek a row)."""
        return None

    def describe(self) -> dict[str, Any]:
        """This source's settings for the report."""
        return {"type": self.name, "spec": self.spec, **self.options}
