#include "lmlab/ood/experiment.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>
#include <numeric>

#include <Eigen/Dense>
#include <fmt/format.h>

#include "lmlab/ood/adversarial.h"
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

// Images first..first+count of `set`.
ImageSet Slice(const ImageSet& set, int64_t first, int64_t count) {
  ImageSet s;
  s.name = set.name;
  s.pixels.assign(set.pixels.begin() + first * kImagePixels, set.pixels.begin() + (first + count) * kImagePixels);
  s.labels.assign(set.labels.begin() + first, set.labels.begin() + first + count);
  return s;
}

// Reward of action `a` (a class, or kAbstainAction) for an image of class `y`.
double RewardOf(int a, int32_t y) {
  if (a == kAbstainAction) return kRewardAbstain;
  return a == y ? kRewardRight : kRewardWrong;
}

int Argmax(std::span<const double> v) { return static_cast<int>(std::max_element(v.begin(), v.end()) - v.begin()); }
int Argmax(std::span<const float> v) { return static_cast<int>(std::max_element(v.begin(), v.end()) - v.begin()); }

// Predict the most probable class when its probability beats the break-even
// confidence, else abstain.
int ThresholdAction(std::span<const double> probs) {
  int c = Argmax(probs);
  return probs[c] > kConfidenceThreshold ? c : kAbstainAction;
}

Status CheckOptions(const ClassifierExperimentOptions& o) {
  if (o.losses.empty()) return InvalidArgument("choose at least one loss");
  for (Loss l : o.losses)
    if (l == Loss::kReward || l == Loss::kAbstainClass)
      return InvalidArgument(fmt::format("{} is a decision model, not a loss to sweep: use ce, mse or nll", LossName(l)));
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
    for (double s : v) LMLAB_RETURN_IF_ERROR(CheckSeverity(o.shifts[i], s));  // before any training
  }
  if (o.train_size < o.train.batch) return InvalidArgument("the training set must hold at least one batch");
  if (o.eval_size < 10) return InvalidArgument("evaluate on at least 10 images");
  if (o.fgsm_size < 10) return InvalidArgument("attack at least 10 images with FGSM");
  if (o.seeds < 1 || o.seeds > 20) return InvalidArgument("seeds must be in [1, 20]");
  return {};
}

struct Data {
  ImageSet train_pool, eval, calib, other;
};

Result<Data> LoadData(const ClassifierExperimentOptions& o) {
  Data d;
  if (o.dataset == Dataset::kFashionMnist) {
    LMLAB_ASSIGN_OR_RETURN(d.train_pool, LoadFashionMnist(Split::kTrain));
    LMLAB_ASSIGN_OR_RETURN(ImageSet full_test, LoadFashionMnist(Split::kTest));
    ImageSet test = Subsample(full_test, full_test.size(), o.seed + 1);
    const int64_t n_eval = std::min(o.eval_size, test.size() / 2);
    d.eval = Slice(test, 0, n_eval);
    d.calib = Slice(test, n_eval, std::min(kCalibrationImages, test.size() - n_eval));
    LMLAB_ASSIGN_OR_RETURN(d.other, LoadMnistDigits());
  } else {
    LMLAB_ASSIGN_OR_RETURN(ImageSet digits, LoadMnistDigits());
    ImageSet all = Subsample(digits, digits.size(), o.seed);
    const int64_t n_eval = std::min(o.eval_size, all.size() / 4);
    const int64_t n_calib = std::min(kCalibrationImages, all.size() / 8);
    d.eval = Slice(all, 0, n_eval);
    d.calib = Slice(all, n_eval, n_calib);
    d.train_pool = Slice(all, n_eval + n_calib, all.size() - n_eval - n_calib);
    LMLAB_ASSIGN_OR_RETURN(d.other, LoadFashionMnist(Split::kTest));
  }
  d.other = Subsample(d.other, d.eval.size(), o.seed + 2);
  return d;
}

// The fixed feature extractor of the OOD score and its features on the clean pool.
struct Extractor {
  Classifier model;
  Predictions clean;  // on the calibration images
};

