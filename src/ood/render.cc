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
    case Loss::kReward: return "MSE (rewards)";
  }
  return "?";
}

// One small panel of a grid; the y range always reaches 0, marked dashed.
chart::Panel MakePanel(std::string title, std::string x_label) {
  return {.options = {.title = std::move(title),
                      .x_label = std::move(x_label),
                      .width = 300,
                      .height = 220,
                      .has_reference = true,
                      .reference_y = 0}};
}

}  // namespace

std::string RenderText(const ClassifierReport& r) {
  std::string out = fmt::format("In-distribution: {} ({} training images, {} evaluation images per severity); "
                                "model: {}; other dataset: {}\n\n",
                                r.dataset, FormatThousands(static_cast<double>(r.train_size)),
                                FormatThousands(static_cast<double>(r.eval_size)), r.arch, r.other_dataset);
  Table models({"loss", "clean accuracy", "train s", "final loss", "OCS"},
               {Align::kLeft, Align::kRight, Align::kRight, Align::kRight, Align::kLeft});
  for (const auto& m : r.models) {
    std::string ocs;
    if (m.loss == Loss::kGaussianNll) {
      ocs = fmt::format("N({}, {})", Num(m.ocs[0]), Num(m.ocs[1]));
    } else {
      double lo = *std::min_element(m.ocs.begin(), m.ocs.end()), hi = *std::max_element(m.ocs.begin(), m.ocs.end());
      ocs = m.loss == Loss::kReward ? fmt::format("mean rewards {}..{}", Num(lo), Num(hi))
                                    : fmt::format("label marginal {}..{}", Num(lo), Num(hi));
    }
    models.AddRow({LossLabel(m.loss), FormatPercent(m.test_accuracy, 1), FormatFixed(m.train_seconds, 1),
                   Num(m.final_train_loss), ocs});
  }
  out += models.Render() + "\n";

  Shift current = r.curves.empty() ? Shift::kRotation : r.curves[0].shift;
  bool first = true;
  for (size_t i = 0; i < r.curves.size();) {
    current = r.curves[i].shift;
    std::vector<const Curve*> group;
    for (; i < r.curves.size() && r.curves[i].shift == current; ++i) group.push_back(&r.curves[i]);
    std::vector<std::string> headers = {std::string(ShiftUnit(current))};
    std::vector<Align> align = {Align::kRight};
    for (const Curve* c : group) {
      headers.push_back(fmt::format("D {}", LossName(c->loss)));
      headers.push_back(fmt::format("acc {}", LossName(c->loss)));
      align.push_back(Align::kRight);
      align.push_back(Align::kRight);
    }
    headers.insert(headers.end(), {"msp ce", "entropy ce", "feature norms ce"});
    align.insert(align.end(), {Align::kRight, Align::kRight, Align::kLeft});
    Table t(headers, align);
    for (size_t k = 0; k < group[0]->points.size(); ++k) {
      std::vector<std::string> row = {Num(group[0]->points[k].severity)};
      const SeverityPoint* ce = nullptr;
      for (const Curve* c : group) {
        row.push_back(Num(c->points[k].ocs_distance));
        row.push_back(FormatPercent(c->points[k].accuracy, 0));
        if (c->loss == Loss::kCrossEntropy) ce = &c->points[k];
      }
      if (ce) {
        row.push_back(Num(ce->max_softmax.value_or(NAN)));
        row.push_back(Num(ce->entropy.value_or(NAN)));
        row.push_back(Join(ce->feature_norms, " / ", [](double v) { return Num(v); }));
      }
      t.AddRow(row);
    }
    std::string rho;
    for (const Curve* c : group) rho += fmt::format("{} {:+.2f}  ", LossName(c->loss), c->spearman);
    out += fmt::format("{}Shift: {}  (D = distance to the OCS; Spearman(severity, D): {})\n", first ? "" : "\n",
                       ShiftName(current), rho);
    out += t.Render();
    first = false;
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
    out += "\nOOD detection AUROC (clean vs shifted at the middle severity; ocs-X = closeness to the OCS of the X "
           "model, msp/entropy from the CE model)\n" + t.Render();
  }
  if (!r.rewards.empty()) {
    Table t({"shift", "severity", "reward model", "abstain", "CE+T", "abstain", "CE never abstains"},
            {Align::kLeft, Align::kRight, Align::kRight, Align::kRight, Align::kRight, Align::kRight, Align::kRight});
    for (const auto& w : r.rewards)
      t.AddRow({std::string(ShiftName(w.shift)), Num(w.severity), FormatFixed(w.reward_model, 3),
                FormatPercent(w.abstain_model, 0), FormatFixed(w.reward_ce, 3), FormatPercent(w.abstain_ce, 0),
                FormatFixed(w.reward_ce_never_abstain, 3)});
    out += fmt::format("\nRisk-sensitive decision: mean reward per image (+1 right, -4 wrong, 0 abstain); CE+T "
                       "abstains when max softmax at T = {} is below 0.8\n",
                       Num(r.temperature)) +
           t.Render();
  }
  return out;
}

