// Steps 6 and 7: out-of-distribution behaviour (Kang et al. 2023). The
// classifier experiment runs a reduced paper protocol on Fashion-MNIST (the
// paper's corruptions, OOD-score axis, FGSM and decision); the language-model experiment
// corrupts held-out text for the demo's model. Both measure the distance of
// predictions from the optimal constant solution (OCS).
#include <fmt/format.h>

#include <cmath>

#include "lmlab/core/format.h"
#include "lmlab/core/text.h"
#include "lmlab/ood/experiment.h"
#include "lmlab/ood/ignorance.h"
#include "lmlab/ood/lm_experiment.h"
#include "lmlab/ood/render.h"
#include "lmlab/report/html.h"
#include "lmlab/train/default_model.h"
#include "lmlab/report/internal/steps.h"

namespace lmlab::report::internal {
namespace {
constexpr const char* kCitation =
    "Kang, Setlur, Tomlin & Levine 2023, \"Deep Neural Networks Tend to Extrapolate Predictably\", arXiv:2310.00873.";
}

Result<Section> OodClassifierStep(StepContext& ctx) {
  using namespace lmlab::ood;
  // A reduced paper protocol (docs/ood.md): the paper's distance, OOD-score
  // axis, corruptions, FGSM and decision baselines, but lmlab's MLP (the
  // paper's MNIST CNN trains ~50x slower on a CPU) and fewer seeds, images
  // and severities.
  ClassifierExperimentOptions o = PaperProtocol(Dataset::kFashionMnist);
  o.train.arch = Arch::kMlp;
  o.train.epochs = 2;  // one epoch leaves the MLP near 80% accuracy, where abstaining always is the best decision
  o.seeds = ctx.quick ? 2 : 3;
  o.train_size = ctx.quick ? 6000 : 12000;
  o.eval_size = ctx.quick ? 300 : 500;
  o.fgsm_size = ctx.quick ? 100 : 200;
  if (ctx.quick) {
    o.shifts = {Shift::kImpulseNoise, Shift::kMotionBlur, Shift::kFgsm};
    o.severities = {{0, 1, 3, 5}, {0, 1, 3, 5}, {0, 2, 4, 8}};
  }
  LMLAB_ASSIGN_OR_RETURN(ClassifierReport r, RunClassifierExperiment(o, ctx.progress));

  Section s;
  s.title = "OOD: classifiers revert to the optimal constant solution";
  s.citation = kCitation;
  int reverting = 0, corruption_curves = 0;
  std::string fgsm;
  for (const auto& c : r.summary) {
    if (c.shift == Shift::kFgsm) {
      fgsm += fmt::format("{}{} {:+.2f}", fgsm.empty() ? "" : ", ", LossName(c.loss), c.spearman_ood_score);
      continue;
    }
    ++corruption_curves;
    reverting += c.spearman_ood_score < 0;
  }
  const std::string models = Join(r.models, ", ", [](const auto& m) {
    return fmt::format("{} {}", LossName(m.loss), FormatPercent(m.test_accuracy.mean, 1));
  });
  s.measured = fmt::format(
      "A reduced version of the paper protocol: {} seeds of {} {} models per loss on {} {} images (CE, MSE, "
      "Gaussian NLL, plus the 11-output reward model and xent+1 for the decision), {} test images shifted by {} "
      "shifts (CIFAR-10-C corruptions written for 28x28 images, and FGSM on {} images per model). The x axis is Kang "
      "et al.'s OOD score: a logistic regression on a separately trained feature extractor, clean vs shifted. The "
      "distance is {}. Clean test accuracy: {}. The full protocol (the paper's CNN, 5 seeds, every severity): "
      "lmlab ood classifier.",
      r.seeds, r.models.size(), r.arch, FormatThousands(double(r.train_size)), r.dataset,
      FormatThousands(double(r.eval_size)), o.shifts.size(), FormatThousands(double(r.fgsm_size)),
      DistanceFormula(r.distance), models);
  s.comparisons.push_back({"distance to the OCS as the OOD score rises (corruptions)",
                           "falls, for CE, MSE and Gaussian NLL (Spearman < 0)",
                           fmt::format("falls (Spearman < 0, all seeds pooled) in {} of {} loss x corruption curves",
                                       reverting, corruption_curves),
                           ""});
  if (!fgsm.empty())
    s.comparisons.push_back({"adversarial inputs (FGSM)", "do not revert to the OCS",
                             fmt::format("Spearman(OOD score, distance): {}", fgsm), "positive = no reversion"});
  std::vector<std::vector<std::string>> rows;
  for (const auto& c : r.summary) {
    const auto& p0 = c.points.front();
    const auto& p1 = c.points.back();
    rows.push_back({std::string(LossName(c.loss)), std::string(ShiftName(c.shift)),
                    FormatFixed(c.spearman_ood_score, 2), FormatFixed(p0.ood_score.mean, 2),
                    FormatFixed(p1.ood_score.mean, 2), FormatSignificant(p0.distance.mean),
                    FormatSignificant(p1.distance.mean), FormatPercent(p0.accuracy.mean, 1),
                    FormatPercent(p1.accuracy.mean, 1)});
  }
  s.table_html = HtmlTable({"loss", "shift", "Spearman(OOD score, distance)", "OOD score, clean",
                            "OOD score, most shifted", "distance, clean", "distance, most shifted",
                            "accuracy, clean", "accuracy, most shifted"},
                           rows);
  if (!r.reward_bins.empty()) {
    const RewardBin* top = nullptr;
    for (const auto& b : r.reward_bins)
      if (b.points > 0) top = &b;
    if (top)
      s.headline.push_back(fmt::format(
          "decision, OOD score {:.3f}-{:.3f}: reward model {}, xent+1 {}, oracle CE+T {} reward/image", top->lo,
          top->hi, FormatFixed(top->reward[0].mean, 3), FormatFixed(top->reward[1].mean, 3),
          FormatFixed(top->reward[2].mean, 3)));
  }
  s.headline.push_back(fmt::format("OOD score's feature extractor: {} clean accuracy",
                                   FormatPercent(r.feature_extractor_accuracy, 1)));
  s.figures.push_back({"Distance to the OCS (relative to clean images) against the OOD score; line = mean, band = "
                       "+- std over seeds. Falling lines are reversion to the OCS.",
                       DistanceSvg(r)});
  if (!r.detection.empty()) s.figures.push_back({"OOD detection AUROC of each score.", AurocSvg(r)});
  if (!r.rewards.empty())
    s.figures.push_back({"Mean reward under the +1 / -4 / abstain-0 decision against the OOD score.", RewardSvg(r)});
  s.rerun = {"lmlab ood classifier                          # the paper protocol: paper CNN, 5 seeds",
             "lmlab ood classifier --dataset mnist           # where the paper ran FGSM",
             "lmlab ood classifier --protocol lmlab          # lmlab's earlier study"};
  // Degenerate measurements: a model that learned nothing has no OCS to revert to.
  for (const auto& m : r.models)
    if (!(m.test_accuracy.mean > 0.1))  // 10 classes: chance
      AddWarning(s, fmt::format("the {} model did not learn: clean accuracy {} (chance is 10%)", LossName(m.loss),
                                FormatPercent(m.test_accuracy.mean, 1)));
  for (const auto& c : r.curves)
    for (const auto& p : c.points)
      if (!std::isfinite(p.ocs_distance)) {
        AddWarning(s, fmt::format("{} x {}: a distance to the OCS is not a number (training diverged?)",
                                  LossName(c.loss), ShiftName(c.shift)));
        break;
      }
  // What the experiment itself found degenerate (a decision policy that abstained on everything).
  for (const auto& w : r.warnings) AddWarning(s, w);
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
      "the paper's distance KL(p || OCS) from the model's next-token distribution p to its OCS (the corpus's "
      "target-token frequencies, {} tokens, entropy {} nats, smoothed by one pseudo-count over the vocabulary). The ignorance monitor was calibrated on "
      "{} other held-out texts.",
      study.eval_texts, Join(r.curves, ", ", [](const auto& cv) { return std::string(CorruptionName(cv.corruption)); }),
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
  s.table_html = HtmlTable({"corruption", "level", "KL(p || OCS) nats", "ignorance", "tokens flagged", "texts flagged",
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
