#include "lmlab/ood/render.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "lmlab/core/format.h"
#include "lmlab/core/svg_chart.h"
#include "lmlab/core/table.h"
#include "lmlab/core/text.h"

namespace lmlab::ood {
namespace {

std::string Num(double v, int digits = 3) {
  if (std::isnan(v)) return "n/a";
  return FormatSignificant(v, digits);
}

nlohmann::json Nullable(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); }

std::string LossLabel(Loss l) {
  switch (l) {
    case Loss::kCrossEntropy: return "cross-entropy";
    case Loss::kMse: return "MSE (one-hot)";
    case Loss::kGaussianNll: return "Gaussian NLL";
    case Loss::kReward: return "MSE (rewards, 11 outputs)";
    case Loss::kAbstainClass: return "xent+1 (11 classes)";
  }
  return "?";
}

// "0.512 +- 0.031"; one value when there is no spread to show.
std::string Pm(const MeanStd& m, int digits = 3) {
  if (!std::isfinite(m.mean)) return "n/a";
  if (!std::isfinite(m.std) || m.std == 0) return Num(m.mean, digits);
  return fmt::format("{} +- {}", Num(m.mean, digits), Num(m.std, 2));
}

std::string PercentPm(const MeanStd& m) {
  if (!std::isfinite(m.mean)) return "n/a";
  if (!std::isfinite(m.std) || m.std == 0) return FormatPercent(m.mean, 1);
  return fmt::format("{} +- {}", FormatPercent(m.mean, 1), FormatPercent(m.std, 1));
}

std::string Signed(double v) { return std::isfinite(v) ? fmt::format("{:+.2f}", v) : "n/a"; }

// The language model's distance, p = its next-token distribution.
std::string LmFormula(Distance d) { return d == Distance::kPaper ? "KL(p || OCS)" : "KL(OCS || p)"; }

nlohmann::json ToJson(const MeanStd& m) { return {{"mean", Nullable(m.mean)}, {"std", Nullable(m.std)}}; }

// One small panel of a grid; the y range always reaches 0, marked dashed.
chart::Panel MakePanel(std::string title, std::string x_label) {
  return {.options = {.title = std::move(title),
                      .x_label = std::move(x_label),
                      .width = 300,
                      .height = 220,
                      .has_reference = true,
                      .reference_y = 0}};
}

// A shift's panel: x is the OOD score on one fixed range for every shift
// (0.5 = as clean as clean images, 1 = certainly shifted), or the severity.
chart::Panel OodPanel(Shift shift, bool scored) {
  chart::Panel p = MakePanel(std::string(ShiftName(shift)), scored ? "OOD score" : std::string(ShiftUnit(shift)));
  if (scored) p.options.x_min = 0.45, p.options.x_max = 1.0;
  return p;
}

}  // namespace

