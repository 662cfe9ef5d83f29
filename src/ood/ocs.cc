#include "lmlab/ood/ocs.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include <fmt/format.h>
#include "lmlab/core/stats.h"

namespace lmlab::ood {
namespace {

constexpr double kFloor = 1e-12;

}  // namespace

std::string_view DistanceName(Distance d) { return d == Distance::kPaper ? "paper" : "lmlab"; }

Result<Distance> ParseDistance(std::string_view s) {
  if (s == "paper") return Distance::kPaper;
  if (s == "lmlab") return Distance::kLmlab;
  return InvalidArgument(fmt::format("unknown distance '{}': use paper (KL(f || OCS)) or lmlab (KL(OCS || f))", s));
}

std::string_view DistanceFormula(Distance d) { return d == Distance::kPaper ? "KL(f || OCS)" : "KL(OCS || f)"; }

std::vector<double> LabelMarginal(std::span<const int32_t> labels, int n_classes) {
  std::vector<double> p(static_cast<size_t>(n_classes), 0.0);
  for (int32_t y : labels)
    if (y >= 0 && y < n_classes) p[static_cast<size_t>(y)] += 1.0;
  double total = std::accumulate(p.begin(), p.end(), 0.0);
  if (total > 0)
    for (double& v : p) v /= total;
  return p;
}

std::vector<double> Softmax(std::span<const float> logits, double temperature) {
  std::vector<double> p(logits.size());
  if (logits.empty()) return p;
  double m = -std::numeric_limits<double>::infinity();
  for (float l : logits) m = std::max(m, static_cast<double>(l) / temperature);
  double sum = 0;
  for (size_t i = 0; i < logits.size(); ++i) sum += p[i] = std::exp(logits[i] / temperature - m);
  for (double& v : p) v /= sum;
  return p;
}

double KlDivergence(std::span<const double> p, std::span<const double> q) {
  double kl = 0;
  for (size_t i = 0; i < p.size() && i < q.size(); ++i)
    if (p[i] > 0) kl += p[i] * std::log(p[i] / std::max(q[i], kFloor));
  return kl;
}

double KlToOcs(std::span<const double> f, std::span<const double> ocs, Distance d) {
  return d == Distance::kPaper ? KlDivergence(f, ocs) : KlDivergence(ocs, f);
}

double SquaredError(std::span<const double> a, std::span<const double> b) {
  double s = 0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) s += (a[i] - b[i]) * (a[i] - b[i]);
  return s;
}

double GaussianKl(double mu_p, double var_p, double mu_q, double var_q) {
  var_p = std::max(var_p, kFloor);
  var_q = std::max(var_q, kFloor);
  return 0.5 * (std::log(var_q / var_p) + (var_p + (mu_p - mu_q) * (mu_p - mu_q)) / var_q - 1.0);
}

double GaussianKlToOcs(double mu, double var, double ocs_mu, double ocs_var, Distance d) {
  return d == Distance::kPaper ? GaussianKl(mu, var, ocs_mu, ocs_var) : GaussianKl(ocs_mu, ocs_var, mu, var);
}

double Entropy(std::span<const double> p) {
  double h = 0;
  for (double v : p)
    if (v > 0) h -= v * std::log(v);
  return h;
}

Result<double> Auroc(std::span<const double> positive_scores, std::span<const double> negative_scores) {
  if (positive_scores.empty() || negative_scores.empty())
    return InvalidArgument("AUROC needs at least one positive and one negative score");
  std::vector<double> all(positive_scores.begin(), positive_scores.end());
  all.insert(all.end(), negative_scores.begin(), negative_scores.end());
  std::vector<double> rank = Ranks(all);
  double pos_rank_sum = 0;
  for (size_t i = 0; i < positive_scores.size(); ++i) pos_rank_sum += rank[i];
  double n_pos = static_cast<double>(positive_scores.size());
  double n_neg = static_cast<double>(negative_scores.size());
  double u = pos_rank_sum - n_pos * (n_pos + 1) / 2;
  return u / (n_pos * n_neg);
}

}  // namespace lmlab::ood
