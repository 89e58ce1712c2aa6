"""``--executor ray`` against the mock server, on a real local Ray cluster of two nodes (each
its own raylet on 127.0.0.1): the same schedule as local processes, actors on every node,
and nothing lost when an actor or a node dies or the user presses Ctrl-C."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from journalread import count_results, journal_records

from guidellm.mock_server import MockServer
from guidellm.mock_server.behavior import MockServerConfig
from guidellm.testing.process import TestServerError
from guidellm.testing.ray_cluster import RayCluster
from tests.clirun import mock_requests, one_line

GUIDELLM = [sys.executable, "-m", "guidellm"]
DATA = ["--data", "prompt_tokens=16,output_tokens=4"]


def _cluster(nodes: int = 2, client: bool = False) -> RayCluster:
    try:
        return RayCluster(nodes=nodes, client=client).start()
    except TestServerError as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="module")
def cluster() -> Iterator[RayCluster]:
    with _cluster(client=True) as running:
        yield running


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    mock = MockServer(MockServerConfig(ttft_ms=5.0, itl_ms=1.0))
    url = mock.start_process()
    try:
        yield url
    finally:
        mock.stop()


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GUIDELLM_")}
    env["RAY_USAGE_STATS_ENABLED"] = "0"
    return env


def _start(args: list[str], cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*GUIDELLM, "run", "--output", "r.json", "--disable-progress", *args],
        cwd=cwd, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def _run(args: list[str], cwd: Path, timeout: float = 180) -> tuple[int, str, dict[str, Any]]:
    proc = _start(args, cwd)
    out, err = proc.communicate(timeout=timeout)
    report = json.loads((cwd / "r.json").read_text()) if (cwd / "r.json").exists() else {}
    return proc.returncode, out + err, report


def _results(cwd: Path) -> list[list[Any]]:
    """Every result the run journalled (array-encoded RequestResults)."""
    journal = cwd / "r.journal"
    if not count_results(journal):
        return []
    return [r["r"] for r in journal_records(journal) if r["type"] == "result"]


def _worker(result: list[Any]) -> int:
    """A journalled result's worker (its 20th field; trailing defaults are left out)."""
    return int(result[19]) if len(result) > 19 else 0


def _ray(cluster: RayCluster, **options: Any) -> list[str]:
    extra = "".join(f",{k}={v}" for k, v in options.items())
    return ["--executor", f"kind=ray,address={cluster.address}{extra}"]


def test_ray_keeps_the_local_schedule_and_every_node_sends(
    cluster: RayCluster, server: str, tmp_path: Path
) -> None:
    args = ["--target", server, *DATA, "--profile", "constant", "--rate", "200",
            "--max-seconds", "5"]  # fmt: skip
    local_dir, ray_dir = tmp_path / "local", tmp_path / "ray"
    local_dir.mkdir()
    ray_dir.mkdir()
    code, console, local = _run([*args, "--workers", "2"], local_dir)
    assert code == 0, console
    code, console, remote = _run([*args, *_ray(cluster, workers=2)], ray_dir)
    assert code == 0, console
    counts = []
    for report in (local, remote):
        (bench,) = report["benchmarks"]
        req = bench["requests"]
        counts.append(req["successful"] + req["errored"] + req["incomplete"])
        assert req["errored"] == 0
        assert bench["metrics"]["scheduling_delay_ms"]["successful"]["percentiles"]["p99"] < 10
    assert abs(counts[0] - counts[1]) <= 2, counts  # 1,000 due in 5 s, the last may be cut
    rates = [r["benchmarks"][0]["metrics"]["requests_per_second"]["total"] for r in (local, remote)]
    assert abs(rates[1] - rates[0]) <= 0.01 * rates[0], rates
    executor = remote["resolved"]["executor"]
    assert executor["kind"] == "ray" and executor["nodes"] == 2, executor
    node_of = {a["worker"]: a["node_id"] for a in executor["actors"]}
    per_node = Counter(node_of[_worker(r)] for r in _results(ray_dir))
    assert len(per_node) == 2 and min(per_node.values()) > 300, per_node
    assert abs(executor["clock_offset_ms"]) <= executor["clock_offset_bound_ms"] + 1


def test_a_seeded_poisson_schedule_splits_exactly_over_any_number_of_actors(
    cluster: RayCluster, server: str, tmp_path: Path
) -> None:
    schedules = []
    for actors in (1, 2, 4):
        cwd = tmp_path / str(actors)
        cwd.mkdir()
        args = ["--target", server, *DATA, "--profile", "poisson", "--rate", "100",
                "--max-requests", "200", "--random-seed", "7",
                *_ray(cluster, workers=actors, num_cpus=0.25)]  # fmt: skip
        code, console, report = _run(args, cwd)
        assert code == 0, console
        assert report["resolved"]["executor"]["workers"] == actors
        results = _results(cwd)
        assert len({_worker(r) for r in results}) == actors
        first = min(r[2] for r in results)
        schedules.append(sorted((int(r[0]), round(r[2] - first, 9)) for r in results))
    assert len(schedules[0]) == 200
    assert schedules[0] == schedules[1] == schedules[2]


