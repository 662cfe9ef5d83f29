// STOP, the Self-Taught Optimizer (Zelikman et al. 2023, arXiv 2310.02304).
// An improver is a Python program defining
// improve_algorithm(initial_solution, utility, language_model). Its
// meta-utility û(I) is the mean downstream utility of I's output over the
// training tasks, repeated. Self-improvement runs I_{t+1} = I_t(I_t, û, L)
// for T rounds, falling back to I_t when I_{t+1} scores 0 or fails.
//
// Every improver run and every solution evaluation happens in the sandbox.
// The improver reaches the model and the utility only through RPC to the
// host (host_rpc.h), which counts and enforces every budget (ImproverBudgets).
//
//   auto box = sandbox::MakeBubblewrapSandbox();
//   StopOptions o{.run_dir = "runs/lpn", .tasks = {"lpn"}, .rounds = 6};
//   LMLAB_ASSIGN_OR_RETURN(RunSummary s, RunSelfImprovement(o, *lm, *box));
//   // s.rounds[t].meta_utility: held-out meta-utility after round t
//
// The run directory (run_dir.h) is checkpointed after each round: a killed
// run resumes from the last one. Tables, JSON and the plot: render.h.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "lmlab/improve/audit.h"
#include "lmlab/improve/options.h"
#include "lmlab/improve/run_dir.h"
#include "lmlab/improve/task.h"
#include "lmlab/runtime/language_model.h"
#include "lmlab/sandbox/sandbox.h"

namespace lmlab::improve {

// Runs (or resumes) self-improvement in options.run_dir. A directory with a
// config.json from different options is kInvalidArgument. Options out of
// range (rounds < 0, repeats, jobs, test instances or budgets < 1) are
// kInvalidArgument naming the StopOptions field.
Result<RunSummary> RunSelfImprovement(const StopOptions& options, runtime::LanguageModel& lm, sandbox::Sandbox& box);

// The meta-utility of one improver on held-out instances: mean utility of
// its output over tasks x repeats. Each (task, repeat) is one element
// (improve/element.h), which also runs on its own (`lmlab improve element`).
// The counts are summed over the elements.
struct MetaUtility : HostCounts {
  double value = 0;
  int runs = 0;
  int failed_runs = 0;  // improver crashed, hung or returned no code
};
Result<MetaUtility> EvaluateImprover(const StopOptions& options, const std::string& improver_code,
                                     const std::vector<std::string>& tasks, runtime::LanguageModel& lm,
                                     sandbox::Sandbox& box);

struct TransferRow {
  std::string task;
  double seed_solution = 0;      // the task's seed solution on test instances
  double seed_improver = 0;      // I0's output
  double improved_improver = 0;  // the run's final improver's output
};

// Scores seed solution, seed improver and the improved improver on tasks not
// used for self-improvement.
Result<std::vector<TransferRow>> Transfer(const StopOptions& options, const std::string& improved_improver,
                                          const std::vector<std::string>& tasks, runtime::LanguageModel& lm,
                                          sandbox::Sandbox& box);

// The seed improver I0: data/improve/seed_improver.py (the paper's
// semantics) or seed_improver_keep_best.py.
std::string SeedImprover(SeedImproverKind kind = SeedImproverKind::kPaper);

// Runs one improver once on a task's seed solution with the task's
// validation utility (options.protocol) and returns what it returned
// (nullopt: no code). For checking an improver's semantics.
Result<std::optional<std::string>> ImproveOnce(const StopOptions& options, const std::string& improver_code,
                                               const std::string& task, runtime::LanguageModel& lm,
                                               sandbox::Sandbox& box);

// The meta-utility's description shown to an improver improving itself
// (its utility.str): the tasks, budgets and, with SandboxWarning::kShown, the
// warning of the paper's sandbox ablation. kNotFound for an unknown task.
Result<std::string> MetaUtilityPrompt(const StopOptions& options);

}  // namespace lmlab::improve
