"""The test Ray cluster tries again when a node times out starting, and leaves nothing behind."""

from __future__ import annotations

import subprocess
import sys
import types
from collections.abc import Iterator
from typing import Any

import pytest

from guidellm.testing.process import TestServerError
from guidellm.testing.ray_cluster import RayCluster


class _FlakyCluster:
    """Starts a real child process (as a Ray node would), then fails like a slow GCS does,
    ``fails`` times; after that it starts."""

    fails = 0
    spawned: list[subprocess.Popen[bytes]] = []

    def __init__(self, **_: Any) -> None:
        child = subprocess.Popen(["sleep", "60"])
        _FlakyCluster.spawned.append(child)
        if len(_FlakyCluster.spawned) <= _FlakyCluster.fails:
            raise RuntimeError("The current node timed out during startup.")
        self.address = "127.0.0.1:6379"

    def add_node(self, **_: Any) -> object:
        return object()

    def wait_for_nodes(self) -> None:
        return None

    def shutdown(self) -> None:
        for child in _FlakyCluster.spawned:
            child.kill()


@pytest.fixture
def flaky(monkeypatch: pytest.MonkeyPatch) -> Iterator[type[_FlakyCluster]]:
    module = types.ModuleType("ray.cluster_utils")
    module.Cluster = _FlakyCluster  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "ray.cluster_utils", module)
    monkeypatch.setattr(RayCluster, "RETRY_PAUSE_S", 0.0)
    _FlakyCluster.spawned = []
    yield _FlakyCluster
    for child in _FlakyCluster.spawned:
        child.kill()
        child.wait()


def test_a_node_that_times_out_is_killed_and_the_next_try_starts(
    flaky: type[_FlakyCluster],
) -> None:
    flaky.fails = 2
    cluster = RayCluster(nodes=2).start()
    assert cluster.address == "127.0.0.1:6379"
    first, second, third = flaky.spawned
    assert first.wait(timeout=5) == -9 and second.wait(timeout=5) == -9
    assert third.poll() is None  # the running cluster's own process is left alone
    cluster.stop()


def test_three_failed_tries_fail_loudly_naming_each(flaky: type[_FlakyCluster]) -> None:
    flaky.fails = 3
    with pytest.raises(TestServerError) as raised:
        RayCluster(nodes=2).start()
    message = str(raised.value)
    assert message.startswith("a local Ray cluster could not start")
    assert all(f"try {n}: The current node timed out" in message for n in (1, 2, 3))
    assert all(child.wait(timeout=5) == -9 for child in flaky.spawned)
