#!/usr/bin/env bash
# Coverage-guided fuzzing of lmlab's parsers of outside input (libFuzzer,
# clang-19). Builds the targets of tests/fuzz/ into build-fuzz/ (only the
# parsers are compiled with clang; they link the libraries of the ordinary
# build), replays the committed regression inputs, then runs each target for
# a bounded time on its seed corpus. scripts/test.sh runs it after the suite.
#
#   scripts/fuzz.sh                      # every target, 20 s each
#   scripts/fuzz.sh csv request          # some targets
#   LMLAB_FUZZ_SECONDS=600 scripts/fuzz.sh npy   # a longer hunt
#
# New inputs the fuzzer finds go to a scratch corpus under build-fuzz/, not
# into the repo. A crash stops with the input saved in build-fuzz/crashes/:
# fix the bug, then commit the input as tests/fuzz/regressions/<target>/<name>
# (replayed here on every run) and add a unit test for it. See docs/testing.md.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
build_dir="${LMLAB_BUILD_DIR:-build}"
fuzz_dir="${LMLAB_FUZZ_BUILD_DIR:-build-fuzz}"
seconds="${LMLAB_FUZZ_SECONDS:-20}"
cxx="${LMLAB_FUZZ_CXX:-clang++-19}"
all_targets=(csv npy date sse ingest request json tokenizer stop_rpc)
targets=("$@")
((${#targets[@]})) || targets=("${all_targets[@]}")

say() { printf '\033[1m[fuzz]\033[0m %s\n' "$*"; }

command -v "$cxx" >/dev/null || { echo "fuzz: $cxx not found: run scripts/setup.sh (it installs clang-19)" >&2; exit 1; }
[[ -f "$build_dir/build.ninja" ]] || { echo "fuzz: no build in $build_dir: run scripts/setup.sh first" >&2; exit 1; }

# The libraries the lmlab binary links, from the ordinary build's link line
# (absolute paths): they resolve everything the parsers under test call.
cmake --build "$build_dir" --target lmlab_cli >/dev/null
libs=()
for word in $(ninja -C "$build_dir" -t commands lmlab_cli | tail -n 1); do
  case "$word" in
    *.a | *.so | *.so.*) [[ "$word" = /* ]] && libs+=("$word") || libs+=("$root/$build_dir/$word") ;;
    -l*) libs+=("$word") ;;
  esac
done
lib_list="$(IFS=';'; echo "${libs[*]}")"

say "building targets in $fuzz_dir ($cxx)"
cmake -S tests/fuzz -B "$fuzz_dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER="$cxx" \
  -DLMLAB_LIBS="$lib_list" >/dev/null
build_targets=()
for t in "${targets[@]}"; do build_targets+=("${t}_fuzz"); done
cmake --build "$fuzz_dir" --target "${build_targets[@]}"

mkdir -p "$fuzz_dir/crashes"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
failed=()
for t in "${targets[@]}"; do
  bin="$fuzz_dir/${t}_fuzz"
  seeds="tests/fuzz/corpus/$t"
  work="$fuzz_dir/corpus/$t"
  mkdir -p "$work"
  if [[ -d "tests/fuzz/regressions/$t" ]] && compgen -G "tests/fuzz/regressions/$t/*" >/dev/null; then
    say "$t: replaying $(ls "tests/fuzz/regressions/$t" | wc -l) regression input(s)"
    if ! "$bin" -runs=1 tests/fuzz/regressions/"$t"/* >"$fuzz_dir/$t.regressions.log" 2>&1; then
      tail -n 30 "$fuzz_dir/$t.regressions.log" >&2
      failed+=("$t (regression input)")
      continue
    fi
  fi
  say "$t: ${seconds} s on $(ls "$seeds" | wc -l) seed input(s)"
  if ! "$bin" "$work" "$seeds" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
      -artifact_prefix="$fuzz_dir/crashes/$t-" -print_final_stats=1 >"$fuzz_dir/$t.log" 2>&1; then
    tail -n 40 "$fuzz_dir/$t.log" >&2
    failed+=("$t")
    continue
  fi
  grep -E "^stat::number_of_executed_units|^stat::new_units_added" "$fuzz_dir/$t.log" | tr '\n' ' ' | sed 's/stat:://g'
  echo
done
if ((${#failed[@]})); then
  echo "fuzz: failures in: ${failed[*]}; inputs in $fuzz_dir/crashes/ (see docs/testing.md)" >&2
  exit 1
fi
say "all targets ran clean"
