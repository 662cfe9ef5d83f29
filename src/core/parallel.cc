#include "lmlab/core/parallel.h"

#include <algorithm>
#include <atomic>
#include <thread>
#include <vector>

namespace lmlab {

void ParallelFor(int64_t n, int jobs, const std::function<void(int64_t)>& fn) {
  if (jobs <= 1 || n <= 1) {
    for (int64_t i = 0; i < n; ++i) fn(i);
    return;
  }
  // Items are handed out one at a time from a shared counter, so a slow item
  // does not hold back a fixed share of the others.
  std::atomic<int64_t> next{0};
  std::vector<std::jthread> pool;
  const int64_t n_threads = std::min<int64_t>(jobs, n);
  pool.reserve(n_threads);
  for (int64_t t = 0; t < n_threads; ++t)
    pool.emplace_back([&] {
      for (int64_t i; (i = next.fetch_add(1)) < n;) fn(i);
    });
  // ~jthread joins every thread here, before `next` goes out of scope.
}

}  // namespace lmlab
