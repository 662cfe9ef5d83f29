#include "lmlab/ood/experiment.h"

#include <algorithm>
#include <cmath>
#include <map>

#include <fmt/format.h>

#include "lmlab/ood/ocs.h"

namespace lmlab::ood {
namespace {

// Expected reward of predicting with confidence p: p*1 + (1-p)*(-4) > 0 iff p > 0.8.
constexpr double kConfidenceThreshold = (kRewardAbstain - kRewardWrong) / (kRewardRight - kRewardWrong);
constexpr int64_t kCalibrationImages = 2000;

std::span<const float> Row(const Predictions& p, int64_t i) {
  return {p.outputs.data() + i * p.n_outputs, static_cast<size_t>(p.n_outputs)};
}

// The distribution whose max and entropy we report: softmax for CE, clipped
// and renormalised outputs for MSE; none for the other losses.
std::optional<std::vector<double>> Distribution(Loss loss, std::span<const float> out) {
  if (loss == Loss::kCrossEntropy) return Softmax(out);
  if (loss != Loss::kMse) return std::nullopt;
  std::vector<double> p(out.size());
  double sum = 0;
  for (size_t i = 0; i < out.size(); ++i) sum += p[i] = std::max(0.0f, out[i]);
  for (double& v : p) v = sum > 0 ? v / sum : 1.0 / static_cast<double>(out.size());
  return p;
}

}  // namespace

std::string_view DatasetName(Dataset d) { return d == Dataset::kFashionMnist ? "fashion-mnist" : "mnist"; }

Result<Dataset> ParseDataset(std::string_view s) {
  if (s == "fashion-mnist" || s == "fashion") return Dataset::kFashionMnist;
  if (s == "mnist") return Dataset::kMnist;
  return InvalidArgument(fmt::format("unknown dataset '{}': use fashion-mnist or mnist", s));
}

std::vector<double> OcsDistances(const Classifier& model, const Predictions& p) {
  const int64_t n = p.n_outputs ? static_cast<int64_t>(p.outputs.size()) / p.n_outputs : 0;
  std::vector<double> d(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    auto o = Row(p, i);
    switch (model.loss) {
      case Loss::kCrossEntropy: d[i] = KlDivergence(model.ocs, Softmax(o)); break;
      case Loss::kMse:
      case Loss::kReward: {
        std::vector<double> v(o.begin(), o.end());
        d[i] = SquaredError(v, model.ocs);
        break;
      }
      case Loss::kGaussianNll: d[i] = GaussianKl(model.ocs_mean, model.ocs_var, o[0], std::exp(o[1])); break;
    }
  }
  return d;
}

SeverityPoint Measure(const Classifier& model, const Predictions& p, const ImageSet& images, double severity) {
  SeverityPoint pt;
  pt.severity = severity;
  const int64_t n = images.size();
  if (n == 0) return pt;
  std::vector<double> d = OcsDistances(model, p);
  for (double v : d) pt.ocs_distance += v / static_cast<double>(n);
  pt.accuracy = Accuracy(model, p, images);

  std::vector<double> mean(static_cast<size_t>(p.n_outputs), 0.0);
  double msp = 0, ent = 0;
  bool has_dist = false;
  for (int64_t i = 0; i < n; ++i) {
    auto o = Row(p, i);
    if (model.loss == Loss::kCrossEntropy) {
      auto s = Softmax(o);
      for (size_t c = 0; c < s.size(); ++c) mean[c] += s[c] / static_cast<double>(n);
    } else if (model.loss == Loss::kGaussianNll) {
      mean[0] += o[0] / static_cast<double>(n);
      mean[1] += std::exp(o[1]) / static_cast<double>(n);  // mean variance
    } else {
      for (size_t c = 0; c < o.size(); ++c) mean[c] += o[c] / static_cast<double>(n);
    }
    if (auto dist = Distribution(model.loss, o)) {
      has_dist = true;
      msp += *std::max_element(dist->begin(), dist->end()) / static_cast<double>(n);
      ent += Entropy(*dist) / static_cast<double>(n);
    }
  }
  if (has_dist) {
    pt.max_softmax = msp;
    pt.entropy = ent;
  }
  switch (model.loss) {
    case Loss::kCrossEntropy: pt.mean_prediction_distance = KlDivergence(model.ocs, mean); break;
    case Loss::kGaussianNll:
      pt.mean_prediction_distance = GaussianKl(model.ocs_mean, model.ocs_var, mean[0], mean[1]);
      break;
    default: pt.mean_prediction_distance = SquaredError(mean, model.ocs); break;
  }
  for (const auto& norms : p.feature_norms) {
    double m = 0;
    for (float v : norms) m += v / static_cast<double>(n);
    pt.feature_norms.push_back(m);
  }
  return pt;
}

double FitTemperature(const Predictions& logits, const ImageSet& images) {
  auto nll = [&](double t) {
    double s = 0;
    for (int64_t i = 0; i < images.size(); ++i) s -= std::log(std::max(Softmax(Row(logits, i), t)[images.labels[i]], 1e-12));
    return s;
  };
  // Grid on a log scale, then a finer grid around the best point.
  double best = 1, best_nll = nll(1);
  for (double t = 0.25; t <= 10.0; t *= 1.15)
    if (double v = nll(t); v < best_nll) best = t, best_nll = v;
  for (double t = best / 1.15; t <= best * 1.15; t *= 1.01)
    if (double v = nll(t); v < best_nll) best = t, best_nll = v;
  return best;
}

Result<ClassifierReport> RunClassifierExperiment(const ClassifierExperimentOptions& o,
                                                 const ProgressCallback& progress) {
  if (o.losses.empty()) return InvalidArgument("choose at least one loss");
  if (o.shifts.empty()) return InvalidArgument("choose at least one shift");
  if (!o.severities.empty() && o.severities.size() != o.shifts.size())
    return InvalidArgument("give one severity list per shift");
  for (size_t i = 0; i < o.severities.size(); ++i) {
    const std::vector<double>& v = o.severities[i];
    // Every curve is read against its clean point (relative distance, the
    // detection table, the plots), so 0 comes first and the rest ascend.
    if (v.empty() || v.front() != 0 || !std::is_sorted(v.begin(), v.end()) ||
        std::adjacent_find(v.begin(), v.end()) != v.end())
      return InvalidArgument(fmt::format("{} severities must start at 0 (the clean images) and ascend strictly",
                                         ShiftName(o.shifts[i])));
    for (double v : o.severities[i]) LMLAB_RETURN_IF_ERROR(CheckSeverity(o.shifts[i], v));  // before any training
  }
  if (o.train_size < o.train.batch) return InvalidArgument("the training set must hold at least one batch");
  if (o.eval_size < 10) return InvalidArgument("evaluate on at least 10 images");

  // --- data: training images, evaluation + calibration images, the other dataset ---
  Report(progress, {"loading data", 0, 0, "", std::string(DatasetName(o.dataset))});
  ImageSet train, eval, calib, other;
  if (o.dataset == Dataset::kFashionMnist) {
    LMLAB_ASSIGN_OR_RETURN(ImageSet full_train, LoadFashionMnist(Split::kTrain));
    LMLAB_ASSIGN_OR_RETURN(ImageSet full_test, LoadFashionMnist(Split::kTest));
    train = Subsample(full_train, o.train_size, o.seed);
    ImageSet test = Subsample(full_test, full_test.size(), o.seed + 1);
    eval = Subsample(test, std::min(o.eval_size, test.size() / 2), 0);
    ImageSet rest = test;
    rest.pixels.erase(rest.pixels.begin(), rest.pixels.begin() + eval.size() * kImagePixels);
    rest.labels.erase(rest.labels.begin(), rest.labels.begin() + eval.size());
    calib = Subsample(rest, kCalibrationImages, 0);
    LMLAB_ASSIGN_OR_RETURN(other, LoadMnistDigits());
  } else {
    LMLAB_ASSIGN_OR_RETURN(ImageSet digits, LoadMnistDigits());
    ImageSet all = Subsample(digits, digits.size(), o.seed);
    int64_t n_eval = std::min(o.eval_size, all.size() / 4);
    int64_t n_calib = std::min(kCalibrationImages, all.size() / 8);
    auto slice = [&](int64_t from, int64_t count) {
      ImageSet s;
      s.name = all.name;
      s.pixels.assign(all.pixels.begin() + from * kImagePixels, all.pixels.begin() + (from + count) * kImagePixels);
      s.labels.assign(all.labels.begin() + from, all.labels.begin() + from + count);
      return s;
    };
    eval = slice(0, n_eval);
    calib = slice(n_eval, n_calib);
    train = slice(n_eval + n_calib, std::min(o.train_size, all.size() - n_eval - n_calib));
    LMLAB_ASSIGN_OR_RETURN(other, LoadFashionMnist(Split::kTest));
  }
  other = Subsample(other, eval.size(), o.seed + 2);

  ClassifierReport report;
  report.dataset = DatasetName(o.dataset);
  report.other_dataset = o.dataset == Dataset::kFashionMnist ? "mnist" : "fashion-mnist";
  report.arch = ArchName(o.train.arch);
  report.train_size = train.size();
  report.eval_size = eval.size();

  // --- models: the requested losses, plus CE (detection baselines) and the
  // reward predictor when the decision experiment runs ---
  std::vector<Loss> losses = o.losses;
  auto has = [&](Loss l) { return std::find(losses.begin(), losses.end(), l) != losses.end(); };
  if (!has(Loss::kCrossEntropy)) losses.insert(losses.begin(), Loss::kCrossEntropy);
  if (o.decision == Decision::kOn && !has(Loss::kReward)) losses.push_back(Loss::kReward);
  std::vector<Classifier> models;
  for (size_t m = 0; m < losses.size(); ++m) {
    TrainOptions t = o.train;
    t.loss = losses[m];
    t.seed = o.seed + m;
    std::string stage = fmt::format("training {} {} ({}/{})", ArchName(t.arch), LossName(t.loss), m + 1, losses.size());
    ProgressCallback inner = [&](const Progress& p) {
      Progress q = p;
      q.stage = stage;
      Report(progress, q);
    };
    auto model = TrainClassifier(train, t, inner);
    if (!model) return std::unexpected(model.error().WithContext(stage));
    models.push_back(std::move(*model));
  }
  auto model_index = [&](Loss l) { return static_cast<size_t>(std::find(losses.begin(), losses.end(), l) - losses.begin()); };
  const size_t ce = model_index(Loss::kCrossEntropy);

  // --- temperature on held-out in-distribution images ---
  report.temperature = FitTemperature(Predict(models[ce], calib), calib);

  std::vector<Predictions> clean;
  for (size_t m = 0; m < models.size(); ++m) {
    clean.push_back(Predict(models[m], eval));
    ModelSummary s;
    s.loss = losses[m];
    s.test_accuracy = Accuracy(models[m], clean.back(), eval);
    s.train_seconds = models[m].train_seconds;
    s.final_train_loss = models[m].final_train_loss;
    s.ocs = losses[m] == Loss::kGaussianNll ? std::vector<double>{models[m].ocs_mean, models[m].ocs_var}
                                            : models[m].ocs;
    report.models.push_back(std::move(s));
  }

  // --- sweep ---
  size_t total = 0;
  for (size_t s = 0; s < o.shifts.size(); ++s)
    total += (o.severities.empty() ? DefaultSeverities(o.shifts[s]) : o.severities[s]).size();
  size_t done = 0;
  for (size_t s = 0; s < o.shifts.size(); ++s) {
    const Shift shift = o.shifts[s];
    std::vector<double> sev = o.severities.empty() ? DefaultSeverities(shift) : o.severities[s];
    std::sort(sev.begin(), sev.end());
    std::vector<Curve> curves(losses.size());
    for (size_t m = 0; m < losses.size(); ++m) curves[m].loss = losses[m], curves[m].shift = shift;
    const size_t mid = sev.size() / 2;
    for (size_t k = 0; k < sev.size(); ++k) {
      Report(progress, {"evaluating shifts", static_cast<double>(done), static_cast<double>(total), "severities",
                        fmt::format("{} {}", ShiftName(shift), sev[k])});
      LMLAB_ASSIGN_OR_RETURN(ImageSet shifted, ApplyShift(eval, shift, sev[k], o.seed + 100 + s, &other));
      std::vector<Predictions> preds;
      for (size_t m = 0; m < models.size(); ++m) {
        preds.push_back(Predict(models[m], shifted));
        curves[m].points.push_back(Measure(models[m], preds[m], shifted, sev[k]));
      }
      if (k == mid && sev[k] > 0) {
        DetectionRow row{shift, sev[k], {}};
        for (size_t m = 0; m < models.size(); ++m) {
          auto neg = OcsDistances(models[m], clean[m]);
          auto pos = OcsDistances(models[m], preds[m]);
          for (double& v : neg) v = -v;
          for (double& v : pos) v = -v;
          LMLAB_ASSIGN_OR_RETURN(double a, Auroc(pos, neg));
          row.auroc.emplace_back(fmt::format("ocs-{}", LossName(losses[m])), a);
        }
        std::vector<double> msp_pos, msp_neg, ent_pos, ent_neg;
        for (int64_t i = 0; i < eval.size(); ++i) {
          auto a = Softmax(Row(clean[ce], i)), b = Softmax(Row(preds[ce], i));
          msp_neg.push_back(1 - *std::max_element(a.begin(), a.end()));
          msp_pos.push_back(1 - *std::max_element(b.begin(), b.end()));
          ent_neg.push_back(Entropy(a));
          ent_pos.push_back(Entropy(b));
        }
        LMLAB_ASSIGN_OR_RETURN(double a_msp, Auroc(msp_pos, msp_neg));
        LMLAB_ASSIGN_OR_RETURN(double a_ent, Auroc(ent_pos, ent_neg));
        row.auroc.emplace_back("msp-ce", a_msp);
        row.auroc.emplace_back("entropy-ce", a_ent);
        report.detection.push_back(std::move(row));
      }
      if (o.decision == Decision::kOn) {
        const size_t rw = model_index(Loss::kReward);
        RewardPoint r{shift, sev[k]};
        const double n = static_cast<double>(shifted.size());
        for (int64_t i = 0; i < shifted.size(); ++i) {
          const int32_t y = shifted.labels[i];
          auto pr = Row(preds[rw], i);
          int best = static_cast<int>(std::max_element(pr.begin(), pr.end()) - pr.begin());
          if (pr[best] <= kRewardAbstain) r.abstain_model += 1 / n;
          else r.reward_model += (best == y ? kRewardRight : kRewardWrong) / n;
          auto pt = Softmax(Row(preds[ce], i), report.temperature);
          int c = static_cast<int>(std::max_element(pt.begin(), pt.end()) - pt.begin());
          double hit = c == y ? kRewardRight : kRewardWrong;
          r.reward_ce_never_abstain += hit / n;
          if (pt[c] <= kConfidenceThreshold) r.abstain_ce += 1 / n;
          else r.reward_ce += hit / n;
        }
        report.rewards.push_back(r);
      }
      ++done;
    }
    for (size_t m = 0; m < losses.size(); ++m) {
      std::vector<double> x, y;
      for (const auto& p : curves[m].points) x.push_back(p.severity), y.push_back(p.ocs_distance);
      curves[m].spearman = Spearman(x, y);
      report.curves.push_back(std::move(curves[m]));
    }
  }
  Report(progress, {"evaluating shifts", static_cast<double>(total), static_cast<double>(total), "severities", ""});
  return report;
}

}  // namespace lmlab::ood
