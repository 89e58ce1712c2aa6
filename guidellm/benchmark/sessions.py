"""Conversations: session accounting, the per-turn-index breakdown and the prompt cache.

Every turn of a session is an ordinary request in the benchmark's metrics; this module adds
what only sessions have (docs/metrics.md, "Sessions and turns"):

- :class:`SessionTracker` keeps one small record per ``session_id`` while results arrive
  (O(1) per session result; nothing at all for a result outside a session) and the row each
  session result landed on, so the turns can be cut by the measured window at compile;
- :func:`session_summary` counts sessions over *every* result of the benchmark (not
  windowed, so that ``started = completed + cut_short`` and ``turns_sent + turns_not_sent =
  turns_planned`` hold);
- :func:`turn_rows` summarises each turn index (user and tool turns apart) over the
  measured window, exactly (values sorted per group, :func:`summarize`);
- :func:`prompt_cache` sums the window's cached prompt tokens (kept sparse by the
  aggregator: a server that reports none costs nothing) into ratios.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from guidellm.benchmark.statistics import STATUS_NAMES, summarize

if TYPE_CHECKING:
    from numpy.typing import NDArray

    from guidellm.request import RequestResult

__all__ = [
    "MAX_TURN_ROWS",
    "SessionTracker",
    "prompt_cache",
    "session_summary",
    "turn_rows",
]

#: Turn indices shown one per row; later turns are folded into one ``>= MAX_TURN_ROWS`` row.
MAX_TURN_ROWS = 32
_TOOL = "tool"
# Fields of a session's record (a list: cheaper to update than an object).
_FIRST, _LAST, _PLANNED, _SENT, _OK, _ERR, _INC = range(7)


class SessionTracker:
    """Per-session records and per-turn row numbers, filled by the aggregator's ``add()``."""

    __slots__ = ("_rows", "_tool", "_turns", "sessions")

    def __init__(self) -> None:
        #: ``session_id`` -> [first start, last end, planned, sent, ok, errored, incomplete].
        self.sessions: dict[str, list[float]] = {}
        self._rows: list[int] = []
        self._turns: list[int] = []
        self._tool: list[bool] = []

    def __len__(self) -> int:
        """Session results seen."""
        return len(self._rows)

    def add(self, result: RequestResult, sid: str, code: int, row: int) -> None:
        """One turn of session ``sid``: status ``code`` (0 ok, 1 errored, 2 incomplete) on
        the aggregator's row ``row``."""
        rec = self.sessions.get(sid)
        start, end = result.request_start, result.request_end
        if rec is None:
            rec = self.sessions[sid] = [start, end, result.session_turns, 0, 0, 0, 0]
        else:
            rec[_FIRST] = min(rec[_FIRST], start)
            rec[_LAST] = max(rec[_LAST], end)
            rec[_PLANNED] = max(rec[_PLANNED], result.session_turns)
        rec[_SENT] += 1
        rec[_OK + code] += 1
        self._rows.append(row)
        self._turns.append(result.turn)
        self._tool.append(result.turn_kind == _TOOL)

    def turn_columns(self) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.bool_]]:
        """Row numbers, turn indices and tool flags of every session result."""
        return (
            np.array(self._rows, dtype=np.int64),
            np.array(self._turns, dtype=np.int64),
            np.array(self._tool, dtype=bool),
        )


def session_summary(tracker: SessionTracker, duration: float) -> dict[str, Any] | None:
    """The report's ``sessions`` block (``None`` without session results).

    A session is completed when every planned turn came back successful; otherwise it was
    cut short: by an error when a turn errored, else stopped by the benchmark (a cancelled
    turn, or turns never sent). A session's plan is at least the results it has, so turns
    not sent are never negative.
    """
    if not tracker.sessions:
        return None
    recs = np.array(list(tracker.sessions.values()), dtype=np.float64)
    planned = np.maximum(recs[:, _PLANNED], recs[:, _SENT])
    sent = recs[:, _SENT]
    errored = recs[:, _ERR] > 0
    completed = (recs[:, _OK] >= planned) & ~errored & (recs[:, _INC] == 0)
    started = len(recs)
    n_completed = int(completed.sum())
    n_error = int(errored.sum())
    turns_planned = int(planned.sum())
    turns_sent = int(sent.sum())
    durations = recs[completed, _LAST] - recs[completed, _FIRST]
    dur = summarize(durations, ci=False)
    pct = dur["percentiles"]
    _, _, tool = tracker.turn_columns()
    return {
        "started": started,
        "completed": n_completed,
        "cut_short": started - n_completed,
        "ended_by_error": n_error,
        "stopped": started - n_completed - n_error,
        "turns_planned": turns_planned,
        "turns_sent": turns_sent,
        "turns_not_sent": turns_planned - turns_sent,
        "tool_turns": int(tool.sum()),
        "turns_per_session_mean": turns_sent / started,
        "completed_per_second": n_completed / duration if duration > 0 else 0.0,
        "duration_s_mean": dur["mean"],
        "duration_s_p50": pct["p50"],
        "duration_s_p90": pct["p90"],
        "duration_s_p99": pct["p99"],
    }


