#!/usr/bin/python3
"""PyTorch (CPU) reference for bench/ood_train_bench.cc: the same MLP that
`lmlab ood classifier` trains (784 -> 128 -> 64 -> 10, ReLU, PyTorch's
default initialisation), softmax cross-entropy, AdamW (lr 2e-3, betas
0.9/0.999, eps 1e-8, no weight decay), batch 128, fp32, on the same images
(raw float32/int32 files written by the benchmark). Prints one JSON line.

  /usr/bin/python3 bench/reference/ood_train_torch.py --train t.bin --test e.bin \
      --n-train 60000 --n-test 10000 --epochs 2 --threads 1
"""
import argparse
import json
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


def load(path, n):
    raw = np.fromfile(path, dtype=np.uint8)
    pixels = np.frombuffer(raw[: n * 784 * 4].tobytes(), dtype=np.float32).reshape(n, 784)
    labels = np.frombuffer(raw[n * 784 * 4:].tobytes(), dtype=np.int32)
    assert labels.shape[0] == n, "label count does not match"
    return torch.from_numpy(pixels.copy()), torch.from_numpy(labels.astype(np.int64))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--train", required=True)
    ap.add_argument("--test", required=True)
    ap.add_argument("--n-train", type=int, required=True)
    ap.add_argument("--n-test", type=int, required=True)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    x, y = load(a.train, a.n_train)
    xt, yt = load(a.test, a.n_test)
    n = a.n_train // a.batch * a.batch
    model = nn.Sequential(nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 64), nn.ReLU(), nn.Linear(64, 10))
    opt = torch.optim.AdamW(model.parameters(), lr=a.lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)
    start = time.perf_counter()
    for _ in range(a.epochs):
        perm = torch.randperm(n)
        for b in range(0, n, a.batch):
            idx = perm[b: b + a.batch]
            loss = F.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    seconds = time.perf_counter() - start
    with torch.no_grad():
        acc = (model(xt).argmax(1) == yt).float().mean().item()
    print(json.dumps({"seconds": seconds, "images_per_second": a.epochs * n / seconds, "test_accuracy": acc,
                      "final_loss": loss.item(), "torch": torch.__version__, "blas": blas_info.loaded_blas()}))


if __name__ == "__main__":
    main()
