"""The RequestLoader: ``--data`` specs in, a lazy stream of GenerationRequests out.

It runs in the parent process. Everything that can be wrong with the data (a missing file, an
unreadable format, no text column, an unknown tokenizer, a bad synthetic key) is found when the
loader is built, so a mistake costs the user one clear line and never a request to the server.
Iteration is cheap: per request it maps one row through a mapper prepared in advance.

``data_args`` (``--data-args``) keys used here; the rest go to the sources (``split``,
``subset``, load options):

* ``source``: the dataset source to use instead of guessing from each spec;
* ``column_mapping``: role -> column overrides (see :mod:`guidellm.data.columns`);
* ``max_tokens`` (alias ``output_tokens``): output length for rows that carry none;
* ``count_prompt_tokens``: count prompts that carry no token count with the tokenizer
  (exact but about 1 ms per 1,000 tokens; off by default, ``guidellm preprocess dataset``
  stores counts once instead);
* ``ignore_eos``: add ``{"ignore_eos": true}`` to every request's ``extra_body`` so that
  servers that understand it (vLLM, llama.cpp) generate the asked length;
* ``history`` (``live`` or ``recorded``), ``think_time_ms`` and ``tool_latency_ms``: how
  conversation rows of several turns are replayed as sessions
  (:mod:`guidellm.data.conversations`). Conversations of finite data are all checked here;
* ``weights``: one weight per ``--data`` (``weights=0.8,0.2``): requests are interleaved from
  the sources in those shares (:class:`~guidellm.data.mix.Interleaver`) instead of source
  after source, each source repeating when it runs out.
"""

from __future__ import annotations

import functools
import itertools
import secrets
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from guidellm.data.audio import audio_clips
from guidellm.data.base import DatasetSource
from guidellm.data.columns import ROLES, ColumnMap, make_row_mapper, resolve_columns
from guidellm.data.conversations import (
    HISTORY_MODES,
    ConversationError,
    SessionSettings,
    check_rows,
)
from guidellm.data.images import ImageError, check_media_column
from guidellm.data.mix import Interleaver, check_weights, cycle
from guidellm.data.tokenizers import Tokenizer, load_tokenizer
from guidellm.errors import UserError

if TYPE_CHECKING:
    from guidellm.plugins import PluginHost
    from guidellm.request import GenerationRequest

__all__ = ["LOADER_KEYS", "RequestLoader"]

LOADER_KEYS = (
    "source",
    "column_mapping",
    "max_tokens",
    "output_tokens",
    "count_prompt_tokens",
    "strict",
    "ignore_eos",
    "history",
    "think_time_ms",
    "tool_latency_ms",
    "bad_conversations",
    "weights",
)

_EXAMPLE = "--data prompt_tokens=256,output_tokens=128"


