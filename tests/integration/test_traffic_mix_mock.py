"""Traffic mixes as a user runs them: ``guidellm run`` (a subprocess, real workers) against the
mock server in its own process: three traffic classes with their own data, request format and
SLOs; weighted datasets; and every bad mix refused in one line before anything is sent."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from guidellm.mock_server import MockServer
from guidellm.mock_server.behavior import MockServerConfig
from tests.clirun import guidellm, mock_requests, one_line

WEIGHTS = {"chat": 0.5, "batch": 0.3, "embed": 0.2}


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    mock = MockServer(MockServerConfig(ttft_ms=4.0, itl_ms=1.0, embedding_dim=8))
    url = mock.start_process()
    try:
        yield url
    finally:
        mock.stop()


def _scenario(tmp_path: Path, server: str, **extra: object) -> Path:
    scenario = {
        "target": server,
        "profile": "concurrent",
        "rate": [24],
        "max_requests": 2000,
        "outputs": ["json", "csv"],
        "output_dir": str(tmp_path),
        "classes": [
            {
                "name": "chat",
                "weight": WEIGHTS["chat"],
                "data": "prompt_tokens=32,output_tokens=4,turns=3",
                "slo": {"ttft_ms": 3000},
            },
            {
                "name": "batch",
                "weight": WEIGHTS["batch"],
                "data": "prompt_tokens=512,output_tokens=6",
                # No request can finish in a microsecond: every batch request misses.
                "slo": {"latency_ms": 0.001},
            },
            {
                "name": "embed",
                "weight": WEIGHTS["embed"],
                "data": "prompt_tokens=16",
                "request_format": "embeddings",
                "backend_args": {"batch_size": 2},
            },
        ],
        **extra,
    }
    path = tmp_path / "mix.yaml"
    path.write_text(yaml.safe_dump(scenario))
    return path


def test_three_classes_get_their_shares_and_their_own_goodput(server: str, tmp_path: Path) -> None:
    before = mock_requests(server)
    proc = guidellm(["run", "--scenario", str(_scenario(tmp_path, server))], tmp_path, 180)
    assert proc.returncode == 0, proc.stderr
    bench = json.loads((tmp_path / "benchmarks.json").read_text())["benchmarks"][0]
    total = bench["requests"]["successful"] + bench["requests"]["errored"]
    assert bench["requests"]["errored"] == bench["requests"]["incomplete"] == 0
    assert total == 2000
    rows = {row["name"]: row for row in bench["groups"]["classes"]}
    assert list(rows) == ["chat", "batch", "embed"]
    assert sum(row["total"] for row in rows.values()) == total
    for name, weight in WEIGHTS.items():
        assert abs(rows[name]["total"] / total - weight) <= 0.02, (name, rows[name]["total"])
        assert rows[name]["share"] == pytest.approx(rows[name]["total"] / total)
        assert rows[name]["weight"] == weight
    # Each class went out as its own kind of request.
    assert rows["embed"]["request_format"] == "embeddings"
    assert rows["chat"]["request_format"] == "chat_completions"
    assert rows["embed"]["ttft_ms_p50"] is None and rows["chat"]["ttft_ms_p50"] is not None
    assert rows["embed"]["inputs_per_second"] > 0 and rows["chat"]["inputs_per_second"] is None
    assert bench["inputs"]["total"] == 2 * rows["embed"]["total"]
    # The server answered every request the rows count, no more.
    assert mock_requests(server) - before == total
    # Goodput per class against its own SLOs, and overall against each one's.
    assert rows["chat"]["goodput"]["attainment"] == 1.0
    assert rows["chat"]["goodput"]["slo"] == {"ttft_ms": 3000.0}
    assert rows["batch"]["goodput"]["attainment"] == 0.0
    assert rows["batch"]["goodput"]["met"] == 0
    assert rows["embed"]["goodput"] is None  # no SLO of its own and none for the run
    overall = bench["metrics"]["goodput"]
    assert overall["by_class"] is True
    assert overall["met"] == rows["chat"]["total"] + rows["embed"]["total"]
    assert overall["counted"] == total
    assert overall["attainment"] == pytest.approx(overall["met"] / total)
    # Only the chat class holds sessions: its turns are three per completed session, plus
    # the turns of the sessions the request limit cut (at most the 24 streams' worth).
    done = bench["sessions"]["completed"]
    assert 0 <= rows["chat"]["total"] - 3 * done < 3 * 24
    # One model served it all: the model rows hold every request.
    models = bench["groups"]["models"]
    assert [m["name"] for m in models] == ["mock-model"] and models[0]["total"] == total


def test_class_rates_add_up_to_the_benchmarks_rate(server: str, tmp_path: Path) -> None:
    scenario = yaml.safe_load(_scenario(tmp_path, server).read_text())
    scenario.update(profile="poisson", rate=None, max_requests=300)
    for cls, rate in zip(scenario["classes"], (30, 15, 15), strict=True):
        del cls["weight"]
        cls["rate"] = rate
    path = tmp_path / "rates.yaml"
    path.write_text(yaml.safe_dump(scenario))
    proc = guidellm(["run", "--scenario", str(path)], tmp_path, 120)
    assert proc.returncode == 0, proc.stderr
    bench = json.loads((tmp_path / "benchmarks.json").read_text())["benchmarks"][0]
    assert bench["strategy"]["rate"] == 60.0
    rows = {row["name"]: row for row in bench["groups"]["classes"]}
    # A rate counts arrivals: a chat session (three turns) is one, as a batch request is.
    arrivals = {
        "chat": bench["sessions"]["started"],
        "batch": rows["batch"]["total"],
        "embed": rows["embed"]["total"],
    }
    every = sum(arrivals.values())
    for name, share in (("chat", 0.5), ("batch", 0.25), ("embed", 0.25)):
        assert abs(arrivals[name] / every - share) <= 0.02, arrivals
        assert rows[name]["weight"] == share


def test_weighted_datasets_interleave_in_their_shares(server: str, tmp_path: Path) -> None:
    proc = guidellm(
        [
            "run", "--target", server, "--profile", "concurrent", "--rate", "16",
            "--data", "prompt_tokens=16,output_tokens=4",
            "--data", "prompt_tokens=64,output_tokens=4",
            "--data-args", "weights=0.75,0.25", "--max-requests", "400",
            "--outputs", "json", "--output-dir", str(tmp_path),
        ],
        tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    bench = json.loads((tmp_path / "benchmarks.json").read_text())["benchmarks"][0]
    assert bench["requests"]["successful"] == 400
    # 300 prompts of 16 tokens and 100 of 64: the mean is exact when the shares are.
    assert bench["metrics"]["prompt_token_count"]["successful"]["mean"] == pytest.approx(28.0)


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--data-args", "weights=0.5"], ["weights has 1 weight(s) for 2 --data"]),
        (["--data-args", "weights=0,0"], ["weights sum to zero"]),
        (["--data-args", "weights=a,b"], ["'b' is not key=value"]),
        (["--model", "a:0,b:0"], ["--model", "sum to zero"]),
        (["--model", "a:-1,b:1"], ["--model", "not a number >= 0"]),
        (["--model", "a:1,a:2"], ["names 'a' twice"]),
    ],
)
def test_bad_weights_are_one_line_before_anything_is_sent(
    server: str, tmp_path: Path, args: list[str], words: list[str]
) -> None:
    before = mock_requests(server)
    proc = guidellm(
        [
            "run", "--target", server, "--max-requests", "5",
            "--data", "prompt_tokens=16,output_tokens=4,samples=4",
            "--data", "prompt_tokens=64,output_tokens=4", *args,
        ],
        tmp_path,
    )  # fmt: skip
    one_line(proc, *words)
    assert mock_requests(server) == before


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"classes": [{"name": "a", "weight": 1}]}, ["class 'a' has no data"]),
        ({"classes": [{"name": "a", "data": "prompt_tokens=8", "request_format": "soap"}]},
         ["class 'a'", "request_format"]),
        ({"classes": [{"name": "a", "data": "prompt_tokens=8"}, {"name": "a", "data": "x"}]},
         ["two classes are named 'a'"]),
        ({"classes": [{"name": "a", "data": "prompt_tokens=8", "rate": 2}]},
         ["own rates", "--profile poisson"]),
        ({"classes": [{"name": "a", "data": "prompt_tokens=8", "model": "m:0,n:0"}]},
         ["class 'a'", "sum to zero"]),
        ({"classes": [{"name": "a", "data": "no/such/file.jsonl"}]}, ["class 'a'", "no/such"]),
        ({"classes": [{"name": "a", "data": "prompt_tokens=8", "weight": 0}]},
         ["class 'a'", "weight"]),
        ({"data": ["prompt_tokens=8"]}, ["--data and classes"]),
        ({"classes": [{"name": "a", "data": "prompt_tokens=8,images=1",
                       "request_format": "embeddings"}]}, ["class 'a'", "images"]),
    ],
)  # fmt: skip
def test_bad_classes_are_one_line_before_anything_is_sent(
    server: str, tmp_path: Path, change: dict[str, object], words: list[str]
) -> None:
    scenario = yaml.safe_load(_scenario(tmp_path, server).read_text())
    scenario.update(change)
    scenario["profile"] = "concurrent"
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(scenario))
    before = mock_requests(server)
    proc = guidellm(["run", "--scenario", str(path)], tmp_path)
    one_line(proc, *words)
    assert mock_requests(server) == before


def _per_model(url: str, name: str) -> dict[str, int]:
    """A counter of the mock's ``/metrics`` per ``model_name`` label."""
    out: dict[str, int] = {}
    with urllib.request.urlopen(url + "/metrics", timeout=5) as resp:
        for line in resp.read().decode().splitlines():
            series, _, value = line.rpartition(" ")
            if series.split("{")[0] == name and 'model_name="' in series:
                model = series.split('model_name="', 1)[1].split('"', 1)[0]
                out[model] = out.get(model, 0) + int(float(value))
    return out


