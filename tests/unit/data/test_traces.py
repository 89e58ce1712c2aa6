"""Timestamped traces: formats detected and forced, exact prompts, shared prefix blocks,
timestamps in seconds, filters, and one-line errors for bad rows."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from guidellm.data.loader import RequestLoader
from guidellm.data.tokenizers import ApproxTokenizer, load_tokenizer
from guidellm.errors import UserError
from guidellm.plugins import PluginHost
from guidellm.request import GenerationRequest

ROOT = Path(__file__).resolve().parents[3]
SAMPLES = ROOT / "examples" / "traces"


@pytest.fixture
def host() -> PluginHost:
    return PluginHost(builtins=("guidellm.data.sources",), entry_points=False)


def _load(
    host: PluginHost,
    spec: Path | str,
    processor: str | None = None,
    timed: bool = True,
    **args: Any,
) -> Any:
    """A loader as a replay run builds it (``timed``: the run sends by the data's times)."""
    return RequestLoader(
        [str(spec)], args, processor=processor, random_seed=5, host=host, timed=timed
    )


def _mooncake(path: Path, rows: list[tuple[int, int, int, list[int]]]) -> Path:
    with path.open("w") as f:
        for t, n, out, ids in rows:
            f.write(json.dumps({"timestamp": t, "input_length": n, "output_length": out,
                                "hash_ids": ids}) + "\n")  # fmt: skip
    return path


@pytest.mark.parametrize(
    ("name", "fmt"),
    [
        ("mooncake.jsonl", "mooncake"),
        ("azure.csv", "azure"),
        ("burstgpt.csv", "burstgpt"),
        ("generic.jsonl", "generic"),
    ],
)
def test_each_shipped_sample_is_detected_and_exact(host: PluginHost, name: str, fmt: str) -> None:
    loader = _load(host, SAMPLES / name)
    requests = list(loader)
    info = loader.describe()["trace"]
    assert info["format"] == fmt
    assert loader.sources[0].name == "trace"
    assert len(requests) == loader.size == info["rows"] >= 20
    assert info["rows_read"] == info["rows"] + info["rows_skipped"]
    assert loader.describe()["prompt_tokens_approximate"] is True
    tok = ApproxTokenizer()
    times = [r.timestamp for r in requests]
    assert all(t is not None for t in times) and times == sorted(times)
    assert info["first_timestamp"] == times[0] and info["last_timestamp"] == times[-1]
    for r in requests:
        assert r.max_tokens is not None and r.max_tokens > 0
        if r.prompt_tokens is not None and not (fmt == "generic" and len(r.prompt or "") < 80):
            assert tok.count(r.prompt or "") == r.prompt_tokens


def test_a_forced_format_wins_over_detection(host: PluginHost, tmp_path: Path) -> None:
    path = _mooncake(tmp_path / "t.jsonl", [(1500, 20, 4, [0]), (2500, 20, 4, [1])])
    detected = list(_load(host, path))
    assert [r.timestamp for r in detected] == [1.5, 2.5]  # Mooncake: milliseconds
    forced = _load(host, path, format="generic")
    assert forced.describe()["trace"]["format"] == "generic"
    assert [r.timestamp for r in forced] == [1500.0, 2500.0]  # generic numbers: seconds
    scaled = _load(host, path, format="generic", timestamp_unit="us")
    assert [r.timestamp for r in scaled] == pytest.approx([0.0015, 0.0025])
    with pytest.raises(UserError, match="no 'ContextTokens' column for format=azure"):
        _load(host, path, format="azure")
    with pytest.raises(UserError, match="format='nope' is not a trace format"):
        _load(host, path, format="nope")


def test_prompts_are_exact_with_a_real_tokenizer(host: PluginHost, bpe_path: Path) -> None:
    tok = load_tokenizer(str(bpe_path))
    assert tok is not None
    for name in ("mooncake.jsonl", "azure.csv", "burstgpt.csv"):
        loader = _load(host, SAMPLES / name, processor=str(bpe_path))
        requests = list(loader)
        assert loader.describe()["trace"]["verified_each_prompt"] is False  # counts add up
        assert [tok.count(r.prompt or "") for r in requests] == [r.prompt_tokens for r in requests]


@pytest.mark.parametrize("kind", ["approx", "bpe", "unigram", "wordpiece"])
def test_equal_hash_ids_share_bytes_and_tokens(
    host: PluginHost, tmp_path: Path, tokenizer_files: dict[str, Path], kind: str
) -> None:
    processor = None if kind == "approx" else str(tokenizer_files[kind])
    rows = [
        (0, 40, 4, [1, 2, 3]),  # blocks of 16: 16 + 16 + 8
        (10, 40, 4, [1, 2, 4]),  # same first two blocks
        (20, 48, 4, [5, 6, 7]),  # nothing shared
        (30, 10, 4, [1]),  # a partial block 1
        (40, 16, 4, [3]),  # id 3 again, now first and full
    ]
    path = _mooncake(tmp_path / "t.jsonl", rows)
    loader = _load(host, path, processor=processor, block_size=16)
    a, b, c, d, e = (r.prompt or "" for r in loader)
    tok = load_tokenizer(processor) or ApproxTokenizer()
    assert [tok.count(p) for p in (a, b, c, d, e)] == [40, 40, 48, 10, 16]
    source = loader.sources[0]
    assert source._prompts is not None
    block = source._prompts.block
    shared = block(1, 16) + " " + block(2, 16)
    assert a.startswith(shared + " ") and b.startswith(shared + " ")
    assert a[len(shared) :] != b[len(shared) :]
    assert tok.encode(a)[:32] == tok.encode(b)[:32]
    assert a[:20] != c[:20] and not c.startswith(block(1, 16)[:20])
    assert e == block(3, 16)  # the same bytes wherever the id appears
    if kind == "approx":  # the corpus has a cut point there: the partial block is a prefix
        assert a.startswith(d)
    again = [r.prompt for r in _load(host, path, processor=processor, block_size=16)]
    assert again == [a, b, c, d, e]  # deterministic per (id, block_size, seed)
    other = RequestLoader([str(path)], {"block_size": 16}, processor=processor, random_seed=6,
                          host=host)  # fmt: skip
    assert next(iter(other)).prompt != a


def test_unique_prompts_never_repeat(host: PluginHost) -> None:
    prompts = [r.prompt for r in _load(host, SAMPLES / "azure.csv")]
    assert len(set(prompts)) == len(prompts)
    assert len({p[:25] for p in prompts if p}) == len(prompts)


def test_timestamps_become_seconds(host: PluginHost, tmp_path: Path) -> None:
    azure = tmp_path / "a.csv"
    azure.write_text(
        "TIMESTAMP,ContextTokens,GeneratedTokens\n"
        "2023-11-16 18:15:46.6805900,10,5\n"
        "2023-11-16 18:15:46.9169079,10,5\n"
        "2023-11-17 00:00:00.0000001,10,5\n"
    )
    loader = _load(host, azure)
    t = [r.timestamp for r in loader]
    assert t[0] == pytest.approx(18 * 3600 + 15 * 60 + 46.68059, abs=1e-9)
    assert t[1] - t[0] == pytest.approx(0.2363179, abs=1e-9)
    assert t[2] == pytest.approx(86400.0000001, abs=1e-9)
    assert loader.describe()["trace"]["timestamp_origin"] == "2023-11-16T00:00:00Z"
    burst = [r.timestamp for r in _load(host, SAMPLES / "burstgpt.csv")]
    assert burst[:2] == [5.0, 6.0]
    iso = tmp_path / "g.jsonl"
    iso.write_text(
        '{"time": "2024-03-01T10:00:00+01:00", "input_tokens": 5}\n'
        '{"time": "2024-03-01T09:00:01.5Z", "input_tokens": 5}\n'
    )
    assert [r.timestamp for r in _load(host, iso)] == [32400.0, 32401.5]


def test_burstgpt_filters_and_failed_rows_are_counted(host: PluginHost) -> None:
    everything = _load(host, SAMPLES / "burstgpt.csv")
    info = everything.describe()["trace"]
    assert info["skipped_reasons"] == {"0 response tokens (failed in production)": 2}
    lines = (SAMPLES / "burstgpt.csv").read_text().splitlines()[1:]
    wanted = [line for line in lines if ",ChatGPT," in line and line.endswith(",Conversation log")]
    wanted = [line for line in wanted if line.split(",")[3] != "0"]
    chat = _load(host, SAMPLES / "burstgpt.csv", model="ChatGPT", log_type="Conversation log")
    requests = list(chat)
    assert len(requests) == len(wanted) > 0
    assert [r.prompt_tokens for r in requests] == [int(w.split(",")[2]) for w in wanted]
    skipped = chat.describe()["trace"]["skipped_reasons"]
    assert sum(skipped.values()) == len(lines) - len(wanted)
    with pytest.raises(UserError, match="no row makes a request"):
        _load(host, SAMPLES / "burstgpt.csv", model="Claude")
    with pytest.raises(UserError, match="model= filters BurstGPT traces"):
        _load(host, SAMPLES / "mooncake.jsonl", model="ChatGPT")


def test_ignore_eos_goes_into_extra_body(host: PluginHost) -> None:
    first: GenerationRequest = next(iter(_load(host, SAMPLES / "mooncake.jsonl", ignore_eos=True)))
    assert first.extra_body == {"ignore_eos": True}
    assert next(iter(_load(host, SAMPLES / "mooncake.jsonl"))).extra_body is None
    with pytest.raises(UserError, match="ignore_eos='yes' must be true or false"):
        _load(host, SAMPLES / "mooncake.jsonl", ignore_eos="yes")


def test_generic_text_is_kept_and_lengths_synthesized(host: PluginHost) -> None:
    requests = list(_load(host, SAMPLES / "generic.jsonl"))
    rows = [json.loads(x) for x in (SAMPLES / "generic.jsonl").read_text().splitlines()]
    for row, request in zip(rows, requests, strict=True):
        if "prompt" in row:
            assert request.prompt == row["prompt"] and request.prompt_tokens is None
        else:
            assert ApproxTokenizer().count(request.prompt or "") == row["prompt_tokens"]
        assert request.max_tokens == row["output_tokens"]


def test_parquet_traces_stream_by_row_groups(host: PluginHost, tmp_path: Path) -> None:
    pq = pytest.importorskip("pyarrow.parquet")
    import pyarrow as pa

    rows = [json.loads(x) for x in (SAMPLES / "mooncake.jsonl").read_text().splitlines()]
    path = tmp_path / "t.parquet"
    pq.write_table(pa.Table.from_pylist(rows), path, row_group_size=7)
    from_parquet = [(r.prompt, r.timestamp) for r in _load(host, path)]
    from_jsonl = [(r.prompt, r.timestamp) for r in _load(host, SAMPLES / "mooncake.jsonl")]
    assert from_parquet == from_jsonl


BAD = [
    ('{"timestamp": 5, "input_length": 9, "output_length": 2, "hash_ids": [0]}\n'
     '{"timestamp": 4, "input_length": 9, "output_length": 2, "hash_ids": [1]}\n',
     ("line 2", "goes back in time", "sort the trace")),
    ('{"timestamp": -1, "input_length": 9, "output_length": 2, "hash_ids": [0]}\n',
     ("line 1", "negative")),
    ('{"timestamp": 0, "input_length": 9, "output_length": 2, "hash_ids": [0]}\n'
     '{"timestamp": 1, "output_length": 2, "hash_ids": []}\n',
     ("line 2", "input_length is missing")),
    ('{"timestamp": 1, "input_length": "many", "output_length": 2, "hash_ids": [0]}\n',
     ("line 1", "'many' is not a number")),
    ('{"timestamp": 0, "input_length": 9, "output_length": 2, "hash_ids": [0]}\n'
     '{"timestamp": "noon", "input_length": 9, "output_length": 2, "hash_ids": [0]}\n',
     ("line 2", "'noon' is neither a number")),
    ('{"timestamp": 1, "input_length": 600, "output_length": 2, "hash_ids": [0]}\n',
     ("line 1", "block_size")),
]  # fmt: skip


def test_an_unsorted_prompt_file_with_a_time_column_says_how_to_read_it_plainly(
    host: PluginHost, tmp_path: Path
) -> None:
    path = tmp_path / "prompts.jsonl"
    path.write_text('{"time": 5, "prompt": "a"}\n{"time": 4, "prompt": "b"}\n')
    with pytest.raises(UserError, match="source=files"):
        _load(host, path)
    assert [r.prompt for r in _load(host, path, source="files")] == ["a", "b"]


def test_a_prompt_file_with_a_time_column_stays_prompts_unless_replayed(
    host: PluginHost, tmp_path: Path
) -> None:
    """Outside a replay, a chat file's created_at column does not make it a trace: unsorted
    times are no error and its system column is kept (numeric times still go through)."""
    path = tmp_path / "chat.jsonl"
    path.write_text(
        '{"created_at": 5, "prompt": "a", "system": "Be brief."}\n'
        '{"created_at": 4, "prompt": "b", "system": "Be brief."}\n'
    )
    plain = _load(host, path, timed=False)
    assert plain.sources[0].name == "files"
    requests = list(plain)
    assert [r.timestamp for r in requests] == [5.0, 4.0]
    assert requests[0].messages is not None and requests[0].messages[0]["role"] == "system"
    for replayed in ({"timed": True}, {"timed": False, "format": "generic"}):
        with pytest.raises(UserError, match="goes back in time"):  # a trace: checked
            _load(host, path, **replayed)


@pytest.mark.parametrize(("text", "words"), BAD)
def test_bad_rows_are_one_line_naming_row_and_fix(
    host: PluginHost, tmp_path: Path, text: str, words: tuple[str, ...]
) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(text)
    with pytest.raises(UserError) as info:
        _load(host, path, format="mooncake")
    message = str(info.value)
    assert "\n" not in message and str(path) in message
    for word in words:
        assert word in message


def test_an_empty_trace_is_refused(host: PluginHost, tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    path.write_text("TIMESTAMP,ContextTokens,GeneratedTokens\n")
    with pytest.raises(UserError, match="empty trace"):
        _load(host, path)


def test_the_generator_script_shapes_reuse_and_rate(tmp_path: Path) -> None:
    script = ROOT / "scripts" / "make_mooncake_trace.py"

    def make(reuse: float) -> list[dict[str, Any]]:
        out = tmp_path / f"t{reuse}.jsonl"
        subprocess.run(
            [sys.executable, str(script), "--requests", "2000", "--rate", "200", "--out",
             str(out), "--reuse", str(reuse), "--seed", "3"],
            check=True, capture_output=True, timeout=60,
        )  # fmt: skip
        return [json.loads(x) for x in out.read_text().splitlines()]

    fresh, shared = make(0), make(0.5)
    ids = [h for row in fresh for h in row["hash_ids"]]
    assert len(ids) == len(set(ids))  # --reuse 0: ids never repeat
    span = (fresh[-1]["timestamp"] - fresh[0]["timestamp"]) / 1000
    assert 1999 / span == pytest.approx(200, rel=0.1)  # Poisson at the asked rate
    seen: set[int] = set()
    reusing = 0
    for row in shared:
        assert len(row["hash_ids"]) == -(-row["input_length"] // 512)
        reusing += row["hash_ids"][0] in seen
        seen.update(row["hash_ids"])
    assert 0.3 < reusing / len(shared) < 0.6  # leading ids shared by about half


def test_a_dataset_folder_is_a_trace_with_format(host: PluginHost, tmp_path: Path) -> None:
    datasets = pytest.importorskip("datasets")
    rows = [{"arrival_time": i * 0.5, "input_tokens": 20 + i, "output_tokens": 5} for i in range(6)]
    datasets.Dataset.from_list(rows).save_to_disk(str(tmp_path / "ds"))
    with pytest.raises(UserError, match=r"looks like a generic trace.*format=generic"):
        _load(host, tmp_path / "ds")
    loader = _load(host, tmp_path / "ds", format="generic")
    requests = list(loader)
    assert [r.timestamp for r in requests] == [i * 0.5 for i in range(6)]
    assert [ApproxTokenizer().count(r.prompt or "") for r in requests] == [20 + i for i in range(6)]


def test_zone_offsets_and_padded_dates_convert_in_utc(host: PluginHost, tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text(
        "timestamp,prompt_tokens,output_tokens\n"
        "2023-11-16T01:00:00+02:00,8,2\n"  # 23:00 UTC the day before
        " 2023-11-15 23:59:59.5Z,8,2\n"
        " 2023-11-16 00:00:00.5,8,2\n"
    )
    times = [r.timestamp for r in _load(host, path)]
    # Seconds from 00:00 UTC of the first row's day (2023-11-15).
    assert times == [82800.0, 86399.5, 86400.5]


def test_mooncake_names_with_prompt_text_and_no_hash_ids_are_generic(
    host: PluginHost, tmp_path: Path
) -> None:
    path = tmp_path / "t.jsonl"
    path.write_text(
        '{"timestamp": 0, "prompt": "first", "input_length": 1, "output_length": 2}\n'
        '{"timestamp": 2.5, "prompt": "second", "input_length": 1, "output_length": 2}\n'
    )
    loader = _load(host, path)
    assert loader.describe()["trace"]["format"] == "generic"
    assert [(r.timestamp, r.prompt) for r in loader] == [(0.0, "first"), (2.5, "second")]


def test_csv_times_reach_requests_as_seconds(host: PluginHost, tmp_path: Path) -> None:
    """A CSV's cells are text: its time column still gives requests numeric timestamps."""
    path = tmp_path / "p.csv"
    path.write_text("prompt,t\nhello,1.5\nworld,2\nagain,soon\n")
    loader = _load(host, path, timed=False, column_mapping={"timestamp": "t"})
    assert loader.sources[0].name == "files"
    assert [r.timestamp for r in loader] == [1.5, 2.0, None]
