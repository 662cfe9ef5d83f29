// The MLP control learns what a linear probe cannot, and chooses its decay.
#include "lmlab/probe/mlp.h"

#include <gtest/gtest.h>

#include <random>

#include "lmlab/probe/metrics.h"
#include "lmlab/probe/ridge.h"

namespace lmlab::probe {
namespace {

TEST(Mlp, LearnsANonLinearTargetThatRidgeMisses) {
  // y = |x0| + noise: a linear probe's best R^2 is ~0; one ReLU layer fits it.
  std::mt19937 rng(5);
  std::normal_distribution<double> g;
  const int n = 600, d = 4;
  Eigen::MatrixXd x(n, d), y(n, 1);
  for (int i = 0; i < n; ++i) {
    for (int j = 0; j < d; ++j) x(i, j) = g(rng);
    y(i, 0) = std::abs(x(i, 0)) + 0.05 * g(rng);
  }
  MlpOptions o;
  o.hidden = 32;
  o.max_epochs = 200;
  o.learning_rate = 1e-2;  // few examples, few steps an epoch
  o.weight_decays = {1e-3, 1e-1};
  auto mlp = FitMlp(x.topRows(500), y.topRows(500), o);
  ASSERT_TRUE(mlp) << mlp.error().ToString();
  EXPECT_EQ(mlp->validation_by_decay.size(), 2u);
  EXPECT_GT(mlp->epochs, 0);
  double mlp_r2 = RSquared(y.bottomRows(100).col(0), mlp->Predict(x.bottomRows(100)).col(0));
  auto ridge = FitRidge(x.topRows(500), y.topRows(500), {});
  ASSERT_TRUE(ridge);
  double ridge_r2 = RSquared(y.bottomRows(100).col(0), ridge->Predict(x.bottomRows(100)).col(0));
  EXPECT_GT(mlp_r2, 0.8);
  EXPECT_LT(ridge_r2, 0.2);
}

TEST(Mlp, RejectsTooFewExamples) {
  Eigen::MatrixXd x = Eigen::MatrixXd::Random(5, 3), y = Eigen::MatrixXd::Random(5, 1);
  EXPECT_FALSE(FitMlp(x, y, {}));
}

}  // namespace
}  // namespace lmlab::probe
