"""``guidellm mock-server``: run the built-in OpenAI-compatible mock server in the foreground."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

__all__ = ["mock_server"]


# The behaviour options, one per MockServerConfig field (defaults come from there):
# (field, flag, type, help).
_SETTINGS: tuple[tuple[str, str, type, str], ...] = (
    ("ttft_ms", "--ttft-ms", float, "Mean time to first token."),
    ("ttft_ms_std", "--ttft-ms-std", float, "Standard deviation of the time to first token."),
    ("itl_ms", "--itl-ms", float, "Mean inter-token latency (drawn once per request)."),
    ("itl_ms_std", "--itl-ms-std", float,
     "Standard deviation of the per-request inter-token latency."),
    ("output_tokens", "--output-tokens", int,
     "Mean output length when a request sets no max_tokens."),
    ("output_tokens_std", "--output-tokens-std", float,
     "Standard deviation of the output length."),
    ("reasoning_tokens", "--reasoning-tokens", int,
     "Stream this many tokens as delta.reasoning_content first (chat)."),
    ("max_concurrency", "--max-concurrency", int,
     "At most this many requests generate at once; others queue (0: no limit)."),
    ("prefill_ms_per_token", "--prefill-ms-per-token", float,
     "TTFT added per prompt token not served from the prefix cache."),
    ("prefix_block_tokens", "--prefix-block-tokens", int,
     "Prefix cache block size in tokens; only whole leading blocks hit."),
    ("prefix_cache_blocks", "--prefix-cache-blocks", int,
     "Blocks the prefix cache holds (LRU, per server process; 0: no cache)."),
    ("kv_cache_tokens", "--kv-cache-tokens", int,
     "KV cache size /metrics models usage against (0: max-concurrency slots)."),
    ("image_tokens", "--image-tokens", int,
     "Prompt tokens counted per image_url part of a chat message."),
    ("audio_tokens_per_second", "--audio-tokens-per-second", float,
     "Prompt tokens counted per second of each input_audio (WAV) part of a chat message."),
    ("embedding_dim", "--embedding-dim", int, "Length of the vectors /v1/embeddings returns."),
    ("model", "--model", str,
     "Model name in /v1/models; requests naming another get a 404 (see --models)."),
    ("seed", "--seed", int, "Seed of every draw: same seed + request order, same answers."),
    ("error_500_rate", "--error-500-rate", float, "Share of requests answered with HTTP 500."),
    ("error_429_rate", "--error-429-rate", float,
     "Share answered with HTTP 429 and a Retry-After header."),
    ("retry_after_s", "--retry-after", int, "Retry-After seconds of the 429 answers."),
    ("reset_rate", "--reset-rate", float, "Share of responses cut by a TCP reset mid-stream."),
    ("malformed_rate", "--malformed-rate", float,
     "Share of responses with one malformed JSON chunk (half-way)."),
    ("stall_rate", "--stall-rate", float,
     "Share of responses that stop half-way, keeping the socket open."),
    ("no_done_rate", "--no-done-rate", float,
     "Share of streams that end without 'data: [DONE]'."),
)  # fmt: skip


def parse_models(text: str | None) -> list[str]:
    """``--models a,b,c`` as a list (blanks dropped); none given: an empty list."""
    return [name.strip() for name in (text or "").split(",") if name.strip()]


def parse_model_timing(entries: tuple[str, ...]) -> dict[str, dict[str, float]]:
    """``--model-timing NAME:KEY=MS,KEY=MS`` entries (repeated, or ``;``-separated) as
    ``{NAME: {KEY: MS}}``; a later entry for a name adds to (and overrides) an earlier one.
    Which names and keys are valid is :class:`MockServerConfig`'s to check."""
    from guidellm.errors import UserError

    timing: dict[str, dict[str, float]] = {}
    for entry in (e.strip() for text in entries for e in text.split(";")):
        if not entry:
            continue
        name, sep, pairs = entry.rpartition(":")
        if not sep or not name.strip():
            raise UserError(
                f"--model-timing {entry!r}: expected MODEL:KEY=VALUE,..., "
                "e.g. --model-timing adapter-a:ttft_ms=120,itl_ms=15."
            )
        overrides = timing.setdefault(name.strip(), {})
        for pair in pairs.split(","):
            key, eq, value = pair.partition("=")
            try:
                number = float(value)
            except ValueError:
                number = None
            if not eq or not key.strip() or number is None:
                raise UserError(
                    f"--model-timing {entry!r}: {pair.strip()!r} is not KEY=NUMBER, "
                    "e.g. ttft_ms=120."
                )
            overrides[key.strip()] = number
    return timing


