"""Group rows: one benchmark's numbers split by traffic class and by model (docs/metrics.md).

In a mix every result carries its class and model tags; the aggregator keeps each row's group
(a small id per class-and-model pair). Each class's and each model's row has the same
definitions as the benchmark's own numbers over the same measured window: counts, rates,
exact percentiles (read off the metric's sorted sample without the other groups' rows) and
goodput, a class's against its own SLOs (the run's ``slo`` when it has none). The overall
goodput of a mix counts every request against its own class's SLOs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from guidellm.benchmark.sessions import ROW_LATENCIES, row_percentiles
from guidellm.benchmark.statistics import goodput, goodput_counts, summarize_runs

if TYPE_CHECKING:
    from numpy.typing import NDArray

    from guidellm.benchmark.sorted_sample import SortedSample

__all__ = ["group_summaries", "overall_goodput"]


def _row(  # noqa: PLR0917 - private, one caller, the rows' arrays and their group
    name: str | None,
    mine: NDArray[np.bool_],
    cols: Mapping[str, NDArray[Any]],
    samples: Mapping[str, tuple[SortedSample, ...]],
    length: float,
    slo: Mapping[str, float],
) -> dict[str, Any]:
    status = cols["status"][mine]
    counts = np.bincount(status, minlength=3)
    ok = status == 0
    rate = 1.0 / length if length > 0 else 0.0
    row: dict[str, Any] = {
        "name": name,
        "successful": int(counts[0]),
        "errored": int(counts[1]),
        "incomplete": int(counts[2]),
        "total": int(counts.sum()),
        "requests_per_second": float(counts.sum()) * rate,
        "output_tokens_per_second": float(cols["output_tokens"][mine][ok].sum()) * rate,
    }
    inputs = cols.get("inputs")
    if inputs is not None and inputs[mine].any():
        row["inputs_per_second"] = float(inputs[mine].sum()) * rate
    excluded = ~mine
    row.update(
        row_percentiles(
            {
                key: summarize_runs(samples[sample][0].runs(excluded), ci=False)
                for key, sample in ROW_LATENCIES.items()
            }
        )
    )
    if slo:
        start, end = cols["start"][mine], cols["end"][mine]
        counted = goodput_counts(
            slo,
            status,
            cols["ttft"][mine],
            cols["itl"][mine],
            cols["tpot"][mine],
            (end - start) * 1000.0,
        )
        row["goodput"] = goodput(slo, counted, length)
    return row


def group_summaries(
    groups: Mapping[tuple[str | None, str | None], int],
    cols: Mapping[str, NDArray[Any]],
    mask: NDArray[np.bool_] | None,
    samples: Mapping[str, tuple[SortedSample, ...]],
    length: float,
    *,
    classes: Sequence[Mapping[str, Any]] = (),
    slo: Mapping[str, float] | None = None,
) -> dict[str, list[dict[str, Any]]] | None:
    """``{"classes": [...], "models": [...]}``: a row per class and per model seen (in the
    order of ``classes``, then first seen), ``None`` outside a mix. ``groups`` maps each
    ``(class, model)`` to its group id in the ``group`` column; ``mask`` is the window."""
    named = [c for c in classes if c.get("name") is not None]
    if len(groups) < 2 and not named:
        return None
    group = cols["group"]
    window = np.ones(len(group), dtype=bool) if mask is None else mask
    total = int(window.sum())
    known = {str(c["name"]): c for c in named}
    class_names = list(known)
    model_names: list[str | None] = []
    for cls, model in groups:
        if cls is not None and cls not in class_names:
            class_names.append(cls)
        if model not in model_names:
            model_names.append(model)
    default_slo = dict(slo or {})
    out: dict[str, list[dict[str, Any]]] = {"classes": [], "models": []}
    for name in class_names:
        ids = [g for (cls, _), g in groups.items() if cls == name]
        mine = np.isin(group, ids) & window
        spec = known.get(name, {})
        row = _row(name, mine, cols, samples, length, spec.get("slo") or default_slo)
        row["share"] = row["total"] / total if total else None
        row["weight"] = spec.get("weight")
        row["request_format"] = spec.get("request_format")
        out["classes"].append(row)
    if len(model_names) > 1 or model_names != [None]:
        weights = _model_weights(classes)
        for model in model_names:
            ids = [g for (_, m), g in groups.items() if m == model]
            mine = np.isin(group, ids) & window
            row = _row(model, mine, cols, samples, length, default_slo)
            row["share"] = row["total"] / total if total else None
            row["weight"] = weights.get(model) if len(classes) < 2 else None
            out["models"].append(row)
    return out


def _model_weights(classes: Sequence[Mapping[str, Any]]) -> dict[str | None, float]:
    """The intended share of each model of a one-class mix (several classes: none, each
    class's models are shares of that class)."""
    if len(classes) != 1:
        return {}
    return {m["name"]: float(m["weight"]) for m in classes[0].get("models") or ()}


def overall_goodput(
    rows: Sequence[Mapping[str, Any]], slo: Mapping[str, float] | None, length: float
) -> dict[str, Any] | None:
    """The mix's goodput: every class's requests against that class's own SLOs (a class
    without SLOs, and no run ``slo``, has no promise to miss: its successes count as met).
    ``None`` when no class has an SLO."""
    if not any("goodput" in r for r in rows):
        return None
    met = counted = 0
    for row in rows:
        g = row.get("goodput")
        if g is not None:
            met += int(g["met"])
            counted += int(g["counted"])
        else:
            met += int(row["successful"])
            counted += int(row["successful"]) + int(row["errored"])
    return {
        "slo": dict(slo or {}),
        "requests_per_second": met / length if length > 0 else 0.0,
        "attainment": met / counted if counted else None,
        "met": met,
        "counted": counted,
        "per_slo": {},
        "by_class": True,
    }
