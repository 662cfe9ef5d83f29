// The options of a STOP run (stop.h) and the per-improver budgets the host
// enforces (host_rpc.h).
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "lmlab/core/progress.h"

namespace lmlab::improve {

class ElementRunner;  // element.h

// Per improver run, enforced by the host (the improver's copies are advisory).
struct ImproverBudgets {
  int samples_per_call = 6;  // replies per language_model.batch_prompt call
  int lm_calls = 4;          // batch_prompt calls
  int utility_calls = 25;    // utility(...) calls
};

// How tasks are scored and which seed improver starts the run.
//   kPaper (default): as Zelikman et al. 2023's code does it (microsoft/stop,
//     tasks/*/secret_utility.py): every utility call scores the candidate on
//     the same 20 fixed-seed validation instances, and each final solution
//     on the same 50 fixed-seed test instances.
//   kLmlab: lmlab's earlier variant: each utility call draws
//     Task::instances_per_call fresh instances from its own seed stream.
enum class Protocol { kPaper, kLmlab };
// The seed improver I0 (data/improve/seed_improver*.py).
//   kPaper (default): min(max responses, utility budget) rewrites, returns
//     the best *new* one even when it is worse than the initial solution
//     (tasks/meta_optimization/seed_algorithm.py).
//   kKeepBest: lmlab's earlier one: budget - 1 rewrites, keeps the initial
//     solution unless a rewrite beats it.
enum class SeedImproverKind { kPaper, kKeepBest };
// The paper's sandbox ablation: the meta-utility description shown to the
// improver with or without a warning against turning the sandbox off.
enum class SandboxWarning { kShown, kOmitted };

// The fixed instance counts of the paper's utilities (parity_noise/secret_utility.py).
inline constexpr int kPaperValidationInstances = 20;
inline constexpr int kPaperTestInstances = 50;
// The streams of those instances (the paper seeds them with 4321 + i and
// 5678 + i); instance i of a run with --seed S is MixSeed(MixSeed(S, stream), i).
inline constexpr uint64_t kPaperValidationStream = 4321;
inline constexpr uint64_t kPaperTestStream = 5678;

const char* ProtocolName(Protocol p);
const char* SeedImproverName(SeedImproverKind k);
const char* SandboxWarningName(SandboxWarning w);

struct StopOptions {
  std::filesystem::path run_dir;
  std::vector<std::string> tasks = {"lpn"};  // training tasks of the meta-utility
  int rounds = 6;
  int repeats = 5;                  // meta-utility repetitions (the paper's code uses 5)
  Protocol protocol = Protocol::kPaper;
  SeedImproverKind seed_improver = SeedImproverKind::kPaper;
  SandboxWarning sandbox_warning = SandboxWarning::kShown;
  int test_instances = kPaperTestInstances;  // instances scoring an improver's final solution
  ImproverBudgets budgets;
  int jobs = 1;                     // parallel sandboxes (meta-utility repeats run side by side)
  double improver_wall_seconds = 900;  // per improver run, model time excluded
  int max_tokens = 1024;            // per reply
  double time_limit_scale = 1.0;    // multiplies the tasks' per-instance limits
  uint64_t seed = 0;                // instance streams and model sampling
  // Where meta-utility elements run: null, in this process (`jobs` at a
  // time); set, handed to it (`improve run --slurm`: a Slurm array per
  // meta-utility). Borrowed; must outlive the run.
  ElementRunner* element_runner = nullptr;
  ProgressCallback progress;
};

}  // namespace lmlab::improve
