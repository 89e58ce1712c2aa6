"""Synthetic prompts: exact lengths for real tokenizers, uniqueness, distributions, prefixes."""

from __future__ import annotations

import itertools
import json
import re
from pathlib import Path
from typing import Any

import pytest

from guidellm.data.synthetic import LengthDistribution, SyntheticSource, parse_synthetic_spec
from guidellm.data.tokenizers import ApproxTokenizer, Tokenizer, load_tokenizer
from guidellm.errors import UserError

KINDS = ("bpe", "wordpiece", "unigram", "wordlevel", "approximate")


def _tokenizer(kind: str, files: dict[str, Path]) -> Tokenizer:
    if kind == "approximate":
        return ApproxTokenizer()
    tok = load_tokenizer(str(files[kind]))
    assert tok is not None
    return tok


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("n", [1, 16, 1000, 8000])
def test_prompts_have_exactly_n_tokens(kind: str, n: int, tokenizer_files: dict[str, Path]) -> None:
    tok = _tokenizer(kind, tokenizer_files)
    samples = 40 if n == 8000 else 150
    source = SyntheticSource(f"prompt_tokens={n},output_tokens=7,samples={samples}", {}, tok, 5)
    rows = list(source.rows())
    assert len(rows) == samples
    assert [tok.count(r["prompt"]) for r in rows] == [n] * samples
    assert {r["prompt_tokens_count"] for r in rows} == {n}
    assert {r["output_tokens_count"] for r in rows} == {7}
    # Unique per request (for N=1 only as many one-token words as the vocabulary has).
    assert len({r["prompt"] for r in rows}) == samples


@pytest.mark.parametrize("kind", ["bpe", "unigram", "approximate"])
def test_shared_prefix_is_exact_and_tokenizes_identically(
    kind: str, tokenizer_files: dict[str, Path]
) -> None:
    tok = _tokenizer(kind, tokenizer_files)
    spec = "prompt_tokens=50,prefix_tokens=200,prefix_count=3,samples=60"
    rows = list(SyntheticSource(spec, {}, tok, 1).rows())
    assert all(tok.count(r["prompt"]) == 250 == r["prompt_tokens_count"] for r in rows)
    assert len({r["prompt"] for r in rows}) == 60
    # Three prefixes, and a prefix's token ids are the same in every prompt that shares it
    # (that is what a server's prefix cache keys on).
    heads = {tuple(tok.encode(r["prompt"])[:200]) for r in rows}
    assert len(heads) == 3
    assert len({tuple(tok.encode(r["prompt"])[:210]) for r in rows}) == 60


def test_distributions_keep_min_and_max(bpe_path: Path) -> None:
    tok = load_tokenizer(str(bpe_path))
    assert tok is not None
    spec = (
        "prompt_tokens=300,prompt_tokens_stdev=200,prompt_tokens_min=100,prompt_tokens_max=420,"
        "output_tokens=50,output_tokens_stdev=40,output_tokens_min=10,output_tokens_max=60,"
        "samples=400"
    )
    rows = list(SyntheticSource(spec, {}, tok, 9).rows())
    lengths = [r["prompt_tokens_count"] for r in rows]
    outputs = [r["output_tokens_count"] for r in rows]
    assert min(lengths) >= 100 and max(lengths) <= 420
    assert min(outputs) >= 10 and max(outputs) <= 60
    assert len(set(lengths)) > 50  # really a distribution, not a constant
    assert [tok.count(r["prompt"]) for r in rows[:60]] == lengths[:60]


def test_uniform_without_stdev_and_constant() -> None:
    import random

    rng = random.Random(1)
    uniform = LengthDistribution.from_config(
        {"prompt_tokens": 5, "prompt_tokens_min": 3, "prompt_tokens_max": 9}, "prompt_tokens", 1
    )
    values = {uniform.sample(rng) for _ in range(500)}
    assert values == set(range(3, 10))
    constant = LengthDistribution.from_config({"prompt_tokens": 64}, "prompt_tokens", 1)
    assert {constant.sample(rng) for _ in range(20)} == {64}


