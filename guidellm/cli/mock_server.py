"""``guidellm mock-server``: run the built-in OpenAI-compatible mock server in the foreground."""

from __future__ import annotations

from typing import Any

import click

__all__ = ["mock_server"]


@click.command("mock-server")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8000,
    show_default=True,
    help="Port to listen on (0: a free port, printed at start).",
)
@click.option(
    "--ttft-ms", type=float, default=50.0, show_default=True, help="Mean time to first token."
)
@click.option(
    "--ttft-ms-std",
    type=float,
    default=0.0,
    show_default=True,
    help="Standard deviation of the time to first token.",
)
@click.option(
    "--itl-ms",
    type=float,
    default=10.0,
    show_default=True,
    help="Mean inter-token latency (drawn once per request).",
)
@click.option(
    "--itl-ms-std",
    type=float,
    default=0.0,
    show_default=True,
    help="Standard deviation of the per-request inter-token latency.",
)
@click.option(
    "--output-tokens",
    type=int,
    default=128,
    show_default=True,
    help="Mean output length when a request sets no max_tokens.",
)
@click.option(
    "--output-tokens-std",
    type=float,
    default=0.0,
    show_default=True,
    help="Standard deviation of the output length.",
)
@click.option(
    "--reasoning-tokens",
    type=int,
    default=0,
    show_default=True,
    help="Stream this many tokens as delta.reasoning_content first (chat).",
)
@click.option(
    "--max-concurrency",
    type=int,
    default=0,
    show_default=True,
    help="At most this many requests generate at once; others queue (0: no limit).",
)
@click.option(
    "--model",
    default="mock-model",
    show_default=True,
    help="Model name in /v1/models; requests naming another get a 404.",
)
@click.option(
    "--seed",
    type=int,
    default=0,
    show_default=True,
    help="Seed of every draw: same seed + request order, same answers.",
)
@click.option(
    "--error-500-rate", type=float, default=0.0, help="Share of requests answered with HTTP 500."
)
@click.option(
    "--error-429-rate",
    type=float,
    default=0.0,
    help="Share answered with HTTP 429 and a Retry-After header.",
)
@click.option(
    "--retry-after",
    "retry_after_s",
    type=int,
    default=1,
    show_default=True,
    help="Retry-After seconds of the 429 answers.",
)
@click.option(
    "--reset-rate",
    type=float,
    default=0.0,
    help="Share of responses cut by a TCP reset mid-stream.",
)
@click.option(
    "--malformed-rate",
    type=float,
    default=0.0,
    help="Share of responses with one malformed JSON chunk (half-way).",
)
@click.option(
    "--stall-rate",
    type=float,
    default=0.0,
    help="Share of responses that stop half-way, keeping the socket open.",
)
@click.option(
    "--no-done-rate",
    type=float,
    default=0.0,
    help="Share of streams that end without 'data: [DONE]'.",
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
def mock_server(host: str, port: int, protocol: str, grpc_dialect: str, **settings: Any) -> None:
    """Serve /v1/completions, /v1/chat/completions, /v1/models and /health with simulated
    timing and optional injected faults, until Ctrl-C. See docs/mock-server.md."""
    from guidellm.mock_server.behavior import MockServerConfig
    from guidellm.mock_server.server import run_foreground

    config = MockServerConfig(**settings)  # raises UserError (exit 2) on bad values
    if protocol == "grpc":
        from guidellm.mock_server.grpc_server import run_grpc_foreground

        if config.max_concurrency:
            from guidellm.errors import UserError

            raise UserError(
                "--max-concurrency applies to the HTTP mock only; drop it or use --protocol http."
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
        click.echo(
            f"guidellm mock-server listening on {url} (model {config.model!r}, "
            f"ttft {config.ttft_ms:g} ms, itl {config.itl_ms:g} ms); Ctrl-C to stop",
            err=True,
        )
        click.echo(url)

    run_foreground(config, host, port, announce)
