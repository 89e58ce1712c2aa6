"""What the mock server does, independent of the wire protocol.

The HTTP server (``http_server.py``) and a gRPC server can share this module: the config, the
seeded per-request draws (time to first token, inter-token latency, output length), the fault
decision and the deterministic token stream. Nothing here touches sockets or event loops, and
it imports only the standard library, so it is cheap to import and easy to test.

Rules, in one place:

* Request ``i`` (counted from 0 in arrival order, per server) draws everything from
  ``random.Random(seed * 2**32 + i)``: the same seed and the same request order give the same
  lengths, timings, faults and text.
* TTFT, ITL and output length are normal draws truncated to ``mean +- 3 std`` (and to >= 0 ms,
  >= 1 token); a std of 0 gives the mean exactly. ITL is drawn once per request, so the
  per-request ITL a client reports has the configured spread.
* ``max_tokens`` (or ``max_completion_tokens``) given: exactly that many tokens, as if the
  server ignored end-of-sequence (``ignore_eos``), which is what benchmarks ask for; with
  ``"ignore_eos": false`` in the body the drawn length is capped by it instead.
* Reasoning tokens (``reasoning_tokens`` > 0) come first and count in the total.
* ``max_concurrency`` > 0: at most that many requests generate at once; later ones wait in
  arrival order (:class:`CapacityGate`) and their clock starts when they get a slot, so their
  TTFT includes the wait, as on a server whose batch is full. Errors (500/429) take no slot; a
  stalled request holds its slot until its client goes away.
* Prompt tokens are approximated with the rule of guidellm's approximate tokenizer (one per
  run of letters, digits or underscores, one per other non-space character) over the prompt
  or every message's text; so synthetic prompts made without ``--processor`` count as asked.
  Each ``image_url`` part of a message adds ``image_tokens`` (a vision model's image tokens);
  each ``input_audio`` part ``ceil(seconds x audio_tokens_per_second)`` (``audio.py``).
* Prefix cache (``prefix_cache.py``): a prompt's leading blocks whose prefill finished
  recently are cached (looked up when a request starts, inserted at its first token);
  TTFT is ``ttft + prefill_ms_per_token * uncached prompt tokens`` (the draw's noise stays).
* Faults are mutually exclusive: one uniform draw per request picks at most one, so each rate
  is exact in expectation. A mid-stream fault happens after half of the tokens were sent.
"""

from __future__ import annotations

import math
import random
import re
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from guidellm.errors import UserError
from guidellm.mock_server.audio import audio_part_tokens

__all__ = [
    "FAULTS",
    "MODEL_TIMING_KEYS",
    "PIECE",
    "VOCABULARY",
    "CapacityGate",
    "MockServerConfig",
    "RequestPlan",
    "count_prompt_tokens",
    "plan_request",
    "requested_max_tokens",
]

#: Fault names, in the order their rate intervals are laid out on [0, 1).
FAULTS: tuple[str, ...] = ("error_500", "error_429", "reset", "malformed", "stall", "no_done")

#: The timing settings ``model_timing`` can override per served model.
MODEL_TIMING_KEYS: tuple[str, ...] = (
    "ttft_ms",
    "ttft_ms_std",
    "itl_ms",
    "itl_ms_std",
    "prefill_ms_per_token",
)
#: ``model``'s default, which a config serving ``models`` may leave as it is.
DEFAULT_MODEL = "mock-model"

#: The words the token stream is drawn from; each token is a space and one word.
_WORDS = (
    "the of and to in is was for on are with as by at from that this be it an or not have "
    "has had but they which one all were we when there can more their if will been would "
    "who so what up out about into than them some could time only new these two may first "
    "then do any like my now over such our man me even most made after also did many before "
    "must through back years where much your way well down should because each just those "
    "people how too little state good very make world still own see men work long get here "
    "between both life being under never day same another know while last might us great "
    "old year off come since against go came right used take three"
)
VOCABULARY: tuple[str, ...] = tuple(_WORDS.split())
_TOKENS: tuple[str, ...] = tuple(" " + w for w in VOCABULARY)
#: guidellm.data.tokenizers.ApproxTokenizer's rule, repeated to keep this module stdlib-only.
PIECE = re.compile(r"\w+|[^\w\s]")


def _flag(name: str) -> str:
    """The ``guidellm mock-server`` option of a config field (for messages)."""
    return "--retry-after" if name == "retry_after_s" else "--" + name.replace("_", "-")


