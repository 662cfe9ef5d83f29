#!/usr/bin/env bash
# Sets up a fresh Debian machine for lmlab and builds it. Idempotent: a second
# run only rebuilds what changed.
#
#   scripts/setup.sh            # system packages, pinned llama.cpp, lmlab
#   LMLAB_SKIP_APT=1 scripts/setup.sh   # when the packages are already there
#
# Environment knobs (all optional):
#   LMLAB_BUILD_DIR     build directory (default: build)
#   LMLAB_LLAMA_SOURCE  an existing llama.cpp checkout to use instead of the
#                       pinned one from npm (passed to CMake as LMLAB_LLAMA_SOURCE)
#   LMLAB_BUILD_TYPE    CMake build type (default: Release)
#   LMLAB_CUDA=1        build llama.cpp with its CUDA backend
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
build_dir="${LMLAB_BUILD_DIR:-build}"
build_type="${LMLAB_BUILD_TYPE:-Release}"

# ccache keys on paths relative to the checkout, so clones share the cache.
export CCACHE_BASEDIR="$root"

say() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }
# shellcheck source=lib/apt.sh
source "$root/scripts/lib/apt.sh"

# ---------------------------------------------------------------- packages --
# Everything lmlab uses, at build time and at run time (`lmlab doctor` checks
# the run-time half the way the code uses it).
apt_packages=(
  # build
  build-essential cmake ninja-build ccache pkg-config git ca-certificates
  libeigen3-dev nlohmann-json3-dev libcli11-dev libcpp-httplib-dev
  libcurl4-openssl-dev libssl-dev libsqlite3-dev zlib1g-dev libfmt-dev libseccomp-dev
  # run time: the STOP sandbox runs Debian's /usr/bin/python3 with numpy (the
  # tasks' solutions and run_solution.py import it) under bubblewrap, and
  # /usr/bin/prlimit from util-linux (essential, listed for the record)
  python3 python3-numpy bubblewrap util-linux
  # run time: data packages the built-in datasets and the default model read
  dataset-fashion-mnist calendar distro-info-data
  # tests and benchmarks
  libgtest-dev libgmock-dev libbenchmark-dev
  chromium  # the web page and report tests drive a real headless browser
  # the Slurm tests (tests/slurm) run a real single-node cluster: munged,
  # slurmctld and slurmd started by the test support with a generated config
  slurm-wlm munge
  # fuzzing (tests/fuzz, scripts/fuzz.sh): libFuzzer needs clang; Debian's
  # default clang 14 lacks the C++23 std::expected that lmlab's headers use
  clang-19 libclang-rt-19-dev
)
if [[ "${LMLAB_SKIP_APT:-0}" != 1 ]]; then
  # npm: the Debian package conflicts with NodeSource's nodejs, which already
  # ships npm; install it only when no npm is on the PATH.
  command -v npm >/dev/null || apt_packages+=(npm)
  install_missing_debian_packages "${apt_packages[@]}"
fi

# ---------------------------------------------------------------- llama.cpp --
# Pinned source: the git bundle inside the npm package node-llama-cpp.
llama_npm="node-llama-cpp@3.21.1"
llama_bundle_sha256="9336d8aab8f8e6a8919380f3641fe92e57b02fb55df1b6bd083b82491a6293b8"
deps="$build_dir/_deps"
mkdir -p "$deps"

if [[ -n "${LMLAB_LLAMA_SOURCE:-}" ]]; then
  llama_src="$(cd "$LMLAB_LLAMA_SOURCE" && pwd)"
  say "using llama.cpp source at $llama_src"
else
  llama_src="$root/$deps/llama.cpp"
  if [[ ! -f "$llama_src/.lmlab-pinned" ]]; then
    say "fetching pinned llama.cpp from npm ($llama_npm)"
    tmp="$(mktemp -d)"
    trap 'rm -rf "$tmp"' EXIT
    (cd "$tmp" && npm pack --silent "$llama_npm" >/dev/null && tar xzf node-llama-cpp-*.tgz package/llama/gitRelease.bundle)
    got="$(sha256sum "$tmp/package/llama/gitRelease.bundle" | cut -d' ' -f1)"
    if [[ "$got" != "$llama_bundle_sha256" ]]; then
      echo "setup: llama.cpp bundle checksum mismatch: expected $llama_bundle_sha256, got $got" >&2
      exit 1
    fi
    rm -rf "$llama_src"
    git clone -q "$tmp/package/llama/gitRelease.bundle" "$llama_src"
    echo "$llama_npm $llama_bundle_sha256" >"$llama_src/.lmlab-pinned"
    rm -rf "$tmp"
    trap - EXIT
  fi
fi

# llama.cpp is built inside lmlab's own build tree (add_subdirectory with
# EXCLUDE_FROM_ALL), so only the targets lmlab links (llama, ggml) are compiled;
# the tools that tests compare against are built on demand, see scripts/test.sh.

# ---------------------------------------------------------------- data --
"$root/scripts/fetch-data.sh"

# ---------------------------------------------------------------- lmlab --
say "configuring lmlab ($build_type)"
cuda_flag="OFF"
[[ "${LMLAB_CUDA:-0}" == 1 ]] && cuda_flag="ON"
cmake -S "$root" -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE="$build_type" \
  -DLMLAB_LLAMA_SOURCE="$llama_src" -DLMLAB_CUDA="$cuda_flag" ${LMLAB_CMAKE_ARGS:-} >/dev/null
say "building lmlab (the first build compiles llama.cpp too: a few minutes on 2 cores)"
cmake --build "$build_dir"

# ---------------------------------------------------------------- check --
# Everything lmlab needs at run time, checked the way lmlab uses it (a real
# sandboxed run with Python and numpy, one llama.cpp forward pass, an FTS5
# index, the data packages). A failure prints its fix and fails setup.
say "checking run-time dependencies (lmlab doctor)"
if ! "$build_dir/lmlab" doctor; then
  echo "setup: lmlab doctor found problems (see the 'fix' column above)" >&2
  exit 1
fi
say "done: $build_dir/lmlab --help"