Result<OodScore> ScoreAgainstClean(const Extractor& x, const ImageSet& shifted, const ClassifierExperimentOptions& o) {
  LMLAB_ASSIGN_OR_RETURN(Predictions f, Predict(x.model, shifted, o.train.threads));
  return ScoreShift(x.clean.features, f.features, x.clean.feature_dim, o.ood_score);
}

std::vector<double> Sorted(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v;
}

// Per seed: everything measured on one set of models.
struct SeedModels {
  std::vector<Loss> losses;  // the curve losses, then the decision models
  std::vector<Classifier> models;
  size_t index(Loss l) const { return static_cast<size_t>(std::find(losses.begin(), losses.end(), l) - losses.begin()); }
  bool has(Loss l) const { return index(l) < losses.size(); }
};

// AUROC of each OOD detector on clean (negatives) vs shifted (positives)
// predictions: closeness to the OCS of each curve model (the first
// `n_curves`), and the CE model's 1 - max-softmax and entropy.
Result<std::vector<std::pair<std::string, double>>> DetectionAurocs(const SeedModels& sm, size_t n_curves,
                                                                   const std::vector<Predictions>& clean,
                                                                   const std::vector<Predictions>& shifted,
                                                                   Distance distance) {
  std::vector<std::pair<std::string, double>> row;
  for (size_t m = 0; m < n_curves; ++m) {
    auto neg = OcsDistances(sm.models[m], clean[m], distance);
    auto pos = OcsDistances(sm.models[m], shifted[m], distance);
    for (double& v : neg) v = -v;
    for (double& v : pos) v = -v;
    LMLAB_ASSIGN_OR_RETURN(double a, Auroc(pos, neg));
    row.emplace_back(fmt::format("ocs-{}", LossName(sm.losses[m])), a);
  }
  const size_t c = sm.index(Loss::kCrossEntropy);
  std::vector<double> msp_pos, msp_neg, ent_pos, ent_neg;
  const int64_t n = static_cast<int64_t>(clean[c].outputs.size()) / clean[c].n_outputs;
  for (int64_t i = 0; i < n; ++i) {
    auto a = Softmax(Row(clean[c], i)), b = Softmax(Row(shifted[c], i));
    msp_neg.push_back(1 - *std::max_element(a.begin(), a.end()));
    msp_pos.push_back(1 - *std::max_element(b.begin(), b.end()));
    ent_neg.push_back(Entropy(a));
    ent_pos.push_back(Entropy(b));
  }
  LMLAB_ASSIGN_OR_RETURN(double a_msp, Auroc(msp_pos, msp_neg));
  LMLAB_ASSIGN_OR_RETURN(double a_ent, Auroc(ent_pos, ent_neg));
  row.emplace_back("msp-ce", a_msp);
  row.emplace_back("entropy-ce", a_ent);
  return row;
}

// Every policy's mean reward and abstention rate on one shifted level.
// `temperature`: the CE model's in-distribution temperature.
RewardPoint Decide(const SeedModels& sm, const std::vector<Predictions>& preds, const ImageSet& shifted,
                   double temperature) {
  RewardPoint r;
  const Predictions& rw = preds[sm.index(Loss::kReward)];
  const Predictions& x1 = preds[sm.index(Loss::kAbstainClass)];
  const Predictions& cp = preds[sm.index(Loss::kCrossEntropy)];
  const std::vector<double> oracle_t = FitClassTemperatures(cp, shifted);  // on this level's own labels
  const double n = static_cast<double>(shifted.size());
  for (int64_t i = 0; i < shifted.size(); ++i) {
    std::array<int, kPolicies> action;
    action[static_cast<int>(Policy::kRewardModel)] = Argmax(Row(rw, i));
    action[static_cast<int>(Policy::kAbstainClass)] = Argmax(Row(x1, i));
    std::vector<float> scaled(kNumClasses);
    for (int c = 0; c < kNumClasses; ++c) scaled[c] = static_cast<float>(Row(cp, i)[c] / oracle_t[c]);
    action[static_cast<int>(Policy::kOracle)] = ThresholdAction(Softmax(scaled));
    action[static_cast<int>(Policy::kCeTemperature)] = ThresholdAction(Softmax(Row(cp, i), temperature));
    action[static_cast<int>(Policy::kCeNeverAbstains)] = Argmax(Row(cp, i));
    for (int q = 0; q < kPolicies; ++q) {
      r.reward[q] += RewardOf(action[q], shifted.labels[i]) / n;
      r.abstain[q] += (action[q] == kAbstainAction) / n;
    }
  }
  return r;
}

