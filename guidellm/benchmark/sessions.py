"""Conversations: session accounting, the per-turn-index breakdown and the prompt cache.

Every turn of a session is an ordinary request in the benchmark's metrics; this module adds
what only sessions have (docs/metrics.md, "Sessions and turns"):

- :class:`SessionTracker` numbers the sessions and keeps, per session result, its session,
  row, turn, plan and kind in small integer columns (O(1) per session result; nothing at
  all for a result outside a session), so the turns can be cut by the measured window and
  the sessions counted with a few vectorised passes at compile;
- :func:`session_summary` counts sessions over *every* result of the benchmark (not
  windowed, so that ``started = completed + cut_short`` and ``turns_sent + turns_not_sent =
  turns_planned`` hold);
- :func:`turn_rows` summarises each turn index (user and tool turns apart) over the
  measured window, exactly, from the benchmark's sorted samples (nothing re-sorted);
- :func:`prompt_cache` sums the window's cached prompt tokens (kept sparse by the
  aggregator: a server that reports none costs nothing) into ratios.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from guidellm.benchmark.sorted_sample import SortedRuns
from guidellm.benchmark.spill import SpillArray
from guidellm.benchmark.statistics import STATUS_NAMES, summarize, summarize_runs

if TYPE_CHECKING:
    from numpy.typing import NDArray

    from guidellm.benchmark.sorted_sample import SortedSample
    from guidellm.request import RequestResult

__all__ = [
    "MAX_TURN_ROWS",
    "SessionTracker",
    "SparseColumns",
    "prompt_cache",
    "session_summary",
    "turn_rows",
]

#: Turn indices shown one per row; later turns are folded into one ``>= MAX_TURN_ROWS`` row.
MAX_TURN_ROWS = 32
_TOOL = "tool"
#: A row's latency metrics (per turn, per traffic class...): report key -> the benchmark's
#: sorted sample it is read from; each is reported as ``<key>_p50``, ``_p90``, ``_p99``.
ROW_LATENCIES = {
    "ttft_ms": "time_to_first_token_ms",
    "itl_ms": "inter_token_latency_ms",
    "latency_s": "request_latency",
}


def row_percentiles(summaries: Mapping[str, Mapping[str, Any]]) -> dict[str, float | None]:
    """``{"ttft_ms_p50": ..., ...}`` from each :data:`ROW_LATENCIES` key's summary."""
    out: dict[str, float | None] = {}
    for key in ROW_LATENCIES:
        summary = summaries[key]
        for q in ("p50", "p90", "p99"):
            out[f"{key}_{q}"] = summary["percentiles"][q] if summary["count"] else None
    return out


class SparseColumns:
    """Integer columns of the few rows that have some fact: appended to as plain lists in
    ``add()``, moved into arrays with the aggregator's blocks (:meth:`prepare`), so that
    compiling converts nothing per request."""

    __slots__ = ("_columns", "lists")

    def __init__(self, width: int) -> None:
        self.lists: tuple[list[int], ...] = tuple([] for _ in range(width))
        self._columns = tuple(SpillArray(np.int64) for _ in range(width))

    def prepare(self) -> None:
        if self.lists[0]:
            for column, values in zip(self._columns, self.lists, strict=True):
                column.append(np.array(values, dtype=np.int64))
                values.clear()

    def columns(self) -> NDArray[np.int64]:
        """Every row so far, as a ``(width, rows)`` array."""
        self.prepare()
        return np.stack([column.view() for column in self._columns])


class SessionTracker:
    """Each session result's session number, row, turn, planned turns and kind, filled by
    the aggregator's ``add()`` (a dictionary lookup and five appends per session result).

    Only sessions still going keep their id here: a session's last result (``session_end``)
    lets it go, so a long run of many conversations does not grow the parent's memory."""

    __slots__ = ("_cols", "_count", "_ids")

    def __init__(self) -> None:
        self._ids: dict[str, int] = {}
        self._count = 0
        self._cols = SparseColumns(5)

    def __len__(self) -> int:
        """Sessions seen."""
        return self._count

    def add(self, result: RequestResult, sid: str, row: int) -> None:
        """One turn of session ``sid``, on the aggregator's row ``row``."""
        ids = self._ids
        idx = ids.get(sid)
        if idx is None:
            idx = ids[sid] = self._count
            self._count += 1
        if result.session_end:
            del ids[sid]
        number, rows, turns, planned, tool = self._cols.lists
        number.append(idx)
        rows.append(row)
        turns.append(result.turn)
        planned.append(result.session_turns)
        tool.append(result.turn_kind == _TOOL)

    def prepare(self) -> None:
        self._cols.prepare()

    def columns(self) -> NDArray[np.int64]:
        """``[session number, row, turn, planned turns, tool]`` of every session result."""
        return self._cols.columns()


