"""The mock server counts a chat message's list content: text parts as text, each image part
as ``image_tokens``; its prefix cache tells images apart."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from guidellm.cli.mock_server import mock_server
from guidellm.errors import UserError
from guidellm.mock_server.behavior import MockServerConfig, count_prompt_tokens
from guidellm.mock_server.prefix_cache import prompt_token_sequence


def _body(*urls: str) -> dict[str, object]:
    parts: list[dict[str, object]] = [{"type": "text", "text": "what is in this picture"}]
    parts += [{"type": "image_url", "image_url": {"url": u}} for u in urls]
    return {
        "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": parts},
        ]
    }


def test_list_content_counts_text_and_images() -> None:
    body = _body("data:image/png;base64,AAAA", "https://e.x/1.png")
    assert count_prompt_tokens(body) == 2 + 5
    assert count_prompt_tokens(body, 100) == 2 + 5 + 2 * 100
    assert len(prompt_token_sequence(body, 100)) == 2 + 5 + 2 * 100
    assert count_prompt_tokens({"messages": [{"role": "user", "content": [7, None]}]}, 9) == 0


def test_prefix_sequence_tells_images_apart() -> None:
    a = prompt_token_sequence(_body("https://e.x/a.png"), 4)
    again = prompt_token_sequence(_body("https://e.x/a.png"), 4)
    b = prompt_token_sequence(_body("https://e.x/b.png"), 4)
    assert a == again
    assert a[:7] == b[:7] and a[7:] != b[7:]


def test_image_tokens_setting() -> None:
    assert MockServerConfig().image_tokens == 256
    assert MockServerConfig(image_tokens=0).image_tokens == 0
    for bad in (-1, 1.5, True):
        with pytest.raises(UserError, match="image_tokens"):
            MockServerConfig(image_tokens=bad)  # type: ignore[arg-type]
    result = CliRunner().invoke(mock_server, ["--help"])
    assert "--image-tokens" in result.output
