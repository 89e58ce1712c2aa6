"""SSEDecoder: events split across reads, several per read, comments, CRLF, named events."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from guidellm.backends.sse import SSEDecoder, SSEEvent, parse_events


def feed_all(pieces: list[bytes]) -> list[bytes | SSEEvent]:
    decoder = SSEDecoder()
    out: list[bytes | SSEEvent] = []
    for piece in pieces:
        out += decoder.feed(piece)
    return out + decoder.close()


def feed_json_all(pieces: list[bytes]) -> list[bytes | SSEEvent]:
    """The fast path, expanded back into payloads, so both paths can be compared."""
    decoder = SSEDecoder()
    out: list[bytes | SSEEvent] = []
    for piece in pieces:
        array, items = decoder.feed_json(piece)
        if array is not None:
            try:
                out += [orjson.dumps(obj) for obj in orjson.loads(array)]
            except orjson.JSONDecodeError:  # what the backend does too
                items = parse_events(decoder.batch)
            else:
                if decoder.done:
                    out.append(b"[DONE]")
        decoder.done = False  # the backend stops at [DONE]; this helper reads on
        out += items
    return out + decoder.close()


def test_several_events_in_one_read() -> None:
    data = b'data: {"a":1}\n\ndata: {"a":2}\n\ndata: [DONE]\n\n'
    assert feed_all([data]) == [b'{"a":1}', b'{"a":2}', b"[DONE]"]


def test_event_split_across_reads_byte_by_byte() -> None:
    data = b'data: {"a":1}\n\ndata: {"b":"x y"}\n\n'
    pieces = [data[i : i + 1] for i in range(len(data))]
    assert feed_all(pieces) == [b'{"a":1}', b'{"b":"x y"}']


def test_comments_and_keep_alives_produce_nothing() -> None:
    data = b': keep-alive\n\n:\n\ndata: {"a":1}\n: ping\n\n: another\n\n'
    assert feed_all([data]) == [b'{"a":1}']


def test_crlf_and_cr_line_ends() -> None:
    data = b'data: {"a":1}\r\n\r\ndata: {"a":2}\r\rdata: x\r\n\r\n'
    assert feed_all([data]) == [b'{"a":1}', b'{"a":2}', b"x"]


def test_crlf_split_between_cr_and_lf() -> None:
    assert feed_all([b'data: {"a":1}\r', b"\n\r", b'\ndata: {"a":2}\r\n\r\n']) == [
        b'{"a":1}',
        b'{"a":2}',
    ]


def test_multi_line_data_is_joined_with_newlines() -> None:
    assert feed_all([b"data: line one\ndata: line two\n\n"]) == [b"line one\nline two"]


def test_field_without_space_and_ignored_fields() -> None:
    data = b'id: 7\nretry: 100\ndata:{"a":1}\nunknown: z\n\n'
    assert feed_all([data]) == [b'{"a":1}']


def test_named_event_is_returned_apart() -> None:
    out = feed_all([b'event: error\ndata: {"message":"boom"}\n\nevent: message\ndata: x\n\n'])
    assert out == [SSEEvent("error", b'{"message":"boom"}'), b"x"]


def test_close_is_lenient_about_the_last_blank_line() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: [DONE]\n") == []
    assert decoder.pending == len(b"data: [DONE]\n")
    assert decoder.close() == [b"[DONE]"]
    assert decoder.close() == []


def test_feed_json_batches_plain_events_and_sees_done() -> None:
    decoder = SSEDecoder()
    array, items = decoder.feed_json(b'data: {"a":1}\n\ndata: {"a":2}\n\ndata: [DONE]\n\n')
    assert items == []
    assert array is not None
    assert orjson.loads(array) == [{"a": 1}, {"a": 2}]
    assert decoder.done


def test_feed_json_keeps_a_partial_event_for_the_next_read() -> None:
    decoder = SSEDecoder()
    array, _ = decoder.feed_json(b'data: {"a":1}\n\ndata: {"a"')
    assert array is not None and orjson.loads(array) == [{"a": 1}]
    array, _ = decoder.feed_json(b":2}\n\n")
    assert array is not None and orjson.loads(array) == [{"a": 2}]
    assert not decoder.done


def test_feed_json_leaves_invalid_json_for_anything_unusual() -> None:
    for data in (
        b': ping\n\ndata: {"a":1}\n\n',  # a comment first
        b'data: {"a":1}\n\n: ping\n\ndata: {"a":1}\n\n',  # a comment between
        b'data: {"a":1}\ndata: {"b":2}\n\n',  # a two-line event
        b'data: {"a":1}\n\ndata: [DONE]\n\ndata: {"a":2}\n\n',  # [DONE] not last
        b'data: {"a":1}\n\nid: 3\ndata: {"a":2}\n\n',  # another field
        b'data: {"a":1}\n\ndata: \n\ndata: {"a":2}\n\n',  # an empty event
        b'data: {"a":1}\n\ndata:{"a":2}\n\n',  # no space after the colon
        b'event: error\ndata: {"a":1}\n\n',
        b'data: {"a":1}\ndata: [DONE]\n\n',  # [DONE] as the second line of an event
        b'data: {"a":1}\n\nfoo: data: [DONE]\n\n',  # not a [DONE] event at all
    ):
        decoder = SSEDecoder()
        array, items = decoder.feed_json(data)
        if array is None:
            assert items == parse_events(data), data
        else:
            with pytest.raises(orjson.JSONDecodeError):
                orjson.loads(array)
            assert decoder.batch == data
            assert not decoder.done


_EVENT = st.one_of(
    st.dictionaries(st.sampled_from("abc"), st.text(max_size=5), max_size=3).map(
        lambda d: b"data: " + orjson.dumps(d) + b"\n\n"
    ),
    st.just(b": keep-alive\n\n"),
    st.just(b'data: {"x":1}\r\n\r\n'),
    st.just(b"data: a\ndata: b\n\n"),
    st.just(b"data: \n\n"),
    st.just(b'id: 1\ndata: {"i":1}\n\n'),
    st.just(b'data:{"n":1}\n\n'),
    st.just(b"\n"),
    st.just(b"data: [DONE]\n\n"),
)


@settings(max_examples=400, deadline=None)
@given(events=st.lists(_EVENT, max_size=12), cuts=st.lists(st.integers(0, 400), max_size=8))
def test_any_split_gives_the_same_events_on_both_paths(
    events: list[bytes], cuts: list[int]
) -> None:
    stream = b"".join(events) + b"data: [DONE]\n\n"
    points = sorted({min(c, len(stream)) for c in cuts})
    pieces = [
        stream[a:b] for a, b in zip([0, *points], [*points, len(stream)], strict=True) if b > a
    ]
    whole = feed_all([stream])
    assert whole[-1] == b"[DONE]"
    assert feed_all(pieces) == whole
    normalized = [orjson.dumps(orjson.loads(x)) if x.startswith(b"{") else x for x in whole]
    fast = [
        orjson.dumps(orjson.loads(x)) if x.startswith(b"{") else x for x in feed_json_all(pieces)
    ]
    assert fast == normalized
