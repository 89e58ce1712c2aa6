"""Write a Mooncake-format trace (JSON Lines) of N requests at a chosen rate and prefix reuse.

Arrivals are Poisson (exponential gaps at ``--rate`` requests/s); timestamps are whole
milliseconds from 0. Each request's ``hash_ids`` has one id per ``--block-size`` block of its
prompt, the last block partial when the length is not a multiple. With ``--reuse 0`` no id
ever repeats. With ``--reuse R`` a fraction R of the requests begin with the leading full
blocks of one of the ``--pool`` previous requests (at least one block, always leaving the new
request one block of its own), as a chat turn or a shared system prompt would::

    python scripts/make_mooncake_trace.py --requests 2000 --rate 200 --out trace.jsonl \\
        [--reuse 0.5] [--seed 0] [--block-size 512] [--input 256:4096] [--output 16:512]

Standard library only; the same arguments and seed give the same file.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections import deque
from pathlib import Path


def _span(text: str) -> tuple[int, int]:
    low, _, high = text.partition(":")
    a, b = int(low), int(high or low)
    if a < 1 or b < a:
        raise argparse.ArgumentTypeError(f"{text!r}: want MIN:MAX with 1 <= MIN <= MAX")
    return a, b


def make_trace(
    requests: int,
    rate: float,
    *,
    reuse: float = 0.0,
    seed: int = 0,
    block_size: int = 512,
    input_tokens: tuple[int, int] = (256, 4096),
    output_tokens: tuple[int, int] = (16, 512),
    pool: int = 64,
) -> list[dict[str, object]]:
    """The trace's rows, in time order."""
    rng = random.Random(seed)
    next_id = 0
    recent: deque[list[int]] = deque(maxlen=pool)  # each request's full-block ids
    rows: list[dict[str, object]] = []
    t = 0.0
    for i in range(requests):
        if i:
            t += rng.expovariate(rate)
        length = rng.randint(*input_tokens)
        blocks = -(-length // block_size)
        shared: list[int] = []
        if recent and blocks > 1 and rng.random() < reuse:
            donor = rng.choice(recent)
            if donor:
                shared = donor[: rng.randint(1, min(len(donor), blocks - 1))]
        ids = shared + list(range(next_id, next_id + blocks - len(shared)))
        next_id += blocks - len(shared)
        full = blocks if length % block_size == 0 else blocks - 1
        recent.append(ids[:full])
        rows.append(
            {
                "timestamp": int(t * 1000),
                "input_length": length,
                "output_length": rng.randint(*output_tokens),
                "hash_ids": ids,
            }
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, required=True)
    parser.add_argument("--rate", type=float, required=True, help="requests per second")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--reuse", type=float, default=0.0, help="share of requests reusing")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--block-size", type=int, default=512)
    parser.add_argument("--input", type=_span, default=(256, 4096), help="MIN:MAX tokens")
    parser.add_argument("--output", type=_span, default=(16, 512), help="MIN:MAX tokens")
    parser.add_argument("--pool", type=int, default=64, help="recent requests to share from")
    args = parser.parse_args(argv)
    if args.requests < 1 or args.rate <= 0 or not 0 <= args.reuse <= 1 or args.block_size < 1:
        parser.error("need --requests >= 1, --rate > 0, 0 <= --reuse <= 1, --block-size >= 1")
    rows = make_trace(
        args.requests,
        args.rate,
        reuse=args.reuse,
        seed=args.seed,
        block_size=args.block_size,
        input_tokens=args.input,
        output_tokens=args.output,
        pool=max(1, args.pool),
    )
    with args.out.open("w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, separators=(",", ":")) + "\n")
    print(f"wrote {len(rows)} requests to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
