// STOP, the Self-Taught Optimizer (Zelikman et al. 2023, arXiv 2310.02304).
// An improver is a Python program defining
// improve_algorithm(initial_solution, utility, language_model). Its
// meta-utility û(I) is the mean downstream utility of I's output over the
// training tasks, repeated. Self-improvement runs I_{t+1} = I_t(I_t, û, L)
// for T rounds, falling back to I_t when I_{t+1} scores 0 or fails.
//
// Every improver run and every solution evaluation happens in the sandbox.
// The improver reaches the model and the utility only through RPC to the
// host, which counts and enforces every budget (ImproverBudgets).
//
//   auto box = sandbox::MakeBubblewrapSandbox();
//   StopOptions o{.run_dir = "runs/lpn", .tasks = {"lpn"}, .rounds = 6};
//   LMLAB_ASSIGN_OR_RETURN(RunSummary s, RunSelfImprovement(o, *lm, *box));
//   // s.rounds[t].meta_utility: held-out meta-utility after round t
//
// A run directory holds config.json, round-<t>.json (checkpointed after each
// round: a killed run resumes from the last one), improver-<t>.py, every
// candidate's code under round-<t>/candidates/, and the audit findings.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "lmlab/core/progress.h"
#include "lmlab/improve/task.h"
#include "lmlab/runtime/language_model.h"
#include "lmlab/sandbox/sandbox.h"

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

// Audit counts for a set of candidate improvers (see docs/improve.md for the rules).
struct Audit {
  int candidates = 0;               // candidate improvers generated and evaluated
  int sandbox_flag_changed = 0;     // candidates that drop or change use_sandbox=True
  int sandbox_flag_off_calls = 0;   // utility calls made with use_sandbox=False (still sandboxed)
  int wrong_shape_outputs = 0;      // downstream outputs of the wrong shape/type
  int inflated_scores = 0;          // outputs a broadcasting scorer would have scored above 1
  int out_of_range_utilities = 0;   // utility values outside [0, 1] or NaN (must stay 0: host-computed)
  int hidden_utility_probes = 0;    // candidates touching host internals, /proc, /box, gc, inspect, ...
  int budget_tampering = 0;         // candidates that rewrite budgets
  int over_budget_requests = 0;     // requests refused because a budget was spent
  int unknown_requests = 0;         // RPC operations that do not exist
  int non_string_results = 0;       // improvers that returned something other than code
  std::vector<std::string> offending;  // files (relative to the run dir) with the code and the reason

  void Add(const Audit& o);
  double SandboxFlagRate() const { return candidates ? double(sandbox_flag_changed) / candidates : 0; }
};

// One field list for both directions of the run log and element files;
// missing keys keep their defaults (logs written before a counter existed
// still load).
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(Audit, candidates, sandbox_flag_changed, sandbox_flag_off_calls,
                                                wrong_shape_outputs, inflated_scores, out_of_range_utilities,
                                                hidden_utility_probes, budget_tampering, over_budget_requests,
                                                unknown_requests, non_string_results, offending)

// What the host counts while improvers run: for one element, a meta-utility
// or a round.
struct HostCounts {
  int model_calls = 0;    // batch_prompt calls answered
  int samples = 0;        // replies generated
  int utility_calls = 0;  // downstream solution evaluations
  int64_t prompt_tokens = 0;
  int64_t completion_tokens = 0;
  Audit audit;  // dynamic findings: over-budget requests, wrong shapes, ...

  // Adds another's counts. An offending file already listed is not listed
  // again (once per file and round; the counters keep every occurrence).
  void Add(const HostCounts& o);
};

// Strategies named in the paper's figure, tagged by keyword rules on the code.
std::vector<std::string> TagStrategies(const std::string& improver_code);
// The static part of the audit for one candidate improver's code.
Audit AuditImproverCode(const std::string& improver_code);

struct RoundRecord {
  int round = 0;               // 0 = the seed improver
  double meta_utility = 0;     // on held-out instances
  bool accepted = true;        // false: fell back to the previous improver
  std::string improver_file;   // improver in effect after this round
  int model_calls = 0;         // batch_prompt calls answered (all levels)
  int samples = 0;             // replies generated
  int64_t prompt_tokens = 0;
  int64_t completion_tokens = 0;
  int utility_calls = 0;       // downstream solution evaluations
  Audit audit;
  std::map<std::string, int> strategies;  // tag -> candidates with it
  std::string note;            // why a round fell back
  double wall_seconds = 0;     // stored apart (timing.json) so logs compare equal
};

struct RunSummary {
  nlohmann::json config;
  std::vector<RoundRecord> rounds;
  Audit audit_total;
};

// Runs (or resumes) self-improvement in options.run_dir. A directory with a
// config.json from different options is kInvalidArgument.
Result<RunSummary> RunSelfImprovement(const StopOptions& options, runtime::LanguageModel& lm, sandbox::Sandbox& box);

// Reads a run directory (finished or not).
Result<RunSummary> LoadRun(const std::filesystem::path& run_dir);

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

// The seed improver I0 (data/improve/seed_improver.py).
std::string SeedImprover();

nlohmann::json ToJson(const RunSummary& summary);
nlohmann::json ToJson(const std::vector<TransferRow>& rows);

// A per-round SVG line plot of the held-out meta-utility.
std::string RenderPlotSvg(const RunSummary& summary);

}  // namespace lmlab::improve
