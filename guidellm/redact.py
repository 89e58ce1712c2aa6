"""Keep secrets out of reports, logs and error messages.

Two nets. Patterns catch what looks like a secret in any text (``api_key=...``, ``Bearer ...``,
``Basic ...``, a URL's password). Known secrets catch the rest: a backend names the credentials
it sends (:meth:`guidellm.backends.base.Backend.secrets`), :func:`remember_secret` keeps them
for this process (forked workers inherit them), and every text that leaves a process loses
them, in every form a server could echo (a basic credential's ``user:pass`` and its base64,
a bearer token without its scheme).
"""

from __future__ import annotations

import base64
import contextlib
import re
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

__all__ = [
    "REDACTED",
    "forget_secrets",
    "is_secret_key",
    "mask_url",
    "redact",
    "redact_text",
    "remember_secret",
    "remember_url_secrets",
    "scrub",
]

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
_BEARER = re.compile(r"((?:Bearer|Basic)\s+)[^\s,;\"']+", re.I)
# a password in a URL: scheme://user:password@host
_URL_PASSWORD = re.compile(r"(\b[a-z][a-z0-9+.-]*://[^/\s:@]*:)[^@/\s]*@", re.I)


#: Secrets this process knows it sends, longest first (a key's prefix may be another's).
_KNOWN: list[str] = []
#: Shorter strings are not remembered: replacing them would mangle ordinary text.
_MIN_SECRET = 4
#: Query parameters that carry a credential though their names do not say so.
_QUERY_KEYS = {"key", "sig", "signature", "code"}


def remember_secret(*values: str | None) -> None:
    """Never let ``values`` (nor the forms a server may echo them in) leave this process."""
    found: list[str] = []
    for given in values:
        if not given:
            continue
        value = str(given)
        found.append(value)
        scheme, _, rest = value.partition(" ")
        if rest and scheme.lower() in ("bearer", "basic", "token"):
            found.append(rest)
            if scheme.lower() == "basic":
                with contextlib.suppress(ValueError):
                    found.append(base64.b64decode(rest, validate=True).decode())
        if ":" in value and " " not in value:  # user:pass: also as a basic credential
            found.append(base64.b64encode(value.encode()).decode())
    for item in found:
        if len(item) >= _MIN_SECRET and item not in _KNOWN:
            _KNOWN.append(item)
    _KNOWN.sort(key=len, reverse=True)


def remember_url_secrets(url: str) -> None:
    """A URL's ``user:password`` (and password) and secret-named query values."""
    try:
        parts = urlsplit(url)
        password, username = parts.password, parts.username
    except ValueError:
        return
    if password:
        user = unquote(username or "")
        remember_secret(f"{user}:{unquote(password)}", unquote(password), password)
    for name, value in parse_qsl(parts.query):
        if is_secret_key(name) or name.lower() in _QUERY_KEYS:
            remember_secret(value)


def forget_secrets() -> None:
    """Forget every remembered secret (tests; a long-lived process between runs)."""
    _KNOWN.clear()


def scrub(text: str) -> str:
    """``text`` without the remembered secrets, otherwise untouched (generated text)."""
    for secret in _KNOWN:
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


def mask_url(url: str) -> str:
    """``http://user:secret@h`` -> ``http://user:***@h``: URLs may carry credentials."""
    return _URL_PASSWORD.sub(r"\1" + REDACTED + "@", url)


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
    if isinstance(value, str):
        return scrub(mask_url(value) if "@" in value else value)
    return value


def redact_text(text: str) -> str:
    """Replace the values of secret-named ``key=value`` / ``"key": "value"`` pairs and bearer
    tokens in free text, keeping everything else readable."""

    def _sub(match: re.Match[str]) -> str:
        key = match.group("key")
        name = key.strip("\"' =:\t")
        return key + REDACTED if is_secret_key(name) else match.group(0)

    text = mask_url(scrub(text))
    return _IN_TEXT.sub(_sub, _BEARER.sub(r"\1" + REDACTED, text))