def test_an_actor_on_another_clock_reports_in_the_drivers_time_base(
    cluster: RayCluster, server: str, tmp_path: Path
) -> None:
    """One actor reads a clock 3.5 s ahead (its frames shifted as another host's would be):
    its offset is measured, its send times land on its clock and its results come back on
    the driver's: no request starts before it was due, or outside the benchmark."""
    env = json.dumps({"env_vars": {"GUIDELLM_TEST_CLOCK_OFFSET_S": "3.5"}})
    args = ["--target", server, *DATA, "--profile", "constant", "--rate", "40",
            "--max-seconds", "3",
            "--executor", f"kind=ray,address={cluster.address},workers=1,runtime_env={env}",
            ]  # fmt: skip
    code, console, report = _run(args, tmp_path)
    assert code == 0, console
    (bench,) = report["benchmarks"]
    assert bench["requests"]["successful"] >= 100, bench["requests"]
    client = bench["client"]
    assert client["clock_shifted"] is True
    assert abs(client["clock_offset_ms"] - 3500) <= client["clock_offset_bound_ms"] + 1, client
    assert client["clock_offset_bound_ms"] < 5
    assert client["clock_warnings"] == []
    delay = bench["metrics"]["scheduling_delay_ms"]["successful"]["percentiles"]["p99"]
    assert 0 <= delay < 10, delay
    epoch = report["benchmarks"][0]["start_time"] - min(r[2] for r in _results(tmp_path))
    for r in _results(tmp_path):
        scheduled, start, end = r[2], r[3], r[4]
        assert scheduled - 0.001 <= start <= end, r  # started when due, on the driver's clock
        assert bench["start_time"] - 0.01 <= start + epoch <= bench["end_time"] + 0.01, r


def test_a_ray_client_address_runs_the_same_benchmark(
    cluster: RayCluster, server: str, tmp_path: Path
) -> None:
    """``address=ray://host:port`` (Ray Client, the head's proxy): the same actors and
    counts as the cluster's own address."""
    args = ["--target", server, *DATA, "--profile", "constant", "--rate", "50",
            "--max-requests", "100",
            "--executor", f"kind=ray,address={cluster.client_address},workers=2"]  # fmt: skip
    code, console, report = _run(args, tmp_path)
    assert code == 0, console
    (bench,) = report["benchmarks"]
    assert bench["requests"]["successful"] == 100, bench["requests"]
    executor = report["resolved"]["executor"]
    assert executor["workers"] == 2 and len(executor["actors"]) == 2, executor
    assert sorted(bench["client"]["sent_by_worker"].values()) == [50, 50]


def _hurt_mid_run(tmp_path: Path, args: list[str], hurt: Any) -> tuple[int, str, dict[str, Any]]:
    proc = _start(args, tmp_path)
    deadline = time.monotonic() + 60
    while len(_results(tmp_path)) < 40 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(_results(tmp_path)) >= 40, "no results came in"
    hurt(proc)
    out, err = proc.communicate(timeout=120)
    report = json.loads((tmp_path / "r.json").read_text())
    return proc.returncode, out + err, report


def _accounted(server: str, before: int, report: dict[str, Any]) -> dict[str, Any]:
    (bench,) = report["benchmarks"]
    req = bench["requests"]
    # Every request the server received is in the report, successful, errored or incomplete.
    assert mock_requests(server) - before <= req["successful"] + req["errored"] + req["incomplete"]
    return bench


def test_an_actor_killed_mid_run_loses_no_request(
    cluster: RayCluster, server: str, tmp_path: Path
) -> None:
    before = mock_requests(server)
    args = ["--target", server, *DATA, "--profile", "constant", "--rate", "50",
            "--max-seconds", "8", *_ray(cluster, workers=2)]  # fmt: skip
    code, console, report = _hurt_mid_run(
        tmp_path, args, lambda _proc: os.kill(cluster.actor_pids()[0], signal.SIGKILL)
    )
    assert code == 1, console
    bench = _accounted(server, before, report)
    assert bench["errors"].get("worker_lost", 0) >= 1, bench["errors"]
    assert "Ray actor" in json.dumps(report)
    assert not cluster.actor_pids()


def test_a_node_removed_mid_run_loses_no_request(server: str, tmp_path: Path) -> None:
    own = _cluster()
    try:
        before = mock_requests(server)
        args = ["--target", server, *DATA, "--profile", "constant", "--rate", "50",
                "--max-seconds", "8", *_ray(own, workers=2)]  # fmt: skip
        code, console, report = _hurt_mid_run(
            tmp_path, args, lambda _proc: own.remove_node(own.workers[0])
        )
        assert code == 1, console
        bench = _accounted(server, before, report)
        assert bench["errors"].get("worker_lost", 0) >= 1, bench["errors"]
    finally:
        own.stop()


