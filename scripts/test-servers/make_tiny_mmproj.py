#!/usr/bin/env python3
"""Build a tiny random-weight multimodal projector GGUF for llama-server's ``--mmproj``, offline.

Real vision projectors come from a model hub; the tests need one that llama.cpp's mtmd
(clip.cpp) accepts next to the tiny text model of make_tiny_gguf.py, so that images are
benchmarked against a real server. This writes a CLIP-style ViT with the llava "mlp"
projector (the projector type with the fewest tensors):

* the image is resized to IMAGE_SIZE x IMAGE_SIZE and cut into PATCH x PATCH patches;
* a class token, BLOCKS pre-LayerNorm transformer blocks (llava runs all but the last);
* mm.0 (linear) -> GELU -> mm.2 (linear) to the text model's embedding size.

Every image therefore becomes exactly (IMAGE_SIZE // PATCH) ** 2 embeddings, i.e. that many
prompt tokens (printed, and stored under ``guidellm.image_tokens``).

setup.sh runs it (component 'model'). By hand:
    python make_tiny_mmproj.py OUT.gguf [--model tiny.gguf | --n-embd 256] [--image-size 32]
Needs: numpy, gguf (both from PyPI).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np


def text_embedding_length(model: str) -> int:
    """The text model's hidden size, which the projector's output must match."""
    import gguf

    reader = gguf.GGUFReader(model)
    arch_field = reader.fields["general.architecture"]
    arch = bytes(arch_field.parts[arch_field.data[0]]).decode()
    field = reader.fields[f"{arch}.embedding_length"]
    return int(field.parts[field.data[0]][0])


def image_tokens(image_size: int, patch: int) -> int:
    """Prompt tokens one image costs: one per patch (the class token is dropped)."""
    return (image_size // patch) ** 2


def main() -> None:
    import gguf

    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--model", help="text model GGUF to take the embedding size from")
    ap.add_argument("--n-embd", type=int, default=256, help="text embedding size (no --model)")
    ap.add_argument("--image-size", type=int, default=32)
    ap.add_argument("--patch", type=int, default=8)
    ap.add_argument("--width", type=int, default=64)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--ff", type=int, default=128)
    ap.add_argument("--blocks", type=int, default=2)
    ap.add_argument("--proj-hidden", type=int, default=128)
    ap.add_argument("--seed", type=int, default=4321)
    ap.add_argument("--name", default="tiny-random-mmproj")
    a = ap.parse_args()

    if a.image_size % a.patch:
        ap.error("--image-size must be a multiple of --patch")
    n_embd = text_embedding_length(a.model) if a.model else a.n_embd
    W, P, FF, PH = a.width, a.patch, a.ff, a.proj_hidden
    n_patches = image_tokens(a.image_size, P)
    rng = np.random.default_rng(a.seed)

    def rand(*shape: int, s: float = 0.02) -> Any:
        return (rng.standard_normal(shape) * s).astype(np.float32)

    def ones(n: int) -> Any:
        return np.ones(n, dtype=np.float32)

    def zeros(n: int) -> Any:
        return np.zeros(n, dtype=np.float32)

    w = gguf.GGUFWriter(a.out, "clip")
    w.add_type(gguf.GGUFType.MMPROJ)
    w.add_name(a.name)
    w.add_file_type(gguf.LlamaFileType.ALL_F32)
    w.add_bool(gguf.Keys.Clip.HAS_VISION_ENCODER, True)
    w.add_bool(gguf.Keys.Clip.HAS_LLAVA_PROJECTOR, True)
    w.add_string(gguf.Keys.Clip.PROJECTOR_TYPE, "mlp")
    w.add_uint32(gguf.Keys.ClipVision.IMAGE_SIZE, a.image_size)
    w.add_uint32(gguf.Keys.ClipVision.PATCH_SIZE, P)
    w.add_uint32(gguf.Keys.ClipVision.EMBEDDING_LENGTH, W)
    w.add_uint32(gguf.Keys.ClipVision.FEED_FORWARD_LENGTH, FF)
    w.add_uint32(gguf.Keys.ClipVision.PROJECTION_DIM, n_embd)
    w.add_uint32(gguf.Keys.ClipVision.BLOCK_COUNT, a.blocks)
    w.add_uint32(gguf.Keys.ClipVision.Attention.HEAD_COUNT, a.heads)
    w.add_float32(gguf.Keys.ClipVision.Attention.LAYERNORM_EPS, 1e-5)
    w.add_array(gguf.Keys.ClipVision.IMAGE_MEAN, [0.5, 0.5, 0.5])
    w.add_array(gguf.Keys.ClipVision.IMAGE_STD, [0.5, 0.5, 0.5])
    w.add_bool(gguf.Keys.ClipVision.USE_GELU, True)
    w.add_uint32("guidellm.image_tokens", n_patches)

    # numpy shapes are ggml's ne reversed: a conv kernel (out, in, kh, kw), a linear (out, in)
    w.add_tensor("v.patch_embd.weight", rand(W, 3, P, P, s=0.1))
    w.add_tensor("v.patch_embd.bias", zeros(W))
    w.add_tensor("v.class_embd", rand(W))
    w.add_tensor("v.position_embd.weight", rand(n_patches + 1, W))
    w.add_tensor("v.pre_ln.weight", ones(W))
    w.add_tensor("v.pre_ln.bias", zeros(W))
    for i in range(a.blocks):
        for name in ("attn_q", "attn_k", "attn_v", "attn_out"):
            w.add_tensor(f"v.blk.{i}.{name}.weight", rand(W, W))
            w.add_tensor(f"v.blk.{i}.{name}.bias", zeros(W))
        for name in ("ln1", "ln2"):
            w.add_tensor(f"v.blk.{i}.{name}.weight", ones(W))
            w.add_tensor(f"v.blk.{i}.{name}.bias", zeros(W))
        w.add_tensor(f"v.blk.{i}.ffn_up.weight", rand(FF, W))
        w.add_tensor(f"v.blk.{i}.ffn_up.bias", zeros(FF))
        w.add_tensor(f"v.blk.{i}.ffn_down.weight", rand(W, FF))
        w.add_tensor(f"v.blk.{i}.ffn_down.bias", zeros(W))
    w.add_tensor("mm.0.weight", rand(PH, W))
    w.add_tensor("mm.0.bias", zeros(PH))
    w.add_tensor("mm.2.weight", rand(n_embd, PH))
    w.add_tensor("mm.2.bias", zeros(n_embd))

    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    print(
        f"wrote {a.out}: mlp projector, image {a.image_size}px patch {P} -> "
        f"{n_patches} image tokens, width={W} blocks={a.blocks} n_embd={n_embd} "
        f"size={Path(a.out).stat().st_size / 1e6:.2f} MB"
    )


if __name__ == "__main__":
    main()
