#include "lmlab/core/stats.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

namespace lmlab {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

}  // namespace

double Mean(std::span<const double> x) {
  return x.empty() ? kNaN : std::accumulate(x.begin(), x.end(), 0.0) / static_cast<double>(x.size());
}

double Quantile(std::span<const double> sorted, double q) {
  if (sorted.empty()) return kNaN;
  const double pos = std::clamp(q, 0.0, 1.0) * static_cast<double>(sorted.size() - 1);
  const size_t lo = static_cast<size_t>(std::floor(pos));
  const size_t hi = std::min(lo + 1, sorted.size() - 1);
  return sorted[lo] + (pos - static_cast<double>(lo)) * (sorted[hi] - sorted[lo]);
}

double Median(std::vector<double> x) {
  if (x.empty()) return kNaN;
  const size_t mid = x.size() / 2;
  std::nth_element(x.begin(), x.begin() + mid, x.end());
  const double hi = x[mid];
  if (x.size() % 2 == 1) return hi;
  return (*std::max_element(x.begin(), x.begin() + mid) + hi) / 2;
}

std::vector<double> Ranks(std::span<const double> x) {
  std::vector<size_t> order(x.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return x[a] < x[b]; });
  std::vector<double> rank(x.size());
  for (size_t i = 0; i < order.size();) {
    size_t j = i;
    while (j + 1 < order.size() && x[order[j + 1]] == x[order[i]]) ++j;
    const double shared = 0.5 * static_cast<double>(i + j) + 1.0;  // mean of the 1-based ranks i+1..j+1
    for (size_t k = i; k <= j; ++k) rank[order[k]] = shared;
    i = j + 1;
  }
  return rank;
}

double Pearson(std::span<const double> x, std::span<const double> y) {
  if (x.size() != y.size() || x.size() < 2) return kNaN;
  const double mx = Mean(x), my = Mean(y);
  double sxy = 0, sxx = 0, syy = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    const double dx = x[i] - mx, dy = y[i] - my;
    sxy += dx * dy;
    sxx += dx * dx;
    syy += dy * dy;
  }
  if (sxx == 0 || syy == 0) return kNaN;
  return sxy / std::sqrt(sxx * syy);
}

double Spearman(std::span<const double> x, std::span<const double> y) {
  if (x.size() != y.size()) return kNaN;
  const std::vector<double> rx = Ranks(x), ry = Ranks(y);
  return Pearson(rx, ry);
}

}  // namespace lmlab
