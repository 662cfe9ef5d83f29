#!/usr/bin/python3
"""PyTorch (CPU) reference for bench/train_bench.cc: the same llama architecture
lmlab trains (RMSNorm, RoPE in ggml's NORM mode = adjacent pairs rotated,
causal softmax attention, SwiGLU FFN, untied output head), the same AdamW step
(decoupled weight decay), fp32, on a token file written by the benchmark.
Prints one JSON line: tokens/s over the timed steps.

  /usr/bin/python3 bench/reference/train_torch.py --tokens t.bin --vocab 2048 \
      --layers 4 --width 256 --heads 4 --ff 704 --ctx 256 --batch 1 --steps 20 --threads 2
"""
import argparse
import json
import math
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import blas_info  # noqa: E402

blas_info.choose_openblas_coretype()  # before numpy/torch load OpenBLAS

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402


class RMSNorm(nn.Module):
    def __init__(self, n, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(n))
        self.eps = eps

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def rope(x, cos, sin):
    # x: [B, H, T, hd]; ggml NORM mode rotates (x[2i], x[2i+1]).
    x0, x1 = x[..., 0::2], x[..., 1::2]
    out = torch.stack((x0 * cos - x1 * sin, x0 * sin + x1 * cos), dim=-1)
    return out.flatten(-2)


class Block(nn.Module):
    def __init__(self, a):
        super().__init__()
        E, ff = a.width, a.ff
        self.h = a.heads
        self.attn_norm = RMSNorm(E, 1e-5)
        self.q = nn.Linear(E, E, bias=False)
        self.k = nn.Linear(E, E, bias=False)
        self.v = nn.Linear(E, E, bias=False)
        self.o = nn.Linear(E, E, bias=False)
        self.ffn_norm = RMSNorm(E, 1e-5)
        self.gate = nn.Linear(E, ff, bias=False)
        self.up = nn.Linear(E, ff, bias=False)
        self.down = nn.Linear(ff, E, bias=False)

    def forward(self, x, cos, sin, mask):
        B, T, E = x.shape
        hd = E // self.h
        h = self.attn_norm(x)
        q = self.q(h).view(B, T, self.h, hd).transpose(1, 2)
        k = self.k(h).view(B, T, self.h, hd).transpose(1, 2)
        v = self.v(h).view(B, T, self.h, hd).transpose(1, 2)
        q, k = rope(q, cos, sin), rope(k, cos, sin)
        att = (q @ k.transpose(-2, -1)) / math.sqrt(hd) + mask
        y = F.softmax(att, dim=-1) @ v
        x = x + self.o(y.transpose(1, 2).reshape(B, T, E))
        h = self.ffn_norm(x)
        return x + self.down(F.silu(self.gate(h)) * self.up(h))


class Llama(nn.Module):
    def __init__(self, a):
        super().__init__()
        self.embd = nn.Embedding(a.vocab, a.width)
        self.blocks = nn.ModuleList([Block(a) for _ in range(a.layers)])
        self.norm = RMSNorm(a.width, 1e-5)
        self.out = nn.Linear(a.width, a.vocab, bias=False)
        hd = a.width // a.heads
        inv = 10000.0 ** (-torch.arange(0, hd, 2).float() / hd)
        ang = torch.arange(a.ctx).float()[:, None] * inv[None, :]
        self.register_buffer("cos", ang.cos())
        self.register_buffer("sin", ang.sin())
        self.register_buffer("mask", torch.triu(torch.full((a.ctx, a.ctx), float("-inf")), diagonal=1))
        for p in self.parameters():
            if p.dim() == 2:
                nn.init.normal_(p, 0.0, 0.02)

    def forward(self, idx):
        x = self.embd(idx)
        for b in self.blocks:
            x = b(x, self.cos, self.sin, self.mask)
        return self.out(self.norm(x))


def main():
    p = argparse.ArgumentParser()
    for name, default in [("vocab", 2048), ("layers", 4), ("width", 256), ("heads", 4), ("ff", 704), ("ctx", 256),
                          ("batch", 1), ("steps", 20), ("warmup_steps", 3), ("threads", 2)]:
        p.add_argument("--" + name.replace("_", "-"), type=int, default=default)
    p.add_argument("--tokens", required=True, help="int32 token file")
    p.add_argument("--lr", type=float, default=1e-3)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    tokens = torch.from_numpy(np.fromfile(a.tokens, dtype=np.int32).astype(np.int64))
    n_windows = (len(tokens) - 1) // a.ctx
    model = Llama(a)
    decay = [p for p in model.parameters() if p.dim() >= 2]
    plain = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": plain, "weight_decay": 0.0}],
                            lr=a.lr, betas=(0.9, 0.95), eps=1e-8)
    losses = []
    t0 = None
    for step in range(a.warmup_steps + a.steps):
        if step == a.warmup_steps:
            t0 = time.perf_counter()
        w = [(step * a.batch + b) % n_windows for b in range(a.batch)]
        chunk = torch.stack([tokens[i * a.ctx: i * a.ctx + a.ctx + 1] for i in w])
        logits = model(chunk[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, a.vocab), chunk[:, 1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    secs = time.perf_counter() - t0
    print(json.dumps({"backend": "PyTorch " + torch.__version__, "blas": blas_info.loaded_blas(), "threads": a.threads,
                      "tokens_per_second": a.steps * a.batch * a.ctx / secs, "seconds": secs,
                      "first_loss": losses[0], "last_loss": losses[-1]}))


if __name__ == "__main__":
    main()
