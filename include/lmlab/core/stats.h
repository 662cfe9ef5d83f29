// Descriptive statistics shared by the experiments: means, quantiles, ranks
// with ties, Pearson and Spearman correlation.
//
//   double rho = Spearman(severities, distances);   // NaN when undefined
//   double r = Pearson(truth, predicted);
//   double p90 = Quantile(sorted_latencies, 0.9);   // input sorted ascending
//
// Conventions: inputs are spans of doubles (a std::vector, an Eigen column via
// std::span(col.data(), col.size())); a statistic that is undefined for its
// input (no points, a constant side, sizes that differ) is NaN, never a number
// that looks like a measurement. Callers that want another convention say so
// where they call.
#pragma once

#include <span>
#include <vector>

namespace lmlab {

// Arithmetic mean; NaN for no values.
double Mean(std::span<const double> x);

// The q-quantile (q in [0, 1], clamped) of values sorted ascending, by linear
// interpolation between the closest ranks (NumPy's default, "linear"); NaN for
// no values.
double Quantile(std::span<const double> sorted, double q);

// Median of unsorted values (the mean of the two middle ones for an even
// count); NaN for no values.
double Median(std::vector<double> x);

// Ranks starting at 1, in input order; tied values share the average of the
// ranks they span ("fractional ranking": {10, 20, 20, 30} -> {1, 2.5, 2.5, 4}).
std::vector<double> Ranks(std::span<const double> x);

// Pearson's product-moment correlation in [-1, 1]. NaN when the sizes differ,
// there are fewer than 2 points, or either side is constant.
double Pearson(std::span<const double> x, std::span<const double> y);

// Spearman's rank correlation: Pearson of the Ranks (ties averaged). NaN as
// for Pearson.
double Spearman(std::span<const double> x, std::span<const double> y);

}  // namespace lmlab
