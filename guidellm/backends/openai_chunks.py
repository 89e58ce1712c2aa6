"""What OpenAI-compatible servers send, turned into recorder calls: stream chunks, whole
completions and error bodies.

:class:`ChunkReader` is the hot path of the ``openai_http`` backend. Per network read it takes
one timestamp (when the read returned), and when the read holds only plain ``data: {json}``
events it decodes them all in one ``msgspec`` call into structs that declare only the fields
used, so ``id``, ``model``, ``logprobs``... are skipped without being built. Any other shape
(comments, multi-line or named events, an unexpected chunk) goes through the general SSE parser
and ``orjson``, one event at a time.

Fields read: ``choices[0].delta.content`` (chat) or ``choices[0].text`` (completions);
``reasoning_content`` or ``reasoning`` in the delta (vLLM, SGLang, llama.cpp use one or the
other); ``usage`` with ``completion_tokens_details.reasoning_tokens`` and
``prompt_tokens_details.cached_tokens`` (OpenAI, vLLM); llama.cpp's top-level ``timings`` with
``cache_n`` (prompt tokens reused from its cache; ``usage``'s figure wins when both are sent);
``error``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from guidellm.backends.sse import SSEDecoder, SSEEvent, parse_events
from guidellm.errors import BadResponseError, ServerError

if TYPE_CHECKING:
    from guidellm.request import ResponseRecorder

__all__ = ["ChunkReader", "json_answer", "server_message"]

#: How much of a server's error message is kept in an error.
MESSAGE_CHARS = 300


def server_message(body: bytes) -> str:
    """The human part of an error body: OpenAI's ``error.message``, FastAPI's ``detail``..."""
    import orjson

    text = body.decode("utf-8", "replace").strip()
    try:
        obj = orjson.loads(body)
    except orjson.JSONDecodeError:
        obj = None
    if isinstance(obj, dict):
        err = obj.get("error", obj)
        if isinstance(err, dict):
            msg = err.get("message") or err.get("detail") or err.get("msg")
            if msg is not None:
                text = str(msg)
        elif isinstance(err, str):
            text = err
        if "detail" in obj and not isinstance(obj.get("error"), (dict, str)):
            text = str(obj["detail"])
    text = " ".join(text.split())
    if len(text) > MESSAGE_CHARS:
        text = text[:MESSAGE_CHARS] + "..."
    return text or "(empty body)"


def json_answer(body: bytes, scrub: Callable[[str], str] = str) -> dict[str, Any]:
    """A whole (non-streamed) answer's JSON object: malformed JSON or another shape is a
    ``BadResponseError``, an ``error`` object a ``ServerError`` with its message."""
    import orjson

    try:
        obj = orjson.loads(body)
    except ValueError:
        raise BadResponseError(f"malformed JSON response: {body[:80]!r}") from None
    if not isinstance(obj, dict):
        raise BadResponseError(f"unexpected JSON response: {body[:80]!r}")
    if obj.get("error") is not None:
        raise ServerError(scrub(server_message(body)))
    return obj


def _list_of(item: Any) -> Any:
    """``list[item]`` for a class built at run time (mypy cannot check such a type)."""
    return list[item]


def _batch_decoder() -> Callable[[bytes], list[Any]]:
    """A msgspec decoder for a JSON array of stream chunks, reading only the fields we use.

    About twice as fast as ``orjson.loads`` into dicts; a chunk of another shape raises
    ``ValueError`` (msgspec's ``ValidationError``) and the read takes the general path.
    """
    import msgspec

    def struct(name: str, fields: list[tuple[str, Any]]) -> Any:
        return msgspec.defstruct(name, [(f, t, None) for f, t in fields])

    delta = struct(
        "Delta",
        [("content", str | None), ("reasoning_content", str | None), ("reasoning", str | None)],
    )
    choice = struct("Choice", [("delta", delta | None), ("text", str | None)])
    usage = struct(
        "Usage",
        [
            ("prompt_tokens", int | None),
            ("completion_tokens", int | None),
            ("completion_tokens_details", dict[str, Any] | None),
            ("prompt_tokens_details", dict[str, Any] | None),
        ],
    )
    timings = struct("Timings", [("cache_n", int | None)])
    chunk = struct(
        "Chunk",
        [
            ("choices", _list_of(choice) | None),
            ("usage", usage | None),
            ("timings", timings | None),
            ("error", Any),
        ],
    )
    decode: Callable[[bytes], list[Any]] = msgspec.json.Decoder(_list_of(chunk)).decode
    return decode


def _count(value: Any) -> int | None:
    """An int token count, or None (a bool or a float is no count)."""
    return value if value.__class__ is int else None


def _usage(usage: Any, timings: Any, recorder: ResponseRecorder) -> None:
    """Record a dict chunk's ``usage`` and llama.cpp's ``timings.cache_n`` (usage wins)."""
    cached = _count(timings.get("cache_n")) if isinstance(timings, dict) else None
    if not isinstance(usage, dict):
        if cached is not None:
            recorder.usage(None, None, None, cached)
        return
    details = usage.get("completion_tokens_details")
    reasoning = details.get("reasoning_tokens") if isinstance(details, dict) else None
    prompt_details = usage.get("prompt_tokens_details")
    if isinstance(prompt_details, dict):
        from_usage = _count(prompt_details.get("cached_tokens"))
        if from_usage is not None:
            cached = from_usage
    recorder.usage(usage.get("prompt_tokens"), usage.get("completion_tokens"), reasoning, cached)


def _struct_cached(usage: Any, timings: Any) -> int | None:
    """Cached prompt tokens of a decoded chunk struct: usage's, else llama.cpp's ``cache_n``."""
    details = usage.prompt_tokens_details if usage is not None else None
    if details:
        cached = _count(details.get("cached_tokens"))
        if cached is not None:
            return cached
    return timings.cache_n if timings is not None else None


class ChunkReader:
    """Records what one process's responses carry; ``chat`` picks the chunk shape.

    ``scrub`` removes secrets from any text that ends up in an error message. Built in each
    process (it holds decoders, which are not picklable).
    """

    def __init__(self, chat: bool, scrub: Callable[[str], str] = str) -> None:
        import orjson

        self.chat = chat
        self.scrub = scrub
        self.loads = orjson.loads
        self.dumps = orjson.dumps
        self.decode_batch = _batch_decoder()

    def on_read(
        self, data: bytes, arrived: float, decoder: SSEDecoder, recorder: ResponseRecorder
    ) -> bool:
        """Record the chunks of one network read (all arrived at ``arrived``); True at the end."""
        array, items = decoder.feed_json(data)
        if array is not None:
            try:
                chunks = self.decode_batch(array)
            except ValueError:  # msgspec's DecodeError/ValidationError: not the usual shape
                items = parse_events(decoder.batch)
            else:
                content = recorder.content
                chat = self.chat
                for chunk in chunks:
                    choices = chunk.choices
                    if choices:
                        if chat:
                            delta = choices[0].delta
                            if delta is not None:
                                if delta.content:
                                    content(delta.content, arrived)
                                elif delta.reasoning_content or delta.reasoning:
                                    recorder.reasoning(
                                        delta.reasoning_content or delta.reasoning, arrived
                                    )
                        elif choices[0].text:
                            content(choices[0].text, arrived)
                    usage = chunk.usage
                    if usage is not None:
                        details = usage.completion_tokens_details
                        recorder.usage(
                            usage.prompt_tokens,
                            usage.completion_tokens,
                            details.get("reasoning_tokens") if details else None,
                            _struct_cached(usage, chunk.timings),
                        )
                    elif chunk.timings is not None:  # llama.cpp's last chunk, no usage asked
                        recorder.usage(None, None, None, chunk.timings.cache_n)
                    elif not choices and chunk.error is not None:
                        raise ServerError(self.scrub(server_message(self.dumps(chunk.error))))
        return bool(items and self.events(items, arrived, recorder)) or decoder.done

    def events(
        self, items: list[bytes | SSEEvent], arrived: float, recorder: ResponseRecorder
    ) -> bool:
        """The general path: record events one at a time; True at ``[DONE]``."""
        loads = self.loads
        chat = self.chat
        content = recorder.content
        for item in items:
            if item.__class__ is not bytes:
                self._named_event(item)
                continue
            if item == b"[DONE]":
                return True
            try:
                obj = loads(item)
                choices = obj.get("choices")
                if choices:
                    choice = choices[0]
                    if chat:
                        delta = choice["delta"]
                        text = delta.get("content")
                        if text:
                            content(text, arrived)
                        else:
                            reasoning = delta.get("reasoning_content") or delta.get("reasoning")
                            if reasoning:
                                recorder.reasoning(reasoning, arrived)
                    else:
                        text = choice.get("text")
                        if text:
                            content(text, arrived)
                usage = obj.get("usage")
                timings = obj.get("timings")
                if usage or timings:
                    _usage(usage, timings, recorder)
                elif not choices and obj.get("error") is not None:
                    raise ServerError(self.scrub(server_message(item)))
            except ValueError:  # orjson.JSONDecodeError is a ValueError
                raise BadResponseError(f"malformed JSON in stream: {item[:80]!r}") from None
            except (AttributeError, TypeError, KeyError, IndexError):
                raise BadResponseError(f"unexpected chunk in stream: {item[:80]!r}") from None
        return False

    def _named_event(self, event: bytes | SSEEvent) -> None:
        assert isinstance(event, SSEEvent)
        if event.event == "error":
            raise ServerError(self.scrub(server_message(event.data)))
        # other named events (e.g. "ping") carry nothing a benchmark needs

    def whole(self, body: bytes, arrived: float, recorder: ResponseRecorder) -> None:
        """A whole (non-streamed) completion: one chunk, timed when the body arrived."""
        obj = json_answer(body, self.scrub)
        try:
            choice = obj["choices"][0]
            if self.chat:
                message = choice["message"]
                reasoning = message.get("reasoning_content") or message.get("reasoning")
                text = message.get("content")
            else:
                reasoning, text = None, choice.get("text")
        except (KeyError, IndexError, TypeError, AttributeError):
            raise BadResponseError(f"response without choices: {body[:80]!r}") from None
        recorder.whole = True
        if reasoning:
            recorder.reasoning(reasoning, arrived)
        if text:
            recorder.content(text, arrived)
        _usage(obj.get("usage"), obj.get("timings"), recorder)
