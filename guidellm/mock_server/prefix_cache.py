"""The mock server's model of a prefix cache, so that multi-turn runs see later turns start sooner.

Modelled on block-level prefix caching as inference engines do it: a prompt's tokens are cut
into blocks of ``block_tokens``; a block is known by a hash chained over every token up to its
end, so a block hits only when the whole prefix before it is equal. A request's cached tokens
are its leading run of blocks found in the cache times the block size; the last prompt token
is never served from the cache (an engine must compute it to produce the first output token),
so only the first ``(n - 1) // block_tokens`` blocks of an ``n``-token prompt may hit. A
request is looked up when the server starts on it (after any ``max_concurrency`` wait) and its
full blocks are inserted or refreshed once its prefill is done (at its first token, or when it
ends if that is sooner), as an engine can share only computed KV blocks: a twin arriving during
the prefill misses. The cache is an LRU of at most ``capacity`` blocks, the first block
refreshed last so that a prompt's tail is evicted before its head (a head without its tail
still helps; a tail without its head never hits).

Tokens are whatever :func:`prompt_token_sequence` makes of a request body: the mock's
approximate pieces, with each chat message's first piece marked by its role. One cache per
server process (or thread-mode server); it is used from that server's loop thread only.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable, Mapping, Sequence
from typing import Any

from guidellm.mock_server.audio import audio_part_key, audio_part_tokens
from guidellm.mock_server.behavior import PIECE

__all__ = ["PrefixCache", "prompt_token_sequence"]

_findall = PIECE.findall


def _text_pieces(content: Any, image_tokens: int = 0, audio_rate: float = 0.0) -> list[Hashable]:
    """The pieces of a message's content: a string or a list of parts with ``text``; an
    ``image_url`` part is ``image_tokens`` tokens that only the same image (URL) matches, an
    ``input_audio`` part its audio tokens that only the same clip matches."""
    if isinstance(content, str):
        return _findall(content)
    pieces: list[Hashable] = []
    if isinstance(content, list):
        for part in content:
            if not isinstance(part, dict):
                continue
            if isinstance(part.get("text"), str):
                pieces += _findall(part["text"])
            elif part.get("type") in ("image_url", "image") and image_tokens:
                image = hash(str(part.get("image_url") or part.get("source")))
                pieces += [(image, k) for k in range(image_tokens)]
            elif part.get("type") == "input_audio" and audio_rate:
                clip = audio_part_key(part)
                pieces += [(clip, k) for k in range(audio_part_tokens(part, audio_rate))]
    return pieces


def prompt_token_sequence(
    body: Mapping[str, Any], image_tokens: int = 0, audio_rate: float = 0.0
) -> list[Hashable]:
    """A request's prompt as a token sequence, as long as the mock's prompt token count.

    Chat messages are rendered one after the other and each message's first token carries its
    role (``"user\\x00Hello"``; the approximate rule never makes a piece with a NUL in it), so
    a conversation extended by an answer and a new question starts with the sequence of the
    shorter conversation, while the same words under another role differ.
    """
    prompt = body.get("prompt")
    if isinstance(prompt, str):
        return _findall(prompt)
    if isinstance(prompt, list):
        if all(isinstance(p, str) for p in prompt):
            out: list[Hashable] = []
            for p in prompt:
                out += _findall(p)
            return out
        return list(prompt)  # token ids
    tokens: list[Hashable] = []
    messages = body.get("messages")
    if isinstance(messages, list):
        for message in messages:
            if not isinstance(message, dict):
                continue
            pieces = _text_pieces(message.get("content"), image_tokens, audio_rate)
            if pieces:
                pieces[0] = f"{message.get('role')}\x00{pieces[0]}"
                tokens += pieces
    return tokens


class PrefixCache:
    """An LRU of prompt blocks known by chained hashes; ``capacity`` 0 caches nothing."""

    def __init__(self, block_tokens: int, capacity: int) -> None:
        self.block_tokens = block_tokens
        self.capacity = capacity
        self.blocks: OrderedDict[int, None] = OrderedDict()

    def block_hashes(self, tokens: Sequence[Hashable]) -> list[int]:
        """One chained hash per full block of ``tokens`` (a partial last block has none)."""
        size = self.block_tokens
        hashes: list[int] = []
        h = 0
        for start in range(0, len(tokens) - size + 1, size):
            h = hash((h, *tokens[start : start + size]))
            hashes.append(h)
        return hashes

    def lookup(self, hashes: Sequence[int], prompt_tokens: int) -> int:
        """Tokens served from the cache: the leading blocks found, never the last token."""
        blocks = self.blocks
        eligible = min(len(hashes), max(0, prompt_tokens - 1) // self.block_tokens)
        hit = 0
        while hit < eligible and hashes[hit] in blocks:
            hit += 1
        return hit * self.block_tokens

    def insert(self, hashes: Sequence[int]) -> None:
        """Insert or refresh a request's blocks, head last (most recent), then evict the LRU."""
        if self.capacity <= 0:
            return
        blocks = self.blocks
        for h in reversed(hashes):
            if h in blocks:
                blocks.move_to_end(h)
            else:
                blocks[h] = None
        while len(blocks) > self.capacity:
            blocks.popitem(last=False)

    def admit(self, tokens: Sequence[Hashable]) -> tuple[int, list[int]]:
        """``(cached tokens, block hashes)`` of a prompt starting now; :meth:`insert` the hashes
        once its prefill is done (not before: a concurrent equal prompt must still miss)."""
        if self.capacity <= 0:
            return 0, []
        hashes = self.block_hashes(tokens)
        return self.lookup(hashes, len(tokens)), hashes
