"""Conversation rows as sessions: turns, replies, tools, history and bad rows, via the loader."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest

from guidellm.data.columns import make_row_mapper, resolve_columns
from guidellm.data.conversations import ConversationError, split_conversation
from guidellm.data.loader import RequestLoader
from guidellm.errors import UserError
from guidellm.plugins import PluginHost
from guidellm.request import GenerationRequest, Turn


@pytest.fixture
def host() -> PluginHost:
    return PluginHost(builtins=("guidellm.data.sources",), entry_points=False)


def _requests(
    host: PluginHost, tmp_path: Path, rows: list[dict[str, Any]], **args: Any
) -> list[GenerationRequest]:
    path = tmp_path / "conv.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return list(RequestLoader([str(path)], args, processor=None, random_seed=1, host=host))


def _user(text: str) -> dict[str, Any]:
    return {"role": "user", "content": text}


def _assistant(text: str | None, *calls: str) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": text}
    if calls:
        message["tool_calls"] = [
            {"id": c, "type": "function", "function": {"name": "search", "arguments": "{}"}}
            for c in calls
        ]
    return message


def _tool(call_id: str, text: str, **extra: Any) -> dict[str, Any]:
    return {"role": "tool", "tool_call_id": call_id, "content": text, **extra}


OPENAI = [
    {"role": "system", "content": "be brief"},
    _user("hi"),
    _assistant("hello"),
    _user("tell me more"),
    _assistant("sure"),
    _user("thanks"),
]


def test_openai_rows_become_sessions(host: PluginHost, tmp_path: Path) -> None:
    rows = [{"messages": OPENAI}, {"messages": OPENAI[:3]}]
    first, second = _requests(host, tmp_path, rows, think_time_ms=1500, max_tokens=32)
    assert first.request_id == "0" and first.session_id is not None
    assert first.session_id.endswith("-0")
    assert first.messages == [{"role": "system", "content": "be brief"}]
    assert first.recorded_history is False and first.prompt is None
    assert [t.messages for t in first.turns or []] == [
        [_user("hi")],
        [_user("tell me more")],
        [_user("thanks")],
    ]
    assert [t.reply for t in first.turns or []] == [_assistant("hello"), _assistant("sure"), None]
    assert [t.think_time for t in first.turns or []] == [0.0, 1.5, 1.5]
    assert {t.max_tokens for t in first.turns or []} == {32}
    assert {t.kind for t in first.turns or []} == {"user"}
    # One user turn stays one plain request, cut at the user's message as before.
    assert second.turns is None and second.session_id is None
    assert second.messages == [{"role": "system", "content": "be brief"}, _user("hi")]
    assert second.max_tokens == 32


def test_sharegpt_rows_become_sessions(host: PluginHost, tmp_path: Path) -> None:
    conversation = [
        {"from": "system", "value": "you are a cat"},
        {"from": "human", "value": "meow?"},
        {"from": "gpt", "value": "meow."},
        {"from": "human", "value": "purr?"},
        {"from": "gpt", "value": "purr."},
    ]
    (req,) = _requests(host, tmp_path, [{"conversations": conversation, "id": "x"}])
    assert req.messages == [{"role": "system", "content": "you are a cat"}]
    assert req.turns == [
        Turn(messages=[_user("meow?")], reply={"role": "assistant", "content": "meow."}),
        Turn(messages=[_user("purr?")], reply={"role": "assistant", "content": "purr."}),
    ]
    assert req.max_tokens is None


def test_tool_rows_make_tool_turns(host: PluginHost, tmp_path: Path) -> None:
    tools = [{"type": "function", "function": {"name": "search", "parameters": {}}}]
    conversation = [
        _user("find it"),
        _assistant(None, "a", "b"),
        _tool("a", "one", latency_ms=250),
        _tool("b", "two", duration_ms=700),
        _assistant(None, "c"),
        _tool("c", "three"),
        _assistant("found"),
        _user("good"),
    ]
    (req,) = _requests(
        host,
        tmp_path,
        [{"messages": conversation, "tools": tools}],
        tool_latency_ms=100,
        ignore_eos=True,
        think_time_ms=40,
    )
    turns = req.turns or []
    assert [t.kind for t in turns] == ["user", "tool", "tool", "user"]
    assert turns[0].reply == _assistant(None, "a", "b")
    # tool messages are sent without the latency fields, which no server knows
    assert turns[1].messages == [_tool("a", "one"), _tool("b", "two")]
    assert turns[1].think_time == 0.7  # parallel calls: the longest
    assert turns[2].think_time == 0.1  # no latency on the message: tool_latency_ms
    assert turns[2].reply == _assistant("found")
    assert turns[3].think_time == 0.04 and turns[3].reply is None
    assert req.extra_body == {"ignore_eos": True, "tools": tools}


def test_sharegpt_function_calls(host: PluginHost, tmp_path: Path) -> None:
    conversation = [
        {"from": "human", "value": "weather?"},
        {"from": "function_call", "value": '{"name": "weather", "arguments": {"city": "Oslo"}}'},
        {"from": "observation", "value": "rain", "latency_ms": 1200},
        {"from": "gpt", "value": "it rains"},
    ]
    tools = json.dumps([{"type": "function", "function": {"name": "weather"}}])
    (req,) = _requests(host, tmp_path, [{"conversations": conversation, "tools": tools}])
    first, second = req.turns or []
    assert first.reply == {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": "call_0",
                "type": "function",
                "function": {"name": "weather", "arguments": '{"city": "Oslo"}'},
            }
        ],
    }
    assert second == Turn(
        messages=[{"role": "tool", "content": "rain", "tool_call_id": "call_0"}],
        think_time=1.2,
        reply={"role": "assistant", "content": "it rains"},
        kind="tool",
    )
    assert req.extra_body == {"tools": json.loads(tools)}


def test_history_recorded_flags_sessions_only(host: PluginHost, tmp_path: Path) -> None:
    rows = [{"messages": OPENAI}, {"messages": [_user("alone")]}]
    session, single = _requests(host, tmp_path, rows, history="recorded")
    assert session.recorded_history is True
    assert single.recorded_history is False and single.turns is None
    (live,) = _requests(host, tmp_path, rows[:1], history="live")
    assert live.recorded_history is False


@pytest.mark.parametrize(
    ("args", "words"),
    [
        ({"history": "replay"}, ("history='replay'", "history=live or history=recorded")),
        ({"think_time_ms": -1}, ("think_time_ms=-1", "non-negative")),
        ({"tool_latency_ms": "slow"}, ("tool_latency_ms='slow'", "tool_latency_ms=2000")),
    ],
)
def test_bad_session_args(
    host: PluginHost, tmp_path: Path, args: dict[str, Any], words: tuple[str, ...]
) -> None:
    with pytest.raises(UserError) as info:
        _requests(host, tmp_path, [{"messages": OPENAI}], **args)
    assert "\n" not in str(info.value)
    for word in words:
        assert word in str(info.value)


def test_counts_with_a_tokenizer(host: PluginHost, tmp_path: Path, bpe_path: Path) -> None:
    path = tmp_path / "conv.jsonl"
    path.write_text(json.dumps({"messages": OPENAI}) + "\n")
    loader = RequestLoader(
        [str(path)], {"count_prompt_tokens": True}, processor=str(bpe_path), random_seed=1,
        host=host,
    )  # fmt: skip
    (req,) = list(loader)
    tok = loader.tokenizer
    turns = req.turns or []
    texts = ("hi", "tell me more", "thanks")
    assert [t.prompt_tokens for t in turns] == [tok.count(s) for s in texts]
    assert [t.max_tokens for t in turns] == [tok.count("hello"), tok.count("sure"), None]


def test_csv_and_parquet_conversations(host: PluginHost, tmp_path: Path) -> None:
    path = tmp_path / "conv.csv"
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["messages"])
        writer.writerow([json.dumps(OPENAI)])
        writer.writerow(["just a prompt"])
    session, plain = RequestLoader([str(path)], {}, processor=None, random_seed=1, host=host)
    assert len(session.turns or []) == 3
    assert plain.turns is None and plain.messages == [_user("just a prompt")]
    pq = pytest.importorskip("pyarrow.parquet")
    import pyarrow as pa

    parquet = tmp_path / "conv.parquet"
    pq.write_table(pa.Table.from_pylist([{"messages": [m for m in OPENAI]}]), parquet)
    (req,) = RequestLoader([str(parquet)], {}, processor=None, random_seed=1, host=host)
    assert [t.messages for t in req.turns or []][1] == [_user("tell me more")]


BAD = [
    ([{"role": "system", "content": "s"}], "has no user message"),
    ([_assistant("hi"), _user("x")], "message 1: the conversation starts with an assistant"),
    ([_user("x"), _assistant("a"), _assistant("b")], "message 3: two assistant messages in a row"),
    (
        [_user("x"), _assistant("a"), {"role": "system", "content": "s"}, _assistant("b")],
        "message 4: an assistant message right after a system message",
    ),
    ([_user("x"), _tool("a", "r")], "message 2: a tool message has no preceding tool call"),
    ([_user("x"), _assistant("a"), _tool("a", "r")], "a tool message has no preceding tool call"),
    ([_tool("a", "r"), _user("x")], "message 1: the conversation starts with a tool message"),
    ([_user("x"), _assistant(None, "a"), _tool("b", "r")], "answers tool_call_id 'b'"),
    ([{"from": "human", "value": "x"}, {"from": "robot", "value": "y"}], "unknown from 'robot'"),
    ([{"role": "wizard", "content": "x"}], "unknown role 'wizard'"),
    ([_user("x"), _assistant(None, "a"), _tool("a", "r", latency_ms=-3)], "latency_ms=-3"),
    ([_user("x"), {"from": "function_call", "value": "nope"}], "function_call value"),
]


@pytest.mark.parametrize(("conversation", "message"), BAD)
def test_bad_conversations_name_the_row(
    host: PluginHost, tmp_path: Path, conversation: list[dict[str, Any]], message: str
) -> None:
    rows = [{"messages": OPENAI}, {"messages": [_user("fine")]}, {"messages": conversation}]
    with pytest.raises(UserError) as info:
        _requests(host, tmp_path, rows)  # checked when the loader is built, nothing sent
    text = str(info.value)
    assert "\n" not in text
    assert "conv.jsonl" in text and "conversation row 3: " in text
    assert message in text


def test_bad_tools_name_the_row(host: PluginHost, tmp_path: Path) -> None:
    rows = [{"messages": OPENAI, "tools": "not json"}]
    with pytest.raises(UserError, match=r"conversation row 1: the tools column is not a list"):
        _requests(host, tmp_path, rows)


def test_the_mapper_raises_for_rows_not_checked_ahead() -> None:
    """Streamed data is not read ahead: the mapper finds the problem, the loader adds the row."""
    mapper = make_row_mapper(resolve_columns(["messages"], None, "x"))
    with pytest.raises(ConversationError, match="two assistant messages") as info:
        mapper({"messages": [_user("x"), _assistant("a"), _assistant("b")]}, "0")
    located = info.value.at("data.jsonl", 12)
    assert str(located).startswith("--data 'data.jsonl': conversation row 12: message 3: ")
    assert split_conversation([]) is None and split_conversation(None) is None


def test_consecutive_user_messages_make_one_turn() -> None:
    split = split_conversation([_user("a"), _user("b"), _assistant("c"), _user("d")])
    assert split is not None
    prefix, turns = split
    assert prefix == [] and [t.messages for t in turns] == [[_user("a"), _user("b")], [_user("d")]]


def test_a_streamed_bad_conversation_stops_at_its_row(host: PluginHost) -> None:
    """Data of unknown size is not read ahead: iteration names the row when it gets there."""
    from collections.abc import Iterator, Mapping

    from guidellm.data.base import DatasetSource
    from guidellm.hookspecs import Register, hookimpl

    class Stream(DatasetSource):
        name = "stream"

        @classmethod
        def accepts(cls, spec: str, options: Mapping[str, Any]) -> bool:
            return spec == "stream:"

        def rows(self) -> Iterator[dict[str, Any]]:
            yield {"messages": OPENAI}
            yield {"messages": [_user("x"), _tool("a", "r")]}

    class Plugin:
        @hookimpl
        def register_dataset_sources(self, register: Register) -> None:
            register(Stream)

    host.add_plugin(Plugin(), "stream-plugin")
    try:
        loader = RequestLoader(["stream:"], {}, processor=None, random_seed=1, host=host)
        requests = iter(loader)
        assert len(next(requests).turns or []) == 3
        with pytest.raises(UserError, match=r"^--data 'stream:': conversation row 2: message 2: "):
            next(requests)
    finally:
        host.remove_plugin("stream-plugin")


def test_a_user_message_after_tool_answers_is_a_new_turn() -> None:
    split = split_conversation(
        [_user("a"), _assistant(None, "c"), _tool("c", "r"), _user("b"), _assistant("d")]
    )
    assert split is not None
    _, turns = split
    assert [(t.kind, t.reply) for t in turns] == [
        ("user", _assistant(None, "c")),
        ("tool", None),
        ("user", _assistant("d")),
    ]


def test_bad_conversations_skip_leaves_bad_rows_out_counted(
    host: PluginHost, tmp_path: Path
) -> None:
    good = {"messages": [_user("a"), _assistant("b"), _user("c")]}
    starts_with_answer = {"messages": [_assistant("hi"), _user("x")]}
    two_answers = {"messages": [_user("a"), _assistant("b"), _assistant("c"), _user("d")]}
    path = tmp_path / "dump.jsonl"
    rows = [good, starts_with_answer, two_answers, good]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(UserError, match="row 2"):
        RequestLoader([str(path)], {}, processor=None, random_seed=1, host=host)
    loader = RequestLoader(
        [str(path)], {"bad_conversations": "skip"}, processor=None, random_seed=1, host=host
    )
    requests = list(loader)
    assert [len(r.turns or []) for r in requests] == [2, 2]
    assert loader.dropped == 2 and loader.first_dropped == f"row 2 of {path}"
    with pytest.raises(UserError, match="bad_conversations"):
        RequestLoader(
            [str(path)], {"bad_conversations": "no"}, processor=None, random_seed=1, host=host
        )
