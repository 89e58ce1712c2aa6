"""``guidellm preprocess dataset IN OUT``: resample or filter a dataset to target token lengths."""

from __future__ import annotations

from pathlib import Path

import click

__all__ = ["preprocess"]


@click.group()
def preprocess() -> None:
    """Prepare datasets ahead of a benchmark."""


@preprocess.command("dataset")
@click.argument("data")
@click.argument("output", type=click.Path(dir_okay=True, path_type=Path))
@click.option(
    "--prompt-tokens",
    help="Target prompt length: N, or mean=N,stdev=S,min=A,max=B. Longer prompts are "
    "truncated exactly; shorter ones follow --short-prompts.",
)
@click.option(
    "--output-tokens",
    help="Output length to store per row (output_tokens_count): N or mean=N,stdev=S,min=A,max=B.",
)
@click.option(
    "--processor",
    envvar="GUIDELLM_PROCESSOR",
    help="Tokenizer: a tokenizer.json, a tokenizer folder or a Hugging Face id. Without it, "
    "the approximate counter (one token per word or punctuation mark).",
)
@click.option(
    "--data-args",
    help="Options for reading DATA, JSON or k=v: split, subset, column_mapping ...",
)
@click.option(
    "--short-prompts",
    type=click.Choice(["drop", "keep", "concatenate"]),
    default="drop",
    show_default=True,
    help="What to do with prompts shorter than their target.",
)
@click.option("--max-rows", type=click.IntRange(min=1), help="Stop after writing this many rows.")
@click.option("--random-seed", type=int, default=42, show_default=True)
def dataset(  # noqa: PLR0917 - click passes every option positionally by name
    data: str,
    output: Path,
    prompt_tokens: str | None,
    output_tokens: str | None,
    processor: str | None,
    data_args: str | None,
    short_prompts: str,
    max_rows: int | None,
    random_seed: int,
) -> None:
    """Read DATA (a file, a dataset folder or id, or a synthetic spec with samples=N), resample
    it to the target lengths and write OUTPUT in the format of its extension (.jsonl .json .csv
    .tsv .parquet .arrow .txt; no extension: a Hugging Face save_to_disk folder)."""
    import itertools

    from guidellm.data.loader import RequestLoader
    from guidellm.data.preprocess import (
        PreprocessStats,
        check_output,
        default_tokenizer,
        parse_length,
        write_rows,
    )
    from guidellm.data.preprocess import preprocess as run
    from guidellm.errors import UserError
    from guidellm.options import parse_options
    from guidellm.plugins import get_plugin_host

    check_output(output)
    prompt_len = parse_length(prompt_tokens, "--prompt-tokens")
    output_len = parse_length(output_tokens, "--output-tokens")
    loader = RequestLoader(
        [data],
        parse_options(data_args, "--data-args"),
        processor=processor,
        random_seed=random_seed,
        host=get_plugin_host(),
    )
    if loader.size is None and max_rows is None:
        raise UserError(
            f"{data!r} is endless; add samples=N to the synthetic spec or pass --max-rows N"
        )
    tokenizer = default_tokenizer(loader.tokenizer)
    stats = PreprocessStats()
    rows = run(
        loader,
        tokenizer,
        prompt_len=prompt_len,
        output_len=output_len,
        short_prompts=short_prompts,
        seed=random_seed,
        stats=stats,
    )
    write_rows(itertools.islice(rows, max_rows), output)
    click.echo(stats.summary(output, tokenizer))
