// core/file: FileLock (flock) excludes other holders, waits through signals,
// and is released by destruction.
#include <gtest/gtest.h>
#include <pthread.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <thread>

#include "lmlab/core/file.h"
#include "tests/support/temp_dir.h"

namespace lmlab {
namespace {

namespace fs = std::filesystem;

TEST(FileLock, CreatesTheFileAndExcludesASecondHolderUntilReleased) {
  testing::TempDir dir("lock");
  const fs::path path = dir.path() / "sub" / "entry.lock";
  {
    auto held = FileLock::Acquire(path);
    ASSERT_TRUE(held) << held.error().ToString();
    EXPECT_TRUE(fs::exists(path));
    auto second = FileLock::TryAcquire(path);
    ASSERT_TRUE(second) << second.error().ToString();
    EXPECT_FALSE(second->has_value());  // held by `held`, even in this process
    FileLock moved = std::move(*held);  // moving keeps the lock
    EXPECT_FALSE(FileLock::TryAcquire(path)->has_value());
  }
  auto after = FileLock::TryAcquire(path);
  ASSERT_TRUE(after);
  EXPECT_TRUE(after->has_value());
}

TEST(FileLock, LocksAnExistingDirectory) {
  testing::TempDir dir("lock");
  auto held = FileLock::Acquire(dir.path());
  ASSERT_TRUE(held) << held.error().ToString();
  EXPECT_TRUE(fs::is_directory(dir.path()));
  EXPECT_FALSE(FileLock::TryAcquire(dir.path())->has_value());
}

TEST(FileLock, UnopenablePathIsAnIoError) {
  auto r = FileLock::Acquire("/proc/lmlab-no-such-dir/x.lock");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kIo);
}

void OnSignal(int) {}

TEST(FileLock, WaitingSurvivesASignal) {
  // A handler without SA_RESTART makes a blocked flock fail with EINTR; the
  // lock must keep waiting and take the lock once it is free.
  struct sigaction sa {}, old {};
  sa.sa_handler = OnSignal;
  sigemptyset(&sa.sa_mask);
  ASSERT_EQ(sigaction(SIGUSR1, &sa, &old), 0);
  testing::TempDir dir("lock");
  const fs::path path = dir.path() / "entry.lock";
  auto held = FileLock::Acquire(path);
  ASSERT_TRUE(held);

  std::atomic<bool> started{false}, done{false};
  Result<FileLock> waited = IoError("not run");
  std::thread waiter([&] {
    started = true;
    waited = FileLock::Acquire(path);
    done = true;
  });
  while (!started) std::this_thread::yield();
  for (int i = 0; i < 5; ++i) {  // interrupt the wait a few times
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    pthread_kill(waiter.native_handle(), SIGUSR1);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_FALSE(done.load());  // still waiting: the lock is held
  { FileLock release = std::move(*held); }
  waiter.join();
  EXPECT_TRUE(waited) << waited.error().ToString();
  sigaction(SIGUSR1, &old, nullptr);
}

}  // namespace
}  // namespace lmlab
