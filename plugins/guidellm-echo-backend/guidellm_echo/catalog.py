"""The ``acme-gateway`` metrics catalog: what an in-house LLM gateway's ``/metrics`` mean.

ACME's gateway sits in front of the model servers: clients talk to it, it queues, routes and
answers from its own prompt cache. Benchmark through it and scrape its ``/metrics``
(``--server-metrics``): with this catalog the report reads its numbers like a server's.
"""

from __future__ import annotations

from guidellm import ServerCatalog

__all__ = ["AcmeGateway"]


class AcmeGateway(ServerCatalog):
    """ACME's gateway, versions 1 and 2 (2.0 renamed its request counter)."""

    name = "acme-gateway"
    # Any one of these in a scrape says "this is the gateway": names no other server uses.
    signature = ("acme_requests_inflight", "acme_completion_tokens_total")
    metrics = {
        "requests_running": ("acme_requests_inflight",),
        "requests_waiting": ("acme_requests_queued",),
        # The first name present wins: 2.x, then 1.x.
        "requests": ("acme_requests_completed_total", "acme_requests_total"),
        "requests_failed": ("acme_requests_failed_total",),
        # It counts the prompt tokens it answered from its cache apart from those it forwarded.
        "prompt_tokens": (
            "acme_prompt_tokens_total+acme_prompt_tokens_cached_total",
            "acme_prompt_tokens_total",
        ),
        "prefix_cache_hits": ("acme_prompt_tokens_cached_total",),
        "generation_tokens": ("acme_completion_tokens_total",),
        "ttft": ("acme_ttft_seconds",),
        "e2e_latency": ("acme_request_duration_milliseconds",),
    }
    scale = {"e2e_latency": 1e-3}  # milliseconds to the seconds every histogram is read in
    notes = ("acme-gateway sees no KV cache: scrape the model servers behind it for that",)
