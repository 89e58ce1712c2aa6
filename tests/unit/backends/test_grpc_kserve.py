"""grpc_kserve without a server: options, targets, request encoding, BYTES decoding, dialects."""

from __future__ import annotations

import json
import pickle
import struct

import pytest

from guidellm.backends.grpc_kserve import (
    GRPCKServeBackend,
    decode_bytes_tensor,
    sniff_dialect,
)
from guidellm.backends.grpc_proto import inference_pb2 as pb
from guidellm.errors import BadResponseError, UserError
from guidellm.plugins import PluginHost
from guidellm.request import GenerationRequest

PLAN = {
    "text_input": "text_input",
    "text_shape": [1],
    "text_output": "text_output",
    "max_tokens_input": "max_tokens",
    "max_tokens_datatype": "UINT32",
    "max_tokens_shape": [1, 1],
    "stream_input": "stream",
    "sampling_input": "",
    "ignore_eos_input": "ignore_eos",
    "output_count": "completion_tokens",
    "prompt_count": "",
    "platform": "x",
}


def test_registered_as_a_builtin_with_grpc_schemes() -> None:
    host = PluginHost(entry_points=False)
    assert host.backends.get("grpc_kserve") is GRPCKServeBackend
    assert GRPCKServeBackend.schemes == ("grpc", "grpcs")


@pytest.mark.parametrize(
    ("target", "address", "tls"),
    [
        ("grpc://127.0.0.1:8001", "127.0.0.1:8001", False),
        ("grpc://triton", "triton:8001", False),
        ("grpcs://example.com", "example.com:443", True),
        ("grpc://[::1]:9000", "[::1]:9000", False),
        ("localhost:7000", "localhost:7000", False),
    ],
)
def test_targets(target: str, address: str, tls: bool) -> None:
    backend = GRPCKServeBackend(target, "m")
    assert (backend.address, backend.tls) == (address, tls)


@pytest.mark.parametrize(
    "target", ["http://h:1", "grpc://h:1/v2/models", "grpc://h:port", "grpc://"]
)
def test_bad_targets_are_user_errors(target: str) -> None:
    with pytest.raises(UserError) as info:
        GRPCKServeBackend(target, "m")
    assert "grpc://HOST:PORT" in str(info.value)


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"dialct": "triton"}, "dialct"),
        ({"dialect": "tgi"}, "dialect"),
        ({"stream": "yes"}, "stream"),
        ({"timeout": 0}, "timeout"),
        ({"stall_timeout": True}, "stall_timeout"),
        ({"max_tokens_datatype": "FP32"}, "max_tokens_datatype"),
        ({"channels": 0}, "channels"),
        ({"metadata": "x"}, "metadata"),
        ({"timing": "wall"}, "timing"),
        ({"timing": "kernel", "transport": "grpc"}, "use transport=h2"),
    ],
)
def test_bad_options_name_the_option(options: dict[str, object], named: str) -> None:
    with pytest.raises(UserError) as info:
        GRPCKServeBackend("grpc://h:1", "m", **options)
    assert named in str(info.value)
    assert "\n" not in str(info.value)


def test_a_bad_metadata_value_is_not_echoed() -> None:
    with pytest.raises(UserError) as info:
        GRPCKServeBackend("grpc://h:1", "m", metadata="authorization: Bearer sk-secret")
    assert "sk-secret" not in str(info.value) and "metadata" in str(info.value)


def test_describe_redacts_secret_metadata_and_pickles_without_channels() -> None:
    backend = GRPCKServeBackend(
        "grpc://h:1", "m", metadata={"x-api-key": "sk-secret"}, dialect="mlserver"
    )
    backend.plan = dict(PLAN)
    backend._channels = [object()]  # what startup() would hold
    info = backend.describe()
    assert "sk-secret" not in json.dumps(info)
    assert info["dialect"] == "mlserver"
    assert info["tensors"]["max_tokens_input"] == "max_tokens"
    clone = pickle.loads(pickle.dumps(backend))
    assert clone.plan == PLAN and clone._channels == [] and clone.model == "m"


def _encoded(backend: GRPCKServeBackend, request: GenerationRequest) -> pb.ModelInferRequest:
    backend._static = backend._static_part()
    return pb.ModelInferRequest.FromString(backend._encode(request))


