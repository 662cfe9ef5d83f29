#include "lmlab/probe/metrics.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace lmlab::probe {
namespace {

constexpr double kDegToRad = M_PI / 180.0;

Eigen::VectorXd Ranks(const Eigen::VectorXd& v) {
  const Eigen::Index n = v.size();
  std::vector<Eigen::Index> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](Eigen::Index a, Eigen::Index b) { return v(a) < v(b); });
  Eigen::VectorXd r(n);
  for (Eigen::Index i = 0; i < n;) {
    Eigen::Index j = i;
    while (j + 1 < n && v(order[j + 1]) == v(order[i])) ++j;
    double avg = (i + j) / 2.0 + 1.0;  // ranks are 1-based; ties share the average
    for (Eigen::Index t = i; t <= j; ++t) r(order[t]) = avg;
    i = j + 1;
  }
  return r;
}

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

double Pearson(const Eigen::VectorXd& a, const Eigen::VectorXd& b) {
  Eigen::ArrayXd da = a.array() - a.mean(), db = b.array() - b.mean();
  double den = std::sqrt((da * da).sum() * (db * db).sum());
  return den > 0 ? (da * db).sum() / den : 0.0;
}

double Spearman(const Eigen::VectorXd& a, const Eigen::VectorXd& b) { return Pearson(Ranks(a), Ranks(b)); }

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
    m.mean_km = std::accumulate(km.begin(), km.end(), 0.0) / static_cast<double>(m.n);
    std::nth_element(km.begin(), km.begin() + m.n / 2, km.end());
    double hi = km[m.n / 2];
    if (m.n % 2 == 0) {
      double lo = *std::max_element(km.begin(), km.begin() + m.n / 2);
      m.median_km = (lo + hi) / 2;
    } else {
      m.median_km = hi;
    }
  }
  std::vector<double> prox = ProximityErrors(truth, pred, kind);
  m.proximity_error = prox.empty() ? 0 : std::accumulate(prox.begin(), prox.end(), 0.0) / static_cast<double>(prox.size());
  return m;
}

}  // namespace lmlab::probe
