// `lmlab demo`: every system of the toolkit, end to end, on embedded
// defaults, into one HTML report. See docs/demo.md.
#include <fmt/format.h>
#include <iostream>

#include "cli/commands.h"
#include "cli/common.h"
#include "lmlab/core/format.h"
#include "lmlab/core/table.h"
#include "lmlab/report/demo.h"

namespace lmlab::cli::demo_cmd {
namespace {

using namespace lmlab::report;

struct Options {
  bool quick = false;
  bool fresh = false;
  std::string out = "lmlab-report";
  std::string endpoint, api_model;
  std::string api_key_env = "OPENAI_API_KEY";
  std::vector<std::string> only;
  bool json = false;
};

int Run(const Options& o) {
  if (!o.api_model.empty() && o.endpoint.empty()) throw UsageError("--api-model needs --endpoint URL");
  if (o.out.empty()) throw UsageError("--out must name a directory");
  DemoOptions d;
  d.out_dir = o.out;
  d.mode = o.quick ? DemoMode::kQuick : DemoMode::kFull;
  d.redo = o.fresh ? Redo::kFresh : Redo::kResume;
  d.endpoint = o.endpoint;
  d.api_model = o.api_model;
  d.api_key_env = o.api_key_env;
  d.only = o.only;
  ProgressBar bar;
  d.progress = bar.Callback();
  d.on_step = [&bar](const StepEvent& e) {
    bar.Finish();
    switch (e.kind) {
      case StepEvent::Kind::kStart:
        std::cerr << fmt::format("[{}/{}] {}: {}\n", e.index, e.count, e.id, e.title);
        break;
      case StepEvent::Kind::kCached:
        std::cerr << fmt::format("[{}/{}] {}: done in an earlier run ({} s), skipped (--fresh redoes it)\n", e.index,
                                 e.count, e.id, FormatFixed(e.seconds, 1));
        break;
      case StepEvent::Kind::kDone:
        if (e.status == SectionStatus::kOk)
          std::cerr << fmt::format("[{}/{}] {}: done in {} s\n", e.index, e.count, e.id, FormatFixed(e.seconds, 1));
        else
          std::cerr << fmt::format("[{}/{}] {}: {} after {} s: {}\n", e.index, e.count, e.id,
                                   SectionStatusName(e.status), FormatFixed(e.seconds, 1), e.error);
        break;
    }
  };
  DemoResult r = OrExit(RunDemo(d));
  bar.Finish();
  if (o.json) {
    nlohmann::json j = ToJson(r.report);
    j["index_html"] = r.index_html.string();
    j["steps_run"] = r.ran;
    j["steps_cached"] = r.cached;
    j["steps_failed"] = r.failed;
    j["steps_warned"] = r.warned;
    PrintJson(j);
    return r.failed ? 1 : 0;
  }
  Table t({"step", "status", "seconds", "headline"}, {Align::kLeft, Align::kLeft, Align::kRight, Align::kLeft});
  for (const auto& s : r.report.sections) {
    std::string head = s.status == SectionStatus::kOk        ? (s.headline.empty() ? "" : s.headline.front())
                       : s.status == SectionStatus::kWarning ? "degenerate: " + s.warnings.front()
                                                             : s.error;
    if (head.size() > 90) head = head.substr(0, 87) + "...";
    t.AddRow({s.id, std::string(SectionStatusName(s.status)), FormatFixed(s.seconds, 1), head});
  }
  std::cout << t.Render() << "\nReport: " << r.index_html.string() << " (numbers in "
            << (r.index_html.parent_path() / "report.json").string() << ")\n";
  if (!r.checks.checks.empty() && !r.checks.ok())
    std::cout << "lmlab doctor found missing dependencies; the steps that need them were not run ('lmlab doctor' "
                 "shows each fix).\n";
  if (r.warned)
    std::cout << r.warned << " step(s) measured something degenerate (status 'warning'): the report says what and why.\n";
  if (r.failed) std::cout << r.failed << " step(s) did not finish; rerun 'lmlab demo' to retry them.\n";
  return r.failed ? 1 : 0;
}

}  // namespace

void Register(CLI::App& app) {
  auto o = std::make_shared<Options>();
  CLI::App* sub = AddCommand(
      app, "demo", "Run every system end to end on embedded defaults and write one HTML report",
      "  lmlab demo                                  # full run (<= 15 min on 2 cores after setup)\n"
      "  lmlab demo --quick --out /tmp/report        # every section with small settings (<= 3 min)\n"
      "  lmlab demo --endpoint http://127.0.0.1:8080 --api-model gpt-4   # STOP with a real model\n"
      "  lmlab demo --only probe --fresh             # redo one step, keep the others\n");
  sub->add_flag("--quick", o->quick, "Small settings for every step (CI)");
  sub->add_option("--out", o->out, "Output directory (index.html, report.json, steps/)")->capture_default_str();
  sub->add_flag("--fresh", o->fresh, "Redo finished steps instead of resuming");
  sub->add_option("--only", o->only, "Run only these steps (plan, train, fresh, improve, probe, ood-classifier, ood-lm)")
      ->delimiter(',');
  sub->add_option("--endpoint", o->endpoint, "OpenAI-compatible endpoint for the STOP step (else: replay run)");
  sub->add_option("--api-model", o->api_model, "Model name sent to --endpoint");
  sub->add_option("--api-key-env", o->api_key_env, "Environment variable holding the endpoint's API key")
      ->capture_default_str();
  sub->add_flag("--json", o->json, "Print the report's JSON instead of a table");
  SetRun(sub, [o] { return Run(*o); });
}

}  // namespace lmlab::cli::demo_cmd
