#include "lmlab/core/threads.h"

#include <sched.h>
#include <sys/resource.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <thread>

namespace lmlab {

int AvailableCores() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0) return CPU_COUNT(&set);
  return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

namespace {

// When this process began, as near as a library can tell (static
// initialisation, before main).
const std::chrono::steady_clock::time_point kProcessStart = std::chrono::steady_clock::now();

// This process's average CPU use since it began, in cores.
double OwnAverageLoad() {
  rusage usage{};
  if (getrusage(RUSAGE_SELF, &usage) != 0) return 0;
  const double cpu = static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
                     1e-6 * static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec);
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - kProcessStart).count();
  return wall > 1.0 ? cpu / wall : 0;
}

}  // namespace

int IdleCoresGiven(int cores, double load, double own_load) {
  const double others = std::max(0.0, load - std::max(0.0, own_load));
  return std::clamp(static_cast<int>(std::lround(cores - others)), 1, std::max(1, cores));
}

int IdleCores() {
  const int cores = AvailableCores();
  double load = 0;
  if (getloadavg(&load, 1) != 1) return cores;
  return IdleCoresGiven(cores, load, OwnAverageLoad());
}

int ResolveThreads(int requested) { return requested > 0 ? requested : IdleCores(); }

void ApplyThreadWaitPolicy(char** argv) {
  if (getenv("OMP_WAIT_POLICY") != nullptr || getenv("GOMP_SPINCOUNT") != nullptr) return;
  if (setenv("GOMP_SPINCOUNT", kOpenMpSpinCount, /*overwrite=*/0) != 0) return;
  // Says the variable is lmlab's choice, not the user's: benchmarks start
  // their references (llama-bench, PyTorch) without it, as users run them.
  setenv(kWaitPolicyMarker, "1", 1);
  // The same program, arguments and environment (plus the policy): libgomp
  // reads the variable when the new image loads it. The pid stays the same;
  // the real path (not /proc/self/exe) keeps the process's name in ps and top.
  char self[4096];
  const ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
  if (n <= 0) return;
  self[n] = '\0';
  execv(self, argv);
}

}  // namespace lmlab
