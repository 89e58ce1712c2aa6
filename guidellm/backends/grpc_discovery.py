"""What a KServe v2 server and model are, read once before any load (``grpc_kserve``).

Servers name their tensors differently, so the backend does not guess per request: before
the run it checks that the server and the model are ready, finds the stream dialect when the
server says its name, and reads ``ModelMetadata`` to choose the tensors to send and read
(``text_input``, ``max_tokens`` INT32/UINT32/INT64, ``stream``/``streaming``, the Triton vLLM
backend's ``sampling_parameters`` JSON, ``ignore_eos``, token-count outputs). Every choice
can be overridden with ``--backend-args``; the result is a plain dict (the *plan*) that
pickles to the workers. The calls go through ``unary(method, request, response_type)``, the
backend's control-plane call on either transport.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from guidellm.errors import RequestError, UserError

__all__ = ["INT_TYPES", "Unary", "check_server", "discover"]

#: ``await unary("ServerReady", pb.ServerReadyRequest(), pb.ServerReadyResponse)``.
Unary = Callable[[str, Any, Any], Awaitable[Any]]

INT_TYPES = ("INT32", "UINT32", "INT64", "UINT64")
# Candidate tensor names, most common first, when --backend-args does not name one.
_TEXT_INPUTS = ("text_input", "prompt", "text", "input_text", "inputs")
_TEXT_OUTPUTS = ("text_output", "output_text", "text", "outputs", "output")
_MAX_TOKENS_INPUTS = ("max_tokens", "max_new_tokens", "request_output_len")
_STREAM_INPUTS = ("stream", "streaming")
_OUTPUT_COUNT = ("completion_tokens", "num_output_tokens", "output_tokens")
_PROMPT_COUNT = ("prompt_tokens", "num_input_tokens", "input_tokens")


async def check_server(
    unary: Unary, *, target: str, dialect: str, model: str | None, version: str
) -> tuple[str, str]:
    """ServerReady, the dialect (ServerMetadata, when ``auto``), the model (RepositoryIndex
    when none was given) and ModelReady; returns ``(dialect, model)`` or raises UserError."""
    from guidellm.backends.grpc_proto import inference_pb2 as pb

    where = f"gRPC server at {target}"
    try:
        ready = await unary("ServerReady", pb.ServerReadyRequest(), pb.ServerReadyResponse)
    except RequestError as exc:
        raise UserError(
            f"Cannot reach the {where} ({exc}); check --target "
            "(grpc://HOST:PORT, grpcs:// for TLS) and that the server is running"
        ) from None
    if not ready.ready:
        raise UserError(f"The {where} is not ready yet; wait for it to load and retry")
    if dialect == "auto":
        try:
            meta = await unary(
                "ServerMetadata", pb.ServerMetadataRequest(), pb.ServerMetadataResponse
            )
            name = meta.name.lower()
            if name in ("triton", "mlserver"):
                dialect = name
        except RequestError:
            pass  # sniffed from the first stream message instead
    available = await _model_names(unary)
    if not model:
        if len(available) == 1:
            model = available[0]
        else:
            listed = ", ".join(available) if available else "none listed"
            raise UserError(
                f"--model is required for the {where} (models: {listed}); pass --model NAME"
            )
    try:
        model_ready = await unary(
            "ModelReady",
            pb.ModelReadyRequest(name=model, version=version),
            pb.ModelReadyResponse,
        )
        ok = model_ready.ready
    except RequestError:
        ok = False
    if not ok:
        listed = ", ".join(available) if available else "none listed"
        raise UserError(
            f"Model {model!r} is unknown or not ready on the {where} "
            f"(models: {listed}); check --model"
        )
    return dialect, model


async def _model_names(unary: Unary) -> list[str]:
    from guidellm.backends.grpc_proto import inference_pb2 as pb

    try:
        index = await unary(
            "RepositoryIndex", pb.RepositoryIndexRequest(ready=True), pb.RepositoryIndexResponse
        )
    except RequestError:
        return []
    return sorted({m.name for m in index.models})


async def discover(
    unary: Unary, model: str, version: str, options: Mapping[str, Any], target: str
) -> dict[str, Any]:
    """Read ModelMetadata and decide which tensors to send and read (``options`` win)."""
    from guidellm.backends.grpc_proto import inference_pb2 as pb

    try:
        meta = await unary(
            "ModelMetadata",
            pb.ModelMetadataRequest(name=model, version=version),
            pb.ModelMetadataResponse,
        )
    except RequestError as exc:
        raise UserError(
            f"ModelMetadata for {model!r} failed on {target} ({exc}); check --model"
        ) from None
    inputs = {
        t.name: (t.datatype.upper(), [max(1, d) for d in t.shape] or [1]) for t in meta.inputs
    }
    outputs = {t.name: t.datatype.upper() for t in meta.outputs}

    def pick(key: str, names: tuple[str, ...], table: dict[str, Any], dtype: str | None) -> str:
        if key in options:
            chosen = str(options[key])
            if chosen and table and chosen not in table:
                raise UserError(
                    f"--backend-args {key}={chosen!r}: model {model!r} has no such tensor "
                    f"(it has: {', '.join(table)})"
                )
            return chosen
        for name in names:
            if name in table:
                return name
        if dtype is not None:
            for name, info in table.items():
                if (info[0] if isinstance(info, tuple) else info) == dtype:
                    return name
        return ""

    text_in = pick("text_input", _TEXT_INPUTS, inputs, "BYTES")
    text_out = pick("text_output", _TEXT_OUTPUTS, outputs, "BYTES")
    if not text_in or not text_out:
        raise UserError(
            f"Model {model!r} has no text input/output this backend recognises "
            f"(inputs: {', '.join(inputs) or 'none'}; "
            f"outputs: {', '.join(outputs) or 'none'}); "
            "name them with --backend-args text_input=NAME,text_output=NAME"
        )
    max_in = pick("max_tokens_input", _MAX_TOKENS_INPUTS, inputs, None)
    max_type = str(options.get("max_tokens_datatype") or "").upper() or (
        inputs[max_in][0] if max_in in inputs else "INT32"
    )
    if max_type not in INT_TYPES:
        max_type = "INT32"
    eos_in = pick("ignore_eos_input", ("ignore_eos",), inputs, None)
    return {
        "text_input": text_in,
        "text_shape": inputs.get(text_in, ("BYTES", [1]))[1],
        "text_output": text_out,
        "max_tokens_input": max_in,
        "max_tokens_datatype": max_type,
        "max_tokens_shape": inputs.get(max_in, ("", [1]))[1],
        "stream_input": pick("stream_input", _STREAM_INPUTS, inputs, None),
        "sampling_input": pick("sampling_input", ("sampling_parameters",), inputs, None),
        "ignore_eos_input": eos_in,
        "output_count": next((n for n in _OUTPUT_COUNT if n in outputs), ""),
        "prompt_count": next((n for n in _PROMPT_COUNT if n in outputs), ""),
        "platform": meta.platform,
    }
