"""Fixtures of the chaos suite: the real mock server (a child process) and hostile servers."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from guidellm.mock_server import MockServer
from guidellm.mock_server.behavior import MockServerConfig


@pytest.fixture(scope="module")
def mock_url() -> Iterator[str]:
    """~0.5 s per request (TTFT 50 ms, 20 tokens 20 ms apart): runs have requests on the wire
    whenever a fault lands."""
    server = MockServer(MockServerConfig(ttft_ms=50, itl_ms=20, output_tokens=20, seed=3))
    url = server.start_process()
    try:
        yield url
    finally:
        server.stop()