class RequestLoader:
    """Turns ``--data`` specs into requests; see the module docstring for ``data_args``.

    ``host`` supplies the dataset sources. It is required: the caller (the composition root,
    the CLI, a test) chooses the plugins, never the data layer (docs/architecture.md, Layers).
    """

    def __init__(
        self,
        data: Sequence[str],
        data_args: Mapping[str, Any],
        *,
        processor: str | None,
        random_seed: int,
        host: PluginHost,
        timed: bool = False,
        tokenizer: Tokenizer | None = None,
    ) -> None:
        if isinstance(data, str):
            data = [data]
        self.data = [str(d) for d in data if str(d).strip()]
        if not self.data:
            raise UserError(f"no --data given; pass a file, a dataset id or e.g. {_EXAMPLE}")
        self.data_args = dict(data_args)
        self.processor = processor
        self.random_seed = random_seed
        #: The run sends requests at the data's own times (``replay``): sources may read a
        #: file with a time column as a trace (see ``DatasetSource.accepts``).
        self.timed = timed
        # A tokenizer already loaded for ``processor`` (another class's loader) is reused.
        self.tokenizer: Tokenizer | None = tokenizer or load_tokenizer(processor)
        override = self.data_args.get("column_mapping")
        if override is not None and not isinstance(override, Mapping):
            raise UserError(
                "--data-args column_mapping must be a JSON object, e.g. "
                'column_mapping=\'{"prompt": "question"}\''
            )
        self._override: Mapping[str, Any] | None = override
        source_options = {k: v for k, v in self.data_args.items() if k not in LOADER_KEYS}
        self.sources: list[DatasetSource] = [
            self._make_source(spec, source_options, host) for spec in self.data
        ]
        self._columns: list[ColumnMap] = []
        self._mappers: list[Callable[[Mapping[str, Any], str], GenerationRequest | None]] = []
        self._ids = itertools.count()
        #: Rows with no usable prompt or messages, skipped so far (all iterations), and
        #: where the first was: a run reports them instead of losing them without a word.
        self.dropped = 0
        #: Session ids reach servers (a header, the ``user`` field): a prefix of this run's
        #: own keeps them apart from another run's or another client's sessions.
        self.session_prefix = f"{secrets.token_hex(4)}-"
        self.first_dropped: str | None = None
        self._weights: list[float] | None = None
        self._mixed: tuple[Interleaver, list[Iterator[GenerationRequest]]] | None = None
        self._validated = False
        self.validate()

    def _make_source(
        self, spec: str, options: Mapping[str, Any], host: PluginHost
    ) -> DatasetSource:
        registry = host.dataset_sources
        name = self.data_args.get("source")
        if name is not None:
            cls = registry.get(str(name))
        else:
            found = sorted(
                (registry.get(n) for n in registry.names()),
                key=lambda c: -getattr(c, "priority", 0),
            )
            asked = {**options, "timed": self.timed}
            chosen = next((c for c in found if c.accepts(spec, asked)), None)
            if chosen is None:
                raise UserError(
                    f"--data {spec!r} is not an existing file or folder, a Hugging Face dataset "
                    f"id, nor a synthetic spec; check the path or use e.g. {_EXAMPLE}"
                )
            cls = chosen
        source = cls(spec, options, self.tokenizer, self.random_seed)
        source.column_mapping = self._override
        return source

    def validate(self) -> None:
        """Open every source and resolve its columns; raises :class:`UserError` on bad data.

        Called by the constructor; calling it again does nothing.
        """
        if self._validated:
            return
        bad = self.data_args.get("bad_conversations", "error")
        if bad not in ("error", "skip"):
            raise UserError(
                f"--data-args bad_conversations={bad!r} must be error (stop with the row) or "
                "skip (leave such rows out, counted)"
            )
        self._skip_bad = bad == "skip"
        max_tokens = self.data_args.get("max_tokens", self.data_args.get("output_tokens"))
        if max_tokens is not None and (
            isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1
        ):
            raise UserError(f"--data-args max_tokens={max_tokens!r} must be a positive integer")
        ignore_eos = self.data_args.get("ignore_eos", False)
        if not isinstance(ignore_eos, bool):
            raise UserError(f"--data-args ignore_eos={ignore_eos!r} must be true or false")
        extra_body = {"ignore_eos": True} if ignore_eos else None
        count = render = None
        if self.data_args.get("count_prompt_tokens") and self.tokenizer is not None:
            count, render = self.tokenizer.count, self.tokenizer.apply_chat_template
        sessions = self._session_settings(max_tokens, count)
        for spec, source in zip(self.data, self.sources, strict=True):
            source.validate()
            if (
                source.name == "synthetic"
                and source.size is None
                and source is not self.sources[-1]
                and self.data_args.get("weights") is None
            ):
                raise UserError(
                    f"--data {spec!r} is endless, so the --data after it would never be used; "
                    "add samples=N to it, put it last, or mix them with --data-args weights="
                )
            columns = self._resolve(spec, source)
            self._columns.append(columns)
            self._mappers.append(
                make_row_mapper(
                    columns,
                    max_tokens=max_tokens,
                    count=count,
                    render=render,
                    extra_body=extra_body,
                    sessions=sessions,
                )
            )
            if columns.messages is not None and source.size is not None and not self._skip_bad:
                check_rows(source.rows(), columns.messages, columns.tools, spec)
            if columns.image is not None and source.size is not None and source.name != "synthetic":
                check_media_column(source.rows(), columns.image, spec)
            if columns.audio is not None and source.size is not None and source.name != "synthetic":
                check_media_column(source.rows(), columns.audio, spec, audio_clips)
        strict = self.data_args.get("strict", False)
        if not isinstance(strict, bool):
            raise UserError(f"--data-args strict={strict!r} must be true or false")
        if strict:
            self._check_every_row()
        self._weights = self._check_weights()
        self._validated = True

    def _check_weights(self) -> list[float] | None:
        """``weights``: one number >= 0 per ``--data``, not all 0."""
        weights = self.data_args.get("weights")
        if weights is None:
            return None
        example = "--data A --data B --data-args weights=0.8,0.2"
        if not isinstance(weights, list):
            weights = [weights]
        if len(weights) != len(self.data):
            raise UserError(
                f"--data-args weights has {len(weights)} weight(s) for {len(self.data)} --data; "
                f"give one per --data, in their order, e.g. {example}"
            )
        return check_weights(weights, "--data-args weights", example)

    def _session_settings(
        self, max_tokens: int | None, count: Callable[[str], int] | None
    ) -> SessionSettings:
        """``history``, ``think_time_ms`` and ``tool_latency_ms``, checked."""
        history = self.data_args.get("history", "live")
        if history not in HISTORY_MODES:
            raise UserError(
                f"--data-args history={history!r} is not a history mode; use "
                f"{' or '.join(f'history={m}' for m in HISTORY_MODES)}"
            )
        seconds = {}
        for key in ("think_time_ms", "tool_latency_ms"):
            value = self.data_args.get(key, 0)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise UserError(
                    f"--data-args {key}={value!r} must be a non-negative number of "
                    f"milliseconds, e.g. {key}=2000"
                )
            seconds[key] = float(value) / 1000
        return SessionSettings(
            max_tokens=max_tokens,
            think_time=seconds["think_time_ms"],
            tool_latency=seconds["tool_latency_ms"],
            recorded=history == "recorded",
            count=count,
        )

    def _check_every_row(self) -> None:
        """``strict=true``: every row must make a request, checked before the run."""
        for spec, source, mapper in zip(self.data, self.sources, self._mappers, strict=True):
            if source.size is None:
                raise UserError(
                    f"--data-args strict=true reads every row before the run, and --data "
                    f"{spec!r} has no known size (endless or streamed); drop strict=true"
                )
            for number, row in enumerate(source.rows(), 1):
                try:
                    request = mapper(row, "check")
                except (ConversationError, ImageError) as exc:
                    raise exc.at(spec, number) from None
                if request is None:
                    raise UserError(
                        f"--data {spec!r}: row {number} has no usable prompt or messages "
                        "(empty or null); fix the row, or drop --data-args strict=true to "
                        "skip such rows (they are counted in the report)"
                    )

    def _resolve(self, spec: str, source: DatasetSource) -> ColumnMap:
        names = source.columns()
        if names is None:
            first = next(iter(source.rows()), None)
            if first is None:
                raise UserError(f"--data {spec!r} has no rows; check the file or the split")
            names = list(first)
        override = None if source.normalized_rows else self._override
        if not source.normalized_rows and not override:
            from guidellm.data.trace_formats import detect_format

            fmt = detect_format(names)
            has_text = any(n.lower() in ROLES["prompt"] + ROLES["messages"] for n in names)
            if fmt is not None and not has_text:
                raise UserError(
                    f"--data {spec!r} has no text but looks like a {fmt} trace; read it as one "
                    f"with --data-args format={fmt}"
                )
        return resolve_columns(names, override, f"--data {spec!r}")

    @property
    def has_images(self) -> bool:
        """Whether any source has an image column (synthetic ``images=N`` has one)."""
        return any(c.image is not None for c in self._columns)

    @property
    def has_audio(self) -> bool:
        """Whether any source has an audio column (synthetic ``audio=N`` has one)."""
        return any(c.audio is not None for c in self._columns)

    @property
    def size(self) -> int | None:
        """Rows in the whole (finite) data; ``None`` when any source is endless or unsized,
        or when ``weights`` interleave the sources (each repeats)."""
        if self._weights is not None and len(self.data) > 1:
            return None
        total = 0
        for source in self.sources:
            size = source.size
            if size is None:
                return None
            total += size
        return total

    def __iter__(self) -> Iterator[GenerationRequest]:
        """Requests, lazily, source after source (or interleaved by ``weights``). Request ids
        never repeat within a loader; endless synthetic data continues where the previous
        iteration stopped, and so do weighted sources."""
        if self._weights is None or len(self.sources) == 1:
            for index in range(len(self.sources)):
                yield from self._from_source(index)
            return
        if self._mixed is None:
            iters = [
                cycle(functools.partial(self._from_source, i), f"--data {self.data[i]!r}")
                for i in range(len(self.sources))
            ]
            self._mixed = (Interleaver(self._weights, self.random_seed), iters)
        picker, iters = self._mixed
        while True:
            index = picker.pick()
            request = next(iters[index])
            picker.record(index, request.units)
            yield request

    def _from_source(self, index: int) -> Iterator[GenerationRequest]:
        """One pass over source ``index``'s rows as requests."""
        ids = self._ids
        spec, source, mapper = self.data[index], self.sources[index], self._mappers[index]
        for number, row in enumerate(source.rows(), 1):
            try:
                request = mapper(row, str(next(ids)))
            except ImageError as exc:  # streamed data (audio too): not checked ahead
                raise exc.at(spec, number) from None
            except ConversationError as exc:  # streamed data: not checked ahead
                if not self._skip_bad:
                    raise exc.at(spec, number) from None
                request = None
            if request is not None:
                if request.session_id is not None:
                    request.session_id = self.session_prefix + request.session_id
                yield request
            else:
                self.dropped += 1
                if self.first_dropped is None:
                    self.first_dropped = f"row {number} of {spec}"

    def describe(self) -> dict[str, Any]:
        """For the report: the sources, the tokenizer and how prompt token counts are known."""
        tok = self.tokenizer
        synthetic = [s for s in self.sources if s.name in ("synthetic", "trace")]
        if tok is not None and tok.exact:
            counts = "exact"
        elif synthetic:
            counts = "approximate"
        else:
            counts = "from dataset columns"
        traces = [s.describe() for s in self.sources if s.name == "trace"]
        return {
            "data": list(self.data),
            "sources": [s.describe() for s in self.sources],
            "trace": traces[0] if traces else None,
            "columns": [c.as_dict() for c in self._columns],
            "tokenizer": tok.describe() if tok is not None else None,
            "prompt_tokens": counts,
            "prompt_tokens_approximate": counts == "approximate",
            "size": self.size,
            "weights": self._weights,
        }
