// The reversion itself: shifting Fashion-MNIST test images pushes CE and MSE
// models' predictions towards the OCS. This test trains real models on a
// subsample and can fail: it asserts the sign and strength of the trend.
#include "lmlab/ood/experiment.h"

#include <gtest/gtest.h>

#include <cmath>

#include "lmlab/ood/ocs.h"

namespace lmlab::ood {
namespace {

const Curve* Find(const ClassifierReport& r, Loss loss, Shift shift) {
  for (const auto& c : r.curves)
    if (c.loss == loss && c.shift == shift) return &c;
  return nullptr;
}

// Blur and blending in the other dataset revert monotonically (the paper's
// claim); rotation does not on Fashion-MNIST: a 90-degree turn keeps the
// feature norms of clean images and gives confident wrong answers (see
// docs/ood.md, "Rotation"). For Fashion-MNIST rotation we assert only what
// holds: rotated images sit, on average, closer to the OCS than clean ones;
// the monotone rotation test runs on MNIST below.
TEST(Experiment, ShiftsRevertTowardsTheOcsForCeAndMse) {
  ClassifierExperimentOptions o;
  o.losses = {Loss::kCrossEntropy, Loss::kMse};
  o.shifts = {Shift::kRotation, Shift::kBlur, Shift::kDataset};
  o.train = {.arch = Arch::kMlp, .epochs = 2, .threads = 1};
  o.train_size = 12800;
  o.eval_size = 400;
  o.decision = Decision::kOn;
  auto r = RunClassifierExperiment(o);
  ASSERT_TRUE(r) << r.error().ToString();
  for (Loss loss : {Loss::kCrossEntropy, Loss::kMse}) {
    for (Shift shift : {Shift::kBlur, Shift::kDataset}) {
      const Curve* c = Find(*r, loss, shift);
      ASSERT_NE(c, nullptr);
      std::string trace;
      for (const auto& p : c->points) trace += " " + std::to_string(p.ocs_distance);
      // Sign convention: Spearman(severity, distance to OCS); reversion makes it negative.
      EXPECT_LE(c->spearman, -0.8) << LossName(loss) << " " << ShiftName(shift) << ":" << trace;
      // A real move, not noise: the most severe point is well below the clean one.
      EXPECT_LT(c->points.back().ocs_distance, 0.6 * c->points.front().ocs_distance) << trace;
      EXPECT_LT(c->points.back().accuracy, c->points.front().accuracy - 0.3);
      // The paper's mechanism: the last hidden layer's feature norm shrinks.
      EXPECT_LT(c->points.back().feature_norms.back(), c->points.front().feature_norms.back());
    }
    const Curve* rot = Find(*r, loss, Shift::kRotation);
    ASSERT_NE(rot, nullptr);
    ASSERT_EQ(rot->points.size(), 7u);
    double rotated = 0;
    for (size_t k = 1; k < rot->points.size(); ++k) rotated += rot->points[k].ocs_distance / 6;
    EXPECT_LT(rotated, rot->points.front().ocs_distance) << LossName(loss);
  }
  // Rewards: as the other dataset blends in, the reward model abstains more,
  // and abstaining caps losses: it beats never-abstaining CE at full shift.
  std::vector<RewardPoint> blend;
  for (const auto& w : r->rewards)
    if (w.shift == Shift::kDataset) blend.push_back(w);
  ASSERT_EQ(blend.size(), 6u);
  EXPECT_GT(blend.back().abstain_model, blend.front().abstain_model);
  EXPECT_GT(blend.back().reward_model, blend.back().reward_ce_never_abstain);
  ASSERT_EQ(r->detection.size(), 3u);
  EXPECT_EQ(r->detection[0].severity, 90);
  EXPECT_GT(r->temperature, 0.25);
}

// Rotation on MNIST digits reverts monotonically while a turn makes digits
// less digit-like, up to 120 degrees; from there to 180 the half-turn-symmetric
// digits (0, 1, 8; 6 <-> 9) become readable again and the distance climbs back
// (docs/ood.md, "Rotation"), so the sweep stops at 120.
TEST(Experiment, RotationRevertsOnMnistForCeAndMse) {
  ClassifierExperimentOptions o;
  o.dataset = Dataset::kMnist;
  o.losses = {Loss::kCrossEntropy, Loss::kMse};
  o.shifts = {Shift::kRotation};
  o.severities = {{0, 30, 60, 90, 120}};
  o.train = {.arch = Arch::kMlp, .epochs = 2, .threads = 1};
  o.eval_size = 1000;
  o.decision = Decision::kOff;
  auto r = RunClassifierExperiment(o);
  ASSERT_TRUE(r) << r.error().ToString();
  for (Loss loss : {Loss::kCrossEntropy, Loss::kMse}) {
    const Curve* c = Find(*r, loss, Shift::kRotation);
    ASSERT_NE(c, nullptr);
    ASSERT_EQ(c->points.size(), 5u);
    std::string trace;
    for (const auto& p : c->points) trace += " " + std::to_string(p.ocs_distance);
    EXPECT_LE(c->spearman, -0.8) << LossName(loss) << ":" << trace;
    EXPECT_LT(c->points.back().ocs_distance, 0.7 * c->points.front().ocs_distance) << LossName(loss) << ":" << trace;
  }
}

// A severity outside its shift's range is refused before any training.
TEST(Experiment, BadSeveritiesAreRefusedUpFront) {
  ClassifierExperimentOptions o;
  o.shifts = {Shift::kRotation, Shift::kNoise};
  o.severities = {{0, 90}, {0, 11}};
  auto r = RunClassifierExperiment(o);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(r.error().message.find("noise severity 11"), std::string::npos) << r.error().message;
  o.severities = {{0, 90}, {}};
  EXPECT_EQ(RunClassifierExperiment(o).error().code, ErrorCode::kInvalidArgument);
  o.severities = {{30, 90}, {0, 1}};  // no clean point to compare with
  EXPECT_NE(RunClassifierExperiment(o).error().message.find("start at 0"), std::string::npos);
  o.severities = {{0, 90, 60}, {0, 1}};
  EXPECT_EQ(RunClassifierExperiment(o).error().code, ErrorCode::kInvalidArgument);
  EXPECT_TRUE(CheckSeverity(Shift::kRotation, 360));
  EXPECT_FALSE(CheckSeverity(Shift::kContrast, 1.5));
}

TEST(Experiment, MeasureOnHandmadePredictions) {
  // A CE "model" whose OCS is uniform; one image predicted with logits 0 (=
  // the OCS, distance 0), one with a confident logit.
  Classifier m;
  m.loss = Loss::kCrossEntropy;
  m.ocs.assign(10, 0.1);
  Predictions p;
  p.n_outputs = 10;
  p.outputs.assign(20, 0.0f);
  p.outputs[10 + 3] = std::log(91.0f);  // softmax: 91/100 on class 3, 1/100 elsewhere
  p.feature_norms = {{1.0f, 3.0f}};
  ImageSet images;
  images.labels = {0, 3};
  images.pixels.assign(2 * kImagePixels, 0.0f);
  auto d = OcsDistances(m, p);
  EXPECT_NEAR(d[0], 0.0, 1e-9);
  // KL(uniform || q) = sum 0.1 ln(0.1/q_i) = 0.1 ln(0.1/0.91) + 0.9 ln(0.1/0.01)
  EXPECT_NEAR(d[1], 0.1 * std::log(0.1 / 0.91) + 0.9 * std::log(10.0), 1e-6);
  SeverityPoint pt = Measure(m, p, images, 5);
  EXPECT_NEAR(pt.ocs_distance, d[1] / 2, 1e-9);
  EXPECT_NEAR(*pt.max_softmax, (0.1 + 0.91) / 2, 1e-6);
  EXPECT_NEAR(pt.feature_norms[0], 2.0, 1e-9);
  // argmax of image 0 is class 0 (ties go to the first), image 1 is class 3.
  EXPECT_NEAR(pt.accuracy, 1.0, 1e-9);

  // Gaussian NLL: predicting exactly the OCS (mean 0, log-variance 0 = variance 1).
  Classifier g;
  g.loss = Loss::kGaussianNll;
  g.n_outputs = 2;
  g.ocs_mean = 0;
  g.ocs_var = 1;
  Predictions q;
  q.n_outputs = 2;
  q.outputs = {0.0f, 0.0f, 1.0f, std::log(4.0f)};
  auto gd = OcsDistances(g, q);
  EXPECT_NEAR(gd[0], 0.0, 1e-9);
  EXPECT_NEAR(gd[1], 0.5 * std::log(4.0) - 0.25, 1e-6);  // KL(N(0,1) || N(1,4))
}

TEST(Experiment, BadOptionsAreErrors) {
  ClassifierExperimentOptions o;
  o.losses = {};
  EXPECT_EQ(RunClassifierExperiment(o).error().code, ErrorCode::kInvalidArgument);
  o = {};
  o.severities = {{0, 1}};  // one list for six shifts
  EXPECT_EQ(RunClassifierExperiment(o).error().code, ErrorCode::kInvalidArgument);
  ImageSet empty;
  empty.name = "empty";
  auto t = TrainClassifier(empty, {});
  ASSERT_FALSE(t);
  EXPECT_NE(t.error().message.find("empty"), std::string::npos);
}

}  // namespace
}  // namespace lmlab::ood