def _setting_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Add one click option per :data:`_SETTINGS` row, defaulting to MockServerConfig's."""
    from guidellm.mock_server.behavior import MockServerConfig

    defaults = MockServerConfig()
    for field, flag, kind, text in reversed(_SETTINGS):
        command = click.option(
            flag, field, type=kind, default=getattr(defaults, field), show_default=True, help=text
        )(command)
    return command


@click.command("mock-server")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8000,
    show_default=True,
    help="Port to listen on (0: a free port, printed at start).",
)
@_setting_options
@click.option(
    "--models",
    "models",
    default=None,
    metavar="A,B,...",
    help="Serve these models (a base and its LoRA adapters, say), comma-separated; the first "
    "is the default for requests naming none. Replaces --model.",
)
@click.option(
    "--model-timing",
    "model_timing",
    multiple=True,
    metavar="MODEL:KEY=MS,...",
    help="Timing of one served model's requests, e.g. adapter-a:ttft_ms=120,itl_ms=15 "
    "(keys: ttft_ms, ttft_ms_std, itl_ms, itl_ms_std, prefill_ms_per_token); repeatable, "
    "or ';'-separated.",
)
@click.option(
    "--protocol",
    type=click.Choice(["http", "grpc"]),
    default="http",
    show_default=True,
    help="http: OpenAI-compatible; grpc: KServe v2 gRPC with Triton streaming (grpc://).",
)
@click.option(
    "--grpc-dialect",
    type=click.Choice(["triton", "mlserver"]),
    default="triton",
    show_default=True,
    help="gRPC stream messages: Triton's wrapper or MLServer's bare responses.",
)
def mock_server(
    host: str,
    port: int,
    protocol: str,
    grpc_dialect: str,
    *,
    models: str | None,
    model_timing: tuple[str, ...],
    **settings: Any,
) -> None:
    """Serve the OpenAI routes (/v1/completions, /v1/chat/completions, /v1/embeddings,
    /v1/rerank, /v1/audio/transcriptions, /v1/models), Anthropic's /v1/messages, /metrics and
    /health with simulated timing and optional injected faults, until Ctrl-C. See
    docs/mock-server.md."""
    from guidellm.mock_server.behavior import MockServerConfig
    from guidellm.mock_server.server import run_foreground

    # raises UserError (exit 2) on bad values
    config = MockServerConfig(
        **settings, models=parse_models(models), model_timing=parse_model_timing(model_timing)
    )
    if protocol == "grpc":
        from guidellm.mock_server.grpc_server import run_grpc_foreground

        for field, flag in (
            ("max_concurrency", "--max-concurrency"),
            ("prefill_ms_per_token", "--prefill-ms-per-token"),
            ("kv_cache_tokens", "--kv-cache-tokens"),
            ("models", "--models"),
            ("model_timing", "--model-timing"),
        ):
            if getattr(config, field):
                from guidellm.errors import UserError

                raise UserError(
                    f"{flag} applies to the HTTP mock only; drop it or use --protocol http."
                )

        def announce_grpc(target: str) -> None:
            click.echo(
                f"guidellm mock-server (gRPC, {grpc_dialect} dialect) listening on {target} "
                f"(model {config.model!r}); Ctrl-C to stop",
                err=True,
            )
            click.echo(target)

        run_grpc_foreground(config, host, port, dialect=grpc_dialect, announce=announce_grpc)
        return

    def announce(url: str) -> None:
        names = ", ".join(repr(n) for n in config.served_models)
        click.echo(
            f"guidellm mock-server listening on {url} (model {names}, "
            f"ttft {config.ttft_ms:g} ms, itl {config.itl_ms:g} ms); Ctrl-C to stop",
            err=True,
        )
        click.echo(url)

    run_foreground(config, host, port, announce)
