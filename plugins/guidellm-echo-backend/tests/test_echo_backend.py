"""The echo plugin's own tests: its components, and its hooks through a fresh PluginHost."""

from __future__ import annotations

import asyncio
import json
import pickle
import subprocess
import sys
from pathlib import Path
from typing import Any

import guidellm_echo
import pytest
from click.testing import CliRunner
from guidellm_echo.backend import EchoBackend
from guidellm_echo.catalog import AcmeGateway
from guidellm_echo.command import echo_overhead
from guidellm_echo.source import WordsSource
from guidellm_echo.writer import MarkdownWriter, render

from guidellm import (
    GenerationRequest,
    PluginHost,
    RequestResult,
    ResponseRecorder,
    UserError,
)


def run(backend: EchoBackend, request: GenerationRequest) -> RequestResult:
    async def go() -> RequestResult:
        await backend.startup(1)
        recorder = ResponseRecorder(request, scheduled_time=0.0)
        recorder.start()
        await backend.resolve(request, recorder)
        await backend.shutdown()
        return recorder.finish("successful", keep_text=True)

    return asyncio.run(go())


def test_streams_the_prompt_words_back_one_chunk_each() -> None:
    result = run(EchoBackend("echo://"), GenerationRequest("r1", prompt="the quick  brown fox"))
    assert result.output_text == "the quick brown fox"
    assert result.content_chunks == 4
    assert len(result.chunk_times) == 4
    assert result.chunk_times == sorted(result.chunk_times)
    assert (result.prompt_tokens, result.output_tokens) == (4, 4)


def test_delays_are_never_shorter_than_asked() -> None:
    backend = EchoBackend("echo://", ttft_ms=30, itl_ms=10)
    result = run(backend, GenerationRequest("r1", prompt="a b c d"))
    assert result.first_token_time is not None and result.last_token_time is not None
    assert result.first_token_time - result.request_start >= 0.030
    # Deadlines are absolute: chunk k is due at ttft + k * itl from the start.
    for k, t in enumerate(result.chunk_times):
        assert t - result.request_start >= 0.030 + k * 0.010 - 1e-9


def test_max_tokens_sets_the_length_and_the_option_caps_it() -> None:
    request = GenerationRequest("r1", prompt="one two three", max_tokens=7)
    result = run(EchoBackend("echo://"), request)
    assert result.output_text == "one two three one two three one"
    assert result.output_tokens == 7
    capped = run(EchoBackend("echo://", max_tokens=2), request)
    assert capped.output_text == "one two"
    assert capped.content_chunks == 2


def test_chat_messages_are_echoed_including_content_parts() -> None:
    messages = [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": [{"type": "text", "text": "hello there"}]},
    ]
    result = run(EchoBackend("echo://"), GenerationRequest("r1", messages=messages))
    assert result.output_text == "be brief hello there"


def test_empty_prompt_with_max_tokens_still_answers() -> None:
    result = run(EchoBackend("echo://"), GenerationRequest("r1", prompt="", max_tokens=3))
    assert result.output_text == "echo echo echo"
    assert result.prompt_tokens == 0


@pytest.mark.parametrize(
    ("options", "fragment"),
    [
        ({"ttft": 3}, "unknown option(s) ttft"),
        ({"ttft_ms": -1}, "ttft_ms=-1"),
        ({"itl_ms": "fast"}, "itl_ms='fast'"),
        ({"max_tokens": 0}, "max_tokens=0"),
        ({"max_tokens": 2.5}, "max_tokens=2.5"),
    ],
)
def test_bad_options_are_user_errors_naming_the_fix(options: dict[str, Any], fragment: str) -> None:
    with pytest.raises(UserError) as info:
        EchoBackend("echo://", **options)
    assert fragment in str(info.value)
    assert "\n" not in str(info.value)


def test_picklable_and_discovers_a_model_name() -> None:
    backend = EchoBackend("echo://", ttft_ms=5)
    clone = pickle.loads(pickle.dumps(backend))
    asyncio.run(clone.validate())
    assert clone.model == "echo"
    assert clone.describe()["ttft_ms"] == 5.0
    named = EchoBackend("echo://", model="my-model")
    asyncio.run(named.validate())
    assert named.model == "my-model"


