"""Backends: the transports to inference servers (see :class:`Backend`)."""

from guidellm.backends.base import Backend

__all__ = ["Backend"]
