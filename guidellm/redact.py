"""Keep secrets out of reports, logs and error messages."""

from __future__ import annotations

import re
from typing import Any

__all__ = ["REDACTED", "is_secret_key", "redact"]

REDACTED = "***"
# "token" names a secret (hf_token, access_token) but not a count: max_tokens, prompt_tokens,
# output_tokens, token_count and tokenizer are plain settings and must stay readable in reports.
_SECRET = re.compile(
    r"(api[_-]?key|token(?!s|_?counts?|iz)|secret|password|passwd|authorization|credential)",
    re.I,
)


def is_secret_key(key: str) -> bool:
    """True when a setting's name says it holds a secret (``api_key``, ``Authorization``...)."""
    return bool(_SECRET.search(key))


def redact(value: Any) -> Any:
    """Return a copy of a settings tree with every secret-named value replaced by ``***``."""
    if isinstance(value, dict):
        return {
            k: (REDACTED if is_secret_key(str(k)) and v not in (None, "") else redact(v))
            for k, v in value.items()
        }
    if isinstance(value, (list, tuple)):
        return [redact(v) for v in value]
    return value
