// One improver run: the sandbox request, and the host's services behind the
// RPC handler (the shared model, the utility, the ledger).
#include <cmath>

#include <fmt/format.h>

#include "improve/internal.h"
#include "lmlab/core/embedded.h"
#include "lmlab/core/file.h"
#include "lmlab/core/hash.h"
#include "lmlab/core/json.h"
#include "lmlab/improve/host_rpc.h"

namespace lmlab::improve::internal {

namespace fs = std::filesystem;
using nlohmann::json;

std::string EmbeddedText(std::string_view path) {
  auto f = embedded::Find(path);
  return f ? std::string(*f) : std::string();
}

std::string Ledger::Save(const std::string& kind, const std::string& code, const std::string& ext) {
  std::string rel = round_dir + "/" + kind + "/" + Fnv1aHex(code) + ext;
  if (run_dir.empty()) return rel;  // nothing is kept without a run directory
  fs::path p = run_dir / rel;
  std::error_code ec;
  if (!fs::exists(p, ec)) (void)WriteFileAtomic(p, code);  // a copy for people: the run goes on without it
  return rel;
}

namespace {

// The improver's model calls: one chat per message, the model shared with
// parallel improvers, every reply kept under replies/.
std::vector<Result<runtime::Completion>> CallModel(const StopOptions& o, const ModelCall& call, SharedModel& model,
                                                   Ledger& ledger) {
  std::vector<Result<runtime::Completion>> out;
  for (size_t i = 0; i < call.messages.size(); ++i) {
    std::vector<runtime::ChatMessage> chat;
    if (!call.system.empty()) chat.push_back({"system", call.system});
    chat.push_back({"user", call.messages[i]});
    runtime::SamplingParams sp;
    sp.temperature = static_cast<float>(call.temperature);
    sp.max_tokens = o.max_tokens;
    sp.seed = MixSeed(o.seed, Fnv1a(call.system + call.messages[i]), i);
    Result<runtime::Completion> c;
    {
      std::lock_guard lock(model.mu);
      c = model.lm.Chat(chat, sp);
    }
    if (c) ledger.Save("replies", c->text, ".txt");
    out.push_back(std::move(c));
  }
  return out;
}

}  // namespace

Result<ImproverRun> RunImprover(const StopOptions& o, const std::string& improver, const std::string& initial,
                                const std::string& utility_description, const UtilityFn& utility,
                                SharedModel& model, sandbox::Sandbox& box, Ledger& ledger) {
  RpcSession session{.budgets = o.budgets};
  RpcServices services{
      .model = [&](const ModelCall& call) { return CallModel(o, call, model, ledger); },
      .utility = utility,
  };
  const ImproverBudgets& b = o.budgets;
  json config = {{"utility_description", utility_description},
                 {"utility_budget", b.utility_calls},
                 {"lm_budget", b.lm_calls},
                 {"samples_per_call", b.samples_per_call}};
  sandbox::Request req{.argv = {"/usr/bin/python3", "/box/run_improver.py"},
                       .files = {{"run_improver.py", EmbeddedText("data/improve/run_improver.py")},
                                 {"improver.py", improver},
                                 {"initial_solution.py", initial},
                                 {"config.json", DumpJson(config)}}};
  req.env = {{"OPENBLAS_NUM_THREADS", "1"}};
  req.limits.wall_seconds = o.improver_wall_seconds;
  req.limits.cpu_seconds = static_cast<int>(std::ceil(o.improver_wall_seconds));
  req.limits.memory_bytes = 2LL << 30;
  req.limits.max_processes = 32;
  req.rpc = [&](std::string_view line) -> Result<std::string> { return HandleRpcLine(line, session, services); };
  Result<sandbox::RunResult> run = box.Run(req);
  {
    // What the improver's requests used, whether or not the sandbox could finish.
    std::lock_guard lock(ledger.mu);
    if (session.returned && !session.solution && !session.result_type.empty() && session.result_type != "str")
      ++session.counts.audit.non_string_results;
    ledger.Add(session.counts);
  }
  if (!run) return std::unexpected(run.error());
  ImproverRun out;
  out.solution = std::move(session.solution);
  out.verdict = run->verdict;
  out.seconds = run->wall_seconds;
  if (run->verdict != sandbox::Verdict::kOk) {
    const std::string& err = run->stderr_data;
    out.reason = run->detail;
    out.detail = run->detail + " | " + err.substr(err.size() > 400 ? err.size() - 400 : 0);
  }
  return out;
}

}  // namespace lmlab::improve::internal
