"""Images in chat requests: synthetic images, image columns, bad values, counts."""

from __future__ import annotations

import base64
import io
import itertools
import json
import random
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from guidellm.data.images import ImageError, SyntheticImages, image_urls
from guidellm.data.loader import RequestLoader
from guidellm.data.synthetic import SyntheticSource
from guidellm.errors import UserError
from guidellm.plugins import PluginHost
from guidellm.request import GenerationRequest, ResponseRecorder, image_counts


@pytest.fixture
def host() -> PluginHost:
    return PluginHost(builtins=("guidellm.data.sources",), entry_points=False)


def _loader(host: PluginHost, data: str, seed: int = 7, **args: Any) -> RequestLoader:
    return RequestLoader([data], args, processor=None, random_seed=seed, host=host)


def _decode(url: str) -> tuple[str, Image.Image]:
    head, _, payload = url.partition(",")
    image = Image.open(io.BytesIO(base64.b64decode(payload)))
    image.load()
    return head, image


def _png(path: Path | None = None, size: tuple[int, int] = (8, 6)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 10, 10)).save(buffer, format="PNG")
    if path is not None:
        path.write_bytes(buffer.getvalue())
    return buffer.getvalue()


def _parts(request: GenerationRequest) -> list[dict[str, Any]]:
    assert request.messages is not None
    content = request.messages[-1]["content"]
    assert isinstance(content, list)
    return content


@pytest.mark.parametrize(
    ("fmt", "mime", "pil"), [("jpeg", "image/jpeg", "JPEG"), ("png", "image/png", "PNG")]
)
def test_synthetic_images_decode_at_the_asked_size(
    host: PluginHost, fmt: str, mime: str, pil: str
) -> None:
    spec = "prompt_tokens=16,output_tokens=4,images=2,image_width=64,image_height=48,"
    spec += f"image_format={fmt}"
    requests = list(itertools.islice(_loader(host, spec), 5))
    for request in requests:
        assert request.prompt is None
        parts = _parts(request)
        assert parts[0]["type"] == "text" and parts[0]["text"]
        assert [p["type"] for p in parts[1:]] == ["image_url", "image_url"]
        for part in parts[1:]:
            head, image = _decode(part["image_url"]["url"])
            assert head == f"data:{mime};base64"
            assert image.format == pil and image.size == (64, 48)
        assert request.prompt_tokens == 16  # text tokens only: the server adds image tokens


def test_synthetic_images_are_deterministic_and_reused(host: PluginHost) -> None:
    spec = "prompt_tokens=16,output_tokens=4,images=1,image_width=32,image_height=32"
    first = [_parts(r)[1]["image_url"]["url"] for r in itertools.islice(_loader(host, spec), 40)]
    again = [_parts(r)[1]["image_url"]["url"] for r in itertools.islice(_loader(host, spec), 40)]
    other = [
        _parts(r)[1]["image_url"]["url"] for r in itertools.islice(_loader(host, spec, seed=8), 40)
    ]
    assert first == again
    assert set(first) != set(other)
    # one size: the variants, encoded once, shared by every request (the same objects)
    assert len(set(first)) == SyntheticImages.VARIANTS
    assert len({id(u) for u in first}) == SyntheticImages.VARIANTS


def test_synthetic_image_cache_encodes_each_variant_once(monkeypatch: pytest.MonkeyPatch) -> None:
    maker = SyntheticImages("jpeg", 1)
    made: list[tuple[int, int, int]] = []
    real = maker.make
    monkeypatch.setattr(maker, "make", lambda w, h, k: made.append((w, h, k)) or real(w, h, k))
    rng = random.Random(0)
    for _ in range(200):
        maker.pick(16 + rng.randrange(2), 16, rng)
    assert len(made) == len(set(made)) == 2 * SyntheticImages.VARIANTS


def test_synthetic_image_counts_follow_the_distribution(host: PluginHost) -> None:
    spec = (
        "prompt_tokens=8,output_tokens=4,images=1,images_min=0,images_max=3,image_width=16,"
        "image_height=16"
    )
    counts = [
        len(_parts(r)) - 1 if r.messages else 0 for r in itertools.islice(_loader(host, spec), 200)
    ]
    assert set(counts) == {0, 1, 2, 3}


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        ("prompt_tokens=8,image_width=64", ["image_width", "images=N"]),
        ("prompt_tokens=8,images=1,image_format=gif", ["image_format", "jpeg or png"]),
        ("prompt_tokens=8,images=1,turns=2", ["single requests"]),
        ("prompt_tokens=8,images=-1", ["images=-1"]),
    ],
)
def test_bad_synthetic_image_keys(spec: str, words: list[str]) -> None:
    with pytest.raises(UserError) as err:
        SyntheticSource(spec, {})
    for word in words:
        assert word in str(err.value)


