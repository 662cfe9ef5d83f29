#include "lmlab/core/threads.h"

#include <gtest/gtest.h>
#include <omp.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/run_command.h"

namespace lmlab {
namespace {

double ThreadCpuSeconds() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
}

// CPU seconds a worker burns at a barrier while its sibling sleeps 300 ms.
double SecondsSpunAtABarrier() {
  double waiting_cpu = -1;
#pragma omp parallel num_threads(2)
  {
    if (omp_get_num_threads() == 2) {
      if (omp_get_thread_num() == 0) {
        std::this_thread::sleep_for(std::chrono::milliseconds(300));
#pragma omp barrier
      } else {
        const double before = ThreadCpuSeconds();
#pragma omp barrier
        waiting_cpu = ThreadCpuSeconds() - before;
      }
    }
  }
  return waiting_cpu;
}

TEST(Threads, ZeroMeansTheIdleCoresAndAnExplicitCountIsKept) {
  EXPECT_GE(AvailableCores(), 1);
  EXPECT_GE(IdleCores(), 1);
  EXPECT_LE(IdleCores(), AvailableCores());
  EXPECT_EQ(ResolveThreads(0), IdleCores());
  EXPECT_EQ(ResolveThreads(3), 3);  // what the user asked, even past the idle cores
  EXPECT_EQ(ResolveThreads(1), 1);
}

// The child half of the two tests below, run in a child process of this test
// binary (LMLAB_THREADS_TEST_CHILD set) before main(), so that it is not a
// test of its own: applies the policy (re-executing this binary), then prints
// the CPU a waiting OpenMP worker burned, in microseconds, and exits.
[[maybe_unused]] const bool kRanAsChild = [] {
  if (getenv("LMLAB_THREADS_TEST_CHILD") == nullptr) return false;
  std::ifstream in("/proc/self/cmdline", std::ios::binary);
  std::string cmdline((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<char*> args;
  for (size_t at = 0; at < cmdline.size(); at = cmdline.find('\0', at) + 1) args.push_back(cmdline.data() + at);
  args.push_back(nullptr);
  ApplyThreadWaitPolicy(args.data());  // returns here only in the re-executed image (the policy is set)
  const char* spin = getenv("GOMP_SPINCOUNT");
  std::ifstream comm_file("/proc/self/comm");
  std::string comm;
  std::getline(comm_file, comm);
  std::printf("GOMP_SPINCOUNT=%s comm=%s spun_us=%.0f\n", spin ? spin : "(unset)", comm.c_str(),
              SecondsSpunAtABarrier() * 1e6);
  std::fflush(stdout);
  std::_Exit(0);
}();

// The effect that matters, end to end: a worker that reaches a barrier long
// before its sibling sleeps instead of spinning. With libgomp's default
// (300,000 spins) it burns 5-20 ms of CPU first; with lmlab's policy
// (10,000 spins) under 1 ms.
TEST(Threads, WaitPolicyReexecutesSoAWaitingWorkerSleeps) {
  const std::string cmd = "env -u GOMP_SPINCOUNT -u OMP_WAIT_POLICY LMLAB_THREADS_TEST_CHILD=1 /proc/" +
                          std::to_string(getpid()) + "/exe 2>&1";
  const testing::CommandResult r = testing::RunCommand(cmd);
  const std::string& out = r.out;
  ASSERT_EQ(r.exit_code, 0) << out << r.err;
  ASSERT_NE(out.find(std::string("GOMP_SPINCOUNT=") + kOpenMpSpinCount + " "), std::string::npos) << out;
  EXPECT_NE(out.find(" comm=core_test "), std::string::npos) << "the re-executed process keeps its name\n" << out;
  const size_t at = out.find("spun_us=");
  ASSERT_NE(at, std::string::npos) << out;
  const double spun_us = std::stod(out.substr(at + 8));
  EXPECT_GE(spun_us, 0) << "OpenMP gave one thread:\n" << out;
  EXPECT_LT(spun_us, 3000) << out;
}

// A policy the user chose is kept: no re-exec, the variable untouched.
TEST(Threads, AUserPolicyIsKept) {
  const std::string cmd = "env GOMP_SPINCOUNT=12345 LMLAB_THREADS_TEST_CHILD=1 /proc/" + std::to_string(getpid()) +
                          "/exe 2>&1";
  const testing::CommandResult r = testing::RunCommand(cmd);
  const std::string& out = r.out;
  ASSERT_EQ(r.exit_code, 0) << out << r.err;
  EXPECT_NE(out.find("GOMP_SPINCOUNT=12345 "), std::string::npos) << out;
}

// A process's own load is not another user's: the demo's corpus build keeps
// one core busy for a minute before training, and the trainer must still
// take both cores of an otherwise idle 2-core machine.
TEST(Threads, IdleCoresCountOnlyOtherProcessesLoad) {
  EXPECT_EQ(IdleCoresGiven(2, 1.0, 1.0), 2);   // the load is ours
  EXPECT_EQ(IdleCoresGiven(2, 1.0, 0.0), 1);   // someone else's core
  EXPECT_EQ(IdleCoresGiven(2, 0.4, 0.0), 2);   // rounded
  EXPECT_EQ(IdleCoresGiven(2, 0.5, 2.0), 2);   // our average above the load: nobody else
  EXPECT_EQ(IdleCoresGiven(2, 3.0, 0.2), 1);   // a busy machine: still one thread
  EXPECT_EQ(IdleCoresGiven(8, 2.2, 1.0), 7);
  EXPECT_EQ(IdleCoresGiven(1, 0.0, 0.0), 1);
}

}  // namespace
}  // namespace lmlab
