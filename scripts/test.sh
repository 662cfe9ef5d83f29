#!/usr/bin/env bash
# The test command: sets up (idempotent), builds the llama.cpp tools that tests
# compare against, and runs the whole suite with CTest.
#
#   scripts/test.sh                 # everything
#   scripts/test.sh -L plan         # one module (CTest label = tests/<module>)
#   LMLAB_SANITIZE=1 scripts/test.sh  # ASan/UBSan build in build-asan/
#   LMLAB_FUZZ=0 scripts/test.sh      # without the fuzzing stage
#
# After the suite (when no CTest arguments narrow it) every fuzz target runs
# for LMLAB_FUZZ_SECONDS (20) on its committed corpus: scripts/fuzz.sh.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

if [[ "${LMLAB_SANITIZE:-0}" == 1 ]]; then
  export LMLAB_BUILD_DIR="${LMLAB_BUILD_DIR:-build-asan}"
  export LMLAB_BUILD_TYPE=RelWithDebInfo
  export LMLAB_CMAKE_ARGS="-DLMLAB_SANITIZE=ON"
fi
build_dir="${LMLAB_BUILD_DIR:-build}"

"$root/scripts/setup.sh"
echo "[test] building llama.cpp tools used as references (llama-server, llama-bench, ...)"
cmake --build "$build_dir" --target llama_tools
start=$(date +%s)
(cd "$build_dir" && ctest --output-on-failure -j 2 "$@")
echo "[test] suite: $(( $(date +%s) - start )) s wall ($(uptime | sed 's/.*load average/load average/'))"
if [[ $# -eq 0 && "${LMLAB_FUZZ:-1}" != 0 && "${LMLAB_SANITIZE:-0}" != 1 ]]; then
  "$root/scripts/fuzz.sh"
fi