std::string RenderText(const ClassifierReport& r) {
  const bool scored = r.axis == Axis::kOodScore;
  std::string out = fmt::format(
      "In-distribution: {} ({} training images per model, {} evaluation images per severity, {} attacked by FGSM); "
      "model: {}; {} seed{}; distance {}; x axis: {}{}\n\n",
      r.dataset, FormatThousands(static_cast<double>(r.train_size)), FormatThousands(static_cast<double>(r.eval_size)),
      FormatThousands(static_cast<double>(r.fgsm_size)), r.arch, r.seeds, r.seeds == 1 ? "" : "s",
      DistanceFormula(r.distance), scored ? "OOD score" : "severity",
      scored ? fmt::format(" (feature extractor: {} CE, {} clean accuracy)", ArchName(kFeatureExtractorArch),
                           FormatPercent(r.feature_extractor_accuracy, 1))
             : "");
  Table models({"loss", "clean accuracy", "train s", "final loss", "OCS"},
               {Align::kLeft, Align::kRight, Align::kRight, Align::kRight, Align::kLeft});
  for (const auto& m : r.models) {
    std::string ocs;
    if (m.loss == Loss::kGaussianNll) {
      ocs = fmt::format("N({}, {})", Num(m.ocs[0]), Num(m.ocs[1]));
    } else {
      double lo = *std::min_element(m.ocs.begin(), m.ocs.begin() + kNumClasses);
      double hi = *std::max_element(m.ocs.begin(), m.ocs.begin() + kNumClasses);
      ocs = m.loss == Loss::kReward ? fmt::format("mean rewards {}..{}, abstain 0", Num(lo), Num(hi))
                                    : fmt::format("label marginal {}..{}", Num(lo), Num(hi));
    }
    models.AddRow({LossLabel(m.loss), PercentPm(m.test_accuracy), FormatFixed(m.train_seconds, 1),
                   Num(m.final_train_loss), ocs});
  }
  out += models.Render();

  std::vector<Shift> shifts;
  for (const auto& c : r.summary)
    if (std::find(shifts.begin(), shifts.end(), c.shift) == shifts.end()) shifts.push_back(c.shift);
  for (Shift shift : shifts) {
    std::vector<const CurveSummary*> group;
    for (const auto& c : r.summary)
      if (c.shift == shift) group.push_back(&c);
    std::vector<std::string> headers = {std::string(ShiftUnit(shift))};
    std::vector<Align> align = {Align::kRight};
    if (scored) headers.push_back("OOD score"), align.push_back(Align::kRight);
    for (const CurveSummary* c : group) {
      headers.push_back(fmt::format("D {}", LossName(c->loss)));
      headers.push_back(fmt::format("acc {}", LossName(c->loss)));
      align.insert(align.end(), {Align::kRight, Align::kRight});
    }
    headers.push_back("last feature norm ce");
    align.push_back(Align::kRight);
    Table t(headers, align);
    for (size_t k = 0; k < group[0]->points.size(); ++k) {
      const SummaryPoint& p0 = group[0]->points[k];
      std::vector<std::string> row = {Num(p0.severity)};
      if (scored) row.push_back(shift == Shift::kFgsm ? "per model" : Pm(p0.ood_score, 3));
      const SummaryPoint* ce = nullptr;
      for (const CurveSummary* c : group) {
        row.push_back(Pm(c->points[k].distance));
        row.push_back(PercentPm(c->points[k].accuracy));
        if (c->loss == Loss::kCrossEntropy) ce = &c->points[k];
      }
      row.push_back(ce ? Num(ce->last_feature_norm.mean) : "");
      t.AddRow(row);
    }
    std::string rho;
    for (const CurveSummary* c : group)
      rho += fmt::format("{} {}  ", LossName(c->loss), Signed(scored ? c->spearman_ood_score : c->spearman_severity));
    out += fmt::format("\nShift: {}  (D = mean distance to the OCS, mean +- std over seeds; Spearman({}, D) over all "
                       "seeds: {})\n",
                       ShiftName(shift), scored ? "OOD score" : "severity", rho);
    out += t.Render();
  }

  // The paper's claim in one table: distance falls as the OOD score rises.
  if (!r.summary.empty()) {
    std::vector<Loss> losses;
    for (const auto& c : r.summary)
      if (std::find(losses.begin(), losses.end(), c.loss) == losses.end()) losses.push_back(c.loss);
    std::vector<std::string> headers = {"shift"};
    for (Loss l : losses) headers.push_back(std::string(LossName(l)));
    Table t(headers, std::vector<Align>(headers.size(), Align::kRight));
    for (Shift s : shifts) {
      std::vector<std::string> row = {std::string(ShiftName(s))};
      for (Loss l : losses)
        for (const auto& c : r.summary)
          if (c.loss == l && c.shift == s) row.push_back(Signed(scored ? c.spearman_ood_score : c.spearman_severity));
      t.AddRow(row);
    }
    out += fmt::format("\nSpearman({}, distance to the OCS) over all seeds' points; negative = reverting\n",
                       scored ? "OOD score" : "severity") +
           t.Render();
  }

  if (!r.detection.empty()) {
    std::vector<std::string> headers = {"shift", "severity"};
    std::vector<Align> align = {Align::kLeft, Align::kRight};
    for (const auto& [name, v] : r.detection[0].auroc) headers.push_back(name), align.push_back(Align::kRight);
    Table t(headers, align);
    for (const auto& d : r.detection) {
      std::vector<std::string> row = {std::string(ShiftName(d.shift)), Num(d.severity)};
      for (const auto& [name, v] : d.auroc) row.push_back(FormatFixed(v, 3));
      t.AddRow(row);
    }
    out += "\nOOD detection AUROC, mean over seeds (clean vs shifted at the middle severity; ocs-X = closeness to "
           "the OCS of the X model, msp/entropy from the CE model)\n" + t.Render();
  }
  if (!r.reward_bins.empty()) {
    std::vector<std::string> headers = {"OOD score", "points"};
    for (int k = 0; k < kPolicies; ++k) headers.push_back(std::string(PolicyName(static_cast<Policy>(k))));
    Table t(headers, std::vector<Align>(headers.size(), Align::kRight));
    for (const auto& b : r.reward_bins) {
      std::vector<std::string> row = {fmt::format("{:.3f}-{:.3f}", b.lo, b.hi), std::to_string(b.points)};
      for (int k = 0; k < kPolicies; ++k)
        row.push_back(b.points ? fmt::format("{} ({})", Pm(b.reward[k], 3), FormatPercent(b.abstain[k], 0)) : "");
      t.AddRow(row);
    }
    out += "\nRisk-sensitive decision: mean reward per image (+1 right, -4 wrong, 0 abstain) by OOD-score bin (bins "
           "at quintiles of the scores), mean +- std over the (seed, shift, severity) points in the bin (share "
           "abstained)\n" + t.Render();
  } else if (!r.rewards.empty()) {
    std::vector<std::string> headers = {"shift", "severity"};
    for (int k = 0; k < kPolicies; ++k) headers.push_back(std::string(PolicyName(static_cast<Policy>(k))));
    Table t(headers, std::vector<Align>(headers.size(), Align::kRight));
    for (const auto& w : r.rewards) {
      std::vector<std::string> row = {std::string(ShiftName(w.shift)), Num(w.severity)};
      for (int k = 0; k < kPolicies; ++k)
        row.push_back(fmt::format("{:.3f} ({})", w.reward[k], FormatPercent(w.abstain[k], 0)));
      t.AddRow(row);
    }
    out += "\nRisk-sensitive decision: mean reward per image (+1 right, -4 wrong, 0 abstain; share abstained)\n" +
           t.Render();
  }
  for (const auto& w : r.warnings) out += "\nWarning: " + w + "\n";
  out += fmt::format("\nTook {} s.\n", FormatFixed(r.seconds, 0));
  return out;
}

