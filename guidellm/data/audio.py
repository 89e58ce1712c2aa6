"""Audio in chat requests: synthetic WAV clips, and a dataset's audio column made into parts.

A request with audio is a chat message whose ``content`` is a list of OpenAI parts: the text
first, then one ``{"type": "input_audio", "input_audio": {"data": BASE64, "format": "wav"}}``
per clip (:func:`add_audio`). Only WAV is sent; its header tells the clip's length, which
the report's audio block and real-time factor use (:func:`guidellm.request.wav_seconds`).

Synthetic clips (:class:`SyntheticAudio`) are 16 kHz mono 16-bit PCM WAV made with the
standard library only: a tone of a seeded pitch under seeded noise (one second per variant,
repeated to the clip's length). Each duration keeps
:attr:`SyntheticAudio.VARIANTS` encoded variants and every request picks one with the seeded
generator, so preparing a request costs a dictionary lookup, not an encode.

Audio column values (:func:`audio_clips`) may be a Hugging Face ``datasets`` Audio value (a
dict with ``array`` and ``sampling_rate``, or with ``bytes`` and/or ``path``), a local WAV
file path, WAV bytes, base64 WAV text or a ``data:audio/wav;base64,`` URL, or a list of those.
"""

from __future__ import annotations

import array
import base64
import binascii
import io
import math
import random
import wave
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from guidellm.data.images import ImageError, add_parts, column_values

__all__ = [
    "AUDIO_FORMATS",
    "AudioError",
    "SyntheticAudio",
    "add_audio",
    "audio_clips",
    "encode_wav",
]

#: The synthetic ``audio_format`` values.
AUDIO_FORMATS: tuple[str, ...] = ("wav",)

#: The sample rate of synthetic clips and of re-encoded ``array`` values' default.
RATE = 16000

ACCEPTED = (
    "a WAV file path, WAV bytes, base64 WAV text or a data:audio/wav;base64, URL, a Hugging "
    "Face Audio value (a dict with array and sampling_rate, or with bytes or path), or a list "
    "of those"
)


class AudioError(ImageError):
    """An audio value that cannot be sent; :meth:`at` names the row for the user (the same
    one-line error as a bad image, caught where images' are)."""


def _is_wav(data: bytes) -> bool:
    return data[:4] == b"RIFF" and data[8:12] == b"WAVE"


def _b64(data: bytes, column: str) -> str:
    if not _is_wav(data):
        raise AudioError(f"column {column!r}: {len(data)} bytes that are no WAV audio")
    return base64.b64encode(data).decode("ascii")


def encode_wav(samples: Any, rate: int) -> bytes:
    """Mono 16-bit PCM WAV of ``samples`` (floats in [-1, 1], clipped) at ``rate`` Hz."""
    pcm = array.array("h", (int(max(-1.0, min(1.0, float(x))) * 32767) for x in samples))
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(pcm.tobytes())
    return buffer.getvalue()


def _from_text(text: str, column: str, check_only: bool) -> str:
    if text.startswith("data:"):
        head, _, payload = text.partition(",")
        if not head.startswith("data:audio/") or not head.endswith(";base64") or not payload:
            raise AudioError(
                f"column {column!r}: {text[:40]!r}... is not a base64 audio data: URL; "
                f"accepted: {ACCEPTED}"
            )
        text = payload
    elif len(text) < 4096 and Path(text).is_file():
        try:
            with Path(text).open("rb") as file:
                data = file.read(12) if check_only else file.read()
        except OSError as exc:
            raise AudioError(f"column {column!r}: cannot read {text!r} ({exc.strerror})") from None
        if check_only:  # the header says whether it is a WAV (and that it opens)
            if not _is_wav(data):
                raise AudioError(f"column {column!r}: {text!r} is no WAV audio")
            return ""
        return _b64(data, column)
    if len(text) >= 64:  # base64 text of a WAV?
        try:
            head_bytes = base64.b64decode(text[:64], validate=True)
        except (binascii.Error, ValueError):
            head_bytes = b""
        if _is_wav(head_bytes):
            return text
    raise AudioError(
        f"column {column!r}: {text[:60]!r} is not an existing file nor base64 WAV audio; "
        f"accepted: {ACCEPTED}"
    )


