"""The mock server's Prometheus ``/metrics``: vLLM's metric names, with values true to what it did.

A benchmark may scrape its target's ``/metrics`` and check the server's counters against the
client's own counts; against the mock the two must agree exactly, and a dashboard built for
vLLM must work unchanged. So :class:`MockMetrics` keeps the counters and histograms vLLM (V1)
exposes, under its names and with its ``model_name`` label (one set per served model, the
gauges once, for the engine the models share), fed by the HTTP front end as
requests start and end (from the server's loop only: plain ints, no locks), and renders them in
the Prometheus text format 0.0.4. The gauges (running, waiting, KV-cache usage) are not kept
here: the caller reads them from live state at each scrape and passes them to :meth:`render`.

KV-cache usage is a model (docs/mock-server.md): a running request holds its prompt tokens
plus the tokens it has generated so far; usage is the tokens held by all running requests over
a capacity of ``kv_cache_tokens``, or, when that is 0, ``max_concurrency`` slots each as large
as the largest request (prompt + output tokens) started so far, or, when both are 0,
:data:`DEFAULT_KV_CACHE_TOKENS`; clipped to 1.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence

from guidellm.mock_server.behavior import RequestPlan
from guidellm.mock_server.http_framing import Request

__all__ = [
    "DEFAULT_KV_CACHE_TOKENS",
    "ITL_BUCKETS",
    "REQUEST_LATENCY_BUCKETS",
    "TTFT_BUCKETS",
    "Histogram",
    "MockMetrics",
    "ModelSeries",
    "RunningRequest",
]

#: Bucket upper bounds in seconds, those of vLLM V1 (so that quantiles compare like for like).
TTFT_BUCKETS: tuple[float, ...] = (
    0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5,
    10.0, 20.0, 40.0, 80.0, 160.0, 640.0, 2560.0,
)  # fmt: skip
ITL_BUCKETS: tuple[float, ...] = (
    0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
    20.0, 40.0, 80.0,
)  # fmt: skip
REQUEST_LATENCY_BUCKETS: tuple[float, ...] = (
    0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0, 120.0,
    240.0, 480.0, 960.0, 1920.0, 7680.0,
)  # fmt: skip
#: The modelled KV cache's size in tokens when neither kv_cache_tokens nor max_concurrency is set.
DEFAULT_KV_CACHE_TOKENS = 262_144


class Histogram:
    """A Prometheus histogram: per-bucket counts (the last one is ``+Inf``), count and sum."""

    __slots__ = ("bounds", "count", "counts", "sum")

    def __init__(self, bounds: Sequence[float]) -> None:
        self.bounds = tuple(bounds)
        self.counts = [0] * (len(self.bounds) + 1)
        self.count = 0
        self.sum = 0.0

    def observe(self, value: float, times: int = 1) -> None:
        """``times`` observations of ``value`` (a bucket holds values <= its bound)."""
        if times > 0:
            self.counts[bisect_left(self.bounds, value)] += times
            self.count += times
            self.sum += value * times

    def add(self, counts: Sequence[int], total: float) -> None:
        """Merge observations gathered elsewhere in the same buckets (``counts``, their sum)."""
        mine = self.counts
        for i, n in enumerate(counts):
            mine[i] += n
        self.count += sum(counts)
        self.sum += total


def _escape(value: str) -> bytes:
    """A label value as the text format wants it (backslash, double quote, newline escaped)."""
    text = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return text.encode()


def _number(value: float) -> bytes:
    return b"%d" % value if isinstance(value, int) else repr(float(value)).encode()


class ModelSeries:
    """One served model's counters and histograms (its ``model_name`` label).

    The front end adds to them as it goes: :attr:`requests` when a request with a valid body
    arrives, :attr:`prefix_queries` and :attr:`prefix_hits` when a request is looked up in
    the prefix cache, :attr:`prompt_tokens` and :attr:`generation_tokens` when a request that
    got a slot ends (finished, faulted or cut off by its client), :meth:`succeeded` for a
    request that completed normally (:meth:`pooled` for an answer without tokens).
    """

    __slots__ = (
        "e2e",
        "generation_tokens",
        "itl",
        "label",
        "prefix_hits",
        "prefix_queries",
        "prompt_tokens",
        "queue",
        "requests",
        "success_length",
        "success_stop",
        "ttft",
    )

    def __init__(self, model: str) -> None:
        self.label = b'model_name="' + _escape(model) + b'"'
        self.requests = 0
        self.prompt_tokens = 0
        self.generation_tokens = 0
        self.success_stop = 0
        self.success_length = 0
        self.prefix_queries = 0
        self.prefix_hits = 0
        self.ttft = Histogram(TTFT_BUCKETS)
        self.itl = Histogram(ITL_BUCKETS)
        self.e2e = Histogram(REQUEST_LATENCY_BUCKETS)
        self.queue = Histogram(REQUEST_LATENCY_BUCKETS)

    def succeeded(self, *, length: bool, queue_s: float, ttft_s: float, e2e_s: float) -> None:
        """A request completed normally (``length``: it stopped at ``max_tokens``).

        Its inter-token gaps go to :attr:`itl` separately (:meth:`Histogram.observe` or
        :meth:`Histogram.add`), as only the front end knows them.
        """
        if length:
            self.success_length += 1
        else:
            self.success_stop += 1
        self.queue.observe(queue_s)
        self.ttft.observe(ttft_s)
        self.e2e.observe(e2e_s)

    def pooled(self, *, queue_s: float, e2e_s: float) -> None:
        """A pooling request (embeddings, rerank) completed: a ``stop`` success with no
        tokens, so no TTFT or inter-token observation."""
        self.success_stop += 1
        self.queue.observe(queue_s)
        self.e2e.observe(e2e_s)


class MockMetrics:
    """What one HTTP mock server counted, and its ``/metrics`` text.

    The counters and histograms are kept per served model (:attr:`series`, by name), as vLLM
    labels them with ``model_name``; the gauges describe the one engine all models share, so
    they carry the default model's label (the first of ``models``), as vLLM's do for LoRA
    adapters running on its base model.
    """

    def __init__(
        self, models: Sequence[str], *, max_concurrency: int = 0, kv_cache_tokens: int = 0
    ) -> None:
        self.series = {name: ModelSeries(name) for name in models}
        self.default = self.series[models[0]]
        self.max_concurrency = max_concurrency
        self.kv_cache_tokens = kv_cache_tokens
        #: prompt + output tokens of the largest request started (sizes the modelled KV slots)
        self.largest_request = 0

    def started(self, request_tokens: int) -> None:
        """A request got a slot; ``request_tokens`` = its prompt + output tokens."""
        self.largest_request = max(self.largest_request, request_tokens)

    def kv_capacity(self) -> int:
        """The modelled KV cache's size in tokens (see the module's docstring)."""
        if self.kv_cache_tokens > 0:
            return self.kv_cache_tokens
        if self.max_concurrency > 0:
            return self.max_concurrency * self.largest_request
        return DEFAULT_KV_CACHE_TOKENS

    def kv_usage(self, held_tokens: int) -> float:
        """The fraction of the modelled KV cache that ``held_tokens`` fill, at most 1."""
        capacity = self.kv_capacity()
        if held_tokens <= 0 or capacity <= 0:
            return 0.0
        return min(1.0, held_tokens / capacity)

    def render(self, *, running: int, waiting: int, held_tokens: int) -> bytes:
        """The exposition: ``running`` requests past the ``max_concurrency`` gate,
        ``waiting`` at it, ``held_tokens`` in their KV cache; then every model's series."""
        out: list[bytes] = []
        every = tuple(self.series.values())

        def family(name: bytes, kind: bytes, text: bytes) -> None:
            out.append(b"# HELP %s %s\n# TYPE %s %s\n" % (name, text, name, kind))

        def sample(name: bytes, value: float, label: bytes, extra: bytes = b"") -> None:
            out.append(b"%s{%s%s} %s\n" % (name, extra, label, _number(value)))

        for name, value, text in (
            (b"vllm:num_requests_running", running,
             b"Requests generating now (past the max_concurrency gate)."),
            (b"vllm:num_requests_waiting", waiting,
             b"Requests queued behind max_concurrency."),
            (b"vllm:kv_cache_usage_perc", self.kv_usage(held_tokens),
             b"Modelled KV-cache usage: tokens held by running requests / capacity (0..1)."),
        ):  # fmt: skip
            family(name, b"gauge", text)
            sample(name, value, self.default.label)
        for name, attr, text in (
            (b"vllm:prompt_tokens_total", "prompt_tokens",
             b"Prompt tokens of the requests that got a slot and ended."),
            (b"vllm:generation_tokens_total", "generation_tokens",
             b"Output tokens sent, counted when a request ends or is cut off."),
            (b"vllm:prefix_cache_queries_total", "prefix_queries",
             b"Prefix cache queries, in prompt tokens looked up."),
            (b"vllm:prefix_cache_hits_total", "prefix_hits",
             b"Prefix cache hits, in cached prompt tokens reported."),
            (b"vllm:num_preemptions_total", None, b"Preemptions (the mock never preempts)."),
            (b"guidellm_mock_requests_total", "requests",
             b"Generation and pooling requests received with a valid body, faulted ones included."),
        ):  # fmt: skip
            family(name, b"counter", text)
            for series in every:
                sample(name, getattr(series, attr) if attr else 0, series.label)
        name = b"vllm:request_success_total"
        family(name, b"counter", b"Requests that completed normally, by finish_reason.")
        for series in every:
            sample(name, series.success_length, series.label, b'finished_reason="length",')
            sample(name, series.success_stop, series.label, b'finished_reason="stop",')
        for name, attr, text in (
            (b"vllm:time_to_first_token_seconds", "ttft",
             b"Request read to first token written, successful requests."),
            (b"vllm:inter_token_latency_seconds", "itl",
             b"Gaps between tokens written, successful requests."),
            (b"vllm:e2e_request_latency_seconds", "e2e",
             b"Request read to last byte written, successful requests."),
            (b"vllm:request_queue_time_seconds", "queue",
             b"Time waiting at the max_concurrency gate, successful requests."),
        ):  # fmt: skip
            family(name, b"histogram", text)
            for series in every:
                hist: Histogram = getattr(series, attr)
                cumulative = 0
                for bound, n in zip((*hist.bounds, None), hist.counts, strict=True):
                    cumulative += n
                    le = b"+Inf" if bound is None else repr(bound).encode()
                    sample(name + b"_bucket", cumulative, series.label, b'le="%s",' % le)
                sample(name + b"_sum", hist.sum, series.label)
                sample(name + b"_count", hist.count, series.label)
        return b"".join(out)


