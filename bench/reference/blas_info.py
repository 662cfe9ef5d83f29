"""Which BLAS/LAPACK a reference process really runs on, for the benchmark
tables. Debian's numpy, scikit-learn and PyTorch call whatever libblas.so.3 /
liblapack.so.3 the system selects (the reference BLAS, or OpenBLAS after
scripts/setup-bench.sh), so their versions say nothing about their speed.

  import blas_info
  blas_info.choose_openblas_coretype()   # before numpy / torch are imported
  import numpy as np
  ...
  print(json.dumps({..., "blas": blas_info.loaded_blas()}))  # after the first product
"""
import ctypes
import os
import re
import subprocess
import sys

# OpenBLAS's oldest x86-64 kernels: what it falls back to on a CPU it does not know.
_FALLBACK_CORES = {"prescott", "core2", "penryn", "dunnington", "nehalem", "atom", ""}


def choose_openblas_coretype():
    """Sets OPENBLAS_CORETYPE when the system's OpenBLAS does not recognise
    this CPU. Debian's 0.3.21 takes an Emerald Rapids Xeon for a 2004
    Prescott and runs SSE3 kernels, 5-10x slower than its AVX-512 ones; the
    OpenBLAS inside a numpy or PyTorch wheel is newer and knows the CPU, so
    the reference runs the kernels its users get. Must run before OpenBLAS
    is loaded (it reads the variable once). Returns the value set, or None."""
    if os.environ.get("OPENBLAS_CORETYPE"):
        return None
    probe = ("import ctypes\n"
             "lib = ctypes.CDLL('libblas.so.3')\n"
             "f = lib.openblas_get_corename\n"
             "f.restype = ctypes.c_char_p\n"
             "print(f().decode())\n")
    try:
        core = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    if not core or core.lower() not in _FALLBACK_CORES:
        return None  # not OpenBLAS, or it knows the CPU
    with open("/proc/cpuinfo") as f:
        flags = next((line.split(":", 1)[1].split() for line in f if line.startswith("flags")), [])
    choice = "SkylakeX" if "avx512f" in flags else "Haswell" if "avx2" in flags else None
    if choice:
        os.environ["OPENBLAS_CORETYPE"] = choice
    return choice


def loaded_blas():
    """'OpenBLAS 0.3.21 ... SkylakeX ... (pthreads, 2 threads; path)', 'reference BLAS (path)', or 'none mapped'."""
    paths = []
    with open("/proc/self/maps") as maps:
        for line in maps:
            fields = line.split()
            if len(fields) >= 6 and re.search(r"lib(open)?blas|liblapack|mkl_rt|libblis", os.path.basename(fields[5])):
                if fields[5] not in paths:
                    paths.append(fields[5])
    # libblas.so.3 first: the library numpy and PyTorch do their products in.
    paths.sort(key=lambda p: not os.path.basename(p).startswith("libblas"))
    for path in paths:
        try:
            lib = ctypes.CDLL(path)
            get_config = lib.openblas_get_config
            get_core = lib.openblas_get_corename
        except (OSError, AttributeError):
            continue
        get_config.restype = ctypes.c_char_p
        get_core.restype = ctypes.c_char_p
        parallel = {0: "sequential", 1: "pthreads", 2: "OpenMP"}.get(lib.openblas_get_parallel(), "?")
        version = next((w for w in get_config().decode().split() if re.match(r"\d+\.\d+", w)), "?")
        forced = " via OPENBLAS_CORETYPE" if os.environ.get("OPENBLAS_CORETYPE") else ""
        return (f"OpenBLAS {version} {get_core().decode()}{forced} ({parallel}, "
                f"{lib.openblas_get_num_threads()} threads; {os.path.realpath(path)})")
    blas = [p for p in paths if "blas" in os.path.basename(p)]
    if blas:
        return f"reference BLAS ({os.path.realpath(blas[0])})"
    return "none mapped"
