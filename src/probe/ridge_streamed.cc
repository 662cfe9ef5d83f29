// FitRidge from streamed rows: the same model, penalty choice and LOO
// residuals in the primal form (probe/ridge.h), with the training matrix
// read in blocks twice instead of held.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "lmlab/probe/ridge.h"

namespace lmlab::probe {

Result<RidgeProbe> FitRidgeStreamed(int64_t n, int64_t d, const RowBlockReader& read, const Eigen::MatrixXd& y,
                                    const RidgeOptions& options, int64_t block_rows) {
  const int64_t k = y.cols();
  if (n < 3) return InvalidArgument(fmt::format("a ridge probe needs at least 3 examples (got {})", n));
  if (d <= 0 || k == 0) return InvalidArgument("a ridge probe needs at least one feature and one target");
  if (y.rows() != n) return InvalidArgument(fmt::format("ridge: {} rows of activations but {} targets", n, y.rows()));
  if (n <= d)
    return InvalidArgument(fmt::format("streamed ridge needs more rows than columns ({} rows, {} columns)", n, d));
  if (!y.allFinite()) return InvalidArgument("ridge: targets contain NaN or infinity");
  if (options.alphas.empty()) return InvalidArgument("ridge: the penalty grid is empty");
  for (double a : options.alphas)
    if (!(a > 0) || !std::isfinite(a)) return InvalidArgument(fmt::format("ridge: penalty {} must be positive", a));
  block_rows = std::max<int64_t>(1, block_rows);

  // Targets: centred and (optionally) z-scored, as FitRidge.
  const Eigen::RowVectorXd y_mean = y.colwise().mean();
  Eigen::MatrixXd yc = y.rowwise() - y_mean;
  Eigen::RowVectorXd y_scale = Eigen::RowVectorXd::Ones(k);
  if (options.standardize == StandardizeTargets::kYes) {
    for (Eigen::Index t = 0; t < k; ++t) {
      const double sd = std::sqrt(yc.col(t).squaredNorm() / static_cast<double>(n));
      y_scale(t) = sd > 0 ? sd : 1.0;
    }
    yc = yc.array().rowwise() / y_scale.array();
  }

  // Pass 1: sums over rows shifted by the first block's mean (keeps X^T X
  // well conditioned when the columns have large means).
  Eigen::RowVectorXd shift = Eigen::RowVectorXd::Zero(d), sum = Eigen::RowVectorXd::Zero(d);
  Eigen::MatrixXd xtx = Eigen::MatrixXd::Zero(d, d), xty = Eigen::MatrixXd::Zero(d, k);
  Eigen::MatrixXd block;
  for (int64_t begin = 0; begin < n; begin += block_rows) {
    const int64_t end = std::min(n, begin + block_rows);
    LMLAB_RETURN_IF_ERROR(read(begin, end, &block));
    if (block.rows() != end - begin || block.cols() != d)
      return Internal(fmt::format("streamed ridge: a block of {} x {} for rows {}..{}", block.rows(), block.cols(), begin,
                                  end));
    if (!block.allFinite()) return InvalidArgument("ridge: activations contain NaN or infinity");
    if (begin == 0) shift = block.colwise().mean();
    block.rowwise() -= shift;
    sum += block.colwise().sum();
    xtx.selfadjointView<Eigen::Lower>().rankUpdate(block.transpose());
    xty.noalias() += block.transpose() * yc.middleRows(begin, end - begin);
  }
  const Eigen::RowVectorXd mu = sum / static_cast<double>(n);  // mean of the shifted rows
  const Eigen::MatrixXd full = xtx.selfadjointView<Eigen::Lower>();
  const Eigen::MatrixXd cov = full - static_cast<double>(n) * mu.transpose() * mu;  // Xc^T Xc
  // yc is centred, so Xc^T yc = (X - shift)^T yc.
  Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> eig(cov);
  if (eig.info() != Eigen::Success) return Internal("ridge: the eigendecomposition did not converge");
  const Eigen::VectorXd lam = eig.eigenvalues().cwiseMax(0.0);
  const Eigen::MatrixXd& vecs = eig.eigenvectors();
  const Eigen::MatrixXd proj = vecs.transpose() * xty;  // [d, k]

  // Every penalty the grid may use: the grid, and with kExtend 12 steps beyond each end.
  std::vector<double> grid = options.alphas;
  std::sort(grid.begin(), grid.end());
  constexpr int kMaxExtension = 12;
  std::vector<double> all = grid;
  int below = 0;
  if (options.edge == GridEdge::kExtend && grid.size() >= 2) {
    const double step_low = grid[1] / grid[0], step_high = grid.back() / grid[grid.size() - 2];
    if (step_low > 1)
      for (int e = 1; e <= kMaxExtension; ++e, ++below) all.insert(all.begin(), grid.front() / std::pow(step_low, e));
    if (step_high > 1)
      for (int e = 1; e <= kMaxExtension; ++e) all.push_back(grid.back() * std::pow(step_high, e));
  }
  const size_t n_alpha = all.size();
  // shrink(j, a) = 1 / (lam_j + a)
  Eigen::MatrixXd shrink(d, static_cast<Eigen::Index>(n_alpha));
  for (size_t a = 0; a < n_alpha; ++a) shrink.col(static_cast<Eigen::Index>(a)) = (lam.array() + all[a]).inverse();

  // Pass 2: LOO residuals for every penalty.
  std::vector<double> sse(n_alpha, 0.0);
  const double inv_n = 1.0 / static_cast<double>(n);
  for (int64_t begin = 0; begin < n; begin += block_rows) {
    const int64_t end = std::min(n, begin + block_rows);
    LMLAB_RETURN_IF_ERROR(read(begin, end, &block));
    if (block.rows() != end - begin || block.cols() != d) return Internal("streamed ridge: a block changed size");
    block.rowwise() -= shift + mu;                       // centred rows
    const Eigen::MatrixXd p = block * vecs;             // [m, d]
    const Eigen::MatrixXd h = p.array().square().matrix() * shrink;  // [m, n_alpha] (without 1/n)
    for (size_t a = 0; a < n_alpha; ++a) {
      const Eigen::MatrixXd fitted = p * (shrink.col(static_cast<Eigen::Index>(a)).asDiagonal() * proj);  // [m, k]
      const Eigen::ArrayXd denom = 1.0 - (h.col(static_cast<Eigen::Index>(a)).array() + inv_n);
      const Eigen::MatrixXd resid =
          ((yc.middleRows(begin, end - begin) - fitted).array().colwise() / denom).matrix();
      sse[a] += resid.squaredNorm();
    }
  }
  std::vector<double> mse(n_alpha);
  for (size_t a = 0; a < n_alpha; ++a) mse[a] = sse[a] / static_cast<double>(n * k);

  // The grid FitRidge would have ended with: the original one, extended one
  // step at a time while the best penalty sits at an end.
  size_t lo = static_cast<size_t>(below), hi = lo + grid.size();  // [lo, hi) of `all`
  if (options.edge == GridEdge::kExtend && grid.size() >= 2) {
    for (int e = 0; e < kMaxExtension; ++e) {
      const size_t best = static_cast<size_t>(std::min_element(mse.begin() + lo, mse.begin() + hi) - mse.begin());
      if (best == lo && lo > 0) --lo;
      else if (best + 1 == hi && hi < n_alpha) ++hi;
      else break;
    }
  }
  RidgeProbe probe;
  probe.alphas.assign(all.begin() + lo, all.begin() + hi);
  probe.loo_mse.assign(mse.begin() + lo, mse.begin() + hi);
  probe.alpha_index =
      static_cast<int>(std::min_element(probe.loo_mse.begin(), probe.loo_mse.end()) - probe.loo_mse.begin());
  probe.alpha = probe.alphas[probe.alpha_index];
  const Eigen::MatrixXd coef_std = vecs * ((lam.array() + probe.alpha).inverse().matrix().asDiagonal() * proj);
  probe.coef = coef_std * y_scale.asDiagonal();
  probe.intercept = y_mean - (shift + mu) * probe.coef;
  // loo_predictions stays empty: it would be [n, k] for every row. With
  // standardised targets the LOO R^2 is 1 - loo_mse[alpha_index].
  return probe;
}

}  // namespace lmlab::probe
