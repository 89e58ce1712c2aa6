"""Weighted mixes: model mixes parse as users write them, the Interleaver keeps shares at every
point of a run, and a TrafficMix tags requests and repeats each class's data."""

from __future__ import annotations

import itertools
from collections import Counter

import pytest

from guidellm.data.loader import RequestLoader
from guidellm.data.mix import Interleaver, MixClass, TrafficMix, parse_model_mix
from guidellm.errors import UserError
from guidellm.options import parse_options
from guidellm.plugins import get_plugin_host


def test_a_model_mix_parses_weights_and_names_with_colons() -> None:
    assert parse_model_mix("m") is None
    assert parse_model_mix("llama3:8b") is None
    assert parse_model_mix("base:0.5,adapter-a:0.3,adapter-b:0.2") == [
        ("base", 0.5),
        ("adapter-a", 0.3),
        ("adapter-b", 0.2),
    ]
    assert parse_model_mix("llama3:8b:3,qwen:1") == [("llama3:8b", 0.75), ("qwen", 0.25)]
    assert parse_model_mix("a,b") == [("a", 0.5), ("b", 0.5)]
    assert parse_model_mix("a:0.5,b,c") == [("a", 0.5), ("b", 0.25), ("c", 0.25)]


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("a:0,b:0", "sum to zero"),
        ("a:-1,b:2", "not a number >= 0"),
        ("a:1,b", "leave nothing"),
        ("a,,b", "empty name"),
        (":1,b", "no model name"),
        ("a:1,a:1", "twice"),
    ],
)
def test_a_bad_model_mix_is_one_line(text: str, words: str) -> None:
    with pytest.raises(UserError) as info:
        parse_model_mix(text)
    assert words in str(info.value) and "\n" not in str(info.value)


def test_bare_numbers_continue_weights_and_nothing_else() -> None:
    assert parse_options("weights=0.8,0.2,split=train") == {"weights": [0.8, 0.2], "split": "train"}
    assert parse_options("a=1,b=2") == {"a": 1, "b": 2}
    with pytest.raises(UserError, match="'b' is not key=value"):
        parse_options("a=1,b")
    # A typo elsewhere is still named as one, not read as a list.
    with pytest.raises(UserError, match="'64' is not key=value"):
        parse_options("prompt_tokens=128,64")


@pytest.mark.parametrize("weights", [(0.5, 0.3, 0.2), (0.9, 0.1), (1, 1, 1, 1, 1, 1, 1)])
def test_the_interleaver_keeps_every_share_within_two_items_at_every_point(
    weights: tuple[float, ...],
) -> None:
    picker = Interleaver(weights, seed=3)
    shares = [w / sum(weights) for w in weights]
    for n in range(1, 3001):
        i = picker.pick()
        picker.record(i, 1)
        for k, share in enumerate(shares):
            assert abs(picker.sent[k] - share * n) <= 2.0, (n, k, picker.sent)


def test_the_interleaver_counts_units_so_sessions_get_a_share_of_requests() -> None:
    picker = Interleaver([0.5, 0.5], seed=1)
    units = (3, 1)  # sessions of three turns against single requests
    for _ in range(2000):
        i = picker.pick()
        picker.record(i, units[i])
    assert abs(picker.sent[0] - picker.sent[1]) <= 3
    # Not a fixed cycle: the order is a seeded draw.
    orders = set()
    for seed in range(4):
        p = Interleaver([0.5, 0.3, 0.2], seed)
        seq = []
        for _ in range(30):
            seq.append(p.pick())
            p.record(seq[-1], 1)
        orders.add(tuple(seq))
    assert len(orders) > 1


def _loader(spec: str) -> RequestLoader:
    return RequestLoader([spec], {}, processor=None, random_seed=1, host=get_plugin_host())


def test_a_traffic_mix_tags_requests_and_repeats_finite_classes() -> None:
    mix = TrafficMix(
        [
            MixClass("short", _loader("prompt_tokens=8,output_tokens=2,samples=3"), weight=3),
            MixClass(
                "long",
                _loader("prompt_tokens=64,output_tokens=2"),
                weight=1,
                models=[("a", 0.5), ("b", 0.5)],
            ),
        ],
        seed=5,
    )
    assert mix.size is None  # classes repeat: the run is bounded by its limits
    requests = list(itertools.islice(mix, 400))
    by_class = Counter(r.traffic_class for r in requests)
    assert by_class == {"short": 300, "long": 100}
    assert {r.prompt_tokens for r in requests if r.traffic_class == "short"} == {8}
    assert Counter(r.model for r in requests if r.traffic_class == "long") == {"a": 50, "b": 50}
    assert {r.model for r in requests if r.traffic_class == "short"} == {None}
    assert len({r.request_id for r in requests}) == 400
    # The next benchmark continues the shares where this one stopped.
    more = list(itertools.islice(mix, 400))
    assert Counter(r.traffic_class for r in more) == {"short": 300, "long": 100}


def test_rate_classes_share_arrivals_and_weighted_classes_share_requests() -> None:
    def run(**kw: float) -> Counter[str | None]:
        chat = MixClass("chat", _loader("prompt_tokens=8,output_tokens=2,turns=4"), **kw)
        single = MixClass("single", _loader("prompt_tokens=8,output_tokens=2"), **kw)
        mix = TrafficMix([chat, single], seed=2)
        return Counter(r.traffic_class for r in itertools.islice(mix, 200))

    # Rates of 20/s each: as many sessions as single requests (an arrival is a session).
    assert run(rate=20.0) == {"chat": 100, "single": 100}
    # Weights of 1 each: as many turns as single requests (4 turns a session).
    by_items = run(weight=1.0)
    assert abs(4 * by_items["chat"] - by_items["single"]) <= 4, by_items


def test_a_class_whose_data_gives_nothing_is_one_line() -> None:
    loader = _loader("prompt_tokens=8,output_tokens=2,samples=2")
    empty = _loader("prompt_tokens=8,output_tokens=2,samples=2")
    empty.sources[0].rows = lambda: iter(())  # type: ignore[method-assign]
    mix = TrafficMix([MixClass("ok", loader), MixClass("void", empty)], seed=1)
    with pytest.raises(UserError, match="traffic class 'void': the data gives no requests"):
        list(itertools.islice(mix, 10))
