// The experiments of Gurnee & Tegmark 2023 over cached activations:
//   - RunLayerSweep: a ridge probe per layer (plus, optionally, the MLP
//     control and a shuffled-target control), test metrics per layer;
//   - RunBlockHoldout: hold out a whole country / state / borough / decade,
//     refit, and compare the proximity error of those points with what a
//     random-split probe gets on the same points;
//   - RunCrossPrompt: fit on one prompt template, test on another;
//   - TopCorrelatedUnits / SearchMlpNeurons / AlignWeights: residual units
//     and MLP neurons whose activations correlate with the target (the
//     paper's neuron analysis), and neurons whose weights align with the
//     probe direction.
// Results are plain structs with to/from JSON, so `lmlab probe report` can
// re-render a saved run.
//
//   LMLAB_ASSIGN_OR_RETURN(SweepResult s, RunLayerSweep(acts, ds, {}));
//   for (const LayerResult& l : s.layers) fmt::print("{} {:.3f}\n", l.layer, l.test.r2);
#pragma once

#include <Eigen/Dense>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <vector>

#include "lmlab/core/error.h"
#include "lmlab/core/progress.h"
#include "lmlab/probe/activation_cache.h"
#include "lmlab/probe/dataset.h"
#include "lmlab/probe/metrics.h"
#include "lmlab/probe/mlp.h"
#include "lmlab/probe/ridge.h"