@dataclass(frozen=True)
class MockServerConfig:
    """How the mock server behaves: timing and length distributions, faults, model name.

    Times are milliseconds; ``*_std`` is the standard deviation of a normal draw truncated to
    ``mean +- 3 std``. Fault rates are probabilities per generation request; their sum must not
    exceed 1. ``retry_after_s`` is the ``Retry-After`` header of the 429 answers.
    ``prefill_ms_per_token`` is added to the TTFT per prompt token not found in the prefix
    cache of ``prefix_cache_blocks`` blocks of ``prefix_block_tokens`` tokens (0 blocks: none).
    ``kv_cache_tokens`` sizes the KV cache that ``/metrics`` models (0: from
    ``max_concurrency``); it admits and delays nothing. ``image_tokens`` is what each
    ``image_url`` part of a chat message adds to the prompt tokens; each ``input_audio`` part
    adds ``audio_tokens_per_second`` per second of its WAV clip (rounded up).
    ``embedding_dim`` is the length of the vectors ``/v1/embeddings`` returns.

    ``models`` (several names: a base model and its LoRA adapters, say) is the served list
    when given, its first name the default (``model`` becomes it); empty, ``model`` alone is
    served. ``model_timing`` maps a served name to overrides of :data:`MODEL_TIMING_KEYS`
    for its requests (:meth:`for_model`), so adapters can be slower than their base.
    """

    ttft_ms: float = 50.0
    ttft_ms_std: float = 0.0
    itl_ms: float = 10.0
    itl_ms_std: float = 0.0
    output_tokens: int = 128
    output_tokens_std: float = 0.0
    model: str = DEFAULT_MODEL
    models: list[str] = field(default_factory=list)
    model_timing: dict[str, dict[str, float]] = field(default_factory=dict)
    seed: int = 0
    reasoning_tokens: int = 0
    max_concurrency: int = 0
    prefill_ms_per_token: float = 0.0
    prefix_block_tokens: int = 16
    prefix_cache_blocks: int = 65536
    kv_cache_tokens: int = 0
    image_tokens: int = 256
    audio_tokens_per_second: float = 25.0
    embedding_dim: int = 16
    error_500_rate: float = 0.0
    error_429_rate: float = 0.0
    retry_after_s: int = 1
    reset_rate: float = 0.0
    malformed_rate: float = 0.0
    stall_rate: float = 0.0
    no_done_rate: float = 0.0

    def __post_init__(self) -> None:
        for name in ("ttft_ms", "ttft_ms_std", "itl_ms", "itl_ms_std", "output_tokens_std",
                     "prefill_ms_per_token", "audio_tokens_per_second"):  # fmt: skip
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise UserError(
                    f"Mock server: {name} must be a number >= 0, got {value!r}; "
                    f"pass e.g. {_flag(name)} 10."
                )
        for name in ("output_tokens", "reasoning_tokens", "max_concurrency", "retry_after_s",
                     "seed", "prefix_block_tokens", "prefix_cache_blocks",
                     "kv_cache_tokens", "image_tokens", "embedding_dim"):  # fmt: skip
            value = getattr(self, name)
            minimum = 1 if name in ("output_tokens", "prefix_block_tokens", "embedding_dim") else 0
            if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
                raise UserError(
                    f"Mock server: {name} must be an integer >= {minimum}, got {value!r}; "
                    f"pass e.g. {_flag(name)} {max(minimum, 1)}."
                )
        if not isinstance(self.model, str) or not self.model.strip():
            raise UserError("Mock server: model must be a non-empty name; pass e.g. --model m.")
        self._check_models()
        total = 0.0
        for fault in FAULTS:
            name = f"{fault}_rate"
            rate = getattr(self, name)
            if not isinstance(rate, (int, float)) or not 0.0 <= rate <= 1.0:
                raise UserError(
                    f"Mock server: {name} must be a probability in [0, 1], got {rate!r}; "
                    f"pass e.g. {_flag(name)} 0.05."
                )
            total += rate
        if total > 1.0 + 1e-9:
            raise UserError(
                f"Mock server: the fault rates add up to {total:g} > 1; lower some of them."
            )

    def _check_models(self) -> None:
        """Validate ``models`` and ``model_timing``; with ``models``, ``model`` is its first."""
        models: Any = self.models  # checked: it may come from JSON or a caller's tuple
        if isinstance(models, str) or not isinstance(models, (list, tuple)):
            raise UserError(
                f"Mock server: models must be a list of names, got {models!r}; "
                "pass e.g. --models base,adapter-a."
            )
        for name in models:
            if not isinstance(name, str) or not name.strip():
                raise UserError(
                    f"Mock server: models must be non-empty names, got {name!r}; "
                    "pass e.g. --models base,adapter-a."
                )
        twice = sorted({name for name in models if models.count(name) > 1})
        if twice:
            raise UserError(f"Mock server: models names {', '.join(twice)} more than once.")
        if models:
            if self.model not in (DEFAULT_MODEL, models[0]):
                raise UserError(
                    f"Mock server: --model {self.model} and --models {','.join(models)} "
                    "disagree; the first of --models is the default model, drop --model."
                )
            object.__setattr__(self, "models", list(models))
            object.__setattr__(self, "model", models[0])
        timing = self.model_timing
        if not isinstance(timing, Mapping):
            raise UserError(
                f"Mock server: model_timing must map model names to settings, got {timing!r}."
            )
        served = self.served_models
        for name, overrides in timing.items():
            if name not in served:
                raise UserError(
                    f"Mock server: --model-timing names `{name}`, which is not served; "
                    f"served: {', '.join(served)}."
                )
            if not isinstance(overrides, Mapping):
                raise UserError(
                    f"Mock server: --model-timing for `{name}` must be settings, "
                    f"got {overrides!r}; pass e.g. --model-timing {name}:ttft_ms=120."
                )
            for key, value in overrides.items():
                if key not in MODEL_TIMING_KEYS:
                    raise UserError(
                        f"Mock server: --model-timing for `{name}` has unknown setting "
                        f"{key!r}; known: {', '.join(MODEL_TIMING_KEYS)}."
                    )
                if (
                    isinstance(value, bool)
                    or not isinstance(value, (int, float))
                    or not math.isfinite(value)
                    or value < 0
                ):
                    raise UserError(
                        f"Mock server: --model-timing {name}:{key} must be a number >= 0, "
                        f"got {value!r}; pass e.g. --model-timing {name}:{key}=10."
                    )
        object.__setattr__(self, "model_timing", {n: dict(o) for n, o in timing.items()})

    @property
    def served_models(self) -> tuple[str, ...]:
        """The names this server answers to, the default model first."""
        return tuple(self.models) or (self.model,)

    def for_model(self, name: str) -> MockServerConfig:
        """This config as one served model's requests see it: its name, its timing."""
        overrides: dict[str, Any] = self.model_timing.get(name, {})
        return replace(self, model=name, models=[], model_timing={}, **overrides)

    def to_dict(self) -> dict[str, Any]:
        """Plain fields, for JSON (the process mode passes the config this way)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MockServerConfig:
        """Build from :meth:`to_dict` output; unknown keys are a :class:`UserError`."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise UserError(
                f"Mock server: unknown setting(s) {', '.join(unknown)}; "
                f"known: {', '.join(sorted(known))}."
            )
        return cls(**dict(data))


