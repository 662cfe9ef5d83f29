// What the parts of STOP share inside the module: the ledger a round or an
// element counts into, the model shared by parallel improvers, one improver
// run in the sandbox, and the meta-utility over elements.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "lmlab/improve/audit.h"
#include "lmlab/improve/element.h"
#include "lmlab/improve/evaluate.h"
#include "lmlab/improve/options.h"
#include "lmlab/improve/stop.h"
#include "lmlab/improve/task.h"
#include "lmlab/runtime/language_model.h"
#include "lmlab/sandbox/sandbox.h"

namespace lmlab::improve::internal {

// Held-out instance stream, the same every round.
inline constexpr uint64_t kHeldOut = 0x4e1d07ULL;
// The paper protocol's fixed validation and test instance streams (its
// utilities seed them with 4321 + i and 5678 + i; here with --seed mixed in).
inline constexpr uint64_t kPaperValidation = kPaperValidationStream;
inline constexpr uint64_t kPaperTest = kPaperTestStream;
// Where EvaluateImprover and RunElement keep replies and solutions.
inline constexpr const char* kEvaluateDir = "evaluate";

// An embedded file (data/improve/...); empty when missing.
std::string EmbeddedText(std::string_view path);

// Everything counted during a round (or one element of it), and where its
// code is kept.
struct Ledger : HostCounts {
  std::mutex mu;
  std::filesystem::path run_dir;  // empty: nothing is saved
  std::string round_dir;          // "round-<t>", "evaluate" or "transfer"

  Ledger(std::filesystem::path dir, std::string round) : run_dir(std::move(dir)), round_dir(std::move(round)) {}

  // Saves code under <round_dir>/<kind>/<hash><ext>; returns the relative path.
  std::string Save(const std::string& kind, const std::string& code, const std::string& ext = ".py");
};

// The model, one caller at a time (LanguageModel is not thread-safe).
struct SharedModel {
  runtime::LanguageModel& lm;
  std::mutex mu;
};

// A utility as the improver calls it: an error when the host cannot compute it.
using UtilityFn = std::function<Result<double>(const std::string& code)>;

struct ImproverRun {
  std::optional<std::string> solution;  // code returned by improve_algorithm
  sandbox::Verdict verdict = sandbox::Verdict::kOk;
  std::string reason;  // why it failed, one line: the sandbox's RunResult::detail
  std::string detail;  // the reason and the end of its stderr
  double seconds = 0;  // the sandbox run, model time included
};

// Runs one improver in the sandbox, serving its model and utility requests
// (host_rpc.h). Its counts go to `ledger`, also when the sandbox fails.
Result<ImproverRun> RunImprover(const StopOptions& o, const std::string& improver, const std::string& initial,
                                const std::string& utility_description, const UtilityFn& utility,
                                SharedModel& model, sandbox::Sandbox& box, Ledger& ledger);

// The instances of one validation utility call: under the paper protocol the
// same 20 fixed ones every call, else Task::instances_per_call drawn from
// `call_seed`.
EvalOptions ValidationEval(const StopOptions& o, uint64_t call_seed);
// The instances scoring a final solution: under the paper protocol the same
// o.test_instances fixed ones for everyone, else drawn from the element's seed.
EvalOptions TestEval(const StopOptions& o, uint64_t element_seed);

// Instance seeds of element (task, repeat) in an instance stream: the same
// whichever thread or process runs it.
uint64_t ElementSeed(uint64_t stream, const std::string& task, int repeat);

// One element: the improver on (task, repeat) with validation instances from
// the element's seed, then its solution on test instances. Counts go to
// `ledger`, the element's own (kept by the caller even when this fails).
Result<ElementResult> OneElement(const StopOptions& o, const std::string& improver, const Task& task, int repeat,
                                 uint64_t stream, SharedModel& model, sandbox::Sandbox& box, Ledger& ledger);

// The instance stream of elements at `place`: held-out, or the validation
// stream of one meta-utility call inside a round.
uint64_t StreamOf(const StopOptions& o, const ElementPlace& place);

// Mean utility of an improver's outputs over tasks x repeats, o.jobs
// elements at a time, or handed to o.element_runner. `place` separates
// validation (used inside rounds) from held-out instances; its files_dir is
// the ledger's. Every element's counts go to `ledger`, even when another
// element fails.
Result<MetaUtility> Meta(const StopOptions& o, const std::string& improver, const std::vector<Task>& tasks,
                         const ElementPlace& place, SharedModel& model, sandbox::Sandbox& box, Ledger& ledger);

Result<std::vector<Task>> LoadTasks(const std::vector<std::string>& names);
// kInvalidArgument naming the StopOptions field out of range.
Status CheckOptions(const StopOptions& o);

}  // namespace lmlab::improve::internal
