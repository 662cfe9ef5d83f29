#!/usr/bin/env bash
# Installs what the references in bench/ run on, as their users run them:
# PyTorch and scikit-learn from Debian, over OpenBLAS (libopenblas0-pthread,
# the BLAS that numpy and PyTorch wheels bundle). Debian's python3-torch and
# python3-numpy call whatever libblas.so.3 / liblapack.so.3 the system
# selects; with only the reference BLAS installed they run several times
# slower than their users see, so every bench prints which BLAS each side
# loaded (bench/reference/blas_info.py). Not needed to build or test lmlab.
#
#   scripts/setup-bench.sh        # then e.g. build/bench/train_bench
set -euo pipefail

say() { printf '\033[1m[setup-bench]\033[0m %s\n' "$*"; }
# shellcheck source=lib/apt.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/apt.sh"

bench_packages=(
  python3-numpy python3-torch python3-sklearn
  libopenblas0-pthread  # the OpenBLAS build numpy/PyTorch wheels ship: pthreads, not OpenMP
)
install_missing_debian_packages "${bench_packages[@]}"

# OpenBLAS registers itself as libblas.so.3 / liblapack.so.3 with a higher
# priority than the reference BLAS; say what the system resolves to now.
for lib in libblas.so.3 liblapack.so.3; do
  say "$lib -> $(readlink -f "/usr/lib/$(gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)/$lib" 2>/dev/null || echo '?')"
done
