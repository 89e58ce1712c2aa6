"""A Ray Client head that is slow to answer is tried again; another address is not."""

from __future__ import annotations

from typing import Any

import pytest

from guidellm.scheduler import ray_pool


class _FlakyRay:
    """Fails ``failures`` inits with ``error``, then connects; counts inits and shutdowns."""

    def __init__(self, failures: int, error: type[Exception]) -> None:
        self.failures = failures
        self.error = error
        self.inits = 0
        self.shutdowns = 0
        self.connected = False

    def init(self, **_: Any) -> None:
        self.inits += 1
        if self.inits <= self.failures:
            raise self.error("ray client connection timeout")
        self.connected = True

    def shutdown(self) -> None:
        self.shutdowns += 1


@pytest.fixture(autouse=True)
def _no_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ray_pool.time, "sleep", lambda _s: None)


@pytest.mark.parametrize("error", [ConnectionError, ConnectionAbortedError])
def test_a_client_head_slow_twice_is_reached_the_third_time(error: type[Exception]) -> None:
    ray = _FlakyRay(2, error)
    ray_pool._init(ray, {"address": "ray://127.0.0.1:10001", "runtime_env": None})
    assert ray.connected and ray.inits == 3 and ray.shutdowns == 2


def test_a_client_head_that_never_answers_fails_after_three_tries() -> None:
    ray = _FlakyRay(5, ConnectionError)
    with pytest.raises(ConnectionError):
        ray_pool._init(ray, {"address": "ray://127.0.0.1:10001", "runtime_env": None})
    assert ray.inits == 3 and not ray.connected


def test_a_cluster_address_is_not_tried_again() -> None:
    ray = _FlakyRay(1, ConnectionError)
    with pytest.raises(ConnectionError):
        ray_pool._init(ray, {"address": "127.0.0.1:6379", "runtime_env": None})
    assert ray.inits == 1
