"""A real local Ray cluster for tests: a head node and worker nodes, all on 127.0.0.1.

``ray.cluster_utils.Cluster`` starts each node as its own raylet (its own processes), so a
test sees what a multi-node cluster does: actors spread across nodes, a node removed mid-run.
Usage stats, the dashboard and log forwarding are off. :meth:`RayCluster.stop` shuts every
node down (by the processes Ray started for it)::

    with RayCluster(nodes=2).start() as cluster:
        run(["--executor", f"kind=ray,address={cluster.address}"])
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path
from typing import Any

from guidellm.testing.process import TestServerError

__all__ = ["RayCluster"]


class RayCluster:
    """``nodes`` Ray nodes of ``cpus`` CPUs each (the first is the head). With ``client``,
    the head also serves Ray Client on a free port: :attr:`client_address` (``ray://``)."""

    ATTEMPTS = 3
    RETRY_PAUSE_S = 2.0

    def __init__(self, nodes: int = 2, cpus: float = 1, client: bool = False) -> None:
        self.nodes = nodes
        self.cpus = cpus
        self.client = client
        self.address = ""
        self.client_address = ""
        self._cluster: Any = None
        self.workers: list[Any] = []

    def start(self) -> RayCluster:
        os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
        try:
            from ray.cluster_utils import Cluster
        except ImportError:
            raise TestServerError(
                "Ray is not installed; install the test extras: pip install -e '.[dev]'"
            ) from None
        head: dict[str, Any] = {"num_cpus": self.cpus, "include_dashboard": False}
        if self.client:
            from guidellm.testing.process import free_port

            head["ray_client_server_port"] = free_port()
            self.client_address = f"ray://127.0.0.1:{head['ray_client_server_port']}"
        # On a loaded 2-core machine the GCS now and then answers no RPC for the 30 s Ray
        # waits for a raylet to register; a fresh cluster a moment later starts in seconds.
        # Three tries, then a loud failure.
        errors: list[str] = []
        for attempt in range(self.ATTEMPTS):
            before = _children()
            try:
                self._cluster = Cluster(initialize_head=True, head_node_args=head)
                self.workers = [
                    self._cluster.add_node(num_cpus=self.cpus) for _ in range(self.nodes - 1)
                ]
                self._cluster.wait_for_nodes()
                break
            except Exception as exc:
                errors.append(f"try {attempt + 1}: {exc}")
                self.stop()
                self.workers = []
                # A node that timed out starting is no Cluster's yet: its processes are ours.
                for pid in _children() - before:
                    with contextlib.suppress(OSError):
                        os.kill(pid, signal.SIGKILL)
                time.sleep(self.RETRY_PAUSE_S)
        else:
            raise TestServerError("a local Ray cluster could not start: " + "; ".join(errors))
        self.address = str(self._cluster.address)
        return self

    def actor_pids(self, actor: str = "WorkerHost") -> list[int]:
        """The processes of this cluster's actors of class ``actor``: children of its raylets
        (not another cluster's on the same machine) named ``ray::<actor>``."""
        if self._cluster is None:
            return []
        raylets = {
            info.process.pid
            for node in (self._cluster.head_node, *self.workers)
            for info in node.all_processes.get("raylet", [])
        }
        marker = f"ray::{actor}".encode()
        found = []
        for pid, ppid in _processes():
            try:
                if ppid in raylets and marker in Path(f"/proc/{pid}/cmdline").read_bytes():
                    found.append(pid)
            except OSError:
                continue  # it exited meanwhile
        return found

    def remove_node(self, node: Any) -> None:
        """Take a worker node away (its raylet and actors die), as a lost machine would."""
        self._cluster.remove_node(node)
        self.workers.remove(node)

    def stop(self) -> None:
        if self._cluster is not None:
            cluster, self._cluster = self._cluster, None
            cluster.shutdown()

    def __enter__(self) -> RayCluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _processes() -> list[tuple[int, int]]:
    """(pid, parent pid) of every live process."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue  # it exited meanwhile
        found.append((int(entry.name), ppid))
    return found


def _children() -> set[int]:
    """The live child processes of this process (Ray's node processes among them)."""
    me = os.getpid()
    return {pid for pid, ppid in _processes() if ppid == me}
