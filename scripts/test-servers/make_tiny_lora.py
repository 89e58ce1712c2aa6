#!/usr/bin/env python3
"""Build a tiny random LoRA adapter GGUF for the tiny model, fully offline, in about a second.

Tests serve the base model and "base + this adapter" under two model names, so a weighted model
mix goes to two really different models. The adapter must visibly change greedy output, or a
test could not tell whether it was applied: it adapts the LM head (``output.weight``) strongly,
and ``attn_q`` / ``attn_v`` of every block lightly (the common LoRA targets). Column 0 of the
head's update is zero, which keeps make_tiny_gguf.py's "bias trick" (control and byte tokens
pushed far down through hidden dim 0), so output stays printable word pieces.

Layout llama.cpp's llama-adapter.cpp expects: ``general.type=adapter``, the base model's
``general.architecture``, ``adapter.type=lora``, ``adapter.lora.alpha`` (scale = alpha / rank),
and for each adapted weight W (numpy shape ``(out, in)``) a pair ``W.lora_a`` of shape
``(rank, in)`` and ``W.lora_b`` of shape ``(out, rank)``.

setup.sh runs it (component 'model'). By hand:
    python make_tiny_lora.py BASE.gguf OUT.gguf [--rank 4 --alpha 4 --seed 99]
Needs: numpy, gguf (from PyPI).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np


def base_shapes(path: str) -> tuple[str, dict[str, tuple[int, int]]]:
    """The base model's architecture and its 2-D weights as ``name -> (out, in)``."""
    import gguf

    reader = gguf.GGUFReader(path)
    field = reader.fields["general.architecture"]
    arch = bytes(field.parts[field.data[0]]).decode()
    shapes: dict[str, tuple[int, int]] = {}
    for tensor in reader.tensors:
        dims = [int(d) for d in tensor.shape]  # ggml order: ne[0] = in, ne[1] = out
        if len(dims) == 2:
            shapes[tensor.name] = (dims[1], dims[0])
    return arch, shapes


def main() -> None:
    import gguf

    ap = argparse.ArgumentParser()
    ap.add_argument("base")
    ap.add_argument("out")
    ap.add_argument("--rank", type=int, default=4)
    ap.add_argument("--alpha", type=float, default=4.0)
    ap.add_argument("--seed", type=int, default=99)
    ap.add_argument("--name", default="tiny-random-lora")
    a = ap.parse_args()

    arch, shapes = base_shapes(a.base)
    targets = {"output.weight": 0.3}  # strong: changes which token wins
    targets.update({n: 0.05 for n in shapes if n.endswith((".attn_q.weight", ".attn_v.weight"))})
    missing = [n for n in targets if n not in shapes]
    if missing or len(targets) < 2:
        raise SystemExit(f"{a.base}: not the tiny llama model (missing {missing or 'attn_q'})")

    rng = np.random.default_rng(a.seed)

    def rand(*shape: int, s: float) -> Any:
        return (rng.standard_normal(shape) * s).astype(np.float32)

    w = gguf.GGUFWriter(a.out, arch)
    w.add_type(gguf.GGUFType.ADAPTER)
    w.add_name(a.name)
    w.add_string(gguf.Keys.Adapter.TYPE, "lora")
    w.add_float32(gguf.Keys.Adapter.LORA_ALPHA, a.alpha)
    for name, s in targets.items():
        n_out, n_in = shapes[name]
        lora_a = rand(a.rank, n_in, s=s)
        if name == "output.weight":
            lora_a[:, 0] = 0.0  # leave the bias-trick dimension alone
        w.add_tensor(f"{name}.lora_a", lora_a)
        w.add_tensor(f"{name}.lora_b", rand(n_out, a.rank, s=s))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    print(
        f"wrote {a.out}: LoRA rank={a.rank} alpha={a.alpha} on {len(targets)} tensors of "
        f"{Path(a.base).name}, size={Path(a.out).stat().st_size / 1e3:.0f} kB"
    )


if __name__ == "__main__":
    main()
