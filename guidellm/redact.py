"""Keep secrets out of reports, logs and error messages."""

from __future__ import annotations

import re
from typing import Any

__all__ = ["REDACTED", "is_secret_key", "redact", "redact_text"]

REDACTED = "***"
# "token" names a secret (hf_token, access_token) but not a count: max_tokens, prompt_tokens,
# output_tokens, token_count and tokenizer are plain settings and must stay readable in reports.
_WORDS = (
    r"api[_-]?key|apikey|token(?!s|_?counts?|iz)|secret|password|passwd|authorization"
    r"|credential|bearer"
)
_SECRET = re.compile(f"({_WORDS})", re.I)
# key=value, key: value, "key": "value" inside free text (a command line, an option string).
_IN_TEXT = re.compile(
    rf"""(?P<key>["']?[\w-]*(?:{_WORDS})["']?\s*[=:]\s*)(?P<value>"[^"]*"|'[^']*'|[^,\s}}]+)""",
    re.I,
)
_BEARER = re.compile(r"(Bearer\s+)\S+", re.I)
# a password in a URL: scheme://user:password@host
_URL_PASSWORD = re.compile(r"(\b[a-z][a-z0-9+.-]*://[^/\s:@]*:)[^@/\s]*@", re.I)


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
    if isinstance(value, str) and "@" in value:
        return _URL_PASSWORD.sub(r"\1" + REDACTED + "@", value)
    return value


def redact_text(text: str) -> str:
    """Replace the values of secret-named ``key=value`` / ``"key": "value"`` pairs and bearer
    tokens in free text, keeping everything else readable."""

    def _sub(match: re.Match[str]) -> str:
        key = match.group("key")
        name = key.strip("\"' =:\t")
        return key + REDACTED if is_secret_key(name) else match.group(0)

    text = _URL_PASSWORD.sub(r"\1" + REDACTED + "@", text)
    return _IN_TEXT.sub(_sub, _BEARER.sub(r"\1" + REDACTED, text))
