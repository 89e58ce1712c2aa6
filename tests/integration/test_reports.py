"""``guidellm report`` and ``guidellm compare`` as a user runs them: real processes, real files."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from reportdata import sweep_report

from guidellm.benchmark.report import Report


def guidellm(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "guidellm", *args],
        check=False,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        env={
            "PATH": "/usr/bin:/bin",
            "COLUMNS": "120",
            "GUIDELLM_LOAD_PLUGINS": "",
            # A checkout run with PYTHONPATH (a worktree) tests its own code, not the install.
            **{k: v for k, v in os.environ.items() if k == "PYTHONPATH"},
        },
    )


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("reports") / "run.json"
    path.write_text(json.dumps(sweep_report().to_dict()))
    return path


def test_report_renders_every_format_from_the_json(saved: Path, tmp_path: Path) -> None:
    outs = [tmp_path / n for n in ("r.yaml", "r.csv", "r.html", "copy.json")]
    proc = guidellm("report", str(saved), *[f"--output={p}" for p in outs], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "Run summary" in proc.stdout and "Throughput" in proc.stdout
    for p in outs:
        assert p.stat().st_size > 0
        assert f"wrote {p}" in proc.stderr
    original = Report.load(saved).to_dict()
    assert Report.load(tmp_path / "copy.json").to_dict() == original
    assert Report.load(tmp_path / "r.yaml").to_dict() == original
    with (tmp_path / "r.csv").open() as f:
        assert len(list(csv.reader(f))) == 1 + len(original["benchmarks"])
    # The YAML re-renders to the same HTML as the JSON.
    proc = guidellm(
        "report",
        str(tmp_path / "r.yaml"),
        "-o",
        str(tmp_path / "y.html"),
        "--disable-console-outputs",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ""
    strip = lambda s: s.split("<header>", 1)[1]  # noqa: E731 - same body
    assert strip((tmp_path / "y.html").read_text()) == strip((tmp_path / "r.html").read_text())


def test_report_bad_input_is_one_line_exit_2(saved: Path, tmp_path: Path) -> None:
    proc = guidellm("report", str(tmp_path / "missing.json"), cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "does not exist" in proc.stderr
    proc = guidellm("report", str(saved), "-o", str(tmp_path / "r.pdf"), cwd=tmp_path)
    assert proc.returncode == 2 and "unknown report format '.pdf'" in proc.stderr
    assert not (tmp_path / "r.pdf").exists()
    junk = tmp_path / "junk.json"
    junk.write_text('{"hello": 1}')
    proc = guidellm("report", str(junk), cwd=tmp_path)
    assert proc.returncode == 2 and "not a guidellm report" in proc.stderr
    assert "Traceback" not in proc.stderr


def _slower(path: Path, out: Path, factor: float) -> Path:
    """A copy of the report whose TTFT percentiles (and their intervals) are ``factor`` x."""
    tree = json.loads(path.read_text())
    for b in tree["benchmarks"]:
        s = b["metrics"]["time_to_first_token_ms"]["successful"]
        s["percentiles"] = {k: v * factor for k, v in s["percentiles"].items()}
        s["median"] *= factor
        s["ci95"] = {k: [lo * factor, hi * factor] for k, (lo, hi) in s["ci95"].items()}
    out.write_text(json.dumps(tree))
    return out


def test_compare_passes_and_fails_gates(saved: Path, tmp_path: Path) -> None:
    same = guidellm(
        "compare", str(saved), str(saved), "--fail-if", "ttft_p99_ms>+10%", cwd=tmp_path
    )
    assert same.returncode == 0, same.stdout + same.stderr
    assert "all 1 gate(s) passed" in same.stdout
    assert "ttft_p99_ms" in same.stdout and "+0.0%" in same.stdout

    slower = _slower(saved, tmp_path / "slower.json", 1.5)
    proc = guidellm(
        "compare", str(saved), str(slower), "--fail-if", "ttft_p99_ms>+10%,rps<-5%", cwd=tmp_path
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert proc.stdout.count("FAIL ttft_p99_ms>+10%") == 3
    assert "rps<-5%" not in proc.stdout.split("FAIL", 1)[1]
    assert "+50.0%" in proc.stdout
    # p50 intervals no longer overlap: marked significant.
    row = next(ln for ln in proc.stdout.splitlines() if ln.strip().startswith("ttft_p50_ms"))
    assert row.rstrip().endswith("*")

    # Absolute threshold on the candidate and absolute change.
    proc = guidellm(
        "compare",
        str(saved),
        str(slower),
        "--fail-if",
        "error_rate>0.5",
        "--fail-if",
        "itl_p50_ms>+1",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stdout


def test_compare_explains_its_columns_and_pairs_by_strategy(saved: Path, tmp_path: Path) -> None:
    # The candidate ran the rates in another order and one more: pairs follow the strategy.
    data = json.loads(saved.read_text())
    data["benchmarks"] = [data["benchmarks"][2], data["benchmarks"][0]]
    extra = json.loads(json.dumps(data["benchmarks"][1]))
    extra["strategy"] = {"type": "poisson", "rate": 2.0}
    data["benchmarks"].append(extra)
    for i, b in enumerate(data["benchmarks"]):
        b["id"] = i
    other = tmp_path / "other.json"
    other.write_text(json.dumps(data))
    proc = guidellm("compare", str(saved), str(other), cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "sig.: * = the 95 % confidence intervals of A and B do not overlap" in proc.stdout
    assert "+0.0%" in proc.stdout and "+inf" not in proc.stdout
    assert "only in A: #1 constant 4/s" in proc.stdout
    assert "only in B: #2 poisson 2/s" in proc.stdout
    assert "#0/#1 constant 2/s" in proc.stdout and "#2/#0 constant 8/s" in proc.stdout


def test_compare_writes_json_and_markdown(saved: Path, tmp_path: Path) -> None:
    slower = _slower(saved, tmp_path / "slower.json", 1.5)
    proc = guidellm("compare", str(saved), str(slower), "--format", "json",
                    "--fail-if", "ttft_p99_ms>+10%", cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 1, proc.stdout + proc.stderr
    doc = json.loads(proc.stdout)  # nothing but the document on stdout
    assert "3 gate check(s) failed" in proc.stderr
    assert [p["paired_by"] for p in doc["pairs"]] == ["strategy"] * 3
    assert doc["only_in_a"] == [] and doc["only_in_b"] == []
    rows = {r["metric"]: r for r in doc["pairs"][0]["metrics"]}
    assert rows["ttft_p99_ms"]["change"] == pytest.approx(0.5)
    assert rows["ttft_p99_ms"]["change_text"] == "+50.0%"
    assert rows["ttft_p50_ms"]["significant"] is True and rows["rps"]["significant"] is None
    assert doc["failures"] == 3 and all(g["failed"] for g in doc["gates"])
    # A metric that was 0 in A: "new" in text, no infinity in the JSON.
    zero = json.loads(saved.read_text())
    for b in zero["benchmarks"]:
        b["requests"]["errored"] = 0
    base = tmp_path / "clean.json"
    base.write_text(json.dumps(zero))
    proc = guidellm("compare", str(base), str(saved), "--format", "json", "--metric", "errors",
                    cwd=tmp_path)  # fmt: skip
    row = json.loads(proc.stdout)["pairs"][0]["metrics"][0]
    assert (row["a"], row["change"], row["change_text"]) == (0.0, None, "new")

    proc = guidellm("compare", str(saved), str(slower), "--format", "markdown", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == "### #0 constant 2/s"
    assert "| metric | A | B | change | sig. |" in lines
    p50 = next(ln for ln in lines if ln.startswith("| ttft_p50_ms |"))
    assert p50.endswith("| +50.0% | * |")
    assert lines[-1].startswith("sig.: * = ")


def test_compare_bad_gate_is_exit_2(saved: Path, tmp_path: Path) -> None:
    proc = guidellm("compare", str(saved), str(saved), "--fail-if", "ttft_p99_ms>>3", cwd=tmp_path)
    assert proc.returncode == 2
    assert "is not KEY>VALUE" in proc.stderr
    proc = guidellm("compare", str(saved), str(saved), "--fail-if", "speed>+3%", cwd=tmp_path)
    assert proc.returncode == 2 and "unknown metric 'speed'" in proc.stderr


def test_report_tells_a_journal_from_a_report_by_content(saved: Path, tmp_path: Path) -> None:
    from guidellm.benchmark.journal import is_journal as _is_journal

    named = tmp_path / "my-journal-notes.json"
    named.write_text(saved.read_text())
    assert not _is_journal(named)
    one_line = tmp_path / "compact.json"
    one_line.write_text(json.dumps(json.loads(saved.read_text()), separators=(",", ":")))
    assert not _is_journal(one_line)
    journal = tmp_path / "run.log"
    journal.write_text('{"type":"run","metadata":{},"config":{}}\n{"type":"run_end"}\n')
    assert _is_journal(journal)
    proc = guidellm("report", str(named), "--disable-console-outputs", "-o", "x.csv", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr


def test_compare_gates_fail_for_benchmarks_the_candidate_lacks(saved: Path, tmp_path: Path) -> None:
    # A candidate cut short (here: one benchmark of three, then none) must not pass CI gates.
    data = json.loads(saved.read_text())
    data["benchmarks"] = data["benchmarks"][:1]
    short = tmp_path / "short.json"
    short.write_text(json.dumps(data))
    proc = guidellm("compare", str(saved), str(short), "--fail-if", "ttft_p99_ms>+10%",
                    cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert proc.stdout.count("FAIL ttft_p99_ms>+10%") == 2
    assert "not in" in proc.stdout
    data["benchmarks"] = []
    short.write_text(json.dumps(data))
    proc = guidellm("compare", str(saved), str(short), "--fail-if", "error_rate>0.5",
                    cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "gate(s) passed" not in proc.stdout


def test_report_of_a_journal_without_results_is_one_line_exit_2(tmp_path: Path) -> None:
    journal = tmp_path / "run.journal"
    journal.write_text(
        '{"type":"run","metadata":{},"config":{}}\n'
        '{"type":"benchmark","index":0,"strategy":{"type":"synchronous"},"settings":{}}\n'
        '{"type":"result","b":0,"r":[cut by a kil'
    )
    proc = guidellm("report", str(journal), "-o", str(tmp_path / "r.json"), cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().count("\n") == 0 and "Traceback" not in proc.stderr
    assert "holds no results" in proc.stderr and str(journal) in proc.stderr
    assert not (tmp_path / "r.json").exists()
