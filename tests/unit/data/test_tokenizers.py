"""The tokenizer interface: the approximate counter's rule and loading --processor values."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from guidellm.data.tokenizers import ApproxTokenizer, HFTokenizer, load_tokenizer
from guidellm.errors import UserError


def test_approximate_rule_counts_words_and_punctuation() -> None:
    tok = ApproxTokenizer()
    assert tok.count("Hello, world!") == 4
    assert tok.count("don't stop") == 4  # don ' t stop
    assert tok.count("  ") == 0
    assert tok.exact is False
    assert tok.describe() == {"name": "approximate", "exact": False}


def test_approximate_roundtrip_keeps_the_count() -> None:
    tok = ApproxTokenizer()
    text = 'He said: "Wait... (really?)" and 42 more_words.'
    ids = tok.encode(text)
    assert len(ids) == tok.count(text)
    assert tok.count(tok.decode(ids)) == len(ids)
    assert tok.count(tok.decode(ids[3:11])) == 8
    assert [text[a:b] for a, b in tok.spans(text)][:3] == ["He", "said", ":"]


def test_tokenizer_json_file_and_folder(bpe_path: Path, tmp_path: Path) -> None:
    tok = load_tokenizer(str(bpe_path))
    assert isinstance(tok, HFTokenizer) and tok.exact
    text = "The quiet river crossed the old bridge."
    ids = tok.encode(text)
    assert tok.count(text) == len(ids) > 0
    assert tok.decode(ids) == text
    assert tok.count_batch([text, text + text]) == [len(ids), tok.count(text + text)]
    assert tok.apply_chat_template([{"role": "user", "content": "hi"}]) is None
    folder = tmp_path / "tok"
    folder.mkdir()
    (folder / "tokenizer.json").write_bytes(bpe_path.read_bytes())
    from_folder = load_tokenizer(str(folder))
    assert from_folder is not None and from_folder.encode(text) == ids


def test_no_processor_means_no_tokenizer() -> None:
    assert load_tokenizer(None) is None
    assert load_tokenizer("  ") is None
    assert isinstance(load_tokenizer("approximate"), ApproxTokenizer)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: str(p / "missing" / "tokenizer.json"), "no such file or folder"),
        (lambda p: str(p / "bad.json"), "is not a valid tokenizer.json"),
        (lambda p: str(p / "empty"), "has no tokenizer.json"),
        (lambda p: "not a valid id!", "no such file or folder"),
    ],
)
def test_unknown_tokenizers_name_the_fix(make: object, message: str, tmp_path: Path) -> None:
    (tmp_path / "bad.json").write_text(json.dumps({"not": "a tokenizer"}))
    (tmp_path / "empty").mkdir()
    spec = make(tmp_path)  # type: ignore[operator]
    try:
        import transformers  # noqa: F401

        has_transformers = True
    except ImportError:
        has_transformers = False
    if "empty" in spec and has_transformers:
        message = "could not load a tokenizer"
    with pytest.raises(UserError, match=message) as info:
        load_tokenizer(spec)
    assert "\n" not in str(info.value)


def test_hub_id_without_transformers_says_what_to_install() -> None:
    try:
        import transformers  # noqa: F401
    except ImportError:
        with pytest.raises(UserError, match=r"guidellm\[transformers\]"):
            load_tokenizer("some-org/some-model")
    else:  # with transformers and no reachable hub, the error still names the fix
        with pytest.raises(UserError, match="tokenizer folder"):
            load_tokenizer("some-org/some-model-that-does-not-exist")
