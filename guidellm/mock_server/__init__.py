"""The built-in mock of an OpenAI-compatible inference server, for tests, demos and calibration.

``MockServer(MockServerConfig(ttft_ms=50, itl_ms=10)).start_thread()`` serves
``/v1/completions``, ``/v1/chat/completions``, ``/v1/models`` and ``/health`` with configurable
timing and length distributions and injected faults; see docs/mock-server.md. The behaviour
(draws, faults, token stream) lives in :mod:`guidellm.mock_server.behavior` so that other
protocol front ends reuse it.
"""

from __future__ import annotations

from guidellm.mock_server.behavior import FAULTS, MockServerConfig
from guidellm.mock_server.server import MockServer

__all__ = ["FAULTS", "MockServer", "MockServerConfig"]
