// The classifier experiment of Kang et al. 2023 ("Deep Neural Networks Tend
// to Extrapolate Predictably", arXiv 2310.00873), end to end: train one model
// per loss and seed, shift the test images step by step, and measure how far
// predictions sit from the optimal constant solution (OCS) against how
// out-of-distribution the inputs are; plus the two uses of that reversion:
// OOD detection and risk-sensitive abstention.
//
// The paper protocol (the default): the paper's distance KL(f || OCS), its
// OOD score as the x axis (ood/ood_score.h, on a separately trained feature
// extractor), the five CIFAR-10-C corruptions at five severities and FGSM
// (the counterexample), the paper's MNIST CNN, five seeds, and the decision
// experiment with the 11-output reward model, xent+1 and a per-level oracle
// temperature. LmlabProtocol() is lmlab's earlier study.
//
//   ClassifierExperimentOptions o = PaperProtocol(Dataset::kMnist);
//   LMLAB_ASSIGN_OR_RETURN(ClassifierReport r, RunClassifierExperiment(o, progress));
//   r.summary[0].spearman_ood_score;   // < 0: distance to the OCS falls as the OOD score rises
#pragma once

#include <array>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "lmlab/core/error.h"
#include "lmlab/core/progress.h"
#include "lmlab/ood/classifier.h"
#include "lmlab/ood/ocs.h"
#include "lmlab/ood/ood_score.h"
#include "lmlab/ood/shifts.h"