def test_words_source_makes_exact_prompts_and_checks_its_spec_early() -> None:
    assert WordsSource.accepts("words:12", {})
    assert not WordsSource.accepts("prompt_tokens=12", {})
    source = WordsSource("words:12", {"samples": 3})
    source.validate()
    assert source.size == 3
    assert source.columns() == ["prompt"]
    rows = list(source.rows())
    assert len(rows) == 3
    assert all(len(r["prompt"].split()) == 12 for r in rows)
    same = list(WordsSource("words:12", {"samples": 3}, seed=42).rows())
    assert same == rows
    assert WordsSource("words:2", {}).size is None  # endless
    for spec, options in [("words:x", {}), ("words:0", {}), ("words:3", {"samples": -1})]:
        with pytest.raises(UserError):
            WordsSource(spec, options).validate()


def test_words_source_through_the_request_loader() -> None:
    from guidellm.data.loader import RequestLoader

    host = PluginHost(builtins=(), entry_points=False)
    host.add_plugin(guidellm_echo, "echo-loader-test")
    try:
        loader = RequestLoader(
            ["words:5"],
            {"samples": 4, "output_tokens": 7},
            processor=None,
            random_seed=1,
            host=host,
        )
        requests = list(loader)
        assert len(requests) == 4
        assert all(len((r.prompt or "").split()) == 5 and r.max_tokens == 7 for r in requests)
        result = run(EchoBackend("echo://"), requests[0])
        assert result.content_chunks == 7
    finally:
        host.remove_plugin("echo-loader-test")


def _report() -> Any:
    from guidellm.benchmark.report import Benchmark, Report

    bench = Benchmark.model_validate(
        {
            "id": 0,
            "strategy": {"type": "constant", "rate": 5.0},
            "start_time": 1.0,
            "end_time": 3.0,
            "duration": 2.0,
            "measured_window": [1.0, 3.0],
            "requests": {"successful": 10, "errored": 1, "incomplete": 0},
            "metrics": {
                "requests_per_second": {"successful": 4.9},
                "time_to_first_token_ms": {"successful": {"median": 12.345}},
            },
        }
    )
    return Report.create({}, [bench])


def test_markdown_render_and_writer(tmp_path: Path) -> None:
    report = _report()
    text = render(report.to_dict())
    lines = text.splitlines()
    assert lines[0].startswith("| benchmark | strategy |")
    assert lines[2] == "| 0 | constant rate=5 | 10 | 1 | 4.90 | 12.35 | - |"
    path = tmp_path / "out.md"
    MarkdownWriter(path).write(report)
    assert path.read_text() == text


def test_markdown_writer_through_guidellm_report(tmp_path: Path) -> None:
    """The writer found through the installed entry point, in a real ``guidellm`` process."""
    saved = tmp_path / "run.json"
    saved.write_text(json.dumps(_report().to_dict()))
    out = tmp_path / "run.md"
    proc = subprocess.run(
        [sys.executable, "-m", "guidellm", "report", str(saved), "--output", str(out)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert out.read_text().splitlines()[2].startswith("| 0 | constant rate=5 | 10 | 1 |")


def test_every_hook_registers_through_a_fresh_host() -> None:
    warnings: list[str] = []
    host = PluginHost(builtins=(), entry_points=False, warn=warnings.append)
    host.add_plugin(guidellm_echo, "echo-under-test")
    try:
        assert warnings == []
        assert host.backends.get("echo") is EchoBackend
        assert host.dataset_sources.get("words") is WordsSource
        assert host.report_writers.get("markdown") is MarkdownWriter
        assert host.server_metrics.get("acme-gateway") is AcmeGateway
        record = host.records["echo-under-test"]
        assert record.provides == {
            "backends": ["echo"],
            "dataset_sources": ["words"],
            "report_writers": ["markdown"],
            "server_metrics": ["acme-gateway"],
        }
        import click

        group = click.Group("guidellm")
        host.register_commands(group)
        assert "echo-overhead" in group.commands
    finally:
        host.remove_plugin("echo-under-test")


def test_echo_overhead_command_prints_measurements() -> None:
    out = CliRunner().invoke(echo_overhead, ["--requests", "50", "--tokens", "4", "--ttft-ms", "2"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    assert data["requests"] == 50
    assert data["cpu_ms_per_request"] > 0
    assert data["ttft_late_ms"]["p50"] >= 0  # never earlier than the 2 ms asked
