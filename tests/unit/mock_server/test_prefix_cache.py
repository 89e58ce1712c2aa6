"""The mock server's prefix cache model: block hits, LRU order, the prompt's token sequence."""

from __future__ import annotations

import pytest

from guidellm.errors import UserError
from guidellm.mock_server.behavior import MockServerConfig, count_prompt_tokens, plan_request
from guidellm.mock_server.prefix_cache import PrefixCache, prompt_token_sequence


def toks(n: int, start: int = 0) -> list[int]:
    return list(range(start, start + n))


def run(cache: PrefixCache, tokens: list[int]) -> int:
    """What the server does per request run alone: look up at its start, insert at its first
    token (its prefill done)."""
    cached, hashes = cache.admit(tokens)
    cache.insert(hashes)
    return cached


def test_hits_are_leading_full_blocks_of_an_equal_prefix() -> None:
    cache = PrefixCache(block_tokens=4, capacity=100)
    assert run(cache, toks(10)) == 0  # first sight: a miss
    assert run(cache, toks(10)) == 8  # 2 full blocks; the 2 tokens of the partial block never
    assert run(cache, toks(10) + toks(7, 100)) == 8  # 17 tokens: 4 blocks, 2 seen
    assert run(cache, toks(10) + toks(7, 100)) == 16


def test_a_different_token_early_breaks_every_later_block() -> None:
    cache = PrefixCache(block_tokens=4, capacity=100)
    run(cache, toks(20))
    changed = toks(20)
    changed[5] = -1  # inside block 1: block 0 still hits, blocks 1.. differ (chained hashes)
    assert run(cache, changed) == 4
    # blocks equal in content but after a different prefix do not hit either
    assert run(cache, [-9] * 4 + toks(16, 4)) == 0


def test_at_least_one_token_is_left_uncached() -> None:
    cache = PrefixCache(block_tokens=4, capacity=100)
    run(cache, toks(8))
    assert run(cache, toks(8)) == 4  # all blocks cached, yet the last block is computed
    assert run(cache, toks(9)) == 8  # with one more token both blocks may hit
    run(cache, toks(4))
    assert run(cache, toks(4)) == 0
    assert run(cache, toks(1)) == 0 and run(cache, []) == 0


def test_lru_evicts_the_least_recent_blocks_tail_first() -> None:
    cache = PrefixCache(block_tokens=2, capacity=6)
    a, b = toks(9, 0), toks(9, 1000)  # 4 full blocks each
    run(cache, a)
    run(cache, b)  # 8 blocks offered, 6 kept: a's two tail blocks went first
    assert len(cache.blocks) == 6
    assert cache.lookup(cache.block_hashes(a), len(a)) == 4  # a's head survives
    assert cache.lookup(cache.block_hashes(b), len(b)) == 8
    run(cache, a)  # a is whole again, b lost its tail and is now the least recent
    assert cache.lookup(cache.block_hashes(b), len(b)) == 4
    run(cache, toks(5, 5000))  # 2 new blocks push out b's head (its last 2 blocks)
    assert cache.lookup(cache.block_hashes(a), len(a)) == 8
    assert cache.lookup(cache.block_hashes(b), len(b)) == 0  # b's head block went too
    assert len(cache.blocks) == 6


def test_a_prompt_longer_than_the_cache_keeps_its_head() -> None:
    cache = PrefixCache(block_tokens=2, capacity=3)
    run(cache, toks(21))
    assert cache.lookup(cache.block_hashes(toks(21)), 21) == 6  # the first 3 blocks


def test_capacity_zero_caches_nothing() -> None:
    cache = PrefixCache(block_tokens=4, capacity=0)
    for _ in range(3):
        assert run(cache, toks(40)) == 0
    assert len(cache.blocks) == 0


def test_conversation_sequence_is_prefix_stable_and_marks_roles() -> None:
    first = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "What is a cache, really?"},
    ]
    turn1 = {"messages": first}
    turn2 = {
        "messages": [
            *first,
            {"role": "assistant", "content": "A store of recent results."},
            {"role": "user", "content": [{"type": "text", "text": "And LRU?"}]},
        ]
    }
    s1, s2 = prompt_token_sequence(turn1), prompt_token_sequence(turn2)
    assert s2[: len(s1)] == s1 and len(s2) > len(s1)
    for body in (turn1, turn2):  # as long as the count the mock reports
        assert len(prompt_token_sequence(body)) == count_prompt_tokens(body)
    as_user = {"messages": [{"role": "user", "content": "Be brief."}]}
    as_system = {"messages": [{"role": "system", "content": "Be brief."}]}
    assert prompt_token_sequence(as_user) != prompt_token_sequence(as_system)
    split = {"messages": [{"role": "user", "content": "a b"}, {"role": "user", "content": "c"}]}
    joined = {"messages": [{"role": "user", "content": "a b c"}]}
    assert prompt_token_sequence(split) != prompt_token_sequence(joined)


@pytest.mark.parametrize(
    "body",
    [
        {"prompt": "one, two three"},
        {"prompt": ["one two", "three!"]},
        {"prompt": [5, 6, 7, 8]},
        {"messages": [{"role": "user", "content": ""}, "junk", {"content": "x y"}]},
    ],
)
def test_sequence_length_is_the_reported_prompt_count(body: dict[str, object]) -> None:
    assert len(prompt_token_sequence(body)) == count_prompt_tokens(body)


def test_prefill_adds_to_the_drawn_ttft() -> None:
    config = MockServerConfig(ttft_ms=5, ttft_ms_std=1, prefill_ms_per_token=0.5, seed=3)
    base = plan_request(config, 4)
    longer = plan_request(config, 4, prefill_tokens=40)
    assert longer.ttft_s == pytest.approx(base.ttft_s + 0.020)
    assert longer.tokens == base.tokens  # the draws themselves are unchanged


@pytest.mark.parametrize(
    ("settings", "flag"),
    [
        ({"prefill_ms_per_token": -1.0}, "--prefill-ms-per-token"),
        ({"prefill_ms_per_token": float("nan")}, "--prefill-ms-per-token"),
        ({"prefix_block_tokens": 0}, "--prefix-block-tokens"),
        ({"prefix_block_tokens": 2.5}, "--prefix-block-tokens"),
        ({"prefix_cache_blocks": -1}, "--prefix-cache-blocks"),
        ({"prefix_cache_blocks": True}, "--prefix-cache-blocks"),
    ],
)
def test_bad_settings_are_one_line_user_errors(settings: dict[str, object], flag: str) -> None:
    with pytest.raises(UserError) as info:
        MockServerConfig(**settings)  # type: ignore[arg-type]
    assert flag in str(info.value) and "\n" not in str(info.value)