class RunningRequest:
    """A request that holds a ``max_concurrency`` slot, as ``/metrics`` sees it.

    ``received``: when the server read it; ``req.arrival``: when it got its slot (its token
    clock's origin). A non-streaming answer generates by its schedule and returns its tokens
    only when it is written whole (``sent``); a stream (``http_server._Stream``) counts what
    it wrote. ``series`` is its model's counters, which it adds to when it ends.
    """

    __slots__ = ("plan", "prompt_tokens", "queue_s", "received", "req", "sent", "series")

    def __init__(
        self,
        req: Request,
        plan: RequestPlan,
        prompt_tokens: int,
        received: float,
        series: ModelSeries,
    ) -> None:
        self.req = req
        self.series = series
        self.plan = plan
        self.prompt_tokens = prompt_tokens
        self.received = received
        self.queue_s = req.arrival - received
        self.sent = 0

    def generated(self, now: float) -> int:
        """Output tokens generated by ``now`` (they hold KV-cache room)."""
        plan = self.plan
        since = now - self.req.arrival - plan.ttft_s
        if since < 0:
            return 0
        if plan.itl_s <= 0:
            return plan.total
        return min(plan.total, int(since / plan.itl_s) + 1)

    def returned(self) -> int:
        """Output tokens the client was sent (``vllm:generation_tokens_total``)."""
        return self.sent
