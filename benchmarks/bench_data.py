"""How much the RequestLoader costs per request (the scheduler needs 1,000 requests/s or more).

Generates ``--requests`` synthetic requests of ``--prompt-tokens`` tokens through the real
RequestLoader, once with the approximate counter and once with a real tokenizer (a byte-level
BPE trained on the shipped corpus unless ``--processor`` names one), and reads a JSON Lines file
of the same size back. Prints setup time, CPU microseconds per request and requests/s, then
re-counts a sample of prompts with the tokenizer to show they are exact.

    .venv/bin/python benchmarks/bench_data.py [--requests 100000] [--prompt-tokens 1000]

``--images N`` measures synthetic requests carrying N images each instead (``--image-size``
pixels square, JPEG and PNG): the images are encoded at start-up, so a request only picks one.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any


def _train_bpe(folder: Path) -> str:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    from guidellm.data.corpus import corpus_text

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=4000, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tok.train_from_iterator([corpus_text()], trainer)
    path = folder / "tokenizer.json"
    tok.save(str(path))
    return str(path)


def _text(request: Any) -> str:
    """A request's prompt text (the text part of an image request's message)."""
    if request.prompt is not None:
        return str(request.prompt)
    content = request.messages[-1]["content"]
    return str(content[0]["text"]) if isinstance(content, list) else str(content)


def _measure(
    label: str, data: list[str], args: dict[str, Any], processor: str | None, n: int
) -> dict[str, Any]:
    from guidellm.data.loader import RequestLoader
    from guidellm.plugins import PluginHost

    host = PluginHost(builtins=("guidellm.data.sources",), entry_points=False)
    t0 = time.perf_counter()
    loader = RequestLoader(data, args, processor=processor, random_seed=1, host=host)
    setup = time.perf_counter() - t0
    t1, c1 = time.perf_counter(), time.process_time()
    got = sum(1 for _ in itertools.islice(loader, n))  # the timed pass keeps nothing
    wall, cpu = time.perf_counter() - t1, time.process_time() - c1
    assert got == n, f"{label}: got {got} requests"
    # Checking pass on a fresh loader: all prompts distinct, a sample re-counted exactly.
    check = RequestLoader(data, args, processor=processor, random_seed=1, host=host)
    seen: set[int] = set()
    sample = []
    for i, request in enumerate(itertools.islice(check, n)):
        seen.add(hash(_text(request)))
        if i % max(1, n // 200) == 0:
            sample.append(request)
    exact = None
    if check.tokenizer is not None or "prompt_tokens" in data[0]:
        from guidellm.data.tokenizers import ApproxTokenizer

        tok = check.tokenizer or ApproxTokenizer()
        exact = sum(tok.count(_text(r)) == r.prompt_tokens for r in sample) / len(sample)
    result = {
        "case": label,
        "requests": n,
        "setup_s": round(setup, 3),
        "cpu_us_per_request": round(cpu / n * 1e6, 2),
        "wall_us_per_request": round(wall / n * 1e6, 2),
        "requests_per_s": round(n / wall),
        "sampled_exact": exact,
        "unique": len(seen) == n,
    }
    print(json.dumps(result), flush=True)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=100_000)
    parser.add_argument("--prompt-tokens", type=int, default=1000)
    parser.add_argument("--processor", default=None, help="tokenizer.json or folder")
    parser.add_argument("--images", type=int, default=0, help="images per request")
    parser.add_argument("--image-size", type=int, default=512)
    opts = parser.parse_args(argv)
    n, tokens = opts.requests, opts.prompt_tokens
    spec = f"prompt_tokens={tokens},output_tokens=128"
    if opts.images:
        size = opts.image_size
        for fmt in ("jpeg", "png"):
            images = f"{spec},images={opts.images},image_width={size},image_height={size}"
            label = f"synthetic, {opts.images} x {size}x{size} {fmt}"
            _measure(label, [f"{images},image_format={fmt}"], {}, None, n)
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        processor = opts.processor or _train_bpe(folder)
        _measure("synthetic, approximate counter", [spec], {}, None, n)
        _measure("synthetic, BPE tokenizer", [spec], {}, processor, n)
        prefixed = f"{spec},prefix_tokens=200,prefix_count=8"
        _measure("synthetic + shared prefix, BPE", [prefixed], {}, processor, n)
        path = folder / "rows.jsonl"
        from guidellm.data.synthetic import SyntheticSource

        source = SyntheticSource(f"{spec},samples={n}", {}, None, 3)
        with path.open("w") as f:
            for row in source.rows():
                f.write(json.dumps(row) + "\n")
        _measure("jsonl file (rows carry counts)", [str(path)], {}, None, n)
    return 0


if __name__ == "__main__":
    sys.exit(main())
