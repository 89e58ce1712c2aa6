"""The chaos suite's harness: run ``guidellm run`` as a user would, hurt it, check the promises.

Every case checks the same things: the exit code is the documented one, every requested output
was written, each request the server received is in the report (the server's own count is at
most the report's successful + errored + incomplete, and any surplus is requests the client
launched and then cancelled or lost before their bytes reached the server), no credential
appears in any output or on the console, no traceback, and the run ended within its bound.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

GUIDELLM = [sys.executable, "-m", "guidellm"]
API_KEY = "sk-chaos-7f3a91c2e5"
USER, PASSWORD = "chaosuser", "hunter2-Zq8"
#: Every form of the credentials a careless server or log could show.
SECRETS = (
    API_KEY,
    PASSWORD,
    f"{USER}:{PASSWORD}",
    base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode(),
)
OUTPUTS = ("r.json", "r.yaml", "r.csv", "r.html")


def with_credentials(url: str) -> str:
    """``http://host:port`` -> ``http://USER:PASSWORD@host:port``."""
    scheme, rest = url.split("://", 1)
    return f"{scheme}://{USER}:{PASSWORD}@{rest}"


def server_count(url: str) -> int:
    """The server's own count of generation requests (its ``/metrics``)."""
    with urllib.request.urlopen(url + "/metrics", timeout=5) as resp:
        for line in resp.read().decode().splitlines():
            series, _, value = line.rpartition(" ")  # name{labels} N, or name N
            if series.split("{")[0] in ("guidellm_mock_requests_total", "hostile_requests_total"):
                return int(float(value))
    raise AssertionError(f"{url}/metrics has no request counter")


@dataclass
class ChaosRun:
    """One ``guidellm run`` in ``folder`` with every output format and a journal."""

    args: list[str]
    folder: Path
    bound_s: float
    proc: subprocess.Popen[str] | None = None
    started: float = 0.0
    elapsed: float = 0.0
    code: int | None = None
    out: str = ""
    err: str = ""
    outputs: dict[str, str] = field(default_factory=dict)

    def start(self) -> ChaosRun:
        env = dict(os.environ)
        env["GUIDELLM_DISABLE_PLUGINS"] = ""
        env.pop("GUIDELLM_WORKERS", None)
        env.pop("GUIDELLM_API_KEY", None)
        env.pop("OPENAI_API_KEY", None)
        outs = [a for name in OUTPUTS for a in ("--output", name)]
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            [*GUIDELLM, "run", *self.args, *outs, "--disable-progress"],
            cwd=self.folder,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,  # signals go to the tool alone, as a kill would
        )
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def journal_results(self) -> int:
        from journalread import count_results

        return count_results(self.folder / "r.journal")

    def wait_for_results(self, count: int, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.journal_results() >= count:
                return
            assert self.proc is not None and self.proc.poll() is None, "the run ended early"
            time.sleep(0.05)
        raise AssertionError(f"no {count} results in the journal within {timeout} s")

    def workers(self) -> list[int]:
        """The PIDs of the run's RequestsWorker processes."""
        children = Path(f"/proc/{self.pid}/task/{self.pid}/children").read_text().split()
        found = []
        for child in children:
            try:
                cmd = Path(f"/proc/{child}/cmdline").read_bytes()
            except OSError:
                continue
            if b"mock_server" not in cmd:
                found.append(int(child))
        return found

    def signal(self, sig: int) -> None:
        os.kill(self.pid, sig)

    def finish(self) -> ChaosRun:
        """Wait for the run's end within its bound (kill it and fail past the bound)."""
        assert self.proc is not None
        remaining = self.bound_s - (time.monotonic() - self.started)
        try:
            self.out, self.err = self.proc.communicate(timeout=max(remaining, 0.1))
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.out, self.err = self.proc.communicate()
            raise AssertionError(
                f"run not finished within {self.bound_s:g} s; stderr:\n{self.err[-2000:]}"
            ) from None
        self.elapsed = time.monotonic() - self.started
        self.code = self.proc.returncode
        for path in self.folder.iterdir():
            if path.name == "r.journal":
                from journalread import journal_text

                self.outputs[path.name] = journal_text(path)
            elif path.is_file() and path.name.startswith("r."):
                self.outputs[path.name] = path.read_text(errors="replace")
        return self

    # -- the promises --------------------------------------------------------------------------

    def report_total(self) -> tuple[int, int]:
        """(successful + errored + incomplete over every benchmark, incomplete)."""
        benchmarks = json.loads(self.outputs["r.json"])["benchmarks"]
        total = incomplete = 0
        for bench in benchmarks:
            counts = bench["requests"]
            total += counts["successful"] + counts["errored"] + counts["incomplete"]
            total += counts.get("outside_window", 0)
            incomplete += counts["incomplete"]
        return total, incomplete

    def check(
        self,
        *,
        codes: tuple[int, ...],
        outputs: bool = True,
        server: str | None = None,
        before: int = 0,
    ) -> None:
        text = self.out + self.err
        assert self.code in codes, f"exit {self.code}, expected {codes}; stderr:\n{self.err}"
        for marker in ("Traceback", "Exception ignored"):
            assert marker not in text, text[-3000:]
        if outputs:
            for name in (*OUTPUTS, "r.journal"):
                assert name in self.outputs, f"{name} not written; stderr:\n{self.err}"
        for secret in SECRETS:
            assert secret not in text, f"{secret!r} on the console"
            for name, content in self.outputs.items():
                assert secret not in content, f"{secret!r} in {name}"
        if server is not None and outputs:
            received = server_count(server) - before
            total, incomplete = self.report_total()
            assert received <= total <= received + incomplete, (
                f"server received {received}, report counts {total} ({incomplete} incomplete)"
            )