def session_summary(
    tracker: SessionTracker, cols: Mapping[str, NDArray[Any]], duration: float
) -> dict[str, Any] | None:
    """The report's ``sessions`` block (``None`` without session results), over every row.

    A session is completed when every planned turn came back successful; otherwise it was
    cut short: by an error when a turn errored, else stopped by the benchmark (a cancelled
    turn, or turns never sent). A session's plan is at least the results it has, so turns
    not sent are never negative.
    """
    n = len(tracker)
    if not n:
        return None
    number, rows, _, planned, tool = tracker.columns()
    status = cols["status"][rows]
    sent = np.bincount(number, minlength=n)
    by_status = np.bincount(number * 3 + status, minlength=3 * n).reshape(n, 3)
    plan = np.zeros(n, dtype=np.int64)
    np.maximum.at(plan, number, planned)
    plan = np.maximum(plan, sent)
    errored = by_status[:, 1] > 0
    completed = (by_status[:, 0] >= plan) & ~errored & (by_status[:, 2] == 0)
    first = np.full(n, np.inf)
    np.minimum.at(first, number, cols["start"][rows])
    last = np.full(n, -np.inf)
    np.maximum.at(last, number, cols["end"][rows])
    n_completed = int(completed.sum())
    n_error = int(errored.sum())
    turns_planned = int(plan.sum())
    turns_sent = int(sent.sum())
    dur = summarize(last[completed] - first[completed], ci=False)
    pct = dur["percentiles"]
    return {
        "started": n,
        "completed": n_completed,
        "cut_short": n - n_completed,
        "ended_by_error": n_error,
        "stopped": n - n_completed - n_error,
        "turns_planned": turns_planned,
        "turns_sent": turns_sent,
        "turns_not_sent": turns_planned - turns_sent,
        "tool_turns": int(tool.sum()),
        "turns_per_session_mean": turns_sent / n,
        "started_per_second": n / duration if duration > 0 else 0.0,
        "completed_per_second": n_completed / duration if duration > 0 else 0.0,
        "duration_s_mean": dur["mean"],
        "duration_s_p50": pct["p50"],
        "duration_s_p90": pct["p90"],
        "duration_s_p99": pct["p99"],
    }


def _ratio(cached: float, prompt: float) -> float | None:
    return cached / prompt if prompt > 0 else None


