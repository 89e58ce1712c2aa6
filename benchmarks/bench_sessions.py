"""The client's cost per request in conversations vs single-turn requests of the same sizes.

Starts nginx serving pre-rendered SSE streams (``../shared/bench/gen_sse.py``: the target is
never the bottleneck, so what is measured is the client), then runs ``guidellm run`` as a user
does, alternating:

* ``sessions``: ``--data turns=T,prompt_tokens=P,turn_prompt_tokens=Q,output_tokens=O`` with
  ``--profile concurrent --rate N`` (N users, each running sessions back to back, no think
  time): every turn resends the whole conversation, the live answers included;
* ``single``: ``--data prompt_tokens=M,output_tokens=O`` at the same concurrency, where M is
  the mean prompt of a session's turns (``P + (T-1)/2 x (Q + O)`` tokens) and the turn's
  answer length is O: the same sizes, one turn each.

For each run: requests, CPU-ms per request of the whole tool (user+sys of every guidellm
process, start-up and shut-down included, over requests), the steady-state figure the run
measured itself (``client.cpu_ms_per_request``), and the ratio sessions/single.

    .venv/bin/python benchmarks/bench_sessions.py [--users 1000] [--seconds 10] [--repeat 2]

nginx (``apt-get install -y nginx``) is stopped by its PID at the end.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_client import DEFAULT_GEN_SSE, nginx_target


def run(
    url: str, name: str, data: str, *, users: int, seconds: float, work: Path
) -> dict[str, Any]:
    out = work / f"{name}.json"
    journal = work / f"{name}.journal"
    cmd = [
        sys.executable, "-m", "guidellm", "run", "--target", url, "--data", data,
        "--profile", "concurrent", "--rate", str(users), "--max-seconds", str(seconds),
        "--output", str(out), "--journal", str(journal), "--disable-console-outputs",
    ]  # fmt: skip
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 120, check=False)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        sys.exit(f"{name}: guidellm exited {proc.returncode}: {proc.stderr.strip()}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    (bench,) = json.loads(out.read_text())["benchmarks"]
    from guidellm.benchmark.journal import read_journal

    requests = sum(1 for kind, _ in read_journal(journal) if kind == "result")
    sessions = bench.get("sessions") or {}
    return {
        "case": name,
        "requests": requests,
        "sessions_started": sessions.get("started"),
        "cpu_ms_per_request_whole_tool": round(cpu * 1000 / max(requests, 1), 3),
        "cpu_ms_per_request_steady": bench["client"]["cpu_ms_per_request"],
        "requests_per_second": round(bench["metrics"]["requests_per_second"]["successful"], 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--gen-sse", type=Path, default=DEFAULT_GEN_SSE)
    ap.add_argument("--users", type=int, default=1000)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--turns", type=int, default=4)
    ap.add_argument("--prompt-tokens", type=int, default=256)
    ap.add_argument("--turn-prompt-tokens", type=int, default=64)
    ap.add_argument("--output-tokens", type=int, default=128)
    ap.add_argument("--repeat", type=int, default=2)
    a = ap.parse_args()
    t, p, q, o = a.turns, a.prompt_tokens, a.turn_prompt_tokens, a.output_tokens
    mean_prompt = round(p + (t - 1) / 2 * (q + o))
    sessions = f"turns={t},prompt_tokens={p},turn_prompt_tokens={q},output_tokens={o}"
    single = f"prompt_tokens={mean_prompt},output_tokens={o}"
    rows = []
    with nginx_target(a.gen_sse, o) as (url, _log), tempfile.TemporaryDirectory() as work:
        for i in range(a.repeat):
            for name, data in (("sessions", sessions), ("single", single)):
                row = run(
                    url, f"{name}-{i}", data, users=a.users, seconds=a.seconds, work=Path(work)
                )
                print(json.dumps(row), flush=True)
                rows.append(row)
    for key in ("cpu_ms_per_request_whole_tool", "cpu_ms_per_request_steady"):
        s = [r[key] for r in rows if r["case"].startswith("sessions")]
        m = [r[key] for r in rows if r["case"].startswith("single")]
        ratios = [round(x / y, 3) for x, y in zip(s, m, strict=True)]
        print(json.dumps({"ratio": key, "sessions_over_single": ratios}))


if __name__ == "__main__":
    main()
