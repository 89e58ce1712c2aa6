"""What a block of per-request rows yields: each sampled metric's values, and additive tallies.

The aggregator applies these to every block as it is prepared, and again, at compile, to the
rows a measured window leaves out (to subtract them): one definition for both.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from guidellm.benchmark.statistics import goodput_counts

if TYPE_CHECKING:
    from numpy.typing import NDArray

    from guidellm.request import RequestResult

__all__ = ["SAMPLED", "add_counts", "latencies", "output_tokens", "row_metrics", "tally"]

_NAN = math.nan
#: The per-request metrics kept as sorted samples (report key -> token-weighted).
SAMPLED = {
    "time_to_first_token_ms": False,
    "inter_token_latency_ms": True,
    "time_per_output_token_ms": True,
    "request_latency": False,
    "scheduled_latency": False,
    "scheduling_delay_ms": False,
    "prompt_token_count": False,
    "output_token_count": False,
}


def tally(block: Mapping[str, NDArray[Any]], slo: Mapping[str, float]) -> dict[str, NDArray[Any]]:
    """Additive per-status totals of some rows: a block's are added as it is flushed, and the
    rows a window leaves out are subtracted at compile, so the rates, counts, token sources,
    goodput and gap sums need no pass over every row after the last response."""
    status = block["status"]
    out_tok = block["output_tokens"]
    disagree = block["disagree"]
    compared = disagree >= 0
    end, start = block["end"], block["start"]
    out: dict[str, NDArray[Any]] = {
        "requests": np.bincount(status, minlength=3),
        "output_tokens": np.bincount(status, weights=out_tok, minlength=3),
        "tokens": np.bincount(
            status, weights=out_tok + np.nan_to_num(block["prompt_tokens"]), minlength=3
        ),
        "sources": np.bincount(status * 3 + block["source"], minlength=9),
        "tokens_compared": np.array(
            [
                int(compared.sum()),
                int((compared & ((disagree & 1) == 1)).sum()),
                int((disagree >= 2).sum()),
            ]
        ),
        "gap_sum": np.bincount(status, weights=block["gap_sum"], minlength=3),
        "gap_sumsq": np.bincount(status, weights=block["gap_sumsq"], minlength=3),
        "gapped": np.bincount(status[block["ngaps"] > 0], minlength=3),
        "lasting": np.bincount(status[end > start], minlength=3),
    }
    inputs = block.get("inputs")
    if inputs is not None:  # texts of pooling requests (embeddings, rerank)
        out["inputs"] = np.bincount(status, weights=inputs, minlength=3)
    if slo:
        out["goodput"] = goodput_counts(
            slo, status, block["ttft"], block["itl"], block["tpot"], (end - start) * 1000.0
        )
    return out


def output_tokens(result: RequestResult, tokenizer: Any = None) -> tuple[int, int, int]:
    """``(tokens, source, disagree)`` of one result: its output tokens, where they came from
    (0 the server's usage, 1 the tokenizer, 2 the client's chunk count) and, when usage came
    with a client-side count to compare, whether they differ (bit 0) and whether that count
    was the tokenizer's (bit 1); -1 when nothing was compared (docs/metrics.md)."""
    client: int | None = None
    client_src = 2
    text = result.output_text
    if tokenizer is not None and (text is not None or result.reasoning_text):
        client = tokenizer.count(text or "")
        if result.reasoning_text:
            client += tokenizer.count(result.reasoning_text)
        client_src = 1
    elif not result.whole:  # a whole answer's one chunk counts no tokens
        chunks = result.content_chunks + result.reasoning_chunks
        if chunks:
            client = chunks
    usage = result.output_tokens
    if usage is not None:
        disagree = -1 if client is None else int(client != usage) + 2 * (client_src == 1)
        return usage, 0, disagree
    return (client or 0), client_src, -1


def latencies(
    block: Mapping[str, NDArray[Any]],
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """TTFT, ITL and TPOT (ms) of a block of rows, kept as columns (the goodput tally and
    :func:`row_metrics` read them). NaN marks a metric a request does not have (no first
    token, fewer than 2 tokens)."""
    start, first, last = block["start"], block["first"], block["last"]
    out_tok = block["output_tokens"]
    with np.errstate(divide="ignore", invalid="ignore"):
        ttft = (first - start) * 1000.0
        itl = np.where(out_tok >= 2, (last - first) * 1000.0 / (out_tok - 1), _NAN)
        tpot = np.where(out_tok >= 1, (last - start) * 1000.0 / out_tok, _NAN)
    return ttft, itl, tpot


def row_metrics(
    block: Mapping[str, NDArray[Any]],
) -> dict[str, tuple[NDArray[np.float64], NDArray[np.float64] | None]]:
    """Every sampled metric of a block of rows (with its :func:`latencies` columns): values
    and, for the token-weighted ones, weights."""
    start = block["start"]
    out_tok = block["output_tokens"]
    return {
        "time_to_first_token_ms": (block["ttft"], None),
        "inter_token_latency_ms": (block["itl"], np.maximum(out_tok - 1, 0)),
        "time_per_output_token_ms": (block["tpot"], out_tok),
        "request_latency": (block["end"] - start, None),
        "scheduled_latency": (block["end"] - block["scheduled"], None),
        "scheduling_delay_ms": ((start - block["scheduled"]) * 1000.0, None),
        "prompt_token_count": (block["prompt_tokens"], None),
        "output_token_count": (out_tok, None),
    }


def add_counts(counts: NDArray[np.int64], categories: NDArray[np.int64]) -> NDArray[np.int64]:
    """``counts`` (per error category id) plus those of ``categories`` (-1: no error)."""
    categories = categories[categories >= 0]
    if not len(categories):
        return counts
    more = np.bincount(categories)
    if len(more) > len(counts):
        counts = np.concatenate([counts, np.zeros(len(more) - len(counts), dtype=np.int64)])
    counts = counts.copy()
    counts[: len(more)] += more
    return counts
