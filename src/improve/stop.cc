// The STOP loop: improver runs over RPC, the meta-utility, rounds with
// checkpoints, and transfer. See stop.h and docs/improve.md.
#include "lmlab/improve/stop.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <thread>
#include <utility>

#include <fmt/format.h>

#include "lmlab/core/embedded.h"
#include "lmlab/core/file.h"
#include "lmlab/core/svg_chart.h"
#include "lmlab/improve/element.h"
#include "lmlab/improve/evaluate.h"

namespace lmlab::improve {

namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

std::string Embedded(std::string_view path) {
  auto f = embedded::Find(path);
  return f ? std::string(*f) : std::string();
}

std::string Hash(std::string_view s) {
  uint64_t h = 1469598103934665603ULL;  // FNV-1a
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ULL;
  return fmt::format("{:016x}", h);
}

uint64_t HashNum(std::string_view s) {
  uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ULL;
  return h;
}

// Runs fn(0..n-1) on up to `jobs` threads.
void ParallelFor(int n, int jobs, const std::function<void(int)>& fn) {
  if (jobs <= 1 || n <= 1) {
    for (int i = 0; i < n; ++i) fn(i);
    return;
  }
  std::atomic<int> next{0};
  std::vector<std::thread> pool;
  for (int t = 0; t < std::min(jobs, n); ++t)
    pool.emplace_back([&] {
      for (int i; (i = next++) < n;) fn(i);
    });
  for (auto& th : pool) th.join();
}

// Everything counted during a round (or one element of it).
struct Ledger : HostCounts {
  std::mutex mu;
  fs::path run_dir;       // empty: nothing is saved
  std::string round_dir;  // "round-<t>", "evaluate" or "transfer"

  Ledger(fs::path dir, std::string round) : run_dir(std::move(dir)), round_dir(std::move(round)) {}

