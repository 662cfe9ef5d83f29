// Kang et al.'s OOD score (CIFAR10/plot.ipynb): how out-of-distribution a
// set of shifted inputs is, measured by a fixed feature extractor. A
// logistic regression on the extractor's (standardised) features learns to
// tell clean inputs from shifted ones; the score of the shifted set is the
// mean predicted probability of "shifted" over held-out shifted inputs
// (0.5 = indistinguishable from clean, 1 = certainly shifted). The paper fits
// scikit-learn's SGDClassifier(loss="log", alpha=10) after a StandardScaler
// thirty times and averages log-probabilities; lmlab solves the same
// L2-regularised objective exactly (Newton's method) once and reports the
// probability, plus the AUROC on the held-out split.
//
//   LMLAB_ASSIGN_OR_RETURN(OodScore s, ScoreShift(clean.features, shifted.features, clean.feature_dim));
//   s.score;   // in [0, 1]; higher = more OOD
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "lmlab/core/error.h"

namespace lmlab::ood {

// p(y = 1 | x) = sigmoid(w . (x - mean) / scale + b).
struct LogisticModel {
  std::vector<double> mean, scale;  // the standardisation, [d]
  std::vector<double> weights;      // [d]
  double bias = 0;
  double Probability(std::span<const float> x) const;
};

// Minimises mean log-loss + l2/2 |w|^2 (the intercept is not penalised, as
// in scikit-learn) over rows x [n, d] with labels y in {0, 1}.
// kInvalidArgument when a class is missing or the shapes disagree.
Result<LogisticModel> FitLogistic(std::span<const float> x, int d, std::span<const int> y, double l2);

struct OodScoreOptions {
  double l2 = 10;               // the paper's alpha
  double test_fraction = 0.2;   // held out from both sets for the score and the AUROC
};

struct OodScore {
  double score = 0.5;           // mean p(shifted) over held-out shifted inputs
  double auroc = 0.5;           // held-out clean vs held-out shifted
  int64_t train_rows = 0, test_rows = 0;
};

// clean [n_c, d] and shifted [n_s, d] features. Both sets are cut to the
// smaller one's size (balanced classes, as in the paper); the first
// 1 - test_fraction of each trains, the rest is held out. kInvalidArgument
// when a split would be empty.
Result<OodScore> ScoreShift(std::span<const float> clean, std::span<const float> shifted, int d,
                            const OodScoreOptions& options = {});

}  // namespace lmlab::ood
