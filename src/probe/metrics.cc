#include "lmlab/probe/metrics.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "lmlab/core/stats.h"

namespace lmlab::probe {
namespace {

constexpr double kDegToRad = M_PI / 180.0;

// Distance between a predicted point p (row of pred) and a true point t.
double Distance(const Eigen::MatrixXd& pred, Eigen::Index p, const Eigen::MatrixXd& truth, Eigen::Index t,
                TargetKind kind) {
  if (kind == TargetKind::kPlace) return HaversineKm(pred(p, 0), pred(p, 1), truth(t, 0), truth(t, 1));
  return (pred.row(p) - truth.row(t)).norm();
}

}  // namespace

double HaversineKm(double lat1, double lon1, double lat2, double lon2) {
  double p1 = lat1 * kDegToRad, p2 = lat2 * kDegToRad;
  double dp = (lat2 - lat1) * kDegToRad, dl = (lon2 - lon1) * kDegToRad;
  double a = std::sin(dp / 2) * std::sin(dp / 2) + std::cos(p1) * std::cos(p2) * std::sin(dl / 2) * std::sin(dl / 2);
  return 2 * kEarthRadiusKm * std::asin(std::min(1.0, std::sqrt(a)));
}

double RSquared(const Eigen::VectorXd& truth, const Eigen::VectorXd& pred) {
  double ss_res = (truth - pred).squaredNorm();
  double ss_tot = (truth.array() - truth.mean()).matrix().squaredNorm();
  if (ss_tot == 0) return ss_res == 0 ? 1.0 : 0.0;
  return 1.0 - ss_res / ss_tot;
}

namespace {
std::span<const double> View(const Eigen::VectorXd& v) { return {v.data(), static_cast<size_t>(v.size())}; }
double ZeroIfUndefined(double r) { return std::isnan(r) ? 0.0 : r; }
}  // namespace

double Pearson(const Eigen::VectorXd& a, const Eigen::VectorXd& b) { return ZeroIfUndefined(lmlab::Pearson(View(a), View(b))); }

double Spearman(const Eigen::VectorXd& a, const Eigen::VectorXd& b) {
  return ZeroIfUndefined(lmlab::Spearman(View(a), View(b)));
}

std::vector<double> ProximityErrorsFor(const Eigen::MatrixXd& truth, const Eigen::MatrixXd& pred, TargetKind kind,
                                       const std::vector<int64_t>& subset) {
  const Eigen::Index n = pred.rows();
  std::vector<double> out(subset.size(), 0.0);
  if (n < 2) return out;
#pragma omp parallel for schedule(dynamic, 16)
  for (size_t s = 0; s < subset.size(); ++s) {
    Eigen::Index i = subset[s];
    double own = Distance(pred, i, truth, i, kind);
    int64_t closer = 0;
    for (Eigen::Index j = 0; j < n; ++j)
      if (j != i && Distance(pred, j, truth, i, kind) < own) ++closer;
    // The paper's mean over every column j, its own included (never closer):
    // evaluation.py's proximity_scores averages a row of the n x n matrix.
    out[s] = static_cast<double>(closer) / static_cast<double>(n);
  }
  return out;
}

std::vector<double> ProximityErrors(const Eigen::MatrixXd& truth, const Eigen::MatrixXd& pred, TargetKind kind) {
  std::vector<int64_t> all(pred.rows());
  std::iota(all.begin(), all.end(), 0);
  return ProximityErrorsFor(truth, pred, kind, all);
}

LayerMetrics ComputeMetrics(const Eigen::MatrixXd& truth, const Eigen::MatrixXd& pred, TargetKind kind,
                            const std::vector<std::string>& names) {
  LayerMetrics m;
  m.n = truth.rows();
  if (m.n == 0) return m;
  for (Eigen::Index t = 0; t < truth.cols(); ++t) {
    TargetMetrics tm;
    tm.name = t < static_cast<Eigen::Index>(names.size()) ? names[t] : "target" + std::to_string(t);
    Eigen::VectorXd a = truth.col(t), b = pred.col(t);
    tm.r2 = RSquared(a, b);
    tm.pearson = Pearson(a, b);
    tm.spearman = Spearman(a, b);
    tm.mae = (a - b).cwiseAbs().mean();
    tm.rmse = std::sqrt((a - b).squaredNorm() / static_cast<double>(m.n));
    m.r2 += tm.r2 / static_cast<double>(truth.cols());
    m.targets.push_back(std::move(tm));
  }
  if (kind == TargetKind::kPlace && truth.cols() == 2) {
    std::vector<double> km(m.n);
    for (Eigen::Index i = 0; i < m.n; ++i) km[i] = HaversineKm(pred(i, 0), pred(i, 1), truth(i, 0), truth(i, 1));
    m.mean_km = Mean(km);
    m.median_km = Median(std::move(km));
  }
  m.proximity_error = Mean(ProximityErrors(truth, pred, kind));  // m.n > 0 here
  return m;
}

}  // namespace lmlab::probe
