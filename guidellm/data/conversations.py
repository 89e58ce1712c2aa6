"""Conversation rows as sessions: recorded chats become turns a worker replays one by one.

A ``messages`` row (OpenAI ``role``/``content`` or ShareGPT ``from``/``value``) is read as:
the system messages before the first user message (the session's ``messages``), then one
:class:`~guidellm.request.Turn` per user turn, whose ``reply`` is the recorded assistant
message that follows it. Agentic rows: the ``tool`` messages answering an assistant message's
``tool_calls`` form the next turn (``kind="tool"``), and its ``think_time`` is the tool's
latency (``latency_ms`` or ``duration_ms`` on the tool message, else ``tool_latency_ms``;
parallel calls take the longest). ShareGPT senders: ``human``/``user``, ``gpt``/``assistant``,
``system``, ``function_call`` (an assistant tool call, its value a JSON
``{"name": ..., "arguments": ...}`` or a list of them), ``observation``/``tool`` (a tool's
answer). Consecutive user messages make one turn; a user message right after tool answers
starts a new turn (the tool turn then has no reply). A text cell holding a JSON list (CSV) is read
as the conversation it spells.

A conversation out of order is a :class:`ConversationError`; the loader names the row.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from guidellm.errors import UserError
from guidellm.request import Turn

__all__ = [
    "HISTORY_MODES",
    "ConversationError",
    "SessionSettings",
    "check_rows",
    "finish_turns",
    "parse_tools",
    "split_conversation",
    "text_of",
]

#: ``--data-args history=``: send live answers (default) or the recorded replies.
HISTORY_MODES = ("live", "recorded")

_SHAREGPT = {
    "human": "user",
    "user": "user",
    "gpt": "assistant",
    "assistant": "assistant",
    "chatgpt": "assistant",
    "system": "system",
    "tool": "tool",
    "observation": "tool",
    "function_call": "function_call",
}
_SHAREGPT_HINT = "use human, gpt, system, function_call, observation or tool"
_ROLES = {"system": "system", "developer": "system", "user": "user"}
_ROLES.update(assistant="assistant", tool="tool")
_LATENCY_KEYS = ("latency_ms", "duration_ms")


class ConversationError(UserError):
    """A conversation row that cannot be replayed; :meth:`at` names the row for the user."""

    def at(self, spec: str, number: int) -> UserError:
        """The same problem, located: ``--data SPEC: conversation row N: ...``."""
        return UserError(f"--data {spec!r}: conversation row {number}: {self}")


@dataclass(frozen=True)
class SessionSettings:
    """The ``--data-args`` that shape sessions made from conversation rows."""

    max_tokens: int | None = None
    think_time: float = 0.0  # seconds before user turns 2..
    tool_latency: float = 0.0  # seconds, for tool messages that carry no latency
    recorded: bool = False
    count: Callable[[str], int] | None = None


def text_of(content: Any) -> str:
    """A message's text: its string content, or the text parts of a list of parts."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [p.get("text", "") for p in content if isinstance(p, Mapping)]
        return "\n".join(str(p) for p in parts if p)
    return str(content)


def _latency(item: Mapping[str, Any], where: str) -> float | None:
    for key in _LATENCY_KEYS:
        value = item.get(key)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise ConversationError(
                f"{where}: {key}={value!r} must be a non-negative number of milliseconds"
            )
        return float(value) / 1000
    return None


def _tool_calls(value: Any, where: str, first_id: int) -> list[dict[str, Any]]:
    """A ShareGPT ``function_call`` value as OpenAI ``tool_calls`` with made-up ids."""
    try:
        data = json.loads(value) if isinstance(value, str) else value
    except ValueError:
        data = None
    calls = data if isinstance(data, list) else [data]
    out = []
    for k, call in enumerate(calls):
        if not isinstance(call, Mapping) or not isinstance(call.get("name"), str):
            raise ConversationError(
                f'{where}: a function_call value must be JSON like {{"name": "f", '
                '"arguments": {...}}; fix the value'
            )
        args = call.get("arguments", {})
        out.append(
            {
                "id": f"call_{first_id + k}",
                "type": "function",
                "function": {
                    "name": call["name"],
                    "arguments": args if isinstance(args, str) else json.dumps(args),
                },
            }
        )
    return out


