"""Secrets are hidden; token *counts* are not secrets and stay readable in reports."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import pytest

from guidellm.redact import (
    REDACTED,
    forget_secrets,
    is_secret_key,
    redact,
    redact_text,
    remember_secret,
    remember_url_secrets,
    scrub,
)


@pytest.mark.parametrize(
    "key",
    [
        "api_key",
        "API-KEY",
        "token",
        "hf_token",
        "access_token",
        "Authorization",
        "password",
        "client_secret",
        "token=abc",
    ],
)
def test_secret_names(key: str) -> None:
    assert is_secret_key(key)


@pytest.mark.parametrize(
    "key",
    [
        "max_tokens",
        "prompt_tokens",
        "output_tokens",
        "output_tokens=128",
        "token_count",
        "prompt_tokens_approximate",
        "tokenizer",
        "tokens_per_second",
        "ttft_ms",
        "model",
    ],
)
def test_token_counts_are_not_secrets(key: str) -> None:
    assert not is_secret_key(key)


def test_redact_keeps_counts_and_hides_keys() -> None:
    tree = {"api_key": "sk-1", "max_tokens": 8, "nested": [{"hf_token": "t", "prompt_tokens": 3}]}
    assert redact(tree) == {
        "api_key": REDACTED,
        "max_tokens": 8,
        "nested": [{"hf_token": REDACTED, "prompt_tokens": 3}],
    }


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("api_key=sk-live-123,verify=false", "sk-live-123"),
        ('{"api_key": "sk-live-123", "max_tokens": 3}', "sk-live-123"),
        ('headers={"Authorization": "Bearer sk-live-123"}', "sk-live-123"),
        ("-H 'Authorization: Bearer sk-live-123'", "sk-live-123"),
        ("hf_token=hf_abc", "hf_abc"),
    ],
)
def test_redact_text_hides_secret_values(text: str, secret: str) -> None:
    assert secret not in redact_text(text)
    assert REDACTED in redact_text(text)


def test_redact_text_keeps_counts_readable() -> None:
    text = "prompt_tokens=256,output_tokens=128,max_tokens=8"
    assert redact_text(text) == text


def test_password_in_a_target_url_is_hidden() -> None:
    url = "https://bench:s3cret-pass@llm.example:8443/v1"
    assert redact({"target": url}) == {"target": "https://bench:***@llm.example:8443/v1"}
    assert "s3cret-pass" not in redact_text(f"guidellm run --target {url}")


@pytest.fixture
def remembered() -> Iterator[None]:
    forget_secrets()
    yield
    forget_secrets()


def test_url_credentials_are_hidden_in_every_echoed_form(remembered: None) -> None:
    remember_url_secrets("http://alice:s3cr%40t-pw@host:8000/v1?api_key=qk-123456&x=1")
    b64 = base64.b64encode(b"alice:s3cr@t-pw").decode()
    text = f"auth: Basic {b64} / decoded alice:s3cr@t-pw / pw s3cr@t-pw / q qk-123456"
    shown = redact_text(text)
    for secret in (b64, "alice:s3cr@t-pw", "s3cr@t-pw", "qk-123456"):
        assert secret not in shown
    assert shown.startswith("auth: Basic ***")
    assert "x=1" in redact_text("x=1")


def test_a_bearer_header_value_is_hidden_with_or_without_its_scheme(remembered: None) -> None:
    remember_secret("Bearer tok-abcdef")
    assert scrub("echo Bearer tok-abcdef and tok-abcdef") == "echo *** and ***"
    # scrub() is for generated text: it leaves ordinary key=value pairs alone
    assert scrub("password: hello") == "password: hello"


def test_nothing_remembered_leaves_text_alone(remembered: None) -> None:
    remember_secret("", None, "abc")  # too short to replace safely
    assert scrub("abc def") == "abc def"
