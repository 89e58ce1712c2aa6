"""grpcio's ``grpc.aio`` behind the interface of guidellm's own HTTP/2 client.

``grpc_kserve`` has two transports (``transport=h2``, :class:`~guidellm.backends.
grpc_transport.H2Channel`, and ``transport=grpc``, this module); :class:`AioChannel` offers
the same ``call`` / ``cancel`` / ``unary`` / ``close`` so that the backend has one code path
over both. Messages stay raw bytes (no serializers), so a message's arrival is timed before it
is parsed, as on the HTTP/2 client. grpc is imported inside functions: ``guidellm --help``
never loads it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from guidellm.backends.grpc_codec import status_error
from guidellm.request import now

__all__ = ["AioCall", "AioChannel", "rpc_error"]

#: ``on_message(raw, arrived) -> True`` ends the call successfully (e.g. Triton's final flag).
OnMessage = Callable[[bytes, float], bool]


def rpc_error(exc: Any) -> Exception:
    """Map grpc.aio's error to the RequestError category the report counts."""
    code = exc.code()
    return status_error(code.name if code is not None else "UNKNOWN", exc.details() or "")


class AioCall:
    """One call on an :class:`AioChannel`; ``await call.wait()`` sends, reads every message
    into ``on_message`` and returns at the end (a failed call raises a RequestError)."""

    __slots__ = ("on_message", "payload", "rpc", "streaming")
    #: grpcio sends from its own threads: no send time here (the worker's start stands).
    sent = 0.0

    def __init__(self, rpc: Any, payload: bytes, on_message: OnMessage, streaming: bool) -> None:
        self.rpc = rpc
        self.payload = payload
        self.on_message = on_message
        self.streaming = streaming

    async def wait(self) -> None:
        import grpc

        rpc = self.rpc
        on_message = self.on_message
        try:
            if not self.streaming:
                raw = await rpc
                on_message(raw, now())
                return
            await rpc.write(self.payload)
            await rpc.done_writing()
            while True:
                raw = await rpc.read()
                arrived = now()
                if raw is grpc.aio.EOF or on_message(raw, arrived):
                    break
        except grpc.aio.AioRpcError as exc:
            raise rpc_error(exc) from None
        finally:
            if self.streaming and not rpc.done():
                rpc.cancel()


class AioChannel:
    """One ``grpc.aio`` channel to ``address`` (TLS with ``credentials``); ``stream_path`` is
    the one streaming method the backend calls, every other path is unary."""

    def __init__(
        self,
        address: str,
        *,
        stream_path: bytes,
        credentials: Any = None,
        metadata: tuple[tuple[str, str], ...] = (),
        channel_id: int = 0,
    ) -> None:
        import grpc

        # distinct channel args keep grpc from sharing one subchannel between channels
        options = [
            ("grpc.enable_retries", 0),
            ("grpc.max_receive_message_length", 64 << 20),
            ("grpc.channel_id", channel_id),
        ]
        if credentials is not None:
            self._channel = grpc.aio.secure_channel(address, credentials, options=options)
        else:
            self._channel = grpc.aio.insecure_channel(address, options=options)
        self._metadata = metadata or None
        self._stream_path = stream_path
        self._methods: dict[bytes, Any] = {
            stream_path: self._channel.stream_stream(stream_path.decode())
        }

    def _method(self, path: bytes) -> Any:
        method = self._methods.get(path)
        if method is None:
            method = self._methods[path] = self._channel.unary_unary(path.decode())
        return method

    async def call(
        self, path: bytes, payload: bytes, on_message: OnMessage, timeout: float | None = None
    ) -> AioCall:
        """Start a call sending ``payload``; messages go to ``on_message`` while it is awaited."""
        method = self._method(path)
        if path == self._stream_path:
            return AioCall(
                method(timeout=timeout, metadata=self._metadata), payload, on_message, True
            )
        rpc = method(payload, timeout=timeout, metadata=self._metadata)
        return AioCall(rpc, payload, on_message, False)

    def cancel(self, call: AioCall) -> None:
        """Abort ``call``; whoever awaits it sees a cancellation."""
        call.rpc.cancel()

    async def unary(self, path: bytes, payload: bytes, timeout: float | None) -> bytes:
        """One request, one response message (raw bytes)."""
        import grpc

        try:
            raw: bytes = await self._method(path)(payload, timeout=timeout, metadata=self._metadata)
        except grpc.aio.AioRpcError as exc:
            raise rpc_error(exc) from None
        return raw

    async def close(self) -> None:
        """Close the channel (calls still running fail)."""
        await self._channel.close()