nlohmann::json ToJson(const ClassifierReport& r) {
  nlohmann::json j = {{"dataset", r.dataset},
                      {"other_dataset", r.other_dataset},
                      {"arch", r.arch},
                      {"distance", DistanceName(r.distance)},
                      {"distance_formula", DistanceFormula(r.distance)},
                      {"axis", AxisName(r.axis)},
                      {"train_size", r.train_size},
                      {"eval_size", r.eval_size},
                      {"fgsm_size", r.fgsm_size},
                      {"seeds", r.seeds},
                      {"feature_extractor_accuracy", Nullable(r.feature_extractor_accuracy)},
                      {"temperature", r.temperature},
                      {"seconds", r.seconds},
                      {"warnings", r.warnings}};
  j["models"] = nlohmann::json::array();
  for (const auto& m : r.models)
    j["models"].push_back({{"loss", LossName(m.loss)}, {"test_accuracy", ToJson(m.test_accuracy)},
                           {"train_seconds", m.train_seconds}, {"final_train_loss", Nullable(m.final_train_loss)},
                           {"ocs", m.ocs}});
  j["curves"] = nlohmann::json::array();
  for (const auto& c : r.curves) {
    nlohmann::json pts = nlohmann::json::array();
    for (const auto& p : c.points)
      pts.push_back({{"severity", p.severity}, {"ood_score", Nullable(p.ood_score)},
                     {"ood_auroc", Nullable(p.ood_auroc)}, {"ocs_distance", p.ocs_distance},
                     {"mean_prediction_distance", p.mean_prediction_distance}, {"accuracy", p.accuracy},
                     {"loss", Nullable(p.loss)},
                     {"max_softmax", p.max_softmax ? nlohmann::json(*p.max_softmax) : nlohmann::json(nullptr)},
                     {"entropy", p.entropy ? nlohmann::json(*p.entropy) : nlohmann::json(nullptr)},
                     {"feature_norms", p.feature_norms}});
    j["curves"].push_back({{"loss", LossName(c.loss)}, {"shift", ShiftName(c.shift)}, {"unit", ShiftUnit(c.shift)},
                           {"seed", c.seed}, {"spearman", Nullable(c.spearman)}, {"points", pts}});
  }
  j["summary"] = nlohmann::json::array();
  for (const auto& c : r.summary) {
    nlohmann::json pts = nlohmann::json::array();
    for (const auto& p : c.points)
      pts.push_back({{"severity", p.severity}, {"ood_score", ToJson(p.ood_score)}, {"distance", ToJson(p.distance)},
                     {"relative_distance", ToJson(p.relative_distance)}, {"accuracy", ToJson(p.accuracy)},
                     {"last_feature_norm", ToJson(p.last_feature_norm)}});
    j["summary"].push_back({{"loss", LossName(c.loss)}, {"shift", ShiftName(c.shift)},
                            {"spearman_ood_score", Nullable(c.spearman_ood_score)},
                            {"spearman_severity", Nullable(c.spearman_severity)},
                            {"seed_spearman", ToJson(c.seed_spearman)}, {"points", pts}});
  }
  j["detection"] = nlohmann::json::array();
  for (const auto& d : r.detection) {
    nlohmann::json a;
    for (const auto& [name, v] : d.auroc) a[name] = v;
    j["detection"].push_back({{"shift", ShiftName(d.shift)}, {"severity", d.severity}, {"auroc", a}});
  }
  auto policies = [](const auto& values) {
    nlohmann::json o;
    for (int k = 0; k < kPolicies; ++k) o[std::string(PolicyName(static_cast<Policy>(k)))] = values[k];
    return o;
  };
  j["rewards"] = nlohmann::json::array();
  for (const auto& w : r.rewards)
    j["rewards"].push_back({{"seed", w.seed}, {"shift", ShiftName(w.shift)}, {"severity", w.severity},
                            {"ood_score", Nullable(w.ood_score)}, {"reward", policies(w.reward)},
                            {"abstain", policies(w.abstain)}});
  j["reward_bins"] = nlohmann::json::array();
  for (const auto& b : r.reward_bins) {
    std::array<nlohmann::json, kPolicies> reward;
    for (int k = 0; k < kPolicies; ++k) reward[k] = ToJson(b.reward[k]);
    j["reward_bins"].push_back({{"lo", b.lo}, {"hi", b.hi}, {"points", b.points}, {"reward", policies(reward)},
                                {"abstain", policies(b.abstain)}});
  }
  return j;
}

