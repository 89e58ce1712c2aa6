"""A real llama.cpp ``llama-server`` for tests: a real engine, tokenizer and continuous batching.

``scripts/test-servers/setup.sh llama`` installs the binary and a tiny random-weight model into
the cache (:func:`guidellm.testing.process.cache_dir`); :class:`LlamaServer` starts it on a free
loopback port and stops it by PID::

    with LlamaServer().start() as server:
        httpx.get(f"{server.url}/v1/models")     # server.model == "tiny"

The tiny model never emits EOS, so ``max_tokens=N`` always streams exactly N tokens, one SSE
chunk each. ``-t 1`` by default: the machine's two cores are shared with the client under test,
and with two threads llama-server stalls now and then.
"""

from __future__ import annotations

import functools
import os
import shutil
from collections.abc import Callable
from pathlib import Path

from guidellm.testing.process import (
    SETUP_SCRIPT,
    RealServer,
    ServerProcess,
    TestServerError,
    cache_dir,
    free_port,
    http_ok,
)

__all__ = [
    "TINY_MMPROJ_IMAGE_TOKENS",
    "LlamaServer",
    "find_llama_server",
    "tiny_mmproj_path",
    "tiny_model_path",
]

_SETUP = f"{SETUP_SCRIPT} llama"


def find_llama_server() -> Path:
    """The llama-server to run: ``$GUIDELLM_LLAMA_SERVER``, the cache's builds, then ``PATH``."""
    env = os.environ.get("GUIDELLM_LLAMA_SERVER")
    if env:
        path = Path(env)
        if not os.access(path, os.X_OK):
            raise TestServerError(f"GUIDELLM_LLAMA_SERVER={env} is not an executable file.")
        return path
    bin_dir = cache_dir() / "bin"
    for name in ("llama-server", "llama-server-deb", "llama-server-src"):
        candidate = bin_dir / name
        if candidate.exists() and os.access(candidate, os.X_OK):
            return candidate
    on_path = shutil.which("llama-server")
    if on_path:
        return Path(on_path)
    raise TestServerError(
        f"llama-server not found (looked in {bin_dir} and on PATH). "
        f"Install it with: {_SETUP}   (or set GUIDELLM_LLAMA_SERVER=/path/to/llama-server)"
    )


def tiny_model_path() -> Path:
    """The tiny random-weight GGUF model written by ``setup.sh``."""
    path = cache_dir() / "models" / "tiny-random-llama.gguf"
    if not path.is_file():
        raise TestServerError(f"Test model {path} is missing. Create it with: {_SETUP}")
    return path


def tiny_mmproj_path() -> Path:
    """The tiny random-weight vision projector for the tiny model, written by ``setup.sh``.

    A CLIP-style encoder with the llava "mlp" projector: the server fits every image, whatever
    its size, to 32x32 pixels, so each costs exactly :data:`TINY_MMPROJ_IMAGE_TOKENS` prompt
    tokens.
    """
    path = cache_dir() / "models" / "tiny-random-mmproj.gguf"
    if not path.is_file():
        raise TestServerError(f"Test projector {path} is missing. Create it with: {_SETUP}")
    return path


#: prompt tokens per image with :func:`tiny_mmproj_path`: (image 32 px / patch 8 px) ** 2
TINY_MMPROJ_IMAGE_TOKENS = 16


class LlamaServer(RealServer):
    """One llama-server process on ``127.0.0.1:<free port>``; ``url`` has no ``/v1`` suffix.

    ``model`` is the alias the server answers to (``/v1/models`` lists it, requests name it).
    ``start()`` raises :class:`TestServerError` with the log tail when the server cannot start.
    ``mmproj``: a vision projector (``--mmproj``) so chat requests may carry images; ``True``
    is :func:`tiny_mmproj_path`.
    """

    def __init__(
        self,
        *,
        model_path: Path | None = None,
        alias: str = "tiny",
        threads: int = 1,
        slots: int = 4,
        ctx_size: int = 8192,
        log_dir: Path | None = None,
        extra_args: tuple[str, ...] = (),
        timeout: float = 60.0,
        mmproj: bool | Path = False,
    ) -> None:
        super().__init__(log_dir, timeout)
        self.model = alias
        self.model_path = model_path
        self.threads = threads
        self.slots = slots
        self.ctx_size = ctx_size
        self.extra_args = extra_args
        self.mmproj = mmproj
        self.port = 0
        self.url = ""

    def _launch(self) -> tuple[ServerProcess, Callable[[], bool]]:
        binary = find_llama_server()
        model_path = self.model_path or tiny_model_path()
        self.port = port = free_port()
        self.url = url = f"http://127.0.0.1:{port}"
        mmproj: list[str] = []
        if self.mmproj:
            path = tiny_mmproj_path() if self.mmproj is True else Path(self.mmproj)
            mmproj = ["--mmproj", str(path)]
        argv = [
            str(binary),
            "-m", str(model_path),
            "-a", self.model,
            "--host", "127.0.0.1",
            "--port", str(port),
            "-t", str(self.threads),
            "-np", str(self.slots),
            "-c", str(self.ctx_size),
            "--metrics",
            "--no-webui",
            *mmproj,
            *self.extra_args,
        ]  # fmt: skip
        process = ServerProcess(
            "llama-server", argv, self.log_dir / f"llama-server-{port}.log", setup_hint=_SETUP
        )
        return process, functools.partial(http_ok, f"{url}/health")

    def __repr__(self) -> str:
        return f"LlamaServer(url={self.url!r}, model={self.model!r}, pid={self.pid})"
