"""``guidellm preprocess dataset``: exact truncation, filtering, every output format, errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from guidellm.cli import main
from guidellm.data.loader import RequestLoader
from guidellm.data.preprocess import parse_length
from guidellm.data.tokenizers import load_tokenizer
from guidellm.errors import UserError
from guidellm.plugins import PluginHost


def _run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    try:
        main(["preprocess", "dataset", *args])
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def _read(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_truncates_exactly_and_drops_short_prompts(
    tmp_path: Path, bpe_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out.jsonl"
    spec = "prompt_tokens=300,prompt_tokens_stdev=100,samples=120"
    code, stdout, _ = _run(
        [
            spec,
            str(out),
            "--prompt-tokens",
            "200",
            "--output-tokens",
            "64",
            "--processor",
            str(bpe_path),
        ],
        capsys,
    )
    assert code == 0
    rows = _read(out)
    tok = load_tokenizer(str(bpe_path))
    assert tok is not None
    assert rows and all(tok.count(str(r["prompt"])) == 200 for r in rows)
    assert {r["prompt_tokens_count"] for r in rows} == {200}
    assert {r["output_tokens_count"] for r in rows} == {64}
    dropped = 120 - len(rows)
    assert dropped > 0
    assert stdout.strip() == (
        f"wrote {len(rows)} of 120 rows to {out} (prompt tokens mean 200.0, min 200, max 200; "
        f"counted with {bpe_path}); dropped {dropped} shorter than their target"
    )


def test_keep_and_concatenate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "in.txt"
    source.write_text("one two three\nfour five\nsix seven eight nine ten eleven\n")
    keep = tmp_path / "keep.jsonl"
    assert (
        _run([str(source), str(keep), "--prompt-tokens", "5", "--short-prompts", "keep"], capsys)[0]
        == 0
    )
    assert [r["prompt_tokens_count"] for r in _read(keep)] == [3, 2, 5]
    joined = tmp_path / "joined.jsonl"
    assert (
        _run(
            [str(source), str(joined), "--prompt-tokens", "4", "--short-prompts", "concatenate"],
            capsys,
        )[0]
        == 0
    )
    assert _read(joined) == [
        {"prompt": "one two three\nfour", "prompt_tokens_count": 4},
        {"prompt": "six seven eight nine", "prompt_tokens_count": 4},
    ]


@pytest.mark.parametrize("suffix", [".jsonl", ".json", ".csv", ".tsv", ".parquet", ".arrow", ""])
def test_every_output_format_reads_back_the_same(
    suffix: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / f"out{suffix}"
    spec = "prompt_tokens=40,output_tokens=12,samples=25"
    code, _, err = _run([spec, str(out), "--prompt-tokens", "30"], capsys)
    assert code == 0, err
    host = PluginHost(builtins=("guidellm.data.sources",), entry_points=False)
    loader = RequestLoader([str(out)], {}, processor=None, random_seed=0, host=host)
    requests = [(r.prompt, r.prompt_tokens, r.max_tokens) for r in loader]
    assert len(requests) == 25
    assert {(p, m) for _, p, m in requests} == {(30, 12)}
    text = tmp_path / "ref.txt"
    assert _run([str(out), str(text)], capsys)[0] == 0
    assert text.read_text().splitlines() == [" ".join(p.splitlines()) for p, _, _ in requests]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["missing.jsonl", "o.jsonl"], "not found"),
        (["prompt_tokens=5,samples=2", "o.xls"], "unknown format '.xls'"),
        (["prompt_tokens=5", "o.jsonl"], "is endless; add samples=N"),
        (["prompt_tokens=5,samples=2", "o.jsonl", "--prompt-tokens", "mean=5,x=1"], "unknown key"),
        (["prompt_tokens=5,samples=2", "o.jsonl", "--processor", "nope.json"], "--processor"),
        (["prompt_tokens=5,samples=2", "nowhere/o.jsonl"], "does not exist; create it"),
    ],
)
def test_bad_input_exits_2_with_one_line(
    args: list[str],
    message: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    code, _, err = _run(args, capsys)
    assert code == 2
    assert message in err and err.count("\n") == 1 and err.startswith("guidellm: error: ")
    assert not (tmp_path / "o.jsonl").exists()


def test_parse_length() -> None:
    assert parse_length("256", "--x") is not None
    dist = parse_length("mean=100,stdev=5,min=90,max=110", "--x")
    assert dist is not None and (dist.minimum, dist.maximum) == (90, 110)
    assert parse_length(None, "--x") is None
    with pytest.raises(UserError, match="--x"):
        parse_length("mean=-1", "--x")
    with pytest.raises(UserError, match=r"^--x 'abc' is not a length; write N or mean=N"):
        parse_length("abc", "--x")


def test_help_does_not_import_heavy_packages() -> None:
    code = (
        "import sys; from guidellm.cli import main\n"
        "try:\n    main(['preprocess', 'dataset', '--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('datasets', 'tokenizers', 'pyarrow', 'numpy', 'transformers')"
        " if m in sys.modules]\n"
        "print('HEAVY=' + ','.join(heavy))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert result.stdout.strip().splitlines()[-1] == "HEAVY="


def test_a_conversation_session_flattens_as_before(
    tmp_path: Path, bpe_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A multi-turn row keeps its text up to the last user turn, as when it was one request."""
    data = tmp_path / "chat.jsonl"
    chat = [
        {"from": "system", "value": "sys"},
        {"from": "human", "value": "one"},
        {"from": "gpt", "value": "two"},
        {"from": "human", "value": "three"},
        {"from": "gpt", "value": "four"},
    ]
    data.write_text(json.dumps({"conversations": chat}) + "\n")
    out = tmp_path / "out.jsonl"
    code, _, err = _run([str(data), str(out), "--processor", str(bpe_path)], capsys)
    assert code == 0, err
    assert [r["prompt"] for r in _read(out)] == ["sys\none\ntwo\nthree"]
