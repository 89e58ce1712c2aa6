"""The ``openai_http`` backend's checks before any load: is the server up, is the key right,
which model does it serve?

A run that starts against a wrong URL, a server still loading its model or a missing API key
would fail every request; these checks fail once instead, with one line that says what to
fix (``UserError``). ``GET /health`` (reachable, ready, authorised, not redirected) then
``GET /v1/models`` (the model to use when ``--model`` is not given, or whether the given one
exists). Messages never show the API key or a URL's password.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING

from guidellm.backends.openai_chunks import server_message
from guidellm.errors import UserError

if TYPE_CHECKING:
    import httpx

__all__ = ["check_server", "connect_problem", "model_ids"]


async def check_server(
    client: httpx.AsyncClient,
    *,
    base: str,
    shown: str,
    timeout: float,
    has_api_key: bool,
    model: str | None,
    scrub: Callable[[str], str],
) -> str | None:
    """Check the server at ``base`` (``shown`` in messages, without password) and return the
    model to use: ``model``, or the first one the server lists when ``model`` is ``None``.

    ``scrub`` removes secrets from any text a server sent back.
    """
    import httpx

    async def get(path: str) -> httpx.Response:
        # httpx's timeout is per read: a server trickling a byte a second would keep it
        # waiting forever. The whole exchange gets one deadline.
        limit = min(30.0, timeout)
        try:
            return await asyncio.wait_for(client.get(base + path, timeout=limit), limit)
        except httpx.ConnectError as exc:
            raise UserError(connect_problem(exc, shown, scrub)) from None
        except (httpx.TimeoutException, asyncio.TimeoutError):
            raise UserError(
                f"{shown}{path} did not answer within {limit:g} s; check --target and that "
                "the server is up (or raise --backend-args connect_timeout/timeout)."
            ) from None
        except httpx.HTTPError as exc:
            raise UserError(f"{shown}{path} failed: {scrub(str(exc))}; check --target.") from None

    def auth_problem(resp: httpx.Response, path: str) -> UserError:
        msg = scrub(server_message(resp.content))
        how = "is wrong" if has_api_key else "is missing"
        return UserError(
            f"{shown}{path} answered HTTP {resp.status_code} ({msg}): the API key {how}; "
            "pass --backend-args api_key=... or set GUIDELLM_API_KEY."
        )

    def redirected(resp: httpx.Response, path: str) -> None:
        if 300 <= resp.status_code < 400:
            raise UserError(
                f"{shown}{path} redirects (HTTP {resp.status_code}) to "
                f"{resp.headers.get('location', '?')}; pass the final URL as --target."
            )

    health = await get("/health")
    redirected(health, "/health")
    if health.status_code in (401, 403):
        raise auth_problem(health, "/health")
    if health.status_code >= 500:
        raise UserError(
            f"{shown}/health answered HTTP {health.status_code} "
            f"({scrub(server_message(health.content))}): the server is not ready; "
            "wait until it has loaded the model, then retry."
        )
    models_resp = await get("/v1/models")
    redirected(models_resp, "/v1/models")
    if models_resp.status_code in (401, 403):
        raise auth_problem(models_resp, "/v1/models")
    if models_resp.status_code >= 400:
        if model is not None and models_resp.status_code == 404:
            return model  # a server without a model list; trust --model
        raise UserError(
            f"{shown}/v1/models answered HTTP {models_resp.status_code} "
            f"({scrub(server_message(models_resp.content))}); check --target"
            + ("" if model else " or pass --model")
            + "."
        )
    ids = model_ids(models_resp.content)
    if model is None:
        if not ids:
            raise UserError(f"{shown}/v1/models lists no model; pass --model NAME.")
        return ids[0]
    if ids and model not in ids:
        raise UserError(
            f"Unknown model {model!r} at {shown}. Available: {', '.join(ids)}. "
            "Pass one of them as --model."
        )
    return model


def model_ids(body: bytes) -> list[str]:
    """The model ids of a ``/v1/models`` answer (a ``data`` or a ``models`` list)."""
    import orjson

    try:
        data = orjson.loads(body)
        entries = data.get("data") or data.get("models") or []
        ids = [str(m.get("id") or m.get("name") or m.get("model")) for m in entries]
    except (orjson.JSONDecodeError, AttributeError, TypeError):
        return []
    return [i for i in ids if i and i != "None"]


def connect_problem(exc: Exception, shown: str, scrub: Callable[[str], str]) -> str:
    """A failed connection to ``shown`` as one line: TLS, refused, or what the error said."""
    text = scrub(str(exc))
    lower = text.lower()
    cause: BaseException | None = exc
    while cause is not None:  # uvloop and httpcore word a refusal differently
        if isinstance(cause, ConnectionRefusedError):
            lower += " refused"
        cause = cause.__cause__ or cause.__context__
    if "certificate" in lower or "ssl" in lower or "tls" in lower:
        return (
            f"TLS failure connecting to {shown}: {text}. Fix the certificate, pass "
            "--backend-args verify=/path/to/ca.pem, or verify=false to skip checking."
        )
    if "refused" in lower:
        return (
            f"Cannot connect to {shown}: connection refused. Is the server running? Check --target."
        )
    return f"Cannot connect to {shown}: {text}. Check --target."
