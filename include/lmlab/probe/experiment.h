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
#include <optional>
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
  // A bound on the activation bytes the sweep holds (0 = none). A layer whose
  // rows fit (n x width floats and their double copy) is fitted in memory; a
  // larger one with FitRidgeStreamed, its rows read in blocks (no MLP control
  // then: kInvalidArgument says to raise the cap or drop --mlp).
  uint64_t memory_cap_bytes = 0;
  // Keep each layer's probe coefficients in SweepResult::directions (for
  // comparing probes across models; not saved in JSON).
  bool keep_directions = false;
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
  int alpha_at_edge = 0;            // 1 when the chosen penalty is the grid's smallest or largest
  int streamed = 0;                 // 1 when the layer was fitted from streamed rows (memory cap)
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
  uint64_t peak_bytes = 0;                 // the most activation bytes held at once
  std::vector<Eigen::MatrixXd> directions; // [layers]: coef [n_embd, k], with keep_directions (not in JSON)
};

Result<SweepResult> RunLayerSweep(const LayerActivations& acts, const EntityDataset& ds, const SweepOptions& options);
// The same over activations read a layer at a time (e.g. CachedLayers).
Result<SweepResult> RunLayerSweep(const LayerSource& acts, const EntityDataset& ds, const SweepOptions& options);

// ---- block hold-out ----------------------------------------------------------

// What a held-out block is compared with.
enum class HoldoutBaseline {
  kStandardSplit,  // the paper: the probe fitted on the dataset's train split, scored on the block's
                   // entities that are in its test split (generalization_experiment.py)
  kKFold,          // lmlab: every entity predicted by a K-fold cross-fitted probe that did not see it
};

struct HoldoutOptions {
  std::string group_column;    // "country", "state_id", "borough_name", "decade", ...
  int64_t layer = -1;          // -1 = the middle layer
  int max_blocks = 12;         // the largest blocks (the paper holds out 20)
  int64_t min_block_size = 5;
  HoldoutBaseline baseline = HoldoutBaseline::kKFold;
  int folds = 5;               // kKFold's K
  // One penalty for every fit (the paper's MODEL_ALPHAS); none = each fit
  // chooses its own by leave-one-out over ridge.alphas.
  std::optional<double> fixed_alpha;
  RidgeOptions ridge;
  uint64_t seed = 0;           // kKFold's folds; the standard split is the dataset's (TrainTestSplit)
  ProgressCallback progress;
};

struct BlockResult {
  std::string block;
  int64_t n = 0;
  double block_proximity = 0;   // probe trained without the block; errors against all entities
  double random_proximity = 0;  // the baseline on the same block (standard split or K-fold)
  int64_t baseline_n = 0;       // the block's entities the baseline scores (its test-split ones, or all)
  double block_r2 = 0;
  double random_r2 = 0;
  double block_mean_km = -1;    // places only
  double random_mean_km = -1;
};

struct HoldoutResult {
  std::string group_column;
  int64_t layer = 0;
  std::string baseline;         // "standard split" or "5-fold"
  double alpha = 0;             // the fixed penalty (0 = chosen per fit)
  std::vector<BlockResult> blocks;
  double mean_block_proximity = 0;
  double mean_random_proximity = 0;  // over blocks with a baseline (baseline_n > 0)
};

Result<HoldoutResult> RunBlockHoldout(const LayerActivations& acts, const EntityDataset& ds, const HoldoutOptions& options);
Result<HoldoutResult> RunBlockHoldout(const LayerSource& acts, const EntityDataset& ds, const HoldoutOptions& options);

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

// A control: the same probe where there is nothing learned to find.
struct ControlRun {
  std::string name;                    // "shuffled targets", "random-init model", "static embedding"
  std::vector<int64_t> layers;         // the layers it was probed at ({-1}: the token embeddings, no layer)
  std::vector<double> test_r2;         // [layers]
  std::vector<double> test_proximity;  // [layers] (empty for the shuffled targets)
  double best_r2 = 0;                  // the highest test R^2 over its layers
  int64_t best_layer = 0;
  std::string detail;                  // what it is, e.g. the random model's file
};

// What the run claims: the best layer against the strongest control.
struct Headline {
  int64_t layer = 0;
  double r2 = 0;                  // the probe's best test R^2
  std::string strongest_control;  // the control with the highest best_r2 ("" when no control ran)
  double control_r2 = 0;
  double gap = 0;                 // r2 - control_r2
};

struct ProbeReport {
  std::string model;
  std::string dataset;
  std::string prompt_template;
  std::string protocol = "lmlab";      // "paper" or "lmlab"
  std::string entity_kind;             // "place", "person", "work", "event"
  std::string target_note;             // what the target is, when it needs saying
  std::string prompt_example;          // the first prompt, as the model reads it
  int64_t n_entities = 0;
  int64_t n_layers = 0;
  int64_t n_embd = 0;
  std::vector<double> alphas;          // the penalty grid
  std::string grid_edge;               // "keep" (RidgeCV) or "extend"
  double capture_seconds = 0;
  int64_t captured_prompts = 0;
  int64_t resumed_prompts = 0;
  int capture_from_cache = 0;
  std::string cache_dir;
  uint64_t memory_cap_bytes = 0;       // 0 = none
  uint64_t peak_activation_bytes = 0;  // the most activation bytes held at once (capture and probes)
  SweepResult sweep;
  std::vector<ControlRun> controls;
  Headline headline;
  std::vector<HoldoutResult> holdouts;
  std::vector<CrossPromptResult> cross_prompt;
  std::vector<NeuronSearchResult> neurons;
  std::string mlp_capture;             // how the neuron search's MLP activations were obtained
  std::vector<std::string> notes;      // what a reader must know (penalties at the grid's edge, ...)
};

// The headline of a report from its sweep and controls.
Headline MakeHeadline(const SweepResult& sweep, const std::vector<ControlRun>& controls);

void to_json(nlohmann::json& j, const ControlRun& c);
void from_json(const nlohmann::json& j, ControlRun& c);
void to_json(nlohmann::json& j, const Headline& h);
void from_json(const nlohmann::json& j, Headline& h);

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
