// The non-linear control probe: one hidden layer of 256 ReLU units trained
// with AdamW on z-scored inputs and targets, the weight decay chosen on a
// held-out 10% validation split, early stopping on the validation loss
// (Gurnee & Tegmark 2023, appendix: the MLP adds little over the linear
// probe, which is the point of the control).
//
//   LMLAB_ASSIGN_OR_RETURN(MlpProbe mlp, FitMlp(X, Y, {}));  // X [n, d], Y [n, k]
//   Eigen::MatrixXd Yhat = mlp.Predict(X_test);              // [n_test, k]
#pragma once

#include <Eigen/Dense>
#include <cstdint>
#include <vector>

#include "lmlab/core/error.h"

namespace lmlab::probe {

struct MlpOptions {
  int hidden = 256;
  std::vector<double> weight_decays = {1e-3, 1e-2, 1e-1};  // tried in order; the best validation loss wins
  double learning_rate = 1e-3;
  int batch_size = 128;
  int max_epochs = 100;
  int patience = 8;                  // epochs without a better validation loss before stopping
  double validation_fraction = 0.1;
  uint64_t seed = 0;
};

struct MlpProbe {
  double weight_decay = 0;
  int epochs = 0;                    // epochs trained for the chosen decay (best epoch kept)
  double validation_mse = 0;         // in z-scored target units
  std::vector<double> validation_by_decay;  // [n_decays]
  Eigen::RowVectorXf x_mean, x_scale;  // [d]
  Eigen::RowVectorXd y_mean, y_scale;  // [k]
  Eigen::MatrixXf w1;                // [hidden, d]
  Eigen::RowVectorXf b1;             // [hidden]
  Eigen::MatrixXf w2;                // [k, hidden]
  Eigen::RowVectorXf b2;             // [k]

  Eigen::MatrixXd Predict(const Eigen::MatrixXd& x) const;  // [m, d] -> [m, k]
};

// kInvalidArgument for fewer than 10 examples, mismatched shapes, non-finite values.
Result<MlpProbe> FitMlp(const Eigen::MatrixXd& x, const Eigen::MatrixXd& y, const MlpOptions& options);

}  // namespace lmlab::probe
