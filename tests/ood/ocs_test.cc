// OCS formulas and distances on cases worked out by hand.
#include "lmlab/ood/ocs.h"

#include <gtest/gtest.h>

#include <cmath>

namespace lmlab::ood {
namespace {

TEST(Ocs, LabelMarginalIsTheCrossEntropyAndMseOcs) {
  std::vector<int32_t> labels = {0, 0, 1, 2, 2, 2, 2, 2};
  auto p = LabelMarginal(labels, 4);
  ASSERT_EQ(p.size(), 4u);
  EXPECT_DOUBLE_EQ(p[0], 0.25);
  EXPECT_DOUBLE_EQ(p[1], 0.125);
  EXPECT_DOUBLE_EQ(p[2], 0.625);
  EXPECT_DOUBLE_EQ(p[3], 0.0);
}

TEST(Ocs, KlByHand) {
  // D_KL([1/2,1/2] || [1/4,3/4]) = 1/2 ln 2 + 1/2 ln(2/3)
  std::vector<double> p = {0.5, 0.5}, q = {0.25, 0.75};
  EXPECT_NEAR(KlDivergence(p, q), 0.5 * std::log(2.0) + 0.5 * std::log(2.0 / 3.0), 1e-12);
  EXPECT_DOUBLE_EQ(KlDivergence(p, p), 0.0);
  // p_i = 0 contributes nothing even where q_i = 0.
  std::vector<double> a = {1.0, 0.0}, b = {0.5, 0.0};
  EXPECT_NEAR(KlDivergence(a, b), std::log(2.0), 1e-12);
}

// The two conventions on the same pair. f = (0.9, 0.1), OCS = (0.5, 0.5):
// paper KL(f || OCS) = 0.9 ln 1.8 + 0.1 ln 0.2 = 0.368064;
// lmlab KL(OCS || f) = 0.5 ln(5/9) + 0.5 ln 5 = 0.510826.
TEST(Ocs, KlDirectionsByHand) {
  std::vector<double> f = {0.9, 0.1}, ocs = {0.5, 0.5};
  EXPECT_NEAR(KlToOcs(f, ocs, Distance::kPaper), 0.9 * std::log(1.8) + 0.1 * std::log(0.2), 1e-12);
  EXPECT_NEAR(KlToOcs(f, ocs, Distance::kPaper), 0.368064, 1e-6);
  EXPECT_NEAR(KlToOcs(f, ocs, Distance::kLmlab), 0.510826, 1e-6);
  // N_pred = N(1, 4), N_OCS = N(0, 1):
  // paper KL(N(1,4) || N(0,1)) = 0.5 (ln(1/4) + (4 + 1) / 1 - 1) = 2 - ln 2;
  // lmlab KL(N(0,1) || N(1,4)) = 0.5 (ln 4 + (1 + 1) / 4 - 1) = ln 2 - 0.25.
  EXPECT_NEAR(GaussianKlToOcs(1, 4, 0, 1, Distance::kPaper), 2 - std::log(2.0), 1e-12);
  EXPECT_NEAR(GaussianKlToOcs(1, 4, 0, 1, Distance::kLmlab), std::log(2.0) - 0.25, 1e-12);
  EXPECT_EQ(*ParseDistance("paper"), Distance::kPaper);
  EXPECT_EQ(DistanceFormula(Distance::kLmlab), "KL(OCS || f)");
  EXPECT_FALSE(ParseDistance("js"));
}

TEST(Ocs, SquaredErrorAndEntropy) {
  std::vector<double> a = {1, 0, 0}, b = {0.5, 0.25, 0.25};
  EXPECT_DOUBLE_EQ(SquaredError(a, b), 0.25 + 0.0625 + 0.0625);
  EXPECT_NEAR(Entropy(b), -(0.5 * std::log(0.5) + 0.5 * std::log(0.25)), 1e-12);
  std::vector<double> u(10, 0.1);
  EXPECT_NEAR(Entropy(u), std::log(10.0), 1e-12);
}

TEST(Ocs, GaussianKlByHand) {
  EXPECT_DOUBLE_EQ(GaussianKl(1.5, 2.0, 1.5, 2.0), 0.0);
  // KL(N(0,1) || N(1,4)) = 0.5 [ln 4 + (1 + 1)/4 - 1] = 0.5 ln 4 - 0.25
  EXPECT_NEAR(GaussianKl(0, 1, 1, 4), 0.5 * std::log(4.0) - 0.25, 1e-12);
  // Asymmetric: KL(N(1,4) || N(0,1)) = 0.5 [ln(1/4) + 4 + 1 - 1]
  EXPECT_NEAR(GaussianKl(1, 4, 0, 1), 0.5 * (std::log(0.25) + 4.0), 1e-12);
}

TEST(Ocs, SoftmaxWithTemperature) {
  std::vector<float> logits = {0.0f, std::log(3.0f)};
  auto p = Softmax(logits);
  EXPECT_NEAR(p[0], 0.25, 1e-7);
  EXPECT_NEAR(p[1], 0.75, 1e-7);
  auto flat = Softmax(logits, 1e9);
  EXPECT_NEAR(flat[0], 0.5, 1e-6);
  std::vector<float> big = {1000.0f, 1000.0f};  // no overflow
  EXPECT_NEAR(Softmax(big)[0], 0.5, 1e-12);
}

TEST(Ocs, SpearmanSignsAndTies) {
  std::vector<double> x = {0, 1, 2, 3, 4};
  std::vector<double> down = {9, 7, 5, 2, 1}, up = {1, 2, 8, 9, 10}, bumpy = {5, 4, 4, 1, 2};
  EXPECT_DOUBLE_EQ(Spearman(x, down), -1.0);
  EXPECT_DOUBLE_EQ(Spearman(x, up), 1.0);
  // ranks of bumpy: 5, 3.5, 3.5, 1, 2 -> rho = -0.8720...
  EXPECT_NEAR(Spearman(x, bumpy), -0.872082, 1e-5);
  std::vector<double> flat = {1, 1, 1, 1, 1};
  EXPECT_TRUE(std::isnan(Spearman(x, flat)));
}

TEST(Ocs, AurocByHand) {
  std::vector<double> pos = {0.9, 0.8, 0.4}, neg = {0.5, 0.3};
  // pairs won: 0.9>both, 0.8>both, 0.4>0.3 only -> 5 of 6
  EXPECT_NEAR(*Auroc(pos, neg), 5.0 / 6.0, 1e-12);
  std::vector<double> tie = {0.5};
  EXPECT_NEAR(*Auroc(tie, tie), 0.5, 1e-12);
  EXPECT_FALSE(Auroc({}, neg).has_value());
}

}  // namespace
}  // namespace lmlab::ood
