// The optimal constant solution (OCS) and distances to it, after Kang,
// Setlur, Tomlin & Levine 2023, "Deep Neural Networks Tend to Extrapolate
// Predictably" (arXiv 2310.00873): the OCS is the one prediction that
// minimises the training loss without looking at the input. For
//   cross-entropy:  the training label marginal p(y),
//   MSE:            the mean target (for one-hot targets, also p(y)),
//   Gaussian NLL:   N(mean of y, variance of y).
// As inputs move out of distribution, predictions drift towards it.
//
//   std::vector<double> ocs = LabelMarginal(labels, 10);
//   double d = KlDivergence(softmax_of_logits, ocs);   // the paper's D_KL(f(x) || OCS)
//   double rho = Spearman(ood_scores, distances);      // core/stats.h; < 0: reverting
#pragma once

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "lmlab/core/error.h"
#include "lmlab/core/stats.h"  // Spearman: how distances to the OCS follow severity

namespace lmlab::ood {

// Which way round a distance to the OCS is measured (squared error, for MSE,
// is the same both ways).
enum class Distance {
  kPaper,  // Kang et al.: KL(f(x) || OCS) for a predicted distribution,
           // KL(N_pred || N_OCS) for Gaussian NLL, and, for a language
           // model, KL(p_t || OCS)
  kLmlab,  // lmlab's earlier convention: KL(OCS || f(x)), KL(N_OCS || N_pred),
           // KL(OCS || p_t)
};
std::string_view DistanceName(Distance d);  // "paper", "lmlab"
Result<Distance> ParseDistance(std::string_view s);
// How the distance reads in a table: "KL(f || OCS)" or "KL(OCS || f)".
std::string_view DistanceFormula(Distance d);

// Frequency of each class in `labels`: shape [n_classes], sums to 1.
std::vector<double> LabelMarginal(std::span<const int32_t> labels, int n_classes);

// Numerically stable softmax of logits: shape [n] -> [n].
std::vector<double> Softmax(std::span<const float> logits, double temperature = 1.0);

// D_KL(p || q) = sum_i p_i log(p_i / q_i), natural log; terms with p_i = 0
// are 0; q_i is floored at 1e-12 so a hard zero costs a finite amount.
double KlDivergence(std::span<const double> p, std::span<const double> q);

// The distance between a predicted distribution f and the OCS in convention
// `d`: KL(f || ocs) (paper) or KL(ocs || f) (lmlab).
double KlToOcs(std::span<const double> f, std::span<const double> ocs, Distance d);

// sum_i (a_i - b_i)^2.
double SquaredError(std::span<const double> a, std::span<const double> b);

// D_KL(N(mu_p, var_p) || N(mu_q, var_q)) = 0.5 [log(var_q/var_p) + (var_p + (mu_p-mu_q)^2)/var_q - 1].
double GaussianKl(double mu_p, double var_p, double mu_q, double var_q);

// The Gaussian distance to the OCS N(ocs_mu, ocs_var) in convention `d`.
double GaussianKlToOcs(double mu, double var, double ocs_mu, double ocs_var, Distance d);

// Shannon entropy in nats.
double Entropy(std::span<const double> p);

// Area under the ROC curve for telling positives from negatives by `score`
// (higher = more positive); ties count half. The Mann-Whitney U statistic
// divided by n_pos * n_neg. kInvalidArgument when a side is empty.
Result<double> Auroc(std::span<const double> positive_scores, std::span<const double> negative_scores);

}  // namespace lmlab::ood