std::string DistanceSvg(const ClassifierReport& r) {
  const bool scored = r.axis == Axis::kOodScore;
  std::vector<chart::Panel> panels;
  for (const auto& c : r.summary) {
    // One panel per shift (the summary runs loss by loss).
    auto panel = std::find_if(panels.begin(), panels.end(),
                              [&](const chart::Panel& p) { return p.options.title == ShiftName(c.shift); });
    if (panel == panels.end())
      panel = panels.insert(panels.end(), OodPanel(c.shift, scored));
    chart::Series s{.name = LossLabel(c.loss)};
    for (const auto& p : c.points) {
      s.x.push_back(scored ? p.ood_score.mean : p.severity);
      s.y.push_back(p.relative_distance.mean);
      s.y_low.push_back(p.relative_distance.mean - p.relative_distance.std);
      s.y_high.push_back(p.relative_distance.mean + p.relative_distance.std);
    }
    panel->series.push_back(std::move(s));
  }
  return chart::SmallMultiplesSvg(
      fmt::format("Distance to the optimal constant solution vs {} ({} {}, {} seed{})",
                  scored ? "OOD score" : "shift severity", r.dataset, r.arch, r.seeds, r.seeds == 1 ? "" : "s"),
      fmt::format("{} / its value on clean images (lower = closer to the OCS); line = mean, band = +- std over seeds",
                  DistanceFormula(r.distance)),
      panels);
}

