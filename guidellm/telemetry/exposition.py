"""Reading one Prometheus text exposition into flat numbers.

The parsing is ``prometheus_client``'s (the reference implementation of the format). What
this module adds is the shape the scraper stores: one number per sample name, summed over
its label sets (several engines, finish reasons, models), histogram buckets kept apart by
their ``le`` bound (``name_bucket|0.5``), and per name the number of label sets summed
(``name#n``), so a ratio gauge can be averaged instead. With ``raw=True`` every labelled
series is also kept under its full name (``name{a="b"}``): a server no catalog knows.
"""

from __future__ import annotations

__all__ = ["ExpositionError", "parse_exposition", "series_key"]


class ExpositionError(ValueError):
    """The text is not a Prometheus exposition."""


def series_key(name: str, labels: dict[str, str]) -> str:
    """``name{a="1",b="2"}`` with labels sorted: one labelled series."""
    if not labels:
        return name
    inner = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    return f"{name}{{{inner}}}"


def parse_exposition(text: str, *, raw: bool = False) -> tuple[dict[str, float], dict[str, str]]:
    """The flat values of ``text`` and each family's type (``counter``, ``gauge`` ...).

    Raises :class:`ExpositionError` on text that is not the exposition format (an HTML error
    page, garbage), or that holds no sample at all.
    """
    from prometheus_client.parser import text_string_to_metric_families

    values: dict[str, float] = {}
    types: dict[str, str] = {}
    try:
        for family in text_string_to_metric_families(text):
            types[family.name] = family.type
            for sample in family.samples:
                name, labels, value = sample.name, sample.labels, float(sample.value)
                if name.endswith("_bucket") and "le" in labels:
                    key = f"{name}|{labels['le']}"
                else:
                    key = name
                    count_key = name + "#n"
                    values[count_key] = values.get(count_key, 0.0) + 1.0
                values[key] = values.get(key, 0.0) + value
                if raw and labels and not name.endswith("_bucket"):
                    values[series_key(name, labels)] = value
    except Exception as exc:  # the parser raises ValueError, IndexError ... on bad input
        raise ExpositionError(f"not a Prometheus exposition ({type(exc).__name__})") from None
    if not values:
        raise ExpositionError("no samples in the exposition")
    return values, types
