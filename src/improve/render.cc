// Tables, JSON and the plot of STOP results. See render.h.
#include "lmlab/improve/render.h"

#include <algorithm>
#include <cmath>
#include <map>

#include <fmt/format.h>

#include "lmlab/core/format.h"
#include "lmlab/core/svg_chart.h"
#include "lmlab/core/table.h"

namespace lmlab::improve {
namespace {

using nlohmann::json;

std::string Strategies(const std::map<std::string, int>& m) {
  std::string s;
  for (const auto& [k, v] : m) s += (s.empty() ? "" : ", ") + k + " " + std::to_string(v);
  return s.empty() ? "-" : s;
}

}  // namespace

json ToJson(const RunSummary& s) {
  json rounds = json::array();
  for (const auto& r : s.rounds) {
    json j = RoundToJson(r);
    j["wall_seconds"] = r.wall_seconds;
    rounds.push_back(j);
  }
  return {{"config", s.config}, {"rounds", rounds}, {"audit_total", AuditToJson(s.audit_total)}};
}

json ToJson(const std::vector<TransferRow>& rows) {
  json out = json::array();
  for (const auto& r : rows)
    out.push_back({{"task", r.task},
                   {"seed_solution", r.seed_solution},
                   {"seed_improver", r.seed_improver},
                   {"improved_improver", r.improved_improver}});
  return out;
}

std::string RenderRoundsText(const RunSummary& s) {
  Table t({"round", "meta-utility", "kept", "model calls", "model errors", "tokens", "utility calls",
           "utility errors", "wall s", "sandbox flag", "reward hacks", "strategies", "code extracted"},
          {Align::kRight, Align::kRight, Align::kLeft, Align::kRight, Align::kRight, Align::kRight, Align::kRight,
           Align::kRight, Align::kRight, Align::kRight, Align::kRight, Align::kLeft, Align::kLeft});
  int model_errors = 0, utility_errors = 0;
  for (const auto& r : s.rounds) {
    const Audit& a = r.audit;
    model_errors += r.model_errors;
    utility_errors += r.utility_errors;
    t.AddRow({std::to_string(r.round), FormatFixed(r.meta_utility, 3),
              r.round == 0 ? "seed" : (r.accepted ? "new" : "previous"), std::to_string(r.model_calls),
              std::to_string(r.model_errors), FormatThousands(double(r.prompt_tokens + r.completion_tokens)),
              std::to_string(r.utility_calls), std::to_string(r.utility_errors), FormatFixed(r.wall_seconds, 1),
              a.candidates ? fmt::format("{}/{}", a.sandbox_flag_changed, a.candidates) : "-",
              std::to_string(a.RewardHacks()), Strategies(r.strategies), ExtractionSummary(r.extraction)});
  }
  const Audit& a = s.audit_total;
  std::string out = t.Render();
  if (model_errors + utility_errors > 0)
    out += fmt::format(
        "\nWarning: {} model replies failed and {} utility calls could not be computed on the host; the improvers "
        "saw these calls fail, so the meta-utilities above measure a partly broken run.\n",
        model_errors, utility_errors);
  out += fmt::format(
      "\nAudit, all rounds: {} candidate improvers; sandbox turned off (AST analysis) in {} ({}); {} utility/run calls "
      "with use_sandbox=False (sandboxed anyway);\n{} wrong-shape outputs ({} would have scored > 1 under "
      "broadcasting); {} out-of-range utilities; {} probes of host internals; {} budget rewrites; {} over-budget "
      "requests refused; {} unknown requests; {} non-code results;\n{} solutions reading the utility's internals and {} "
      "tampering with the time measurement (scored 0).\n",
      a.candidates, a.sandbox_flag_changed, FormatPercent(a.SandboxFlagRate(), 1), a.sandbox_flag_off_calls,
      a.wrong_shape_outputs, a.inflated_scores, a.out_of_range_utilities, a.hidden_utility_probes, a.budget_tampering,
      a.over_budget_requests, a.unknown_requests, a.non_string_results, a.internals_reads, a.time_tampering);
  std::map<std::string, int> strategies, extraction;
  for (const auto& r : s.rounds) {
    for (const auto& [tag, n] : r.strategies) strategies[tag] += n;
    for (const auto& [outcome, n] : r.extraction) extraction[outcome] += n;
  }
  out += fmt::format("Strategy mix, all rounds (candidates per tag): {}; code extracted from replies: {}.\n",
                     Strategies(strategies), ExtractionSummary(extraction));
  if (!a.offending.empty()) {
    out += "Offending code kept in the run directory:\n";
    for (const auto& f : a.offending) out += "  " + f + "\n";
  }
  return out;
}

std::string RenderTransferText(const std::vector<TransferRow>& rows) {
  Table t({"task", "seed solution", "seed improver", "improved improver"},
          {Align::kLeft, Align::kRight, Align::kRight, Align::kRight});
  for (const auto& r : rows)
    t.AddRow({r.task, FormatFixed(r.seed_solution, 3), FormatFixed(r.seed_improver, 3),
              FormatFixed(r.improved_improver, 3)});
  return t.Render();
}

std::string RenderFindings(const Audit& a) {
  std::string s;
  json j = a;
  for (const auto& [key, value] : j.items())
    if (value.is_number() && value.get<double>() != 0)
      s += fmt::format("{}{} {}", s.empty() ? "" : ", ", key, value.dump());
  return s.empty() ? "none" : s;
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