@dataclass(frozen=True, slots=True)
class RequestPlan:
    """Everything decided for one generation request when it arrives.

    ``tokens`` is the whole stream (reasoning tokens first, ``reasoning`` of them). Token ``k``
    (0-based) is due ``ttft_s + k * itl_s`` after the request arrived. ``fault`` is one of
    :data:`FAULTS` or ``None``; ``fault_at`` is how many tokens are sent before a mid-stream
    fault strikes. A front end with a prefix cache adds the prefill time to ``ttft_s`` when
    the request starts, as only then is it known what the cache holds.
    """

    index: int
    ttft_s: float
    itl_s: float
    tokens: tuple[str, ...]
    reasoning: int
    fault: str | None
    fault_at: int

    @property
    def total(self) -> int:
        """Number of tokens (reasoning included), what ``usage.completion_tokens`` reports."""
        return len(self.tokens)

    def due(self, k: int) -> float:
        """Seconds after arrival when token ``k`` is due."""
        return self.ttft_s + k * self.itl_s

    @property
    def duration_s(self) -> float:
        """Seconds after arrival when the last token is due (the non-streaming answer time)."""
        return self.due(max(0, self.total - 1))


def _truncated_normal(rng: random.Random, mean: float, std: float, low: float) -> float:
    """A normal draw kept inside ``mean +- 3 std`` and above ``low`` (resampled, then clipped)."""
    if std <= 0:
        return max(mean, low)
    lo = max(low, mean - 3 * std)
    hi = mean + 3 * std
    for _ in range(8):
        value = rng.gauss(mean, std)
        if lo <= value <= hi:
            return value
    return min(max(mean, lo), hi)


