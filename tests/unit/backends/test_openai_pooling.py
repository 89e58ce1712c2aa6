"""Pooling requests (embeddings, rerank) of openai_http: the texts cut from a prompt, the
bodies, the answers checked (a bad one is a protocol error), and the options."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from guidellm.backends.openai_http import OpenAIHTTPBackend
from guidellm.backends.openai_pooling import PoolingFormat, rerank_texts, split_words
from guidellm.errors import BadResponseError, RequestError, ServerError, UserError
from guidellm.request import GenerationRequest, RequestStatus, ResponseRecorder

PROMPT = "What is a cat? A cat is a small animal that likes to sleep in the sun all day long"


def _body(fmt: PoolingFormat, **request: Any) -> dict[str, Any]:
    req = GenerationRequest("r1", **request)
    return orjson.loads(fmt.body(req, "m", None))  # type: ignore[no-any-return]


def test_split_words_keeps_every_word_in_order() -> None:
    words = ["a", "b", "c", "d", "e", "f", "g"]
    assert split_words(words, 3) == ["a b", "c d", "e f g"]
    assert split_words(words, 1) == ["a b c d e f g"]
    assert split_words(["x", "y"], 5) == ["x", "y", "x", "y", "x"]


def test_embeddings_body_cuts_the_prompt_into_batch_size_inputs() -> None:
    body = _body(PoolingFormat("embeddings", 4), prompt=PROMPT, max_tokens=9)
    assert body["model"] == "m"
    assert len(body["input"]) == 4
    assert " ".join(body["input"]) == " ".join(PROMPT.split())
    assert "max_tokens" not in body and "stream" not in body
    chat = _body(
        PoolingFormat("embeddings", 1), messages=[{"role": "user", "content": "hello there"}]
    )
    assert chat["input"] == ["hello there"]


def test_rerank_query_is_the_first_sentence_else_a_fifth_of_the_words() -> None:
    query, docs = rerank_texts(PROMPT, 4)
    assert query == "What is a cat?"
    assert len(docs) == 4 and " ".join(docs) == " ".join(PROMPT.split()[4:])
    words = " ".join(f"w{i}" for i in range(20))  # no sentence: 4 words of query
    query, docs = rerank_texts(words, 2)
    assert query == "w0 w1 w2 w3" and docs == [
        " ".join(f"w{i}" for i in range(4, 12)),
        " ".join(f"w{i}" for i in range(12, 20)),
    ]
    body = _body(PoolingFormat("rerank", 3), prompt=PROMPT)
    assert body["top_n"] == 3 and len(body["documents"]) == 3 and body["query"]
    with pytest.raises(RequestError):
        rerank_texts("one", 2)


def _read(fmt: PoolingFormat, answer: Any) -> ResponseRecorder:
    recorder = ResponseRecorder(GenerationRequest("r1", prompt=PROMPT), 1.0)
    recorder.start()
    raw = answer if isinstance(answer, bytes) else orjson.dumps(answer)
    fmt.read(raw, 5.0, recorder)
    return recorder


def test_a_good_answer_is_a_successful_result_without_a_first_token() -> None:
    fmt = PoolingFormat("embeddings", 2)
    answer = {"data": [{"embedding": [0.1]}, {"embedding": [0.2]}], "usage": {"total_tokens": 7}}
    result = _read(fmt, answer).finish(RequestStatus.SUCCESSFUL)
    assert result.prompt_tokens == 7 and result.output_tokens == 0
    assert result.inputs == 2 and result.request_end == 5.0
    assert result.first_token_time is None and result.chunk_times == []
    rerank = PoolingFormat("rerank", 3)
    answer = {
        "results": [{"index": 2, "relevance_score": 0.9}, {"index": 0, "relevance_score": 1}],
        "meta": {"billed_units": {"input_tokens": 11}},
    }
    assert _read(rerank, answer).finish(RequestStatus.SUCCESSFUL).prompt_tokens == 11
    usage = {"results": [], "usage": {"prompt_tokens": 4, "total_tokens": 9}}
    assert _read(rerank, usage).prompt_tokens == 4


@pytest.mark.parametrize(
    ("kind", "answer", "error"),
    [
        ("embeddings", b"{not json", BadResponseError),
        ("embeddings", [1, 2], BadResponseError),
        ("embeddings", {"data": [{"embedding": [1]}]}, BadResponseError),  # 1 of 2
        ("embeddings", {"data": [{"embedding": [1]}, {"x": 1}]}, BadResponseError),
        ("embeddings", {"object": "list"}, BadResponseError),
        ("embeddings", {"error": {"message": "boom"}}, ServerError),
        ("rerank", {"results": [{"index": 0, "relevance_score": 1}] * 3}, BadResponseError),
        ("rerank", {"results": [{"index": 2, "relevance_score": 1}]}, BadResponseError),
        ("rerank", {"results": [{"index": 0}]}, BadResponseError),
        ("rerank", {"results": [{"index": True, "relevance_score": 1}]}, BadResponseError),
        ("rerank", {"data": []}, BadResponseError),
    ],
)
def test_a_bad_answer_has_its_category(kind: str, answer: Any, error: type[Exception]) -> None:
    with pytest.raises(error) as info:
        _read(PoolingFormat(kind, 2), answer)
    assert info.value.category == ("server_error" if error is ServerError else "protocol")  # type: ignore[attr-defined]


def test_options_pick_the_path_and_the_batch() -> None:
    backend = OpenAIHTTPBackend("http://h:1", None, request_format="embeddings")
    assert backend._path == "/v1/embeddings" and backend.describe()["batch_size"] == 1
    assert backend.describe()["stream"] is False  # pooling answers are never streamed
    backend = OpenAIHTTPBackend("http://h:1", None, request_format="rerank")
    assert backend._path == "/v1/rerank" and backend.describe()["batch_size"] == 4


@pytest.mark.parametrize(
    ("options", "name"),
    [
        ({"request_format": "nonsense"}, "request_format"),
        ({"request_format": "embeddings", "batch_size": 0}, "batch_size"),
        ({"request_format": "rerank", "batch_size": "4"}, "batch_size"),
        ({"batch_size": 2}, "batch_size"),  # generation has no batch
    ],
)
def test_bad_options_name_themselves(options: dict[str, Any], name: str) -> None:
    with pytest.raises(UserError, match=name):
        OpenAIHTTPBackend("http://h:1", None, **options)