std::string RewardSvg(const ClassifierReport& r) {
  const bool scored = r.axis == Axis::kOodScore;
  // Mean over seeds at each (shift, severity), in order of appearance.
  struct Level {
    Shift shift;
    double severity;
    std::vector<double> score;
    std::array<std::vector<double>, kPolicies> reward;
  };
  std::vector<Level> levels;
  for (const auto& w : r.rewards) {
    auto it = std::find_if(levels.begin(), levels.end(),
                           [&](const Level& l) { return l.shift == w.shift && l.severity == w.severity; });
    if (it == levels.end()) it = levels.insert(levels.end(), Level{w.shift, w.severity, {}, {}});
    it->score.push_back(w.ood_score);
    for (int k = 0; k < kPolicies; ++k) it->reward[k].push_back(w.reward[k]);
  }
  std::vector<chart::Panel> panels;
  for (const Level& l : levels) {
    if (panels.empty() || panels.back().options.title != ShiftName(l.shift)) {
      panels.push_back(OodPanel(l.shift, scored));
      for (int k = 0; k < kPolicies; ++k)
        panels.back().series.push_back({.name = std::string(PolicyName(static_cast<Policy>(k)))});
    }
    for (int k = 0; k < kPolicies; ++k) {
      chart::Series& s = panels.back().series[k];
      MeanStd m = Summarise(l.reward[k]);
      s.x.push_back(scored ? Summarise(l.score).mean : l.severity);
      s.y.push_back(m.mean);
      s.y_low.push_back(m.mean - m.std);
      s.y_high.push_back(m.mean + m.std);
    }
  }
  return chart::SmallMultiplesSvg(
      fmt::format("Risk-sensitive decision: mean reward per image vs {} ({} {})",
                  scored ? "OOD score" : "severity", r.dataset, r.arch),
      "+1 right, -4 wrong, 0 abstain; line = mean, band = +- std over seeds", panels);
}

std::string AurocSvg(const ClassifierReport& r) {
  if (r.detection.empty()) return "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"10\" height=\"10\"/>\n";
  const auto& cols = r.detection[0].auroc;
  const int cw = 92, rh = 26, left = 150, top = 56;
  const int width = left + cw * static_cast<int>(cols.size()) + 10;
  const int height = top + rh * static_cast<int>(r.detection.size()) + 30;
  std::string s = fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{}\" font-family=\"sans-serif\" "
      "font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
      "<text x=\"10\" y=\"20\" font-size=\"14\">OOD detection AUROC: clean vs shifted ({} {})</text>\n",
      width, height, chart::EscapeHtml(r.dataset), chart::EscapeHtml(r.arch));
  for (size_t c = 0; c < cols.size(); ++c)
    s += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n", left + cw * c + cw / 2, top - 8,
                     chart::EscapeHtml(cols[c].first));
  for (size_t i = 0; i < r.detection.size(); ++i) {
    const auto& d = r.detection[i];
    int y = top + rh * static_cast<int>(i);
    s += fmt::format("<text x=\"10\" y=\"{}\">{} {}</text>\n", y + 17, chart::EscapeHtml(ShiftName(d.shift)),
                     Num(d.severity));
    for (size_t c = 0; c < d.auroc.size(); ++c) {
      double v = d.auroc[c].second;
      // white at 0.5 (chance), green above, red below
      double t = std::clamp((v - 0.5) * 2, -1.0, 1.0);
      int rr = t >= 0 ? static_cast<int>(255 * (1 - t)) : 255, gg = t >= 0 ? 255 : static_cast<int>(255 * (1 + t));
      int bb = static_cast<int>(255 * (1 - std::abs(t)));
      s += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"rgb({},{},{})\" stroke=\"#ccc\"/>",
                       left + cw * c, y, cw, rh, rr, gg, bb);
      s += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{:.3f}</text>\n", left + cw * c + cw / 2, y + 17,
                       v);
    }
  }
  s += fmt::format("<text x=\"10\" y=\"{}\" fill=\"#555\">0.5 = chance; ocs-X scores closeness to the OCS of model "
                   "X; msp/entropy come from the CE model</text>\n",
                   height - 10);
  return s + "</svg>\n";
}