def requested_max_tokens(body: Mapping[str, Any]) -> int | None:
    """``max_completion_tokens`` or ``max_tokens`` from a request body, if a positive int."""
    for key in ("max_completion_tokens", "max_tokens"):
        value = body.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return None


def plan_request(
    config: MockServerConfig,
    index: int,
    max_tokens: int | None = None,
    ignore_eos: bool = True,
    prefill_tokens: int = 0,
) -> RequestPlan:
    """Draw request ``index``'s timing, length, fault and text (deterministic per seed).

    ``prefill_tokens`` (the prompt tokens the prefix cache did not hold) lengthen the TTFT by
    ``prefill_ms_per_token`` each, on top of the draw.
    """
    rng = random.Random(config.seed * 4294967296 + index)
    u = rng.random()
    fault: str | None = None
    edge = 0.0
    for name in FAULTS:
        edge += getattr(config, f"{name}_rate")
        if u < edge:
            fault = name
            break
    ttft = _truncated_normal(rng, config.ttft_ms, config.ttft_ms_std, 0.0)
    ttft += config.prefill_ms_per_token * prefill_tokens
    itl = _truncated_normal(rng, config.itl_ms, config.itl_ms_std, 0.0)
    drawn = round(_truncated_normal(rng, config.output_tokens, config.output_tokens_std, 1.0))
    drawn = max(1, drawn)
    if max_tokens is not None:
        total = max_tokens if ignore_eos else min(drawn, max_tokens)
    else:
        total = drawn
    tokens = tuple(rng.choices(_TOKENS, k=total))
    fault_at = total // 2 if total >= 2 else total
    return RequestPlan(
        index=index,
        ttft_s=ttft / 1000.0,
        itl_s=itl / 1000.0,
        tokens=tokens,
        reasoning=min(config.reasoning_tokens, total),
        fault=fault,
        fault_at=fault_at,
    )


def _pieces(text: str) -> int:
    return len(PIECE.findall(text))


def count_prompt_tokens(
    body: Mapping[str, Any], image_tokens: int = 0, audio_rate: float = 0.0
) -> int:
    """Approximate prompt tokens of a request body (the approximate tokenizer's rule), plus
    ``image_tokens`` per ``image_url`` part of a message and ``audio_rate`` per second of
    each ``input_audio`` part."""
    prompt = body.get("prompt")
    if isinstance(prompt, str):
        return _pieces(prompt)
    if isinstance(prompt, list):
        if all(isinstance(p, str) for p in prompt):
            return sum(_pieces(p) for p in prompt)
        return len(prompt)  # a list of token ids
    count = 0
    messages = body.get("messages")
    if isinstance(messages, list):
        for message in messages:
            content = message.get("content") if isinstance(message, dict) else None
            if isinstance(content, str):
                count += _pieces(content)
            elif isinstance(content, list):
                for part in content:
                    if not isinstance(part, dict):
                        continue
                    if isinstance(part.get("text"), str):
                        count += _pieces(part["text"])
                    elif part.get("type") in ("image_url", "image"):  # OpenAI, Anthropic
                        count += image_tokens
                    elif part.get("type") == "input_audio":
                        count += audio_part_tokens(part, audio_rate)
    return count


class CapacityGate:
    """At most ``limit`` requests generating at once (0: no limit); the others wait in order.

    ``enter(start)`` calls ``start(False)`` now if a slot is free, else ``start(True)`` when
    one frees up (``True``: it waited, so its clock starts now). ``start`` returns False when
    its request is gone meanwhile (client disconnected), which gives the slot back at once.
    Every started request must call ``leave()`` exactly once.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.active = 0
        self.waiting: deque[Callable[[bool], bool]] = deque()

    def enter(self, start: Callable[[bool], bool]) -> None:
        """Start now, or queue behind the requests already waiting."""
        if self.limit <= 0 or (self.active < self.limit and not self.waiting):
            self.active += 1
            if not start(False):
                self.leave()
        else:
            self.waiting.append(start)

    def leave(self) -> None:
        """A request finished: give its slot to the next waiting one that is still there."""
        self.active -= 1
        while self.waiting and self.active < self.limit:
            start = self.waiting.popleft()
            self.active += 1
            if not start(True):
                self.active -= 1
