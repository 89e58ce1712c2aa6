"""openai_http options, request bodies, describe() and pickling (no server needed)."""

from __future__ import annotations

import pickle

import orjson
import pytest

from guidellm.backends.openai_http import OpenAIHTTPBackend
from guidellm.errors import UserError
from guidellm.plugins import PluginHost
from guidellm.request import GenerationRequest


def test_registered_as_a_builtin_with_http_schemes() -> None:
    host = PluginHost(entry_points=False)
    backend = host.backends.get("openai_http")
    assert backend is OpenAIHTTPBackend
    assert backend.schemes == ("http", "https")


def test_unknown_option_lists_the_valid_ones() -> None:
    with pytest.raises(UserError) as info:
        OpenAIHTTPBackend("http://h:1", None, verfy=False)
    message = str(info.value)
    assert "verfy" in message
    assert "verify" in message and "stall_timeout" in message and "\n" not in message


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"verify": 3}, "verify"),
        ({"verify": "/no/such/ca.pem"}, "verify"),
        ({"http2": "yes"}, "http2"),
        ({"timeout": 0}, "timeout"),
        ({"stall_timeout": -1}, "stall_timeout"),
        ({"headers": "x"}, "headers"),
        ({"extra_body": [1]}, "extra_body"),
        ({"request_format": "chat"}, "request_format"),
        ({"max_connections": 0}, "max_connections"),
        ({"transport": "h3"}, "transport"),
        ({"timing": "wall"}, "timing"),
        ({"api_key": 12345}, "api_key"),
    ],
)
def test_bad_option_values_name_the_option(options: dict[str, object], named: str) -> None:
    with pytest.raises(UserError, match=named):
        OpenAIHTTPBackend("http://h:1", None, **options)


@pytest.mark.parametrize(
    ("target", "options", "why"),
    [
        ("https://h:1", {}, "the target is https"),
        ("http://h:1", {"transport": "httpx"}, "use transport=lean"),
        ("http://h:1", {"http2": True}, "use transport=lean"),
    ],
)
def test_kernel_timing_where_it_cannot_be_had_says_why(
    target: str, options: dict[str, object], why: str
) -> None:
    with pytest.raises(UserError, match=f"timing=kernel: .*{why}.*; use timing=auto"):
        OpenAIHTTPBackend(target, None, timing="kernel", **options)
    # auto falls back without a word: read times, said in the report
    assert OpenAIHTTPBackend(target, None, **options).timing_source == "loop"


def test_api_key_never_appears_in_describe_or_pickle_repr(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("GUIDELLM_API_KEY", raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-env-123")
    backend = OpenAIHTTPBackend("http://h:1", "m", headers={"Authorization": "Bearer sk-hdr-9"})
    info = backend.describe()
    assert "sk-from-env-123" not in repr(info) and "sk-hdr-9" not in repr(info)
    assert info["api_key"] == "***"
    assert info["type"] == "openai_http"
    with pytest.raises(UserError) as bad:
        OpenAIHTTPBackend("http://h:1", None, api_key=["sk-list-secret"])
    assert "sk-list-secret" not in str(bad.value)


def test_guidellm_api_key_wins_over_openai_api_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GUIDELLM_API_KEY", "g-key")
    monkeypatch.setenv("OPENAI_API_KEY", "o-key")
    assert OpenAIHTTPBackend("http://h:1")._api_key == "g-key"
    assert OpenAIHTTPBackend("http://h:1", api_key="explicit")._api_key == "explicit"


def test_picklable_before_startup_with_model() -> None:
    backend = OpenAIHTTPBackend("http://h:1/v1/", "m", stream=False)
    copy = pickle.loads(pickle.dumps(backend))
    assert copy.model == "m"
    assert copy._base == "http://h:1"
    assert copy._opts["stream"] is False


def _body(backend: OpenAIHTTPBackend, request: GenerationRequest) -> dict[str, object]:
    body = orjson.loads(backend._body(request))
    assert isinstance(body, dict)
    return body


def test_chat_body_wraps_a_prompt_and_asks_for_usage() -> None:
    backend = OpenAIHTTPBackend("http://h:1", "m", extra_body={"temperature": 0})
    request = GenerationRequest("r1", prompt="hi", max_tokens=7, extra_body={"ignore_eos": True})
    assert _body(backend, request) == {
        "model": "m",
        "messages": [{"role": "user", "content": "hi"}],
        "max_tokens": 7,
        "stream": True,
        "stream_options": {"include_usage": True},
        "temperature": 0,
        "ignore_eos": True,
    }


def test_chat_body_keeps_messages() -> None:
    messages = [{"role": "system", "content": "s"}, {"role": "user", "content": "u"}]
    backend = OpenAIHTTPBackend("http://h:1", "m")
    assert _body(backend, GenerationRequest("r", messages=messages))["messages"] == messages


def test_text_body_joins_messages_and_skips_stream_options_when_not_streaming() -> None:
    backend = OpenAIHTTPBackend("http://h:1", "m", request_format="text_completions", stream=False)
    messages = [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": [{"type": "text", "text": "hello"}]},
    ]
    body = _body(backend, GenerationRequest("r", messages=messages))
    assert body == {"model": "m", "prompt": "be brief\nhello", "stream": False}


def test_a_password_in_the_target_url_is_not_shown() -> None:
    backend = OpenAIHTTPBackend("https://bob:hunter2@example.com:8443/v1", "m")
    assert backend.describe()["target"] == "https://bob:***@example.com:8443/v1"
    assert "hunter2" not in repr(backend.describe())
    assert backend._base == "https://bob:hunter2@example.com:8443"  # still used to connect
