// Ridge with closed-form leave-one-out against a direct solve and an actual
// leave-one-out refit, on random data, in both the primal (n > d) and the
// dual (n <= d) paths.
#include "lmlab/probe/ridge.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>

namespace lmlab::probe {
namespace {

struct Problem {
  Eigen::MatrixXd x, y;
};

Problem RandomProblem(int n, int d, int k, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<double> g;
  Problem p{Eigen::MatrixXd(n, d), Eigen::MatrixXd(n, k)};
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < d; ++j) p.x(i, j) = g(rng) + (j == 0 ? 3.0 : 0.0);  // a non-zero mean exercises centring
  Eigen::MatrixXd w(d, k);
  for (int j = 0; j < d; ++j)
    for (int t = 0; t < k; ++t) w(j, t) = g(rng);
  p.y = p.x * w;
  for (int i = 0; i < n; ++i)
    for (int t = 0; t < k; ++t) p.y(i, t) += 5.0 * g(rng) + 10.0 * t;
  return p;
}

// Ridge with an unpenalised intercept on z-scored targets, solved directly.
struct Direct {
  Eigen::MatrixXd coef;  // original units
  Eigen::RowVectorXd intercept;
};
Direct SolveDirect(const Eigen::MatrixXd& x, const Eigen::MatrixXd& y, double alpha, const Eigen::RowVectorXd& scale) {
  Eigen::RowVectorXd mx = x.colwise().mean(), my = y.colwise().mean();
  Eigen::MatrixXd xc = x.rowwise() - mx;
  Eigen::MatrixXd yc = ((y.rowwise() - my).array().rowwise() / scale.array()).matrix();
  Eigen::MatrixXd a = xc.transpose() * xc + alpha * Eigen::MatrixXd::Identity(x.cols(), x.cols());
  Eigen::MatrixXd coef = a.ldlt().solve(xc.transpose() * yc) * scale.asDiagonal();
  return {coef, my - mx * coef};
}

Eigen::RowVectorXd Scale(const Eigen::MatrixXd& y) {
  Eigen::RowVectorXd s(y.cols());
  for (int t = 0; t < y.cols(); ++t) s(t) = std::sqrt((y.col(t).array() - y.col(t).mean()).square().mean());
  return s;
}

void CheckAgainstDirect(int n, int d, int k, RidgeLinearAlgebra linear_algebra = RidgeLinearAlgebra::kAuto) {
  Problem p = RandomProblem(n, d, k, 7u + n + d);
  RidgeOptions o;
  o.linear_algebra = linear_algebra;
  o.alphas = LogSpace(-1, 3, 9);
  auto fit = FitRidge(p.x, p.y, o);
  ASSERT_TRUE(fit) << fit.error().ToString();
  Eigen::RowVectorXd scale = Scale(p.y);

  // Coefficients at the chosen penalty.
  Direct direct = SolveDirect(p.x, p.y, fit->alpha, scale);
  EXPECT_LT((fit->coef - direct.coef).cwiseAbs().maxCoeff(), 1e-8 * (1 + direct.coef.cwiseAbs().maxCoeff()));
  EXPECT_LT((fit->intercept - direct.intercept).cwiseAbs().maxCoeff(), 1e-8 * (1 + direct.intercept.cwiseAbs().maxCoeff()));

  // Every penalty's LOO error against n actual refits. The scale for the
  // standardised error is the full data's, as in the closed form.
  for (size_t ai = 0; ai < o.alphas.size(); ++ai) {
    double sq = 0;
    for (int i = 0; i < n; ++i) {
      Eigen::MatrixXd xi(n - 1, d), yi(n - 1, k);
      for (int r = 0, w = 0; r < n; ++r)
        if (r != i) xi.row(w) = p.x.row(r), yi.row(w++) = p.y.row(r);
      // Refit on n-1 rows; centring uses those rows' means (the intercept is refitted too).
      Eigen::RowVectorXd mx = xi.colwise().mean(), my = yi.colwise().mean();
      Eigen::MatrixXd xc = xi.rowwise() - mx;
      Eigen::MatrixXd yc = ((yi.rowwise() - my).array().rowwise() / scale.array()).matrix();
      Eigen::MatrixXd a = xc.transpose() * xc + o.alphas[ai] * Eigen::MatrixXd::Identity(d, d);
      Eigen::MatrixXd w = a.ldlt().solve(xc.transpose() * yc);
      Eigen::RowVectorXd pred = (p.x.row(i) - mx) * w;
      Eigen::RowVectorXd truth = ((p.y.row(i) - my).array() / scale.array()).matrix();
      sq += (pred - truth).squaredNorm();
      if (ai == static_cast<size_t>(fit->alpha_index)) {
        Eigen::RowVectorXd orig = (pred.array() * scale.array()).matrix() + my;
        EXPECT_LT((orig - fit->loo_predictions.row(i)).cwiseAbs().maxCoeff(), 1e-8 * (1 + orig.cwiseAbs().maxCoeff()));
      }
    }
    double mse = sq / (n * k);
    EXPECT_NEAR(fit->loo_mse[ai], mse, 1e-8 * mse) << "alpha " << o.alphas[ai];
  }
  // The chosen penalty is the grid's minimum.
  for (double m : fit->loo_mse) EXPECT_GE(m, fit->loo_mse[fit->alpha_index]);
}

TEST(Ridge, PrimalMatchesDirectSolveAndRefits) { CheckAgainstDirect(60, 8, 2); }
TEST(Ridge, DualMatchesDirectSolveAndRefits) { CheckAgainstDirect(20, 35, 2); }
TEST(Ridge, SingleTargetDual) { CheckAgainstDirect(15, 15, 1); }
// n just above d: the cheaper n x n side (PrimalIsCheaper), still exact.
TEST(Ridge, DualSideJustAboveSquareMatchesDirectSolveAndRefits) { CheckAgainstDirect(42, 40, 2); }
// The same with Eigen's tridiagonalization, whichever LAPACK this machine has.
TEST(Ridge, EigenPathMatchesDirectSolveAndRefits) {
  CheckAgainstDirect(60, 8, 2, RidgeLinearAlgebra::kEigen);
  CheckAgainstDirect(20, 35, 2, RidgeLinearAlgebra::kEigen);
}

TEST(Ridge, PredictUsesCoefAndIntercept) {
  Problem p = RandomProblem(40, 5, 2, 3);
  auto fit = FitRidge(p.x, p.y, {});
  ASSERT_TRUE(fit);
  Eigen::MatrixXd pred = fit->Predict(p.x.topRows(3));
  Eigen::MatrixXd manual = (p.x.topRows(3) * fit->coef).rowwise() + fit->intercept;
  EXPECT_LT((pred - manual).cwiseAbs().maxCoeff(), 1e-12);
}

TEST(Ridge, ExtendsTheGridPastAnEdgeWhenAsked) {
  // Little noise and many examples: the best penalty lies far below 10^0.8.
  Problem p = RandomProblem(200, 5, 2, 11);
  p.y = p.x * Eigen::MatrixXd::Ones(5, 2);
  p.y.col(1) += 0.01 * Eigen::VectorXd::LinSpaced(200, -1, 1);
  RidgeOptions keep;
  auto edge = FitRidge(p.x, p.y, keep);
  ASSERT_TRUE(edge);
  EXPECT_EQ(edge->alpha_index, 0);
  EXPECT_DOUBLE_EQ(edge->alpha, keep.alphas.front());
  RidgeOptions extend;
  extend.edge = GridEdge::kExtend;
  auto ext = FitRidge(p.x, p.y, extend);
  ASSERT_TRUE(ext);
  EXPECT_LT(ext->alpha, keep.alphas.front());
  EXPECT_GT(ext->alphas.size(), keep.alphas.size());
  EXPECT_LT(ext->loo_mse[ext->alpha_index], edge->loo_mse[0]);
  EXPECT_TRUE(std::is_sorted(ext->alphas.begin(), ext->alphas.end()));
}

TEST(Ridge, PaperGrid) {
  std::vector<double> g = LogSpace(0.8, 4.1, 12);
  ASSERT_EQ(g.size(), 12u);
  EXPECT_NEAR(g.front(), 6.30957, 1e-4);
  EXPECT_NEAR(g.back(), 12589.25, 1e-2);
}

TEST(Ridge, RejectsBadInput) {
  Problem p = RandomProblem(10, 3, 2, 1);
  EXPECT_FALSE(FitRidge(p.x.topRows(2), p.y.topRows(2), {}));
  EXPECT_FALSE(FitRidge(p.x, p.y.topRows(9), {}));
  Eigen::MatrixXd bad = p.y;
  bad(4, 1) = std::nan("");
  auto r = FitRidge(p.x, bad, {});
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("NaN"), std::string::npos);
  RidgeOptions neg;
  neg.alphas = {1.0, -1.0};
  EXPECT_FALSE(FitRidge(p.x, p.y, neg));
}

}  // namespace
}  // namespace lmlab::probe
