"""Pooling requests of the ``openai_http`` backend: embeddings and rerank.

A pooling request sends texts and gets one answer back, never streamed: there is no first
token, so its result has a latency and prompt tokens but no TTFT or ITL (docs/metrics.md).

``request_format=embeddings`` posts ``/v1/embeddings`` with ``{"model", "input": [...]}``;
``request_format=rerank`` posts ``/v1/rerank`` with ``{"model", "query", "documents": [...],
"top_n"}`` (vLLM, llama.cpp and Infinity answer that path). Where the texts come from, until
the data side has columns for them:

* embeddings: the request's prompt (its messages' text joined, for chat data) is cut into
  ``batch_size`` inputs of about the same number of words (default 1: the whole prompt);
* rerank: the prompt's first sentence is the query when it ends within the first half of the
  words, else its first fifth of the words (at least one); the rest is cut into
  ``batch_size`` documents (default 4) the same way.

A text with fewer words than pieces wanted gives one word per piece, cycling through them, so
a request always sends exactly ``batch_size`` inputs or documents.

The answer: embeddings' ``data`` must hold one item per input; rerank's ``results`` at most
one item per document, each with an ``index`` among them and a numeric ``relevance_score``;
anything else is a ``protocol`` error, an ``error`` object a ``server_error``. The prompt
tokens come from ``usage.prompt_tokens``, else ``usage.total_tokens`` (no output tokens), else
``meta.billed_units.input_tokens`` or ``meta.tokens.input_tokens`` (Cohere's shape).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from guidellm.backends.openai_chunks import json_answer
from guidellm.errors import BadResponseError, RequestError

if TYPE_CHECKING:
    from guidellm.request import GenerationRequest, ResponseRecorder

__all__ = [
    "DEFAULT_BATCH",
    "POOLING_PATHS",
    "PoolingFormat",
    "join_contents",
    "rerank_texts",
    "split_words",
]

#: ``request_format`` -> endpoint path of the pooling formats.
POOLING_PATHS = {"embeddings": "/v1/embeddings", "rerank": "/v1/rerank"}
#: ``batch_size`` when not given: inputs per embeddings request, documents per rerank request.
DEFAULT_BATCH = {"embeddings": 1, "rerank": 4}
_SENTENCE_END = re.compile(r"[.!?](?=\s)")


def join_contents(messages: list[dict[str, Any]]) -> str:
    """Chat messages as one text (text parts only)."""
    parts: list[str] = []
    for message in messages:
        content = message.get("content")
        if isinstance(content, str):
            parts.append(content)
        elif isinstance(content, list):
            parts.extend(
                str(p.get("text", "")) for p in content if isinstance(p, dict) and "text" in p
            )
    return "\n".join(parts)


def split_words(words: list[str], pieces: int) -> list[str]:
    """``words`` cut into ``pieces`` texts of about the same number of words, in order; with
    fewer words than pieces, one word per piece, cycling."""
    n = len(words)
    if n < pieces:
        return [words[i % n] for i in range(pieces)]
    return [" ".join(words[i * n // pieces : (i + 1) * n // pieces]) for i in range(pieces)]


def rerank_texts(text: str, documents: int) -> tuple[str, list[str]]:
    """The query and ``documents`` documents made from one prompt (module docstring)."""
    words = text.split()
    if len(words) < 2:
        raise RequestError("rerank needs a prompt of at least 2 words (a query and documents)")
    match = _SENTENCE_END.search(text)
    head = len(text[: match.end()].split()) if match else 0
    if not 0 < head <= len(words) // 2:
        head = max(1, len(words) // 5)
    return " ".join(words[:head]), split_words(words[head:], documents)


def _prompt_tokens(obj: dict[str, Any]) -> int | None:
    """``usage.prompt_tokens``, else ``usage.total_tokens``, else Cohere's ``meta`` counts."""
    usage = obj.get("usage")
    if isinstance(usage, dict):
        for key in ("prompt_tokens", "total_tokens", "input_tokens"):
            value = usage.get(key)
            if value.__class__ is int:
                return value
    meta = obj.get("meta")
    if isinstance(meta, dict):
        for key in ("billed_units", "tokens"):
            part = meta.get(key)
            value = part.get("input_tokens") if isinstance(part, dict) else None
            if value.__class__ is int:
                return value
    return None


class PoolingFormat:
    """Builds the bodies and reads the answers of one pooling format (``embeddings`` or
    ``rerank``) with ``batch`` inputs or documents per request."""

    def __init__(self, kind: str, batch: int) -> None:
        import orjson

        if kind not in POOLING_PATHS:
            raise ValueError(f"not a pooling format: {kind!r}")
        self.kind = kind
        self.batch = batch
        self.path = POOLING_PATHS[kind]
        self.dumps = orjson.dumps

    def body(
        self, request: GenerationRequest, model: str | None, extra: dict[str, Any] | None
    ) -> bytes:
        """The JSON body of ``request``; ``extra`` (``extra_body``) is merged last."""
        if request.prompt is not None:
            text = request.prompt
        elif request.messages is not None:
            text = join_contents(request.messages)
        else:
            raise RequestError(f"request {request.request_id} has no prompt or messages")
        body: dict[str, Any] = {}
        if model is not None:
            body["model"] = model
        if self.kind == "embeddings":
            words = text.split()
            if not words:
                raise RequestError(f"request {request.request_id} has an empty prompt")
            body["input"] = split_words(words, self.batch)
        else:
            body["query"], body["documents"] = rerank_texts(text, self.batch)
            body["top_n"] = self.batch
        if extra:
            body.update(extra)
        if request.extra_body:
            body.update(request.extra_body)
        return self.dumps(body)

    def read(self, body: bytes, arrived: float, recorder: ResponseRecorder) -> None:
        """Check a whole answer and record it (prompt tokens, inputs, end time)."""
        obj = json_answer(body)
        if self.kind == "embeddings":
            self._check_embeddings(obj)
        else:
            self._check_rerank(obj)
        recorder.usage(_prompt_tokens(obj), 0, None, None)
        recorder.complete(self.batch, arrived)

    def _check_embeddings(self, obj: dict[str, Any]) -> None:
        data = obj.get("data")
        if not isinstance(data, list):
            raise BadResponseError("embeddings response without a 'data' list")
        if len(data) != self.batch:
            raise BadResponseError(
                f"embeddings response has {len(data)} items for {self.batch} inputs"
            )
        if not all(isinstance(item, dict) and "embedding" in item for item in data):
            raise BadResponseError("embeddings response item without an 'embedding'")

    def _check_rerank(self, obj: dict[str, Any]) -> None:
        results = obj.get("results")
        if not isinstance(results, list):
            raise BadResponseError("rerank response without a 'results' list")
        if len(results) > self.batch:
            raise BadResponseError(
                f"rerank response has {len(results)} results for {self.batch} documents"
            )
        for item in results:
            index = item.get("index") if isinstance(item, dict) else None
            score = item.get("relevance_score") if isinstance(item, dict) else None
            if index.__class__ is not int or not 0 <= index < self.batch:
                raise BadResponseError(f"rerank result with a bad 'index': {item!r:.80}")
            if score.__class__ not in (int, float):
                raise BadResponseError(f"rerank result without a 'relevance_score': {item!r:.80}")
