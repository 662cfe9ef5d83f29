// Training through ggml-opt and evaluation through the same ggml graph: the
// numbers that must hold for the lab to mean anything, the input gradients
// against finite differences, and FGSM raising the loss it attacks.
#include "lmlab/ood/classifier.h"

#include <gtest/gtest.h>

#include <cmath>
#include <numeric>

#include "lmlab/ood/adversarial.h"
#include "lmlab/ood/ocs.h"

namespace lmlab::ood {
namespace {

const ImageSet& FashionTrain() {
  static const ImageSet set = [] {
    auto s = LoadFashionMnist(Split::kTrain);
    EXPECT_TRUE(s) << s.error().ToString();
    return s ? *s : ImageSet{};
  }();
  return set;
}
const ImageSet& FashionTest() {
  static const ImageSet set = [] {
    auto s = LoadFashionMnist(Split::kTest);
    EXPECT_TRUE(s) << s.error().ToString();
    return s ? *s : ImageSet{};
  }();
  return set;
}

double Mean(const std::vector<double>& v) { return std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(v.size()); }

// The acceptance bar: an MLP reaches >= 85% on the whole Fashion-MNIST test set.
TEST(Classifier, MlpReaches85PercentOnFashionMnist) {
  // Defaults: 2 epochs, batch 128, AdamW lr 2e-3 (about 2 s on one core).
  TrainOptions o{.arch = Arch::kMlp, .loss = Loss::kCrossEntropy, .threads = 1};
  auto model = TrainClassifier(FashionTrain(), o);
  ASSERT_TRUE(model) << model.error().ToString();
  auto p = Predict(*model, FashionTest(), 1);
  ASSERT_TRUE(p) << p.error().ToString();
  double acc = Accuracy(*model, *p, FashionTest());
  std::printf("MLP CE accuracy %.4f, trained in %.2f s\n", acc, model->train_seconds);
  EXPECT_GE(acc, 0.85);
  // The OCS of a balanced training set is uniform.
  for (double v : model->ocs) EXPECT_NEAR(v, 0.1, 0.01);
  // Hidden layers and the penultimate features come back with the outputs.
  EXPECT_EQ(p->feature_norms.size(), 2u);
  EXPECT_EQ(p->feature_dim, 64);
  EXPECT_EQ(p->features.size(), static_cast<size_t>(FashionTest().size()) * 64);
}

// The paper's MNIST CNN: conv 3x3 (32), conv 3x3 (64), max-pool, dense 128,
// dense outputs; a short training run already beats chance by far.
TEST(Classifier, PaperCnnHasThePapersShapeAndLearns) {
  ImageSet train = Subsample(FashionTrain(), 1280, 1), test = Subsample(FashionTest(), 256, 2);
  TrainOptions o{.arch = Arch::kPaperCnn, .loss = Loss::kCrossEntropy, .epochs = 1, .threads = 1};
  auto model = TrainClassifier(train, o);
  ASSERT_TRUE(model) << model.error().ToString();
  ASSERT_EQ(model->layers.size(), 4u);
  EXPECT_EQ(model->layers[0].shape, (std::vector<int64_t>{3, 3, 1, 32}));
  EXPECT_EQ(model->layers[1].shape, (std::vector<int64_t>{3, 3, 32, 64}));
  EXPECT_EQ(model->layers[2].shape, (std::vector<int64_t>{9216, 128}));
  EXPECT_EQ(model->layers[3].shape, (std::vector<int64_t>{128, 10}));
  auto p = Predict(*model, test, 1);
  ASSERT_TRUE(p) << p.error().ToString();
  EXPECT_GE(Accuracy(*model, *p, test), 0.5);
  EXPECT_EQ(p->feature_dim, 128);
  EXPECT_EQ(p->feature_names, (std::vector<std::string>{"conv1", "conv2", "dense1"}));
}

// The 11-output decision models: the reward model's OCS is each action's
// mean reward (5 p(y) - 4 for a class, 0 for abstaining); xent+1's is the
// label marginal with nothing on "abstain".
TEST(Classifier, DecisionModelsHaveElevenOutputsAndTheirOcs) {
  ImageSet train = Subsample(FashionTrain(), 2560, 3);
  auto reward = TrainClassifier(train, {.arch = Arch::kMlp, .loss = Loss::kReward, .epochs = 1, .threads = 1});
  ASSERT_TRUE(reward) << reward.error().ToString();
  EXPECT_EQ(reward->n_outputs, 11);
  ASSERT_EQ(reward->ocs.size(), 11u);
  EXPECT_NEAR(reward->ocs[0], 5 * 0.1 - 4, 0.06);
  EXPECT_EQ(reward->ocs[kAbstainAction], 0.0);
  auto xent1 = TrainClassifier(train, {.arch = Arch::kMlp, .loss = Loss::kAbstainClass, .epochs = 1, .threads = 1});
  ASSERT_TRUE(xent1);
  ASSERT_EQ(xent1->ocs.size(), 11u);
  EXPECT_EQ(xent1->ocs[kAbstainAction], 0.0);
  auto p = Predict(*xent1, Subsample(FashionTest(), 200, 4), 1);
  ASSERT_TRUE(p);
  // Never a target, the abstain logit is pushed below the best class.
  int abstains = 0;
  for (int64_t i = 0; i < 200; ++i) {
    const float* o = p->outputs.data() + i * 11;
    abstains += std::max_element(o, o + 11) - o == kAbstainAction;
  }
  EXPECT_EQ(abstains, 0);
}

// d loss / d pixel from the ggml backward pass against central differences
// of PerImageLoss, for every loss and architecture.
TEST(Classifier, InputGradientsMatchFiniteDifferences) {
  ImageSet train = Subsample(FashionTrain(), 1280, 5);
  ImageSet probe = Subsample(FashionTest(), 3, 6);
  struct Case {
    Arch arch;
    Loss loss;
  };
  for (Case c : {Case{Arch::kMlp, Loss::kCrossEntropy}, Case{Arch::kMlp, Loss::kMse},
                 Case{Arch::kMlp, Loss::kGaussianNll}, Case{Arch::kMlp, Loss::kReward},
                 Case{Arch::kMlp, Loss::kAbstainClass}, Case{Arch::kCnn, Loss::kCrossEntropy},
                 Case{Arch::kPaperCnn, Loss::kCrossEntropy}}) {
    SCOPED_TRACE(std::string(ArchName(c.arch)) + " " + std::string(LossName(c.loss)));
    auto model = TrainClassifier(train, {.arch = c.arch, .loss = c.loss, .epochs = 1, .threads = 1});
    ASSERT_TRUE(model) << model.error().ToString();
    auto grad = InputGradients(*model, probe, 1);
    ASSERT_TRUE(grad) << grad.error().ToString();
    ASSERT_EQ(grad->size(), probe.pixels.size());
    // The pixel of image 0 with the largest gradient, nudged both ways.
    size_t best = 0;
    for (size_t p = 0; p < kImagePixels; ++p)
      if (std::abs((*grad)[p]) > std::abs((*grad)[best])) best = p;
    const float h = 2e-3f;
    auto loss_at = [&](float delta) {
      ImageSet moved = probe;
      moved.pixels[best] += delta;
      auto p = Predict(*model, moved, 1);
      return PerImageLoss(*model, *p, moved)[0];
    };
    const double numeric = (loss_at(h) - loss_at(-h)) / (2 * h);
    EXPECT_NEAR((*grad)[best], numeric, 0.05 * std::abs(numeric) + 1e-3) << "pixel " << best;
    EXPECT_GT(std::abs((*grad)[best]), 1e-4);
    // Images are independent: image 1's gradient does not depend on image 0.
    ImageSet other = probe;
    for (int p = 0; p < kImagePixels; ++p) other.pixels[p] = 0.5f;
    auto grad2 = InputGradients(*model, other, 1);
    ASSERT_TRUE(grad2);
    for (size_t p = kImagePixels; p < 2 * kImagePixels; ++p) ASSERT_NEAR((*grad2)[p], (*grad)[p], 1e-5);
  }
}

// The counterexample's attack: each FGSM step raises the loss it follows,
// and the images stay valid ([0, 1], within steps x step of the original).
TEST(Classifier, FgsmRaisesTheLossOfTheAttackedImages) {
  ImageSet train = Subsample(FashionTrain(), 6400, 7), test = Subsample(FashionTest(), 200, 8);
  for (Loss loss : {Loss::kCrossEntropy, Loss::kMse, Loss::kGaussianNll}) {
    SCOPED_TRACE(std::string(LossName(loss)));
    auto model = TrainClassifier(train, {.arch = Arch::kMlp, .loss = loss, .epochs = 2, .threads = 1});
    ASSERT_TRUE(model);
    const std::vector<int> steps = {0, 1, 3};
    auto attacked = Fgsm(*model, test, steps, {.threads = 1});
    ASSERT_TRUE(attacked) << attacked.error().ToString();
    ASSERT_EQ(attacked->size(), 3u);
    EXPECT_EQ((*attacked)[0].pixels, test.pixels);
    std::vector<double> losses;
    for (size_t k = 0; k < steps.size(); ++k) {
      const ImageSet& a = (*attacked)[k];
      for (size_t p = 0; p < a.pixels.size(); ++p) {
        ASSERT_GE(a.pixels[p], 0.0f);
        ASSERT_LE(a.pixels[p], 1.0f);
        ASSERT_LE(std::abs(a.pixels[p] - test.pixels[p]), steps[k] * kFgsmPaperStep + 1e-5);
      }
      auto p = Predict(*model, a, 1);
      ASSERT_TRUE(p);
      losses.push_back(Mean(PerImageLoss(*model, *p, a)));
    }
    EXPECT_GT(losses[1], losses[0] * 1.1) << losses[0] << " -> " << losses[1];
    EXPECT_GT(losses[2], losses[1]) << losses[1] << " -> " << losses[2];
  }
  const std::vector<int> bad = {2, 1};
  EXPECT_FALSE(Fgsm(Classifier{}, test, bad));
}

}  // namespace
}  // namespace lmlab::ood
