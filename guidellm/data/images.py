"""Images in chat requests: synthetic images, and a dataset's image column made into parts.

A request with images is a chat message whose ``content`` is a list of OpenAI parts: the text
first, then one ``{"type": "image_url", "image_url": {"url": URL}}`` per image. The URL is a
``data:`` URL (base64) or an http(s) URL passed through as it is.

Synthetic images (:class:`SyntheticImages`) are smooth random colour fields drawn from the
run's seed and encoded once per size: each size keeps :attr:`SyntheticImages.VARIANTS`
encoded variants and every request picks one with the seeded generator, so preparing a
request costs a dictionary lookup, not an encode.

Image column values (:func:`image_urls`) may be a Hugging Face ``datasets`` Image value (a
dict with ``bytes`` and/or ``path``, or a PIL image), a local file path, an http(s) URL, a
``data:`` URL or base64 text, or a list of those. Local files and bytes are encoded when the
row is read. Pillow is imported only to make or re-encode images, never at start-up.
"""

from __future__ import annotations

import base64
import binascii
import io
import random
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from guidellm.errors import UserError

__all__ = [
    "IMAGE_FORMATS",
    "ImageError",
    "SyntheticImages",
    "add_images",
    "add_parts",
    "check_media_column",
    "column_values",
    "image_urls",
]

#: The synthetic ``image_format`` values and their MIME types.
IMAGE_FORMATS: dict[str, str] = {"jpeg": "image/jpeg", "png": "image/png"}

#: Leading bytes of the image formats servers commonly accept.
_MAGIC = (
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"BM", "image/bmp"),
)

ACCEPTED = (
    "an image file path, an http(s) URL, a data: URL or base64 image text, image bytes, a "
    "Hugging Face Image value (a dict with bytes or path) or a PIL image, or a list of those"
)


class ImageError(UserError):
    """An image value that cannot be sent; :meth:`at` names the row for the user."""

    def at(self, spec: str, number: int) -> UserError:
        """The same problem, located: ``--data SPEC: row N: ...``."""
        return UserError(f"--data {spec!r}: row {number}: {self}")


def _mime(data: bytes) -> str | None:
    for magic, mime in _MAGIC:
        if data.startswith(magic):
            return mime
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def _head(path: Path, column: str, size: int = 16) -> bytes:
    try:
        with path.open("rb") as file:
            return file.read(size)
    except OSError as exc:
        raise ImageError(f"column {column!r}: cannot read {str(path)!r} ({exc.strerror})") from None


