"""Wire helpers of the ``grpc_kserve`` backend, shared by its two transports.

KServe v2 details (BYTES tensors with 4-byte little-endian length prefixes, typed and raw
integer outputs, request parameters), the stream-dialect sniffer and gRPC status codes mapped
to the report's error categories. Standard library only, so importing it costs nothing.
"""

from __future__ import annotations

import json
import struct
from typing import TYPE_CHECKING, Any

from guidellm.errors import BadResponseError, ConnectError, RequestTimeoutError, ServerError

if TYPE_CHECKING:
    from guidellm.request import GenerationRequest

__all__ = [
    "STATUS_NAMES",
    "GRPCStatusError",
    "decode_bytes_tensor",
    "first_int",
    "one_line",
    "prompt_text",
    "set_param",
    "sniff_dialect",
    "status_error",
]

#: gRPC status codes by number (the HTTP/2 transport reads numbers from ``grpc-status``).
STATUS_NAMES: tuple[str, ...] = (
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
)


class GRPCStatusError(ServerError):
    """A gRPC call ended with a non-OK status; the category names the code (``grpc_internal``)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"gRPC {code}: {message}")
        self.code = code
        self.category = f"grpc_{code.lower()}"


def one_line(message: str, limit: int = 300) -> str:
    """A server's error text as one line: the last line of a traceback says what failed."""
    lines = [line.strip() for line in message.strip().splitlines() if line.strip()]
    text = lines[-1] if lines else "(empty error message)"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def status_error(name: str, details: str) -> Exception:
    """Map a non-OK gRPC status to the RequestError category the report counts."""
    details = one_line(details or "")
    if name == "UNAVAILABLE":
        return ConnectError(f"gRPC UNAVAILABLE: {details}")
    if name == "DEADLINE_EXCEEDED":
        return RequestTimeoutError(f"gRPC DEADLINE_EXCEEDED: {details}")
    return GRPCStatusError(name, details)


def decode_bytes_tensor(raw: bytes) -> list[bytes]:
    """Split a raw BYTES tensor: each element is a 4-byte little-endian length, then the data."""
    out: list[bytes] = []
    i, end = 0, len(raw)
    while i + 4 <= end:
        (n,) = struct.unpack_from("<I", raw, i)
        i += 4
        if i + n > end:
            raise BadResponseError(f"truncated BYTES tensor: element of {n} bytes at offset {i}")
        out.append(raw[i : i + n])
        i += n
    if i != end:
        raise BadResponseError("truncated BYTES tensor: trailing bytes after the last element")
    return out


def _varint(buf: bytes, i: int) -> tuple[int, int]:
    result = shift = 0
    while i < len(buf):
        b = buf[i]
        i += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, i
        shift += 7
    raise BadResponseError("truncated protobuf varint")


def sniff_dialect(raw: bytes) -> str:
    """``triton`` or ``mlserver`` from one stream message's top-level field numbers.

    Triton's wrapper only has fields 1 (``error_message``) and 2 (``infer_response``); a bare
    ``ModelInferResponse`` carries ``id`` (3), ``parameters`` (4), ``outputs`` (5) or raw
    outputs (6), which the wrapper never has at the top level.
    """
    i, end = 0, len(raw)
    while i < end:
        key, i = _varint(raw, i)
        field, wire = key >> 3, key & 7
        if field > 2:
            return "mlserver"
        if wire == 0:
            _, i = _varint(raw, i)
        elif wire == 2:
            n, i = _varint(raw, i)
            i += n
        elif wire == 1:
            i += 8
        elif wire == 5:
            i += 4
        else:
            break
    return "triton"


def first_int(out: Any, raw: bytes | None) -> int | None:
    """The first element of an integer output tensor, typed or raw."""
    c = out.contents
    for values in (c.int_contents, c.int64_contents, c.uint_contents, c.uint64_contents):
        if values:
            return int(values[0])
    if raw:
        fmt = {"INT32": "<i", "UINT32": "<I", "INT64": "<q", "UINT64": "<Q"}.get(out.datatype)
        if fmt and len(raw) >= struct.calcsize(fmt):
            return int(struct.unpack_from(fmt, raw)[0])
    return None


def prompt_text(request: GenerationRequest) -> str:
    """The prompt, or the chat messages' text joined by newlines (KServe v2 has no chat)."""
    if request.prompt is not None:
        return request.prompt
    parts: list[str] = []
    for message in request.messages or ():
        content = message.get("content")
        if isinstance(content, str):
            parts.append(content)
        elif isinstance(content, list):
            parts.extend(
                p["text"] for p in content if isinstance(p, dict) and isinstance(p.get("text"), str)
            )
    return "\n".join(parts)


def set_param(params: Any, key: str, value: Any) -> None:
    """Put a Python value into a protobuf ``map<string, InferParameter>``."""
    param = params[key]
    if isinstance(value, bool):
        param.bool_param = value
    elif isinstance(value, int):
        param.int64_param = value
    elif isinstance(value, float):
        param.double_param = value
    elif isinstance(value, str):
        param.string_param = value
    else:
        param.string_param = json.dumps(value)
