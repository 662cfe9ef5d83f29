// The classifier experiment of Kang et al. 2023 ("Deep Neural Networks Tend
// to Extrapolate Predictably", arXiv 2310.00873), end to end: train one model
// per loss, sweep every shift's severity, and measure how far predictions
// sit from the optimal constant solution (OCS), plus the two uses of that
// reversion: OOD detection and risk-sensitive abstention.
//
//   ClassifierExperimentOptions o;            // Fashion-MNIST, MLP, CE/MSE/NLL
//   LMLAB_ASSIGN_OR_RETURN(ClassifierReport r, RunClassifierExperiment(o, progress));
//   r.curves[0].spearman;                     // < 0: distance to the OCS falls as severity grows
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "lmlab/core/error.h"
#include "lmlab/core/progress.h"
#include "lmlab/ood/classifier.h"
#include "lmlab/ood/shifts.h"

namespace lmlab::ood {

enum class Dataset { kFashionMnist, kMnist };
std::string_view DatasetName(Dataset d);  // "fashion-mnist", "mnist"
Result<Dataset> ParseDataset(std::string_view s);

// Whether to run the risk-sensitive decision (trains one more model).
enum class Decision { kOff, kOn };

struct ClassifierExperimentOptions {
  Dataset dataset = Dataset::kFashionMnist;  // in-distribution; kDataset blends in the other one
  std::vector<Loss> losses = {Loss::kCrossEntropy, Loss::kMse, Loss::kGaussianNll};
  std::vector<Shift> shifts = AllShifts();
  // Severities per shift; empty = DefaultSeverities. Same order as `shifts`.
  std::vector<std::vector<double>> severities;
  TrainOptions train;                 // arch, epochs, batch, ...; train.loss is set per model
  int64_t train_size = 60000;         // images used for training (a random subset)
  int64_t eval_size = 2000;           // test images per severity
  // The shift whose middle severity the OOD-detection table uses; every shift
  // gets a row at its middle default severity.
  Decision decision = Decision::kOn;
  uint64_t seed = 1;
};

// One severity of one shift for one model. Distances are D(OCS, f(x)) per
// input, averaged: KL(OCS || softmax) for CE, squared error for MSE and the
// reward model, Gaussian KL for NLL.
struct SeverityPoint {
  double severity = 0;
  double ocs_distance = 0;            // mean over inputs of D(OCS, f(x))
  double mean_prediction_distance = 0;  // D(OCS, mean over inputs of f(x))
  double accuracy = 0;
  std::optional<double> max_softmax;  // CE: softmax; MSE: clipped outputs renormalised; else none
  std::optional<double> entropy;      // of the same distribution, nats
  std::vector<double> feature_norms;  // mean L2 norm per hidden layer [n_feature_layers]
};

struct Curve {
  Loss loss = Loss::kCrossEntropy;
  Shift shift = Shift::kRotation;
  std::vector<SeverityPoint> points;
  // Spearman(severity, ocs_distance). Reversion to the OCS makes it
  // negative: -1 means the distance falls at every step.
  double spearman = 0;
};

// OOD detection: in-distribution test images (negatives) vs the same images
// shifted (positives). Each score is oriented so higher = "more OOD":
// -D(OCS, f(x)) per loss, 1 - max-softmax and entropy of the CE model.
struct DetectionRow {
  Shift shift = Shift::kRotation;
  double severity = 0;
  std::vector<std::pair<std::string, double>> auroc;  // ("ocs-ce", 0.81), ("msp-ce", 0.78), ...
};

// Risk-sensitive decision: 10 "predict class c" actions and abstain; +1
// right, -4 wrong, 0 abstain. Mean reward per image and the abstention rate.
struct RewardPoint {
  Shift shift = Shift::kRotation;
  double severity = 0;
  double reward_model = 0, abstain_model = 0;  // MSE reward predictor: argmax, abstain when all < 0
  double reward_ce = 0, abstain_ce = 0;        // CE + temperature: abstain when max p_T < 0.8
  double reward_ce_never_abstain = 0;          // CE argmax without abstaining
};

struct ModelSummary {
  Loss loss = Loss::kCrossEntropy;
  double test_accuracy = 0;   // on the unshifted evaluation images
  double train_seconds = 0;
  double final_train_loss = 0;
  std::vector<double> ocs;    // label marginal or mean rewards; NLL: {mean, variance}
};

struct ClassifierReport {
  std::string dataset, other_dataset, arch;
  int64_t train_size = 0, eval_size = 0;
  std::vector<ModelSummary> models;
  std::vector<Curve> curves;          // one per (loss, shift)
  std::vector<DetectionRow> detection;
  std::vector<RewardPoint> rewards;   // empty when Decision::kOff
  double temperature = 1;             // fitted on held-out training images
};

Result<ClassifierReport> RunClassifierExperiment(const ClassifierExperimentOptions& options,
                                                 const ProgressCallback& progress = {});

// Lower-level pieces, also used by the tests.

// Per-input D(OCS, f(x)) for a model's outputs: [n].
std::vector<double> OcsDistances(const Classifier& model, const Predictions& p);

// One SeverityPoint from predictions on a (shifted) set.
SeverityPoint Measure(const Classifier& model, const Predictions& p, const ImageSet& images, double severity);

// The temperature T in [0.25, 10] minimising the NLL of softmax(logits / T)
// on held-out labelled images (grid search then refinement).
double FitTemperature(const Predictions& logits, const ImageSet& images);

}  // namespace lmlab::ood
