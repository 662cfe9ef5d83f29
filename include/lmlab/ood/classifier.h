// Small image classifiers for the OOD lab, on the CPU with ggml: trained with
// ggml's optimizer (ggml-opt: AdamW over a static ggml graph), evaluated with
// the same ggml graph (forward pass, hidden activations, and the gradient of
// the loss with respect to the input for adversarial examples). One
// architecture and one loss per model:
//   kCrossEntropy  10 logits, softmax cross-entropy on the class.
//   kMse           10 outputs, mean squared error against the one-hot class.
//   kGaussianNll   2 outputs (mean, log-variance) of a regression target
//                  y = (class index - 4.5) / 2.8723, the class index
//                  standardised over the 10 classes (see docs/ood.md for why).
//   kReward        11 outputs, MSE against the reward of each action: "predict
//                  class c" (+1 if c is right, -4 if wrong) and "abstain" (0),
//                  the last output (Kang et al.'s reward-prediction model).
//   kAbstainClass  11 logits, softmax cross-entropy on the class; the 11th
//                  ("abstain") is never a target (Kang et al.'s "xent+1").
//
//   TrainOptions o{.arch = Arch::kPaperCnn, .loss = Loss::kCrossEntropy, .epochs = 1};
//   LMLAB_ASSIGN_OR_RETURN(Classifier model, TrainClassifier(train_set, o, progress));
//   LMLAB_ASSIGN_OR_RETURN(Predictions p, Predict(model, test_set));   // p.outputs: [n, model.n_outputs]
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "lmlab/core/error.h"
#include "lmlab/core/progress.h"
#include "lmlab/ood/datasets.h"

namespace lmlab::ood {

// kMlp       784 -> hidden1 -> hidden2 -> outputs, ReLU.
// kCnn       conv3x3(c1, pad 1) relu pool2 -> conv3x3(c2, pad 1) relu pool2 -> dense.
// kPaperCnn  the CNN of Kang et al.'s MNIST experiment (PyTorch's MNIST
//            example without dropout): conv3x3(32) relu -> conv3x3(64) relu ->
//            maxpool2 -> dense 9216 -> 128 relu -> dense outputs (no padding).
enum class Arch { kMlp, kCnn, kPaperCnn };
enum class Loss { kCrossEntropy, kMse, kGaussianNll, kReward, kAbstainClass };

std::string_view ArchName(Arch a);  // "mlp", "cnn", "paper-cnn"
std::string_view LossName(Loss l);  // "ce", "mse", "nll", "reward", "xent+1"
Result<Arch> ParseArch(std::string_view s);
Result<Loss> ParseLoss(std::string_view s);

// Rewards of the risk-sensitive decision (Kang et al. 2023, selective classification).
inline constexpr double kRewardRight = 1.0;
inline constexpr double kRewardWrong = -4.0;
inline constexpr double kRewardAbstain = 0.0;
inline constexpr int kAbstainAction = kNumClasses;  // the 11th output of kReward and kAbstainClass

// Outputs of a model trained with `loss`: 2 (NLL), 11 (kReward, kAbstainClass) or 10.
int OutputsFor(Loss loss);

// The regression target of kGaussianNll for class `label`.
double RegressionTarget(int32_t label);

struct TrainOptions {
  Arch arch = Arch::kMlp;
  Loss loss = Loss::kCrossEntropy;
  int epochs = 2;
  int batch = 128;
  float learning_rate = 2e-3f;
  float weight_decay = 0.0f;
  int mlp_hidden1 = 128;   // kMlp widths
  int mlp_hidden2 = 64;
  int cnn_channels1 = 8;   // kCnn channels
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
  std::vector<Layer> layers;   // kMlp: 3 dense; kCnn: 2 conv + 1 dense; kPaperCnn: 2 conv + 2 dense
  // The OCS measured on the training set: the label marginal [10] (CE, MSE;
  // [11] with 0 for "abstain" for kAbstainClass), the mean reward of each
  // action [11] (kReward), or the target's mean and variance (NLL, in
  // ocs_mean / ocs_var).
  std::vector<double> ocs;
  double ocs_mean = 0, ocs_var = 1;
  double train_seconds = 0;
  double final_train_loss = 0;
};

struct Predictions {
  int n_outputs = 0;
  std::vector<float> outputs;                    // [n, n_outputs]: logits, scores, or (mean, log-variance)
  std::vector<std::string> feature_names;        // the hidden layers, input side first
  std::vector<std::vector<float>> feature_norms; // [n_feature_layers, n]: L2 norm of each hidden layer's activation
  int feature_dim = 0;                           // width of the penultimate layer
  std::vector<float> features;                   // [n, feature_dim]: the penultimate layer's activations
};

// Trains on `train` (truncated to a whole number of batches). kInvalidArgument
// for bad options or an empty set.
Result<Classifier> TrainClassifier(const ImageSet& train, const TrainOptions& options,
                                   const ProgressCallback& progress = {});

// Forward pass of every image, in order. Pixel values need not lie in [0, 1]
// (adversarial images). `threads` 0 = all cores.
Result<Predictions> Predict(const Classifier& model, const ImageSet& images, int threads = 0);

// The training loss of each image under `model` (what FGSM ascends): CE
// -log p(y), squared error summed over outputs against the one-hot or reward
// target, or the Gaussian NLL without its constant. [n]
std::vector<double> PerImageLoss(const Classifier& model, const Predictions& p, const ImageSet& images);

// d loss / d pixel of every image, from the ggml graph's backward pass, for
// the same per-image loss as PerImageLoss: [n, 784].
Result<std::vector<float>> InputGradients(const Classifier& model, const ImageSet& images, int threads = 0);

// Fraction of images whose argmax class (CE, MSE; the argmax over the ten
// class outputs for kReward and kAbstainClass) or rounded regression mean
// (NLL) is the label.
double Accuracy(const Classifier& model, const Predictions& p, const ImageSet& images);

}  // namespace lmlab::ood
