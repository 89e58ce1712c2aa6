"""``guidellm preprocess dataset``: resample or filter a dataset to target lengths, then save it.

Reads any ``--data`` input through the RequestLoader (files, Hugging Face folders or ids, even a
synthetic spec with ``samples``), gives each row a target prompt length and output length drawn
from the requested distributions, truncates longer prompts to exactly the target with the
tokenizer, handles shorter ones by ``short_prompts`` (``drop`` them, ``keep`` them as they are,
or ``concatenate`` the following rows until long enough), and writes rows with ``prompt``,
``prompt_tokens_count`` and ``output_tokens_count`` in the format of the output's extension.
Stored counts make later runs cheap: the loader takes them as they are.
"""

from __future__ import annotations

import csv
import json
import random
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from guidellm.data.synthetic import LengthDistribution
from guidellm.data.tokenizers import ApproxTokenizer, Tokenizer
from guidellm.errors import UserError
from guidellm.options import parse_options

__all__ = ["OUTPUT_SUFFIXES", "PreprocessStats", "parse_length", "preprocess", "write_rows"]

OUTPUT_SUFFIXES = (".jsonl", ".json", ".csv", ".tsv", ".parquet", ".arrow", ".txt")
SHORT_PROMPTS = ("drop", "keep", "concatenate")


def parse_length(text: str | None, flag: str) -> LengthDistribution | None:
    """``"256"`` or ``"mean=256,stdev=32,min=128,max=512"`` (or JSON) -> a distribution."""
    if text is None or not str(text).strip():
        return None
    text = str(text).strip()
    if text.isdigit():
        config: dict[str, Any] = {"mean": int(text)}
    else:
        try:
            config = parse_options(text, flag)
        except UserError:  # its hint is about key=value pairs; a bare word means N was meant
            raise UserError(
                f"{flag} {text!r} is not a length; write N or mean=N,stdev=S,min=A,max=B"
            ) from None
    unknown = set(config) - {"mean", "stdev", "min", "max"}
    if unknown:
        raise UserError(
            f"{flag}: unknown key(s) {', '.join(sorted(unknown))}; write N or "
            "mean=N,stdev=S,min=A,max=B"
        )
    renamed = {
        "len": config.get("mean"),
        "len_stdev": config.get("stdev"),
        "len_min": config.get("min"),
        "len_max": config.get("max"),
    }
    try:
        return LengthDistribution.from_config(
            {k: v for k, v in renamed.items() if v is not None}, "len", 1
        )
    except UserError as exc:
        detail = str(exc).replace("synthetic data: ", "").replace("len_", "").replace("len", "N")
        raise UserError(f"{flag}: {detail.split(' (e.g.')[0]}; write N or mean=N,...") from None


@dataclass
class PreprocessStats:
    """What the command reports in its one summary line."""

    read: int = 0
    written: int = 0
    dropped: int = 0
    lengths: list[int] = field(default_factory=list)

    def summary(self, out: Path, tokenizer: Tokenizer) -> str:
        counted = (
            f"counted with {tokenizer.name}"
            if tokenizer.exact
            else "counted with the approximate counter (pass --processor for exact counts)"
        )
        span = (
            f"prompt tokens mean {sum(self.lengths) / len(self.lengths):.1f}, "
            f"min {min(self.lengths)}, max {max(self.lengths)}"
            if self.lengths
            else "no rows"
        )
        return (
            f"wrote {self.written} of {self.read} rows to {out} ({span}; {counted}); "
            f"dropped {self.dropped} shorter than their target"
        )


def _truncate(tokenizer: Tokenizer, text: str, ids: list[int], n: int) -> tuple[str, int]:
    """The first ``n`` tokens of ``text`` as text, re-counted: a cut inside a word can
    re-tokenize differently, so nearby cuts are tried until one counts exactly ``n``."""
    spans = tokenizer.spans(text)
    best: tuple[str, int] | None = None
    for k in (n, n - 1, n + 1, n - 2, n + 2, n - 3, n + 3):
        if not 0 < k <= len(ids):
            continue
        piece = text[: spans[k - 1][1]] if spans is not None else tokenizer.decode(ids[:k])
        have = tokenizer.count(piece)
        if have == n:
            return piece, have
        if have < n and (best is None or have > best[1]):
            best = (piece, have)
    return best if best is not None else (tokenizer.decode(ids[:n]), n)


