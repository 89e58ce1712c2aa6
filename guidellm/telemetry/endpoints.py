"""Which metrics endpoints a run scrapes: the ``server_metrics`` setting and the target.

``auto`` scrapes the target's own ``/metrics`` (same scheme, host and port) when it answers
one with a Prometheus exposition; a gRPC target's metrics live on another port (Triton's
8002), so there it takes an explicit URL. ``off`` scrapes nothing. Anything else is a
comma-separated list of URLs (replicas, a server behind a gateway).
"""

from __future__ import annotations

from urllib.parse import urlsplit

__all__ = ["metrics_url_for", "parse_setting", "probe", "remember", "shown_url"]


def parse_setting(text: str) -> str | list[str]:
    """``"auto"``, ``"off"`` or the URLs; a bad URL raises ``ValueError`` naming it."""
    value = text.strip()
    if value.lower() in ("auto", "off", ""):
        return value.lower() or "auto"
    urls = [part.strip() for part in value.split(",") if part.strip()]
    for url in urls:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(
                f"{url!r} is not a metrics URL: give auto, off, or http(s)://host:port/metrics"
            )
        try:
            parts.port  # noqa: B018  (a port that is not a number raises here)
        except ValueError:
            raise ValueError(f"{url!r} has a bad port: give http(s)://host:port/metrics") from None
    return urls


def metrics_url_for(target: str) -> str | None:
    """The target's own ``/metrics`` (HTTP targets only)."""
    parts = urlsplit(target)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}/metrics"


def probe(url: str, timeout: float = 2.0) -> str | None:
    """``None`` when ``url`` answers a Prometheus exposition within ``timeout`` seconds in
    total, else why not (one phrase)."""
    import httpx

    from guidellm.telemetry.exposition import ExpositionError, parse_exposition
    from guidellm.telemetry.scraper import fetch

    with httpx.Client(timeout=timeout, trust_env=False) as client:
        text, why = fetch(client, url, timeout)
    if text is None:
        return why
    try:
        parse_exposition(text)
    except ExpositionError as exc:
        return str(exc)
    return None


def shown_url(url: str) -> str:
    """``url`` as reports and messages show it: credentials (a user and password, a token
    given as the user) and secret-looking query values masked."""
    from guidellm.redact import REDACTED, redact_text

    parts = urlsplit(url)
    if "@" in parts.netloc:
        host = parts.netloc.rsplit("@", 1)[1]
        parts = parts._replace(netloc=f"{REDACTED}@{host}")
    return redact_text(parts.geturl())


def remember(url: str) -> None:
    """Never let ``url``'s credentials leave this process (see :mod:`guidellm.redact`)."""
    from guidellm.redact import remember_secret, remember_url_secrets

    remember_url_secrets(url)
    parts = urlsplit(url)
    remember_secret(parts.username, parts.password)
