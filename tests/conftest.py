"""Shared fixtures. Real-server fixtures live in guidellm.testing so plugin authors can use them.

``llama_server`` (session; ``.url`` without ``/v1``, ``.model``) starts a real llama-server on a
free loopback port. Install the servers first: ``scripts/test-servers/setup.sh``.
Add further fixture modules (e.g. gRPC servers) to ``pytest_plugins`` below.
"""

from __future__ import annotations

pytest_plugins = [
    "guidellm.testing.pytest_plugin",
    "guidellm.testing.grpc_servers",
]
