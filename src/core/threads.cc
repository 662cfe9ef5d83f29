#include "lmlab/core/threads.h"

#include <sched.h>
#include <stdlib.h>

#include <algorithm>
#include <cmath>
#include <thread>

namespace lmlab {

int AvailableCores() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0) return CPU_COUNT(&set);
  return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

int IdleCores() {
  const int cores = AvailableCores();
  double load = 0;
  if (getloadavg(&load, 1) != 1) return cores;
  return std::clamp(static_cast<int>(std::lround(cores - load)), 1, cores);
}

int ResolveThreads(int requested) { return requested > 0 ? requested : IdleCores(); }

}  // namespace lmlab
