#!/usr/bin/env bash
# For developers working side by side on one machine: builds targets in the
# shared build/ directory under a lock, so concurrent builds queue instead of
# corrupting each other (2 cores gain nothing from parallel builds anyway).
#
#   scripts/dev-build.sh probe_test lmlab_cli
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build_dir="${LMLAB_BUILD_DIR:-$root/build}"
# -k 0: keep building independent targets when someone else's file is broken.
exec flock /tmp/lmlab-build.lock cmake --build "$build_dir" --target "$@" -- -k 0
