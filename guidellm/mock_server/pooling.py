"""The mock server's pooling routes: ``POST /v1/embeddings`` and ``POST /v1/rerank``.

A pooling request is prefill only: it takes a ``max_concurrency`` slot like a generation, waits
its drawn time to first token (``ttft_ms``, plus ``prefill_ms_per_token`` per prompt token; no
prefix cache) and answers with one JSON body, never streamed. The 500 and 429 faults apply;
the mid-stream ones (reset, malformed, stall, no_done) do not.

* embeddings: ``input`` is a string or a list of strings; one deterministic unit vector of
  ``embedding_dim`` numbers per input (the same text gives the same vector);
* rerank: ``query`` and ``documents`` (strings, or objects with a ``text``); a score per
  document (the share of the query's words it holds, plus a small deterministic tie-break),
  sorted best first and cut to ``top_n`` when given.

``usage.prompt_tokens`` counts tokens as the generation routes do (the approximate
tokenizer's rule): the inputs for embeddings; for rerank the query once per document plus
the documents, as a cross-encoder reads one (query, document) pair per document.
``/metrics`` counts a pooling request like a generation that stopped normally: its prompt
tokens in ``vllm:prompt_tokens_total``, a ``finished_reason="stop"`` success, its queue time
and end-to-end latency (no TTFT or inter-token observations: it has no tokens).
"""

from __future__ import annotations

import hashlib
import math
import struct
import time
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import orjson

from guidellm.mock_server.behavior import PIECE, plan_request
from guidellm.mock_server.http_framing import error_body
from guidellm.mock_server.metrics import RunningRequest

if TYPE_CHECKING:
    from guidellm.mock_server.behavior import RequestPlan
    from guidellm.mock_server.http_framing import Request
    from guidellm.mock_server.http_server import MockHTTPState, _Connection
    from guidellm.mock_server.models import ServedModel

__all__ = ["POOLING_ROUTES", "embedding", "pooling_texts", "rerank_results", "serve_pooling"]

#: Route -> pooling kind.
POOLING_ROUTES = {b"/v1/embeddings": "embeddings", b"/v1/rerank": "rerank"}


def _tokens(text: str) -> int:
    return len(PIECE.findall(text))


def embedding(text: str, dim: int) -> list[float]:
    """A deterministic unit vector of ``dim`` numbers for ``text``."""
    values: list[float] = []
    counter = 0
    seed = text.encode()
    while len(values) < dim:
        digest = hashlib.blake2b(seed + counter.to_bytes(4, "little"), digest_size=64).digest()
        values.extend(x / 2**31 - 1.0 for x in struct.unpack("<16I", digest))
        counter += 1
    values = values[:dim]
    norm = math.sqrt(sum(v * v for v in values)) or 1.0
    return [round(v / norm, 6) for v in values]


def rerank_results(query: str, documents: list[str], top_n: int | None) -> list[dict[str, Any]]:
    """Scores of ``documents`` for ``query``, best first (see the module docstring)."""
    wanted = set(query.lower().split())
    results = []
    for index, doc in enumerate(documents):
        words = set(doc.lower().split())
        overlap = len(wanted & words) / len(wanted) if wanted else 0.0
        tie = hashlib.blake2b(doc.encode(), digest_size=2).digest()
        score = overlap + int.from_bytes(tie, "little") / 2**16 / 1000
        results.append({"index": index, "relevance_score": round(score, 6)})
    results.sort(key=lambda r: -r["relevance_score"])
    return results[:top_n] if top_n is not None else results


def pooling_texts(kind: str, body: dict[str, Any]) -> tuple[list[str], str | None] | str:
    """The texts of a pooling body (and rerank's query), or an error message."""
    if kind == "embeddings":
        data = body.get("input")
        if isinstance(data, str):
            data = [data]
        if not isinstance(data, list) or not data or not all(isinstance(t, str) for t in data):
            return "'input' (a string or a non-empty list of strings) is required"
        return data, None
    query = body.get("query")
    docs = body.get("documents")
    if not isinstance(query, str):
        return "'query' (a string) is required"
    if not isinstance(docs, list) or not docs:
        return "'documents' (a non-empty list) is required"
    texts = [d.get("text") if isinstance(d, dict) else d for d in docs]
    if not all(isinstance(t, str) for t in texts):
        return "'documents' must be strings or objects with a 'text'"
    return texts, query  # type: ignore[return-value]


