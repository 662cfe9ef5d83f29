#include "lmlab/probe/ridge.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace lmlab::probe {

std::vector<double> LogSpace(double start, double stop, int count) {
  std::vector<double> out;
  if (count == 1) return {std::pow(10.0, start)};
  for (int i = 0; i < count; ++i) out.push_back(std::pow(10.0, start + (stop - start) * i / (count - 1)));
  return out;
}

Eigen::MatrixXd RidgeProbe::Predict(const Eigen::MatrixXd& x) const {
  Eigen::MatrixXd y = x * coef;
  y.rowwise() += intercept;
  return y;
}

Result<RidgeProbe> FitRidge(const Eigen::MatrixXd& x, const Eigen::MatrixXd& y, const RidgeOptions& options) {
  const Eigen::Index n = x.rows(), d = x.cols(), k = y.cols();
  if (n < 3) return InvalidArgument(fmt::format("a ridge probe needs at least 3 examples (got {})", n));
  if (d == 0 || k == 0) return InvalidArgument("a ridge probe needs at least one feature and one target");
  if (y.rows() != n) return InvalidArgument(fmt::format("ridge: {} rows of activations but {} targets", n, y.rows()));
  if (!x.allFinite()) return InvalidArgument("ridge: activations contain NaN or infinity");
  if (!y.allFinite()) return InvalidArgument("ridge: targets contain NaN or infinity");
  if (options.alphas.empty()) return InvalidArgument("ridge: the penalty grid is empty");
  for (double a : options.alphas)
    if (!(a > 0) || !std::isfinite(a)) return InvalidArgument(fmt::format("ridge: penalty {} must be positive", a));

  const Eigen::RowVectorXd x_mean = x.colwise().mean();
  const Eigen::RowVectorXd y_mean = y.colwise().mean();
  Eigen::MatrixXd xc = x.rowwise() - x_mean;
  Eigen::MatrixXd yc = y.rowwise() - y_mean;
  Eigen::RowVectorXd y_scale = Eigen::RowVectorXd::Ones(k);
  if (options.standardize == StandardizeTargets::kYes) {
    for (Eigen::Index t = 0; t < k; ++t) {
      double sd = std::sqrt(yc.col(t).squaredNorm() / static_cast<double>(n));
      y_scale(t) = sd > 0 ? sd : 1.0;
    }
    yc = yc.array().rowwise() / y_scale.array();
  }

  // Primal (n > d): C = Xc^T Xc = V diag(lam) V^T, P = Xc V; then for penalty a
  //   fitted = P diag(1/(lam+a)) P^T Yc,  H_ii = 1/n + sum_j P_ij^2 / (lam_j + a).
  // Dual (n <= d): K = Xc Xc^T = Q diag(lam) Q^T; then
  //   fitted = Q diag(lam/(lam+a)) Q^T Yc, H_ii = 1/n + sum_j Q_ij^2 lam_j / (lam_j + a).
  const bool primal = n > d;
  Eigen::MatrixXd basis;  // primal: P [n, d]; dual: Q [n, n]
  Eigen::MatrixXd vecs;   // primal: V [d, d]
  Eigen::VectorXd lam;
  {
    Eigen::MatrixXd gram;
    if (primal) {
      gram = Eigen::MatrixXd::Zero(d, d);
      gram.selfadjointView<Eigen::Lower>().rankUpdate(xc.transpose());
    } else {
      gram = Eigen::MatrixXd::Zero(n, n);
      gram.selfadjointView<Eigen::Lower>().rankUpdate(xc);
    }
    Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> eig(gram);
    if (eig.info() != Eigen::Success) return Internal("ridge: the eigendecomposition did not converge");
    lam = eig.eigenvalues().cwiseMax(0.0);
    if (primal) {
      vecs = eig.eigenvectors();
      basis = xc * vecs;
    } else {
      basis = eig.eigenvectors();
    }
  }
  const Eigen::MatrixXd basis_sq = basis.array().square();
  const Eigen::MatrixXd proj = basis.transpose() * yc;  // [r, k]
  const double inv_n = 1.0 / static_cast<double>(n);

  // LOO mean squared error (standardised units) for one penalty; `resid`
  // receives the LOO residuals.
  auto loo = [&](double a, Eigen::MatrixXd* resid) {
    Eigen::VectorXd shrink;
    if (primal) shrink = (lam.array() + a).inverse().matrix();
    else shrink = (lam.array() / (lam.array() + a)).matrix();
    Eigen::VectorXd h = (basis_sq * shrink).array() + inv_n;
    Eigen::MatrixXd fitted = basis * (shrink.asDiagonal() * proj);
    *resid = (yc - fitted).array().colwise() / (1.0 - h.array());
    return resid->squaredNorm() / static_cast<double>(n * k);
  };

  std::vector<double> grid = options.alphas;
  std::sort(grid.begin(), grid.end());
  std::vector<double> mse(grid.size());
  Eigen::MatrixXd resid;
  for (size_t ai = 0; ai < grid.size(); ++ai) mse[ai] = loo(grid[ai], &resid);
  if (options.edge == GridEdge::kExtend && grid.size() >= 2) {
    constexpr int kMaxExtension = 12;
    const double step_low = grid[1] / grid[0], step_high = grid.back() / grid[grid.size() - 2];
    for (int e = 0; e < kMaxExtension; ++e) {
      size_t best = static_cast<size_t>(std::min_element(mse.begin(), mse.end()) - mse.begin());
      if (best == 0 && step_low > 1) {
        grid.insert(grid.begin(), grid.front() / step_low);
        mse.insert(mse.begin(), loo(grid.front(), &resid));
      } else if (best + 1 == grid.size() && step_high > 1) {
        grid.push_back(grid.back() * step_high);
        mse.push_back(loo(grid.back(), &resid));
      } else {
        break;
      }
    }
  }
  RidgeProbe probe;
  probe.alphas = grid;
  probe.loo_mse = mse;
  probe.alpha_index = static_cast<int>(std::min_element(mse.begin(), mse.end()) - mse.begin());
  probe.alpha = grid[probe.alpha_index];
  Eigen::MatrixXd best_resid;
  loo(probe.alpha, &best_resid);
  const double a = probe.alpha;
  Eigen::MatrixXd coef_std;
  if (primal) {
    coef_std = vecs * ((lam.array() + a).inverse().matrix().asDiagonal() * proj);
  } else {
    coef_std = xc.transpose() * (basis * ((lam.array() + a).inverse().matrix().asDiagonal() * proj));
  }
  probe.coef = coef_std * y_scale.asDiagonal();
  probe.intercept = y_mean - x_mean * probe.coef;
  probe.loo_predictions = y - best_resid * y_scale.asDiagonal();
  return probe;
}

}  // namespace lmlab::probe
