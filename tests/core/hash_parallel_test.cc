#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "lmlab/core/hash.h"
#include "lmlab/core/parallel.h"

namespace lmlab {
namespace {

TEST(Hash, Fnv1aKnownValues) {
  // The empty string hashes to the offset basis; one byte is one xor-multiply.
  EXPECT_EQ(Fnv1a(""), kFnv1aOffset);
  EXPECT_EQ(Fnv1a("a"), (kFnv1aOffset ^ 'a') * kFnv1aPrime);
  // Pinned: on-disk cache keys and run directories are named by these hashes.
  EXPECT_EQ(Fnv1aHex("mean"), HashHex(Fnv1a("mean")));
  EXPECT_EQ(Fnv1a("hello"), 0x005a0d15131ec7a1ull);
  EXPECT_EQ(HashHex(0xabc), "0000000000000abc");
}

TEST(Hash, ChainingEqualsHashingTheConcatenation) {
  EXPECT_EQ(Fnv1a("world", Fnv1a("hello ")), Fnv1a("hello world"));
  EXPECT_NE(Fnv1a("ab"), Fnv1a("ba"));
}

TEST(Hash, BytesAboveSevenBitsAreUnsigned) {
  // A signed char would sign-extend 0xC3 and change the hash.
  EXPECT_EQ(Fnv1a("\xC3"), (kFnv1aOffset ^ 0xC3u) * kFnv1aPrime);
}

TEST(Hash, UsableAtCompileTime) {
  static_assert(Fnv1a("") == kFnv1aOffset);
  static_assert(Fnv1aStep(kFnv1aOffset, 'x') == Fnv1a("x"));
}

TEST(ParallelFor, EveryIndexRunsExactlyOnce) {
  for (int jobs : {1, 2, 3, 8}) {
    for (int64_t n : {0, 1, 2, 7, 100}) {
      std::vector<std::atomic<int>> hits(n);
      ParallelFor(n, jobs, [&](int64_t i) { hits[i]++; });
      for (int64_t i = 0; i < n; ++i) EXPECT_EQ(hits[i].load(), 1) << "jobs " << jobs << " n " << n << " i " << i;
    }
  }
}

TEST(ParallelFor, OneJobRunsInOrderOnTheCallersThread) {
  std::vector<int64_t> order;
  const auto caller = std::this_thread::get_id();
  bool same_thread = true;
  ParallelFor(5, 1, [&](int64_t i) {
    order.push_back(i);
    same_thread = same_thread && std::this_thread::get_id() == caller;
  });
  EXPECT_EQ(order, (std::vector<int64_t>{0, 1, 2, 3, 4}));
  EXPECT_TRUE(same_thread);
}

TEST(ParallelFor, UsesAtMostJobsThreadsAndMoreThanOne) {
  std::mutex mu;
  std::set<std::thread::id> threads;
  std::atomic<int> running{0}, most{0};
  std::atomic<bool> another_started{false};
  ParallelFor(64, 3, [&](int64_t i) {
    int now = ++running;
    for (int seen = most; now > seen && !most.compare_exchange_weak(seen, now);) {
    }
    {
      std::lock_guard lock(mu);
      threads.insert(std::this_thread::get_id());
    }
    if (i != 0) another_started = true;
    // Item 0 waits for another item to start: only another thread can start
    // one (a serial loop would time out here and fail below).
    for (int t = 0; i == 0 && !another_started && t < 5000; ++t)
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    --running;
  });
  EXPECT_LE(threads.size(), 3u);
  EXPECT_LE(most.load(), 3);
  EXPECT_GT(threads.size(), 1u);
}

}  // namespace
}  // namespace lmlab
