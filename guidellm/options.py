"""Parse the plugin option strings users type: ``--backend-args``, ``--data-args`` and friends.

Both forms are accepted: JSON (``'{"verify": false}'``) and ``k=v,k=v`` where values are read
as JSON when they parse (``true``, ``3``, ``[1,2]``, ``{"a":1}``) and as strings otherwise.
Commas inside brackets or quotes do not split. After ``weights=`` (the one list of numbers the
options take), bare numbers continue it: ``weights=0.8,0.2`` is ``{"weights": [0.8, 0.2]}``.
"""

from __future__ import annotations

import difflib
import json
import math
from collections.abc import Iterable, Mapping
from typing import Any

from guidellm.errors import UserError
from guidellm.redact import is_secret_key

__all__ = ["bad_option", "is_number", "parse_options", "reject_unknown"]

#: Keys whose value is a list of numbers, written ``key=1,2,3`` (the commas do not split it).
_NUMBER_LISTS = frozenset({"weights"})


def _split_top_level(text: str) -> list[str]:
    parts: list[str] = []
    depth = 0
    quote: str | None = None
    current: list[str] = []
    for ch in text:
        if quote:
            if ch == quote:
                quote = None
        elif ch in "\"'":
            quote = ch
        elif ch in "[{(":
            depth += 1
        elif ch in "]})":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append("".join(current))
            current = []
            continue
        current.append(ch)
    parts.append("".join(current))
    return [p for p in (p.strip() for p in parts) if p]


def _value(raw: str) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        if len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in "\"'":
            return raw[1:-1]
        return raw


def parse_options(text: str | None, flag: str = "--options") -> dict[str, Any]:
    """``'a=1,b=x'`` or ``'{"a": 1}'`` -> ``{"a": 1, "b": "x"}``; bad input names ``flag``."""
    if text is None or not text.strip():
        return {}
    text = text.strip()
    if text.startswith("{"):
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise UserError(
                f"{flag}: invalid JSON ({exc.msg} at position {exc.pos}); use JSON or k=v,k=v"
            ) from None
        if not isinstance(value, dict):
            raise UserError(f"{flag}: expected a JSON object or k=v,k=v")
        return value
    result: dict[str, Any] = {}
    last: str | None = None
    for item in _split_top_level(text):
        key, sep, raw = item.partition("=")
        bare = _value(item) if not sep and last in _NUMBER_LISTS else None
        if isinstance(bare, (int, float)) and not isinstance(bare, bool):
            assert last is not None
            previous = result[last]
            result[last] = [*(previous if isinstance(previous, list) else [previous]), bare]
            continue
        if not sep or not key.strip():
            shown = "an item" if is_secret_key(item) else repr(item)
            raise UserError(
                f"{flag}: {shown} is not key=value; write e.g. {flag} 'key=value,other=2'"
            )
        last = key.strip()
        result[last] = _value(raw.strip())
    return result


def reject_unknown(options: Mapping[str, Any], known: Iterable[str], flag: str, owner: str) -> None:
    """The one wording for an option no component of that name takes: it names the option,
    the component, the nearest valid name and every valid one."""
    valid = sorted(known)
    unknown = sorted(set(options) - set(valid))
    if unknown:
        match = difflib.get_close_matches(unknown[0], valid, n=1, cutoff=0.6)
        near = f" (did you mean {match[0]}?)" if match else ""
        raise UserError(
            f"{flag}: unknown option(s) {', '.join(unknown)} for {owner}{near}; "
            f"valid: {', '.join(valid)}"
        )


def is_number(value: Any, *, positive: bool = False, at_most: float = math.inf) -> bool:
    """A finite real number (``True`` is not one), > 0 with ``positive`` else >= 0, and at
    most ``at_most``: the one test behind every numeric option."""
    return (
        not isinstance(value, bool)
        and isinstance(value, (int, float))
        and math.isfinite(value)
        and (value > 0 if positive else value >= 0)
        and value <= at_most
    )


def bad_option(flag: str, name: str, want: str, value: Any) -> UserError:
    """The one wording for an option of the wrong type or range (a secret's value is not
    shown: a mistyped key must not reach the terminal's scrollback)."""
    secret = is_secret_key(name) or name in ("headers", "metadata")
    shown = "" if secret else f", got {value!r}"
    return UserError(f"{flag}: {name} must be {want}{shown}")
