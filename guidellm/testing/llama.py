"""A real llama.cpp ``llama-server`` for tests: a real engine, tokenizer and continuous batching.

``scripts/test-servers/setup.sh llama`` installs the binary and a tiny random-weight model into
the cache (:func:`guidellm.testing.process.cache_dir`); :class:`LlamaServer` starts it on a free
loopback port and stops it by PID::

    with LlamaServer().start() as server:
        httpx.get(f"{server.url}/v1/models")     # server.model == "tiny"

Two model names for a model mix: ``LlamaServer(alias="base", lora_model="adapter-a")`` runs
llama-server's router mode with a preset per name, ``base`` the tiny model and ``adapter-a`` the
tiny model with the tiny LoRA adapter applied (greedy output differs), one llama-server instance
each; ``server.models`` lists the names and ``server.metrics_urls`` their ``/metrics``. Aliases
alone (``aliases=("other",)``) are one model under several names: llama-server accepts any name
then and answers with the first alias in sorted order.

The tiny model never emits EOS, so ``max_tokens=N`` always streams exactly N tokens, one SSE
chunk each. ``-t 1`` by default: the machine's two cores are shared with the client under test,
and with two threads llama-server stalls now and then.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import httpx

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
    "tiny_lora_path",
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


def tiny_lora_path() -> Path:
    """The tiny LoRA adapter for the tiny model, written by ``setup.sh``."""
    path = cache_dir() / "models" / "tiny-random-llama-lora.gguf"
    if not path.is_file():
        raise TestServerError(f"Test LoRA adapter {path} is missing. Create it with: {_SETUP}")
    return path


def _router_ready(url: str, models: tuple[str, ...], fail: Callable[[str], Exception]) -> bool:
    """Router mode is ready once every preset's instance is loaded: load the ones that are not,
    and fail at once when an instance could not start (``fail`` adds the log tail)."""
    if not http_ok(f"{url}/health"):
        return False
    try:
        listed = httpx.get(f"{url}/v1/models", timeout=5).json()["data"]
        status = {m["id"]: m.get("status", {}) for m in listed}
    except (httpx.HTTPError, ValueError, KeyError, TypeError, AttributeError):
        return False
    for name in models:
        state = status.get(name, {})
        if state.get("failed"):
            raise fail(f"could not load model {name!r} (exit code {state.get('exit_code')})")
        if state.get("value") not in ("loaded", "loading"):
            try:
                httpx.post(f"{url}/models/load", json={"model": name}, timeout=5)
            except httpx.HTTPError:
                return False
    return all(status.get(name, {}).get("value") == "loaded" for name in models)


class LlamaServer(RealServer):
    """One llama-server process on ``127.0.0.1:<free port>``; ``url`` has no ``/v1`` suffix.

    ``model`` is the alias the server answers to (``/v1/models`` lists it, requests name it);
    ``models`` every name it serves: ``model`` and ``aliases``, or ``model`` and ``lora_model``
    (router mode: see the module doc). ``start()`` raises :class:`TestServerError` with the log
    tail when the server cannot start.
    ``mmproj``: a vision projector (``--mmproj``) so chat requests may carry images; ``True``
    is :func:`tiny_mmproj_path`.
    """

    def __init__(
        self,
        *,
        model_path: Path | None = None,
        alias: str = "tiny",
        aliases: tuple[str, ...] = (),
        lora_model: str | None = None,
        lora_path: Path | None = None,
        threads: int = 1,
        slots: int = 4,
        ctx_size: int = 8192,
        log_dir: Path | None = None,
        extra_args: tuple[str, ...] = (),
        timeout: float = 60.0,
        mmproj: bool | Path = False,
    ) -> None:
        super().__init__(log_dir, timeout)
        if lora_model is not None and (aliases or lora_model == alias):
            raise ValueError("lora_model needs a name of its own and no aliases")
        self.model = alias
        names = (alias, *aliases) if lora_model is None else (alias, lora_model)
        self.models: tuple[str, ...] = names
        self.lora_model = lora_model
        self.lora_path = lora_path
        self.model_path = model_path
        self.threads = threads
        self.slots = slots
        self.ctx_size = ctx_size
        self.extra_args = extra_args
        self.mmproj = mmproj
        self.port = 0
        self.url = ""

    @property
    def metrics_urls(self) -> tuple[str, ...]:
        """The Prometheus endpoints counting every request: one per instance in router mode."""
        if self.lora_model is None:
            return (f"{self.url}/metrics",)
        return tuple(f"{self.url}/metrics?model={name}" for name in self.models)

    def _presets(self, model_path: Path) -> Path:
        """The router's INI: one section per name; the server-wide flags reach every instance."""
        lora = self.lora_path or tiny_lora_path()
        text = (
            f"[{self.model}]\nmodel = {model_path}\n\n"
            f"[{self.lora_model}]\nmodel = {model_path}\nlora = {lora}\n"
        )
        path = self.log_dir / f"llama-presets-{self.port}.ini"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return path

    def _launch(self) -> tuple[ServerProcess, Callable[[], bool]]:
        binary = find_llama_server()
        model_path = self.model_path or tiny_model_path()
        self.port = port = free_port()
        self.url = url = f"http://127.0.0.1:{port}"
        if self.lora_model is None:
            serve = ["-m", str(model_path), "-a", ",".join(self.models)]
        else:
            serve = ["--models-preset", str(self._presets(model_path)), "--models-max", "2"]
        mmproj: list[str] = []
        if self.mmproj:
            path = tiny_mmproj_path() if self.mmproj is True else Path(self.mmproj)
            mmproj = ["--mmproj", str(path)]
        argv = [
            str(binary),
            *serve,
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
        if self.lora_model is None:
            return process, lambda: http_ok(f"{url}/health")
        return process, lambda: _router_ready(url, self.models, process.failure)

    def __repr__(self) -> str:
        return f"LlamaServer(url={self.url!r}, models={self.models!r}, pid={self.pid})"
