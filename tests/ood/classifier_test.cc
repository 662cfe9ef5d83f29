// Training through ggml-opt and the Eigen forward pass: the numbers that
// must hold for the lab to mean anything.
#include "lmlab/ood/classifier.h"

#include <gtest/gtest.h>

#include <cmath>

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

// The acceptance bar: an MLP reaches >= 85% on the whole Fashion-MNIST test set.
TEST(Classifier, MlpReaches85PercentOnFashionMnist) {
  // Defaults: 2 epochs, batch 128, AdamW lr 2e-3 (about 2 s on one core).
  TrainOptions o{.arch = Arch::kMlp, .loss = Loss::kCrossEntropy, .threads = 1};
  auto model = TrainClassifier(FashionTrain(), o);
  ASSERT_TRUE(model) << model.error().ToString();
  Predictions p = Predict(*model, FashionTest());
  double acc = Accuracy(*model, p, FashionTest());
  std::printf("MLP CE accuracy %.4f, trained in %.2f s\n", acc, model->train_seconds);
  EXPECT_GE(acc, 0.85);
  // The OCS of a balanced training set is uniform.
  for (double v : model->ocs) EXPECT_NEAR(v, 0.1, 0.01);
}

}  // namespace
}  // namespace lmlab::ood
