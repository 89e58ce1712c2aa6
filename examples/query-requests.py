"""Which minute of a run had the worst p99 TTFT, and how many errors did it have?

The report summarises whole benchmarks; a question about a stretch of time inside a run is
one for the per-request export (docs/metrics.md, "Per-request export"), here with pandas:

    guidellm run --output run.json --output run.requests.parquet
    python examples/query-requests.py run.requests.parquet

Minutes are the UTC wall-clock minutes in which requests started. The p99 is over each
minute's successful requests with the report's percentile definition (linear interpolation
between the closest ranks, which is also pandas' default).
"""

from __future__ import annotations

import sys

import pandas as pd


def per_minute(path: str) -> pd.DataFrame:
    """Per minute of the run: requests started, errors among them, p99 TTFT (ms) of the
    successful ones."""
    rows = pd.read_parquet(path, columns=["started_at", "status", "ttft_ms"])
    if rows.empty or rows["started_at"].isna().all():
        raise SystemExit(
            f"{path}: no request with a timestamp (a journal of an older guidellm has none)"
        )
    rows["minute"] = rows["started_at"].dt.floor("min")
    rows["errored"] = rows["status"] == "errored"
    successful = rows[rows["status"] == "successful"]
    by_minute = rows.groupby("minute")
    return pd.DataFrame(
        {
            "requests": by_minute.size(),
            "errors": by_minute["errored"].sum(),
            "ttft_p99_ms": successful.groupby("minute")["ttft_ms"].quantile(0.99),
        }
    )


def main(argv: list[str]) -> int:
    path = argv[1] if len(argv) > 1 else "run.requests.parquet"
    table = per_minute(path)
    print(table.to_string())
    worst = table["ttft_p99_ms"].idxmax()
    row = table.loc[worst]
    print(
        f"worst minute: {worst:%Y-%m-%d %H:%M} UTC, p99 TTFT {row['ttft_p99_ms']:.3f} ms, "
        f"{int(row['errors'])} errors of {int(row['requests'])} requests"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
