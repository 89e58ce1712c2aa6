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
=======================  ==========================================================

``--data-args column_mapping='{"prompt": "my_column"}'`` overrides any of them. Chat
``messages`` may use OpenAI (``role``/``content``) or ShareGPT (``from``/``value``) fields; the
request keeps the conversation up to its last user turn.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from guidellm.errors import UserError
from guidellm.request import GenerationRequest

__all__ = ["ROLES", "ColumnMap", "make_row_mapper", "resolve_columns"]

ROLES: dict[str, tuple[str, ...]] = {
    "prompt": ("prompt", "text", "question", "instruction", "input", "query", "content"),
    "messages": ("messages", "conversations", "conversation", "chat"),
    "prompt_tokens_count": ("prompt_tokens_count", "prompt_tokens", "input_tokens", "input_length"),
    "output_tokens_count": ("output_tokens_count", "output_tokens", "max_tokens", "output_length"),
    "prefix": ("prefix",),
    "system": ("system", "system_prompt"),
    "timestamp": ("timestamp", "time", "arrival_time", "created_at"),
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
) -> Callable[[Mapping[str, Any], str], GenerationRequest | None]:
    """A function turning one row into a request (``None`` for a row with no text).

    ``max_tokens`` is the output length when the row has none; ``count`` measures prompts that
    carry no token count (off by default: exact counting costs about a millisecond per
    thousand tokens, more than the schedule can spare per request); chat messages are counted
    as ``render`` (the chat template) lays them out, else as their joined contents.
    ``extra_body`` goes into every request (shared: backends only read it). A numeric
    ``timestamp`` column (seconds; trace sources convert theirs) becomes the request's
    ``timestamp``; other values are ignored, as a dataset's ``created_at`` text would be.
    """
    pcol, mcol = columns.prompt, columns.messages
    ptc, otc = columns.prompt_tokens_count, columns.output_tokens_count
    prefix_col, system_col, time_col = columns.prefix, columns.system, columns.timestamp

    def to_request(row: Mapping[str, Any], request_id: str) -> GenerationRequest | None:
        prompt: str | None = None
        messages: list[dict[str, Any]] | None = None
        if mcol is not None and row.get(mcol) is not None:
            messages = normalize_messages(row[mcol])
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
        out = _as_int(row.get(otc)) if otc is not None else None
        timestamp = _as_seconds(row.get(time_col)) if time_col is not None else None
        return GenerationRequest(
            request_id=request_id,
            prompt=prompt,
            messages=messages,
            prompt_tokens=prompt_tokens,
            max_tokens=out if out is not None else max_tokens,
            extra_body=extra_body,
            timestamp=timestamp,
        )

    return to_request
