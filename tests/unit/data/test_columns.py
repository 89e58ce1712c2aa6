"""Column mapping by common names, overrides, chat formats and the row -> request mapper."""

from __future__ import annotations

import pytest

from guidellm.data.columns import make_row_mapper, normalize_messages, resolve_columns
from guidellm.errors import UserError


@pytest.mark.parametrize(
    ("columns", "role", "expected"),
    [
        (["id", "Question", "answer"], "prompt", "Question"),
        (["instruction", "input", "output"], "prompt", "instruction"),
        (["conversations", "id"], "messages", "conversations"),
        (["text", "output_tokens"], "output_tokens_count", "output_tokens"),
        (["prompt", "prompt_tokens_count"], "prompt_tokens_count", "prompt_tokens_count"),
        (["prompt", "system_prompt"], "system", "system_prompt"),
    ],
)
def test_common_names_are_found(columns: list[str], role: str, expected: str) -> None:
    assert getattr(resolve_columns(columns, None, "x"), role) == expected


def test_override_and_its_errors() -> None:
    cmap = resolve_columns(["q", "n"], {"prompt": "q", "output_tokens_count": "n"}, "data.csv")
    assert cmap.as_dict() == {"prompt": "q", "output_tokens_count": "n"}
    with pytest.raises(UserError, match=r"data\.csv has no column 'z'; columns: q, n"):
        resolve_columns(["q", "n"], {"prompt": "z"}, "data.csv")
    with pytest.raises(UserError, match=r"unknown role 'promt'"):
        resolve_columns(["q"], {"promt": "q"}, "data.csv")
    with pytest.raises(UserError, match=r"no usable text column.*column_mapping"):
        resolve_columns(["q", "n"], None, "data.csv")


def test_sharegpt_and_openai_messages_stop_at_the_last_user_turn() -> None:
    sharegpt = [
        {"from": "human", "value": "hi"},
        {"from": "gpt", "value": "hello"},
        {"from": "human", "value": "tell me more"},
        {"from": "gpt", "value": "sure"},
    ]
    assert normalize_messages(sharegpt) == [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "hello"},
        {"role": "user", "content": "tell me more"},
    ]
    assert normalize_messages([{"role": "assistant", "content": "x"}]) is None
    assert normalize_messages("just text") == [{"role": "user", "content": "just text"}]
    assert normalize_messages(42) is None


def test_mapper_builds_requests() -> None:
    cmap = resolve_columns(["prompt", "output_tokens_count", "system", "prefix"], None, "x")
    to_request = make_row_mapper(cmap, max_tokens=99, count=lambda s: len(s.split()))
    req = to_request({"prompt": "a b c", "output_tokens_count": "12"}, "7")
    assert req is not None
    assert (req.request_id, req.prompt, req.max_tokens, req.prompt_tokens) == ("7", "a b c", 12, 3)
    req = to_request({"prompt": "q", "output_tokens_count": ""}, "8")
    assert req is not None and req.max_tokens == 99
    req = to_request({"prompt": "q", "system": "be brief"}, "9")
    assert req is not None
    assert req.messages == [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "q"},
    ]
    assert req.prompt == "be brief\n\nq"
    req = to_request({"prompt": "q", "prefix": "shared context"}, "10")
    assert req is not None and req.prompt == "shared context\nq"
    assert to_request({"prompt": ""}, "11") is None
