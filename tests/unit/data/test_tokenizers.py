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


def test_hub_id_fails_fast_when_the_hub_is_unreachable(monkeypatch: pytest.MonkeyPatch) -> None:
    import guidellm.data.hub

    monkeypatch.setattr(guidellm.data.hub, "hub_reachable", lambda timeout=3.0: False)
    try:
        import transformers  # noqa: F401
    except ImportError:
        with pytest.raises(UserError, match=r"guidellm\[transformers\]"):
            load_tokenizer("some-org/some-model")
    else:
        with pytest.raises(UserError, match=r"hub is unreachable.*local tokenizer folder"):
            load_tokenizer("some-org/some-model-that-does-not-exist")


TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)


def _folder(tmp_path: Path, bpe_path: Path, name: str) -> Path:
    folder = tmp_path / name
    folder.mkdir()
    (folder / "tokenizer.json").write_bytes(bpe_path.read_bytes())
    return folder


def test_chat_template_from_tokenizer_config(tmp_path: Path, bpe_path: Path) -> None:
    folder = _folder(tmp_path, bpe_path, "config")
    config = {"chat_template": TEMPLATE, "bos_token": {"content": "<s>"}}
    (folder / "tokenizer_config.json").write_text(json.dumps(config))
    tok = load_tokenizer(str(folder))
    assert tok is not None
    messages = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}]
    assert tok.apply_chat_template(messages) == "<s><|system|>be brief\n<|user|>hi\n<|assistant|>"
    assert tok.describe()["chat_template"] is True


def test_chat_template_jinja_file_and_broken_template(tmp_path: Path, bpe_path: Path) -> None:
    folder = _folder(tmp_path, bpe_path, "jinja")
    (folder / "chat_template.jinja").write_text(
        "{% for m in messages %}[{{ m.content }}]{% endfor %}"
    )
    tok = load_tokenizer(str(folder))
    assert tok is not None
    assert tok.apply_chat_template([{"role": "user", "content": "x"}]) == "[x]"
    broken = _folder(tmp_path, bpe_path, "broken")
    (broken / "tokenizer_config.json").write_text(json.dumps({"chat_template": "{% for %}"}))
    tok = load_tokenizer(str(broken))
    assert tok is not None and tok.apply_chat_template([{"role": "user", "content": "x"}]) is None


def test_transformers_path_when_installed(tmp_path: Path, bpe_path: Path) -> None:
    from guidellm.data.tokenizers import _from_transformers

    folder = _folder(tmp_path, bpe_path, "tf")
    (folder / "tokenizer_config.json").write_text(
        json.dumps({"tokenizer_class": "PreTrainedTokenizerFast", "chat_template": TEMPLATE})
    )
    try:
        import transformers  # noqa: F401
    except ImportError:
        assert _from_transformers(str(folder), local=True) is None
        return
    tok = _from_transformers(str(folder), local=True)
    reference = load_tokenizer(str(bpe_path))
    assert tok is not None and reference is not None
    text = "The careful baker carried 12 loaves across the bridge."
    assert tok.encode(text) == reference.encode(text)
    assert (
        tok.apply_chat_template([{"role": "user", "content": "hi"}]) == "<|user|>hi\n<|assistant|>"
    )