def _ratio(cached: float, prompt: float) -> float | None:
    return cached / prompt if prompt > 0 else None


def prompt_cache(
    cached: tuple[NDArray[np.int64], NDArray[np.float64]],
    cols: Mapping[str, NDArray[Any]],
    mask: NDArray[np.bool_] | None,
) -> dict[str, Any] | None:
    """The report's ``prompt_cache`` block: ``cached`` holds the rows whose server said how
    many prompt tokens it cached, and those counts (the aggregator keeps them sparse); only
    the window's rows (``mask``) count. ``None``: no row of the window said."""
    rows, values = cached
    if mask is not None and len(rows):
        inside = mask[rows]
        rows, values = rows[inside], values[inside]
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


def _pcts(values: NDArray[np.float64], weights: NDArray[Any] | None = None) -> list[Any]:
    keep = ~np.isnan(values)
    if weights is not None:
        keep &= weights > 0
    if not keep.any():
        return [None, None, None]
    s = summarize(values[keep], None if weights is None else weights[keep], ci=False)
    return [s["percentiles"][q] for q in ("p50", "p90", "p99")]


def _mid(values: NDArray[np.float64]) -> tuple[float | None, float | None]:
    """Median and mean, ``None`` when there are no values."""
    values = values[~np.isnan(values)]
    if not len(values):
        return None, None
    return float(np.median(values)), float(values.mean())


def turn_rows(
    tracker: SessionTracker,
    cols: Mapping[str, NDArray[Any]],
    mask: NDArray[np.bool_] | None,
    cached_rows: tuple[NDArray[np.int64], NDArray[np.float64]],
) -> list[dict[str, Any]] | None:
    """One row per (turn index, kind) of the session results in the window (``mask`` over
    every row; ``None``: all); ``None`` without session results.

    Counts are by status; timings and token statistics are the successful requests', with
    the benchmark's definitions (ITL weighted by output tokens - 1); the cache hit ratio is
    over the successful requests that reported cached tokens.
    """
    if not len(tracker):
        return None
    rows, turns, tool = tracker.turn_columns()
    if mask is not None:
        inside = mask[rows]
        rows, turns, tool = rows[inside], turns[inside], tool[inside]
    index = np.clip(turns, 1, MAX_TURN_ROWS)
    key = index * 2 + tool
    order = np.argsort(key, kind="stable")
    key, rows = key[order], rows[order]
    if not len(key):
        return []
    bounds = np.flatnonzero(np.concatenate([[True], key[1:] != key[:-1], [True]]))
    status, out_tok = cols["status"], cols["output_tokens"]
    start, end = cols["start"], cols["end"]
    ttft, itl = cols["ttft"], cols["itl"]
    prompt = cols["prompt_tokens"]
    cached = np.full(len(status), np.nan)
    cached[cached_rows[0]] = cached_rows[1]
    out: list[dict[str, Any]] = []
    for a, b in zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True):
        k = int(key[a])
        mine = rows[a:b]
        st = status[mine]
        counts = np.bincount(st, minlength=3)
        ok = mine[st == 0]
        row: dict[str, Any] = {
            "turn": k // 2,
            "kind": _TOOL if k % 2 else "user",
            "and_later": k // 2 == MAX_TURN_ROWS,
            "successful": int(counts[0]),
            "errored": int(counts[1]),
            "incomplete": int(counts[2]),
        }
        tok = out_tok[ok]
        for name, (values, weights) in {
            "ttft_ms": (ttft[ok], None),
            "itl_ms": (itl[ok], np.maximum(tok - 1, 0)),
            "latency_s": (end[ok] - start[ok], None),
        }.items():
            for q, v in zip(("p50", "p90", "p99"), _pcts(values, weights), strict=True):
                row[f"{name}_{q}"] = v
        row["prompt_tokens_median"], row["prompt_tokens_mean"] = _mid(prompt[ok])
        row["output_tokens_median"], row["output_tokens_mean"] = _mid(tok)
        said = ~np.isnan(cached[ok])
        c = float(cached[ok][said].sum())
        row["cached_tokens"] = int(c)
        row["cache_hit_ratio"] = (
            _ratio(c, float(np.nan_to_num(prompt[ok][said]).sum())) if said.any() else None
        )
        out.append(row)
    return out
