"""Shared fixtures. Real-server fixtures live in guidellm.testing so plugin authors can use them.

``llama_server`` (session; ``.url`` without ``/v1``, ``.model``) starts a real llama-server on a
free loopback port. Install the servers first: ``scripts/test-servers/setup.sh``.
Add further fixture modules (e.g. gRPC servers) to ``pytest_plugins`` below.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytest_plugins = [
    "guidellm.testing.pytest_plugin",
    "guidellm.testing.grpc_servers",
]


def _test_paths() -> list[str]:
    here = [p for p in sys.path if p and Path(p).resolve().is_relative_to(ROOT)]
    return [*dict.fromkeys([*here, str(ROOT)])]


@pytest.fixture(scope="module", params=["local", "ray"])
def pool_kind(request: pytest.FixtureRequest) -> Iterator[str]:
    """The Scheduler's tests run on both worker pools: local processes, then Ray actors on a
    Ray instance started in this process for the module (module scope: pytest runs every
    local case first, so no worker process is forked while Ray's threads run)."""
    if request.param == "local":
        yield "local"
        return
    import signal

    import ray

    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    ray.init(
        num_cpus=4,
        include_dashboard=False,
        log_to_driver=False,
        configure_logging=False,
        address="local",
        # Backends defined in test modules travel to the actors by reference: the actors
        # import them as pytest did (the test folders pytest put on the path, and the root).
        runtime_env={"env_vars": {"PYTHONPATH": os.pathsep.join(_test_paths())}},
    )
    for sig, handler in handlers.items():
        if handler is not None:
            signal.signal(sig, handler)
    try:
        yield "ray"
    finally:
        ray.shutdown()