def test_seeded_and_endless_continues() -> None:
    a = SyntheticSource("prompt_tokens=20,samples=5", {}, None, 3)
    b = SyntheticSource("prompt_tokens=20,samples=5", {}, None, 3)
    c = SyntheticSource("prompt_tokens=20,samples=5,seed=4", {}, None, 3)
    assert [r["prompt"] for r in a.rows()] == [r["prompt"] for r in b.rows()]
    assert [r["prompt"] for r in a.rows()] != [r["prompt"] for r in c.rows()]
    assert a.size == 5
    endless = SyntheticSource("prompt_tokens=20", {}, None, 3)
    assert endless.size is None
    first = [r["prompt"] for r in itertools.islice(endless.rows(), 30)]
    again = [r["prompt"] for r in itertools.islice(endless.rows(), 30)]
    assert len(set(first) | set(again)) == 60  # a second pass never repeats the first


def test_no_output_tokens_means_no_max_tokens() -> None:
    row = next(iter(SyntheticSource("prompt_tokens=8", {}, None, 1).rows()))
    assert "output_tokens_count" not in row


def test_verify_each_fallback_is_still_exact(bpe_path: Path) -> None:
    tok = load_tokenizer(str(bpe_path))
    source = SyntheticSource("prompt_tokens=300,samples=20", {}, tok, 2)
    source.validate()
    assert source._factory is not None
    source._factory.verify_each = True  # as if the tokenizer did not add up across cuts
    rows = list(source.rows())
    assert tok is not None
    assert all(tok.count(r["prompt"]) == r["prompt_tokens_count"] == 300 for r in rows)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("prompt_tokens=10,foo=1", "unknown key(s) foo; valid keys"),
        ("output_tokens=10", "needs prompt_tokens=N"),
        ("prompt_tokens=abc", "must be a non-negative number"),
        ("prompt_tokens=10,samples=0", "samples=0 must be positive"),
        ("prompt_tokens=10,samples=2.5", "must be a whole number"),
        ("prompt_tokens=10,prompt_tokens_min=9,prompt_tokens_max=3", "swap or fix"),
        ("{not json", "not valid JSON"),
    ],
)
def test_bad_specs_name_the_fix(spec: str, message: str) -> None:
    with pytest.raises(UserError, match=message.replace("(", r"\(").replace(")", r"\)")) as info:
        SyntheticSource(spec, {}, None, 1)
    assert "\n" not in str(info.value)


def test_json_spec() -> None:
    assert parse_synthetic_spec('{"prompt_tokens": 5, "samples": 2}') == {
        "prompt_tokens": 5,
        "samples": 2,
    }
    rows = list(SyntheticSource('{"prompt_tokens": 5, "samples": 2}', {}, None, 1).rows())
    assert len(rows) == 2


def _sessions(spec: str, tok: Tokenizer | None = None, seed: int = 3) -> list[Any]:
    """Synthetic session rows mapped to requests, as the loader does."""
    from guidellm.data.columns import make_row_mapper, resolve_columns

    rows = list(SyntheticSource(spec, {}, tok, seed).rows())
    mapper = make_row_mapper(resolve_columns(rows[0], None, "synthetic"))
    return [mapper(row, str(i)) for i, row in enumerate(rows)]


@pytest.mark.parametrize("kind", ["bpe", "unigram", "approximate"])
def test_sessions_have_exact_turn_lengths(kind: str, tokenizer_files: dict[str, Path]) -> None:
    tok = _tokenizer(kind, tokenizer_files)
    spec = "turns=4,prompt_tokens=120,turn_prompt_tokens=30,output_tokens=16,samples=25"
    requests = _sessions(spec, tok)
    assert len(requests) == 25
    for req in requests:
        assert req.session_id == req.request_id and req.prompt is None and req.messages is None
        turns = req.turns
        assert len(turns) == 4
        assert {t.kind for t in turns} == {"user"} and {t.reply for t in turns} == {None}
        lengths = [tok.count(t.messages[0]["content"]) for t in turns]
        assert lengths == [120, 30, 30, 30] == [t.prompt_tokens for t in turns]
        assert {t.max_tokens for t in turns} == {16}
        assert {t.think_time for t in turns} == {0.0}
    contents = [t.messages[0]["content"] for r in requests for t in r.turns]
    assert len(set(contents)) == len(contents) == 100  # no turn repeats, across sessions too


