"""Which column of a dataset means what, and how one row becomes a GenerationRequest.

Columns are found by common names (case-insensitive, first match wins):

=======================  ==========================================================
role                     column names tried
=======================  ==========================================================
``prompt``               prompt, text, question, instruction, input, query, content
``messages`` (chat)      messages, conversations, conversation, chat
``prompt_tokens_count``  prompt_tokens_count, prompt_tokens, input_tokens, input_length
``output_tokens_count``  output_tokens_count, output_tokens, max_tokens, output_length
``prefix``               prefix (prepended to the prompt, for shared-prefix tests)
``system``               system, system_prompt (a system message before the prompt)
``timestamp``            timestamp, time, arrival_time, created_at (seconds; for traces)
``tools``                tools (OpenAI tool definitions, sent with a row's messages)
``image``                image (images sent with the prompt, :mod:`guidellm.data.images`)
``audio``                audio (WAV clips sent with the prompt, :mod:`guidellm.data.audio`)
=======================  ==========================================================

``--data-args column_mapping='{"prompt": "my_column"}'`` overrides any of them. Chat
``messages`` may use OpenAI (``role``/``content``) or ShareGPT (``from``/``value``) fields. A
conversation of one turn is one request (the conversation up to its user turn); one of several
turns (user turns, or tool answers) is a session (:mod:`guidellm.data.conversations`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from msgspec.structs import replace

from guidellm.data.audio import add_audio, audio_clips
from guidellm.data.conversations import (
    SessionSettings,
    finish_turns,
    parse_tools,
    split_conversation,
)
from guidellm.data.images import add_images, image_urls
from guidellm.errors import UserError
from guidellm.request import GenerationRequest, Turn

__all__ = ["ROLES", "ColumnMap", "make_row_mapper", "resolve_columns"]

ROLES: dict[str, tuple[str, ...]] = {
    "prompt": ("prompt", "text", "question", "instruction", "input", "query", "content"),
    "messages": ("messages", "conversations", "conversation", "chat"),
    "prompt_tokens_count": ("prompt_tokens_count", "prompt_tokens", "input_tokens", "input_length"),
    "output_tokens_count": ("output_tokens_count", "output_tokens", "max_tokens", "output_length"),
    "prefix": ("prefix",),
    "system": ("system", "system_prompt"),
    "timestamp": ("timestamp", "time", "arrival_time", "created_at"),
    "tools": ("tools",),
    "image": ("image",),
    "audio": ("audio",),
}

_SHAREGPT_ROLES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant"}


@dataclass(frozen=True)
class ColumnMap:
    """The column chosen for each role (``None`` when the dataset has none)."""

    prompt: str | None = None
    messages: str | None = None
    prompt_tokens_count: str | None = None
    output_tokens_count: str | None = None
    prefix: str | None = None
    system: str | None = None
    timestamp: str | None = None
    tools: str | None = None
    image: str | None = None
    audio: str | None = None

    def as_dict(self) -> dict[str, str]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


def resolve_columns(
    columns: Iterable[str], override: Mapping[str, Any] | None, where: str
) -> ColumnMap:
    """Pick a column per role; an override naming a missing column or role is a UserError."""
    columns = list(columns)
    by_lower = {c.lower(): c for c in reversed(columns)}
    chosen: dict[str, str | None] = {}
    for role, names in ROLES.items():
        chosen[role] = next((by_lower[n] for n in names if n in by_lower), None)
    shown = ", ".join(columns[:20]) or "(none)"
    for role, column in (override or {}).items():
        if role not in ROLES:
            raise UserError(
                f"column_mapping: unknown role {role!r}; roles: {', '.join(ROLES)} "
                f'(e.g. column_mapping=\'{{"prompt": "question"}}\')'
            )
        if column is not None and column not in columns:
            raise UserError(f"column_mapping: {where} has no column {column!r}; columns: {shown}")
        chosen[role] = column
    if chosen["prompt"] is None and chosen["messages"] is None:
        raise UserError(
            f"{where} has no usable text column (columns: {shown}); name one with "
            '--data-args column_mapping=\'{"prompt": "COLUMN"}\''
        )
    return ColumnMap(**chosen)


def _as_int(value: Any) -> int | None:
    if value is None or value == "":
        return None
    try:
        number = int(float(value))
    except (TypeError, ValueError):
        return None
    return number if number > 0 else None


def _as_seconds(value: Any) -> float | None:
    """A number of seconds, or numeric text (a CSV cell); ``None`` for anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def normalize_messages(raw: Any) -> list[dict[str, Any]] | None:
    """OpenAI or ShareGPT messages, up to the last user turn; ``None`` if unusable."""
    if isinstance(raw, str):
        return [{"role": "user", "content": raw}] if raw else None
    if not isinstance(raw, (list, tuple)):
        return None
    out: list[dict[str, Any]] = []
    for item in raw:
        if not isinstance(item, Mapping):
            return None
        if "role" in item:
            out.append({"role": str(item["role"]), "content": item.get("content", "")})
        elif "from" in item:
            role = _SHAREGPT_ROLES.get(str(item["from"]).lower(), str(item["from"]).lower())
            out.append({"role": role, "content": item.get("value", "")})
        else:
            return None
    last_user = max((i for i, m in enumerate(out) if m["role"] == "user"), default=-1)
    return out[: last_user + 1] if last_user >= 0 else None


