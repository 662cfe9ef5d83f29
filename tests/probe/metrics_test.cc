// Metrics against hand-computed cases.
#include "lmlab/probe/metrics.h"

#include <gtest/gtest.h>

namespace lmlab::probe {
namespace {

TEST(Metrics, HaversineKnownDistances) {
  // A quarter of a great circle: equator to pole.
  EXPECT_NEAR(HaversineKm(0, 0, 90, 0), kEarthRadiusKm * M_PI / 2, 1e-6);
  // One degree of longitude on the equator.
  EXPECT_NEAR(HaversineKm(0, 0, 0, 1), kEarthRadiusKm * M_PI / 180, 1e-9);
  // Antipodes, and across the date line (179 E to 179 W is 2 degrees).
  EXPECT_NEAR(HaversineKm(0, 0, 0, 180), kEarthRadiusKm * M_PI, 1e-6);
  EXPECT_NEAR(HaversineKm(0, 179, 0, -179), 2 * kEarthRadiusKm * M_PI / 180, 1e-6);
  // Paris - London, about 343.5 km.
  EXPECT_NEAR(HaversineKm(48.8566, 2.3522, 51.5074, -0.1278), 343.5, 1.0);
  EXPECT_EQ(HaversineKm(10, 20, 10, 20), 0.0);
}

TEST(Metrics, ProximityErrorHandComputed) {
  // Times: truth 0, 10, 20, 30; predictions 1, 25, 19, 30.
  //   i=0: own |1-0|=1; others |25|,|19|,|30| none closer -> 0
  //   i=1: own |25-10|=15; |1-10|=9, |19-10|=9 closer, |30-10|=20 no -> 2 of 4 (the
  //        paper averages over every column, its own included) = 1/2
  //   i=2: own |19-20|=1; none closer -> 0
  //   i=3: own 0 -> 0
  Eigen::MatrixXd truth(4, 1), pred(4, 1);
  truth << 0, 10, 20, 30;
  pred << 1, 25, 19, 30;
  std::vector<double> p = ProximityErrors(truth, pred, TargetKind::kTime);
  ASSERT_EQ(p.size(), 4u);
  EXPECT_DOUBLE_EQ(p[0], 0.0);
  EXPECT_DOUBLE_EQ(p[1], 2.0 / 4.0);
  EXPECT_DOUBLE_EQ(p[2], 0.0);
  EXPECT_DOUBLE_EQ(p[3], 0.0);
  LayerMetrics m = ComputeMetrics(truth, pred, TargetKind::kTime, {"year"});
  EXPECT_DOUBLE_EQ(m.proximity_error, (2.0 / 4.0) / 4.0);
  // MAE (1+15+1+0)/4, RMSE sqrt((1+225+1)/4).
  EXPECT_DOUBLE_EQ(m.targets[0].mae, 17.0 / 4);
  EXPECT_DOUBLE_EQ(m.targets[0].rmse, std::sqrt(227.0 / 4));
  // R^2 = 1 - 227 / 500.
  EXPECT_DOUBLE_EQ(m.r2, 1 - 227.0 / 500);
  EXPECT_EQ(m.mean_km, -1);
}

TEST(Metrics, ProximityOnPlacesUsesGreatCircle) {
  // Two cities swapped by the probe: each prediction sits on the other's truth.
  Eigen::MatrixXd truth(3, 2), pred(3, 2);
  truth << 0, 0, 0, 10, 50, 50;
  pred << 0, 10, 0, 0, 50, 50;
  std::vector<double> p = ProximityErrors(truth, pred, TargetKind::kPlace);
  EXPECT_DOUBLE_EQ(p[0], 1.0 / 3);  // entity 1's prediction is exactly on entity 0's truth
  EXPECT_DOUBLE_EQ(p[1], 1.0 / 3);
  EXPECT_DOUBLE_EQ(p[2], 0.0);
  LayerMetrics m = ComputeMetrics(truth, pred, TargetKind::kPlace, {"latitude", "longitude"});
  double ten_degrees = kEarthRadiusKm * 10 * M_PI / 180;
  EXPECT_NEAR(m.mean_km, 2 * ten_degrees / 3, 1e-6);
  EXPECT_NEAR(m.median_km, ten_degrees, 1e-6);
}

TEST(Metrics, CorrelationsAndTies) {
  Eigen::VectorXd a(5), b(5);
  a << 1, 2, 3, 4, 5;
  b << 2, 4, 6, 8, 100;  // monotone but not linear
  EXPECT_DOUBLE_EQ(Spearman(a, b), 1.0);
  EXPECT_LT(Pearson(a, b), 0.99);
  Eigen::VectorXd c(4), d(4);
  c << 1, 2, 2, 3;  // ranks 1, 2.5, 2.5, 4
  d << 1, 2, 3, 4;
  // Pearson of (1,2.5,2.5,4) with (1,2,3,4): cov 3.75/..., hand value 0.9486832980505138
  EXPECT_NEAR(Spearman(c, d), 0.9486832980505138, 1e-12);
  Eigen::VectorXd flat = Eigen::VectorXd::Constant(4, 2.0);
  EXPECT_EQ(RSquared(flat, flat), 1.0);
  EXPECT_EQ(RSquared(flat, d), 0.0);
  EXPECT_DOUBLE_EQ(RSquared(d, Eigen::VectorXd::Constant(4, 2.5)), 0.0);  // predicting the mean
}

}  // namespace
}  // namespace lmlab::probe