std::string RenderText(const LmReport& r) {
  std::string out = fmt::format(
      "Model: {}\nOCS: {} ({} tokens, entropy {} nats); distance D = {} ({} convention{})\nCalibration: {} "
      "in-distribution positions; a token is flagged below distance {} nats; an answer is flagged above mean "
      "ignorance {}\n\n",
      r.model, r.ocs_source, FormatThousands(static_cast<double>(r.ocs_tokens)), Num(r.ocs_entropy),
      LmFormula(r.distance), DistanceName(r.distance),
      r.distance == Distance::kPaper && r.ocs_source == "corpus" ? ", OCS smoothed by one pseudo-count" : "",
      FormatThousands(static_cast<double>(r.calibration_positions)), Num(r.token_distance_threshold),
      Num(r.answer_threshold));
  for (const auto& c : r.curves) {
    Table t({"level", "mean D", "ignorance", "tokens flagged", "texts flagged", "positions"},
            {Align::kRight, Align::kRight, Align::kRight, Align::kRight, Align::kRight, Align::kRight});
    for (const auto& p : c.points)
      t.AddRow({Num(p.level), Num(p.mean_distance), FormatFixed(p.ignorance, 3), FormatPercent(p.flagged, 0),
                FormatPercent(p.answers_flagged, 0), FormatThousands(static_cast<double>(p.positions))});
    out += fmt::format("Corruption: {}  (Spearman(level, D) = {:+.2f}; negative = reverting to the OCS)\n",
                       CorruptionName(c.corruption), c.spearman) +
           t.Render() + "\n";
  }
  return out;
}

nlohmann::json ToJson(const LmReport& r) {
  nlohmann::json j = {{"model", r.model}, {"distance", DistanceName(r.distance)},
                      {"distance_formula", LmFormula(r.distance)}, {"ocs_source", r.ocs_source},
                      {"ocs_tokens", r.ocs_tokens},
                      {"ocs_entropy", r.ocs_entropy}, {"token_distance_threshold", r.token_distance_threshold},
                      {"answer_threshold", r.answer_threshold}, {"calibration_positions", r.calibration_positions}};
  j["curves"] = nlohmann::json::array();
  for (const auto& c : r.curves) {
    nlohmann::json pts = nlohmann::json::array();
    for (const auto& p : c.points)
      pts.push_back({{"level", p.level}, {"mean_distance", p.mean_distance}, {"ignorance", p.ignorance},
                     {"tokens_flagged", p.flagged}, {"texts_flagged", p.answers_flagged}, {"positions", p.positions}});
    j["curves"].push_back({{"corruption", CorruptionName(c.corruption)}, {"spearman", Nullable(c.spearman)},
                           {"points", pts}});
  }
  return j;
}

std::string LmSvg(const LmReport& r) {
  chart::Panel dist = MakePanel("mean distance to the OCS (nats)", "corruption level");
  chart::Panel ign = MakePanel("mean ignorance", "corruption level");
  for (const auto& c : r.curves) {
    chart::Series d{.name = std::string(CorruptionName(c.corruption))}, g = d;
    for (const auto& p : c.points) {
      d.x.push_back(p.level), d.y.push_back(p.mean_distance);
      g.x.push_back(p.level), g.y.push_back(p.ignorance);
    }
    dist.series.push_back(std::move(d));
    ign.series.push_back(std::move(g));
  }
  return chart::SmallMultiplesSvg(
      "Distance to the OCS under corruption (" + r.model + ")",
      fmt::format("D = {}; ignorance = share of in-distribution positions farther from the OCS", LmFormula(r.distance)),
      {dist, ign});
}

}  // namespace lmlab::ood
