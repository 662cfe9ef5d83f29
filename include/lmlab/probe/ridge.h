// Linear probes: ridge regression with the penalty chosen by exact
// leave-one-out cross-validation over a log grid, all in closed form.
//
// One reduction to tridiagonal form per fit — of the d x d covariance
// Xc^T Xc or of the n x n Gram matrix Xc Xc^T, whichever costs less (the
// primal side from n of about 1.1 d up) — gives, for
// every penalty a on the grid, the coefficients and every leave-one-out
// residual e_i / (1 - H_ii) with no refitting (an O(m) factorisation of
// T + aI and one sweep over the basis per penalty). The intercept is not penalised (X and Y
// are centred, H = 11^T/n + Xc (Xc^T Xc + aI)^-1 Xc^T), which is the model
// scikit-learn's RidgeCV fits, so the chosen penalties agree.
//
//   RidgeOptions o;                         // the paper's grid: logspace(0.8, 4.1, 12)
//   LMLAB_ASSIGN_OR_RETURN(RidgeProbe p, FitRidge(X, Y, o));   // X [n, d], Y [n, k]
//   Eigen::MatrixXd Yhat = p.Predict(X_test);                  // [n_test, k]
#pragma once

#include <Eigen/Dense>
#include <string>
#include <functional>
#include <vector>

#include "lmlab/core/error.h"

namespace lmlab::probe {

// 10^start .. 10^stop, `count` points (numpy.logspace).
std::vector<double> LogSpace(double start, double stop, int count);

enum class StandardizeTargets { kYes, kNo };

// What to do when the best penalty sits at an end of the grid (the paper's
// grid suits 7B activations; a small model's optimum can lie below it).
enum class GridEdge {
  kKeep,    // report the edge value (what scikit-learn's RidgeCV does)
  kExtend,  // keep adding grid steps beyond that end, up to 12 more, while the LOO error falls
};

// The system's LAPACK and BLAS when OpenBLAS stands behind them (see
// RidgeLinearAlgebraName), else Eigen; or Eigen always (the tests check both).
enum class RidgeLinearAlgebra { kAuto, kEigen };

struct RidgeOptions {
  std::vector<double> alphas = LogSpace(0.8, 4.1, 12);  // Gurnee & Tegmark's grid for Llama-2-7B
  // Fit z-scored targets (lat and lon on one scale, so one penalty serves both
  // and the LOO error averages comparable numbers); predictions come back in
  // the original units.
  StandardizeTargets standardize = StandardizeTargets::kYes;
  GridEdge edge = GridEdge::kKeep;
  // Threads for the products and the tridiagonal reduction (Eigen's OpenMP and
  // OpenBLAS's pool): N, or 0 for the idle cores (core/threads.h).
  int threads = 0;
  RidgeLinearAlgebra linear_algebra = RidgeLinearAlgebra::kAuto;
};

struct RidgeProbe {
  double alpha = 0;                  // the chosen penalty
  int alpha_index = 0;               // its index in RidgeOptions::alphas
  std::vector<double> alphas;        // the grid (with any extension, ascending)
  std::vector<double> loo_mse;       // [n_alphas]: mean over targets of the LOO squared error (standardised units)
  Eigen::MatrixXd coef;              // [d, k] in original target units
  Eigen::RowVectorXd intercept;      // [k]
  Eigen::MatrixXd loo_predictions;   // [n, k] leave-one-out predictions at the chosen alpha (original units)

  Eigen::MatrixXd Predict(const Eigen::MatrixXd& x) const;  // x [m, d] -> [m, k]
};

// kInvalidArgument for empty, mismatched or non-finite inputs, n < 3, or a
// non-positive penalty.
Result<RidgeProbe> FitRidge(const Eigen::MatrixXd& x, const Eigen::MatrixXd& y, const RidgeOptions& options);

// Which linear algebra FitRidge uses on this machine: the system's LAPACK
// (liblapack.so.3) when OpenBLAS stands behind it, e.g. "LAPACK dsytrd + dorgtr
// (OpenBLAS 0.3.21 ..., SkylakeX)", otherwise "Eigen (Tridiagonalization)".
// Loads the LAPACK on first use (so OPENBLAS_CORETYPE must be set before).
std::string RidgeLinearAlgebraName();

}  // namespace lmlab::probe

namespace lmlab::probe {

// ---- the same probe from streamed rows (activations larger than memory) ----------

// Reads rows [begin, end) of the training matrix as doubles into *x
// ([end - begin, d]); called in increasing, contiguous blocks.
using RowBlockReader = std::function<Status(int64_t begin, int64_t end, Eigen::MatrixXd* x)>;

// FitRidge for n training rows that arrive in blocks of at most `block_rows`
// (y [n, k] is in memory): a first pass accumulates the column sums, X^T X and
// X^T Y, one eigendecomposition of the centred d x d covariance follows, and a
// second pass computes every leave-one-out residual for every penalty (the
// grid and, with GridEdge::kExtend, the 12 steps beyond each end), so the
// chosen penalty, coefficients and LOO predictions equal FitRidge's up to
// rounding. Memory: three d x d matrices and one block of rows. Needs n > d
// (kInvalidArgument otherwise: then X has no more entries than X^T X, and
// FitRidge on the rows in memory costs no more).
Result<RidgeProbe> FitRidgeStreamed(int64_t n, int64_t d, const RowBlockReader& x, const Eigen::MatrixXd& y,
                                    const RidgeOptions& options, int64_t block_rows = 4096);

}  // namespace lmlab::probe