def make_row_mapper(
    columns: ColumnMap,
    *,
    max_tokens: int | None = None,
    count: Callable[[str], int] | None = None,
    render: Callable[[list[dict[str, Any]]], str | None] | None = None,
    extra_body: dict[str, Any] | None = None,
    sessions: SessionSettings | None = None,
) -> Callable[[Mapping[str, Any], str], GenerationRequest | None]:
    """A function turning one row into a request (``None`` for a row with no text).

    ``max_tokens`` is the output length when the row has none; ``count`` measures prompts that
    carry no token count (off by default: exact counting costs about a millisecond per
    thousand tokens, more than the schedule can spare per request); chat messages are counted
    as ``render`` (the chat template) lays them out, else as their joined contents.
    ``extra_body`` goes into every request (shared: backends only read it). A numeric
    ``timestamp`` column (seconds; trace sources convert theirs) becomes the request's
    ``timestamp``; other values are ignored, as a dataset's ``created_at`` text would be.

    A conversation of several turns becomes a session shaped by ``sessions`` (the
    ``--data-args`` of :class:`~guidellm.data.conversations.SessionSettings`); so does a row
    whose ``turns`` are already :class:`~guidellm.request.Turn` objects (synthetic sessions).
    A bad conversation raises :class:`~guidellm.data.conversations.ConversationError`.
    A row's ``image`` values become ``image_url`` parts of its (last) user message; a value
    of no accepted form raises :class:`~guidellm.data.images.ImageError`; its ``audio``
    values become ``input_audio`` parts likewise (:class:`~guidellm.data.audio.AudioError`).
    """
    pcol, mcol = columns.prompt, columns.messages
    ptc, otc = columns.prompt_tokens_count, columns.output_tokens_count
    prefix_col, system_col, time_col = columns.prefix, columns.system, columns.timestamp
    image_col, audio_col = columns.image, columns.audio
    settings = sessions or SessionSettings(max_tokens=max_tokens, count=count)

    def session(
        row: Mapping[str, Any],
        request_id: str,
        *,
        prefix: list[dict[str, Any]],
        turns: list[Turn],
        body: dict[str, Any] | None,
        recorded: bool,
    ) -> GenerationRequest:
        if system_col is not None and row.get(system_col):
            prefix = [{"role": "system", "content": str(row[system_col])}, *prefix]
        return GenerationRequest(
            request_id=request_id,
            messages=prefix or None,
            max_tokens=max_tokens,
            extra_body=body,
            timestamp=_as_seconds(row.get(time_col)) if time_col is not None else None,
            turns=turns,
            session_id=request_id,
            recorded_history=recorded,
        )

    def to_request(row: Mapping[str, Any], request_id: str) -> GenerationRequest | None:
        planned = row.get("turns")
        if isinstance(planned, list) and planned and isinstance(planned[0], Turn):
            turns = planned
            if max_tokens is not None:
                turns = [replace(t, max_tokens=t.max_tokens or max_tokens) for t in planned]
            return session(row, request_id, prefix=[], turns=turns, body=extra_body, recorded=False)
        prompt: str | None = None
        messages: list[dict[str, Any]] | None = None
        body = extra_body
        if mcol is not None and row.get(mcol) is not None:
            split = split_conversation(row[mcol], settings.tool_latency)
            if split is not None:
                tools = parse_tools(row.get(columns.tools)) if columns.tools else None
                if tools is not None:
                    body = {**(extra_body or {}), "tools": tools}
                prefix, turns = split
                if len(turns) > 1:
                    finish_turns(turns, settings)
                    return session(
                        row,
                        request_id,
                        prefix=prefix,
                        turns=turns,
                        body=body,
                        recorded=settings.recorded,
                    )
                first = turns[0].messages
                while first[-1]["role"] != "user":  # as sent: up to the user's message
                    first = first[:-1]
                messages = [*prefix, *first]
        if messages is None and pcol is not None:
            value = row.get(pcol)
            if value is not None and value != "":
                prompt = value if isinstance(value, str) else str(value)
        if prompt is None and messages is None:
            return None
        if prefix_col is not None and prompt is not None and row.get(prefix_col):
            prompt = f"{row[prefix_col]}\n{prompt}"
        if system_col is not None and row.get(system_col):
            system = {"role": "system", "content": str(row[system_col])}
            if messages is not None:
                messages = [system, *messages]
            else:
                messages = [system, {"role": "user", "content": prompt}]
                prompt = f"{row[system_col]}\n\n{prompt}"
        prompt_tokens = _as_int(row.get(ptc)) if ptc is not None else None
        if prompt_tokens is None and count is not None:
            if prompt is not None:
                prompt_tokens = count(prompt)
            elif messages is not None:
                text = render(messages) if render is not None else None
                if text is None:
                    text = "\n".join(str(m.get("content", "")) for m in messages)
                prompt_tokens = count(text)
        if image_col is not None:
            urls = image_urls(row.get(image_col), image_col)
            if urls:
                if messages is None:
                    messages = [{"role": "user", "content": prompt}]
                messages, prompt = add_images(messages, urls), None
        if audio_col is not None:
            clips = audio_clips(row.get(audio_col), audio_col)
            if clips:
                if messages is None:
                    messages = [{"role": "user", "content": prompt}]
                messages, prompt = add_audio(messages, clips), None
        out = _as_int(row.get(otc)) if otc is not None else None
        timestamp = _as_seconds(row.get(time_col)) if time_col is not None else None
        return GenerationRequest(
            request_id=request_id,
            prompt=prompt,
            messages=messages,
            prompt_tokens=prompt_tokens,
            max_tokens=out if out is not None else max_tokens,
            extra_body=body,
            timestamp=timestamp,
        )

    return to_request