// Mean +- std over seeds at every severity, and the pooled Spearman
// correlations, of every (loss, shift).
std::vector<CurveSummary> SummariseCurves(const std::vector<Curve>& curves, const std::vector<Loss>& losses,
                                    const std::vector<Shift>& shifts, const std::vector<std::vector<double>>& severities,
                                    Axis axis) {
  std::vector<CurveSummary> out;
  for (Loss loss : losses)
    for (size_t s = 0; s < shifts.size(); ++s) {
      CurveSummary sum;
      sum.loss = loss;
      sum.shift = shifts[s];
      std::vector<const Curve*> seeds;
      for (const Curve& c : curves)
        if (c.loss == loss && c.shift == sum.shift) seeds.push_back(&c);
      std::vector<double> pooled_score, pooled_severity, pooled_distance, per_seed;
      for (const Curve* c : seeds) {
        per_seed.push_back(c->spearman);
        for (const auto& p : c->points)
          pooled_score.push_back(p.ood_score), pooled_severity.push_back(p.severity),
              pooled_distance.push_back(p.ocs_distance);
      }
      for (size_t j = 0; j < severities[s].size(); ++j) {
        SummaryPoint sp;
        sp.severity = severities[s][j];
        std::vector<double> score, dist, rel, acc, norm;
        for (const Curve* c : seeds) {
          const SeverityPoint& p = c->points[j];
          const double clean = c->points.front().ocs_distance;
          score.push_back(p.ood_score);
          dist.push_back(p.ocs_distance);
          rel.push_back(clean > 0 ? p.ocs_distance / clean : kNaN);
          acc.push_back(p.accuracy);
          norm.push_back(p.feature_norms.empty() ? kNaN : p.feature_norms.back());
        }
        sp.ood_score = Summarise(score);
        sp.distance = Summarise(dist);
        sp.relative_distance = Summarise(rel);
        sp.accuracy = Summarise(acc);
        sp.last_feature_norm = Summarise(norm);
        sum.points.push_back(sp);
      }
      if (axis == Axis::kOodScore) sum.spearman_ood_score = Spearman(pooled_score, pooled_distance);
      sum.spearman_severity = Spearman(pooled_severity, pooled_distance);
      sum.seed_spearman = Summarise(per_seed);
      out.push_back(std::move(sum));
    }
  return out;
}

}  // namespace

std::string_view DatasetName(Dataset d) { return d == Dataset::kFashionMnist ? "fashion-mnist" : "mnist"; }

Result<Dataset> ParseDataset(std::string_view s) {
  if (s == "fashion-mnist" || s == "fashion") return Dataset::kFashionMnist;
  if (s == "mnist") return Dataset::kMnist;
  return InvalidArgument(fmt::format("unknown dataset '{}': use fashion-mnist or mnist", s));
}

std::string_view AxisName(Axis a) { return a == Axis::kOodScore ? "ood-score" : "severity"; }

Result<Axis> ParseAxis(std::string_view s) {
  if (s == "ood-score") return Axis::kOodScore;
  if (s == "severity") return Axis::kSeverity;
  return InvalidArgument(fmt::format("unknown axis '{}': use ood-score or severity", s));
}

std::string_view PolicyName(Policy p) {
  switch (p) {
    case Policy::kRewardModel: return "reward model";
    case Policy::kAbstainClass: return "xent+1";
    case Policy::kOracle: return "oracle CE+T";
    case Policy::kCeTemperature: return "CE+T (in-dist.)";
    case Policy::kCeNeverAbstains: return "CE";
  }
  return "?";
}