def test_a_model_mix_splits_by_model_and_each_model_keeps_its_timing(tmp_path: Path) -> None:
    mock = MockServer(
        MockServerConfig(
            models=["base", "adapter-a", "adapter-b"],
            ttft_ms=10.0,
            itl_ms=1.0,
            model_timing={"adapter-b": {"ttft_ms": 120.0}},
        )
    )
    url = mock.start_process()
    try:
        proc = guidellm(
            [
                "run", "--target", url, "--model", "base:0.5,adapter-a:0.3,adapter-b:0.2",
                "--data", "prompt_tokens=16,output_tokens=4", "--profile", "concurrent",
                "--rate", "16", "--max-requests", "500", "--slo", "ttft_ms=60",
                "--outputs", "json", "--output-dir", str(tmp_path),
            ],
            tmp_path,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        served = _per_model(url, "guidellm_mock_requests_total")
    finally:
        mock.stop()
    bench = json.loads((tmp_path / "benchmarks.json").read_text())["benchmarks"][0]
    rows = {row["name"]: row for row in bench["groups"]["models"]}
    assert list(rows) == ["base", "adapter-a", "adapter-b"]
    assert bench["groups"]["classes"] == []
    assert sum(r["total"] for r in rows.values()) == bench["requests"]["successful"] == 500
    for name, weight in (("base", 0.5), ("adapter-a", 0.3), ("adapter-b", 0.2)):
        assert abs(rows[name]["total"] - 500 * weight) <= 2, (name, rows[name]["total"])
        assert rows[name]["weight"] == weight
        # The server saw each model as often as the report says it was sent.
        assert served[name] == rows[name]["total"]
    # Each model's own timing shows in its own row, and its goodput against --slo.
    assert rows["base"]["ttft_ms_p50"] < 60 < rows["adapter-b"]["ttft_ms_p50"]
    assert rows["adapter-b"]["ttft_ms_p50"] >= 120
    assert rows["base"]["goodput"]["attainment"] == 1.0
    assert rows["adapter-b"]["goodput"]["attainment"] == 0.0
    assert bench["metrics"]["goodput"]["met"] == rows["base"]["total"] + rows["adapter-a"]["total"]


def test_a_model_the_server_does_not_serve_is_one_line(server: str, tmp_path: Path) -> None:
    before = mock_requests(server)
    proc = guidellm(
        ["run", "--target", server, "--model", "mock-model:0.5,nope:0.5", "--max-requests", "5"],
        tmp_path,
    )
    one_line(proc, "nope")
    assert mock_requests(server) == before
