// A small parallel-for over independent items, on plain std::threads.
//
//   std::vector<Result<Score>> scores(tasks.size());
//   ParallelFor(std::ssize(tasks), jobs, [&](int64_t i) { scores[i] = Score(tasks[i]); });
//
// Each index in [0, n) runs exactly once, on one of min(jobs, n) threads, in
// no particular order; ParallelFor returns when all have finished. With
// jobs <= 1 (or n <= 1) everything runs in order on the caller's thread, so a
// serial run is the same code path. `fn` must be safe to call concurrently
// for different indices and must not throw (library code returns errors:
// write them into a per-index slot, as above). Threads are made per call: meant
// for coarse items (a sandboxed run, a model call), not for inner loops, where
// OpenMP or Eigen's own threads fit better. How many jobs to use is the
// caller's decision.
#pragma once

#include <cstdint>
#include <functional>

namespace lmlab {

void ParallelFor(int64_t n, int jobs, const std::function<void(int64_t)>& fn);

}  // namespace lmlab
