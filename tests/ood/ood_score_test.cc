// Kang et al.'s OOD score: the logistic regression against a hand-solved
// case, synthetic features, and real features of a trained extractor
// separating clean from heavily corrupted images.
#include "lmlab/ood/ood_score.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "lmlab/ood/classifier.h"
#include "lmlab/ood/datasets.h"
#include "lmlab/ood/experiment.h"
#include "lmlab/ood/shifts.h"

namespace lmlab::ood {
namespace {

// Two points, x = -1 (class 0) and x = +1 (class 1), already standardised.
// By symmetry b = 0, and the objective log(1 + e^-w) + l2/2 w^2 is stationary
// where l2 w = 1 / (1 + e^w); for l2 = 1 that is w = 0.401058.
TEST(OodScore, LogisticRegressionSolvesTheTwoPointCase) {
  std::vector<float> x = {-1, 1};
  std::vector<int> y = {0, 1};
  auto m = FitLogistic(x, 1, y, 1.0);
  ASSERT_TRUE(m) << m.error().ToString();
  EXPECT_NEAR(m->weights[0], 0.401058, 1e-5);
  EXPECT_NEAR(m->bias, 0.0, 1e-9);
  EXPECT_NEAR(m->Probability(std::vector<float>{1}), 1 / (1 + std::exp(-0.401058)), 1e-5);
  EXPECT_FALSE(FitLogistic(x, 1, std::vector<int>{1, 1}, 1.0));  // one class only
  EXPECT_FALSE(FitLogistic(x, 2, y, 1.0));                       // shapes disagree
}

std::vector<float> Gaussian(int n, int d, double shift, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> g(0, 1);
  std::vector<float> v(static_cast<size_t>(n * d));
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < d; ++j) v[i * d + j] = g(rng) + (j == 0 ? static_cast<float>(shift) : 0.0f);
  return v;
}

TEST(OodScore, SeparableShiftsScoreHighAndIdenticalOnesHalf) {
  auto clean = Gaussian(400, 8, 0, 1);
  auto far = ScoreShift(clean, Gaussian(400, 8, 4, 2), 8, {.l2 = 0.01});
  ASSERT_TRUE(far) << far.error().ToString();
  EXPECT_GT(far->auroc, 0.99);
  EXPECT_GT(far->score, 0.9);
  EXPECT_EQ(far->train_rows, 640);
  EXPECT_EQ(far->test_rows, 160);
  auto same = ScoreShift(clean, Gaussian(400, 8, 0, 3), 8);
  ASSERT_TRUE(same);
  EXPECT_NEAR(same->score, 0.5, 0.05);
  EXPECT_NEAR(same->auroc, 0.5, 0.15);
  // Unbalanced sets are cut to the smaller one: the prior stays at one half.
  auto unbalanced = ScoreShift(Gaussian(2000, 8, 0, 4), Gaussian(200, 8, 0, 5), 8);
  ASSERT_TRUE(unbalanced);
  EXPECT_NEAR(unbalanced->score, 0.5, 0.05);
  EXPECT_EQ(unbalanced->train_rows + unbalanced->test_rows, 400);
  EXPECT_FALSE(ScoreShift(clean, std::vector<float>(8, 0.0f), 8));  // one shifted row cannot split
}

// The acceptance test: on the features of the experiment's extractor (the
// small CNN, trained on Fashion-MNIST), the paper's logistic regression tells
// clean images from heavily corrupted ones (severity 5) with AUROC >= 0.95 on
// held-out images, while clean vs clean stays near chance.
TEST(OodScore, SeparatesCleanFromHeavilyCorruptedImages) {
  auto train = LoadFashionMnist(Split::kTrain);
  auto test = LoadFashionMnist(Split::kTest);
  ASSERT_TRUE(train && test);
  // Two disjoint halves of 2,000 test images: the clean pool and the images to shift.
  ImageSet clean = Subsample(*test, 2000, 9), eval = clean;
  clean.pixels.resize(1000 * kImagePixels);
  clean.labels.resize(1000);
  eval.pixels.erase(eval.pixels.begin(), eval.pixels.begin() + 1000 * kImagePixels);
  eval.labels.erase(eval.labels.begin(), eval.labels.begin() + 1000);
  auto extractor = TrainClassifier(Subsample(*train, 6000, 10),
                                   {.arch = kFeatureExtractorArch, .loss = Loss::kCrossEntropy, .threads = 1});
  ASSERT_TRUE(extractor) << extractor.error().ToString();
  auto clean_features = Predict(*extractor, clean, 1);
  ASSERT_TRUE(clean_features);
  for (Shift s : {Shift::kImpulseNoise, Shift::kMotionBlur}) {
    auto shifted = ApplyShift(eval, s, 5, 11);
    ASSERT_TRUE(shifted);
    auto f = Predict(*extractor, *shifted, 1);
    ASSERT_TRUE(f);
    auto score = ScoreShift(clean_features->features, f->features, f->feature_dim);
    ASSERT_TRUE(score) << score.error().ToString();
    EXPECT_GE(score->auroc, 0.95) << ShiftName(s);
    EXPECT_GT(score->score, 0.55) << ShiftName(s);
  }
  auto f = Predict(*extractor, eval, 1);
  auto same = ScoreShift(clean_features->features, f->features, f->feature_dim);
  ASSERT_TRUE(same);
  EXPECT_LT(same->auroc, 0.7);
  EXPECT_NEAR(same->score, 0.5, 0.03);
}

}  // namespace
}  // namespace lmlab::ood
