// How well a probe's predictions match the truth: R^2, Pearson and Spearman
// correlation, MAE, RMSE per target; for places the great-circle error in km;
// and Gurnee & Tegmark's proximity error — for each entity, the fraction of
// the other entities whose *predicted* point lies closer to this entity's
// true point than its own prediction does (0 = best, 0.5 = chance).
//
//   LayerMetrics m = ComputeMetrics(truth, predicted, TargetKind::kPlace);  // [n, 2] each
//   double km = HaversineKm(48.8566, 2.3522, 51.5074, -0.1278);             // Paris-London, ~343.6
#pragma once

#include <Eigen/Dense>
#include <string>
#include <vector>

#include "lmlab/probe/dataset.h"

namespace lmlab::probe {

constexpr double kEarthRadiusKm = 6371.0088;  // IUGG mean radius

// Great-circle distance between two (latitude, longitude) points in degrees.
double HaversineKm(double lat1, double lon1, double lat2, double lon2);

struct TargetMetrics {
  std::string name;  // "latitude", "longitude", "year"
  double r2 = 0;
  double pearson = 0;
  double spearman = 0;
  double mae = 0;
  double rmse = 0;
};

struct LayerMetrics {
  int64_t n = 0;
  std::vector<TargetMetrics> targets;
  double r2 = 0;                // mean of the per-target R^2 (scikit-learn's uniform average)
  double mean_km = -1;          // places: mean haversine error; -1 otherwise
  double median_km = -1;
  double proximity_error = 0;   // mean over entities, in [0, 1]
};

// R^2 = 1 - SS_res / SS_tot; scikit-learn's convention when the truth is
// constant: 1 for an exact prediction, else 0.
double RSquared(const Eigen::VectorXd& truth, const Eigen::VectorXd& pred);
// core/stats.h's Pearson and Spearman (ties get their average rank) on Eigen
// vectors, with the probe tables' convention: 0 where the correlation is
// undefined (a constant prediction or truth, fewer than 2 entities).
double Pearson(const Eigen::VectorXd& a, const Eigen::VectorXd& b);
double Spearman(const Eigen::VectorXd& a, const Eigen::VectorXd& b);

// Per entity i: |{j : dist(pred_j, truth_i) < dist(pred_i, truth_i)}| / n, the
// paper's definition (probes/evaluation.py: the mean of a row of the n x n
// "closer" matrix, whose diagonal is never true; chance is (n - 1) / 2n).
// dist is haversine for places and |difference| for times. [n]
std::vector<double> ProximityErrors(const Eigen::MatrixXd& truth, const Eigen::MatrixXd& pred, TargetKind kind);
// The same, but only for the entities in `subset`, while the competitors j
// range over all rows of `pred` (used by block hold-outs).
std::vector<double> ProximityErrorsFor(const Eigen::MatrixXd& truth, const Eigen::MatrixXd& pred, TargetKind kind,
                                       const std::vector<int64_t>& subset);

// truth and pred are [n, n_targets]; names label the targets.
LayerMetrics ComputeMetrics(const Eigen::MatrixXd& truth, const Eigen::MatrixXd& pred, TargetKind kind,
                            const std::vector<std::string>& names);

}  // namespace lmlab::probe
