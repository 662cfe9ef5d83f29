// What the benchmarks under bench/ share: where the build directory is, the
// random GGUF they measure when no --model is given, and the best-of-N loop
// that times lmlab against a reference in the same run (docs/performance.md).
// Header-only: every *_bench.cc is an executable of its own.
//
//   bench::RandomModelShape shape;
//   bench::AddRandomModelOptions(app, shape);  // --layers --embd --ff
//   ...
//   LMLAB_ASSIGN_OR_RETURN(std::string model, bench::RandomModel(shape));
//   auto best = bench::BestOf(
//       reps, [&] { return bench::Seconds([&] { return lm->CaptureActivations(request); }); },
//       [&] { return runtime::internal::PlainDecodeSeconds(spec, prompts, 512); });
//   if (!best) return bench::Fail(best.error());
//   double ratio = best->reference / best->ours;  // > 1: lmlab faster
#pragma once

#include <fmt/format.h>

#include <sys/wait.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <limits>
#include <string>

#include "lmlab/core/error.h"
#include "lmlab/core/threads.h"
#include "lmlab/runtime/tiny_model.h"

namespace lmlab::bench {

// build/bench/<name>_bench -> build/
inline std::filesystem::path BuildDir() {
  return std::filesystem::canonical("/proc/self/exe").parent_path().parent_path();
}

// The random llama a benchmark measures when no --model is given.
struct RandomModelShape {
  int layers = 4;
  int embd = 256;  // heads of 64, as many KV heads as heads
  int ff = 768;
};

// --layers, --embd and --ff, with their defaults shown in --help.
inline void AddRandomModelOptions(CLI::App& app, RandomModelShape& shape) {
  app.add_option("--layers", shape.layers, "Layers of the random model")->capture_default_str();
  app.add_option("--embd", shape.embd, "Width of the random model")->capture_default_str();
  app.add_option("--ff", shape.ff, "Feed-forward width of the random model")->capture_default_str();
}

// Writes the random model (WriteTinyModel, 512-token context) to
// dir/random-<layers>x<embd>-ff<ff>.gguf and returns its path. The same shape always
// gives the same bytes, so rewriting it each run is cheap and never stale.
inline Result<std::string> RandomModel(const RandomModelShape& shape,
                                       const std::filesystem::path& dir = BuildDir() / "bench-fixtures") {
  const std::string path = (dir / fmt::format("random-{}x{}-ff{}.gguf", shape.layers, shape.embd, shape.ff)).string();
  LMLAB_RETURN_IF_ERROR(runtime::WriteTinyModel(path, {.n_embd = shape.embd,
                                                       .n_layer = shape.layers,
                                                       .n_head = shape.embd / 64,
                                                       .n_head_kv = shape.embd / 64,
                                                       .n_ff = shape.ff,
                                                       .n_ctx_train = 512}));
  return path;
}

// Runs `work()` (returning a Result or a Status) once: the seconds it took, or
// its error. Freeing what it returned is not timed.
template <class Work>
Result<double> Seconds(Work&& work) {
  const auto start = std::chrono::steady_clock::now();
  auto result = work();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (!result) return std::unexpected(result.error());
  return seconds;
}

// The least seconds each side took in one repetition.
struct Best {
  double ours = std::numeric_limits<double>::infinity();
  double reference = std::numeric_limits<double>::infinity();
};

// Runs `reps` + 1 repetitions of `ours()` then `reference()`, each a callable
// returning Result<double>: the seconds that repetition took. Repetition 0
// warms both up (page cache, thread pools, the allocator) and is not counted;
// the best (least) of the others counts for each side, and with reps <= 0 both
// stay infinite. The sides alternate so that background load hits both alike.
// Returns the first error either side reports.
template <class Ours, class Reference>
Result<Best> BestOf(int reps, Ours&& ours, Reference&& reference) {
  Best best;
  for (int r = 0; r <= reps; ++r) {
    LMLAB_ASSIGN_OR_RETURN(double s_ours, ours());
    LMLAB_ASSIGN_OR_RETURN(double s_reference, reference());
    if (r > 0) {
      best.ours = std::min(best.ours, s_ours);
      best.reference = std::min(best.reference, s_reference);
    }
  }
  return best;
}

// BestOf for one side (its reference measured elsewhere): the least seconds.
template <class Time>
Result<double> BestOf(int reps, Time&& time) {
  double best = std::numeric_limits<double>::infinity();
  for (int r = 0; r <= reps; ++r) {
    LMLAB_ASSIGN_OR_RETURN(double s, time());
    if (r > 0) best = std::min(best, s);
  }
  return best;
}

// A reference's shell command runs as its users run it: in the caller's
// environment, without the OpenMP wait policy lmlab chose for itself
// (ApplyThreadWaitPolicy, core/threads.h). Prefix it with this.
inline std::string ReferenceEnv() {
  return std::getenv(kWaitPolicyMarker) ? fmt::format("env -u GOMP_SPINCOUNT -u {} ", kWaitPolicyMarker) : "";
}

struct CommandOutput {
  int exit_code = -1;  // -1: could not start, or killed by a signal
  std::string out;     // stdout (and stderr when the command says 2>&1)
};

// Runs a shell command (popen) and captures its output.
inline CommandOutput RunCommand(const std::string& command) {
  CommandOutput r;
  FILE* p = popen(command.c_str(), "r");
  if (!p) return r;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) r.out.append(buf, n);
  const int status = pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

// For main(): prints the error as one line on stderr and returns exit code 1.
inline int Fail(const Error& error) {
  std::cerr << error.ToString() << "\n";
  return 1;
}

}  // namespace lmlab::bench