def _prompt_text(request: Any) -> str | None:
    """The request's text; a session flattens to its conversation up to its last turn."""
    if request.prompt is not None:
        return str(request.prompt)
    messages = list(request.messages or ())
    for k, turn in enumerate(request.turns or ()):
        messages += turn.messages
        if turn.reply is not None and k < len(request.turns) - 1:
            messages.append(turn.reply)
    if messages:
        return "\n".join(str(m.get("content") or "") for m in messages)
    return None


def preprocess(
    requests: Iterable[Any],
    tokenizer: Tokenizer,
    *,
    prompt_len: LengthDistribution | None,
    output_len: LengthDistribution | None,
    short_prompts: str = "drop",
    seed: int = 42,
    stats: PreprocessStats | None = None,
) -> Iterator[dict[str, Any]]:
    """Rows resampled to the target lengths (see the module docstring)."""
    if short_prompts not in SHORT_PROMPTS:
        raise UserError(f"--short-prompts {short_prompts!r}: use one of {', '.join(SHORT_PROMPTS)}")
    rng = random.Random(seed)
    stats = stats if stats is not None else PreprocessStats()
    pending = ""  # text carried over by 'concatenate'
    for request in requests:
        text = _prompt_text(request)
        stats.read += 1
        if not text:
            stats.dropped += 1
            continue
        if pending:
            text = f"{pending}\n{text}"
        ids = tokenizer.encode(text)
        count = len(ids)
        if prompt_len is not None:
            target = prompt_len.sample(rng)
            if count > target:
                text, count = _truncate(tokenizer, text, ids, target)
            elif count < target:
                if short_prompts == "concatenate":
                    pending = text
                    continue
                if short_prompts == "drop":
                    stats.dropped += 1
                    continue
        pending = ""
        row: dict[str, Any] = {"prompt": text, "prompt_tokens_count": count}
        if output_len is not None:
            row["output_tokens_count"] = output_len.sample(rng)
        elif request.max_tokens is not None:
            row["output_tokens_count"] = request.max_tokens
        stats.written += 1
        stats.lengths.append(count)
        yield row


def check_output(path: Path) -> None:
    """Fail before reading anything when OUT cannot be written."""
    suffix = path.suffix.lower()
    if suffix and suffix not in OUTPUT_SUFFIXES:
        raise UserError(
            f"cannot write {path}: unknown format {suffix!r}; use one of "
            f"{' '.join(OUTPUT_SUFFIXES)} or a folder name (Hugging Face save_to_disk)"
        )
    if not path.parent.exists():
        raise UserError(f"cannot write {path}: folder {path.parent} does not exist; create it")
    if suffix in {".parquet", ".arrow"} or not suffix:
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise UserError(
                f"writing {suffix or 'a dataset folder'} needs pyarrow/datasets; install them "
                "with pip install 'guidellm[hf]', or write .jsonl"
            ) from None


def write_rows(rows: Iterable[Mapping[str, Any]], path: Path) -> None:
    """Write rows in the format of ``path``'s extension (no extension: ``save_to_disk``)."""
    check_output(path)
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        import orjson

        with path.open("wb") as f:
            for row in rows:
                f.write(orjson.dumps(row) + b"\n")
        return
    data = [dict(r) for r in rows]
    if suffix == ".json":
        path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    elif suffix in {".csv", ".tsv"}:
        names = list(dict.fromkeys(k for row in data for k in row)) or ["prompt"]
        with path.open("w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(
                f, fieldnames=names, delimiter="," if suffix == ".csv" else "\t"
            )
            writer.writeheader()
            writer.writerows(data)
    elif suffix == ".txt":
        with path.open("w", encoding="utf-8") as f:
            for row in data:  # one prompt a line: newlines inside a prompt become spaces
                f.write(" ".join(str(row["prompt"]).splitlines()) + "\n")
    elif suffix in {".parquet", ".arrow"}:
        import pyarrow as pa

        table = pa.Table.from_pylist(data)
        if suffix == ".parquet":
            from pyarrow import parquet

            parquet.write_table(table, path)
        else:
            from pyarrow import ipc

            with ipc.new_file(str(path), table.schema) as writer:
                writer.write_table(table)
    else:
        import datasets

        datasets.disable_progress_bars()
        datasets.Dataset.from_list(data).save_to_disk(str(path))


def default_tokenizer(tokenizer: Tokenizer | None) -> Tokenizer:
    return tokenizer if tokenizer is not None else ApproxTokenizer()