def _read(path: Path, column: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ImageError(f"column {column!r}: cannot read {str(path)!r} ({exc.strerror})") from None


def _data_url(data: bytes, column: str) -> str:
    mime = _mime(data)
    if mime is None:
        raise ImageError(f"column {column!r}: {len(data)} bytes that are no known image format")
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def _from_text(text: str, column: str, check_only: bool) -> str:
    if text.startswith(("http://", "https://")):
        return text
    if text.startswith("data:"):
        if not text.startswith("data:image/") or ";base64," not in text[:64]:
            raise ImageError(
                f"column {column!r}: {text[:40]!r}... is not a base64 image data: URL; "
                f"accepted: {ACCEPTED}"
            )
        return text
    if len(text) < 4096 and Path(text).is_file():
        if check_only:  # the first bytes say whether it is an image (and that it opens)
            _data_url(_head(Path(text), column), column)
            return text
        return _data_url(_read(Path(text), column), column)
    if len(text) >= 64:  # base64 text of an image?
        try:
            data = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            data = b""
        if data and _mime(data) is not None:
            return _data_url(data, column)
    raise ImageError(
        f"column {column!r}: {text[:60]!r} is not an existing file nor an image URL or "
        f"base64 image; accepted: {ACCEPTED}"
    )


def _one(value: Any, column: str, check_only: bool) -> str:
    if isinstance(value, str):
        return _from_text(value.strip(), column, check_only)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return _data_url(bytes(value), column)
    if isinstance(value, Mapping):  # a datasets Image feature value
        data, path = value.get("bytes"), value.get("path")
        if data:
            return _data_url(bytes(data), column)
        if isinstance(path, str) and path:
            return _from_text(path, column, check_only)
    elif hasattr(value, "save") and hasattr(value, "size") and hasattr(value, "mode"):
        if check_only:  # a PIL image: re-encoded as it came (PNG when it has no format)
            return ""
        fmt = value.format if value.format in ("JPEG", "PNG") else "PNG"
        buffer = io.BytesIO()
        image = value.convert("RGB") if fmt == "JPEG" and value.mode != "RGB" else value
        image.save(buffer, format=fmt)
        return _data_url(buffer.getvalue(), column)
    raise ImageError(
        f"column {column!r}: {type(value).__name__} {str(value)[:60]!r}; accepted: {ACCEPTED}"
    )


def image_urls(value: Any, column: str, *, check_only: bool = False) -> list[str]:
    """The image URLs of one row's ``column`` value (``[]`` for none); raises
    :class:`ImageError` for a value of no accepted form. ``check_only`` validates without
    reading files or encoding (the loader's up-front check)."""
    return column_values(value, column, check_only, _one)


def column_values(
    value: Any, column: str, check_only: bool, one: Callable[[Any, str, bool], str]
) -> list[str]:
    """A media column's value, one item or a list (``None`` items and values: none), each
    read by ``one`` (images here, audio clips in :mod:`guidellm.data.audio`)."""
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return [one(v, column, check_only) for v in value if v is not None]
    return [one(value, column, check_only)]


def check_media_column(
    rows: Any, column: str, spec: str, values: Callable[..., list[str]] = image_urls
) -> None:
    """Check every row's media (images by default) of finite data before the run: the first
    bad row is a one-line error, and nothing is sent."""
    for number, row in enumerate(rows, 1):
        try:
            values(row.get(column), column, check_only=True)
        except ImageError as exc:  # AudioError too
            raise exc.at(spec, number) from None


def add_images(messages: list[dict[str, Any]], urls: list[str]) -> list[dict[str, Any]]:
    """``messages`` with the images appended to the last user message as ``image_url`` parts
    (its text becomes the first part); the input is not modified."""
    return add_parts(messages, [{"type": "image_url", "image_url": {"url": u}} for u in urls])


def add_parts(messages: list[dict[str, Any]], parts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``messages`` with ``parts`` appended to the last user message (its text becomes the
    first part; no user message: a new one); the input is not modified."""
    out = list(messages)
    last = max((i for i, m in enumerate(out) if m.get("role") == "user"), default=-1)
    if last < 0:
        return [*out, {"role": "user", "content": parts}]
    content = out[last].get("content")
    if isinstance(content, list):
        head = list(content)
    else:
        head = [{"type": "text", "text": "" if content is None else str(content)}]
    out[last] = {**out[last], "content": [*head, *parts]}
    return out


class SyntheticImages:
    """Encoded synthetic images, ``VARIANTS`` per size, made on first use and then reused.

    ``fmt`` is ``jpeg`` or ``png``; the same ``seed`` gives the same images (with the same
    Pillow). At most ``MAX_SIZES`` sizes are kept (size distributions); the oldest go first.
    """

    VARIANTS = 4
    MAX_SIZES = 256

    def __init__(self, fmt: str, seed: int) -> None:
        if fmt not in IMAGE_FORMATS:
            raise UserError(
                f"synthetic data: image_format={fmt!r} must be {' or '.join(IMAGE_FORMATS)}"
            )
        self.fmt = fmt
        self.seed = seed
        self._cache: dict[tuple[int, int], list[str | None]] = {}

    def pick(self, width: int, height: int, rng: random.Random) -> str:
        """One image of this size as a data URL, a variant chosen by ``rng``."""
        key = (width, height)
        variants = self._cache.get(key)
        if variants is None:
            if len(self._cache) >= self.MAX_SIZES:
                del self._cache[next(iter(self._cache))]
            variants = self._cache[key] = [None] * self.VARIANTS
        k = rng.randrange(self.VARIANTS)
        url = variants[k]
        if url is None:
            url = variants[k] = self.make(width, height, k)
        return url

    def warm(self, width: int, height: int) -> None:
        """Encode every variant of a size now (at start-up, not during the run)."""
        variants = self._cache.setdefault((width, height), [None] * self.VARIANTS)
        for k, url in enumerate(variants):
            if url is None:
                variants[k] = self.make(width, height, k)

    def make(self, width: int, height: int, variant: int) -> str:
        """Variant ``variant`` of a ``width`` x ``height`` image, encoded, as a data URL."""
        from PIL import Image

        rng = random.Random(f"{self.seed}:{width}x{height}:{variant}")
        coarse = Image.frombytes("RGB", (4, 4), rng.randbytes(4 * 4 * 3))
        fine = Image.frombytes("RGB", (32, 32), rng.randbytes(32 * 32 * 3))
        size = (width, height)
        resample = Image.Resampling.BICUBIC
        image = Image.blend(coarse.resize(size, resample), fine.resize(size, resample), 0.25)
        buffer = io.BytesIO()
        if self.fmt == "jpeg":
            image.save(buffer, format="JPEG", quality=85)
        else:
            image.save(buffer, format="PNG")
        data = base64.b64encode(buffer.getvalue()).decode("ascii")
        return f"data:{IMAGE_FORMATS[self.fmt]};base64,{data}"