def test_turn_prompt_tokens_defaults_to_prompt_tokens() -> None:
    (req,) = _sessions("turns=3,prompt_tokens=40,samples=1")
    assert [t.prompt_tokens for t in req.turns] == [40, 40, 40]
    assert {t.max_tokens for t in req.turns} == {None}  # no output_tokens: the server decides


def test_session_distributions_and_think_time() -> None:
    spec = (
        "turns=3,turns_min=2,turns_max=5,prompt_tokens=20,turn_prompt_tokens=10,"
        "turn_prompt_tokens_min=5,turn_prompt_tokens_max=15,think_time_ms=2000,"
        "think_time_ms_stdev=500,think_time_ms_min=1000,think_time_ms_max=3000,"
        "output_tokens=8,output_tokens_min=4,output_tokens_max=12,samples=200"
    )
    requests = _sessions(spec)
    counts = [len(r.turns) for r in requests]
    assert set(counts) == {2, 3, 4, 5}
    later = [t for r in requests for t in r.turns[1:]]
    assert {t.prompt_tokens for t in later} == set(range(5, 16))
    thinks = [t.think_time for t in later]
    assert min(thinks) >= 1.0 and max(thinks) <= 3.0 and len(set(thinks)) > 20
    assert abs(sum(thinks) / len(thinks) - 2.0) < 0.15
    assert {r.turns[0].think_time for r in requests} == {0.0}
    assert {t.max_tokens for r in requests for t in r.turns} == set(range(4, 13))
    (still,) = _sessions("turns=2,prompt_tokens=5,think_time_ms=0,samples=1")
    assert [t.think_time for t in still.turns] == [0.0, 0.0]


def test_a_system_prompt_is_shared_by_every_session(bpe_path: Path) -> None:
    tok = load_tokenizer(str(bpe_path))
    assert tok is not None
    spec = "turns=2,prompt_tokens=10,system_prompt_tokens=300"
    requests = _sessions(spec + ",samples=30", tok)
    systems = {json.dumps(r.messages) for r in requests}
    assert len(systems) == 1
    (system,) = requests[0].messages
    assert system["role"] == "system" and tok.count(system["content"]) == 300
    other = SyntheticSource(spec + ",samples=5", {}, tok, 3)
    assert next(iter(other.rows()))["system"] == system["content"]  # generated once per seed


def test_sessions_are_seeded_and_endless_sessions_never_repeat() -> None:
    spec = "turns=3,prompt_tokens=12,turn_prompt_tokens=6,think_time_ms=500,think_time_ms_max=900"
    a = _sessions(spec + ",think_time_ms_min=0,samples=10", seed=4)
    b = _sessions(spec + ",think_time_ms_min=0,samples=10", seed=4)
    c = _sessions(spec + ",think_time_ms_min=0,samples=10", seed=5)
    assert [r.turns for r in a] == [r.turns for r in b]
    assert [r.turns for r in a] != [r.turns for r in c]
    endless = SyntheticSource(spec, {}, None, 1)
    texts = [
        t.messages[0]["content"]
        for _ in range(2)
        for row in itertools.islice(endless.rows(), 20)
        for t in row["turns"]
    ]
    assert len(set(texts)) == len(texts) == 120


def test_one_turn_stays_a_plain_request() -> None:
    plain = list(SyntheticSource("prompt_tokens=9,samples=3", {}, None, 2).rows())
    one = list(SyntheticSource("prompt_tokens=9,turns=1,samples=3", {}, None, 2).rows())
    assert one == plain and "turns" not in one[0]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("prompt_tokens=10,turns=0", "turns must be at least 1"),
        ("prompt_tokens=10,turns=2,think_time_ms=-5", "think_time_ms=-5 must be a non-negative"),
        ("prompt_tokens=10,system_prompt_tokens=50", "system_prompt_tokens shapes sessions"),
        ("prompt_tokens=10,turns=1,turn_prompt_tokens=5", "need turns=N above 1"),
        ("prompt_tokens=10,turns=2,turns_stdev=x", "turns_stdev='x' must be"),
    ],
)
def test_bad_session_keys(spec: str, message: str) -> None:
    with pytest.raises(UserError, match=re.escape(message)) as info:
        SyntheticSource(spec, {}, None, 1)
    assert "\n" not in str(info.value)
