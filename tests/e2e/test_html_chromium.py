"""The HTML report in a real browser (Debian's headless ``chromium``), offline.

Every request the browser makes goes through a trap proxy on a loopback port, so any network
access by the page is seen; console messages come from Chromium's own log. A first test proves
the detectors work on a page that misbehaves on purpose. The screenshot is kept under
``test-artifacts/`` (gitignored). Chromium missing is a failure, not a skip:
``apt-get install -y chromium``.
"""

from __future__ import annotations

import html
import json
import re
import shutil
import socket
import struct
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from reportdata import capacity_report, compile_results, result, server_report, sweep_report

from guidellm.outputs.html import HTMLWriter

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
# Chromium's own background connections (connectivity and sign-in probes) that the flags below
# do not switch off; the page itself may contact nothing (the unit tests also forbid any URL).
BROWSER_HOSTS = {
    "www.google.com",
    "accounts.google.com",
    "clients2.google.com",
    "update.googleapis.com",
    "optimizationguide-pa.googleapis.com",
    "safebrowsingohttpgateway.googleapis.com",
    "content-autofill.googleapis.com",
    "redirector.gvt1.com",
}
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-default-apps",
    "--no-default-browser-check",
    "--no-pings",
    "--disable-domain-reliability",
    "--disable-client-side-phishing-detection",
    "--disable-features=NetworkTimeServiceQuerying,OptimizationHints,MediaRouter,Translate,"
    "AutofillServerCommunication,CertificateTransparencyComponentUpdater",
    "--enable-logging=stderr",
    "--log-level=0",
]


@dataclass
class Trap:
    """A loopback 'proxy' that records the first line of every request and answers nothing."""

    sock: socket.socket
    requests: list[str] = field(default_factory=list)
    stopped: bool = False

    def serve(self) -> None:
        self.sock.settimeout(0.2)
        while not self.stopped:
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(1.0)
                try:
                    line = conn.recv(512).split(b"\r\n", 1)[0].decode("latin-1")
                except OSError:
                    line = ""  # connected, sent nothing: not a request
                self.requests.append(line)

    def page_requests(self) -> list[str]:
        """Requests not explained by the browser's own services (``GET http://h/...`` or
        ``CONNECT h:443``)."""
        out = []
        for line in self.requests:
            if not line:
                continue  # a pre-connected socket closed unused: no request was sent
            parts = line.split()
            target = parts[1] if len(parts) > 1 else line
            host = target.split("://", 1)[-1].split("/", 1)[0].rsplit(":", 1)[0]
            if host not in BROWSER_HOSTS:
                out.append(line)
        return out


@pytest.fixture
def trap() -> Iterator[Trap]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(32)
    t = Trap(sock)
    thread = threading.Thread(target=t.serve, daemon=True)
    thread.start()
    try:
        yield t
    finally:
        t.stopped = True
        thread.join(timeout=5)
        sock.close()


@pytest.fixture(scope="module")
def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.fail("chromium is not installed: run 'apt-get install -y chromium'")
    return path