def _normalize(raw: Any) -> list[tuple[dict[str, Any], float | None]] | None:
    """OpenAI messages with their tool latency; ``None`` for data that is no conversation."""
    if isinstance(raw, str) and raw.lstrip().startswith("[{"):
        with contextlib.suppress(ValueError):  # a CSV cell holding the conversation as JSON
            raw = json.loads(raw)
    if isinstance(raw, str):
        return [({"role": "user", "content": raw}, None)] if raw else None
    if not isinstance(raw, (list, tuple)) or not raw:
        return None
    out: list[tuple[dict[str, Any], float | None]] = []
    pending: list[str] = []  # ShareGPT tool call ids not yet answered, oldest first
    calls = 0
    for i, item in enumerate(raw, 1):
        where = f"message {i}"
        if not isinstance(item, Mapping):
            return None
        if "role" in item:
            role = _ROLES.get(str(item["role"]).lower())
            if role is None:
                raise ConversationError(
                    f"{where}: unknown role {item['role']!r}; use system, user, assistant or tool"
                )
            content = item.get("content")
        elif "from" in item:
            sender = str(item["from"]).lower()
            role = _SHAREGPT.get(sender, "")
            if not role:
                raise ConversationError(f"{where}: unknown from {item['from']!r}; {_SHAREGPT_HINT}")
            content = item.get("value")
        else:
            return None
        message: dict[str, Any] = {"role": role, "content": content}
        if role == "function_call":
            made = _tool_calls(content, where, calls)
            calls += len(made)
            pending = [c["id"] for c in made]
            message = {"role": "assistant", "content": None, "tool_calls": made}
        elif role == "assistant" and item.get("tool_calls"):
            message["tool_calls"] = list(item["tool_calls"])
        elif role == "tool":
            call_id = item.get("tool_call_id")
            if call_id is None and "from" in item and pending:
                call_id = pending.pop(0) if len(pending) > 1 else pending[0]
            if call_id is not None:
                message["tool_call_id"] = str(call_id)
        if role == "user" and content is None:
            message["content"] = ""
        out.append((message, _latency(item, where) if role == "tool" else None))
    return out


def split_conversation(raw: Any, tool_latency: float = 0.0) -> tuple[list[Any], list[Turn]] | None:
    """``(system prefix, turns)`` of a conversation; ``None`` when ``raw`` is none at all.

    Turns carry their messages, reply, kind and (tool turns) think time; the caller adds
    lengths and the user's think time. Out-of-order messages raise :class:`ConversationError`.
    """
    messages = _normalize(raw)
    if messages is None:
        return None
    prefix: list[dict[str, Any]] = []
    turns: list[Turn] = []
    open_turn = False  # the last turn has no reply yet
    carried: list[dict[str, Any]] = []  # system messages between a reply and the next turn
    previous = ""
    last_reply: dict[str, Any] | None = None
    for i, (message, latency) in enumerate(messages, 1):
        role, where = message["role"], f"message {i}"
        if role == "system":
            if not turns:
                prefix.append(message)
            elif open_turn:
                turns[-1].messages.append(message)
            else:
                carried.append(message)
        elif role == "user":
            if open_turn and turns[-1].kind == "user":
                turns[-1].messages.append(message)
            else:
                turns.append(Turn(messages=[*carried, message]))
                carried, open_turn = [], True
        elif role == "assistant":
            if not turns:
                raise ConversationError(
                    f"{where}: the conversation starts with an assistant message; the first "
                    "message after any system messages must be a user message"
                )
            if previous == "assistant":
                raise ConversationError(
                    f"{where}: two assistant messages in a row; merge them or put a user "
                    "message between them"
                )
            if previous == "system":
                raise ConversationError(
                    f"{where}: an assistant message right after a system message; put a user "
                    "message between them"
                )
            turns[-1].reply = last_reply = message
            open_turn = False
        else:  # tool
            _check_tool_call(message, last_reply, previous, where, bool(turns))
            seconds = tool_latency if latency is None else latency
            if previous == "tool":
                turn = turns[-1]
                turn.messages.append(message)
                turn.think_time = max(turn.think_time, seconds)
            else:
                turns.append(Turn(messages=[message], kind="tool", think_time=seconds))
                open_turn = True
        previous = role
    if not any(t.kind == "user" for t in turns):
        raise ConversationError("the conversation has no user message; add one or remove the row")
    return prefix, turns


