// The local scheduler: a pool of worker threads in this process, each
// running one element at a time as a child process (bash and the job script,
// exactly what a Slurm node runs). For running an array's elements side by
// side on one machine, and for checking the element path without a cluster.
// Its jobs live as long as the pool: a pool that is destroyed cancels what
// is left, and a new process knows none of an old one's submissions (their
// elements are submitted again; finished ones are known by their exit files).
//
//   auto runner = MakeSystemProcessRunner();
//   auto pool = MakeLocalPool(*runner, /*workers=*/4);
//   LMLAB_ASSIGN_OR_RETURN(ArrayOutcome o, RunArray(*pool, job, {.poll_seconds = 0.2}));
#pragma once

#include <memory>

#include "lmlab/core/process.h"
#include "lmlab/sched/scheduler.h"

namespace lmlab::sched {

// `runner` must outlive the pool. workers >= 1.
std::unique_ptr<Scheduler> MakeLocalPool(ProcessRunner& runner, int workers);

}  // namespace lmlab::sched