namespace lmlab::ood {

enum class Dataset { kFashionMnist, kMnist };
std::string_view DatasetName(Dataset d);  // "fashion-mnist", "mnist"
Result<Dataset> ParseDataset(std::string_view s);

// Whether to run the risk-sensitive decision (trains two more models per seed).
enum class Decision { kOff, kOn };

// What the curves are read against: Kang et al.'s OOD score, or the shift's
// severity knob (lmlab's earlier axis; no feature extractor is trained).
enum class Axis { kOodScore, kSeverity };
std::string_view AxisName(Axis a);  // "ood-score", "severity"
Result<Axis> ParseAxis(std::string_view s);

inline constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// The OOD score's feature extractor, whatever the swept models are: lmlab's
// small CNN, whose penultimate layer (784 pooled convolution features) keeps
// the low-level image statistics the corruptions change (the MLP's 64 and the
// paper CNN's 128 dense features mostly do not; docs/ood.md).
inline constexpr Arch kFeatureExtractorArch = Arch::kCnn;
// It is trained once per run, with CE, on at most this many training images
// for two epochs (TrainOptions' other defaults), whatever the swept models use.
inline constexpr int64_t kFeatureTrainImages = 12000;

struct ClassifierExperimentOptions {
  Dataset dataset = Dataset::kFashionMnist;  // in-distribution; kDataset blends in the other one
  std::vector<Loss> losses = {Loss::kCrossEntropy, Loss::kMse, Loss::kGaussianNll};
  std::vector<Shift> shifts = PaperShifts();
  // Severities per shift; empty = DefaultSeverities. Same order as `shifts`.
  std::vector<std::vector<double>> severities;
  // The paper's MNIST batch of 64; far fewer epochs and images than its 5 x
  // 60,000 (a CPU budget; docs/ood.md). train.loss and train.seed are set per model.
  TrainOptions train = {.arch = Arch::kPaperCnn, .epochs = 2, .batch = 64};
  int64_t train_size = 6000;   // training images per model (a random subset per seed)
  int64_t eval_size = 500;     // test images per severity
  int64_t fgsm_size = 200;     // of those, attacked per model (one backward pass per image and step)
  Decision decision = Decision::kOn;
  Distance distance = Distance::kPaper;
  Axis axis = Axis::kOodScore;
  int seeds = 5;               // models trained per loss: seeds seed, seed + 1, ...
  uint64_t seed = 1;
  OodScoreOptions ood_score;
};

// The defaults above, for `dataset`.
ClassifierExperimentOptions PaperProtocol(Dataset dataset = Dataset::kFashionMnist);
// lmlab's earlier study: the MLP, lmlab's six shifts, KL(OCS || f), the
// severity axis, one seed, 60,000 training and 2,000 test images.
ClassifierExperimentOptions LmlabProtocol(Dataset dataset = Dataset::kFashionMnist);

// One severity of one shift for one model and seed. Distances are to the
// model's OCS, per input, averaged: KL for CE (the options' convention),
// squared error for MSE, Gaussian KL for NLL.
struct SeverityPoint {
  double severity = 0;
  double ood_score = kNaN;              // Kang et al.'s OOD score of these inputs (NaN on the severity axis)
  double ood_auroc = kNaN;              // the score's held-out AUROC, clean vs these inputs
  double ocs_distance = 0;              // mean over inputs of D(f(x), OCS)
  double mean_prediction_distance = 0;  // D(mean over inputs of f(x), OCS)
  double accuracy = 0;
  double loss = 0;                      // mean per-image training loss (PerImageLoss)
  std::optional<double> max_softmax;    // CE: softmax; MSE: clipped outputs renormalised; else none
  std::optional<double> entropy;        // of the same distribution, nats
  std::vector<double> feature_norms;    // mean L2 norm per hidden layer [n_feature_layers]
};

struct Curve {
  Loss loss = Loss::kCrossEntropy;
  Shift shift = Shift::kRotation;
  uint64_t seed = 1;
  std::vector<SeverityPoint> points;
  // Spearman(axis, ocs_distance) for this seed. Reversion to the OCS makes
  // it negative: -1 means the distance falls at every step.
  double spearman = 0;
};

struct MeanStd {
  double mean = kNaN, std = kNaN;  // the standard deviation over seeds (n - 1 in the denominator; 0 for one seed)
};

struct SummaryPoint {
  double severity = 0;
  MeanStd ood_score, distance, relative_distance, accuracy, last_feature_norm;
};

// One (loss, shift) over all seeds: mean +- std at every severity, and the
// Spearman correlation of distance with the OOD score and with severity over
// all seeds' points pooled.
struct CurveSummary {
  Loss loss = Loss::kCrossEntropy;
  Shift shift = Shift::kRotation;
  std::vector<SummaryPoint> points;
  double spearman_ood_score = kNaN;
  double spearman_severity = kNaN;
  MeanStd seed_spearman;  // of the per-seed Spearman along the options' axis
};

// OOD detection: in-distribution test images (negatives) vs the same images
// shifted (positives), mean over seeds. Each score is oriented so higher =
// "more OOD": -D(f(x), OCS) per loss, 1 - max-softmax and entropy of the CE model.
struct DetectionRow {
  Shift shift = Shift::kRotation;
  double severity = 0;
  std::vector<std::pair<std::string, double>> auroc;  // ("ocs-ce", 0.81), ("msp-ce", 0.78), ...
};

// The risk-sensitive decision: predict one of ten classes (+1 right, -4
// wrong) or abstain (0).
enum class Policy {
  kRewardModel,      // Kang et al.: 11 outputs trained with MSE on each action's reward; argmax
  kAbstainClass,     // their "xent+1" baseline: 11-way cross-entropy, argmax (abstain = the 11th class)
  kOracle,           // their oracle: CE with per-class temperatures fitted on each shifted level's own
                     // labels; predicts when max p > 0.8 (the break-even confidence), else abstains
  kCeTemperature,    // lmlab's earlier baseline: one temperature fitted in distribution, same threshold
  kCeNeverAbstains,  // CE argmax
};
inline constexpr int kPolicies = 5;
std::string_view PolicyName(Policy p);  // "reward model", "xent+1", "oracle CE+T", "CE+T (in-dist.)", "CE"

struct RewardPoint {
  uint64_t seed = 1;
  Shift shift = Shift::kRotation;
  double severity = 0;
  double ood_score = kNaN;
  std::array<double, kPolicies> reward{};   // mean reward per image, by Policy
  std::array<double, kPolicies> abstain{};  // share of images abstained on
};

// Mean reward of each policy over every (seed, shift, severity) whose OOD
// score falls in [lo, hi).
struct RewardBin {
  double lo = 0, hi = 1;
  int64_t points = 0;
  std::array<MeanStd, kPolicies> reward;
  std::array<double, kPolicies> abstain{};
};

struct ModelSummary {
  Loss loss = Loss::kCrossEntropy;
  MeanStd test_accuracy;      // on the unshifted evaluation images
  double train_seconds = 0;   // all seeds
  double final_train_loss = 0;  // first seed
  std::vector<double> ocs;    // first seed: label marginal or mean rewards; NLL: {mean, variance}
};

struct ClassifierReport {
  std::string dataset, other_dataset, arch;
  Distance distance = Distance::kPaper;
  Axis axis = Axis::kOodScore;
  int64_t train_size = 0, eval_size = 0, fgsm_size = 0;
  int seeds = 1;
  double feature_extractor_accuracy = kNaN;  // the OOD score's extractor, on clean test images
  std::vector<ModelSummary> models;
  std::vector<Curve> curves;            // one per (seed, loss, shift)
  std::vector<CurveSummary> summary;    // one per (loss, shift)
  std::vector<DetectionRow> detection;
  std::vector<RewardPoint> rewards;     // empty when Decision::kOff
  std::vector<RewardBin> reward_bins;   // empty unless the decision runs on the OOD-score axis
  double temperature = 1;               // the in-distribution temperature of the first seed's CE model
  double seconds = 0;                   // wall clock of the whole run
  // What degenerated, in words (a decision policy that abstained on almost
  // everything measured nothing about the shift); empty when nothing did.
  std::vector<std::string> warnings;
};

Result<ClassifierReport> RunClassifierExperiment(const ClassifierExperimentOptions& options,
                                                 const ProgressCallback& progress = {});

// Lower-level pieces, also used by the tests.

// Per-input D(f(x), OCS) for a model's outputs in convention `d`: [n].
std::vector<double> OcsDistances(const Classifier& model, const Predictions& p, Distance d = Distance::kPaper);

// One SeverityPoint from predictions on a (shifted) set.
SeverityPoint Measure(const Classifier& model, const Predictions& p, const ImageSet& images, double severity,
                      Distance d = Distance::kPaper);

// The temperature T in [0.25, 10] minimising the NLL of softmax(logits / T)
// on held-out labelled images (grid search then refinement).
double FitTemperature(const Predictions& logits, const ImageSet& images);

// Per-class temperatures T_c minimising the NLL of softmax(logits_c / T_c)
// on labelled images, as Kang et al.'s ModelWithTemperature fits them (there
// with L-BFGS from 1.5; here Newton's method on 1 / T_c, where the NLL is
// convex). Only the first 10 outputs are used. [10]
std::vector<double> FitClassTemperatures(const Predictions& logits, const ImageSet& images);

// Mean and sample standard deviation of `values` (NaN entries skipped).
MeanStd Summarise(std::span<const double> values);

// The bins of the decision table: `n_bins` bins with edges at quantiles of
// the points' OOD scores (each holds about as many points; the last is closed).
std::vector<RewardBin> BinRewards(std::span<const RewardPoint> points, int n_bins = 5);

}  // namespace lmlab::ood
