"""The ``synthetic`` dataset source: token-exact, unique prompts cut from the shipped corpus.

Spec (``--data``), as ``k=v,k=v`` or a JSON object::

    prompt_tokens=N[,prompt_tokens_stdev=S,prompt_tokens_min=A,prompt_tokens_max=B]
    output_tokens=M[,output_tokens_stdev=...,output_tokens_min=...,output_tokens_max=...]
    samples=K            finite dataset of K requests (default: endless)
    prefix_tokens=P      a shared prefix of P tokens before the N unique ones ...
    prefix_count=C       ... drawn from C distinct prefixes (default 1), for prefix-cache tests
    seed=X               overrides --random-seed
    turns=T              sessions of T turns (default 1: single requests) ...
    turn_prompt_tokens=U ... whose turns 2.. have U new tokens each (default: prompt_tokens)
    think_time_ms=W      ... and a user's pause of W ms before each of them (default 0)
    system_prompt_tokens=Y  one system prompt of Y tokens shared by every session
    images=I             I images per request (default 0), sent as chat image_url parts ...
    image_width=W        ... W pixels wide (default 512) ...
    image_height=H       ... and H high (default 512) ...
    image_format=F       ... encoded as jpeg (default) or png (guidellm.data.images)
    audio=A              A audio clips per request (default 0), sent as chat input_audio parts ...
    audio_seconds=D      ... D seconds long each (default 5; fractions allowed) ...
    audio_format=F       ... as wav (the only format; guidellm.data.audio)

Every length (``turns``, ``think_time_ms``, ``images``, ``audio_seconds`` ... too) takes the
``_stdev/_min/_max`` suffixes.
A length with ``_stdev`` is a normal distribution truncated to ``[_min, _max]``; with only
``_min``/``_max`` it is uniform between them; otherwise it is constant.

How prompts stay exact and cheap: the corpus is tokenized once, and every position where a
token starts right after a single space is a *cut point*. A prompt is a few "code" words that
encode the request's index (each one token long: this makes every prompt unique) followed by a
corpus substring that runs between two cut points exactly ``N - code`` tokens apart. For
tokenizers that split on spaces before tokenizing (BPE, WordPiece, SentencePiece, the
approximate counter), token counts add up across such cuts, so no per-request encoding is
needed; a set of sample prompts is re-counted at start-up and, should a tokenizer break that
rule, every prompt is counted and adjusted instead (slower, still exact).
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from guidellm.data.base import DatasetSource
from guidellm.data.tokenizers import ApproxTokenizer, Tokenizer
from guidellm.errors import UserError
from guidellm.options import parse_options
from guidellm.request import Turn

__all__ = [
    "IndexCode",
    "LengthDistribution",
    "PromptFactory",
    "SyntheticSource",
    "parse_synthetic_spec",
]

_LENGTH_KEYS = ("prompt_tokens", "output_tokens")
_SESSION_KEYS = ("turns", "turn_prompt_tokens", "think_time_ms", "system_prompt_tokens")
_IMAGE_KEYS = ("images", "image_width", "image_height")
_AUDIO_KEYS = ("audio", "audio_seconds")
_SUFFIXES = ("", "_stdev", "_min", "_max")
SYNTHETIC_KEYS: tuple[str, ...] = (
    *(k + s for k in _LENGTH_KEYS for s in _SUFFIXES),
    *(k + s for k in _SESSION_KEYS for s in _SUFFIXES),
    *(k + s for k in _IMAGE_KEYS for s in _SUFFIXES),
    *(k + s for k in _AUDIO_KEYS for s in _SUFFIXES),
    "image_format",
    "audio_format",
    "samples",
    "prefix_tokens",
    "prefix_count",
    "seed",
)
_EXAMPLE = "prompt_tokens=256,output_tokens=128"


@dataclass(frozen=True)
class LengthDistribution:
    """A token length: constant, uniform in ``[minimum, maximum]`` or truncated normal."""

    mean: int
    stdev: float = 0.0
    minimum: int = 1
    maximum: int | None = None

    @classmethod
    def from_config(cls, config: Mapping[str, Any], key: str, floor: int) -> LengthDistribution:
        def number(name: str) -> float | None:
            value = config.get(name)
            if value is None:
                return None
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise UserError(
                    f"synthetic data: {name}={value!r} must be a non-negative number "
                    f"(e.g. {_EXAMPLE})"
                )
            return float(value)

        mean, stdev = number(key), number(key + "_stdev") or 0.0
        low, high = number(key + "_min"), number(key + "_max")
        if mean is None:
            if low is None or high is None:
                raise UserError(f"synthetic data needs {key}=N (e.g. {_EXAMPLE})")
            mean = (low + high) / 2
        minimum = max(floor, math.ceil(low)) if low is not None else floor
        maximum = math.floor(high) if high is not None else None
        if maximum is not None and maximum < minimum:
            raise UserError(
                f"synthetic data: {key}_max={high:g} is below {key}_min={minimum}; swap or fix them"
            )
        if round(mean) < floor and low is None:
            raise UserError(f"synthetic data: {key} must be at least {floor} (e.g. {_EXAMPLE})")
        if maximum is None and stdev > 0:  # bound the tail: the corpus is sized for it
            maximum = max(minimum, round(mean + 6 * stdev))
        uniform = stdev == 0 and low is not None and high is not None and key in config
        return cls(
            mean=round(mean),
            stdev=-1.0 if uniform else stdev,
            minimum=minimum,
            maximum=maximum,
        )

    def sample(self, rng: random.Random) -> int:
        """One length, never outside ``[minimum, maximum]``."""
        if self.stdev < 0:  # uniform between the bounds
            return rng.randint(self.minimum, self.maximum or self.minimum)
        if self.stdev == 0:
            value = self.mean
        else:
            for _ in range(8):  # a truncated normal: redraw outside the bounds, then clamp
                value = round(rng.gauss(self.mean, self.stdev))
                if value >= self.minimum and (self.maximum is None or value <= self.maximum):
                    return value
        value = max(self.minimum, value)
        return value if self.maximum is None else min(self.maximum, value)

    @property
    def upper(self) -> int:
        """A bound no sample exceeds in practice (used to size the corpus)."""
        if self.maximum is not None:
            return self.maximum if self.stdev else max(self.mean, self.maximum)
        return max(self.minimum, round(self.mean + 6 * max(self.stdev, 0.0)))


def parse_synthetic_spec(spec: str) -> dict[str, Any]:
    """``k=v,k=v`` or JSON -> a checked dict; unknown keys name the valid ones."""
    text = spec.strip()
    if text.startswith("{"):
        try:
            config = json.loads(text)
        except ValueError:
            raise UserError(f"synthetic data: {spec!r} is not valid JSON; use {_EXAMPLE}") from None
        if not isinstance(config, dict):
            raise UserError(f"synthetic data: expected a JSON object or {_EXAMPLE}")
    else:
        config = parse_options(text, "--data")
    unknown = sorted(set(config) - set(SYNTHETIC_KEYS))
    if unknown:
        raise UserError(
            f"synthetic data: unknown key(s) {', '.join(unknown)}; valid keys: "
            f"{', '.join(SYNTHETIC_KEYS)}"
        )
    for key in ("samples", "prefix_tokens", "prefix_count", "seed"):
        value = config.get(key)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
            raise UserError(f"synthetic data: {key}={value!r} must be a whole number")
        if value is not None and key != "seed" and value < (1 if key != "prefix_tokens" else 0):
            raise UserError(f"synthetic data: {key}={value} must be positive")
    return dict(config)


class PromptFactory:
    """Builds prompts of an exact token count from the corpus (see the module docstring)."""

    #: Distinct one-token words kept per table of the unique per-request code.
    CODE_WORDS = 1024
    #: Indices below this many get a unique code (with the full number of code words).
    UNIQUE = 10**9

    def __init__(self, tokenizer: Tokenizer, longest: int) -> None:
        from guidellm.data.corpus import corpus_text, corpus_words

        self.tokenizer = tokenizer
        words = max(20_000, longest * 3)
        text = corpus_text(words)
        spans = tokenizer.spans(text)
        self.verify_each = spans is None
        if spans is None:  # no offsets: cut at approximate pieces, count every prompt
            spans = ApproxTokenizer().spans(text)
        self.text = text
        self.tokens = len(spans)
        self.cut = self._cut_points(text, spans)
        self.cut_tokens = [k for k, c in enumerate(self.cut) if c >= 0]
        self._code_tables(tokenizer, text, spans, corpus_words())
        if self.tokens < longest + 2 or len(self.cut_tokens) < 2:
            raise UserError(
                f"synthetic data: the corpus holds {self.tokens} tokens for this tokenizer, "
                f"fewer than the {longest} asked; lower prompt_tokens"
            )

    @staticmethod
    def _cut_points(text: str, spans: list[tuple[int, int]]) -> list[int]:
        """Per token index, the character where a prompt may start/end there (or -1)."""
        cut = [-1] * (len(spans) + 1)
        prev_end = 0
        for k, (start, end) in enumerate(spans):
            if start >= len(text):  # a zero-width token at the very end
                continue
            c = start if text[start] == " " else start - 1
            if (
                c > 0
                and text[c] == " "
                and prev_end <= c
                and not text[c - 1].isspace()
                and c + 1 < len(text)
                and not text[c + 1].isspace()
            ):
                cut[k] = c
            prev_end = end
        return cut

    def _code_tables(
        self,
        tokenizer: Tokenizer,
        text: str,
        spans: list[tuple[int, int]],
        vocabulary: tuple[str, ...],
    ) -> None:
        """One-token words for the unique code: ``first`` may open a prompt (no space before
        it), ``rest`` follow a space. Words are whole alphabetic pieces, so distinct codes give
        distinct texts. Two codes exist: one that opens a prompt, one that follows a shared
        prefix (it starts with a space, so it only uses ``rest``)."""
        count = tokenizer.count
        pieces = sorted({text[a:b].strip() for a, b in spans[:20_000]} | set(vocabulary))
        pieces = [p for p in pieces if p.isalpha()]
        first = [p for p in pieces if count(p) == 1][: self.CODE_WORDS]
        rest = [w for w in vocabulary if count(" " + w) == 1][: self.CODE_WORDS]
        self.codes: dict[bool, IndexCode | None] = {
            True: IndexCode.build(first, rest, self.UNIQUE),
            False: IndexCode.build(rest, rest, self.UNIQUE),
        }
        if self.codes[True] is None or self.codes[False] is None:
            self.verify_each = True  # no one-token words: uniqueness by corpus offset only

    def body(self, n: int, rng: random.Random) -> str:
        """A corpus substring of exactly ``n`` tokens starting with a space."""
        cut = self.cut
        last = self.tokens - n
        for _ in range(64):
            k = rng.randrange(0, last)
            if cut[k] >= 0 and cut[k + n] >= 0:
                return self.text[cut[k] : cut[k + n]]
        start = rng.randrange(0, last)
        for i in range(start, start + last):  # rare: scan for a matching pair of cuts
            k = i % last
            if cut[k] >= 0 and cut[k + n] >= 0:
                return self.text[cut[k] : cut[k + n]]
        raise UserError(f"synthetic data: cannot cut a {n}-token prompt; lower prompt_tokens")

    def prompt(self, n: int, index: int, rng: random.Random, lead: bool = True) -> tuple[str, int]:
        """A prompt of ``n`` tokens unique to ``index``, and its token count.

        ``lead=False`` gives text to append to a shared prefix: it starts with a space.
        """
        code = self.codes[lead]
        words = min(n, code.length) if code is not None else 0
        if code is not None and words:
            head = code.spell(index, words)
            if not lead:
                head = " " + head
            text = head + self.body(n - words, rng) if n > words else head
        else:  # no one-token words in this tokenizer: a plain body, counted below
            head = ""
            text = self.body(n, rng)
            text = text.lstrip() if lead else text
        if not self.verify_each:
            return text, n
        return self._adjust(text, n, rng, words, head=head, lead=lead)

    def _adjust(
        self, text: str, n: int, rng: random.Random, words: int, *, head: str, lead: bool
    ) -> tuple[str, int]:
        """Count, then re-cut with a corrected body length, until exact (bounded)."""
        count = self.tokenizer.count
        have = count(text)
        body = n - words
        for _ in range(8):
            if have == n:
                break
            body = max(0, body + n - have)
            text = head + self.body(body, rng) if body else head
            if lead:
                text = text.lstrip()
            if not text:
                text = self.body(max(1, n), rng)
            have = count(text)
        return text, have

    def check(self, lengths: list[int], rng: random.Random) -> bool:
        """Whether prompts cut for these lengths count exactly, alone and after another prompt
        (a shared prefix); switches to counting every prompt if not."""
        if self.verify_each:
            return True
        count = self.tokenizer.count
        for i, n in enumerate(lengths):
            text, _ = self.prompt(n, self.UNIQUE + i, rng)
            tail, _ = self.prompt(n, self.UNIQUE + i, rng, lead=False)
            if count(text) != n or count(text + tail) != 2 * n:
                self.verify_each = True
                return False
        return True


class IndexCode:
    """Spells a scrambled index with one-token words: a bijection below ``modulus``."""

    def __init__(self, first: list[str], rest: list[str], length: int) -> None:
        self.first, self.rest, self.length = first, rest, length
        self.modulus = len(first) * len(rest) ** (length - 1)
        mult = 2_654_435_761  # coprime with the modulus: consecutive indices look unrelated
        while math.gcd(mult, self.modulus) != 1:
            mult += 2
        self.mult = mult

    @classmethod
    def build(cls, first: list[str], rest: list[str], unique: int) -> IndexCode | None:
        if len(first) < 2 or len(rest) < 2:
            return None
        return cls(first, rest, 1 + max(0, math.ceil(math.log(unique / len(first), len(rest)))))

    def spell(self, index: int, words: int) -> str:
        index = (index * self.mult + 12345) % self.modulus
        index, digit = divmod(index, len(self.first))
        out = [self.first[digit]]
        rest, kb = self.rest, len(self.rest)
        for _ in range(words - 1):
            index, digit = divmod(index, kb)
            out.append(rest[digit])
        return " ".join(out)


class SyntheticSource(DatasetSource):
    """Endless (or ``samples``-long) synthetic requests with exact token lengths."""

    name = "synthetic"

    @classmethod
    def accepts(cls, spec: str, options: Mapping[str, Any]) -> bool:
        text = spec.strip()
        if text.startswith("{"):
            return "prompt_tokens" in text
        return "=" in text and "/" not in text.split("=", 1)[0]

    def __init__(
        self,
        spec: str,
        options: Mapping[str, Any],
        tokenizer: Tokenizer | None = None,
        seed: int = 42,
    ) -> None:
        super().__init__(spec, options, tokenizer, seed)
        self.config = parse_synthetic_spec(spec)
        self.seed = int(self.config.get("seed", seed))
        self.prompt_len = LengthDistribution.from_config(self.config, "prompt_tokens", 1)
        self.output_len: LengthDistribution | None = None
        if any(k.startswith("output_tokens") for k in self.config):
            self.output_len = LengthDistribution.from_config(self.config, "output_tokens", 1)
        self._session_lengths()
        self._image_settings()
        self._audio_settings()
        self.samples: int | None = self.config.get("samples")
        self.prefix_tokens: int = self.config.get("prefix_tokens", 0)
        self.prefix_count: int = self.config.get("prefix_count", 1)
        self._factory: PromptFactory | None = None
        self._prefixes: list[str] = []
        self._position = 0  # endless data continues across iterations: prompts stay unique
        self._rng = random.Random(self.seed)

    def _session_lengths(self) -> None:
        """``turns`` and the other session keys; they mean nothing for single requests."""
        config = self.config

        def given(key: str) -> LengthDistribution | None:
            if not any(k.startswith(key) for k in config):
                return None
            return LengthDistribution.from_config(config, key, 0 if key == "think_time_ms" else 1)

        turns = given("turns")
        self.turns = turns if turns is not None and turns.upper > 1 else None
        self.turn_len = given("turn_prompt_tokens") or self.prompt_len
        self.think_ms = given("think_time_ms")
        self.system_len = given("system_prompt_tokens")
        self.system_prompt: str | None = None
        if self.turns is None:
            used = [k for k in _SESSION_KEYS[1:] if any(c.startswith(k) for c in config)]
            if used:
                raise UserError(
                    f"synthetic data: {used[0]} shapes sessions, which need turns=N above 1 "
                    "(e.g. turns=4); for a prefix shared by single requests use prefix_tokens"
                )

    def _image_settings(self) -> None:
        """``images``, ``image_width``, ``image_height`` and ``image_format``."""
        from guidellm.data.images import SyntheticImages

        config = self.config

        def given(key: str, default: int) -> LengthDistribution:
            if any(k.startswith(key) for k in config):
                return LengthDistribution.from_config(config, key, 0 if key == "images" else 1)
            return LengthDistribution(mean=default, minimum=1)

        images = given("images", 0) if any(k.startswith("images") for k in config) else None
        self.images = images if images is not None and images.upper > 0 else None
        self.image_width, self.image_height = given("image_width", 512), given("image_height", 512)
        self.image_maker: SyntheticImages | None = None
        if self.images is None:
            shaping = [k for k in config if k.startswith("image_")]
            if shaping and not any(k.startswith("images") for k in config):
                raise UserError(
                    f"synthetic data: {shaping[0]} shapes images, which need images=N (e.g. "
                    "images=1,image_width=512,image_height=512)"
                )
            return
        if self.turns is not None:
            raise UserError(
                "synthetic data: images are sent with single requests only; drop turns or images"
            )
        self.image_maker = SyntheticImages(str(config.get("image_format", "jpeg")), self.seed)

    def _audio_settings(self) -> None:
        """``audio``, ``audio_seconds`` and ``audio_format``; durations are drawn in ms."""
        from guidellm.data.audio import SyntheticAudio

        config = self.config
        count_keys = [k for k in config if k in {"audio" + s for s in _SUFFIXES}]
        seconds_keys = [k for k in config if k.startswith("audio_seconds")]
        audio = LengthDistribution.from_config(config, "audio", 0) if count_keys else None
        self.audio = audio if audio is not None and audio.upper > 0 else None
        self.audio_ms = LengthDistribution(mean=5000, minimum=1)
        if seconds_keys:
            scaled: dict[str, Any] = {}
            for key in seconds_keys:
                value = config[key]
                if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                    raise UserError(
                        f"synthetic data: {key}={value!r} must be a non-negative number of "
                        "seconds (e.g. audio=1,audio_seconds=5)"
                    )
                scaled[key.replace("audio_seconds", "audio_ms")] = value * 1000
            self.audio_ms = LengthDistribution.from_config(scaled, "audio_ms", 1)
        self.audio_maker: SyntheticAudio | None = None
        if self.audio is None:
            shaping = [*seconds_keys, *(["audio_format"] if "audio_format" in config else [])]
            if shaping and not count_keys:
                raise UserError(
                    f"synthetic data: {shaping[0]} shapes audio clips, which need audio=N "
                    "(e.g. audio=1,audio_seconds=5)"
                )
            return
        if self.turns is not None:
            raise UserError(
                "synthetic data: audio is sent with single requests only; drop turns or audio"
            )
        self.audio_maker = SyntheticAudio(str(config.get("audio_format", "wav")), self.seed)

    @property
    def size(self) -> int | None:
        return self.samples

    def validate(self) -> None:
        """Tokenize the corpus and check that cuts count exactly (once, before any load)."""
        if self._factory is not None:
            return
        tokenizer = self.tokenizer or ApproxTokenizer()
        lengths = [self.prompt_len, self.turn_len]
        if self.system_len is not None:
            lengths.append(self.system_len)
        upper = max(d.upper for d in lengths) + self.prefix_tokens + 1
        factory = PromptFactory(tokenizer, upper)
        rng = random.Random(self.seed ^ 0x5EED)
        probe = {1, 2, 16, upper - 1, *(d.minimum for d in lengths), *(d.mean for d in lengths)}
        factory.check(sorted(n for n in probe if 0 < n <= upper - 1), rng)
        if self.system_len is not None:  # one text, byte-identical in every session
            n = max(1, self.system_len.sample(random.Random(self.seed ^ 0x5157)))
            self.system_prompt = factory.prompt(n, PromptFactory.UNIQUE * 3, rng)[0]
        self._prefixes = [
            factory.prompt(self.prefix_tokens, PromptFactory.UNIQUE * 2 + j, rng)[0]
            for j in range(self.prefix_count if self.prefix_tokens else 0)
        ]
        self._factory = factory
        width, height, maker = self.image_width, self.image_height, self.image_maker
        if maker is not None and width.stdev == 0 and height.stdev == 0:  # one size: now
            maker.warm(width.sample(rng), height.sample(rng))
        if self.audio_maker is not None and self.audio_ms.stdev == 0:  # one duration: now
            self.audio_maker.warm(self.audio_ms.sample(rng))

    def rows(self) -> Iterator[dict[str, Any]]:
        self.validate()
        if self.samples is not None:
            return self._generate(0, random.Random(self.seed), self.samples)
        return self._generate(None, self._rng, None)

    def _generate(
        self, start: int | None, rng: random.Random, stop: int | None
    ) -> Iterator[dict[str, Any]]:
        factory = self._factory
        assert factory is not None
        prompt_len, output_len = self.prompt_len, self.output_len
        prefixes, prefix_tokens = self._prefixes, self.prefix_tokens
        make, verify = factory.prompt, factory.verify_each
        index = start if start is not None else self._position
        # a session's turns take the indices index*stride+t: every turn's text is unique
        stride = self.turns.upper if self.turns is not None else 1
        images, maker = self.images, self.image_maker
        width, height = self.image_width, self.image_height
        clips, clip_ms, audio_maker = self.audio, self.audio_ms, self.audio_maker
        # Images and audio draw from their own stream: the prompts of a seed are the same
        # with or without them (an A/B of text against text plus media compares like with like).
        media = random.Random(hash((rng.getstate(), index)))
        while stop is None or index < stop:
            n = prompt_len.sample(rng)
            if prefixes:
                text, count = make(n, index * stride, rng, False)
                text = prefixes[index % len(prefixes)] + text
                count += prefix_tokens
                if verify:  # this tokenizer does not add up across cuts: count the whole
                    count = factory.tokenizer.count(text)
            else:
                text, count = make(n, index * stride, rng)
            row: dict[str, Any] = {"prompt": text, "prompt_tokens_count": count}
            if output_len is not None:
                row["output_tokens_count"] = output_len.sample(rng)
            if maker is not None and images is not None:
                pick = maker.pick
                row["image"] = [
                    pick(width.sample(media), height.sample(media), media)
                    for _ in range(images.sample(media))
                ]
            if audio_maker is not None and clips is not None:
                pick_clip = audio_maker.pick
                row["audio"] = [
                    pick_clip(clip_ms.sample(media), media) for _ in range(clips.sample(media))
                ]
            if self.turns is not None:
                row["turns"] = self._session(index * stride, text, count, row, rng)
                if self.system_prompt is not None:
                    row["system"] = self.system_prompt
            index += 1
            if start is None:
                self._position = index
            yield row

    def _session(
        self, first: int, text: str, count: int, row: dict[str, Any], rng: random.Random
    ) -> list[Turn]:
        """The turns of one session: the row's prompt, then ``turns - 1`` new prompts."""
        assert self.turns is not None and self._factory is not None
        output_len, think_ms, make = self.output_len, self.think_ms, self._factory.prompt
        turns = [Turn(messages=[{"role": "user", "content": text}], prompt_tokens=count)]
        turns[0].max_tokens = row.get("output_tokens_count")
        for t in range(1, self.turns.sample(rng)):
            text, count = make(self.turn_len.sample(rng), first + t, rng)
            turns.append(
                Turn(
                    messages=[{"role": "user", "content": text}],
                    max_tokens=output_len.sample(rng) if output_len is not None else None,
                    think_time=think_ms.sample(rng) / 1000 if think_ms is not None else 0.0,
                    prompt_tokens=count,
                )
            )
        return turns

    def describe(self) -> dict[str, Any]:
        info: dict[str, Any] = {"type": self.name, "spec": self.spec, **self.config}
        info["seed"] = self.seed
        if self._factory is not None:
            info["verified_each_prompt"] = self._factory.verify_each
        return info
