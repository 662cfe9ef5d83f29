// Steps 6 and 7: out-of-distribution behaviour (Kang et al. 2023). The
// classifier experiment trains small Fashion-MNIST models with three losses
// and shifts the test images step by step; the language-model experiment
// corrupts held-out text for the demo's model. Both measure the distance of
// predictions from the optimal constant solution (OCS).
#include <fmt/format.h>

#include <cmath>

#include "lmlab/core/format.h"
#include "lmlab/ood/experiment.h"
#include "lmlab/ood/ignorance.h"
#include "lmlab/ood/lm_experiment.h"
#include "lmlab/ood/render.h"
#include "lmlab/report/html.h"
#include "lmlab/train/default_model.h"
#include "report/steps.h"

namespace lmlab::report::internal {
namespace {
constexpr const char* kCitation =
    "Kang, Setlur, Tomlin & Levine 2023, \"Deep Neural Networks Tend to Extrapolate Predictably\", arXiv:2310.00873.";
}

Result<Section> OodClassifierStep(StepContext& ctx) {
  using namespace lmlab::ood;
  ClassifierExperimentOptions o;
  o.train.epochs = ctx.quick ? 1 : 2;
  o.train_size = ctx.quick ? 3000 : 20000;
  o.eval_size = ctx.quick ? 300 : 1000;
  if (ctx.quick) {
    o.shifts = {Shift::kRotation, Shift::kNoise, Shift::kDataset};
    for (Shift s : o.shifts) {
      std::vector<double> all = DefaultSeverities(s), few;
      for (size_t i = 0; i < all.size(); i += 2) few.push_back(all[i]);
      if (few.back() != all.back()) few.push_back(all.back());
      o.severities.push_back(few);
    }
  }
  LMLAB_ASSIGN_OR_RETURN(ClassifierReport r, RunClassifierExperiment(o, ctx.progress));

  Section s;
  s.title = "OOD: classifiers revert to the optimal constant solution";
  s.citation = kCitation;
  int negative = 0;
  for (const auto& c : r.curves) negative += c.spearman < 0;
  std::string models;
  for (const auto& m : r.models)
    models += fmt::format("{}{} {}", models.empty() ? "" : ", ", LossName(m.loss), FormatPercent(m.test_accuracy, 1));
  s.measured = fmt::format(
      "Trained {} {} models on {} {} images (one per loss; the reward model serves the risk-sensitive decision), then shifted {} test images per severity along {} "
      "shifts and measured the mean distance of each model's predictions from its OCS (the label marginal for "
      "cross-entropy and MSE, the target mean and variance for Gaussian NLL). Clean test accuracy: {}.",
      r.models.size(), r.arch, FormatThousands(double(r.train_size)), r.dataset, FormatThousands(double(r.eval_size)),
      o.shifts.size(), models);
  s.comparisons.push_back({"predictions as inputs grow more OOD",
                           "revert towards the OCS across datasets, architectures and losses",
                           fmt::format("distance to the OCS falls with severity (Spearman < 0) in {} of {} loss x "
                                       "shift curves",
                                       negative, r.curves.size()),
                           ""});
  std::vector<std::vector<std::string>> rows;
  for (const auto& c : r.curves) {
    const auto& p0 = c.points.front();
    const auto& p1 = c.points.back();
    rows.push_back({std::string(LossName(c.loss)), std::string(ShiftName(c.shift)), FormatFixed(c.spearman, 2),
                    FormatSignificant(p0.ocs_distance), FormatSignificant(p1.ocs_distance),
                    FormatPercent(p0.accuracy, 1), FormatPercent(p1.accuracy, 1)});
  }
  s.table_html = HtmlTable({"loss", "shift", "Spearman(severity, distance)", "distance, clean", "distance, most shifted",
                            "accuracy, clean", "accuracy, most shifted"},
                           rows);
  if (!r.rewards.empty()) {
    double best_gap = -1e9;
    for (const auto& p : r.rewards) best_gap = std::max(best_gap, p.reward_model - p.reward_ce_never_abstain);
    s.headline.push_back(fmt::format(
        "risk-sensitive decision: the MSE reward model's abstention beats never abstaining by up to {} reward/image",
        FormatFixed(best_gap, 3)));
  }
  s.headline.push_back(fmt::format("temperature fitted for the CE baseline: {}", FormatFixed(r.temperature, 2)));
  s.figures.push_back({"Distance of predictions from the OCS vs shift severity, relative to the clean value (1 = "
                       "unshifted); falling lines are reversion to the OCS.",
                       DistanceSvg(r)});
  s.figures.push_back({"OOD detection AUROC of each score.", AurocSvg(r)});
  if (!r.rewards.empty()) s.figures.push_back({"Mean reward under the +1 / -4 / abstain-0 decision.", RewardSvg(r)});
  s.rerun = {"lmlab ood classifier                          # full Fashion-MNIST sizes",
             "lmlab ood classifier --arch cnn --epochs 5 --train-size 60000"};
  // Degenerate measurements: a model that learned nothing has no OCS to revert to.
  for (const auto& m : r.models)
    if (!(m.test_accuracy > 0.1))  // 10 classes: chance
      AddWarning(s, fmt::format("the {} model did not learn: clean accuracy {} (chance is 10%)", LossName(m.loss),
                                FormatPercent(m.test_accuracy, 1)));
  for (const auto& c : r.curves)
    for (const auto& p : c.points)
      if (!std::isfinite(p.ocs_distance)) {
        AddWarning(s, fmt::format("{} x {}: a distance to the OCS is not a number (training diverged?)",
                                  LossName(c.loss), ShiftName(c.shift)));
        break;
      }
  s.data = ToJson(r);
  return s;
}

Result<Section> OodLmStep(StepContext& ctx) {
  using namespace lmlab::ood;
  LMLAB_ASSIGN_OR_RETURN(std::filesystem::path model_path, RequireModel(ctx));
  // The exact OCS of a model is the target-token frequency of its training
  // corpus: the demo's model was trained on this corpus.
  train::DefaultRecipe recipe = ctx.quick ? QuickRecipe() : train::DefaultModelRecipe();
  LMLAB_ASSIGN_OR_RETURN(std::vector<std::string> docs, train::BuildDefaultCorpus(recipe));
  runtime::ModelSpec spec{.gguf_path = model_path.string()};
  spec.threads = ModelThreads(ctx);
  LMLAB_ASSIGN_OR_RETURN(auto lm, runtime::OpenModel(spec));

  LmStudyOptions so;  // exact OCS: the demo's model was trained on `docs`
  so.eval_texts = ctx.quick ? 3 : 6;
  so.calibration_texts = ctx.quick ? 6 : 12;
  so.experiment.levels = ctx.quick ? std::vector<double>{0, 0.5, 1.0} : std::vector<double>{0, 0.25, 0.5, 0.75, 1.0};
  LMLAB_ASSIGN_OR_RETURN(LmStudy study, RunLmStudy(*lm, docs, so, ctx.progress));
  const LmReport& r = study.report;

  Section s;
  s.title = "OOD: the language model under corruption";
  s.citation = kCitation;
  int negative = 0;
  for (const auto& c : r.curves) negative += c.spearman < 0;
  s.measured = fmt::format(
      "Corrupted {} held-out texts of the demo model's own corpus step by step ({}) and measured, at every position, "
      "the KL divergence from the model's OCS (the corpus's target-token frequencies, {} tokens, entropy {} nats) "
      "to its next-token distribution. The ignorance monitor was calibrated on {} other held-out texts.",
      study.eval_texts, [&] {
        std::string c;
        for (const auto& cv : r.curves) c += (c.empty() ? "" : ", ") + std::string(CorruptionName(cv.corruption));
        return c;
      }(),
      FormatThousands(double(r.ocs_tokens)), FormatFixed(r.ocs_entropy, 2), study.calibration_texts);
  s.comparisons.push_back({"next-token predictions on corrupted text",
                           "revert towards the OCS as inputs become more OOD (the paper's language-model results)",
                           fmt::format("distance to the OCS falls with corruption (Spearman < 0) in {} of {} "
                                       "corruptions",
                                       negative, r.curves.size()),
                           "a tiny model; see the curves"});
  std::vector<std::vector<std::string>> rows;
  for (const auto& c : r.curves)
    for (const auto& p : c.points)
      rows.push_back({std::string(CorruptionName(c.corruption)), FormatFixed(p.level, 2), FormatFixed(p.mean_distance, 3),
                      FormatFixed(p.ignorance, 3), FormatPercent(p.flagged, 1), FormatPercent(p.answers_flagged, 0),
                      FormatThousands(double(p.positions))});
  s.table_html = HtmlTable({"corruption", "level", "KL(OCS || p) nats", "ignorance", "tokens flagged", "texts flagged",
                            "positions"},
                           rows);
  s.headline.push_back(fmt::format("token flag threshold {} nats; {} calibration positions",
                                   FormatFixed(r.token_distance_threshold, 3), r.calibration_positions));
  s.figures.push_back({"Mean distance to the OCS (and ignorance) against corruption level.", LmSvg(r)});
  s.rerun = {"lmlab ood lm --model your-model.gguf --reference in-distribution.txt   # estimated OCS",
             "lmlab ood lm --model your-model.gguf --corpus its-training-text.txt     # exact OCS"};
  int64_t positions = 0;
  for (const auto& c : r.curves)
    for (const auto& p : c.points) {
      positions += p.positions;
      if (!std::isfinite(p.mean_distance))
        AddWarning(s, fmt::format("{} at level {}: the distance to the OCS is not a number",
                                  CorruptionName(c.corruption), FormatFixed(p.level, 2)));
    }
  if (positions == 0) AddWarning(s, "no token position was measured: the held-out texts are empty or too short");
  s.data = ToJson(r);
  s.data["model"] = model_path.filename().string();
  return s;
}

}  // namespace lmlab::report::internal