def _window(
    cached: NDArray[np.int64], mask: NDArray[np.bool_] | None
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Rows and cached counts of ``cached`` (a :class:`SparseColumns`' columns) in the
    window."""
    rows, values = cached[0], cached[1]
    if mask is not None and len(rows):
        inside = mask[rows]
        rows, values = rows[inside], values[inside]
    return rows, values


def prompt_cache(
    cached: NDArray[np.int64],
    cols: Mapping[str, NDArray[Any]],
    mask: NDArray[np.bool_] | None,
) -> dict[str, Any] | None:
    """The report's ``prompt_cache`` block: ``cached`` holds the rows whose server said how
    many prompt tokens it cached, and those counts (the aggregator keeps them sparse); only
    the window's rows (``mask``) count. ``None``: no row of the window said."""
    rows, values = _window(cached, mask)
    if not len(rows):
        return None
    status = cols["status"][rows]
    reported = np.bincount(status, minlength=3)
    tokens = np.bincount(status, weights=values, minlength=3)
    prompt = np.bincount(status, weights=np.nan_to_num(cols["prompt_tokens"][rows]), minlength=3)
    out: dict[str, Any] = {}
    for code, name in enumerate((*STATUS_NAMES, "total")):
        every = slice(None) if code == 3 else code
        c, p = float(np.sum(tokens[every])), float(np.sum(prompt[every]))
        out[name] = {
            "cached_tokens": int(c),
            "prompt_tokens": int(p),
            "reported": int(np.sum(reported[every])),
            "hit_ratio": _ratio(c, p),
        }
    return out


def _grouped(sample: SortedSample, group: NDArray[np.int16], n: int) -> list[SortedRuns]:
    """One sorted sample per group ``0 .. n-1`` of a successful requests' sample, ``group``
    giving each row's (-1: none). A stable radix sort by group keeps each group's values in
    order, so nothing is sorted by value."""
    pieces = []
    for values, weights, rows in (
        (sample.values, sample.weights, sample.rows),
        (sample.tail_values, sample.tail_weights, sample.tail_rows),
    ):
        key = group[rows]
        order = np.argsort(key, kind="stable")
        bounds = np.searchsorted(key[order], np.arange(n + 1)).tolist()
        pieces.append((values[order], None if weights is None else weights[order], bounds))
    (a, aw, ab), (b, bw, bb) = pieces
    return [
        SortedRuns(
            a[ab[g] : ab[g + 1]],
            None if aw is None else aw[ab[g] : ab[g + 1]],
            None,
            b[bb[g] : bb[g + 1]],
            None if bw is None else bw[bb[g] : bb[g + 1]],
        )
        for g in range(n)
    ]


def turn_rows(
    tracker: SessionTracker,
    cols: Mapping[str, NDArray[Any]],
    mask: NDArray[np.bool_] | None,
    cached: NDArray[np.int64],
    samples: Mapping[str, tuple[SortedSample, ...]],
) -> list[dict[str, Any]] | None:
    """One row per (turn index, kind) of the session results in the window (``mask`` over
    every row; ``None``: all); ``None`` without session results.

    Counts are by status; timings and token statistics are the successful requests', read
    off the benchmark's sorted samples (exact; ITL weighted by output tokens - 1); the cache
    hit ratio is over the successful requests that reported cached tokens.
    """
    if not len(tracker):
        return None
    _, rows, turns, _, tool = tracker.columns()
    if mask is not None:
        inside = mask[rows]
        rows, turns, tool = rows[inside], turns[inside], tool[inside]
    if not len(rows):
        return []
    key = np.clip(turns, 1, MAX_TURN_ROWS) * 2 + tool
    present = np.unique(key)
    # Dense group numbers (0 .. len(present) - 1) in (turn, user before tool) order.
    group_of_key = np.full(2 * MAX_TURN_ROWS + 2, -1, dtype=np.int16)
    group_of_key[present] = np.arange(len(present), dtype=np.int16)
    group = np.full(len(cols["status"]), -1, dtype=np.int16)
    group[rows] = group_of_key[key]
    n = len(present)
    status = cols["status"][rows]
    g = group[rows].astype(np.int64)
    counts = np.bincount(g * 3 + status, minlength=3 * n).reshape(n, 3)
    # Cached tokens of the successful session rows of the window that reported them.
    c_rows, c_values = _window(cached, mask)
    c_group = group[c_rows].astype(np.int64)
    said = (c_group >= 0) & (cols["status"][c_rows] == 0)
    c_group, c_rows, c_values = c_group[said], c_rows[said], c_values[said]
    c_sum = np.bincount(c_group, weights=c_values, minlength=n)
    c_prompt = np.bincount(
        c_group, weights=np.nan_to_num(cols["prompt_tokens"][c_rows]), minlength=n
    )
    c_count = np.bincount(c_group, minlength=n)
    stats = {
        name: [summarize_runs(r, ci=False) for r in _grouped(samples[sample][0], group, n)]
        for name, sample in {
            **ROW_LATENCIES,
            "prompt_tokens": "prompt_token_count",
            "output_tokens": "output_token_count",
        }.items()
    }
    out: list[dict[str, Any]] = []
    for i, k in enumerate(present.tolist()):
        row: dict[str, Any] = {
            "turn": k // 2,
            "kind": _TOOL if k % 2 else "user",
            "and_later": k // 2 == MAX_TURN_ROWS,
            "successful": int(counts[i, 0]),
            "errored": int(counts[i, 1]),
            "incomplete": int(counts[i, 2]),
        }
        row.update(row_percentiles({name: stats[name][i] for name in ROW_LATENCIES}))
        for name in ("prompt_tokens", "output_tokens"):
            row[f"{name}_median"] = stats[name][i]["median"]
            row[f"{name}_mean"] = stats[name][i]["mean"]
        row["cached_tokens"] = int(c_sum[i])
        row["cache_hit_ratio"] = _ratio(c_sum[i], c_prompt[i]) if c_count[i] else None
        out.append(row)
    return out
