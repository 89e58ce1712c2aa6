"""The Backend contract: how guidellm talks to one kind of server."""

from __future__ import annotations

import abc
from typing import TYPE_CHECKING, Any, ClassVar

from guidellm.redact import is_secret_key, redact, remember_secret, remember_url_secrets

if TYPE_CHECKING:
    from urllib.parse import SplitResult

    from guidellm.request import GenerationRequest, ResponseRecorder

__all__ = ["Backend", "split_target"]


def split_target(target: str, example: str) -> SplitResult:
    """``target`` split into URL parts; a malformed URL, a missing host or a port that is not
    a number in 1-65535 is a :class:`~guidellm.errors.UserError` naming it and ``example``."""
    from urllib.parse import urlsplit

    from guidellm.errors import UserError
    from guidellm.redact import redact_text

    shown = redact_text(target)
    try:
        parts = urlsplit(target)
        port = parts.port
    except ValueError as exc:
        reason = str(exc).replace("Port", "port")
        raise UserError(
            f"--target {shown!r} is not a valid URL ({reason}); e.g. {example}"
        ) from None
    if not parts.hostname:
        raise UserError(f"--target {shown!r} has no host; e.g. {example}")
    if port == 0:
        raise UserError(f"--target {shown!r}: port 0 cannot be connected to; e.g. {example}")
    return parts


class Backend(abc.ABC):
    """Sends :class:`~guidellm.request.GenerationRequest` s to a server and times the answers.

    Life cycle, and where each step runs:

    1. ``__init__`` in the parent, from ``--target``, ``--model`` and ``--backend-args``
       (``options``). Reject unknown or bad options with a :class:`~guidellm.errors.UserError`.
       The instance must stay picklable until :meth:`startup`: it is shipped to workers.
    2. :meth:`startup` then :meth:`validate` in the parent, once, before any load: readiness,
       model discovery (set ``self.model``), one clear :class:`~guidellm.errors.UserError` for
       a refused connection, TLS failure, bad credentials or unknown model. Then
       :meth:`shutdown`, and the instance (with ``model`` now set) goes to the workers.
    3. In each worker process: :meth:`startup` with the worker's concurrency, many concurrent
       :meth:`resolve` calls on one event loop, :meth:`shutdown` at the end.

    :meth:`resolve` sends one request and reports each content-bearing chunk to the recorder
    as it arrives; it raises a :class:`~guidellm.errors.RequestError` subclass on failure (its
    ``category`` is what the report counts). It must never log per chunk.
    """

    #: The name users pass to ``--backend``.
    name: ClassVar[str]
    #: URL schemes this backend understands; used to pick a backend from ``--target`` alone.
    schemes: ClassVar[tuple[str, ...]] = ()

    def __init__(self, target: str, model: str | None = None, **options: Any) -> None:
        self.target = target
        self.model = model
        self.options = options

    async def startup(self, concurrency: int = 1) -> None:  # noqa: B027 - optional hook
        """Open clients and connection pools sized for ``concurrency`` in-flight requests."""

    async def validate(self) -> None:  # noqa: B027 - optional hook
        """Check readiness and discover the model before any load is sent (parent only)."""

    @abc.abstractmethod
    async def resolve(self, request: GenerationRequest, recorder: ResponseRecorder) -> None:
        """Send ``request``; call ``recorder.content(text, arrival_time)`` per chunk."""

    async def shutdown(self) -> None:  # noqa: B027 - optional hook
        """Close what :meth:`startup` opened."""

    @property
    def timing_source(self) -> str:
        """Where chunk arrival times come from (the report's ``client.timing_source``):
        ``loop``, when the worker's event loop read them (the default); ``kernel``, the
        kernel's receive stamp of their bytes; ``mixed``, some of each."""
        return "loop"

    def secrets(self) -> list[str]:
        """Every credential this backend sends, as literal strings: they are removed from any
        text that leaves a process (errors, stored output text, logs). The default: the
        string values of secret-named options (``api_key``, ``headers.Authorization``...)
        and the target URL's password and secret query values (added by the caller)."""
        found: list[str] = []

        def walk(name: str, value: Any) -> None:
            if isinstance(value, dict):
                for key, item in value.items():
                    walk(str(key), item)
            elif isinstance(value, str) and value and is_secret_key(name):
                found.append(value)

        for key, value in self.options.items():
            walk(key, value)
        return found

    def remember_secrets(self) -> None:
        """Register :meth:`secrets` and the target's credentials with :mod:`guidellm.redact`
        in this process (the parent before its checks, each worker after unpickling)."""
        remember_secret(*self.secrets())
        remember_url_secrets(self.target)

    def describe(self) -> dict[str, Any]:
        """This backend's settings for the report, with secrets redacted."""
        info: dict[str, Any] = {"type": self.name, "target": self.target, "model": self.model}
        info.update(redact(dict(self.options)))
        return info
