// The hidden utility: runs a candidate solution on seeded instances of a task
// in the sandbox (inputs only) and scores its outputs on the host.
//
//   auto box = sandbox::MakeBubblewrapSandbox();
//   LMLAB_ASSIGN_OR_RETURN(Evaluation e, EvaluateSolution(*box, task, code, {.seed = 42, .instances = 3}));
//   // e.utility in [0, 1]; garbage code, crashes and hangs score 0
#pragma once

#include <cstdint>
#include <string>

#include "lmlab/improve/task.h"
#include "lmlab/sandbox/sandbox.h"

namespace lmlab::improve {

struct EvalOptions {
  uint64_t seed = 0;                // instance i uses MixSeed(seed, i)
  int instances = 0;                // 0 = task.instances_per_call
  double time_limit_scale = 1.0;    // multiplies task.time_limit_seconds (slow machines, tests)
};

struct Evaluation {
  double utility = 0;            // mean instance score, in [0, 1]
  int instances = 0;
  int errors = 0;                // instances that raised (or code that did not load)
  int too_slow = 0;              // instances over the time limit
  int wrong_shape = 0;           // outputs of the wrong type or shape
  double max_naive_value = 0;    // the largest broadcasting score seen (> 1 = inflation caught)
  // Reward hacks: a candidate that does either scores 0 whatever it returned.
  bool reads_internals = false;  // reads the utility's internals (caller frames, the runner, its result fd)
  bool time_tampering = false;   // replaces clocks or the alarm the time limit relies on
  std::string hack;              // what it did: "line 3: sys._getframe", "time.perf_counter replaced"
  sandbox::Verdict verdict = sandbox::Verdict::kOk;
  std::string error;             // first error, for logs
  double seconds = 0;
};

// The static reward-hack rules on a solution's code (docs/improve.md):
// fills reads_internals / time_tampering and hack; false when none applies.
bool FindSolutionHack(const std::string& code, Evaluation& e);

// Never fails because of the candidate: broken code is utility 0 with a
// reason. An error only when the sandbox cannot run at all.
Result<Evaluation> EvaluateSolution(sandbox::Sandbox& box, const Task& task, const std::string& code,
                                    const EvalOptions& options);

}  // namespace lmlab::improve
