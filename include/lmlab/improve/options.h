// The options of a STOP run (stop.h) and the per-improver budgets the host
// enforces (host_rpc.h).
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "lmlab/core/progress.h"

namespace lmlab::improve {

// Per improver run, enforced by the host (the improver's copies are advisory).
struct ImproverBudgets {
  int samples_per_call = 6;  // replies per language_model.batch_prompt call
  int lm_calls = 4;          // batch_prompt calls
  int utility_calls = 25;    // utility(...) calls
};

struct StopOptions {
  std::filesystem::path run_dir;
  std::vector<std::string> tasks = {"lpn"};  // training tasks of the meta-utility
  int rounds = 6;
  int repeats = 5;                  // meta-utility repetitions (the paper's code uses 5)
  int test_instances = 5;           // instances scoring an improver's final solution
  ImproverBudgets budgets;
  int jobs = 1;                     // parallel sandboxes (meta-utility repeats run side by side)
  double improver_wall_seconds = 900;  // per improver run, model time excluded
  int max_tokens = 1024;            // per reply
  double time_limit_scale = 1.0;    // multiplies the tasks' per-instance limits
  uint64_t seed = 0;                // instance streams and model sampling
  ProgressCallback progress;
};

}  // namespace lmlab::improve