def _check_tool_call(
    message: dict[str, Any], reply: dict[str, Any] | None, previous: str, where: str, started: bool
) -> None:
    """A tool message must answer a tool call of the assistant message just before it."""
    calls = reply.get("tool_calls") if reply is not None else None
    if previous not in ("assistant", "tool") or not calls:
        if not started:
            raise ConversationError(
                f"{where}: the conversation starts with a tool message; the first message "
                "after any system messages must be a user message"
            )
        raise ConversationError(
            f"{where}: a tool message has no preceding tool call; put the assistant message "
            "with tool_calls before it"
        )
    ids = {str(c["id"]) for c in calls if isinstance(c, Mapping) and c.get("id") is not None}
    call_id = message.get("tool_call_id")
    if ids and call_id is not None and call_id not in ids:
        raise ConversationError(
            f"{where}: a tool message answers tool_call_id {call_id!r}, which the assistant "
            f"message before it did not make ({', '.join(sorted(ids))}); fix the id"
        )


def parse_tools(value: Any) -> list[dict[str, Any]] | None:
    """A row's ``tools`` (a list of OpenAI tool definitions, or its JSON text)."""
    if value is None or (isinstance(value, (str, list)) and not value):
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            value = None
    if not isinstance(value, list) or not all(isinstance(t, Mapping) for t in value):
        raise ConversationError(
            "the tools column is not a list of tool definitions (JSON objects); fix it"
        )
    return [dict(t) for t in value]


def finish_turns(turns: list[Turn], settings: SessionSettings) -> None:
    """Add lengths and the user's think time (turns 2..) to turns of a conversation row."""
    count = settings.count
    for k, turn in enumerate(turns):
        if turn.kind == "user" and k:
            turn.think_time = settings.think_time
        if settings.max_tokens is not None:
            turn.max_tokens = settings.max_tokens
        elif count is not None and turn.reply is not None:
            turn.max_tokens = count(_reply_text(turn.reply)) or None
        if count is not None:
            turn.prompt_tokens = count("\n".join(text_of(m.get("content")) for m in turn.messages))


def _reply_text(reply: Mapping[str, Any]) -> str:
    """What the model generated in a reply: its text and its tool calls."""
    parts = [text_of(reply.get("content"))]
    for call in reply.get("tool_calls") or ():
        function = call.get("function") if isinstance(call, Mapping) else None
        if isinstance(function, Mapping):
            parts += [str(function.get("name", "")), str(function.get("arguments", ""))]
    return " ".join(p for p in parts if p)


def check_rows(
    rows: Iterable[Mapping[str, Any]],
    messages: str,
    tools: str | None,
    spec: str,
) -> None:
    """Read every conversation of finite data once, before the run: the first bad row is a
    one-line error, and nothing is sent."""
    for number, row in enumerate(rows, 1):
        try:
            raw = row.get(messages)
            if raw is not None and split_conversation(raw) and tools is not None:
                parse_tools(row.get(tools))
        except ConversationError as exc:
            raise exc.at(spec, number) from None
