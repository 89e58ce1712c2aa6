"""Which metric means what on each inference server.

Servers name the same things differently (vLLM's ``vllm:num_requests_waiting`` is SGLang's
``sglang:num_queue_reqs`` and TGI's ``tgi_queue_size``). A :class:`ServerCatalog` maps the
common meanings in :data:`MEANINGS` onto one server's sample names, so the report can say
"requests waiting" whatever the server. Catalogs are plugins (``register_server_metrics``):
a third party teaches the tool a new server the way it adds a backend. A server no catalog
knows still has every series kept raw.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import ClassVar

from guidellm.hookspecs import Register, hookimpl

__all__ = [
    "MEANINGS",
    "Meaning",
    "ServerCatalog",
    "detect",
    "register_server_metrics",
]


@dataclass(frozen=True)
class Meaning:
    """One common meaning: its kind (``gauge``, ``counter``, ``histogram``), unit and label."""

    kind: str
    unit: str
    label: str
    #: Several series of a gauge (engines, replicas) add up (``sum``) or are averaged.
    combine: str = "sum"


#: The vocabulary every catalog maps onto. Histograms are in seconds; ratios in 0..1.
MEANINGS: dict[str, Meaning] = {
    "requests_running": Meaning("gauge", "requests", "requests running"),
    "requests_waiting": Meaning("gauge", "requests", "requests waiting"),
    "kv_cache_usage": Meaning("gauge", "ratio", "KV-cache usage", combine="mean"),
    "prefix_cache_hit_ratio": Meaning("gauge", "ratio", "prefix-cache hit ratio", "mean"),
    "requests": Meaning("counter", "requests", "requests finished"),
    "requests_failed": Meaning("counter", "requests", "requests failed"),
    "prompt_tokens": Meaning("counter", "tokens", "prompt tokens"),
    "generation_tokens": Meaning("counter", "tokens", "generated tokens"),
    "prefix_cache_queries": Meaning("counter", "tokens", "prefix-cache queries"),
    "prefix_cache_hits": Meaning("counter", "tokens", "prefix-cache hits"),
    "preemptions": Meaning("counter", "requests", "preemptions"),
    "spec_draft_tokens": Meaning("counter", "tokens", "draft tokens"),
    "spec_accepted_tokens": Meaning("counter", "tokens", "accepted draft tokens"),
    "ttft": Meaning("histogram", "s", "TTFT"),
    "itl": Meaning("histogram", "s", "inter-token latency"),
    "tpot": Meaning("histogram", "s", "time per output token"),
    "e2e_latency": Meaning("histogram", "s", "request latency"),
    "queue_time": Meaning("histogram", "s", "queue time"),
}


class ServerCatalog:
    """How one server names its metrics.

    ``metrics`` maps a meaning of :data:`MEANINGS` to sample names (a counter's always end in
    ``_total``, added by the parser when the server leaves it out; a histogram by its base
    name), the first one present wins (servers rename
    metrics across versions); ``a+b`` adds two samples up (llama.cpp counts cached prompt
    tokens apart). ``scale`` converts to the meaning's unit (Triton's microseconds: 1e-6).
    ``signature``: sample names of which any one identifies the server; ``notes`` say what
    the server does not expose, for the report. ``model_label``: the label naming the model a
    series is about, when the server serves several: the benchmark's own model is read.
    """

    name: ClassVar[str] = ""
    model_label: ClassVar[str | None] = None
    signature: ClassVar[tuple[str, ...]] = ()
    metrics: ClassVar[dict[str, tuple[str, ...]]] = {}
    scale: ClassVar[dict[str, float]] = {}
    notes: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def matches(cls, names: Iterable[str]) -> bool:
        """Whether a scrape holding these sample (or family) names comes from this server."""
        wanted = set(cls.signature)
        return any(name in wanted for name in names)


class VLLM(ServerCatalog):
    name = "vllm"
    model_label = "model_name"
    signature = ("vllm:num_requests_running", "vllm:generation_tokens_total")
    metrics = {
        "requests_running": ("vllm:num_requests_running",),
        "requests_waiting": ("vllm:num_requests_waiting",),
        "kv_cache_usage": ("vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc"),
        "requests": ("vllm:request_success_total",),
        "prompt_tokens": ("vllm:prompt_tokens_total",),
        "generation_tokens": ("vllm:generation_tokens_total",),
        "prefix_cache_queries": (
            "vllm:prefix_cache_queries_total",
            "vllm:gpu_prefix_cache_queries_total",
        ),
        "prefix_cache_hits": ("vllm:prefix_cache_hits_total", "vllm:gpu_prefix_cache_hits_total"),
        "preemptions": ("vllm:num_preemptions_total",),
        "spec_draft_tokens": ("vllm:spec_decode_num_draft_tokens_total",),
        "spec_accepted_tokens": ("vllm:spec_decode_num_accepted_tokens_total",),
        "ttft": ("vllm:time_to_first_token_seconds",),
        "itl": ("vllm:inter_token_latency_seconds", "vllm:time_per_output_token_seconds"),
        "tpot": ("vllm:request_time_per_output_token_seconds",),
        "e2e_latency": ("vllm:e2e_request_latency_seconds",),
        "queue_time": ("vllm:request_queue_time_seconds",),
    }


class SGLang(ServerCatalog):
    name = "sglang"
    model_label = "model_name"
    signature = ("sglang:num_running_reqs", "sglang:generation_tokens_total")
    metrics = {
        "requests_running": ("sglang:num_running_reqs",),
        "requests_waiting": ("sglang:num_queue_reqs",),
        "kv_cache_usage": ("sglang:token_usage",),
        "prefix_cache_hit_ratio": ("sglang:cache_hit_rate",),
        "requests": ("sglang:num_requests_total",),
        "prompt_tokens": ("sglang:prompt_tokens_total",),
        "generation_tokens": ("sglang:generation_tokens_total",),
        "prefix_cache_hits": ("sglang:cached_tokens_total",),
        "preemptions": ("sglang:num_retracted_reqs_total",),
        "ttft": ("sglang:time_to_first_token_seconds",),
        "itl": ("sglang:inter_token_latency_seconds", "sglang:time_per_output_token_seconds"),
        "e2e_latency": ("sglang:e2e_request_latency_seconds",),
        "queue_time": ("sglang:queue_time_seconds",),
    }


class TGI(ServerCatalog):
    name = "tgi"
    signature = ("tgi_request_count_total", "tgi_queue_size", "tgi_batch_current_size")
    metrics = {
        "requests_running": ("tgi_batch_current_size",),
        "requests_waiting": ("tgi_queue_size",),
        "requests": ("tgi_request_success_total",),
        "requests_failed": ("tgi_request_failure_total",),
        # TGI counts tokens only as per-request histograms: their sums are the totals.
        "prompt_tokens": ("tgi_request_input_length_sum",),
        "generation_tokens": ("tgi_request_generated_tokens_sum",),
        "tpot": ("tgi_request_mean_time_per_token_duration",),
        "e2e_latency": ("tgi_request_duration",),
        "queue_time": ("tgi_request_queue_duration",),
    }
    notes = ("TGI exposes no TTFT histogram and no KV-cache usage",)


class LlamaCpp(ServerCatalog):
    name = "llamacpp"
    signature = ("llamacpp:tokens_predicted_total", "llamacpp:requests_processing")
    metrics = {
        "requests_running": ("llamacpp:requests_processing",),
        "requests_waiting": ("llamacpp:requests_deferred",),
        "kv_cache_usage": ("llamacpp:kv_cache_usage_ratio",),
        # Its prompt counter leaves out the tokens served from the cache, counted apart.
        "prompt_tokens": (
            "llamacpp:prompt_tokens_total+llamacpp:prompt_tokens_cached_total",
            "llamacpp:prompt_tokens_total",
        ),
        "generation_tokens": ("llamacpp:tokens_predicted_total",),
        "prefix_cache_hits": ("llamacpp:prompt_tokens_cached_total",),
        "spec_draft_tokens": ("llamacpp:spec_decode_num_draft_tokens_total",),
        "spec_accepted_tokens": ("llamacpp:spec_decode_num_accepted_tokens_total",),
    }
    notes = ("llama.cpp exposes no request counter and no latency histograms",)


class Triton(ServerCatalog):
    name = "triton"
    model_label = "model"
    signature = ("nv_inference_request_success_total", "nv_inference_count_total")
    metrics = {
        "requests_waiting": ("nv_inference_pending_request_count",),
        "requests": ("nv_inference_request_success_total",),
        "requests_failed": ("nv_inference_request_failure_total",),
        "ttft": ("nv_inference_first_response_histogram_ms",),
    }
    scale = {"ttft": 1e-3}
    notes = ("Triton counts inferences, not tokens",)


class MLServer(ServerCatalog):
    name = "mlserver"
    model_label = "model_name"
    signature = ("model_infer_request_success_total",)
    metrics = {
        "requests": ("model_infer_request_success_total",),
        "requests_failed": ("model_infer_request_failure_total",),
    }
    notes = ("MLServer counts inferences, not tokens",)


BUILTIN_CATALOGS: tuple[type[ServerCatalog], ...] = (VLLM, SGLang, TGI, LlamaCpp, Triton, MLServer)


@hookimpl
def register_server_metrics(register: Register[ServerCatalog]) -> None:
    for catalog in BUILTIN_CATALOGS:
        register(catalog)


def detect(
    catalogs: Iterable[type[ServerCatalog]], names: Iterable[str]
) -> type[ServerCatalog] | None:
    """The first catalog (in the order given) that recognises a scrape's sample names."""
    seen = set(names)
    for catalog in catalogs:
        if catalog.matches(seen):
            return catalog
    return None
