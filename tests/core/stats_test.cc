#include "lmlab/core/stats.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

namespace lmlab {
namespace {

using V = std::vector<double>;

TEST(Stats, MeanQuantileMedian) {
  EXPECT_DOUBLE_EQ(Mean(V{1, 2, 3, 6}), 3);
  EXPECT_TRUE(std::isnan(Mean(V{})));
  const V sorted = {1, 2, 3, 4, 5};
  EXPECT_DOUBLE_EQ(Quantile(sorted, 0.5), 3);
  EXPECT_DOUBLE_EQ(Quantile(sorted, 0.9), 4.6);  // NumPy: np.quantile([1,2,3,4,5], 0.9) == 4.6
  EXPECT_DOUBLE_EQ(Quantile(sorted, 2), 5);      // clamped
  EXPECT_TRUE(std::isnan(Quantile(V{}, 0.5)));
  EXPECT_DOUBLE_EQ(Median(V{5, 1, 3}), 3);
  EXPECT_DOUBLE_EQ(Median(V{4, 1, 3, 2}), 2.5);
  EXPECT_TRUE(std::isnan(Median(V{})));
}

TEST(Stats, RanksAverageTies) {
  EXPECT_EQ(Ranks(V{10, 20, 20, 30}), (V{1, 2.5, 2.5, 4}));
  EXPECT_EQ(Ranks(V{3, 1, 2}), (V{3, 1, 2}));
  EXPECT_EQ(Ranks(V{7, 7, 7}), (V{2, 2, 2}));
  EXPECT_TRUE(Ranks(V{}).empty());
}

TEST(Stats, PearsonAndSpearmanKnownValues) {
  EXPECT_NEAR(Pearson(V{1, 2, 3}, V{2, 4, 6}), 1, 1e-15);
  EXPECT_NEAR(Pearson(V{1, 2, 3}, V{3, 2, 1}), -1, 1e-15);
  // scipy.stats.pearsonr([1,2,3,4,5], [1,3,2,5,4]) = 0.8
  EXPECT_NEAR(Pearson(V{1, 2, 3, 4, 5}, V{1, 3, 2, 5, 4}), 0.8, 1e-12);
  // Monotone but not linear: Spearman 1, Pearson below 1.
  EXPECT_NEAR(Spearman(V{1, 2, 3, 4}, V{1, 4, 9, 100}), 1, 1e-15);
  EXPECT_LT(Pearson(V{1, 2, 3, 4}, V{1, 4, 9, 100}), 0.99);
  // scipy.stats.spearmanr([1,2,2,3], [1,3,2,4]) = 0.9486832980505138 (ties averaged)
  EXPECT_NEAR(Spearman(V{1, 2, 2, 3}, V{1, 3, 2, 4}), 0.9486832980505138, 1e-12);
}

TEST(Stats, UndefinedIsNaN) {
  EXPECT_TRUE(std::isnan(Pearson(V{1, 1, 1}, V{1, 2, 3})));  // a constant side
  EXPECT_TRUE(std::isnan(Spearman(V{1, 2, 3}, V{5, 5, 5})));
  EXPECT_TRUE(std::isnan(Pearson(V{1}, V{2})));               // one point
  EXPECT_TRUE(std::isnan(Spearman(V{1, 2}, V{1, 2, 3})));     // sizes differ
}

}  // namespace
}  // namespace lmlab
