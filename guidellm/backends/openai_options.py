"""The ``openai_http`` backend's ``--backend-args``: defaults, checks, and what each request
format's path is. The options themselves are described in :mod:`.openai_http`."""

from __future__ import annotations

import os
from typing import Any

from guidellm.backends.openai_audio import TRANSCRIPTION_PATHS
from guidellm.backends.openai_pooling import DEFAULT_BATCH, POOLING_PATHS
from guidellm.errors import UserError
from guidellm.options import bad_option, reject_unknown

__all__ = ["FORMATS", "check_options", "timing_obstacle"]

FORMATS = {
    "chat_completions": "/v1/chat/completions",
    "text_completions": "/v1/completions",
    "anthropic_messages": "/v1/messages",
    **POOLING_PATHS,
    **TRANSCRIPTION_PATHS,
}
_DEFAULTS: dict[str, Any] = {
    "api_key": None,
    "verify": True,
    "http2": False,
    "timeout": 300.0,
    "connect_timeout": 10.0,
    "first_token_timeout": None,
    "stall_timeout": 60.0,
    "headers": None,
    "extra_body": None,
    "request_format": "chat_completions",
    "batch_size": None,
    "stream": True,
    "max_connections": None,
    "transport": "lean",
    "timing": "auto",
    "session_header": "X-Session-ID",
    "session_user": False,
}
_SECONDS = ("timeout", "connect_timeout", "first_token_timeout", "stall_timeout")
#: Headers every request carries or HTTP itself needs: a session header must not replace one.
_OWN_HEADERS = frozenset(
    {
        "accept",
        "accept-encoding",
        "authorization",
        "connection",
        "content-length",
        "content-type",
        "host",
        "transfer-encoding",
        "user-agent",
    }
)


def check_options(options: dict[str, Any]) -> dict[str, Any]:
    """Merge ``options`` over the defaults; any unknown or ill-typed option is a UserError."""
    reject_unknown(options, _DEFAULTS, "--backend-args", "backend 'openai_http'")
    opts = {**_DEFAULTS, **options}

    def bad(name: str, want: str) -> UserError:
        return bad_option("--backend-args", name, want, opts[name])

    for name in ("http2", "stream", "session_user"):
        if not isinstance(opts[name], bool):
            raise bad(name, "true or false")
    if not isinstance(opts["verify"], (bool, str)):
        raise bad("verify", "true, false or a CA bundle path")
    if isinstance(opts["verify"], str) and not os.path.exists(opts["verify"]):  # noqa: PTH110
        raise bad("verify", "true, false or the path of an existing CA bundle file")
    for name in _SECONDS:
        value = opts[name]
        if value is None and name in ("first_token_timeout", "stall_timeout"):
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
            raise bad(name, "a positive number of seconds")
        opts[name] = float(value)
    for name in ("headers", "extra_body"):
        if opts[name] is not None and not isinstance(opts[name], dict):
            raise bad(name, 'a JSON object, e.g. {"temperature": 0}')
    if opts["request_format"] not in FORMATS:
        *rest, last = FORMATS
        raise bad("request_format", f"{', '.join(rest)} or {last}")
    batch = opts["batch_size"]
    if opts["request_format"] in POOLING_PATHS:
        opts["stream"] = False  # a pooling answer is one JSON body
        if batch is None:
            opts["batch_size"] = DEFAULT_BATCH[opts["request_format"]]
        elif isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
            raise bad("batch_size", "a positive integer")
    elif batch is not None:
        raise bad("batch_size", "nothing unless request_format is embeddings or rerank")
    if opts["request_format"] in TRANSCRIPTION_PATHS:
        opts["stream"] = False  # a transcription is one JSON body
    mc = opts["max_connections"]
    if mc is not None and (isinstance(mc, bool) or not isinstance(mc, int) or mc < 1):
        raise bad("max_connections", "a positive integer")
    if opts["transport"] not in ("lean", "httpx"):
        raise bad("transport", "lean or httpx")
    if opts["timing"] not in ("auto", "kernel", "loop"):
        raise bad("timing", "auto, kernel or loop")
    header = opts["session_header"]
    if header is not None and (not isinstance(header, str) or not is_token(header)):
        raise bad("session_header", 'an HTTP header name, e.g. X-Session-ID, or "" for none')
    taken = {str(k).lower() for k in (opts["headers"] or {})}
    if header and (header.lower() in _OWN_HEADERS or header.lower() in taken):
        raise bad(
            "session_header",
            "a header the client does not already send (it would replace it), e.g. X-Session-ID",
        )
    if opts["api_key"] is not None and not isinstance(opts["api_key"], str):
        raise bad("api_key", "a string")
    return opts


def is_token(name: str) -> bool:
    """An HTTP header name (RFC 9110 token characters), or empty."""
    return all(c.isalnum() or c in "!#$%&'*+-.^_`|~" for c in name) and name.isascii()


def timing_obstacle(opts: dict[str, Any], base: str) -> str | None:
    """What keeps chunks from carrying kernel receive stamps (plain HTTP on the lean
    transport has them), or ``None``."""
    if base.startswith("https"):
        return "the target is https (kernel stamps are read on plain-HTTP connections only)"
    if opts["http2"] or opts["transport"] == "httpx":
        return "httpx's stock transport reads the socket itself (use transport=lean)"
    return None
