"""Is the Hugging Face hub reachable? Asked once before loading a hub id.

Without this, ``huggingface_hub`` retries an unreachable hub with back-off for tens of seconds
before failing; a user who typed a hub id on an offline machine should hear so at once.
"""

from __future__ import annotations

import functools
import socket
from urllib.parse import urlsplit

__all__ = ["hub_reachable"]


@functools.lru_cache(maxsize=1)
def hub_reachable(timeout: float = 3.0) -> bool:
    """Whether a TCP connection to the hub endpoint opens within ``timeout`` seconds."""
    try:
        from huggingface_hub import constants
    except ImportError:
        return False
    parts = urlsplit(constants.ENDPOINT)
    if not parts.hostname:
        return False
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((parts.hostname, port), timeout=timeout):
            return True
    except OSError:
        return False