ClassifierExperimentOptions PaperProtocol(Dataset dataset) {
  ClassifierExperimentOptions o;
  o.dataset = dataset;
  return o;
}

ClassifierExperimentOptions LmlabProtocol(Dataset dataset) {
  ClassifierExperimentOptions o;
  o.dataset = dataset;
  o.shifts = LmlabShifts();
  o.train = {.arch = Arch::kMlp, .epochs = 2};
  o.train_size = 60000;
  o.eval_size = 2000;
  o.distance = Distance::kLmlab;
  o.axis = Axis::kSeverity;
  o.seeds = 1;
  return o;
}

MeanStd Summarise(std::span<const double> values) {
  std::vector<double> v;
  for (double x : values)
    if (std::isfinite(x)) v.push_back(x);
  MeanStd m;
  if (v.empty()) return m;
  m.mean = std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(v.size());
  double ss = 0;
  for (double x : v) ss += (x - m.mean) * (x - m.mean);
  m.std = v.size() > 1 ? std::sqrt(ss / static_cast<double>(v.size() - 1)) : 0.0;
  return m;
}

std::vector<double> OcsDistances(const Classifier& model, const Predictions& p, Distance dist) {
  const int64_t n = p.n_outputs ? static_cast<int64_t>(p.outputs.size()) / p.n_outputs : 0;
  std::vector<double> d(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    auto o = Row(p, i);
    switch (model.loss) {
      case Loss::kCrossEntropy:
      case Loss::kAbstainClass: d[i] = KlToOcs(Softmax(o), model.ocs, dist); break;
      case Loss::kMse:
      case Loss::kReward: {
        std::vector<double> v(o.begin(), o.end());
        d[i] = SquaredError(v, model.ocs);
        break;
      }
      case Loss::kGaussianNll:
        d[i] = GaussianKlToOcs(o[0], std::exp(o[1]), model.ocs_mean, model.ocs_var, dist);
        break;
    }
  }
  return d;
}

