#!/usr/bin/env bash
# Re-runs one benchmark of docs/performance.md with the arguments its table
# was measured with: builds what it needs (scripts/dev-build.sh, so builds
# queue on a shared machine), prints the machine and its load before and
# after, then the benchmark's own table. Each benchmark compares lmlab with
# its reference in the same run, so the ratios are the claim; on a busy
# machine both sides slow down and the ratio wanders (quote the load).
#
#   scripts/bench.sh list                 # the benchmarks and what they compare
#   scripts/bench.sh ridge                # one benchmark
#   scripts/bench.sh generation --json    # extra arguments go to the benchmark
#   scripts/bench.sh all                  # every one, in the order of the list
#
# The references in Python (scikit-learn, PyTorch) run over the system's BLAS;
# scripts/setup-bench.sh installs them over OpenBLAS, as their users run them.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build_dir="${LMLAB_BUILD_DIR:-$root/build}"
bench="$build_dir/bench"

# name | build targets | command (relative to the build dir's bench/) | what it compares
benchmarks=(
  "train|train_bench llama-finetune|train_bench --shape default --threads 2|lmlab train vs its pre-change trainer, PyTorch and llama-finetune; MFU"
  "train-4x256|train_bench llama-finetune|train_bench --shape 4x256 --threads 2|the same on the 4 x 256 bench model"
  "generation|runtime_generation_bench llama-bench|runtime_generation_bench --threads 1;runtime_generation_bench --threads 1;runtime_generation_bench --threads 1;runtime_generation_bench --threads 2;runtime_generation_bench --threads 2;runtime_generation_bench --threads 2|Complete vs llama-bench tg64, 1 and 2 threads, three runs each"
  "activations|runtime_activations_bench|runtime_activations_bench --threads 1|CaptureActivations vs plain llama_decode"
  "ridge|probe_ridge_bench|probe_ridge_bench --threads 2|FitRidge vs scikit-learn RidgeCV (OpenBLAS)"
  "capture|probe_capture_bench|probe_capture_bench --threads 1 --prompts 512|probe capture vs plain decode"
  "ood|ood_train_bench|ood_train_bench --threads 1 --epochs 2 --repeats 3;ood_train_bench --threads 2 --epochs 2 --repeats 3|ood classifier training vs PyTorch (OpenBLAS)"
  "sandbox|sandbox_overhead_bench|sandbox_overhead_bench --runs 60 --evals 12;sandbox_overhead_bench --runs 60 --evals 12;sandbox_overhead_bench --runs 60 --evals 12|sandboxed vs bare python3, three runs"
  "server|server_throughput_bench|server_throughput_bench|requests/s, 64 clients vs 1"
  "search|search_index_bench|search_index_bench 100000 300|local index vs full scan"
)

field() { cut -d'|' -f"$2" <<<"$1"; }
load() { printf '%s, load average %s\n' "$(date -u +%FT%TZ)" "$(cut -d' ' -f1-3 /proc/loadavg)"; }

run_one() {
  local name="$1"; shift
  local entry=""
  for b in "${benchmarks[@]}"; do [[ "$(field "$b" 1)" == "$name" ]] && entry="$b"; done
  if [[ -z "$entry" ]]; then
    echo "scripts/bench.sh: no benchmark '$name' (scripts/bench.sh list)" >&2
    return 2
  fi
  # shellcheck disable=SC2046
  nice -n 10 "$root/scripts/dev-build.sh" $(field "$entry" 2) >/dev/null
  echo "== $name: $(field "$entry" 4)"
  echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(nproc) cores"
  IFS=';' read -ra commands <<<"$(field "$entry" 3)"
  for c in "${commands[@]}"; do
    echo "-- before: $(load)"
    echo "\$ build/bench/$c $*"
    # shellcheck disable=SC2086
    "$bench"/$c "$@"
    echo "-- after:  $(load)"
  done
}

case "${1:-list}" in
  list | -h | --help)
    echo "usage: scripts/bench.sh NAME [benchmark arguments] | all | list"
    for b in "${benchmarks[@]}"; do printf '  %-12s %s\n' "$(field "$b" 1)" "$(field "$b" 4)"; done
    ;;
  all)
    shift
    for b in "${benchmarks[@]}"; do run_one "$(field "$b" 1)" "$@"; done
    ;;
  *)
    name="$1"
    shift
    run_one "$name" "$@"
    ;;
esac
