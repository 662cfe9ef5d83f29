// Small image classifiers for the OOD lab, trained on the CPU with ggml's
// optimizer (ggml-opt: AdamW over a static ggml graph), evaluated with Eigen.
// One architecture (MLP or CNN) and one loss per model:
//   kCrossEntropy  10 logits, softmax cross-entropy on the class.
//   kMse           10 outputs, mean squared error against the one-hot class.
//   kGaussianNll   2 outputs (mean, log-variance) of a regression target
//                  y = (class index - 4.5) / 2.8723, the class index
//                  standardised over the 10 classes (see docs/ood.md for why).
//   kReward        10 outputs, MSE against the reward of each "predict class c"
//                  action (+1 if c is right, -4 if wrong); abstaining is worth 0.
//
//   TrainOptions o{.arch = Arch::kMlp, .loss = Loss::kCrossEntropy, .epochs = 1};
//   LMLAB_ASSIGN_OR_RETURN(Classifier model, TrainClassifier(train_set, o, progress));
//   Predictions p = Predict(model, test_set);   // p.outputs: [n, model.n_outputs]
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "lmlab/core/error.h"
#include "lmlab/core/progress.h"
#include "lmlab/ood/datasets.h"

namespace lmlab::ood {

enum class Arch { kMlp, kCnn };
enum class Loss { kCrossEntropy, kMse, kGaussianNll, kReward };

std::string_view ArchName(Arch a);  // "mlp", "cnn"
std::string_view LossName(Loss l);  // "ce", "mse", "nll", "reward"
Result<Arch> ParseArch(std::string_view s);
Result<Loss> ParseLoss(std::string_view s);

// Rewards of the risk-sensitive decision (Kang et al. 2023, selective classification).
inline constexpr double kRewardRight = 1.0;
inline constexpr double kRewardWrong = -4.0;
inline constexpr double kRewardAbstain = 0.0;

// The regression target of kGaussianNll for class `label`.
double RegressionTarget(int32_t label);

struct TrainOptions {
  Arch arch = Arch::kMlp;
  Loss loss = Loss::kCrossEntropy;
  int epochs = 2;
  int batch = 128;
  float learning_rate = 2e-3f;
  float weight_decay = 0.0f;
  int mlp_hidden1 = 128;   // MLP: 784 -> hidden1 -> hidden2 -> outputs, ReLU
  int mlp_hidden2 = 64;
  int cnn_channels1 = 8;   // CNN: conv3x3(c1) relu pool2 -> conv3x3(c2) relu pool2 -> dense
  int cnn_channels2 = 16;
  uint64_t seed = 1;
  int threads = 0;         // 0 = the idle cores (core/threads.h ResolveThreads)
};

// One dense or convolutional layer's parameters, in ggml's memory order.
struct Layer {
  std::vector<int64_t> shape;  // dense [in, out]; conv [kw, kh, in_ch, out_ch] (ggml ne order)
  std::vector<float> weight;   // dense: w[o * in + i]; conv: w[((oc * in_ch + ic) * kh + ky) * kw + kx]
  std::vector<float> bias;     // [out] or [out_ch]
};

struct Classifier {
  Arch arch = Arch::kMlp;
  Loss loss = Loss::kCrossEntropy;
  int n_outputs = kNumClasses;
  std::vector<Layer> layers;   // MLP: 3 dense; CNN: 2 conv + 1 dense
  // The OCS measured on the training set: the label marginal [n_classes]
  // (CE, MSE), the mean reward of each action [n_classes] (kReward), or the
  // target's mean and variance (NLL, in ocs_mean / ocs_var).
  std::vector<double> ocs;
  double ocs_mean = 0, ocs_var = 1;
  double train_seconds = 0;
  double final_train_loss = 0;
};

struct Predictions {
  int n_outputs = 0;
  std::vector<float> outputs;                    // [n, n_outputs]: logits, scores, or (mean, log-variance)
  std::vector<std::string> feature_names;        // ["dense1", "dense2"] or ["conv1", "conv2"]
  std::vector<std::vector<float>> feature_norms; // [n_feature_layers, n]: L2 norm of each hidden layer's activation
};

// Trains on `train` (truncated to a whole number of batches). kInvalidArgument
// for bad options or an empty set.
Result<Classifier> TrainClassifier(const ImageSet& train, const TrainOptions& options,
                                   const ProgressCallback& progress = {});

// Forward pass of every image, in order.
Predictions Predict(const Classifier& model, const ImageSet& images);

// Fraction of images whose argmax output (CE, MSE, kReward) or rounded
// regression mean (NLL) is the label.
double Accuracy(const Classifier& model, const Predictions& p, const ImageSet& images);

}  // namespace lmlab::ood