def _one(value: Any, column: str, check_only: bool) -> str:
    if isinstance(value, str):
        return _from_text(value.strip(), column, check_only)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return _b64(bytes(value), column)
    if isinstance(value, Mapping):  # a datasets Audio feature value
        samples, rate = value.get("array"), value.get("sampling_rate")
        if samples is not None:
            if isinstance(rate, bool) or not isinstance(rate, int) or rate <= 0:
                raise AudioError(
                    f"column {column!r}: an audio array needs a positive integer "
                    f"sampling_rate, got {rate!r}"
                )
            if not hasattr(samples, "__len__"):
                raise AudioError(f"column {column!r}: audio array {str(samples)[:40]!r}")
            if check_only:
                return ""
            return base64.b64encode(encode_wav(samples, rate)).decode("ascii")
        data, path = value.get("bytes"), value.get("path")
        if data:
            return _b64(bytes(data), column)
        if isinstance(path, str) and path:
            return _from_text(path, column, check_only)
    raise AudioError(
        f"column {column!r}: {type(value).__name__} {str(value)[:60]!r}; accepted: {ACCEPTED}"
    )


def audio_clips(value: Any, column: str, *, check_only: bool = False) -> list[str]:
    """The base64 WAV clips of one row's ``column`` value (``[]`` for none); raises
    :class:`AudioError` for a value of no accepted form. ``check_only`` validates without
    reading files or encoding (the loader's up-front check)."""
    return column_values(value, column, check_only, _one)


def add_audio(messages: list[dict[str, Any]], clips: list[str]) -> list[dict[str, Any]]:
    """``messages`` with the clips appended to the last user message as ``input_audio``
    parts (its text becomes the first part); the input is not modified."""
    parts = [{"type": "input_audio", "input_audio": {"data": c, "format": "wav"}} for c in clips]
    return add_parts(messages, parts)


class SyntheticAudio:
    """Encoded synthetic WAV clips, ``VARIANTS`` per duration (in milliseconds), made on
    first use and then reused; the same ``seed`` gives the same bytes. At most
    ``MAX_DURATIONS`` durations are kept (duration distributions); the oldest go first."""

    VARIANTS = 4
    MAX_DURATIONS = 256

    def __init__(self, fmt: str, seed: int) -> None:
        if fmt not in AUDIO_FORMATS:
            raise AudioError(
                f"synthetic data: audio_format={fmt!r} must be {' or '.join(AUDIO_FORMATS)}"
            )
        self.fmt = fmt
        self.seed = seed
        self._cache: dict[int, list[str | None]] = {}
        self._seconds: dict[int, bytes] = {}  # one second of PCM per variant

    def pick(self, ms: int, rng: random.Random) -> str:
        """One clip of ``ms`` milliseconds as base64 WAV, a variant chosen by ``rng``."""
        variants = self._cache.get(ms)
        if variants is None:
            if len(self._cache) >= self.MAX_DURATIONS:
                del self._cache[next(iter(self._cache))]
            variants = self._cache[ms] = [None] * self.VARIANTS
        k = rng.randrange(self.VARIANTS)
        clip = variants[k]
        if clip is None:
            clip = variants[k] = self.make(ms, k)
        return clip

    def warm(self, ms: int) -> None:
        """Encode every variant of a duration now (at start-up, not during the run)."""
        variants = self._cache.setdefault(ms, [None] * self.VARIANTS)
        for k, clip in enumerate(variants):
            if clip is None:
                variants[k] = self.make(ms, k)

    def make(self, ms: int, variant: int) -> str:
        """Variant ``variant`` of a clip of ``ms`` milliseconds, as base64 WAV: the variant's
        one second of tone and noise, repeated (so a new duration costs no synthesis)."""
        second = self._seconds.get(variant)
        if second is None:
            rng = random.Random(f"{self.seed}:{variant}")
            step = 2 * math.pi * rng.randrange(200, 1000) / RATE  # whole periods per second
            gauss = rng.gauss
            samples = (0.3 * math.sin(step * i) + gauss(0.0, 0.05) for i in range(RATE))
            second = self._seconds[variant] = array.array(
                "h", (int(max(-1.0, min(1.0, x)) * 32767) for x in samples)
            ).tobytes()
        size = 2 * (RATE * ms // 1000)
        pcm = (second * (size // len(second) + 1))[:size]
        buffer = io.BytesIO()
        with wave.open(buffer, "wb") as out:
            out.setnchannels(1)
            out.setsampwidth(2)
            out.setframerate(RATE)
            out.writeframes(pcm)
        return base64.b64encode(buffer.getvalue()).decode("ascii")
