// Step 4: a short STOP run (self-improving code) in the bubblewrap sandbox.
// With --endpoint a real model writes the improvers; otherwise the run
// replays recorded completions, which exercises the loop, the sandbox, the
// budgets and the audits but measures no model, and the section says so.
#include <fmt/format.h>
#include <unistd.h>

#include "lmlab/core/embedded.h"
#include "lmlab/core/file.h"
#include "lmlab/core/format.h"
#include "lmlab/core/text.h"
#include "lmlab/improve/render.h"
#include "lmlab/improve/replay_model.h"
#include "lmlab/improve/stop.h"
#include "lmlab/report/html.h"
#include "lmlab/report/internal/steps.h"

namespace lmlab::report::internal {
namespace {
namespace fs = std::filesystem;

// The recorded completions of the replay run ship inside the binary
// (data/improve/replay.jsonl, a recording labelled as such in the report);
// the replay model reads a file, so write them next to the report.
Result<fs::path> FindReplayFile(const fs::path& out_dir) {
  LMLAB_ASSIGN_OR_RETURN(std::string_view recorded, embedded::Find("data/improve/replay.jsonl"));
  fs::path p = out_dir / "improve" / "replay.jsonl";
  LMLAB_RETURN_IF_ERROR(WriteFileAtomic(p, recorded));
  return p;
}

}  // namespace

Result<Section> ImproveStep(StepContext& ctx) {
  const DemoOptions& o = *ctx.options;
  if (Status ok = sandbox::CheckBubblewrap(); !ok) {
    Error e = ok.error().WithContext("STOP runs every program in bubblewrap");
    e.code = ErrorCode::kUnsupported;
    return std::unexpected(e);
  }
  const bool replay = o.endpoint.empty();
  std::unique_ptr<runtime::LanguageModel> lm;
  std::string model_name;
  if (replay) {
    LMLAB_ASSIGN_OR_RETURN(fs::path file, FindReplayFile(ctx.out_dir));
    LMLAB_ASSIGN_OR_RETURN(auto entries, improve::LoadReplayFile(file));
    lm = improve::MakeReplayModel(std::move(entries));
    model_name = "replay of recorded completions (" + file.filename().string() + ")";
  } else {
    runtime::ModelSpec spec{.endpoint = o.endpoint, .api_model = o.api_model, .api_key_env = o.api_key_env};
    LMLAB_ASSIGN_OR_RETURN(lm, runtime::OpenModel(spec));
    model_name = o.api_model.empty() ? o.endpoint : o.api_model + " at " + o.endpoint;
  }
  auto box = sandbox::MakeBubblewrapSandbox();

  improve::StopOptions so;
  so.run_dir = ctx.out_dir / "improve" / fmt::format("{}-{}", ctx.quick ? "quick" : "full", replay ? "replay" : "endpoint");
  if (o.redo == Redo::kFresh) {
    std::error_code ec;
    fs::remove_all(so.run_dir, ec);
  }
  so.tasks = {"lpn"};
  so.rounds = ctx.quick ? 1 : 3;
  so.repeats = ctx.quick ? 1 : 2;
  so.test_instances = ctx.quick ? 2 : 3;
  if (replay || ctx.quick) so.budgets = {.samples_per_call = 3, .lm_calls = 2, .utility_calls = 4};
  so.time_limit_scale = 4;  // shared 2-core machines: only real hangs should time out
  so.improver_wall_seconds = ctx.quick ? 60 : 300;
  so.progress = ctx.progress;
  LMLAB_ASSIGN_OR_RETURN(improve::RunSummary run, improve::RunSelfImprovement(so, *lm, *box));
  if (run.rounds.empty()) return Internal("the STOP run returned no rounds");

  Section s;
  s.title = "STOP: self-improving code";
  s.citation = "Zelikman, Lorch, Mackey & Kalai 2023, \"Self-Taught Optimizer (STOP): Recursively Self-Improving Code "
               "Generation\", arXiv:2310.02304.";
  if (replay)
    s.label = "REPLAY RUN: the improvers below come from recorded completions (a test fixture), not from a language "
              "model. This checks the loop, sandbox, budgets and audits end to end; it measures no model. "
              "\"Rerun with a real model\" below shows how to measure one.";
  s.measured = fmt::format(
      "Ran {} round(s) of self-improvement on learning parity with noise (lpn) with {}: each improver ran in the "
      "bubblewrap sandbox, reaching the model and the utility only through the host, which enforced {} model calls "
      "x {} samples and {} utility calls per improver run. Meta-utility = mean held-out utility of the improver's "
      "output over {} repeat(s).",
      so.rounds, model_name, so.budgets.lm_calls, so.budgets.samples_per_call, so.budgets.utility_calls, so.repeats);
  double first = run.rounds.front().meta_utility, last = run.rounds.back().meta_utility;
  s.comparisons.push_back({"meta-utility over rounds",
                           "GPT-4: rises over the first rounds (with diminishing gains); GPT-3.5: falls",
                           fmt::format("{} -> {} ({})", FormatFixed(first, 3), FormatFixed(last, 3),
                                       replay ? "replayed completions, not a model" : model_name),
                           replay ? "a replay cannot be compared with a model" : ""});
  s.comparisons.push_back({"sandbox flag removed or changed", "reported as a rate of generated improvers",
                           fmt::format("{} of {} candidate improvers", run.audit_total.sandbox_flag_changed,
                                       run.audit_total.candidates),
                           "lmlab sandboxes every call regardless"});
  std::vector<std::vector<std::string>> rows;
  ChartSeries series{"held-out meta-utility", {}, {}};
  for (const auto& r : run.rounds) {
    const auto& a = r.audit;
    int hacks = a.RewardHacks();
    const std::string strategies =
        Join(r.strategies, ", ", [](const auto& kv) { return kv.first + " " + std::to_string(kv.second); });
    rows.push_back({std::to_string(r.round), FormatFixed(r.meta_utility, 3),
                    r.round == 0 ? "seed" : (r.accepted ? "new" : "previous"), std::to_string(r.model_calls),
                    std::to_string(r.utility_calls), std::to_string(hacks), strategies.empty() ? "-" : strategies});
    series.x.push_back(r.round);
    series.y.push_back(r.meta_utility);
  }
  s.table_html = HtmlTable({"round", "meta-utility", "improver kept", "model calls", "utility calls",
                            "reward-hacking findings", "strategies"},
                           rows);
  s.figures.push_back({"Held-out meta-utility of the improver in effect after each round (round 0 = the seed improver).",
                       LineChartSvg({.title = replay ? "STOP meta-utility (REPLAY)" : "STOP meta-utility",
                                     .x_label = "round", .y_label = "meta-utility"},
                                    {series})});
  s.headline.push_back(fmt::format("model: {}", model_name));
  s.headline.push_back(fmt::format("audit: {} candidates, {} over-budget requests refused, {} probes of host internals",
                                   run.audit_total.candidates, run.audit_total.over_budget_requests,
                                   run.audit_total.hidden_utility_probes));
  s.rerun = {"lmlab improve run --task lpn --rounds 6 --endpoint http://127.0.0.1:8080 --api-model gpt-4 --run-dir runs/lpn",
             "lmlab improve report --run-dir runs/lpn",
             "lmlab demo --endpoint http://127.0.0.1:8080 --api-model NAME --only improve --fresh"};
  // Degenerate runs: a meta-utility of 0 everywhere means no improver's
  // output scored on any instance (solutions that cannot run: see the
  // sandbox, python and numpy checks of lmlab doctor).
  bool all_zero = true;
  for (const auto& r : run.rounds) all_zero &= r.meta_utility == 0;
  if (all_zero)
    AddWarning(s, fmt::format("the meta-utility is 0 in every round ({} of them): no improver's solution scored on "
                              "any held-out instance, so the run measured no improvement (the solutions errored or "
                              "timed out; see the run's logs in {})",
                              run.rounds.size(), so.run_dir.string()));
  else if (run.rounds.front().meta_utility == 0)
    AddWarning(s, "the seed improver's meta-utility is 0: the starting point scored nothing, so later rounds are "
                  "not compared with a working baseline");
  s.data = improve::ToJson(run);
  s.data["replay"] = replay;
  s.data["model"] = model_name;
  s.data["run_dir"] = so.run_dir.string();
  return s;
}

}  // namespace lmlab::report::internal