SeverityPoint Measure(const Classifier& model, const Predictions& p, const ImageSet& images, double severity,
                      Distance dist) {
  SeverityPoint pt;
  pt.severity = severity;
  const int64_t n = images.size();
  if (n == 0) return pt;
  std::vector<double> d = OcsDistances(model, p, dist);
  for (double v : d) pt.ocs_distance += v / static_cast<double>(n);
  pt.accuracy = Accuracy(model, p, images);
  for (double l : PerImageLoss(model, p, images)) pt.loss += l / static_cast<double>(n);

  std::vector<double> mean(static_cast<size_t>(p.n_outputs), 0.0);
  double msp = 0, ent = 0;
  bool has_dist = false;
  for (int64_t i = 0; i < n; ++i) {
    auto o = Row(p, i);
    if (model.loss == Loss::kCrossEntropy || model.loss == Loss::kAbstainClass) {
      auto s = Softmax(o);
      for (size_t c = 0; c < s.size(); ++c) mean[c] += s[c] / static_cast<double>(n);
    } else if (model.loss == Loss::kGaussianNll) {
      mean[0] += o[0] / static_cast<double>(n);
      mean[1] += std::exp(o[1]) / static_cast<double>(n);  // mean variance
    } else {
      for (size_t c = 0; c < o.size(); ++c) mean[c] += o[c] / static_cast<double>(n);
    }
    if (auto dd = Distribution(model.loss, o)) {
      has_dist = true;
      msp += *std::max_element(dd->begin(), dd->end()) / static_cast<double>(n);
      ent += Entropy(*dd) / static_cast<double>(n);
    }
  }
  if (has_dist) {
    pt.max_softmax = msp;
    pt.entropy = ent;
  }
  switch (model.loss) {
    case Loss::kCrossEntropy:
    case Loss::kAbstainClass: pt.mean_prediction_distance = KlToOcs(mean, model.ocs, dist); break;
    case Loss::kGaussianNll:
      pt.mean_prediction_distance = GaussianKlToOcs(mean[0], mean[1], model.ocs_mean, model.ocs_var, dist);
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

std::vector<double> FitClassTemperatures(const Predictions& logits, const ImageSet& images) {
  constexpr int k = kNumClasses;
  const int64_t n = images.size();
  // NLL(w) = sum_i logsumexp_c(w_c z_ic) - w_y z_iy with w_c = 1 / T_c: a
  // log-sum-exp of linear functions of w, so convex.
  auto probs = [&](const Eigen::VectorXd& w, int64_t i, Eigen::VectorXd& z, Eigen::VectorXd& p) {
    auto row = Row(logits, i);
    for (int c = 0; c < k; ++c) z(c) = row[c];
    Eigen::VectorXd a = w.cwiseProduct(z);
    const double m = a.maxCoeff();
    p = (a.array() - m).exp();
    const double s = p.sum();
    p /= s;
    return m + std::log(s) - a(images.labels[i]);
  };
  auto objective = [&](const Eigen::VectorXd& w) {
    Eigen::VectorXd z(k), p(k);
    double f = 0;
    for (int64_t i = 0; i < n; ++i) f += probs(w, i, z, p);
    return f;
  };
  Eigen::VectorXd w = Eigen::VectorXd::Constant(k, 1 / 1.5);  // ModelWithTemperature starts at T = 1.5
  double f = objective(w);
  for (int iter = 0; iter < 50 && n > 0; ++iter) {
    Eigen::VectorXd grad = Eigen::VectorXd::Zero(k), z(k), p(k);
    Eigen::MatrixXd hess = Eigen::MatrixXd::Zero(k, k);
    for (int64_t i = 0; i < n; ++i) {
      probs(w, i, z, p);
      Eigen::VectorXd pz = p.cwiseProduct(z);
      grad += pz;
      grad(images.labels[i]) -= z(images.labels[i]);
      hess += Eigen::MatrixXd(pz.cwiseProduct(z).asDiagonal()) - pz * pz.transpose();
    }
    hess.diagonal().array() += 1e-9 * static_cast<double>(n);  // a class never predicted leaves a zero row
    Eigen::VectorXd step = hess.ldlt().solve(grad);
    double scale = 1, next = objective(w - step);
    while (!(next <= f) && scale > 1e-6) scale /= 2, next = objective(w - scale * step);
    if (!(next <= f)) break;
    w -= scale * step;
    const double gain = f - next;
    f = next;
    if (gain < 1e-9 * std::max(1.0, f)) break;
  }
  std::vector<double> t(k);
  for (int c = 0; c < k; ++c) t[c] = 1.0 / w(c);
  return t;
}

std::vector<RewardBin> BinRewards(std::span<const RewardPoint> points, int n_bins) {
  // Edges at quantiles of the scores, so every bin holds about as many points.
  std::vector<double> scores;
  for (const RewardPoint& p : points)
    if (std::isfinite(p.ood_score)) scores.push_back(p.ood_score);
  std::sort(scores.begin(), scores.end());
  std::vector<RewardBin> bins;
  if (scores.empty() || n_bins < 1) return bins;
  std::vector<double> edges;
  for (int b = 0; b <= n_bins; ++b)
    edges.push_back(scores[std::min(scores.size() - 1, scores.size() * static_cast<size_t>(b) / static_cast<size_t>(n_bins))]);
  edges.back() = scores.back();
  edges.erase(std::unique(edges.begin(), edges.end()), edges.end());
  if (edges.size() == 1) edges.push_back(edges.front());
  for (size_t b = 0; b + 1 < edges.size(); ++b) {
    RewardBin bin;
    bin.lo = edges[b];
    bin.hi = edges[b + 1];
    std::array<std::vector<double>, kPolicies> rewards;
    for (const RewardPoint& p : points) {
      const bool last = b + 2 == edges.size();
      if (!(p.ood_score >= bin.lo && (p.ood_score < bin.hi || (last && p.ood_score <= bin.hi)))) continue;
      ++bin.points;
      for (int k = 0; k < kPolicies; ++k) {
        rewards[k].push_back(p.reward[k]);
        bin.abstain[k] += p.abstain[k];
      }
    }
    for (int k = 0; k < kPolicies; ++k) {
      bin.reward[k] = Summarise(rewards[k]);
      if (bin.points > 0) bin.abstain[k] /= static_cast<double>(bin.points);
    }
    bins.push_back(bin);
  }
  return bins;
}

Result<ClassifierReport> RunClassifierExperiment(const ClassifierExperimentOptions& o,
                                                 const ProgressCallback& progress) {
  LMLAB_RETURN_IF_ERROR(CheckOptions(o));
  const auto start = std::chrono::steady_clock::now();
  Report(progress, {"loading data", 0, 0, "", std::string(DatasetName(o.dataset))});
  LMLAB_ASSIGN_OR_RETURN(Data data, LoadData(o));
  const ImageSet& eval = data.eval;
  const ImageSet fgsm_eval = Slice(eval, 0, std::min(o.fgsm_size, eval.size()));

  ClassifierReport report;
  report.dataset = DatasetName(o.dataset);
  report.other_dataset = o.dataset == Dataset::kFashionMnist ? "mnist" : "fashion-mnist";
  report.arch = ArchName(o.train.arch);
  report.distance = o.distance;
  report.axis = o.axis;
  report.train_size = std::min(o.train_size, data.train_pool.size());
  report.eval_size = eval.size();
  report.fgsm_size = fgsm_eval.size();
  report.seeds = o.seeds;

  auto stage_progress = [&](std::string stage) {
    return ProgressCallback([&progress, stage](const Progress& p) {
      Progress q = p;
      q.stage = stage;
      Report(progress, q);
    });
  };

  // --- the OOD score's feature extractor: trained once, on its own seed, like
  // the paper's one fixed ImageNet ResNet-18 ---
  std::optional<Extractor> extractor;
  if (o.axis == Axis::kOodScore) {
    TrainOptions t{.arch = kFeatureExtractorArch, .loss = Loss::kCrossEntropy, .epochs = 2};
    t.seed = o.seed * 7919 + 104729;
    t.threads = o.train.threads;
    ImageSet train = Subsample(data.train_pool, std::min(o.train_size, kFeatureTrainImages), t.seed);
    std::string stage = fmt::format("training the OOD score's feature extractor ({} ce)", ArchName(t.arch));
    auto model = TrainClassifier(train, t, stage_progress(stage));
    if (!model) return std::unexpected(model.error().WithContext(stage));
    Extractor x{std::move(*model), {}};
    LMLAB_ASSIGN_OR_RETURN(x.clean, Predict(x.model, data.calib, o.train.threads));
    LMLAB_ASSIGN_OR_RETURN(Predictions on_eval, Predict(x.model, eval, o.train.threads));
    report.feature_extractor_accuracy = Accuracy(x.model, on_eval, eval);
    extractor = std::move(x);
  }

  // Models per seed: the swept losses (CE always: the detection baselines and
  // the decision's CE policies need it), then the decision models.
  std::vector<Loss> curve_losses = o.losses;
  if (std::find(curve_losses.begin(), curve_losses.end(), Loss::kCrossEntropy) == curve_losses.end())
    curve_losses.insert(curve_losses.begin(), Loss::kCrossEntropy);
  std::vector<Loss> all_losses = curve_losses;
  if (o.decision == Decision::kOn) all_losses.insert(all_losses.end(), {Loss::kReward, Loss::kAbstainClass});

  std::vector<std::vector<double>> severities;
  for (size_t s = 0; s < o.shifts.size(); ++s)
    severities.push_back(Sorted(o.severities.empty() ? DefaultSeverities(o.shifts[s]) : o.severities[s]));
  size_t total = 0, done = 0;
  for (const auto& v : severities) total += v.size() * static_cast<size_t>(o.seeds);

  std::map<Loss, std::vector<double>> accuracies;
  std::map<std::pair<Shift, double>, std::vector<std::vector<double>>> detection;  // per seed, per score
  std::vector<std::string> detection_names;
  for (int k = 0; k < o.seeds; ++k) {
    const uint64_t seed = o.seed + static_cast<uint64_t>(k);
    // --- train ---
    SeedModels sm;
    sm.losses = all_losses;
    ImageSet train = Subsample(data.train_pool, o.train_size, seed);
    for (size_t m = 0; m < all_losses.size(); ++m) {
      TrainOptions t = o.train;
      t.loss = all_losses[m];
      t.seed = seed * 16 + m;
      std::string stage = fmt::format("seed {}/{}: training {} {} ({}/{})", k + 1, o.seeds, ArchName(t.arch),
                                      LossName(t.loss), m + 1, all_losses.size());
      auto model = TrainClassifier(train, t, stage_progress(stage));
      if (!model) return std::unexpected(model.error().WithContext(stage));
      sm.models.push_back(std::move(*model));
    }
    const Classifier& ce = sm.models[sm.index(Loss::kCrossEntropy)];
    LMLAB_ASSIGN_OR_RETURN(Predictions calib_logits, Predict(ce, data.calib, o.train.threads));
    const double temperature = FitTemperature(calib_logits, data.calib);
    if (k == 0) report.temperature = temperature;

    std::vector<Predictions> clean;
    for (size_t m = 0; m < sm.models.size(); ++m) {
      LMLAB_ASSIGN_OR_RETURN(Predictions p, Predict(sm.models[m], eval, o.train.threads));
      accuracies[all_losses[m]].push_back(Accuracy(sm.models[m], p, eval));
      if (k == 0) {
        ModelSummary s;
        s.loss = all_losses[m];
        s.final_train_loss = sm.models[m].final_train_loss;
        s.ocs = all_losses[m] == Loss::kGaussianNll
                    ? std::vector<double>{sm.models[m].ocs_mean, sm.models[m].ocs_var}
                    : sm.models[m].ocs;
        report.models.push_back(std::move(s));
      }
      report.models[m].train_seconds += sm.models[m].train_seconds;
      clean.push_back(std::move(p));
    }

    // --- sweep ---
    for (size_t s = 0; s < o.shifts.size(); ++s) {
      const Shift shift = o.shifts[s];
      const std::vector<double>& sev = severities[s];
      std::vector<Curve> curves(curve_losses.size());
      for (size_t m = 0; m < curve_losses.size(); ++m) curves[m] = {curve_losses[m], shift, seed, {}, 0};
      auto tick = [&](double severity) {
        Report(progress, {fmt::format("seed {}/{}: evaluating shifts", k + 1, o.seeds), static_cast<double>(done),
                          static_cast<double>(total), "severities",
                          fmt::format("{} {}", ShiftName(shift), severity)});
      };

      if (shift == Shift::kFgsm) {
        // Each model is attacked through its own gradients, so every model
        // sees its own adversarial images (and they get their own OOD score).
        std::vector<int> steps;
        for (double v : sev) steps.push_back(static_cast<int>(v));
        for (size_t m = 0; m < curve_losses.size(); ++m) {
          tick(sev.back());
          LMLAB_ASSIGN_OR_RETURN(std::vector<ImageSet> attacked,
                                 Fgsm(sm.models[m], fgsm_eval, steps, {.threads = o.train.threads}));
          for (size_t j = 0; j < sev.size(); ++j) {
            LMLAB_ASSIGN_OR_RETURN(Predictions p, Predict(sm.models[m], attacked[j], o.train.threads));
            SeverityPoint pt = Measure(sm.models[m], p, attacked[j], sev[j], o.distance);
            if (extractor) {
              LMLAB_ASSIGN_OR_RETURN(OodScore score, ScoreAgainstClean(*extractor, attacked[j], o));
              pt.ood_score = score.score;
              pt.ood_auroc = score.auroc;
            }
            curves[m].points.push_back(std::move(pt));
          }
        }
        done += sev.size();
      } else {
        const size_t mid = sev.size() / 2;
        for (size_t j = 0; j < sev.size(); ++j) {
          tick(sev[j]);
          LMLAB_ASSIGN_OR_RETURN(ImageSet shifted, ApplyShift(eval, shift, sev[j], seed * 1000 + 100 + s, &data.other));
          OodScore score;
          if (extractor) {
            LMLAB_ASSIGN_OR_RETURN(score, ScoreAgainstClean(*extractor, shifted, o));
          }
          std::vector<Predictions> preds;
          for (size_t m = 0; m < sm.models.size(); ++m) {
            LMLAB_ASSIGN_OR_RETURN(Predictions p, Predict(sm.models[m], shifted, o.train.threads));
            preds.push_back(std::move(p));
          }
          for (size_t m = 0; m < curve_losses.size(); ++m) {
            SeverityPoint pt = Measure(sm.models[m], preds[m], shifted, sev[j], o.distance);
            if (extractor) pt.ood_score = score.score, pt.ood_auroc = score.auroc;
            curves[m].points.push_back(std::move(pt));
          }
          if (j == mid && sev[j] > 0) {
            LMLAB_ASSIGN_OR_RETURN(auto row, DetectionAurocs(sm, curve_losses.size(), clean, preds, o.distance));
            auto& slot = detection[{shift, sev[j]}];
            if (slot.empty()) slot.resize(row.size());
            detection_names.clear();
            for (size_t r = 0; r < row.size(); ++r) slot[r].push_back(row[r].second), detection_names.push_back(row[r].first);
          }
          if (o.decision == Decision::kOn) {
            RewardPoint r = Decide(sm, preds, shifted, temperature);
            r.seed = seed;
            r.shift = shift;
            r.severity = sev[j];
            r.ood_score = extractor ? score.score : kNaN;
            report.rewards.push_back(r);
          }
          ++done;
        }
      }
      for (size_t m = 0; m < curve_losses.size(); ++m) {
        std::vector<double> x, y;
        for (const auto& p : curves[m].points)
          x.push_back(o.axis == Axis::kOodScore ? p.ood_score : p.severity), y.push_back(p.ocs_distance);
        curves[m].spearman = Spearman(x, y);
        report.curves.push_back(std::move(curves[m]));
      }
    }
  }
  Report(progress, {"evaluating shifts", static_cast<double>(total), static_cast<double>(total), "severities", ""});

  for (auto& m : report.models) m.test_accuracy = Summarise(accuracies[m.loss]);

  report.summary = SummariseCurves(report.curves, curve_losses, o.shifts, severities, o.axis);
  for (const auto& [key, scores] : detection) {
    DetectionRow row{key.first, key.second, {}};
    for (size_t r = 0; r < scores.size() && r < detection_names.size(); ++r)
      row.auroc.emplace_back(detection_names[r], Summarise(scores[r]).mean);
    report.detection.push_back(std::move(row));
  }
  // Keep the detection rows in the order of the shifts.
  std::stable_sort(report.detection.begin(), report.detection.end(), [&](const DetectionRow& a, const DetectionRow& b) {
    auto pos = [&](Shift s) { return std::find(o.shifts.begin(), o.shifts.end(), s) - o.shifts.begin(); };
    return pos(a.shift) < pos(b.shift);
  });
  if (o.decision == Decision::kOn && o.axis == Axis::kOodScore) report.reward_bins = BinRewards(report.rewards);
  // A policy that (almost) never acts, or never abstains where it could,
  // says nothing about reversion: name it instead of letting its row pass.
  if (!report.rewards.empty()) {
    for (Policy policy : {Policy::kRewardModel, Policy::kAbstainClass}) {
      const int k = static_cast<int>(policy);
      double abstain = 0;
      for (const auto& w : report.rewards) abstain += w.abstain[k] / static_cast<double>(report.rewards.size());
      const Loss loss = policy == Policy::kRewardModel ? Loss::kReward : Loss::kAbstainClass;
      double accuracy = kNaN;
      for (const auto& m : report.models)
        if (m.loss == loss) accuracy = m.test_accuracy.mean;
      if (abstain >= 0.98)
        report.warnings.push_back(fmt::format(
            "the {} abstained on {:.1f}% of all images, clean ones included (its clean accuracy {:.1f}%): its row "
            "measures under-training, not the shift; train longer (--epochs, --train-size)",
            PolicyName(policy), 100 * abstain, 100 * accuracy));
    }
  }
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return report;
}

}  // namespace lmlab::ood
