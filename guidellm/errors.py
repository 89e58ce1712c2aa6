"""The exception hierarchy.

Two families matter to callers:

* :class:`UserError` is something the user can fix (a bad flag, an unreachable target, an
  unknown plugin name). The CLI prints its message as one line and exits with code 2, so the
  message must name the problem *and* the fix.
* :class:`RequestError` fails one benchmark request. Each subclass carries the ``category``
  under which the report counts it; the run goes on.
"""

from __future__ import annotations

__all__ = [
    "BadResponseError",
    "CancelledRequestError",
    "ConnectError",
    "DuplicateComponentError",
    "FirstTokenTimeoutError",
    "GuideLLMError",
    "HTTPStatusError",
    "RequestError",
    "RequestTimeoutError",
    "ServerError",
    "StallTimeoutError",
    "UnknownComponentError",
    "UserError",
]


class GuideLLMError(Exception):
    """Base of every error guidellm raises on purpose."""


class UserError(GuideLLMError):
    """A problem the user can fix; printed as one line, exit code 2."""

    exit_code = 2


class UnknownComponentError(UserError):
    """A plugin component name that no installed plugin provides."""


class DuplicateComponentError(UserError):
    """Two plugins registered the same component name."""


class RequestError(GuideLLMError):
    """One request failed; ``category`` is the bucket the report counts it in."""

    category = "error"


class ConnectError(RequestError):
    """The connection could not be opened or was lost before a response."""

    category = "connection"


class RequestTimeoutError(RequestError):
    """The connect or read timeout of the transport expired."""

    category = "timeout"


class FirstTokenTimeoutError(RequestError):
    """No content arrived within the first-token deadline."""

    category = "first_token_deadline"


class StallTimeoutError(RequestError):
    """The stream stopped sending for longer than the stall deadline."""

    category = "stall"


class HTTPStatusError(RequestError):
    """The server answered with a 4xx/5xx status; the category names the class (``http_5xx``)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status
        self.category = "http_429" if status == 429 else f"http_{status // 100}xx"


class ServerError(RequestError):
    """The server reported an error inside an otherwise valid stream."""

    category = "server_error"


class BadResponseError(RequestError):
    """The response broke the protocol: malformed JSON, truncated stream, missing fields."""

    category = "protocol"


class CancelledRequestError(RequestError):
    """The request was cut off by a stop condition or by Ctrl-C."""

    category = "cancelled"
