"""Synthetic prompts: exact lengths for real tokenizers, uniqueness, distributions, prefixes."""

from __future__ import annotations

import itertools
from pathlib import Path

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
