"""The RequestLoader: source choice, validation before any load, ids, size and describe()."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from guidellm.data.base import DatasetSource
from guidellm.data.loader import RequestLoader
from guidellm.errors import UnknownComponentError, UserError
from guidellm.hookspecs import Register, hookimpl
from guidellm.plugins import PluginHost


@pytest.fixture
def host() -> PluginHost:
    return PluginHost(builtins=("guidellm.data.sources",), entry_points=False)


def _loader(host: PluginHost, data: list[str], processor: str | None = None, **args: Any) -> Any:
    return RequestLoader(data, args, processor=processor, random_seed=7, host=host)


def test_builtin_sources_are_registered(host: PluginHost) -> None:
    assert host.dataset_sources.names() == ["files", "huggingface", "synthetic", "trace"]


def test_synthetic_loader_is_endless_with_unique_ids(host: PluginHost) -> None:
    loader = _loader(host, ["prompt_tokens=32,output_tokens=8"])
    assert loader.size is None and loader.tokenizer is None
    first = list(itertools.islice(loader, 100))
    second = list(itertools.islice(loader, 100))
    ids = [r.request_id for r in first + second]
    assert len(set(ids)) == 200
    assert len({r.prompt for r in first + second}) == 200
    assert {(r.prompt_tokens, r.max_tokens) for r in first} == {(32, 8)}
    info = loader.describe()
    assert info["prompt_tokens_approximate"] is True and info["tokenizer"] is None
    assert info["sources"][0]["type"] == "synthetic"


def test_tokenizer_makes_counts_exact(host: PluginHost, bpe_path: Path) -> None:
    loader = _loader(host, ["prompt_tokens=100,samples=10"], processor=str(bpe_path))
    assert loader.size == 10
    assert loader.tokenizer is not None
    requests = list(loader)
    assert [loader.tokenizer.count(r.prompt) for r in requests] == [100] * 10
    assert all(r.max_tokens is None for r in requests)
    info = loader.describe()
    assert info["prompt_tokens"] == "exact" and not info["prompt_tokens_approximate"]
    assert info["tokenizer"]["name"] == str(bpe_path)


def test_files_chain_and_count(host: PluginHost, tmp_path: Path, bpe_path: Path) -> None:
    a = tmp_path / "a.jsonl"
    a.write_text("\n".join(json.dumps({"question": f"q{i} river"}) for i in range(3)))
    b = tmp_path / "b.txt"
    b.write_text("first line\n\nsecond line\n")
    loader = _loader(
        host, [str(a), str(b)], processor=str(bpe_path), max_tokens=16, count_prompt_tokens=True
    )
    requests = list(loader)
    expected = ["q0 river", "q1 river", "q2 river", "first line", "second line"]
    assert [r.prompt for r in requests] == expected
    assert [r.request_id for r in requests] == ["0", "1", "2", "3", "4"]
    assert loader.size == 5
    assert all(r.max_tokens == 16 for r in requests)
    assert loader.tokenizer is not None
    assert all(r.prompt_tokens == loader.tokenizer.count(r.prompt or "") for r in requests)
    assert loader.describe()["columns"][0] == {"prompt": "question"}


def test_chat_rows(host: PluginHost, tmp_path: Path) -> None:
    path = tmp_path / "chat.json"
    rows = [{"conversations": [{"from": "human", "value": "hi"}], "system": "be kind"}]
    path.write_text(json.dumps({"data": rows}))
    (req,) = list(_loader(host, [str(path)]))
    assert req.messages == [
        {"role": "system", "content": "be kind"},
        {"role": "user", "content": "hi"},
    ]


@pytest.mark.parametrize(
    ("setup", "args", "message"),
    [
        (lambda p: str(p / "missing.jsonl"), {}, "not found; check the path"),
        (lambda p: str(p / "typo.jsonll"), {}, "not an existing file or folder"),
        (lambda p: _write(p / "bad.jsonl", '{"prompt": "x"}\n{oops'), {}, "line 2 is not valid"),
        (lambda p: _write(p / "list.jsonl", "[1, 2]"), {}, "line 1 is not a JSON object"),
        (lambda p: _write(p / "bad.json", "{"), {}, "is not valid JSON"),
        (lambda p: _write(p / "odd.xyz", "hello"), {}, "unsupported dataset format '.xyz'"),
        (lambda p: _write(p / "nocol.csv", "a,b\n1,2\n"), {}, "no usable text column"),
        (lambda p: _write(p / "empty.jsonl", "\n"), {}, "has no rows"),
        (lambda p: _write(p / "ok.txt", "x"), {"column_mapping": "prompt"}, "JSON object"),
        (lambda p: _write(p / "ok.txt", "x"), {"max_tokens": 0}, "positive integer"),
        (lambda p: "prompt_tokens=5,bogus=1", {}, "unknown key"),
        (lambda p: ["prompt_tokens=5", "prompt_tokens=6"], {}, "is endless, so the --data after"),
    ],
)
def test_bad_data_fails_at_construction(
    host: PluginHost, tmp_path: Path, setup: Any, args: dict[str, Any], message: str
) -> None:
    spec = setup(tmp_path)
    specs = spec if isinstance(spec, list) else [spec]
    with pytest.raises(UserError, match=message) as info:
        RequestLoader(specs, args, processor=None, random_seed=1, host=host)
    assert "\n" not in str(info.value)


def _write(path: Path, text: str) -> str:
    path.write_text(text)
    return str(path)


def test_unknown_tokenizer_and_source(host: PluginHost) -> None:
    with pytest.raises(UserError, match=r"--processor nope\.json: no such file"):
        _loader(host, ["prompt_tokens=5"], processor="nope.json")
    with pytest.raises(
        UnknownComponentError, match="Available: files, huggingface, synthetic, trace"
    ):
        _loader(host, ["prompt_tokens=5"], source="synthtic")
    with pytest.raises(UserError, match="no --data given"):
        _loader(host, [])


def test_third_party_source_plugin(host: PluginHost) -> None:
    class Echo(DatasetSource):
        name = "echo"

        @classmethod
        def accepts(cls, spec: str, options: Mapping[str, Any]) -> bool:
            return spec.startswith("echo:")

        def rows(self) -> Iterator[dict[str, Any]]:
            return iter([{"text": self.spec[5:], "output_tokens": 3}])

    class Plugin:
        @hookimpl
        def register_dataset_sources(self, register: Register) -> None:
            register(Echo)

    host.add_plugin(Plugin(), "echo-plugin")
    try:
        (req,) = list(_loader(host, ["echo:hello"]))
        assert (req.prompt, req.max_tokens) == ("hello", 3)
        forced = _loader(host, ["echo:x"], source="echo")
        assert forced.sources[0].name == "echo"
    finally:
        host.remove_plugin("echo-plugin")


def test_hub_dataset_id_fails_fast_when_unreachable(
    host: PluginHost, monkeypatch: pytest.MonkeyPatch
) -> None:
    import guidellm.data.hub

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_DATASETS_OFFLINE", raising=False)
    monkeypatch.setattr(guidellm.data.hub, "hub_reachable", lambda timeout=3.0: False)
    with pytest.raises(UserError, match="hub is unreachable; pass a local file") as info:
        _loader(host, ["some-org/some-dataset"])
    assert "\n" not in str(info.value)


def test_chat_rows_counted_with_the_chat_template(
    host: PluginHost, tmp_path: Path, bpe_path: Path
) -> None:
    folder = tmp_path / "tok"
    folder.mkdir()
    (folder / "tokenizer.json").write_bytes(bpe_path.read_bytes())
    (folder / "chat_template.jinja").write_text(
        "{% for m in messages %}<{{ m.role }}> {{ m.content }}\n{% endfor %}"
    )
    data = tmp_path / "chat.jsonl"
    data.write_text(json.dumps({"messages": [{"role": "user", "content": "the old river"}]}))
    (req,) = list(_loader(host, [str(data)], processor=str(folder), count_prompt_tokens=True))
    loader_tok = _loader(host, [str(data)], processor=str(folder)).tokenizer
    assert loader_tok is not None
    assert req.prompt_tokens == loader_tok.count("<user> the old river\n")


def test_synthetic_sessions_through_the_loader(host: PluginHost) -> None:
    spec = "turns=3,prompt_tokens=8,output_tokens=6,system_prompt_tokens=12,samples=2"
    loader = _loader(host, [spec], max_tokens=50, ignore_eos=True)
    first, second = list(loader)
    # This run's prefix, then the request id: unique across runs and clients.
    prefix = loader.session_prefix
    assert len(prefix) == 9 and prefix.endswith("-")
    assert (first.session_id, second.session_id) == (prefix + "0", prefix + "1")
    assert first.messages == second.messages and first.messages[0]["role"] == "system"
    assert first.units == 3 and first.extra_body == {"ignore_eos": True}
    assert {t.max_tokens for t in first.turns} == {6}  # the spec's lengths win, as for rows
    unset = _loader(host, ["turns=2,prompt_tokens=8,samples=1"], max_tokens=50)
    assert {t.max_tokens for t in next(iter(unset)).turns} == {50}
