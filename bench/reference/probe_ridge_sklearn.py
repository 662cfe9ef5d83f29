#!/usr/bin/python3
"""Reference for bench/probe_ridge_bench.cc: scikit-learn's RidgeCV (efficient
leave-one-out / GCV over an alpha grid, intercept fitted) on the same .npy
matrices, timed the same way. Prints one JSON object.

usage: probe_ridge_sklearn.py DIR REPS ALPHA [ALPHA ...]
DIR holds x_train.npy [n, d], y_train.npy [n, k], x_test.npy, y_test.npy (float32).
"""
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import blas_info  # noqa: E402

blas_info.choose_openblas_coretype()  # before numpy/torch load OpenBLAS

import numpy as np  # noqa: E402
from sklearn.linear_model import RidgeCV  # noqa: E402
from sklearn.metrics import r2_score  # noqa: E402


def main():
    d = sys.argv[1]
    reps = int(sys.argv[2])
    alphas = np.array([float(a) for a in sys.argv[3:]])
    # float32 on disk, float64 in the fit: the same values the C++ side uses.
    x_train = np.load(f"{d}/x_train.npy").astype(np.float64)
    y_train = np.load(f"{d}/y_train.npy").astype(np.float64)
    x_test = np.load(f"{d}/x_test.npy").astype(np.float64)
    y_test = np.load(f"{d}/y_test.npy").astype(np.float64)
    best = float("inf")
    model = None
    for _ in range(reps):
        start = time.perf_counter()
        model = RidgeCV(alphas=alphas, fit_intercept=True).fit(x_train, y_train)
        best = min(best, time.perf_counter() - start)
    r2 = r2_score(y_test, model.predict(x_test))  # uniform average over targets
    print(json.dumps({"seconds": best, "alpha": float(model.alpha_), "r2": float(r2),
                      "sklearn": __import__("sklearn").__version__, "blas": blas_info.loaded_blas()}))


if __name__ == "__main__":
    main()