def _carried_on(server: str, before: int, report: dict[str, Any], planned: int) -> None:
    """``--on-worker-loss continue``: every planned request is in the report exactly once
    (the lost actor's unsent ones were sent by the other, none twice), and the report says
    who was lost and what each actor sent."""
    bench = _accounted(server, before, report)
    req = bench["requests"]
    total = req["successful"] + req["errored"] + req["incomplete"]
    assert total == planned, req
    assert mock_requests(server) - before >= total - req["incomplete"]
    client = bench["client"]
    assert len(client["lost_workers"]) == 1 and client["stop_reason"] == "completed", client
    assert sum(client["sent_by_worker"].values()) == planned, client
    assert any("the others carried on" in w for w in bench["warnings"]), bench["warnings"]
    survivor = next(w for w in client["sent_by_worker"] if w not in client["lost_workers"])
    assert client["sent_by_worker"][survivor] > planned / 2  # it took over the lost one's


def test_with_continue_a_killed_actors_requests_go_to_the_other(
    cluster: RayCluster, server: str, tmp_path: Path
) -> None:
    before = mock_requests(server)
    args = ["--target", server, *DATA, "--profile", "constant", "--rate", "50",
            "--max-requests", "400", "--max-seconds", "20", "--on-worker-loss", "continue",
            *_ray(cluster, workers=2)]  # fmt: skip
    code, console, report = _hurt_mid_run(
        tmp_path, args, lambda _proc: os.kill(cluster.actor_pids()[0], signal.SIGKILL)
    )
    assert code == 0, console
    _carried_on(server, before, report, 400)
    assert "Ray actor" in json.dumps(report["benchmarks"][0]["client"]["lost_workers"])


def test_a_frozen_actor_is_lost_after_the_heartbeat_and_the_other_carries_on(
    cluster: RayCluster, server: str, tmp_path: Path
) -> None:
    """SIGSTOP: the actor answers no pull; after HEARTBEAT_TIMEOUT_S it is lost (without
    waiting for Ray to notice), and the other actor sends the rest."""
    before = mock_requests(server)
    args = ["--target", server, *DATA, "--profile", "constant", "--rate", "40",
            "--max-requests", "480", "--max-seconds", "40", "--on-worker-loss", "continue",
            *_ray(cluster, workers=2)]  # fmt: skip
    stopped: list[int] = []

    def freeze(_proc: Any) -> None:
        stopped.append(cluster.actor_pids()[0])
        os.kill(stopped[0], signal.SIGSTOP)

    try:
        code, console, report = _hurt_mid_run(tmp_path, args, freeze)
    finally:
        for pid in stopped:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    assert code == 0, console
    _carried_on(server, before, report, 480)
    (why,) = report["benchmarks"][0]["client"]["lost_workers"].values()
    assert "stopped responding" in why, why


def test_with_continue_a_removed_nodes_streams_go_to_the_other(server: str, tmp_path: Path) -> None:
    own = _cluster()
    try:
        before = mock_requests(server)
        # Requests of about 0.1 s: the node goes while most of the 600 are still to come.
        args = ["--target", server, "--data", "prompt_tokens=16,output_tokens=100",
                "--profile", "concurrent", "--rate", "4", "--max-requests", "600",
                "--max-seconds", "60", "--on-worker-loss", "continue",
                *_ray(own, workers=2)]  # fmt: skip
        code, console, report = _hurt_mid_run(
            tmp_path, args, lambda _proc: own.remove_node(own.workers[0])
        )
        assert code == 0, console
        _carried_on(server, before, report, 600)
    finally:
        own.stop()


def test_ctrl_c_writes_the_outputs_and_leaves_no_actor(
    cluster: RayCluster, server: str, tmp_path: Path
) -> None:
    before = mock_requests(server)
    args = ["--target", server, *DATA, "--profile", "constant", "--rate", "50",
            "--max-seconds", "20", *_ray(cluster, workers=2)]  # fmt: skip
    code, console, report = _hurt_mid_run(
        tmp_path, args, lambda proc: proc.send_signal(signal.SIGINT)
    )
    assert code == 130, console
    _accounted(server, before, report)
    deadline = time.monotonic() + 10
    while cluster.actor_pids() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not cluster.actor_pids()


def test_without_ray_the_executor_is_one_line(tmp_path: Path) -> None:
    fake = tmp_path / "site"
    (fake / "ray").mkdir(parents=True)
    (fake / "ray" / "__init__.py").write_text("raise ImportError('no ray here')\n")
    env = {**_env(), "PYTHONPATH": f"{fake}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    proc = subprocess.run(
        [*GUIDELLM, "run", "--executor", "ray", "--max-requests", "5"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    one_line(proc, "pip install 'guidellm[ray]'")
    assert not (tmp_path / "benchmarks.json").exists()
