"""How the Benchmarker sizes the pool: workers per core, concurrency per worker."""

from __future__ import annotations

from guidellm.benchmark.benchmarker import DEFAULT_OPEN_LOOP_CONCURRENCY, Benchmarker, RunSettings
from guidellm.plugins import PluginHost
from guidellm.testing.sleep_backend import SleepBackend


def _bench(profile: str, rates: list[float] | None, options: dict[str, object]) -> Benchmarker:
    host = PluginHost(entry_points=False)
    return Benchmarker(
        backend=SleepBackend(),
        requests=[],
        profile=host.profiles.get(profile)(rates, options),
        settings=RunSettings(workers=2),
    )


def test_closed_loop_uses_no_more_workers_than_streams() -> None:
    sync = _bench("synchronous", None, {})
    assert (sync.workers, sync.worker_concurrency) == (1, 1)
    conc = _bench("concurrent", [1, 9], {})
    assert (conc.workers, conc.worker_concurrency) == (2, 5)


def test_open_loop_has_no_hidden_low_cap() -> None:
    const = _bench("constant", [100], {})
    assert const.workers == 2
    assert const.worker_concurrency * 2 >= DEFAULT_OPEN_LOOP_CONCURRENCY
    capped = _bench("constant", [100], {"max_concurrency": 10})
    assert capped.worker_concurrency == 5
    sweep = _bench("sweep", [4], {})
    assert sweep.worker_concurrency * 2 >= DEFAULT_OPEN_LOOP_CONCURRENCY


def test_profiles_say_what_they_plan_publicly() -> None:
    host = PluginHost(entry_points=False)
    conc = host.profiles.get("concurrent")([1, 9], {})
    planned = conc.planned()
    assert planned is not None and [s.streams for s in planned] == [1, 9]
    planned.clear()  # a copy: the profile's own plan is untouched
    assert conc.next_strategy([]) is not None
    assert host.profiles.get("sweep")([4], {}).planned() is None