def test_image_column_values_of_every_form(tmp_path: Path) -> None:
    png = _png(tmp_path / "a.png")
    b64 = base64.b64encode(png).decode()
    data_url = f"data:image/png;base64,{b64}"
    pil = Image.open(io.BytesIO(png))
    forms: list[Any] = [
        str(tmp_path / "a.png"),
        {"bytes": png, "path": None},
        {"bytes": None, "path": str(tmp_path / "a.png")},
        png,
        b64,
        data_url,
        pil,
    ]
    for value in forms:
        (url,) = image_urls(value, "image")
        head, image = _decode(url)
        assert head == "data:image/png;base64" and image.size == (8, 6), value
    assert image_urls("https://example.com/cat.jpg", "image") == ["https://example.com/cat.jpg"]
    assert image_urls(None, "image") == []
    assert len(image_urls([png, "http://x/y.png", None], "image")) == 2


@pytest.mark.parametrize(
    "value", [42, "no/such/file.png", "data:text/plain;base64,aGk=", b"not an image"]
)
def test_bad_image_values_are_user_errors(value: Any) -> None:
    with pytest.raises(ImageError) as err:
        image_urls(value, "pic")
    assert "'pic'" in str(err.value)


def test_image_column_makes_chat_parts(host: PluginHost, tmp_path: Path) -> None:
    _png(tmp_path / "a.png")
    rows = [
        {"prompt": "describe", "pic": str(tmp_path / "a.png"), "system": "be brief"},
        {"prompt": "two", "pic": ["https://e.x/1.png", str(tmp_path / "a.png")], "system": ""},
        {"prompt": "none", "pic": None, "system": ""},
    ]
    path = tmp_path / "rows.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    loader = _loader(host, str(path), column_mapping={"image": "pic"})
    assert loader.has_images
    one, two, three = list(loader)
    assert one.messages is not None and one.messages[0] == {"role": "system", "content": "be brief"}
    assert _parts(one)[0] == {"type": "text", "text": "describe"}
    assert _parts(one)[1]["image_url"]["url"].startswith("data:image/png;base64,")
    assert _parts(two)[1] == {"type": "image_url", "image_url": {"url": "https://e.x/1.png"}}
    assert len(_parts(two)) == 3
    assert three.prompt == "none" and three.messages is None
    assert image_counts(two.messages) == (2, len(_png()))


def test_default_image_column_name(host: PluginHost, tmp_path: Path) -> None:
    path = tmp_path / "rows.jsonl"
    path.write_text(json.dumps({"prompt": "p", "image": "https://e.x/1.png"}) + "\n")
    (request,) = list(_loader(host, str(path)))
    assert _parts(request)[1]["image_url"]["url"] == "https://e.x/1.png"
    assert not _loader(host, "prompt_tokens=8").has_images


def test_bad_image_row_is_named_before_anything_is_sent(host: PluginHost, tmp_path: Path) -> None:
    path = tmp_path / "rows.jsonl"
    rows = [{"prompt": "a", "image": "https://e.x/1.png"}, {"prompt": "b", "image": 7}]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(UserError) as err:
        _loader(host, str(path))
    message = str(err.value)
    assert "row 2" in message and "'image'" in message and "http(s) URL" in message
    assert "\n" not in message


def test_result_counts_images_and_bytes() -> None:
    png = _png()
    url = "data:image/png;base64," + base64.b64encode(png).decode()
    messages = [
        {"role": "system", "content": "s"},
        {"role": "user", "content": [
            {"type": "text", "text": "t"},
            {"type": "image_url", "image_url": {"url": url}},
            {"type": "image_url", "image_url": {"url": "https://e.x/a.png"}},
        ]},
    ]  # fmt: skip
    request = GenerationRequest(request_id="1", messages=messages)
    result = ResponseRecorder(request, 0.0).finish("successful")
    assert (result.images, result.image_bytes) == (2, len(png))
    plain = ResponseRecorder(GenerationRequest(request_id="2", prompt="x"), 0.0).finish("x")
    assert (plain.images, plain.image_bytes) == (0, 0)


def test_hugging_face_image_feature(host: PluginHost, tmp_path: Path) -> None:
    datasets = pytest.importorskip("datasets")
    png = _png()
    features = datasets.Features({"prompt": datasets.Value("string"), "image": datasets.Image()})
    rows = {"prompt": ["a", "b"], "image": [{"bytes": png, "path": None}] * 2}
    dataset = datasets.Dataset.from_dict(rows, features=features)
    dataset.save_to_disk(str(tmp_path / "ds"))
    dataset.to_parquet(str(tmp_path / "ds.parquet"))
    for spec in ("ds", "ds.parquet"):
        requests = list(_loader(host, str(tmp_path / spec)))
        assert len(requests) == 2
        for request in requests:
            assert image_counts(request.messages) == (1, len(png))
            _, image = _decode(_parts(request)[1]["image_url"]["url"])
            assert image.size == (8, 6)


def test_a_file_that_is_no_image_is_refused_when_checked(tmp_path: Path) -> None:
    """The up-front check reads a path's first bytes: a text file in an image column fails
    before anything is sent, not when its row is read mid-run."""
    from guidellm.data.images import ImageError, image_urls

    text = tmp_path / "notes.txt"
    text.write_text("not an image at all")
    with pytest.raises(ImageError, match="no known image format"):
        image_urls(str(text), "image", check_only=True)
    png = tmp_path / "ok.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 16)
    assert image_urls(str(png), "image", check_only=True) == [str(png)]
