"""Prompts for trace rows: token-exact, with prefix blocks shared exactly as the trace says.

A trace gives lengths, not text. A row without hash ids gets a unique prompt from the
synthetic source's :class:`~guidellm.data.synthetic.PromptFactory`. A row with hash ids (the
Mooncake format) gets the concatenation of its blocks, joined by single spaces. A block's text
depends only on ``(hash id, block_size, seed)``: a few one-token code words spelling the id
(:class:`~guidellm.data.synthetic.IndexCode`'s scrambled digits), then a corpus run between
two cut points, so

* equal ids give byte-identical text (and tokens), wherever the id appears, and a server's
  prefix cache sees the trace's reuse; ids below 10^9 never share code words, so different
  ids give different text;
* the last block may be partial: its text is the first tokens of the full block's text when
  the corpus has a cut point there (it usually has), so it still shares a prefix with it;
* token counts add across the joins for the same reason they do in synthetic prompts (every
  join is a corpus cut point: a space before a word), which is checked once at start-up; a
  tokenizer that breaks the rule gets each prompt counted and its last block re-cut.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Sequence

from guidellm.data.corpus import corpus_words
from guidellm.data.synthetic import IndexCode, PromptFactory
from guidellm.data.tokenizers import Tokenizer
from guidellm.errors import UserError

__all__ = ["TracePrompts"]

#: Block texts kept for reuse; a 512-token block is about 2.5 KB, so this bounds the cache
#: near 10 MB while a trace's hot prefixes stay cached.
BLOCK_CACHE = 4096


class TracePrompts:
    """Prompt text for trace rows (see the module docstring)."""

    def __init__(self, tokenizer: Tokenizer, *, block_size: int, longest: int, seed: int) -> None:
        self.tokenizer = tokenizer
        self.block_size = block_size
        self.seed = seed
        self.factory = factory = PromptFactory(tokenizer, max(longest, block_size, 16) + 2)
        rng = random.Random(seed ^ 0x7ACE)
        probe = sorted({1, 2, 16, min(block_size, longest), max(1, longest - 1)})
        factory.check([n for n in probe if n < factory.tokens - 1], rng)
        count = tokenizer.count
        words = [w for w in corpus_words() if count(w) == 1 and count(" " + w) == 1]
        self.code = code = IndexCode.build(words, words, PromptFactory.UNIQUE)
        # The code's arithmetic, inlined in _block (it runs once per distinct block).
        self._words = words
        self._powers = [len(words) ** j for j in range(code.length)] if code else []
        self.verify_each = factory.verify_each or self.code is None
        self.block = functools.lru_cache(maxsize=BLOCK_CACHE)(self._block)
        code_words = min(block_size, self.code.length) if self.code is not None else 0
        self._full = block_size - code_words  # corpus tokens in a full block
        cut, full = factory.cut, self._full
        # Where a full block's corpus run may start: looked up, not searched, per block.
        self._starts = [
            k for k in range(max(0, factory.tokens - full)) if cut[k] >= 0 and cut[k + full] >= 0
        ]
        if full > 0 and not self._starts:
            raise UserError(
                f"trace data: cannot cut {block_size}-token blocks from the corpus; "
                "lower block_size"
            )
        if not self.verify_each:
            self.verify_each = not self._adds_up()

    def unique(self, n: int, index: int, rng: random.Random) -> str:
        """A prompt of ``n`` tokens that no other ``index`` gets."""
        return self.factory.prompt(n, index, rng)[0]

    def _start(self, key: int, m: int) -> int:
        """A corpus token index where an ``m``-token run starts and ends at cut points,
        chosen by ``key`` (so always the same one for the same key)."""
        cut, last = self.factory.cut, self.factory.tokens - m
        if last <= 0:
            raise UserError(
                f"trace data: a {m}-token block is longer than the corpus; lower block_size"
            )
        k = (key * 2_654_435_761 + self.seed * 40_503 + m * 97) % last
        for i in range(last):
            j = (k + i) % last
            if cut[j] >= 0 and cut[j + m] >= 0:
                return j
        raise UserError(f"trace data: cannot cut a {m}-token block; lower block_size")

    def _block(self, hash_id: int, n: int) -> str:
        """The first ``n`` tokens of block ``hash_id`` (all of it when ``n == block_size``)."""
        code, text, cut = self.code, self.factory.text, self.factory.cut
        head = ""
        words = min(n, len(self._powers))
        if code is not None and words:
            modulus, vocab, size = code.modulus, self._words, len(self._words)
            i = ((hash_id + self.seed * 1_000_003) % modulus * code.mult + 12_345) % modulus
            head = " ".join([vocab[i // p % size] for p in self._powers[:words]])
        m = n - words
        if m <= 0:
            return head
        starts = self._starts
        k = starts[(hash_id * 2_654_435_761 + self.seed * 40_503) % len(starts)]
        if cut[k + m] < 0:  # no cut point there: a run of its own (no shared partial prefix)
            k = self._start(hash_id ^ 0x5A5A5A5A, m)
        body = text[cut[k] : cut[k + m]]
        return head + body if head else body[1:]

    def blocks(self, hash_ids: Sequence[int], n: int) -> str:
        """The prompt of a row with these hash ids and ``n`` input tokens."""
        size, block = self.block_size, self.block
        last = n - size * (len(hash_ids) - 1)
        parts = [block(h, size) for h in hash_ids[:-1]]
        parts.append(block(hash_ids[-1], last))
        prompt = " ".join(parts)
        if self.verify_each:
            prompt = self._adjust(parts, hash_ids[-1], last, n)
        return prompt

    def _adjust(self, parts: list[str], last_id: int, last: int, n: int) -> str:
        """Count the prompt and re-cut its last block until it is exact (bounded)."""
        count = self.tokenizer.count
        prompt = " ".join(parts)
        have = count(prompt)
        want = last
        for _ in range(8):
            if have == n:
                break
            want = max(1, want + n - have)
            parts[-1] = self._block(last_id, want)
            prompt = " ".join(parts)
            have = count(prompt)
        return prompt

    def _adds_up(self) -> bool:
        """Whether blocks joined as :meth:`blocks` joins them count exactly."""
        size, count = self.block_size, self.tokenizer.count
        cases = [([1, 2, 3], 2 * size + max(1, size // 2)), ([4], 1), ([5, 6], size + 1)]
        cases.append(([7, 8], 2 * size))
        return all(count(self.blocks(ids, n)) == n for ids, n in cases)
