// Step 1: the compute plan for the reference scenario (GPT-4-scale training,
// ~1e24 FLOP, on H100s counted at a round 1e14 FLOP/s), beside the quoted
// back-of-envelope figures, and the same run on the H100 datasheet peak at
// the planner's default MFU.
#include <fmt/format.h>

#include "lmlab/core/format.h"
#include "lmlab/plan/planner.h"
#include "lmlab/plan/render.h"
#include "lmlab/plan/tokens.h"
#include "lmlab/report/html.h"
#include "lmlab/report/internal/steps.h"

namespace lmlab::report::internal {

namespace {
constexpr double kReferenceFlops = 1e24;
constexpr double kReferenceDeviceFlops = 1e14;
// The widely quoted figures: 1e24 / (1e14 * n) seconds, in days.
constexpr double kQuotedDays1000 = 115.7;
constexpr double kQuotedDays22000 = 5.26;
// The seed's token side: $1B at GPT-3.5's $2 per million tokens for 5e9 people.
constexpr double kSeedBudget = 1e9;
constexpr double kSeedPricePerMillion = 2.0;
constexpr double kSeedPopulation = 5e9;
constexpr double kQuotedTokens = 5e14;
constexpr double kQuotedTokensPerPerson = 1e5;
}  // namespace

Result<Section> PlanStep(StepContext& ctx) {
  using namespace lmlab::plan;
  lmlab::Report(ctx.progress, {.stage = "compute plan", .done = 0, .total = 1, .unit = "plans"});
  LMLAB_ASSIGN_OR_RETURN(DeviceCatalog catalog, DeviceCatalog::LoadDefault());
  PlanRequest r;
  r.compute.flops = kReferenceFlops;
  r.hardware.device = "h100-sxm";  // memory, power and price
  r.hardware.device_flops = kReferenceDeviceFlops;
  r.devices = {1000, 22000};
  LMLAB_ASSIGN_OR_RETURN(Plan reference, MakePlan(r, catalog));

  PlanRequest d = r;
  d.hardware.device_flops.reset();  // datasheet bf16 dense peak x default MFU
  LMLAB_ASSIGN_OR_RETURN(Plan datasheet, MakePlan(d, catalog));

  if (reference.scenarios.size() != 2 || datasheet.scenarios.size() != 2)
    return Internal("the planner returned an unexpected number of scenarios");

  Section s;
  s.title = "Compute plan: GPT-4-scale training on H100s";
  s.citation = "Reference back-of-envelope: ~1e24 FLOP at a sustained 1e14 FLOP/s per H100 (docs/plan.md); "
               "C = 6ND (Kaplan et al. 2020), compute-optimal D = 20N (Hoffmann et al. 2022).";
  s.measured = fmt::format(
      "lmlab plan solved the reference scenario ({} FLOP; each device counted at {} FLOP/s sustained) for 1,000 "
      "and 22,000 devices, and the same compute on the catalog's H100 SXM bf16 dense peak ({}) at {} MFU. Memory, "
      "cost and energy use the catalog's H100 entry.",
      FormatScientific(kReferenceFlops, 0), FormatScientific(kReferenceDeviceFlops, 0),
      FormatSi(datasheet.rate.peak_flops, "FLOP/s"), FormatPercent(datasheet.rate.mfu));
  const Scenario& a = reference.scenarios[0];
  const Scenario& b = reference.scenarios[1];
  s.comparisons.push_back({"days on 1,000 devices", FormatFixed(kQuotedDays1000, 1), FormatDays(a.days),
                           "same arithmetic: 1e24 / (1e14 x 1,000) s"});
  s.comparisons.push_back({"days on 22,000 devices", FormatFixed(kQuotedDays22000, 2), FormatDays(b.days), ""});
  LMLAB_ASSIGN_OR_RETURN(TokenEconomics tokens,
                         MakeTokenEconomics({.budget_usd = kSeedBudget,
                                             .prices = {{"GPT-3.5-turbo", kSeedPricePerMillion, ""}},
                                             .population = kSeedPopulation},
                                            catalog));
  const TokenRow& row = tokens.rows.front();
  s.comparisons.push_back({"tokens $1B buys at $2/M", FormatScientific(kQuotedTokens), FormatScientific(row.tokens),
                           "lmlab plan tokens"});
  s.comparisons.push_back({"tokens per person per year (5e9 people)", FormatScientific(kQuotedTokensPerPerson),
                           FormatScientific(*row.tokens_per_person_per_year), ""});
  s.headline.push_back(fmt::format("device-seconds: {}", FormatScientific(reference.device_seconds, 2)));
  s.headline.push_back(fmt::format("on the H100 datasheet at {} MFU: {} days on 1,000 devices, {} on 22,000",
                                   FormatPercent(datasheet.rate.mfu), FormatDays(datasheet.scenarios[0].days),
                                   FormatDays(datasheet.scenarios[1].days)));

  std::vector<std::vector<std::string>> rows;
  for (const Plan* p : {&reference, &datasheet})
    for (const Scenario& sc : p->scenarios)
      rows.push_back({p == &reference ? "1e14 FLOP/s (reference)" : "H100 bf16 peak x " + FormatPercent(p->rate.mfu),
                      FormatThousands(static_cast<double>(sc.devices)), FormatDays(sc.days),
                      FormatSignificant(sc.device_hours), sc.cost_usd ? "$" + FormatSignificant(*sc.cost_usd) : "-",
                      sc.energy_kwh ? FormatSignificant(*sc.energy_kwh / 1e6) + " GWh" : "-"});
  s.table_html = HtmlTable({"rate", "devices", "days", "device-hours", "cost (illustrative)", "facility energy"}, rows);

  BarGroup quoted{"quoted figure", {kQuotedDays1000, kQuotedDays22000}};
  BarGroup ours{"this run (1e14 FLOP/s)", {a.days, b.days}};
  BarGroup sheet{"H100 datasheet x " + FormatPercent(datasheet.rate.mfu) + " MFU",
                 {datasheet.scenarios[0].days, datasheet.scenarios[1].days}};
  s.figures.push_back({"Days to train ~1e24 FLOP: the quoted figures beside this run's plan.",
                       BarChartSvg({.title = "Training days, ~1e24 FLOP", .x_label = "devices", .y_label = "days"},
                                   {"1,000 H100s", "22,000 H100s"}, {quoted, ours, sheet})});

  std::vector<int64_t> counts = {1000, 2000, 4000, 8000, 16000, 22000, 32000, 64000};
  SweepTable sweep = MakeSweep(kReferenceFlops, datasheet.rate.peak_flops, counts, {0.2, 0.3, 0.4, 0.5});
  std::vector<ChartSeries> series;
  for (size_t m = 0; m < sweep.mfus.size(); ++m) {
    ChartSeries cs{"MFU " + FormatPercent(sweep.mfus[m]), {}, {}};
    for (size_t i = 0; i < sweep.devices.size(); ++i) {
      cs.x.push_back(static_cast<double>(sweep.devices[i]));
      cs.y.push_back(sweep.days[i][m]);
    }
    series.push_back(cs);
  }
  s.figures.push_back({"Days against device count on the H100 bf16 datasheet peak, at four model FLOP utilisations.",
                       LineChartSvg({.title = "Days vs devices (H100 datasheet)", .x_label = "devices (log scale)",
                                     .y_label = "days", .x_scale = AxisScale::kLog10},
                                    series)});
  s.rerun = {"lmlab plan",
             "lmlab plan --flops 1e24 --device h100 --mfu 0.4 --sweep",
             "lmlab plan --params 70B --tokens 15T --device h100 --devices 16384",
             "lmlab plan --measure --params 125M --tokens 2.5B --devices 1   # this machine's measured GEMM rate",
             "lmlab plan tokens                                              # the seed's token figures",
             "lmlab plan infer --measure                                     # llama.cpp here vs the roofline bound"};
  s.data = {{"reference", ToJson(reference)}, {"datasheet", ToJson(datasheet)}, {"sweep", ToJson(sweep)},
            {"quoted_days", {kQuotedDays1000, kQuotedDays22000}}, {"tokens", ToJson(tokens)}};
  lmlab::Report(ctx.progress, {.stage = "compute plan", .done = 1, .total = 1, .unit = "plans"});
  return s;
}

}  // namespace lmlab::report::internal