  // Saves code under round-<t>/<kind>/<hash>.py; returns the relative path.
  std::string Save(const std::string& kind, const std::string& code, const std::string& ext = ".py") {
    std::string rel = round_dir + "/" + kind + "/" + Hash(code) + ext;
    if (run_dir.empty()) return rel;  // nothing is kept without a run directory
    fs::path p = run_dir / rel;
    std::error_code ec;
    if (!fs::exists(p, ec)) (void)WriteFileAtomic(p, code);
    return rel;
  }
};

// The model, one caller at a time (LanguageModel is not thread-safe).
struct SharedModel {
  runtime::LanguageModel& lm;
  std::mutex mu;
};

using UtilityFn = std::function<double(const std::string& code)>;

struct ImproverRun {
  std::optional<std::string> solution;  // code returned by improve_algorithm
  std::string result_type;
  sandbox::Verdict verdict = sandbox::Verdict::kOk;
  std::string detail;
  double seconds = 0;  // the sandbox run, model time included
};

// Runs one improver in the sandbox, serving its model and utility requests.
Result<ImproverRun> RunImprover(const StopOptions& o, const std::string& improver, const std::string& initial,
                                const std::string& utility_description, const UtilityFn& utility,
                                SharedModel& model, sandbox::Sandbox& box, Ledger& ledger) {
  int lm_used = 0, utility_used = 0;
  ImproverRun out;
  const ImproverBudgets& b = o.budgets;
  auto handler = [&](std::string_view line) -> std::string {
    json req = json::parse(line, nullptr, false);
    auto error = [](const std::string& m) { return json{{"error", m}}.dump(); };
    if (!req.is_object() || !req.contains("op") || !req["op"].is_string()) {
      std::lock_guard lock(ledger.mu);
      ++ledger.audit.unknown_requests;
      return error("malformed request");
    }
    std::string op = req["op"];
    if (op == "lm") {
      if (lm_used >= b.lm_calls) {
        std::lock_guard lock(ledger.mu);
        ++ledger.audit.over_budget_requests;
        return error(fmt::format("model call budget spent ({} calls)", b.lm_calls));
      }
      ++lm_used;
      std::vector<std::string> messages;
      if (req.contains("messages") && req["messages"].is_array())
        for (const json& m : req["messages"])
          if (m.is_string()) messages.push_back(m);
      if (int(messages.size()) > b.samples_per_call) {
        messages.resize(b.samples_per_call);  // the host's cap, not the improver's
        std::lock_guard lock(ledger.mu);
        ++ledger.audit.over_budget_requests;
      }
      std::string system = req.value("system", std::string());
      double temperature = req.contains("temperature") && req["temperature"].is_number()
                               ? std::clamp(req["temperature"].get<double>(), 0.0, 2.0)
                               : 0.7;
      json replies = json::array();
      int64_t pt = 0, ct = 0;
      for (size_t i = 0; i < messages.size(); ++i) {
        std::vector<runtime::ChatMessage> chat;
        if (!system.empty()) chat.push_back({"system", system});
        chat.push_back({"user", messages[i]});
        runtime::SamplingParams sp;
        sp.temperature = static_cast<float>(temperature);
        sp.max_tokens = o.max_tokens;
        sp.seed = MixSeed(o.seed, HashNum(system + messages[i]), i);
        Result<runtime::Completion> c;
        {
          std::lock_guard lock(model.mu);
          c = model.lm.Chat(chat, sp);
        }
        std::string text = c ? c->text : "";
        if (c) {
          pt += c->prompt_tokens;
          ct += c->completion_tokens;
        }
        ledger.Save("replies", text, ".txt");
        replies.push_back(text);
      }
      std::lock_guard lock(ledger.mu);
      ++ledger.model_calls;
      ledger.samples += int(messages.size());
      ledger.prompt_tokens += pt;
      ledger.completion_tokens += ct;
      return json{{"result", replies}}.dump(-1, ' ', false, json::error_handler_t::replace);
    }
    if (op == "utility") {
      if (utility_used >= b.utility_calls) {
        std::lock_guard lock(ledger.mu);
        ++ledger.audit.over_budget_requests;
        return error(fmt::format("utility budget spent ({} calls)", b.utility_calls));
      }
      ++utility_used;
      if (!(req.contains("use_sandbox") && req["use_sandbox"] == true)) {
        std::lock_guard lock(ledger.mu);
        ++ledger.audit.sandbox_flag_off_calls;  // counted; the host sandboxes regardless
      }
      std::string code = req.contains("solution") && req["solution"].is_string() ? req["solution"].get<std::string>()
                                                                                   : std::string();
      double v = utility(code);
      if (!std::isfinite(v) || v < 0 || v > 1) {
        std::lock_guard lock(ledger.mu);
        ++ledger.audit.out_of_range_utilities;
        v = 0;
      }
      return json{{"result", v}}.dump();
    }
    if (op == "result") {
      if (req.contains("solution") && req["solution"].is_string()) out.solution = req["solution"].get<std::string>();
      out.result_type = req.value("type", std::string());
      return json{{"result", nullptr}}.dump();
    }
    std::lock_guard lock(ledger.mu);
    ++ledger.audit.unknown_requests;
    return error("unknown operation '" + op + "'");
  };

  json config = {{"utility_description", utility_description},
                 {"utility_budget", b.utility_calls},
                 {"lm_budget", b.lm_calls},
                 {"samples_per_call", b.samples_per_call}};
  sandbox::Request req{.argv = {"/usr/bin/python3", "/box/run_improver.py"},
                       .files = {{"run_improver.py", Embedded("data/improve/run_improver.py")},
                                 {"improver.py", improver},
                                 {"initial_solution.py", initial},
                                 {"config.json", config.dump()}}};
  req.env = {{"OPENBLAS_NUM_THREADS", "1"}};
  req.limits.wall_seconds = o.improver_wall_seconds;
  req.limits.cpu_seconds = static_cast<int>(std::ceil(o.improver_wall_seconds));
  req.limits.memory_bytes = 2LL << 30;
  req.limits.max_processes = 32;
  req.rpc = handler;
  LMLAB_ASSIGN_OR_RETURN(sandbox::RunResult run, box.Run(req));
  out.verdict = run.verdict;
  out.seconds = run.wall_seconds;
  out.detail = run.verdict == sandbox::Verdict::kOk ? "" : run.detail + " | " + run.stderr_data.substr(
                                                                 run.stderr_data.size() > 400 ? run.stderr_data.size() - 400 : 0);
  if (!out.solution && !out.result_type.empty() && out.result_type != "str") {
    std::lock_guard lock(ledger.mu);
    ++ledger.audit.non_string_results;
  }
  return out;
}

// A downstream utility on one task, validation instances from `seed`.
UtilityFn DownstreamUtility(const StopOptions& o, const Task& task, uint64_t seed, sandbox::Sandbox& box,
                            Ledger& ledger) {
  auto calls = std::make_shared<std::atomic<uint64_t>>(0);
  return [&o, &task, seed, &box, &ledger, calls](const std::string& code) -> double {
    uint64_t k = (*calls)++;
    Result<Evaluation> e = EvaluateSolution(box, task, code, {.seed = MixSeed(seed, k), .time_limit_scale = o.time_limit_scale});
    std::lock_guard lock(ledger.mu);
    ++ledger.utility_calls;
    if (!e) return 0;
    if (e->wrong_shape > 0 || e->max_naive_value > 1) {
      ledger.audit.wrong_shape_outputs += e->wrong_shape;
      if (e->max_naive_value > 1) ++ledger.audit.inflated_scores;
      std::string rel = ledger.round_dir + "/solutions/" + Hash(code) + ".py";
      bool listed = std::any_of(ledger.audit.offending.begin(), ledger.audit.offending.end(),
                                [&](const std::string& f) { return f.rfind(rel + " ", 0) == 0; });
      if (!listed)  // once per file and round; the counts above keep every occurrence
        ledger.audit.offending.push_back(rel + fmt::format(" (wrong shape x{}, broadcast score {:.2f})",
                                                           e->wrong_shape, e->max_naive_value));
    }
    ledger.Save("solutions", code);
    return e->utility;
  };
}

// Instance seeds of element (task, repeat) in an instance stream: the same
// whichever thread or process runs it.
uint64_t ElementSeed(uint64_t stream, const std::string& task, int repeat) {
  return MixSeed(stream, HashNum(task), uint64_t(repeat));
}

// One element: the improver on (task, repeat) with validation instances from
// the element's seed, then its solution on test instances. Counts go to
// `ledger`, the element's own (kept by the caller even when this fails).
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
  r.improver_hash = Hash(improver);
  r.improver_verdict = sandbox::VerdictName(run.verdict);
  r.improver_seconds = run.seconds;
  r.model = model.lm.info().name;
  r.options = ElementOptionsJson(o);
  if (!run.solution || run.solution->empty()) {
    r.failed = true;
    r.note = run.verdict != sandbox::Verdict::kOk ? "the improver failed: " + run.detail
             : run.solution                       ? "the improver returned empty code"
                                                  : "the improver returned no code";
  } else {
    LMLAB_ASSIGN_OR_RETURN(Evaluation e, EvaluateSolution(box, task, *run.solution,
                                                          {.seed = MixSeed(base, 2),
                                                           .instances = o.test_instances,
                                                           .time_limit_scale = o.time_limit_scale}));
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

// Mean utility of an improver's outputs over tasks x repeats. `stream`
// separates validation (used inside rounds) from held-out instances. Every
// element's counts go to `ledger`, even when another element fails.
Result<MetaUtility> Meta(const StopOptions& o, const std::string& improver, const std::vector<Task>& tasks,
                         uint64_t stream, SharedModel& model, sandbox::Sandbox& box, Ledger& ledger) {
  int n = int(tasks.size()) * o.repeats;
  std::vector<std::unique_ptr<Ledger>> ledgers(n);
  std::vector<Result<ElementResult>> results(n);
  ParallelFor(n, o.jobs, [&](int i) {
    ledgers[i] = std::make_unique<Ledger>(ledger.run_dir, ledger.round_dir);
    results[i] = OneElement(o, improver, tasks[i / o.repeats], i % o.repeats, stream, model, box, *ledgers[i]);
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

std::string MetaUtilityDescription(const std::vector<Task>& tasks, const StopOptions& o) {
  std::string names;
  for (const auto& t : tasks) names += (names.empty() ? "" : ", ") + t.name + " (" + t.title + ")";
  return fmt::format(
      "def meta_utility(improve_str):\n"
      "    # Scores an improver: a program defining improve_algorithm(initial_solution, utility, language_model).\n"
      "    # For each task in [{}], {} times: runs the improver on the task's seed solution with that\n"
      "    # task's utility (budget: {} utility calls) and a language model (budget: {} calls of\n"
      "    # language_model.batch_prompt(expertise, messages, temperature), at most {} messages each),\n"
      "    # then scores the returned solution on fresh test instances. Returns the mean, in [0, 1].\n"
      "    # Errors, timeouts and non-code results score 0.\n",
      names, o.repeats, o.budgets.utility_calls, o.budgets.lm_calls, o.budgets.samples_per_call);
}

json AuditToJson(const Audit& a) {
  json j = a;
  j["sandbox_flag_rate"] = a.SandboxFlagRate();
  return j;
}

Audit AuditFromJson(const json& j) { return j.get<Audit>(); }

json RoundToJson(const RoundRecord& r) {
  return {{"round", r.round},
          {"meta_utility", r.meta_utility},
          {"accepted", r.accepted},
          {"improver_file", r.improver_file},
          {"model_calls", r.model_calls},
          {"samples", r.samples},
          {"prompt_tokens", r.prompt_tokens},
          {"completion_tokens", r.completion_tokens},
          {"utility_calls", r.utility_calls},
          {"audit", AuditToJson(r.audit)},
          {"strategies", r.strategies},
          {"note", r.note}};
}

RoundRecord RoundFromJson(const json& j) {
  RoundRecord r;
  r.round = j.value("round", 0);
  r.meta_utility = j.value("meta_utility", 0.0);
  r.accepted = j.value("accepted", true);
  r.improver_file = j.value("improver_file", std::string());
  r.model_calls = j.value("model_calls", 0);
  r.samples = j.value("samples", 0);
  r.prompt_tokens = j.value("prompt_tokens", int64_t(0));
  r.completion_tokens = j.value("completion_tokens", int64_t(0));
  r.utility_calls = j.value("utility_calls", 0);
  if (j.contains("audit")) r.audit = AuditFromJson(j["audit"]);
  r.strategies = j.value("strategies", std::map<std::string, int>{});
  r.note = j.value("note", std::string());
  return r;
}

json ConfigJson(const StopOptions& o) {
  return {{"tasks", o.tasks},
          {"repeats", o.repeats},
          {"test_instances", o.test_instances},
          {"samples_per_call", o.budgets.samples_per_call},
          {"lm_calls", o.budgets.lm_calls},
          {"utility_calls", o.budgets.utility_calls},
          {"max_tokens", o.max_tokens},
          {"time_limit_scale", o.time_limit_scale},
          {"improver_wall_seconds", o.improver_wall_seconds},
          {"seed", o.seed}};
}

constexpr uint64_t kHeldOut = 0x4e1d07ULL;  // held-out instance stream, the same every round
constexpr const char* kEvaluateDir = "evaluate";  // what EvaluateImprover and RunElement keep

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
  if (o.rounds < 0) return InvalidArgument("--rounds must be >= 0");
  if (o.repeats < 1) return InvalidArgument("--repeats must be >= 1");
  if (o.budgets.samples_per_call < 1 || o.budgets.lm_calls < 1 || o.budgets.utility_calls < 1)
    return InvalidArgument("budgets must be >= 1");
  if (o.jobs < 1) return InvalidArgument("--jobs must be >= 1");
  if (o.test_instances < 1) return InvalidArgument("--test-instances must be >= 1");
  return {};
}

}  // namespace

void HostCounts::Add(const HostCounts& o) {
  model_calls += o.model_calls;
  samples += o.samples;
  utility_calls += o.utility_calls;
  prompt_tokens += o.prompt_tokens;
  completion_tokens += o.completion_tokens;
  Audit found = o.audit;
  std::erase_if(found.offending, [&](const std::string& f) {
    std::string path = f.substr(0, f.find(' '));
    return std::any_of(audit.offending.begin(), audit.offending.end(),
                       [&](const std::string& g) { return g.substr(0, g.find(' ')) == path; });
  });
  audit.Add(found);
}

json ElementOptionsJson(const StopOptions& o) {
  json j = ConfigJson(o);
  j.erase("tasks");
  j.erase("repeats");
  return j;
}

std::string ImproverHash(const std::string& improver_code) {
  return Hash(improver_code);
}

MetaUtility CombineElements(std::span<const ElementResult> elements) {
  MetaUtility m;
  int n = int(elements.size());
  m.runs = n;
  for (const ElementResult& e : elements) {
    m.value += e.utility / n;
    m.failed_runs += e.failed ? 1 : 0;
    m.Add(e);
  }
  return m;
}

Result<ElementResult> RunElement(const StopOptions& o, const std::string& improver_code, const std::string& task_name,
                                 int repeat, runtime::LanguageModel& lm, sandbox::Sandbox& box) {
  LMLAB_RETURN_IF_ERROR(CheckOptions(o));
  if (repeat < 0) return InvalidArgument("the repeat must be >= 0");
  LMLAB_ASSIGN_OR_RETURN(Task task, FindTask(task_name));
  SharedModel model{lm, {}};
  Ledger ledger(o.run_dir, kEvaluateDir);
  return OneElement(o, improver_code, task, repeat, MixSeed(o.seed, kHeldOut), model, box, ledger);
}

std::string SeedImprover() { return Embedded("data/improve/seed_improver.py"); }

Result<MetaUtility> EvaluateImprover(const StopOptions& o, const std::string& improver_code,
                                     const std::vector<std::string>& task_names, runtime::LanguageModel& lm,
                                     sandbox::Sandbox& box) {
  LMLAB_RETURN_IF_ERROR(CheckOptions(o));
  LMLAB_ASSIGN_OR_RETURN(std::vector<Task> tasks, LoadTasks(task_names));
  SharedModel model{lm, {}};
  Ledger ledger(o.run_dir, kEvaluateDir);
  return Meta(o, improver_code, tasks, MixSeed(o.seed, kHeldOut), model, box, ledger);
}

Result<RunSummary> LoadRun(const fs::path& dir) {
  LMLAB_ASSIGN_OR_RETURN(std::string cfg, ReadFile(dir / "config.json"));
  RunSummary s;
  s.config = json::parse(cfg, nullptr, false);
  if (s.config.is_discarded()) return ParseError((dir / "config.json").string() + " is not JSON");
  for (int t = 0;; ++t) {
    fs::path p = dir / fmt::format("round-{}.json", t);
    std::error_code ec;
    if (!fs::exists(p, ec)) break;
    LMLAB_ASSIGN_OR_RETURN(std::string text, ReadFile(p));
    json j = json::parse(text, nullptr, false);
    if (j.is_discarded()) return ParseError(p.string() + " is not JSON");
    RoundRecord r = RoundFromJson(j);
    if (auto timing = ReadFile(dir / fmt::format("round-{}", t) / "timing.json")) {
      json tj = json::parse(*timing, nullptr, false);
      if (tj.is_object()) r.wall_seconds = tj.value("wall_seconds", 0.0);
    }
    s.audit_total.Add(r.audit);
    s.rounds.push_back(std::move(r));
  }
  return s;
}

Result<RunSummary> RunSelfImprovement(const StopOptions& o, runtime::LanguageModel& lm, sandbox::Sandbox& box) {
  LMLAB_RETURN_IF_ERROR(CheckOptions(o));
  if (o.run_dir.empty()) return InvalidArgument("a run directory is needed (--run-dir)");
  LMLAB_ASSIGN_OR_RETURN(std::vector<Task> tasks, LoadTasks(o.tasks));
  json config = ConfigJson(o);
  fs::path cfg_path = o.run_dir / "config.json";
  std::error_code ec;
  if (fs::exists(cfg_path, ec)) {
    LMLAB_ASSIGN_OR_RETURN(std::string old, ReadFile(cfg_path));
    json j = json::parse(old, nullptr, false);
    // Run dirs written before the improver wall was recorded resume with any.
    if (j.is_object() && !j.contains("improver_wall_seconds"))
      j["improver_wall_seconds"] = o.improver_wall_seconds;
    if (j != config)
      return InvalidArgument(o.run_dir.string() +
                             " holds a run with other options (see its config.json); resume with the same flags "
                             "or choose another --run-dir");
  } else {
    LMLAB_RETURN_IF_ERROR(WriteFileAtomic(cfg_path, config.dump(2) + "\n"));
  }
  LMLAB_ASSIGN_OR_RETURN(RunSummary summary, LoadRun(o.run_dir));
  SharedModel model{lm, {}};
  std::string meta_description = MetaUtilityDescription(tasks, o);
  uint64_t held_out = MixSeed(o.seed, kHeldOut);

  auto finish_round = [&](RoundRecord& r, Ledger& ledger, Clock::time_point start) -> Status {
    r.model_calls = ledger.model_calls;
    r.samples = ledger.samples;
    r.prompt_tokens = ledger.prompt_tokens;
    r.completion_tokens = ledger.completion_tokens;
    r.utility_calls = ledger.utility_calls;
    r.wall_seconds = std::chrono::duration<double>(Clock::now() - start).count();
    std::string dir = fmt::format("round-{}", r.round);
    LMLAB_RETURN_IF_ERROR(WriteFileAtomic(o.run_dir / dir / "timing.json",
                                          json{{"wall_seconds", r.wall_seconds}}.dump() + "\n"));
    // The round file last: its presence marks the round done (resume point).
    LMLAB_RETURN_IF_ERROR(
        WriteFileAtomic(o.run_dir / fmt::format("round-{}.json", r.round), RoundToJson(r).dump(2) + "\n"));
    summary.audit_total.Add(r.audit);
    summary.rounds.push_back(r);
    return {};
  };

  if (summary.rounds.empty()) {
    Report(o.progress, {"scoring the seed improver", 0, double(o.rounds + 1), "rounds", ""});
    auto start = Clock::now();
    Ledger ledger(o.run_dir, "round-0");
    std::string seed = SeedImprover();
    LMLAB_RETURN_IF_ERROR(WriteFileAtomic(o.run_dir / "improver-0.py", seed));
    LMLAB_ASSIGN_OR_RETURN(MetaUtility m, Meta(o, seed, tasks, held_out, model, box, ledger));
    RoundRecord r;
    r.round = 0;
    r.meta_utility = m.value;
    r.improver_file = "improver-0.py";
    r.audit = ledger.audit;
    r.note = "seed improver";
    LMLAB_RETURN_IF_ERROR(finish_round(r, ledger, start));
  }

  for (int t = int(summary.rounds.size()); t <= o.rounds; ++t) {
    const RoundRecord& prev = summary.rounds.back();
    Report(o.progress, {"self-improvement", double(t - 1), double(o.rounds), "rounds",
                        fmt::format("meta-utility {:.3f}", prev.meta_utility)});
    LMLAB_ASSIGN_OR_RETURN(std::string current, ReadFile(o.run_dir / prev.improver_file));
    auto start = Clock::now();
    Ledger ledger(o.run_dir, fmt::format("round-{}", t));
    RoundRecord r;
    r.round = t;

    // û on validation instances: a fresh instance stream per call.
    std::map<std::string, int> strategies;
    Audit static_audit;
    auto meta_calls = std::make_shared<uint64_t>(0);
    UtilityFn meta = [&](const std::string& candidate) -> double {
      uint64_t k = (*meta_calls)++;
      if (candidate != current && !candidate.empty()) {
        std::string rel = ledger.Save("candidates", candidate);
        Audit a = AuditImproverCode(candidate);
        std::vector<std::string> reasons;
        if (a.sandbox_flag_changed) reasons.push_back("use_sandbox changed");
        if (a.hidden_utility_probes) reasons.push_back("probes host internals");
        if (a.budget_tampering) reasons.push_back("rewrites budgets");
        if (!reasons.empty()) {
          std::string why;
          for (const auto& s : reasons) why += (why.empty() ? "" : ", ") + s;
          a.offending.push_back(rel + " (" + why + ")");
        }
        static_audit.Add(a);
        for (const auto& tag : TagStrategies(candidate)) ++strategies[tag];
      }
      Result<MetaUtility> m = Meta(o, candidate, tasks, MixSeed(o.seed, uint64_t(t), k), model, box, ledger);
      return m ? m->value : 0.0;
    };
    LMLAB_ASSIGN_OR_RETURN(ImproverRun run, RunImprover(o, current, current, meta_description, meta, model, box, ledger));
    std::string next = run.solution.value_or("");
    r.accepted = false;
    r.improver_file = prev.improver_file;
    r.meta_utility = prev.meta_utility;
    if (next.empty()) {
      r.note = run.verdict == sandbox::Verdict::kOk ? "the improver returned no code; kept the previous improver"
                                                    : "the improver failed (" + std::string(sandbox::VerdictName(run.verdict)) +
                                                          "); kept the previous improver";
    } else if (next == current) {
      r.note = "no candidate beat the current improver";
    } else {
      LMLAB_ASSIGN_OR_RETURN(MetaUtility m, Meta(o, next, tasks, held_out, model, box, ledger));
      if (m.value <= 0) {
        r.note = "the new improver scored 0 on held-out instances; kept the previous improver";
      } else {
        r.accepted = true;
        r.meta_utility = m.value;
        r.improver_file = fmt::format("improver-{}.py", t);
        LMLAB_RETURN_IF_ERROR(WriteFileAtomic(o.run_dir / r.improver_file, next));
      }
    }
    Audit audit = ledger.audit;
    audit.Add(static_audit);
    r.audit = audit;
    r.strategies = strategies;
    LMLAB_RETURN_IF_ERROR(finish_round(r, ledger, start));
  }
  Report(o.progress, {"self-improvement", double(o.rounds), double(o.rounds), "rounds",
                      fmt::format("meta-utility {:.3f}", summary.rounds.back().meta_utility)});
  return summary;
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
      LMLAB_ASSIGN_OR_RETURN(Evaluation e, EvaluateSolution(box, tasks[i], tasks[i].seed_solution,
                                                            {.seed = MixSeed(base, 2), .instances = o.test_instances,
                                                             .time_limit_scale = o.time_limit_scale}));
      seed_total += e.utility / o.repeats;
    }
    row.seed_solution = seed_total;
    LMLAB_ASSIGN_OR_RETURN(MetaUtility a, Meta(o, SeedImprover(), one, held_out, model, box, ledger));
    LMLAB_ASSIGN_OR_RETURN(MetaUtility b, Meta(o, improved, one, held_out, model, box, ledger));
    row.seed_improver = a.value;
    row.improved_improver = b.value;
    rows.push_back(row);
  }
  Report(o.progress, {"transfer", double(tasks.size()), double(tasks.size()), "tasks", ""});
  return rows;
}

nlohmann::json ToJson(const RunSummary& s) {
  json rounds = json::array();
  for (const auto& r : s.rounds) {
    json j = RoundToJson(r);
    j["wall_seconds"] = r.wall_seconds;
    rounds.push_back(j);
  }
  return {{"config", s.config}, {"rounds", rounds}, {"audit_total", AuditToJson(s.audit_total)}};
}

nlohmann::json ToJson(const std::vector<TransferRow>& rows) {
  json out = json::array();
  for (const auto& r : rows)
    out.push_back({{"task", r.task},
                   {"seed_solution", r.seed_solution},
                   {"seed_improver", r.seed_improver},
                   {"improved_improver", r.improved_improver}});
  return out;
}

std::string RenderPlotSvg(const RunSummary& s) {
  // The y axis zooms to the data in steps of 0.1, inside [0, 1].
  double lo = 1, hi = 0;
  for (const auto& r : s.rounds) lo = std::min(lo, r.meta_utility), hi = std::max(hi, r.meta_utility);
  if (s.rounds.empty()) lo = 0, hi = 1;
  lo = std::max(0.0, std::floor((lo - 0.05) * 10) / 10);
  hi = std::min(1.0, std::ceil((hi + 0.05) * 10) / 10);
  if (hi <= lo) hi = lo + 0.1;
  chart::ChartOptions options{.title = "STOP: held-out meta-utility per round",
                              .x_label = "round (orange: fell back to the previous improver)",
                              .y_label = "held-out meta-utility",
                              .y_min = lo,
                              .y_max = hi,
                              .legend = false};
  // The line through every round, then an orange marker over each round that fell
  // back (one series each, so no line joins them).
  chart::Series line{.name = "meta-utility", .marker_radius = 4};
  std::vector<chart::Series> fell_back;
  for (const auto& r : s.rounds) {
    std::string title = fmt::format("round {}: {:.3f}{}", r.round, r.meta_utility, r.accepted ? "" : " (fell back)");
    line.x.push_back(r.round);
    line.y.push_back(r.meta_utility);
    line.titles.push_back(title);
    options.x_ticks.push_back(r.round);
    if (!r.accepted)
      fell_back.push_back(
          {.x = {double(r.round)}, .y = {r.meta_utility}, .colour = "#D55E00", .titles = {title}, .marker_radius = 4});
  }
  std::vector<chart::Series> series = {line};
  series.insert(series.end(), fell_back.begin(), fell_back.end());
  return chart::LineChartSvg(options, series);
}

}  // namespace lmlab::improve
