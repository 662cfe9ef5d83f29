#include "lmlab/ood/ood_score.h"

#include <algorithm>
#include <cmath>

#include <Eigen/Dense>
#include <fmt/format.h>

#include "lmlab/ood/ocs.h"

namespace lmlab::ood {
namespace {

double Sigmoid(double z) { return z >= 0 ? 1 / (1 + std::exp(-z)) : std::exp(z) / (1 + std::exp(z)); }

}  // namespace

double LogisticModel::Probability(std::span<const float> x) const {
  double z = bias;
  for (size_t j = 0; j < weights.size() && j < x.size(); ++j) z += weights[j] * (x[j] - mean[j]) / scale[j];
  return Sigmoid(z);
}

Result<LogisticModel> FitLogistic(std::span<const float> x, int d, std::span<const int> y, double l2) {
  const int64_t n = static_cast<int64_t>(y.size());
  if (d < 1 || static_cast<int64_t>(x.size()) != n * d)
    return InvalidArgument(fmt::format("logistic regression: {} values for {} rows of {} features", x.size(), n, d));
  if (!(l2 > 0)) return InvalidArgument("logistic regression: the L2 penalty must be positive");
  int64_t positives = 0;
  for (int v : y) positives += v == 1;
  if (positives == 0 || positives == n) return InvalidArgument("logistic regression needs rows of both classes");

  LogisticModel m;
  m.mean.assign(static_cast<size_t>(d), 0.0);
  m.scale.assign(static_cast<size_t>(d), 0.0);
  for (int64_t i = 0; i < n; ++i)
    for (int j = 0; j < d; ++j) m.mean[j] += x[i * d + j] / static_cast<double>(n);
  for (int64_t i = 0; i < n; ++i)
    for (int j = 0; j < d; ++j) m.scale[j] += std::pow(x[i * d + j] - m.mean[j], 2) / static_cast<double>(n);
  for (double& s : m.scale) s = s > 0 ? std::sqrt(s) : 1.0;  // StandardScaler leaves constant features at scale 1

  // Design matrix with an intercept column: [n, d + 1].
  Eigen::MatrixXd a(n, d + 1);
  for (int64_t i = 0; i < n; ++i) {
    for (int j = 0; j < d; ++j) a(i, j) = (x[i * d + j] - m.mean[j]) / m.scale[j];
    a(i, d) = 1.0;
  }
  Eigen::VectorXd t(n);
  for (int64_t i = 0; i < n; ++i) t(i) = y[i];
  Eigen::VectorXd penalty = Eigen::VectorXd::Constant(d + 1, l2);
  penalty(d) = 0;  // the intercept

  // Newton's method on f(w) = mean log-loss + l2/2 |w|^2: strictly convex, so
  // a handful of steps converge; halve a step if it does not lower f.
  Eigen::VectorXd w = Eigen::VectorXd::Zero(d + 1);
  auto objective = [&](const Eigen::VectorXd& v) {
    Eigen::VectorXd z = a * v;
    double f = 0;
    for (int64_t i = 0; i < n; ++i) f += (std::max(z(i), 0.0) - z(i) * t(i) + std::log1p(std::exp(-std::abs(z(i)))));
    return f / static_cast<double>(n) + 0.5 * (penalty.array() * v.array().square()).sum();
  };
  double f = objective(w);
  for (int iter = 0; iter < 50; ++iter) {
    Eigen::VectorXd z = a * w, p(n), s(n);
    for (int64_t i = 0; i < n; ++i) p(i) = Sigmoid(z(i)), s(i) = p(i) * (1 - p(i));
    Eigen::VectorXd grad = a.transpose() * (p - t) / static_cast<double>(n) + penalty.cwiseProduct(w);
    Eigen::MatrixXd hess = a.transpose() * s.asDiagonal() * a / static_cast<double>(n);
    hess.diagonal() += penalty;
    hess(d, d) += 1e-9;  // keeps the intercept's row invertible when every s is tiny
    Eigen::VectorXd step = hess.ldlt().solve(grad);
    double scale = 1, next = objective(w - step);
    while (next > f && scale > 1e-6) scale /= 2, next = objective(w - scale * step);
    if (next > f) break;
    w -= scale * step;
    const double gain = f - next;
    f = next;
    if (gain < 1e-12) break;
  }
  m.weights.assign(w.data(), w.data() + d);
  m.bias = w(d);
  return m;
}

Result<OodScore> ScoreShift(std::span<const float> clean, std::span<const float> shifted, int d,
                            const OodScoreOptions& o) {
  if (d < 1 || clean.size() % static_cast<size_t>(d) != 0 || shifted.size() % static_cast<size_t>(d) != 0)
    return InvalidArgument("OOD score: feature arrays are not whole rows");
  if (!(o.test_fraction > 0 && o.test_fraction < 1)) return InvalidArgument("OOD score: test fraction outside (0, 1)");
  // Balanced classes, as in the paper (9,000 clean vs 9,000 shifted): the
  // larger set is cut to the size of the smaller one, so the prior is 0.5.
  const int64_t n = std::min(static_cast<int64_t>(clean.size()), static_cast<int64_t>(shifted.size())) / d;
  const int64_t n_c = n, n_s = n;
  const int64_t train_c = static_cast<int64_t>(std::floor(n_c * (1 - o.test_fraction)));
  const int64_t train_s = static_cast<int64_t>(std::floor(n_s * (1 - o.test_fraction)));
  if (train_c < 1 || train_s < 1 || train_c >= n_c || train_s >= n_s)
    return InvalidArgument(fmt::format("OOD score: {} clean and {} shifted inputs are too few to split", n_c, n_s));
  std::vector<float> x(clean.begin(), clean.begin() + train_c * d);
  x.insert(x.end(), shifted.begin(), shifted.begin() + train_s * d);
  std::vector<int> y(static_cast<size_t>(train_c), 0);
  y.resize(static_cast<size_t>(train_c + train_s), 1);
  LMLAB_ASSIGN_OR_RETURN(LogisticModel m, FitLogistic(x, d, y, o.l2));

  OodScore s;
  s.train_rows = train_c + train_s;
  s.test_rows = (n_c - train_c) + (n_s - train_s);
  std::vector<double> pos, neg;
  for (int64_t i = train_s; i < n_s; ++i) pos.push_back(m.Probability(shifted.subspan(i * d, d)));
  for (int64_t i = train_c; i < n_c; ++i) neg.push_back(m.Probability(clean.subspan(i * d, d)));
  s.score = 0;
  for (double p : pos) s.score += p / static_cast<double>(pos.size());
  LMLAB_ASSIGN_OR_RETURN(s.auroc, Auroc(pos, neg));
  return s;
}

}  // namespace lmlab::ood