namespace lmlab::probe {

struct Split {
  std::vector<int64_t> train;
  std::vector<int64_t> test;
};
// The dataset's own is_test flags when it has them, else a seeded random 20%.
Split TrainTestSplit(const EntityDataset& ds, uint64_t seed);

enum class MlpControl { kOff, kOn };
enum class ShuffleControl { kOff, kOn };

struct SweepOptions {
  RidgeOptions ridge;
  MlpControl mlp = MlpControl::kOff;
  MlpOptions mlp_options;
  ShuffleControl shuffle = ShuffleControl::kOn;  // the same probe on permuted targets
  std::vector<int64_t> layers;                   // empty = every layer
  uint64_t seed = 0;
  ProgressCallback progress;
};

struct LayerResult {
  int64_t layer = 0;
  double alpha = 0;                 // the LOO-chosen penalty
  double loo_r2 = 0;                // R^2 of the leave-one-out predictions on the training rows
  LayerMetrics test;                // linear probe, test rows
  LayerMetrics mlp_test;            // MLP control (n == 0 when not run)
  double mlp_weight_decay = 0;
  double shuffled_test_r2 = 0;      // shuffled-target control (0 when not run)
  std::vector<double> test_predictions;  // [n_test, k] linear probe, for plots
};

struct SweepResult {
  std::string dataset;
  TargetKind kind = TargetKind::kPlace;
  std::vector<std::string> target_names;
  std::vector<int64_t> train_rows, test_rows;
  std::vector<std::string> test_entities;  // [n_test]
  std::vector<std::string> test_colour;    // [n_test] first group column (country, decade, ...) or ""
  std::string colour_by;                   // that column's name
  std::vector<double> test_truth;          // [n_test, k]
  std::vector<LayerResult> layers;
  int64_t best_layer = 0;                  // highest linear test R^2
  double best_r2 = 0;
  int shuffle_ran = 0;                     // 1 when the shuffled control ran
  int mlp_ran = 0;
};

Result<SweepResult> RunLayerSweep(const LayerActivations& acts, const EntityDataset& ds, const SweepOptions& options);

// ---- block hold-out ----------------------------------------------------------

struct HoldoutOptions {
  std::string group_column;    // "country", "state_id", "borough_name", "decade", ...
  int64_t layer = -1;          // -1 = the middle layer
  int max_blocks = 12;         // the largest blocks
  int64_t min_block_size = 5;
  int folds = 5;               // the random-split baseline is K-fold cross-fitted
  RidgeOptions ridge;
  uint64_t seed = 0;
  ProgressCallback progress;
};

struct BlockResult {
  std::string block;
  int64_t n = 0;
  double block_proximity = 0;   // probe trained without the block
  double random_proximity = 0;  // the same points, held out at random
  double block_r2 = 0;
  double random_r2 = 0;
  double block_mean_km = -1;    // places only
  double random_mean_km = -1;
};

struct HoldoutResult {
  std::string group_column;
  int64_t layer = 0;
  std::vector<BlockResult> blocks;
  double mean_block_proximity = 0;
  double mean_random_proximity = 0;
};

Result<HoldoutResult> RunBlockHoldout(const LayerActivations& acts, const EntityDataset& ds, const HoldoutOptions& options);

// ---- prompt transfer -----------------------------------------------------------

struct CrossPromptLayer {
  int64_t layer = 0;
  double same_r2 = 0;   // fit and test on the test prompt
  double cross_r2 = 0;  // fit on the train prompt, test on the test prompt
  double cross_proximity = 0;
};
struct CrossPromptResult {
  std::string train_prompt, test_prompt;
  std::vector<CrossPromptLayer> layers;
};
// Both activation sets hold the same entities in the same order.
Result<CrossPromptResult> RunCrossPrompt(const LayerActivations& train_acts, const LayerActivations& test_acts,
                                         const EntityDataset& ds, const std::string& train_prompt,
                                         const std::string& test_prompt, const RidgeOptions& ridge, uint64_t seed);

// ---- neurons ---------------------------------------------------------------------

struct NeuronHit {
  int64_t index = 0;
  std::string target;        // which target it relates to
  double correlation = 0;    // Pearson with the target (activations)
  double cosine = 0;         // cosine with the probe direction (weights)
};
struct NeuronSearchResult {
  int64_t layer = 0;
  // Whose activations by_activation ranks: "residual" (units of the residual
  // stream after block `layer`) or "mlp" (block `layer`'s MLP neurons, the
  // activations entering its ffn_down; their `cosine` is then that of the
  // neuron's ffn_down column with the probe direction, when `weights` names it).
  std::string stream = "residual";
  std::vector<NeuronHit> by_activation;   // units most correlated with each target
  std::vector<NeuronHit> by_weight;       // neurons whose weight rows align with the probe direction
  std::string weights;                    // which weights were searched ("blk.3.ffn_up", "" = none)
};
// activations [n, units], targets [n, k]: the top_k units by |Pearson| per target.
std::vector<NeuronHit> TopCorrelatedUnits(const Eigen::MatrixXd& activations, const Eigen::MatrixXd& targets,
                                          const std::vector<std::string>& target_names, int top_k);
// The same for activations held as floats, [n, n_units] row-major with n =
// targets.rows() (an MLP block: n_ff wide), without a double copy.
// kInvalidArgument when the sizes disagree.
Result<std::vector<NeuronHit>> TopCorrelatedUnits(std::span<const float> activations, int64_t n_units,
                                                  const Eigen::MatrixXd& targets,
                                                  const std::vector<std::string>& target_names, int top_k);
// The paper's neuron analysis: block `layer`'s MLP neurons whose activations
// correlate most (|Pearson|) with each of the dataset's targets, over all
// entities (stream "mlp"). kInvalidArgument when `mlp` does not hold the
// block or its rows are not the dataset's entities.
Result<NeuronSearchResult> SearchMlpNeurons(const MlpActivations& mlp, int64_t layer, const EntityDataset& ds,
                                            int top_k);
// Sets each hit's cosine: of weights.row(hit.index) with the column of
// `directions` of its target (by name). weights [n_neurons, n_embd],
// directions [n_embd, k]; hits whose row or target is missing are left as they are.
void SetWeightCosines(std::vector<NeuronHit>& hits, const Eigen::MatrixXd& weights, const Eigen::MatrixXd& directions,
                      const std::vector<std::string>& target_names);
// weights [n_neurons, n_embd] (each row a neuron's input or output direction),
// directions [n_embd, k] (probe coefficients): the top_k by |cosine| per target.
std::vector<NeuronHit> AlignWeights(const Eigen::MatrixXd& weights, const Eigen::MatrixXd& directions,
                                    const std::vector<std::string>& target_names, int top_k);

// ---- one run, as the CLI saves it ----------------------------------------------

struct ControlRun {
  std::string name;                // "random-init model", "shuffled targets"
  std::vector<double> test_r2;     // [n_layers]
};

struct ProbeReport {
  std::string model;
  std::string dataset;
  std::string prompt_template;
  int64_t n_entities = 0;
  int64_t n_layers = 0;
  int64_t n_embd = 0;
  double capture_seconds = 0;
  int64_t captured_prompts = 0;
  std::string cache_dir;
  SweepResult sweep;
  std::vector<ControlRun> controls;
  std::vector<HoldoutResult> holdouts;
  std::vector<CrossPromptResult> cross_prompt;
  std::vector<NeuronSearchResult> neurons;
};

// What makes a report's headline number meaningless, one sentence each with
// its cause: no layer predicts held-out entities (test R^2 <= 0), or the best
// probe does not beat a control it was run with (shuffled targets, a
// random-init model, ...). Empty when the probe found something. The CLI and
// the demo show these as warnings instead of "ok".
std::vector<std::string> DegenerateFindings(const ProbeReport& report);

void to_json(nlohmann::json& j, const LayerMetrics& m);
void from_json(const nlohmann::json& j, LayerMetrics& m);
void to_json(nlohmann::json& j, const ProbeReport& r);
void from_json(const nlohmann::json& j, ProbeReport& r);
Result<ProbeReport> ParseReport(std::string_view json_text);

}  // namespace lmlab::probe
