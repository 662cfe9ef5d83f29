// The meta-utility: elements (one improver on one task and repeat, then its
// solution on test instances), run o.jobs at a time, and what is built on
// it: RunElement, EvaluateImprover, Transfer.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <exception>
#include <memory>

#include <fmt/format.h>

#include "improve/internal.h"
#include "lmlab/core/hash.h"
#include "lmlab/core/parallel.h"
#include "lmlab/improve/evaluate.h"

namespace lmlab::improve {
namespace internal {
namespace {

using Clock = std::chrono::steady_clock;

// A downstream utility on one task, validation instances from `seed`.
UtilityFn DownstreamUtility(const StopOptions& o, const Task& task, uint64_t seed, sandbox::Sandbox& box,
                            Ledger& ledger) {
  auto calls = std::make_shared<std::atomic<uint64_t>>(0);
  return [&o, &task, seed, &box, &ledger, calls](const std::string& code) -> Result<double> {
    uint64_t k = (*calls)++;
    Result<Evaluation> e = EvaluateSolution(box, task, code, ValidationEval(o, MixSeed(seed, k)));
    std::lock_guard lock(ledger.mu);
    ++ledger.utility_calls;
    if (!e) return std::unexpected(e.error());  // counted as a utility error by the RPC handler
    if (e->wrong_shape > 0 || e->max_naive_value > 1 || !e->hack.empty()) {
      ledger.audit.wrong_shape_outputs += e->wrong_shape;
      if (e->max_naive_value > 1) ++ledger.audit.inflated_scores;
      ledger.audit.internals_reads += e->reads_internals;
      ledger.audit.time_tampering += e->time_tampering;
      std::string rel = ledger.round_dir + "/solutions/" + Fnv1aHex(code) + ".py";
      bool listed = std::any_of(ledger.audit.offending.begin(), ledger.audit.offending.end(),
                                [&](const std::string& f) { return f.rfind(rel + " ", 0) == 0; });
      if (!listed)  // once per file and round; the counts above keep every occurrence
        ledger.audit.offending.push_back(
            rel + (e->hack.empty() ? fmt::format(" (wrong shape x{}, broadcast score {:.2f})", e->wrong_shape,
                                                 e->max_naive_value)
                                   : " (" + e->hack + ", scored 0)"));
    }
    ledger.Save("solutions", code);
    return e->utility;
  };
}

std::string FailureNote(const ImproverRun& run) {
  if (run.verdict != sandbox::Verdict::kOk) return "the improver failed: " + run.detail;
  return run.solution ? "the improver returned empty code" : "the improver returned no code";
}

}  // namespace

EvalOptions ValidationEval(const StopOptions& o, uint64_t call_seed) {
  if (o.protocol == Protocol::kPaper)
    return {.seed = MixSeed(o.seed, kPaperValidation), .instances = kPaperValidationInstances,
            .time_limit_scale = o.time_limit_scale};
  return {.seed = call_seed, .time_limit_scale = o.time_limit_scale};
}

EvalOptions TestEval(const StopOptions& o, uint64_t element_seed) {
  uint64_t seed = o.protocol == Protocol::kPaper ? MixSeed(o.seed, kPaperTest) : MixSeed(element_seed, 2);
  return {.seed = seed, .instances = o.test_instances, .time_limit_scale = o.time_limit_scale};
}

uint64_t ElementSeed(uint64_t stream, const std::string& task, int repeat) {
  return MixSeed(stream, Fnv1a(task), uint64_t(repeat));
}

Result<ElementResult> OneElement(const StopOptions& o, const std::string& improver, const Task& task, int repeat,
                                 uint64_t stream, SharedModel& model, sandbox::Sandbox& box, Ledger& ledger) {
  auto start = Clock::now();
  uint64_t base = ElementSeed(stream, task.name, repeat);
  UtilityFn u = DownstreamUtility(o, task, MixSeed(base, 1), box, ledger);
  LMLAB_ASSIGN_OR_RETURN(ImproverRun run,
                         RunImprover(o, improver, task.seed_solution, task.utility_description, u, model, box, ledger));
  ElementResult r;
  r.task = task.name;
  r.repeat = repeat;
  r.improver_hash = ImproverHash(improver);
  r.improver_verdict = sandbox::VerdictName(run.verdict);
  r.improver_seconds = run.seconds;
  r.model = model.lm.info().name;
  r.options = ElementOptionsJson(o);
  if (!run.solution || run.solution->empty()) {
    r.failed = true;
    r.note = FailureNote(run);
  } else {
    // Under the paper protocol a meta-utility inside a round (the improver
    // choosing among its candidates) scores outputs on the validation set, as
    // the paper's meta_utility(mode="val") does; only held-out reporting
    // touches the test set.
    bool selecting = o.protocol == Protocol::kPaper && stream != MixSeed(o.seed, kHeldOut);
    EvalOptions final_eval = selecting ? ValidationEval(o, 0) : TestEval(o, base);
    LMLAB_ASSIGN_OR_RETURN(Evaluation e, EvaluateSolution(box, task, *run.solution, final_eval));
    r.utility = e.utility;
    r.test_instances = e.instances;
    r.test_errors = e.errors;
    r.test_too_slow = e.too_slow;
    r.test_wrong_shape = e.wrong_shape;
    r.test_seconds = e.seconds;
  }
  std::lock_guard lock(ledger.mu);
  static_cast<HostCounts&>(r) = ledger;
  r.wall_seconds = std::chrono::duration<double>(Clock::now() - start).count();
  return r;
}

uint64_t StreamOf(const StopOptions& o, const ElementPlace& place) {
  return place.HeldOut() ? MixSeed(o.seed, kHeldOut) : MixSeed(o.seed, uint64_t(place.round), uint64_t(place.call));
}

Result<MetaUtility> Meta(const StopOptions& o, const std::string& improver, const std::vector<Task>& tasks,
                         const ElementPlace& place, SharedModel& model, sandbox::Sandbox& box, Ledger& ledger) {
  if (o.element_runner) {
    std::vector<std::string> names;
    for (const Task& t : tasks) names.push_back(t.name);
    ElementPlace at = place;
    at.files_dir = ledger.round_dir;
    LMLAB_ASSIGN_OR_RETURN(std::vector<ElementResult> elements, o.element_runner->Run(o, improver, names, at));
    if (elements.size() != names.size() * size_t(o.repeats))
      return Internal(fmt::format("the element runner returned {} elements for {} tasks x {} repeats", elements.size(),
                                  names.size(), o.repeats));
    std::lock_guard lock(ledger.mu);
    for (const ElementResult& e : elements) ledger.Add(e);
    return CombineElements(elements);
  }
  const uint64_t stream = StreamOf(o, place);
  int n = int(tasks.size()) * o.repeats;
  std::vector<std::unique_ptr<Ledger>> ledgers(n);
  std::vector<Result<ElementResult>> results(n);
  ParallelFor(n, o.jobs, [&](int64_t i) {
    ledgers[i] = std::make_unique<Ledger>(ledger.run_dir, ledger.round_dir);
    // Library code returns errors; should anything below throw all the
    // same, it fails this element, not the process (a throw would end a
    // worker thread with std::terminate).
    try {
      results[i] = OneElement(o, improver, tasks[i / o.repeats], int(i % o.repeats), stream, model, box, *ledgers[i]);
    } catch (const std::exception& e) {
      results[i] = Internal(std::string("an element threw: ") + e.what());
    }
  });
  {
    std::lock_guard lock(ledger.mu);
    for (const auto& l : ledgers) ledger.Add(*l);
  }
  std::vector<ElementResult> elements;
  for (auto& r : results) {
    if (!r) return std::unexpected(r.error());
    elements.push_back(std::move(*r));
  }
  return CombineElements(elements);
}

Result<std::vector<Task>> LoadTasks(const std::vector<std::string>& names) {
  if (names.empty()) return InvalidArgument("give at least one task");
  std::vector<Task> tasks;
  for (const auto& n : names) {
    LMLAB_ASSIGN_OR_RETURN(Task t, FindTask(n));
    tasks.push_back(std::move(t));
  }
  return tasks;
}

Status CheckOptions(const StopOptions& o) {
  if (o.rounds < 0) return InvalidArgument(fmt::format("rounds must be >= 0 (got {})", o.rounds));
  if (o.repeats < 1) return InvalidArgument(fmt::format("repeats must be >= 1 (got {})", o.repeats));
  if (o.budgets.samples_per_call < 1 || o.budgets.lm_calls < 1 || o.budgets.utility_calls < 1)
    return InvalidArgument("budgets (samples per call, model calls, utility calls) must be >= 1");
  if (o.jobs < 1) return InvalidArgument(fmt::format("jobs must be >= 1 (got {})", o.jobs));
  if (o.test_instances < 1) return InvalidArgument(fmt::format("test instances must be >= 1 (got {})", o.test_instances));
  return {};
}

}  // namespace internal

using namespace internal;

Result<ElementResult> RunElement(const StopOptions& o, const std::string& improver_code, const std::string& task_name,
                                 int repeat, runtime::LanguageModel& lm, sandbox::Sandbox& box,
                                 const ElementPlace& place) {
  LMLAB_RETURN_IF_ERROR(CheckOptions(o));
  if (repeat < 0) return InvalidArgument("the repeat must be >= 0");
  if (place.files_dir.empty() || place.files_dir.find("..") != std::string::npos)
    return InvalidArgument("an element's files directory must be a name inside the run directory");
  LMLAB_ASSIGN_OR_RETURN(Task task, FindTask(task_name));
  SharedModel model{lm, {}};
  Ledger ledger(o.run_dir, place.files_dir);
  return OneElement(o, improver_code, task, repeat, StreamOf(o, place), model, box, ledger);
}

std::string SeedImprover(SeedImproverKind kind) {
  return EmbeddedText(kind == SeedImproverKind::kPaper ? "data/improve/seed_improver.py"
                                                       : "data/improve/seed_improver_keep_best.py");
}

const char* ProtocolName(Protocol p) { return p == Protocol::kPaper ? "paper" : "lmlab"; }
const char* SeedImproverName(SeedImproverKind k) { return k == SeedImproverKind::kPaper ? "paper" : "keep-best"; }
const char* SandboxWarningName(SandboxWarning w) { return w == SandboxWarning::kShown ? "shown" : "omitted"; }

Result<std::optional<std::string>> ImproveOnce(const StopOptions& o, const std::string& improver_code,
                                               const std::string& task_name, runtime::LanguageModel& lm,
                                               sandbox::Sandbox& box) {
  LMLAB_RETURN_IF_ERROR(CheckOptions(o));
  LMLAB_ASSIGN_OR_RETURN(Task task, FindTask(task_name));
  SharedModel model{lm, {}};
  Ledger ledger(o.run_dir, kEvaluateDir);
  uint64_t base = ElementSeed(MixSeed(o.seed, kHeldOut), task.name, 0);
  UtilityFn u = DownstreamUtility(o, task, MixSeed(base, 1), box, ledger);
  LMLAB_ASSIGN_OR_RETURN(ImproverRun run,
                         RunImprover(o, improver_code, task.seed_solution, task.utility_description, u, model, box,
                                     ledger));
  return run.solution;
}

Result<MetaUtility> EvaluateImprover(const StopOptions& o, const std::string& improver_code,
                                     const std::vector<std::string>& task_names, runtime::LanguageModel& lm,
                                     sandbox::Sandbox& box) {
  LMLAB_RETURN_IF_ERROR(CheckOptions(o));
  LMLAB_ASSIGN_OR_RETURN(std::vector<Task> tasks, LoadTasks(task_names));
  SharedModel model{lm, {}};
  Ledger ledger(o.run_dir, kEvaluateDir);
  return Meta(o, improver_code, tasks, ElementPlace{.files_dir = kEvaluateDir}, model, box, ledger);
}

Result<std::vector<TransferRow>> Transfer(const StopOptions& o, const std::string& improved,
                                          const std::vector<std::string>& task_names, runtime::LanguageModel& lm,
                                          sandbox::Sandbox& box) {
  LMLAB_RETURN_IF_ERROR(CheckOptions(o));
  LMLAB_ASSIGN_OR_RETURN(std::vector<Task> tasks, LoadTasks(task_names));
  SharedModel model{lm, {}};
  Ledger ledger(o.run_dir, "transfer");
  uint64_t held_out = MixSeed(o.seed, kHeldOut);
  std::vector<TransferRow> rows;
  for (size_t i = 0; i < tasks.size(); ++i) {
    Report(o.progress, {"transfer", double(i), double(tasks.size()), "tasks", tasks[i].name});
    TransferRow row;
    row.task = tasks[i].name;
    std::vector<Task> one = {tasks[i]};
    double seed_total = 0;
    for (int r = 0; r < o.repeats; ++r) {
      uint64_t base = ElementSeed(held_out, tasks[i].name, r);
      LMLAB_ASSIGN_OR_RETURN(Evaluation e, EvaluateSolution(box, tasks[i], tasks[i].seed_solution, TestEval(o, base)));
      seed_total += e.utility / o.repeats;
    }
    row.seed_solution = seed_total;
    const ElementPlace place{.files_dir = ledger.round_dir};
    LMLAB_ASSIGN_OR_RETURN(MetaUtility a, Meta(o, SeedImprover(o.seed_improver), one, place, model, box, ledger));
    LMLAB_ASSIGN_OR_RETURN(MetaUtility b, Meta(o, improved, one, place, model, box, ledger));
    row.seed_improver = a.value;
    row.improved_improver = b.value;
    rows.push_back(row);
  }
  Report(o.progress, {"transfer", double(tasks.size()), double(tasks.size()), "tasks", ""});
  return rows;
}

}  // namespace lmlab::improve