def run_chromium(
    chromium: str, trap: Trap, page: Path, profile: Path, *action: str
) -> subprocess.CompletedProcess[str]:
    port = trap.sock.getsockname()[1]
    return subprocess.run(
        [
            chromium,
            *FLAGS,
            f"--user-data-dir={profile}",
            f"--proxy-server=http://127.0.0.1:{port}",
            "--proxy-bypass-list=<-loopback>",
            *action,
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def console_lines(stderr: str) -> list[str]:
    return [ln for ln in stderr.splitlines() if ":CONSOLE" in ln]


def test_detectors_catch_a_misbehaving_page(chromium: str, trap: Trap, tmp_path: Path) -> None:
    page = tmp_path / "bad.html"
    page.write_text(
        "<!DOCTYPE html><html><body><img src='http://cdn.example.invalid/x.png'>"
        "<script>console.error('bad-page-marker'); undefinedFunction();</script></body></html>"
    )
    proc = run_chromium(chromium, trap, page, tmp_path / "profile", "--dump-dom")
    assert proc.returncode == 0, proc.stderr[-2000:]
    logged = "\n".join(console_lines(proc.stderr))
    assert "bad-page-marker" in logged
    assert "undefinedFunction" in logged
    assert any("cdn.example.invalid" in r for r in trap.page_requests())


def _report_with_stages() -> Any:
    """The sweep report plus a staged benchmark (rate 4/s, then a ramp to 12/s)."""
    report = sweep_report()
    stages = [
        {"index": 0, "start_s": 0.0, "end_s": 3.0, "rate": 4.0},
        {"index": 1, "start_s": 3.0, "end_s": 6.0, "rate": 4.0, "ramp_to": 12.0},
    ]
    starts = [0.25 * i for i in range(12)] + [3.0 + 0.125 * i for i in range(24)]
    staged = compile_results(
        [result(t, ttft=0.03 + 0.01 * t, tokens=8) for t in starts],
        index=len(report.benchmarks),
        start_time=0.0,
        end_time=6.2,
        strategy={"type": "stages", "stages": stages},
    )
    report.benchmarks.append(staged)
    return report


def test_html_report_renders_offline_without_errors(
    chromium: str, trap: Trap, tmp_path: Path
) -> None:
    page = tmp_path / "report.html"
    report = _report_with_stages()
    HTMLWriter(page).write(report)
    proc = run_chromium(chromium, trap, page, tmp_path / "profile", "--dump-dom")
    assert proc.returncode == 0, proc.stderr[-2000:]
    dom = proc.stdout
    assert 'data-ready="1"' in dom, "the report's script did not run to its end"
    # 5 across benchmarks, 2 distributions, 3 over time per benchmark.
    assert dom.count("<svg") == 7 + 3 * len(report.benchmarks)
    assert dom.count("<polyline") >= 5
    sections = [s.split("</section>", 1)[0] for s in dom.split('<section class="over-time"')[1:]]
    assert len(sections) == len(report.benchmarks)
    for section in sections:
        assert section.count("<svg") == 3
        points = [p.split('"', 1)[0] for p in section.split('points="')[1:]]
        assert len(points) >= 3 and all(p.strip() for p in points)
    staged = sections[-1]
    assert staged.count('class="stage-marker"') == 2 * 3 and ">stage 1</text>" in staged
    assert "Run summary" in dom and "constant 8/s" in dom
    assert console_lines(proc.stderr) == []
    assert trap.page_requests() == [], trap.requests

    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "html-report.png"
    shot.unlink(missing_ok=True)
    proc = run_chromium(
        chromium,
        trap,
        page,
        tmp_path / "profile2",
        f"--screenshot={shot}",
        "--window-size=1280,2400",
        "--hide-scrollbars",
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == (1280, 2400)
    assert len(data) > 50_000  # charts and tables, not a blank page
    assert console_lines(proc.stderr) == []
    assert trap.page_requests() == [], trap.requests


def test_capacity_marker_and_point_labels_render_offline(
    chromium: str, trap: Trap, tmp_path: Path
) -> None:
    """A sweep with a saturation point: the browser's DOM holds the marker on each chart
    across benchmarks, every point's benchmark tag, the capacity section, with no console
    message and no request."""
    page = tmp_path / "capacity.html"
    report = capacity_report("saturation")
    HTMLWriter(page).write(report)
    proc = run_chromium(chromium, trap, page, tmp_path / "profile", "--dump-dom")
    assert proc.returncode == 0, proc.stderr[-2000:]
    dom = proc.stdout
    assert 'data-ready="1"' in dom, "the report's script did not run to its end"
    markers = re.findall(r'<g class="capacity-marker" data-kind="saturation">(.*?)</g>', dom)
    assert len(markers) == 5
    assert all(">saturation 10.3 req/s</text>" in m and "capacity-bracket" in m for m in markers)
    tags = re.findall(r'<text class="point-label"[^>]*>(#\d+)</text>', dom)
    assert len(tags) == 5 * len(report.benchmarks)
    assert sorted(set(tags)) == [f"#{i}" for i in range(len(report.benchmarks))]
    section = dom.split('<section class="capacity" id="capacity"', 1)[1].split("</section>")[0]
    assert "Saturation point: 10.3 requests/s (between 8.0 and 12.0; benchmark 2)" in section
    assert section.count('<tr class="probe fail">') == 2
    assert console_lines(proc.stderr) == []
    assert trap.page_requests() == [], trap.requests


# Appended to a copy of the page after its own script: the browser measures each over-time
# chart of benchmark 1 and each of its lines, and writes what it found on the root element.
PROBE = """<script>
var found = {};
document.querySelectorAll('section.over-time[data-benchmark="1"] figure').forEach(function (f) {
  var box = f.querySelector('svg').getBoundingClientRect();
  found[f.querySelector('figcaption').textContent] = {
    width: box.width,
    height: box.height,
    lines: Array.prototype.map.call(f.querySelectorAll('g.series polyline'), function (p) {
      var b = p.getBBox();
      return [p.closest('g.series').getAttribute('data-series'), b.width, b.height];
    }),
    lone: f.querySelectorAll('circle.lone').length
  };
});
document.documentElement.setAttribute('data-probe', JSON.stringify(found));
</script>"""

SERVER_CHARTS = [
    "constant 8/s: server queue (requests running and waiting)",
    "constant 8/s: KV-cache usage",
    "constant 8/s: client CPU and event-loop lag",
]


def test_server_charts_and_tables_render_offline(chromium: str, trap: Trap, tmp_path: Path) -> None:
    """Two benchmarks, the second with the server's view (one failed scrape): its over-time
    section holds the server's queue, KV-cache and client charts after the TTFT chart, the
    browser lays every line out, the failed scrape breaks the lines, the server's tables are
    there, with no console message and no request; the first benchmark is unchanged."""
    page = tmp_path / "server.html"
    report = server_report((4.0, 8.0), scraped=[1])
    HTMLWriter(page).write(report)
    proc = run_chromium(chromium, trap, page, tmp_path / "profile", "--dump-dom")
    assert proc.returncode == 0, proc.stderr[-2000:]
    dom = proc.stdout
    assert 'data-ready="1"' in dom, "the report's script did not run to its end"
    sections = {
        s.split('"', 1)[0]: s.split("</section>", 1)[0]
        for s in dom.split('<section class="over-time" data-benchmark="')[1:]
    }
    assert sections["0"].count("<svg") == 3
    scraped = sections["1"]
    captions = re.findall(r"<figcaption>([^<]*)</figcaption>", scraped)
    assert captions[2:] == ["constant 8/s: TTFT and ITL over time", *SERVER_CHARTS]
    for title in SERVER_CHARTS:
        assert f'role="img" aria-label="{title}"' in scraped
    for table in ("Server (its own metrics", "TTFT ms: the server", "Cross-check"):
        assert f"<h2>{table}" in dom
    assert "<td>NO</td>" in dom
    assert console_lines(proc.stderr) == []
    assert trap.page_requests() == [], trap.requests

    probe = tmp_path / "probe.html"
    probe.write_text(page.read_text().replace("</body>", PROBE + "</body>"))
    proc = run_chromium(chromium, trap, probe, tmp_path / "profile2", "--dump-dom")
    assert proc.returncode == 0, proc.stderr[-2000:]
    found = json.loads(html.unescape(re.search(r'data-probe="([^"]*)"', proc.stdout)[1]))
    assert len(found) == 6
    for title in SERVER_CHARTS:
        chart = found[title]
        assert chart["width"] > 200 and chart["height"] > 100, (title, chart)
        assert chart["lines"] and all(w > 0 and h >= 0 for _, w, h in chart["lines"]), chart
    # A failed scrape at 1.95 s: each server series has a lone first sample, then one line.
    queue = found[SERVER_CHARTS[0]]
    assert sorted(name for name, _, _ in queue["lines"]) == ["running", "waiting"]
    assert queue["lone"] == 2
    assert found[SERVER_CHARTS[1]]["lone"] == 1
    client = found[SERVER_CHARTS[2]]
    assert sorted(name for name, _, _ in client["lines"]) == ["client CPU", "worst loop lag"]
    assert console_lines(proc.stderr) == []
    assert trap.page_requests() == [], trap.requests

    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "html-server-report.png"
    shot.unlink(missing_ok=True)
    proc = run_chromium(
        chromium,
        trap,
        page,
        tmp_path / "profile3",
        f"--screenshot={shot}",
        "--window-size=1280,3800",
        "--hide-scrollbars",
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", data[16:24]) == (1280, 3800)
    assert len(data) > 50_000
    assert console_lines(proc.stderr) == []
    assert trap.page_requests() == [], trap.requests


def test_the_mock_servers_queue_and_kv_cache_rise_past_its_limit(
    chromium: str, trap: Trap, tmp_path: Path
) -> None:
    """A real run against the mock (4 requests at once, the rest queued): below the limit
    nothing waits; at 12 streams the waiting queue and the KV cache climb, in the report's
    JSON series and in the HTML charts a real browser draws."""
    import os
    import subprocess
    import sys

    from guidellm.benchmark.report import Report
    from guidellm.mock_server import MockServer, MockServerConfig

    config = MockServerConfig(
        ttft_ms=20, itl_ms=5, output_tokens=40, output_tokens_std=0, max_concurrency=4
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("GUIDELLM_")}
    with MockServer(config) as url:
        proc = subprocess.run(
            [sys.executable, "-m", "guidellm", "run", "--target", url, "--profile", "concurrent",
             "--rate", "2,12", "--max-seconds", "3", "--data", "prompt_tokens=64,output_tokens=40",
             "--data-args", "ignore_eos=true", "--server-metrics-interval", "250ms",
             "--outputs", "json,html", "--output-dir", str(tmp_path), "--disable-progress"],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    below, above = (b.server for b in Report.load(tmp_path / "benchmarks.json").benchmarks)
    assert below is not None and above is not None and above.server == "vllm"
    assert below.gauges["requests_waiting"].max == 0
    assert above.gauges["requests_running"].max == 4
    assert (above.gauges["requests_waiting"].max or 0) >= 6
    kv_below, kv_above = below.gauges["kv_cache_usage"].max, above.gauges["kv_cache_usage"].max
    assert kv_below is not None and kv_above is not None and kv_above > 1.5 * kv_below
    waiting = [v for v in above.series.values["requests_waiting"] if v is not None]
    assert waiting[0] == 0 and max(waiting) >= 6  # from an empty queue (the baseline) up

    page = tmp_path / "benchmarks.html"
    probe = tmp_path / "probe.html"
    probe.write_text(page.read_text().replace("</body>", LEVELS + "</body>"))
    proc = run_chromium(chromium, trap, probe, tmp_path / "profile", "--dump-dom")
    assert proc.returncode == 0, proc.stderr[-2000:]
    found = json.loads(html.unescape(re.search(r'data-probe="([^"]*)"', proc.stdout)[1]))
    # On screen, y grows downwards: a higher level is a smaller y.
    for number in (0, 1):
        queue = found[f"{number}: requests running and waiting"]
        assert sorted(queue["lines"]) == ["running", "waiting"], queue
        assert all(width > 200 for width in queue["widths"].values()), queue
    low = found["0: requests running and waiting"]["lines"]
    high = found["1: requests running and waiting"]["lines"]
    zero = found["0: requests running and waiting"]["zero"]
    assert low["waiting"] == pytest.approx(zero, abs=1)  # nothing waits
    zero = found["1: requests running and waiting"]["zero"]
    assert high["waiting"] < high["running"] < zero - 10  # the queue outgrows what runs
    kv = found["1: KV-cache usage"]
    assert kv["lines"]["KV-cache usage"] < kv["zero"] - 10
    assert console_lines(proc.stderr) == []
    assert trap.page_requests() == [], trap.requests


# For each benchmark's server charts: each line's highest point on screen (its bounding box's
# top, in page pixels), its width, and where the chart's zero tick sits (``zero``).
LEVELS = """<script>
var found = {};
document.querySelectorAll('section.over-time').forEach(function (s) {
  var n = s.getAttribute('data-benchmark');
  s.querySelectorAll('figure').forEach(function (f) {
    var caption = f.querySelector('figcaption').textContent;
    var name = caption.indexOf('server queue') >= 0 ? 'requests running and waiting'
      : caption.indexOf('KV-cache') >= 0 ? 'KV-cache usage' : null;
    if (!name) { return; }
    var lines = {}, widths = {};
    f.querySelectorAll('g.series').forEach(function (g) {
      var p = g.querySelector('polyline');
      if (!p) { return; }
      var b = p.getBoundingClientRect();
      lines[g.getAttribute('data-series')] = b.top;
      widths[g.getAttribute('data-series')] = b.width;
    });
    found[n + ': ' + name] = {lines: lines, widths: widths};
    f.querySelectorAll('text.tick').forEach(function (t) {
      if (t.textContent === '0' && t.getAttribute('text-anchor') === 'end') {
        var box = t.getBoundingClientRect();
        found[n + ': ' + name].zero = box.top + box.height / 2;
      }
    });
  });
});
document.documentElement.setAttribute('data-probe', JSON.stringify(found));
</script>"""