def serve_pooling(conn: _Connection, state: MockHTTPState, req: Request, kind: str) -> None:
    """Answer one pooling request on ``conn``."""
    keep = req.keep_alive

    def fail(message: str, status: int = 400, kind_: str = "invalid_request_error") -> None:
        conn._write_simple(status, error_body(message, kind_, status), keep)
        conn._finish(keep)

    try:
        body = orjson.loads(req.body)
    except orjson.JSONDecodeError as exc:
        fail(f"request body is not valid JSON: {exc}")
        return
    if not isinstance(body, dict):
        fail("request body must be a JSON object")
        return
    model = state.models.resolve(body.get("model"))
    if model is None:
        fail(state.models.unknown(body.get("model")), 404, "not_found")
        return
    config = model.config
    parsed = pooling_texts(kind, body)
    if isinstance(parsed, str):
        fail(parsed)
        return
    texts, query = parsed
    top_n = body.get("top_n")
    if top_n is not None and (isinstance(top_n, bool) or not isinstance(top_n, int) or top_n < 1):
        fail("'top_n' must be a positive integer")
        return
    prompt_tokens = sum(_tokens(t) for t in texts)
    if query is not None:
        prompt_tokens += len(texts) * _tokens(query)
    plan = replace(plan_request(config, state.arrived(model), 1, True), tokens=(), reasoning=0)
    if conn._injected_error(plan.fault, config.retry_after_s, keep):
        return

    def answer(job: RunningRequest) -> dict[str, Any]:
        out: dict[str, Any] = {"id": f"pool-{job.plan.index}", "model": model.name}
        if query is None:
            out["object"] = "list"
            out["data"] = [
                {"object": "embedding", "index": i, "embedding": embedding(t, config.embedding_dim)}
                for i, t in enumerate(texts)
            ]
        else:
            out["results"] = rerank_results(query, texts, top_n)
        out["usage"] = {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens}
        return out

    admit_whole(
        conn,
        req,
        plan,
        prompt_tokens,
        model,
        held_tokens=prompt_tokens,
        answer=answer,
        keep=keep,
    )


def admit_whole(
    conn: Any,
    req: Request,
    plan: RequestPlan,
    prompt_tokens: int,
    model: ServedModel,
    *,
    held_tokens: int,
    answer: Callable[[RunningRequest], dict[str, Any]],
    keep: bool,
) -> None:
    """Run a request whose answer goes out whole (pooling, transcriptions): through the
    ``max_concurrency`` gate, holding ``held_tokens`` of the KV cache; after its TTFT (plus
    ``model``'s prefill time per prompt token) ``answer`` gives the JSON body sent back."""
    state = conn.state
    config = model.config
    received = req.arrival

    def respond(job: RunningRequest) -> None:
        if conn.closed:
            return
        conn._write_simple(200, orjson.dumps(answer(job)), keep)
        job.series.pooled(queue_s=job.queue_s, e2e_s=time.monotonic() - job.received)
        conn._release()
        conn._finish(keep)

    def start(waited: bool) -> bool:
        if conn.closed:
            return False
        if waited:
            req.arrival = time.monotonic()
        state.metrics.started(held_tokens)
        run = plan
        if config.prefill_ms_per_token:
            run = replace(
                plan, ttft_s=plan.ttft_s + config.prefill_ms_per_token * prompt_tokens / 1e3
            )
        job = RunningRequest(req, run, prompt_tokens, received, model.series)
        conn.job = job
        state.scheduler.call_at(req.arrival + run.ttft_s, respond, job)
        return True

    state.gate.enter(start)
