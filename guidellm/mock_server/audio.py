"""The mock server's reading of chat ``input_audio`` parts: how many prompt tokens a clip is.

A speech model turns audio into a fixed number of tokens per second (Whisper-style encoders
and their successors: tens per second); the mock counts ``ceil(seconds x rate)`` per part,
the seconds read from the WAV header inside the part's base64 ``data``. A part it cannot read
(another format, bad base64, no header) counts 0 tokens: it is no error, as a real server's
tolerance of such parts is not what the mock models.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from guidellm.request import wav_seconds

__all__ = ["audio_part_key", "audio_part_tokens"]


def audio_part_tokens(part: Mapping[str, Any], rate: float) -> int:
    """Prompt tokens of one ``input_audio`` part at ``rate`` tokens per second of audio."""
    if rate <= 0:
        return 0
    audio = part.get("input_audio")
    data = audio.get("data") if isinstance(audio, Mapping) else None
    if not isinstance(data, str):
        return 0
    return math.ceil(wav_seconds(data) * rate)


def audio_part_key(part: Mapping[str, Any]) -> int:
    """What only the same clip matches (the prefix cache's token identity)."""
    audio = part.get("input_audio")
    data = audio.get("data") if isinstance(audio, Mapping) else None
    return hash(data if isinstance(data, str) else str(audio))
