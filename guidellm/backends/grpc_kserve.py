"""``grpc_kserve``: the KServe Open Inference Protocol v2 over gRPC, with Triton's streaming.

One request is one ``ModelStreamInfer`` stream (``stream=true``, the default: one response per
token delta from a decoupled model) or one unary ``ModelInfer`` (``stream=false``). Servers
name their tensors differently, so :meth:`GRPCKServeBackend.validate` reads ``ModelMetadata``
and picks the inputs it knows (``text_input``, ``max_tokens`` INT32/UINT32/INT64,
``stream``/``streaming``, the Triton vLLM backend's ``sampling_parameters`` JSON, ``ignore_eos``);
every choice can be overridden with ``--backend-args``.

Two stream dialects share the method name ``ModelStreamInfer``: Triton wraps each response in
``ModelStreamInferResponse`` (with ``error_message``), MLServer writes bare
``ModelInferResponse`` messages. ``dialect=auto`` asks ``ServerMetadata`` and, failing that,
looks at the wire tags of the first message; ``dialect=triton|mlserver`` forces one.

Two transports: ``transport=h2`` (default) is guidellm's own gRPC-over-HTTP/2 client on
``h2`` (:mod:`guidellm.backends.grpc_transport`: messages are handled inside the socket
callback, no future per message; about half grpc.aio's CPU per token, benchmarks/README.md);
``transport=grpc`` uses grpcio's ``grpc.aio``. Both read raw bytes and share the parsing.

Options (``--backend-args``): ``dialect`` (auto|triton|mlserver), ``stream`` (default true),
``transport`` (h2|grpc), ``model_version``; tensor names ``text_input``, ``text_output``,
``max_tokens_input``, ``stream_input``, ``sampling_input``, ``ignore_eos_input`` ('' sends none);
``max_tokens_datatype``; ``ignore_eos`` (default true: exact output lengths where the model
takes the flag), ``sampling_parameters`` (JSON merged into the vLLM ``sampling_parameters``),
``parameters`` (request parameters), ``empty_final_response`` (default true); ``timeout`` (the
gRPC deadline of a whole call, seconds; default none for streams, 300 for unary calls),
``first_token_timeout`` (default none), ``stall_timeout`` (longest gap between content
responses, default 60; null disables); ``metadata`` (gRPC headers, e.g. an API key: redacted
in reports), ``ca_cert`` (PEM for ``grpcs://``), ``channels`` (HTTP/2 connections per worker;
default one per 100 concurrent requests); ``timing`` (``auto``, the default: chunk arrival
times are the kernel's receive stamps on plain connections of the h2 transport, else when the
worker read them; ``kernel`` insists; ``loop``: read times; :mod:`.stamped_socket`).

Error categories: UNAVAILABLE -> ``connection``; DEADLINE_EXCEEDED -> ``timeout``; the
deadlines -> ``first_token_deadline`` / ``stall``; an ``error_message`` in a Triton stream ->
``server_error``; any other status -> ``grpc_<code>`` (``grpc_internal``,
``grpc_resource_exhausted``...); an undecodable message -> ``protocol``.

Timing follows the HTTP backend: the arrival time is taken right after a message's bytes were
read and before they are parsed; a response with non-empty text is one content chunk; output
counts that the server sends as tensors (``completion_tokens``, ``num_output_tokens``...) are
its ``usage``. grpc, h2 and protobuf are imported inside methods so that ``guidellm --help``
stays fast.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, ClassVar

from guidellm.backends.base import Backend, split_target
from guidellm.backends.grpc_codec import (
    GRPCStatusError,
    decode_bytes_tensor,
    first_int,
    one_line,
    prompt_text,
    set_param,
    sniff_dialect,
)
from guidellm.backends.grpc_discovery import INT_TYPES, check_server, discover
from guidellm.backends.stamped_socket import choose_kernel_timing
from guidellm.backends.watchdog import FIRST_TOKEN, Watchdog
from guidellm.errors import (
    BadResponseError,
    FirstTokenTimeoutError,
    RequestError,
    ServerError,
    StallTimeoutError,
    UserError,
)
from guidellm.hookspecs import hookimpl
from guidellm.options import bad_option, reject_unknown
from guidellm.request import now

if TYPE_CHECKING:
    from guidellm.hookspecs import Register
    from guidellm.request import GenerationRequest, ResponseRecorder

__all__ = ["GRPCKServeBackend", "GRPCStatusError", "decode_bytes_tensor", "sniff_dialect"]

_SERVICE = b"/inference.GRPCInferenceService/"
_STREAM_PATH = _SERVICE + b"ModelStreamInfer"
_UNARY_PATH = _SERVICE + b"ModelInfer"
_DIALECTS = ("auto", "triton", "mlserver")
_FINAL = "triton_final_response"
_OPTIONS: dict[str, tuple[type | tuple[type, ...], str]] = {
    "dialect": (str, "auto, triton or mlserver"),
    "stream": (bool, "true or false"),
    "transport": (str, "h2 or grpc"),
    "model_version": (str, "a version string"),
    "text_input": (str, "an input tensor name"),
    "text_output": (str, "an output tensor name"),
    "max_tokens_input": (str, "an input tensor name ('' to send none)"),
    "max_tokens_datatype": (str, "INT32, UINT32, INT64 or UINT64"),
    "stream_input": (str, "an input tensor name ('' to send none)"),
    "sampling_input": (str, "an input tensor name ('' to send none)"),
    "ignore_eos_input": (str, "an input tensor name ('' to send none)"),
    "ignore_eos": (bool, "true or false"),
    "sampling_parameters": (dict, 'a JSON object, e.g. {"temperature": 0}'),
    "parameters": (dict, 'a JSON object of request parameters, e.g. {"priority": 1}'),
    "empty_final_response": (bool, "true or false"),
    "timeout": ((int, float), "seconds"),
    "first_token_timeout": ((int, float), "seconds"),
    "stall_timeout": ((int, float), "seconds"),
    "metadata": (dict, 'a JSON object of gRPC metadata, e.g. {"x-api-key": "..."}'),
    "ca_cert": (str, "a PEM file path"),
    "channels": (int, "a positive integer"),
    "timing": (str, "auto, kernel or loop"),
    # --request-format lands here; KServe v2 has no chat, chat messages go as joined text
    "request_format": (str, "text_completions or chat_completions"),
}


class GRPCKServeBackend(Backend):
    """KServe v2 gRPC client (Triton, MLServer, KServe runtimes); see the module docstring."""

    name: ClassVar[str] = "grpc_kserve"
    schemes: ClassVar[tuple[str, ...]] = ("grpc", "grpcs")

    def __init__(self, target: str, model: str | None = None, **options: Any) -> None:
        super().__init__(target, model, **options)
        reject_unknown(options, _OPTIONS, "--backend-args", "backend 'grpc_kserve'")
        for key, value in options.items():
            kind, hint = _OPTIONS[key]
            bad_bool = isinstance(value, bool) and kind in (int, (int, float))
            if value is not None and (bad_bool or not isinstance(value, kind)):
                raise bad_option("--backend-args", key, hint, value)
        self.host, self.port, self.tls = self._parse_target(target)
        self.address = (
            f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"
        )
        self.transport: str = str(options.get("transport", "h2"))
        if self.transport not in ("h2", "grpc"):
            raise UserError(
                f"--backend-args: transport must be h2 (guidellm's lean client, default) or "
                f"grpc (grpcio), got {self.transport!r}"
            )
        timing = str(options.get("timing", "auto"))
        if timing not in ("auto", "kernel", "loop"):
            raise bad_option("--backend-args", "timing", "auto, kernel or loop", timing)
        obstacle = None
        if self.tls:
            obstacle = "the target is grpcs (kernel stamps are read on plain connections only)"
        elif self.transport != "h2":
            obstacle = "grpc.aio reads the socket itself (use transport=h2)"
        self.kernel_timing = choose_kernel_timing(timing, obstacle)
        self.dialect: str = str(options.get("dialect", "auto")).lower()
        if self.dialect not in _DIALECTS:
            raise UserError(
                f"--backend-args: dialect must be auto, triton or mlserver, got {self.dialect!r}"
            )
        self.stream: bool = bool(options.get("stream", True))
        self.model_version: str = options.get("model_version") or ""
        self.ignore_eos: bool = bool(options.get("ignore_eos", True))
        self.empty_final: bool = bool(options.get("empty_final_response", True))
        for key in ("timeout", "first_token_timeout", "stall_timeout"):
            value = options.get(key)
            if value is not None and value <= 0:
                raise UserError(f"--backend-args: {key} must be > 0 seconds, got {value!r}")
        self.timeout: float | None = options.get("timeout")
        self.first_token_timeout: float | None = options.get("first_token_timeout")
        # like openai_http: a 60 s stall deadline on streams unless set (null disables it)
        self.stall_timeout: float | None = options.get("stall_timeout", 60.0)
        dtype = str(options.get("max_tokens_datatype", "")).upper()
        if dtype and dtype not in INT_TYPES:
            raise UserError(
                f"--backend-args: max_tokens_datatype must be one of {', '.join(INT_TYPES)}"
            )
        if options.get("request_format", "text_completions") not in (
            "text_completions",
            "chat_completions",
        ):
            raise UserError(
                "--request-format must be text_completions or chat_completions for grpc_kserve"
            )
        channels = options.get("channels")
        if channels is not None and channels < 1:
            raise UserError("--backend-args: channels must be a positive integer")
        # Filled by validate()/startup() from ModelMetadata; plain data, so it pickles.
        self.plan: dict[str, Any] | None = None
        self._channels: list[Any] = []  # H2Channel or AioChannel: the same interface
        self._next = 0
        self._static = b""

    # -- configuration ------------------------------------------------------------------------

    @staticmethod
    def _parse_target(target: str) -> tuple[str, int, bool]:
        """``grpc://host:port`` -> (host, port, TLS?); the port defaults to 8001 / 443."""
        text = target if "://" in target else f"grpc://{target}"
        parts = split_target(text, "grpc://HOST:PORT")
        if parts.scheme not in ("grpc", "grpcs") or not parts.hostname:
            raise UserError(
                f"--target {target!r} is not a gRPC address; use grpc://HOST:PORT "
                "(or grpcs://HOST:PORT for TLS)"
            )
        if parts.path not in ("", "/") or parts.query:
            raise UserError(f"--target {target!r}: a gRPC target has no path; use grpc://HOST:PORT")
        try:
            port = parts.port or (443 if parts.scheme == "grpcs" else 8001)
        except ValueError:
            raise UserError(f"--target {target!r}: bad port; use grpc://HOST:PORT") from None
        return parts.hostname, port, parts.scheme == "grpcs"

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state.update(_channels=[], _next=0, _static=b"")
        return state

    def _metadata(self) -> tuple[tuple[str, str], ...]:
        md = self.options.get("metadata") or {}
        return tuple((str(k).lower(), str(v)) for k, v in md.items())

    # -- life cycle -----------------------------------------------------------------------------

    async def startup(self, concurrency: int = 1) -> None:
        """Open ``channels`` HTTP/2 connections (one per 100 streams, servers' usual limit)."""
        count = self.options.get("channels") or max(1, -(-concurrency // 100))
        metadata = self._metadata()
        if self.transport == "h2":
            from guidellm.backends.grpc_transport import H2Channel

            context = self._ssl_context() if self.tls else None
            self._channels = [
                H2Channel(
                    self.host,
                    self.port,
                    ssl_context=context,
                    metadata=metadata,
                    kernel_timing=self.kernel_timing,
                )
                for _ in range(count)
            ]
        else:
            import grpc

            from guidellm.backends.grpc_aio import AioChannel

            creds = grpc.ssl_channel_credentials(root_certificates=self._ca()) if self.tls else None
            self._channels = [
                AioChannel(
                    self.address,
                    stream_path=_STREAM_PATH,
                    credentials=creds,
                    metadata=metadata,
                    channel_id=i,
                )
                for i in range(count)
            ]
        if self.plan is not None:  # validated in the parent and shipped here
            self._static = self._static_part()

    def _ca(self) -> bytes | None:
        ca = self.options.get("ca_cert")
        if not ca:
            return None
        try:
            with open(ca, "rb") as handle:  # noqa: PTH123 - a plain read of a user path
                return handle.read()
        except OSError as exc:
            raise UserError(f"--backend-args ca_cert: cannot read {ca}: {exc}") from None

    def _ssl_context(self) -> Any:
        import ssl

        ca = self._ca()
        context = ssl.create_default_context(cadata=ca.decode() if ca else None)
        context.set_alpn_protocols(["h2"])
        return context

    async def shutdown(self) -> None:
        """Close the channels."""
        channels, self._channels = self._channels, []
        for channel in channels:
            await channel.close()

    async def _unary(self, method: str, request: Any, response_type: Any) -> Any:
        """One control-plane call on the first channel; failures are RequestErrors."""
        payload = request.SerializeToString()
        raw = await self._channels[0].unary(
            _SERVICE + method.encode(), payload, self.timeout or 30.0
        )
        return response_type.FromString(raw)

    async def validate(self) -> None:
        """ServerReady, model discovery (RepositoryIndex), ModelReady, ModelMetadata."""
        if not self._channels:
            await self.startup(1)
        self.dialect, self.model = await check_server(
            self._unary,
            target=self.target,
            dialect=self.dialect,
            model=self.model,
            version=self.model_version,
        )
        await self._discover()

    async def _discover(self) -> None:
        """Choose the tensors from ModelMetadata (:mod:`~guidellm.backends.grpc_discovery`)."""
        assert self.model is not None
        self.plan = await discover(
            self._unary, self.model, self.model_version, self.options, self.target
        )
        self._static = self._static_part()

    @property
    def timing_source(self) -> str:
        clocks = [getattr(c, "clock", None) for c in self._channels]
        if not clocks or None in clocks:
            return "loop"
        return "kernel" if all(c is not None and c.mostly_stamped for c in clocks) else "mixed"

    def describe(self) -> dict[str, Any]:
        """Settings for the report, plus the tensors and dialect that were chosen."""
        info = super().describe()
        info["dialect"] = self.dialect
        if self.plan is not None:
            info["tensors"] = {k: v for k, v in self.plan.items() if k != "platform"}
        return info

    # -- request building -----------------------------------------------------------------------

    def _static_part(self) -> bytes:
        """The serialized request fields every request shares (model, parameters, flags).

        Protobuf merges concatenated messages (repeated fields append), so a request is this
        prefix plus a small per-request message: no copy of a template per request.
        """
        from guidellm.backends.grpc_proto import inference_pb2 as pb

        plan = self.plan or {}
        req = pb.ModelInferRequest(model_name=self.model or "", model_version=self.model_version)
        if self.stream and self.empty_final:
            req.parameters["triton_enable_empty_final_response"].bool_param = True
        for key, value in (self.options.get("parameters") or {}).items():
            set_param(req.parameters, str(key), value)
        if plan.get("stream_input"):
            t = req.inputs.add(name=plan["stream_input"], datatype="BOOL", shape=[1])
            t.contents.bool_contents.append(self.stream)
        return bytes(req.SerializeToString())

    def _encode(self, request: GenerationRequest) -> bytes:
        """The serialized ``ModelInferRequest`` for one benchmark request."""
        from guidellm.backends.grpc_proto import inference_pb2 as pb

        plan = self.plan or {}
        req = pb.ModelInferRequest(id=request.request_id)
        t = req.inputs.add(name=plan["text_input"], datatype="BYTES", shape=plan["text_shape"])
        t.contents.bytes_contents.append(prompt_text(request).encode())
        max_tokens = request.max_tokens
        extra = request.extra_body or {}
        if max_tokens is not None and plan.get("max_tokens_input"):
            dtype = plan["max_tokens_datatype"]
            t = req.inputs.add(
                name=plan["max_tokens_input"], datatype=dtype, shape=plan["max_tokens_shape"]
            )
            field = {
                "INT32": t.contents.int_contents,
                "UINT32": t.contents.uint_contents,
                "INT64": t.contents.int64_contents,
                "UINT64": t.contents.uint64_contents,
            }[dtype]
            field.append(max_tokens)
        if max_tokens is not None and self.ignore_eos and plan.get("ignore_eos_input"):
            t = req.inputs.add(name=plan["ignore_eos_input"], datatype="BOOL", shape=[1])
            t.contents.bool_contents.append(True)
        if plan.get("sampling_input"):
            sampling: dict[str, Any] = dict(self.options.get("sampling_parameters") or {})
            if max_tokens is not None:
                sampling["max_tokens"] = max_tokens
                if self.ignore_eos:
                    sampling.setdefault("ignore_eos", True)
            sampling.update(extra)
            t = req.inputs.add(name=plan["sampling_input"], datatype="BYTES", shape=[1])
            t.contents.bytes_contents.append(json.dumps(sampling).encode())
        elif extra:
            for key, value in extra.items():
                set_param(req.parameters, str(key), value)
        return self._static + bytes(req.SerializeToString())

    # -- response parsing -----------------------------------------------------------------------

    def _read_outputs(self, resp: Any) -> tuple[str, int | None, int | None]:
        """(text, output count, prompt count) from one ``ModelInferResponse``."""
        plan = self.plan or {}
        want = plan.get("text_output", "text_output")
        text = ""
        out_count = prompt_count = None
        raw = resp.raw_output_contents
        for i, out in enumerate(resp.outputs):
            name = out.name
            if name == want:
                items = out.contents.bytes_contents
                if not items and i < len(raw):
                    items = decode_bytes_tensor(raw[i])
                try:
                    text = b"".join(items).decode()
                except UnicodeDecodeError:
                    text = b"".join(items).decode(errors="replace")
            elif name == plan.get("output_count") or name == plan.get("prompt_count"):
                value = first_int(out, raw[i] if i < len(raw) else None)
                if name == plan.get("output_count"):
                    out_count = value
                else:
                    prompt_count = value
        return text, out_count, prompt_count

    # -- the hot path ---------------------------------------------------------------------------

    async def resolve(self, request: GenerationRequest, recorder: ResponseRecorder) -> None:
        """Send one request; one ``recorder.content`` per response carrying text.

        One path over both transports: a channel's ``call`` starts the call and feeds every
        message to the reader (inside the socket callback on the HTTP/2 client), the
        watchdog aborts it through ``cancel`` when a deadline passes.
        """
        import asyncio

        if self.plan is None:  # used as a library without validate(): discover once
            if not self.model or not self._channels:
                raise UserError("grpc_kserve: call startup() and validate() before resolve()")
            await self._discover()
        index = self._next
        self._next = (index + 1) % len(self._channels)
        channel = self._channels[index]
        reader = _Reader(self, recorder)
        payload = self._encode(request)
        if self.stream:
            call = await channel.call(_STREAM_PATH, payload, reader.feed, self.timeout)
            stall = self.stall_timeout
        else:
            # a unary answer is one read: bound it like openai_http's 300 s read timeout
            call = await channel.call(_UNARY_PATH, payload, reader.feed, self.timeout or 300.0)
            stall = None
        if call.sent:  # our HTTP/2 client: when the call's bytes went to the kernel
            recorder.request_start = call.sent
        # the deadlines count from the call's start (after any wait for a free stream)
        watch = Watchdog(
            recorder, self.first_token_timeout, stall, lambda: channel.cancel(call), start=now()
        )
        try:
            await call.wait()
        except asyncio.CancelledError:
            if watch.fired is None:
                channel.cancel(call)
                raise
            raise reader.deadline_error(watch.fired) from None
        finally:
            watch.close()
        reader.report_usage()


class _Reader:
    """Turns the messages of one call into recorder calls; shared by both transports.

    :meth:`feed` runs once per message (inside the HTTP/2 transport's ``data_received``): parse
    the raw bytes in the call's dialect, record non-empty text as one content chunk, keep the
    latest token counts, and say whether this was Triton's final response.
    """

    __slots__ = (
        "backend",
        "bare",
        "dialect",
        "out_count",
        "prompt_count",
        "recorder",
        "stream",
        "wrapper",
    )

    def __init__(self, backend: GRPCKServeBackend, recorder: ResponseRecorder) -> None:
        from guidellm.backends.grpc_proto import inference_pb2 as pb

        self.wrapper = pb.ModelStreamInferResponse.FromString
        self.bare = pb.ModelInferResponse.FromString
        self.backend = backend
        self.recorder = recorder
        self.dialect = backend.dialect
        self.stream = backend.stream
        self.out_count: int | None = None
        self.prompt_count: int | None = None

    def feed(self, raw: bytes, arrived: float) -> bool:
        try:
            if not self.stream:
                resp = self.bare(raw)
            else:
                if self.dialect == "auto":
                    self.dialect = self.backend.dialect = sniff_dialect(raw)
                if self.dialect == "triton":
                    msg = self.wrapper(raw)
                    if msg.error_message:
                        raise ServerError(f"server error: {one_line(msg.error_message)}")
                    resp = msg.infer_response
                else:
                    resp = self.bare(raw)
            text, n_out, n_prompt = self.backend._read_outputs(resp)
        except RequestError:
            raise
        except Exception as exc:  # protobuf's DecodeError and friends
            raise BadResponseError(f"undecodable gRPC message: {exc}") from None
        if text:
            self.recorder.content(text, arrived)  # the watchdog reads it when its timer fires
        if n_out is not None:
            self.out_count = n_out
        if n_prompt is not None:
            self.prompt_count = n_prompt
        return _FINAL in resp.parameters and bool(resp.parameters[_FINAL].bool_param)

    def report_usage(self) -> None:
        if self.out_count is not None or self.prompt_count is not None:
            self.recorder.usage(self.prompt_count, self.out_count)

    def deadline_error(self, kind: str) -> RequestError:
        backend = self.backend
        if kind == FIRST_TOKEN:
            return FirstTokenTimeoutError(
                f"no token within first_token_timeout={backend.first_token_timeout} s"
            )
        return StallTimeoutError(f"no token for stall_timeout={backend.stall_timeout} s")


@hookimpl
def register_backends(register: Register[Backend]) -> None:
    """Register the built-in gRPC backend."""
    register(GRPCKServeBackend)
