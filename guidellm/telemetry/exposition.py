"""Reading one Prometheus text exposition into flat numbers.

The first scrape of an endpoint is parsed by ``prometheus_client`` (the reference
implementation of the format): it validates the text and gives each family's type. Later
scrapes of the same endpoint go through :func:`fast_values`, a line regex that yields the same
numbers about ten times faster: measured on a vLLM-sized exposition (700 lines, two engines),
the reference parser takes 11-16 CPU-ms, which alone is over 1 % of a core at one scrape a
second (benchmarks/README.md); anything the regex cannot read falls back to the reference
parser, and a test holds the two to the same output. What this module adds is the shape the
scraper stores: one number per sample name, summed over
its label sets (several engines, finish reasons, models), histogram buckets kept apart by
their ``le`` bound (``name_bucket|0.5``), and per name the number of label sets summed
(``name#n``), so a ratio gauge can be averaged instead. Given the label that names the model
(``model_label``: vLLM's ``model_name``, Triton's ``model``), every value is also kept per
model (``key@model``), so a server serving several models is read for the benchmark's own.
With ``raw=True`` every labelled series is also kept under its full name (``name{a="b"}``):
a server no catalog knows.
"""

from __future__ import annotations

import re

__all__ = ["ExpositionError", "fast_values", "parse_exposition", "series_key"]

# name{labels} value [timestamp]; comment lines start with '#' and never match.
_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?[ \t]+(\S+)", re.M)
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"')
_TYPE = re.compile(r"^#[ \t]+TYPE[ \t]+(\S+)[ \t]+(\S+)", re.M)
_LE = re.compile(r'(?:^|[,\s])le\s*=\s*"([^"]*)"')
_MODEL_PATTERNS: dict[str, re.Pattern[str]] = {}
_ESCAPES = {"\\\\": "\\", '\\"': '"', "\\n": "\n"}


class ExpositionError(ValueError):
    """The text is not a Prometheus exposition."""


def series_key(name: str, labels: dict[str, str]) -> str:
    """``name{a="1",b="2"}`` with labels sorted: one labelled series."""
    if not labels:
        return name
    inner = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    return f"{name}{{{inner}}}"


def _labels(text: str | None) -> dict[str, str]:
    if not text:
        return {}
    return {
        k: re.sub(r"\\[\\\"n]", lambda m: _ESCAPES[m.group(0)], v) if "\\" in v else v
        for k, v in _LABEL.findall(text)
    }


def _model_pattern(label: str) -> re.Pattern[str]:
    pattern = _MODEL_PATTERNS.get(label)
    if pattern is None:
        pattern = re.compile(rf'(?:^|[,\s]){re.escape(label)}\s*=\s*"([^"]*)"')
        _MODEL_PATTERNS[label] = pattern
    return pattern


def fast_values(
    text: str, types: dict[str, str], *, raw: bool = False, model_label: str | None = None
) -> dict[str, float]:
    """The values :func:`parse_exposition` gives for ``text``, given the family ``types`` an
    earlier reference parse of the same endpoint found (counters gain ``_total`` as there).
    Raises :class:`ExpositionError` when it cannot read the text: parse it the slow way."""
    model_of = _model_pattern(model_label).search if model_label else None
    for family, declared in _TYPE.findall(text):
        kind = "unknown" if declared == "untyped" else declared
        if types.get(family) != kind and types.get(family.removesuffix("_total")) != kind:
            # A family the reference parser has not typed yet (registered lazily): it knows
            # whether a counter's samples get ``_total``.
            raise ExpositionError("a new metric family")
    if " # {" in text or "\n " in text or "\n\t" in text:
        raise ExpositionError("exemplars or indented lines")  # OpenMetrics: the slow way
    values: dict[str, float] = {}
    get = values.get
    try:
        for sample, label_text, number in _SAMPLE.findall(text):
            name = sample
            if not name.endswith("_total") and types.get(name) == "counter":
                name += "_total"
            value = float(number)
            le = _LE.search(label_text) if name.endswith("_bucket") else None
            if le is not None:
                key = f"{name}|{le.group(1)}"
            else:
                key = name
                count_key = name + "#n"
                values[count_key] = get(count_key, 0.0) + 1.0
            values[key] = get(key, 0.0) + value
            if model_of is not None and label_text:
                model = model_of(label_text)
                if model is not None:
                    _add_model(values, key, model.group(1), value)
            if raw and label_text and not name.endswith("_bucket"):
                values[series_key(name, _labels(label_text))] = value
    except (ValueError, KeyError):
        raise ExpositionError("not readable by the fast path") from None
    if not values:
        raise ExpositionError("no samples in the exposition")
    return values


def _add_model(values: dict[str, float], key: str, model: str, value: float) -> None:
    """Also count ``key`` under ``key@model`` (and its label-set count)."""
    mine = f"{key}@{model}"
    values[mine] = values.get(mine, 0.0) + value
    if "|" not in key:
        count = f"{key}#n@{model}"
        values[count] = values.get(count, 0.0) + 1.0


def parse_exposition(
    text: str, *, raw: bool = False, model_label: str | None = None
) -> tuple[dict[str, float], dict[str, str]]:
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
                if model_label is not None and model_label in labels:
                    _add_model(values, key, labels[model_label], value)
                if raw and labels and not name.endswith("_bucket"):
                    values[series_key(name, labels)] = value
    except Exception as exc:  # the parser raises ValueError, IndexError ... on bad input
        raise ExpositionError(f"not a Prometheus exposition ({type(exc).__name__})") from None
    if not values:
        raise ExpositionError("no samples in the exposition")
    return values, types