def test_encoding_uses_the_metadata_types_and_merges_the_static_part() -> None:
    backend = GRPCKServeBackend("grpc://h:1", "m", parameters={"priority": 2})
    backend.plan = dict(PLAN)
    req = _encoded(
        backend, GenerationRequest("id-7", prompt="hello there", max_tokens=9, extra_body={"x": 1})
    )
    assert req.model_name == "m" and req.id == "id-7"
    assert req.parameters["triton_enable_empty_final_response"].bool_param is True
    assert req.parameters["priority"].int64_param == 2
    assert req.parameters["x"].int64_param == 1
    inputs = {t.name: t for t in req.inputs}
    assert list(inputs["max_tokens"].shape) == [1, 1]
    assert inputs["max_tokens"].datatype == "UINT32"
    assert list(inputs["max_tokens"].contents.uint_contents) == [9]
    assert inputs["text_input"].contents.bytes_contents[0] == b"hello there"
    assert list(inputs["stream"].contents.bool_contents) == [True]
    assert list(inputs["ignore_eos"].contents.bool_contents) == [True]


def test_encoding_vllm_sampling_parameters_and_chat_messages() -> None:
    backend = GRPCKServeBackend(
        "grpc://h:1", "m", stream=False, sampling_parameters={"temperature": 0}
    )
    backend.plan = {**PLAN, "max_tokens_input": "", "sampling_input": "sampling_parameters"}
    request = GenerationRequest(
        "a",
        messages=[
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": [{"type": "text", "text": "hi"}]},
        ],
        max_tokens=4,
        extra_body={"top_p": 0.5},
    )
    req = _encoded(backend, request)
    assert "triton_enable_empty_final_response" not in req.parameters
    inputs = {t.name: t for t in req.inputs}
    assert "max_tokens" not in inputs
    assert inputs["text_input"].contents.bytes_contents[0] == b"be brief\nhi"
    sampling = json.loads(inputs["sampling_parameters"].contents.bytes_contents[0])
    assert sampling == {"temperature": 0, "max_tokens": 4, "ignore_eos": True, "top_p": 0.5}
    assert list(inputs["stream"].contents.bool_contents) == [False]


def _raw(*items: bytes) -> bytes:
    return b"".join(struct.pack("<I", len(i)) + i for i in items)


def test_bytes_tensor_decoding() -> None:
    assert decode_bytes_tensor(_raw(b" tok0", b"", "é".encode())) == [b" tok0", b"", "é".encode()]
    assert decode_bytes_tensor(b"") == []
    with pytest.raises(BadResponseError):
        decode_bytes_tensor(_raw(b"abc")[:-1])
    with pytest.raises(BadResponseError):
        decode_bytes_tensor(_raw(b"abc") + b"\x01")


def test_outputs_read_from_raw_and_typed_contents() -> None:
    backend = GRPCKServeBackend("grpc://h:1", "m")
    backend.plan = dict(PLAN)
    raw = pb.ModelInferResponse()
    raw.outputs.add(name="completion_tokens", datatype="INT32", shape=[1])
    raw.outputs.add(name="text_output", datatype="BYTES", shape=[1])
    raw.raw_output_contents.extend([struct.pack("<i", 7), _raw(b" a", b"b")])
    assert backend._read_outputs(raw) == (" ab", 7, None)
    typed = pb.ModelInferResponse()
    out = typed.outputs.add(name="text_output", datatype="BYTES", shape=[1])
    out.contents.bytes_contents.append(b" z")
    count = typed.outputs.add(name="completion_tokens", datatype="INT32", shape=[1])
    count.contents.int_contents.append(3)
    assert backend._read_outputs(typed) == (" z", 3, None)


def test_dialect_sniffing_from_wire_fields() -> None:
    bare = pb.ModelInferResponse(model_name="m", id="1")
    bare.outputs.add(name="text_output", datatype="BYTES", shape=[1])
    wrapped = pb.ModelStreamInferResponse(infer_response=bare)
    assert sniff_dialect(wrapped.SerializeToString()) == "triton"
    assert sniff_dialect(pb.ModelStreamInferResponse(error_message="x").SerializeToString()) == (
        "triton"
    )
    assert sniff_dialect(bare.SerializeToString()) == "mlserver"
    with pytest.raises(BadResponseError):
        sniff_dialect(b"\x08\xff")