nlohmann::json ToJson(const ClassifierReport& r) {
  nlohmann::json j = {{"dataset", r.dataset}, {"other_dataset", r.other_dataset}, {"arch", r.arch},
                      {"train_size", r.train_size}, {"eval_size", r.eval_size}, {"temperature", r.temperature}};
  for (const auto& m : r.models)
    j["models"].push_back({{"loss", LossName(m.loss)}, {"test_accuracy", m.test_accuracy},
                           {"train_seconds", m.train_seconds}, {"final_train_loss", Nullable(m.final_train_loss)},
                           {"ocs", m.ocs}});
  for (const auto& c : r.curves) {
    nlohmann::json pts = nlohmann::json::array();
    for (const auto& p : c.points)
      pts.push_back({{"severity", p.severity}, {"ocs_distance", p.ocs_distance},
                     {"mean_prediction_distance", p.mean_prediction_distance}, {"accuracy", p.accuracy},
                     {"max_softmax", p.max_softmax ? nlohmann::json(*p.max_softmax) : nlohmann::json(nullptr)},
                     {"entropy", p.entropy ? nlohmann::json(*p.entropy) : nlohmann::json(nullptr)},
                     {"feature_norms", p.feature_norms}});
    j["curves"].push_back({{"loss", LossName(c.loss)}, {"shift", ShiftName(c.shift)}, {"unit", ShiftUnit(c.shift)},
                           {"spearman", Nullable(c.spearman)}, {"points", pts}});
  }
  j["detection"] = nlohmann::json::array();
  for (const auto& d : r.detection) {
    nlohmann::json a;
    for (const auto& [name, v] : d.auroc) a[name] = v;
    j["detection"].push_back({{"shift", ShiftName(d.shift)}, {"severity", d.severity}, {"auroc", a}});
  }
  j["rewards"] = nlohmann::json::array();
  for (const auto& w : r.rewards)
    j["rewards"].push_back({{"shift", ShiftName(w.shift)}, {"severity", w.severity},
                            {"reward_model", w.reward_model}, {"abstain_model", w.abstain_model},
                            {"reward_ce_temperature", w.reward_ce}, {"abstain_ce_temperature", w.abstain_ce},
                            {"reward_ce_never_abstain", w.reward_ce_never_abstain}});
  return j;
}

std::string DistanceSvg(const ClassifierReport& r) {
  std::vector<chart::Panel> panels;
  for (const auto& c : r.curves) {
    if (panels.empty() || panels.back().options.title != ShiftName(c.shift))
      panels.push_back(MakePanel(std::string(ShiftName(c.shift)), std::string(ShiftUnit(c.shift))));
    chart::Series s{.name = LossLabel(c.loss)};
    double clean = c.points.empty() ? 1 : c.points.front().ocs_distance;
    for (const auto& p : c.points) s.x.push_back(p.severity), s.y.push_back(clean > 0 ? p.ocs_distance / clean : NAN);
    panels.back().series.push_back(std::move(s));
  }
  return chart::SmallMultiplesSvg(
      fmt::format("Distance to the optimal constant solution vs shift severity ({} {})", r.dataset, r.arch),
      "distance to OCS / distance on clean images (lower = closer to the OCS)", panels);
}

std::string RewardSvg(const ClassifierReport& r) {
  std::vector<chart::Panel> panels;
  for (const auto& w : r.rewards) {
    if (panels.empty() || panels.back().options.title != ShiftName(w.shift)) {
      panels.push_back(MakePanel(std::string(ShiftName(w.shift)), std::string(ShiftUnit(w.shift))));
      panels.back().series = {{.name = "MSE reward model (abstains near the OCS)"},
                              {.name = "CE + temperature threshold"},
                              {.name = "CE, never abstains"}};
    }
    auto& s = panels.back().series;
    for (auto& se : s) se.x.push_back(w.severity);
    s[0].y.push_back(w.reward_model);
    s[1].y.push_back(w.reward_ce);
    s[2].y.push_back(w.reward_ce_never_abstain);
  }
  return chart::SmallMultiplesSvg("Risk-sensitive decision: mean reward per image (+1 right, -4 wrong, 0 abstain)",
                                  "mean reward", panels);
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
      "Model: {}\nOCS: {} ({} tokens, entropy {} nats)\nCalibration: {} in-distribution positions; a token is "
      "flagged below distance {} nats; an answer is flagged above mean ignorance {}\n\n",
      r.model, r.ocs_source, FormatThousands(static_cast<double>(r.ocs_tokens)), Num(r.ocs_entropy),
      FormatThousands(static_cast<double>(r.calibration_positions)), Num(r.token_distance_threshold),
      Num(r.answer_threshold));
  for (const auto& c : r.curves) {
    Table t({"level", "mean D(OCS||p)", "ignorance", "tokens flagged", "texts flagged", "positions"},
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
  nlohmann::json j = {{"model", r.model}, {"ocs_source", r.ocs_source}, {"ocs_tokens", r.ocs_tokens},
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
      "D = KL(OCS || p); ignorance = share of in-distribution positions farther from the OCS", {dist, ign});
}

}  // namespace lmlab::ood
