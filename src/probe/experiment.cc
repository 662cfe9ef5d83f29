#include "lmlab/probe/experiment.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <numeric>
#include <random>

#include "lmlab/core/stats.h"
#include "lmlab/core/text.h"

namespace lmlab::probe {
namespace {

Eigen::MatrixXd TargetMatrix(const EntityDataset& ds, const std::vector<int64_t>& rows) {
  Eigen::MatrixXd y(static_cast<Eigen::Index>(rows.size()), ds.n_targets());
  for (size_t r = 0; r < rows.size(); ++r)
    for (int64_t t = 0; t < ds.n_targets(); ++t) y(static_cast<Eigen::Index>(r), t) = ds.target(rows[r], t);
  return y;
}

std::vector<double> Flatten(const Eigen::MatrixXd& m) {
  std::vector<double> out;
  out.reserve(static_cast<size_t>(m.size()));
  for (Eigen::Index i = 0; i < m.rows(); ++i)
    for (Eigen::Index j = 0; j < m.cols(); ++j) out.push_back(m(i, j));
  return out;
}

double MeanR2(const Eigen::MatrixXd& truth, const Eigen::MatrixXd& pred) {
  double s = 0;
  for (Eigen::Index t = 0; t < truth.cols(); ++t) s += RSquared(truth.col(t), pred.col(t));
  return s / static_cast<double>(truth.cols());
}

Status CheckShapes(const LayerActivations& acts, const EntityDataset& ds) {
  LMLAB_RETURN_IF_ERROR(ValidateDataset(ds));
  if (acts.n != ds.size())
    return InvalidArgument(fmt::format("{} activation rows for {} entities", acts.n, ds.size()));
  if (acts.n_layers <= 0 || acts.n_embd <= 0) return InvalidArgument("the activations are empty");
  return {};
}

}  // namespace

Split TrainTestSplit(const EntityDataset& ds, uint64_t seed) {
  Split s;
  std::vector<uint8_t> flags = ds.is_test;
  int64_t tests = 0;
  for (uint8_t f : flags) tests += f;
  if (flags.size() != static_cast<size_t>(ds.size()) || tests == 0 || tests == ds.size()) {
    // No usable split in the data: a seeded random 20%.
    flags.assign(static_cast<size_t>(ds.size()), 0);
    std::vector<int64_t> idx(static_cast<size_t>(ds.size()));
    std::iota(idx.begin(), idx.end(), 0);
    std::mt19937_64 rng(seed);
    std::shuffle(idx.begin(), idx.end(), rng);
    int64_t n_test = std::max<int64_t>(1, ds.size() / 5);
    for (int64_t i = 0; i < n_test; ++i) flags[idx[i]] = 1;
  }
  for (int64_t i = 0; i < ds.size(); ++i) (flags[i] ? s.test : s.train).push_back(i);
  return s;
}

Result<SweepResult> RunLayerSweep(const LayerActivations& acts, const EntityDataset& ds, const SweepOptions& o) {
  LMLAB_RETURN_IF_ERROR(CheckShapes(acts, ds));
  return RunLayerSweep(InMemoryLayers(acts), ds, o);
}

namespace {

// Bytes a layer's rows take in memory for a fit: the floats read and their
// double copy.
uint64_t LayerBytes(int64_t rows, int64_t width) { return static_cast<uint64_t>(rows * width) * (4 + 8); }

// A streamed fit: training rows read in blocks from the source.
Result<RidgeProbe> FitStreamed(const LayerSource& acts, int64_t layer, const std::vector<int64_t>& rows,
                               const Eigen::MatrixXd& y, const RidgeOptions& ridge, int64_t block_rows) {
  RowBlockReader read = [&](int64_t begin, int64_t end, Eigen::MatrixXd* x) -> Status {
    std::vector<int64_t> sub(rows.begin() + begin, rows.begin() + end);
    LMLAB_ASSIGN_OR_RETURN(*x, acts.Matrix(layer, sub));
    return {};
  };
  return FitRidgeStreamed(static_cast<int64_t>(rows.size()), acts.width(), read, y, ridge, block_rows);
}

// Predictions for `rows` of a layer, read in blocks.
Result<Eigen::MatrixXd> PredictStreamed(const LayerSource& acts, int64_t layer, const std::vector<int64_t>& rows,
                                        const RidgeProbe& probe, int64_t block_rows) {
  Eigen::MatrixXd out(static_cast<Eigen::Index>(rows.size()), probe.coef.cols());
  for (size_t begin = 0; begin < rows.size(); begin += static_cast<size_t>(block_rows)) {
    const size_t end = std::min(rows.size(), begin + static_cast<size_t>(block_rows));
    LMLAB_ASSIGN_OR_RETURN(Eigen::MatrixXd x,
                           acts.Matrix(layer, std::vector<int64_t>(rows.begin() + begin, rows.begin() + end)));
    out.middleRows(static_cast<Eigen::Index>(begin), static_cast<Eigen::Index>(end - begin)) = probe.Predict(x);
  }
  return out;
}

bool AtEdge(const RidgeProbe& p) {
  return p.alpha_index == 0 || p.alpha_index + 1 == static_cast<int>(p.alphas.size());
}

}  // namespace

Result<SweepResult> RunLayerSweep(const LayerSource& acts, const EntityDataset& ds, const SweepOptions& o) {
  LMLAB_RETURN_IF_ERROR(ValidateDataset(ds));
  if (acts.rows() != ds.size())
    return InvalidArgument(fmt::format("{} activation rows for {} entities", acts.rows(), ds.size()));
  if (acts.layers() <= 0 || acts.width() <= 0) return InvalidArgument("the activations are empty");
  Split split = TrainTestSplit(ds, o.seed);
  if (split.train.size() < 3 || split.test.size() < 2)
    return InvalidArgument(fmt::format("{} entities are too few to probe: need at least 3 to train and 2 to test",
                                       ds.size()));
  std::vector<int64_t> layers = o.layers;
  if (layers.empty()) {
    layers.resize(static_cast<size_t>(acts.layers()));
    std::iota(layers.begin(), layers.end(), 0);
  }
  for (int64_t l : layers)
    if (l < 0 || l >= acts.layers())
      return InvalidArgument(fmt::format("layer {} does not exist (the model has layers 0..{})", l, acts.layers() - 1));

  SweepResult r;
  r.dataset = ds.name;
  r.kind = ds.kind;
  r.target_names = ds.target_names;
  r.train_rows = split.train;
  r.test_rows = split.test;
  for (int64_t i : split.test) r.test_entities.push_back(ds.entities[i]);
  if (!ds.group_names.empty()) {
    r.colour_by = ds.group_names[0];
    for (int64_t i : split.test) r.test_colour.push_back(ds.groups[0][i]);
  }
  const Eigen::MatrixXd y_train = TargetMatrix(ds, split.train), y_test = TargetMatrix(ds, split.test);
  r.test_truth = Flatten(y_test);

  // The shuffled control permutes targets across all entities, then uses the same split.
  Eigen::MatrixXd ys_train, ys_test;
  if (o.shuffle == ShuffleControl::kOn) {
    std::vector<int64_t> perm(static_cast<size_t>(ds.size()));
    std::iota(perm.begin(), perm.end(), 0);
    std::mt19937_64 rng(o.seed ^ 0x5bd1e995u);
    std::shuffle(perm.begin(), perm.end(), rng);
    std::vector<int64_t> tr, te;
    for (int64_t i : split.train) tr.push_back(perm[i]);
    for (int64_t i : split.test) te.push_back(perm[i]);
    ys_train = TargetMatrix(ds, tr);
    ys_test = TargetMatrix(ds, te);
    r.shuffle_ran = 1;
  }
  r.mlp_ran = o.mlp == MlpControl::kOn;
  const int64_t d = acts.width();
  // Streamed layers read blocks of rows that fit a quarter of the cap.
  const int64_t block_rows =
      o.memory_cap_bytes == 0 ? 4096
                              : std::max<int64_t>(16, static_cast<int64_t>(o.memory_cap_bytes / 4 / (d * 12)));
  const bool in_memory = o.memory_cap_bytes == 0 || LayerBytes(acts.rows(), d) <= o.memory_cap_bytes / 2;
  if (!in_memory && o.mlp == MlpControl::kOn)
    return InvalidArgument(fmt::format(
        "the MLP control needs a layer in memory ({} MB for {} x {}), more than half the memory cap of {} MB",
        LayerBytes(acts.rows(), d) >> 20, acts.rows(), d, o.memory_cap_bytes >> 20));

  for (size_t li = 0; li < layers.size(); ++li) {
    const int64_t l = layers[li];
    Report(o.progress, {"fitting probes", static_cast<double>(li), static_cast<double>(layers.size()), "layers",
                        fmt::format("layer {}", l)});
    LayerResult lr;
    lr.layer = l;
    RidgeProbe probe;
    Eigen::MatrixXd pred;
    if (in_memory) {
      LMLAB_ASSIGN_OR_RETURN(Eigen::MatrixXd x_train, acts.Matrix(l, split.train));
      LMLAB_ASSIGN_OR_RETURN(Eigen::MatrixXd x_test, acts.Matrix(l, split.test));
      r.peak_bytes = std::max(r.peak_bytes, LayerBytes(acts.rows(), d));
      LMLAB_ASSIGN_OR_RETURN(probe, FitRidge(x_train, y_train, o.ridge));
      lr.loo_r2 = MeanR2(y_train, probe.loo_predictions);
      pred = probe.Predict(x_test);
      if (o.shuffle == ShuffleControl::kOn) {
        LMLAB_ASSIGN_OR_RETURN(RidgeProbe sp, FitRidge(x_train, ys_train, o.ridge));
        lr.shuffled_test_r2 = MeanR2(ys_test, sp.Predict(x_test));
      }
      if (o.mlp == MlpControl::kOn) {
        MlpOptions mo = o.mlp_options;
        mo.seed = o.seed + static_cast<uint64_t>(l);
        LMLAB_ASSIGN_OR_RETURN(MlpProbe mlp, FitMlp(x_train, y_train, mo));
        lr.mlp_test = ComputeMetrics(y_test, mlp.Predict(x_test), ds.kind, ds.target_names);
        lr.mlp_weight_decay = mlp.weight_decay;
      }
    } else {
      lr.streamed = 1;
      r.peak_bytes = std::max(r.peak_bytes, static_cast<uint64_t>(block_rows * d) * 12 +
                                                static_cast<uint64_t>(d * d) * 8 * 4);
      LMLAB_ASSIGN_OR_RETURN(probe, FitStreamed(acts, l, split.train, y_train, o.ridge, block_rows));
      lr.loo_r2 = o.ridge.standardize == StandardizeTargets::kYes ? 1.0 - probe.loo_mse[probe.alpha_index] : 0.0;
      LMLAB_ASSIGN_OR_RETURN(pred, PredictStreamed(acts, l, split.test, probe, block_rows));
      if (o.shuffle == ShuffleControl::kOn) {
        LMLAB_ASSIGN_OR_RETURN(RidgeProbe sp, FitStreamed(acts, l, split.train, ys_train, o.ridge, block_rows));
        LMLAB_ASSIGN_OR_RETURN(Eigen::MatrixXd sp_pred, PredictStreamed(acts, l, split.test, sp, block_rows));
        lr.shuffled_test_r2 = MeanR2(ys_test, sp_pred);
      }
    }
    lr.alpha = probe.alpha;
    lr.alpha_at_edge = AtEdge(probe) ? 1 : 0;
    lr.test = ComputeMetrics(y_test, pred, ds.kind, ds.target_names);
    lr.test_predictions = Flatten(pred);
    if (o.keep_directions) r.directions.push_back(probe.coef);
    if (li == 0 || lr.test.r2 > r.best_r2) {
      r.best_r2 = lr.test.r2;
      r.best_layer = l;
    }
    r.layers.push_back(std::move(lr));
  }
  Report(o.progress, {"fitting probes", static_cast<double>(layers.size()), static_cast<double>(layers.size()),
                      "layers", ""});
  return r;
}

Result<HoldoutResult> RunBlockHoldout(const LayerActivations& acts, const EntityDataset& ds, const HoldoutOptions& o) {
  LMLAB_RETURN_IF_ERROR(CheckShapes(acts, ds));
  return RunBlockHoldout(InMemoryLayers(acts), ds, o);
}

Result<HoldoutResult> RunBlockHoldout(const LayerSource& acts, const EntityDataset& ds, const HoldoutOptions& o) {
  LMLAB_RETURN_IF_ERROR(ValidateDataset(ds));
  if (acts.rows() != ds.size())
    return InvalidArgument(fmt::format("{} activation rows for {} entities", acts.rows(), ds.size()));
  int g = ds.group_index(o.group_column);
  if (g < 0) {
    return InvalidArgument(fmt::format("dataset {} has no group column '{}' (it has: {})", ds.name, o.group_column,
                                       ds.group_names.empty() ? "none" : Join(ds.group_names, ", ")));
  }
  if (o.baseline == HoldoutBaseline::kKFold && o.folds < 2)
    return InvalidArgument("the random-split baseline needs at least 2 folds");
  if (o.fixed_alpha && !(*o.fixed_alpha > 0)) return InvalidArgument("the fixed penalty must be positive");
  const int64_t layer = o.layer < 0 ? acts.layers() / 2 : o.layer;
  if (layer >= acts.layers()) return InvalidArgument(fmt::format("layer {} does not exist", layer));
  const int64_t n = ds.size();

  std::map<std::string, std::vector<int64_t>> members;
  for (int64_t i = 0; i < n; ++i)
    if (!ds.groups[g][i].empty()) members[ds.groups[g][i]].push_back(i);
  std::vector<std::pair<std::string, std::vector<int64_t>>> blocks(members.begin(), members.end());
  std::stable_sort(blocks.begin(), blocks.end(), [](const auto& a, const auto& b) { return a.second.size() > b.second.size(); });
  std::erase_if(blocks, [&](const auto& b) {
    return static_cast<int64_t>(b.second.size()) < o.min_block_size || static_cast<int64_t>(b.second.size()) * 2 > n;
  });
  if (static_cast<int>(blocks.size()) > o.max_blocks) blocks.resize(static_cast<size_t>(o.max_blocks));
  if (blocks.empty())
    return InvalidArgument(fmt::format("no '{}' block has at least {} entities (and under half the data)",
                                       o.group_column, o.min_block_size));

  LMLAB_ASSIGN_OR_RETURN(const Eigen::MatrixXd x, acts.Matrix(layer));
  std::vector<int64_t> all(static_cast<size_t>(n));
  std::iota(all.begin(), all.end(), 0);
  const Eigen::MatrixXd y = TargetMatrix(ds, all);
  RidgeOptions ridge = o.ridge;
  if (o.fixed_alpha) {
    ridge.alphas = {*o.fixed_alpha};
    ridge.edge = GridEdge::kKeep;
  }
  auto fit_without = [&](const std::vector<uint8_t>& excluded) -> Result<RidgeProbe> {
    std::vector<int64_t> train;
    for (int64_t i = 0; i < n; ++i)
      if (!excluded[static_cast<size_t>(i)]) train.push_back(i);
    Eigen::MatrixXd xt(static_cast<Eigen::Index>(train.size()), x.cols()), yt(static_cast<Eigen::Index>(train.size()), y.cols());
    for (size_t r = 0; r < train.size(); ++r) xt.row(r) = x.row(train[r]), yt.row(r) = y.row(train[r]);
    return FitRidge(xt, yt, ridge);
  };

  // The baseline's predictions of every entity, and which entities it scores.
  Eigen::MatrixXd base_pred(n, ds.n_targets());
  std::vector<uint8_t> base_scored(static_cast<size_t>(n), 1);
  const int base_steps = o.baseline == HoldoutBaseline::kKFold ? o.folds : 1;
  const int total_steps = base_steps + static_cast<int>(blocks.size());
  if (o.baseline == HoldoutBaseline::kStandardSplit) {
    // The paper: one probe on the dataset's train split, projected on every entity.
    Report(o.progress, {"block hold-out", 0, static_cast<double>(total_steps), "fits", "standard split"});
    const Split split = TrainTestSplit(ds, o.seed);
    std::vector<uint8_t> is_test(static_cast<size_t>(n), 0);
    for (int64_t i : split.test) is_test[static_cast<size_t>(i)] = 1;
    LMLAB_ASSIGN_OR_RETURN(RidgeProbe p, fit_without(is_test));
    base_pred = p.Predict(x);
    base_scored = is_test;
  } else {
    // lmlab: every entity predicted by a K-fold cross-fitted probe that did not see it.
    std::vector<int64_t> perm = all;
    std::mt19937_64 rng(o.seed);
    std::shuffle(perm.begin(), perm.end(), rng);
    for (int f = 0; f < o.folds; ++f) {
      Report(o.progress, {"block hold-out", static_cast<double>(f), static_cast<double>(total_steps), "fits", "random folds"});
      std::vector<uint8_t> in_fold(static_cast<size_t>(n), 0);
      for (int64_t i = 0; i < n; ++i)
        if (i % o.folds == f) in_fold[static_cast<size_t>(perm[i])] = 1;
      LMLAB_ASSIGN_OR_RETURN(RidgeProbe p, fit_without(in_fold));
      for (int64_t i = 0; i < n; ++i)
        if (in_fold[static_cast<size_t>(i)]) base_pred.row(i) = p.Predict(x.row(i));
    }
  }

  HoldoutResult out;
  out.group_column = ds.group_names[g];
  out.layer = layer;
  out.baseline = o.baseline == HoldoutBaseline::kStandardSplit ? "standard split" : fmt::format("{}-fold", o.folds);
  out.alpha = o.fixed_alpha.value_or(0.0);
  int64_t with_baseline = 0;
  for (size_t b = 0; b < blocks.size(); ++b) {
    const auto& [name, rows] = blocks[b];
    Report(o.progress, {"block hold-out", static_cast<double>(base_steps + b), static_cast<double>(total_steps), "fits", name});
    std::vector<uint8_t> in_block(static_cast<size_t>(n), 0);
    for (int64_t i : rows) in_block[static_cast<size_t>(i)] = 1;
    LMLAB_ASSIGN_OR_RETURN(RidgeProbe p, fit_without(in_block));
    // The block's entities compete with every entity's prediction: under the
    // paper's protocol the block-out probe's projection of all of them; under
    // lmlab's the K-fold predictions with the block's own replaced.
    Eigen::MatrixXd block_pred;
    if (o.baseline == HoldoutBaseline::kStandardSplit) {
      block_pred = p.Predict(x);
    } else {
      block_pred = base_pred;
      for (int64_t i : rows) block_pred.row(i) = p.Predict(x.row(i));
    }
    std::vector<int64_t> scored;
    for (int64_t i : rows)
      if (base_scored[static_cast<size_t>(i)]) scored.push_back(i);
    auto sub = [&](const Eigen::MatrixXd& m, const std::vector<int64_t>& idx) {
      Eigen::MatrixXd out_m(static_cast<Eigen::Index>(idx.size()), m.cols());
      for (size_t r = 0; r < idx.size(); ++r) out_m.row(static_cast<Eigen::Index>(r)) = m.row(idx[r]);
      return out_m;
    };
    BlockResult br;
    br.block = name;
    br.n = static_cast<int64_t>(rows.size());
    br.baseline_n = static_cast<int64_t>(scored.size());
    br.block_proximity = Mean(ProximityErrorsFor(y, block_pred, ds.kind, rows));
    const Eigen::MatrixXd yb = sub(y, rows), pb = sub(block_pred, rows);
    br.block_r2 = MeanR2(yb, pb);
    if (ds.kind == TargetKind::kPlace) br.block_mean_km = ComputeMetrics(yb, pb, ds.kind, ds.target_names).mean_km;
    if (!scored.empty()) {
      ++with_baseline;
      br.random_proximity = Mean(ProximityErrorsFor(y, base_pred, ds.kind, scored));
      const Eigen::MatrixXd ys = sub(y, scored), ps = sub(base_pred, scored);
      br.random_r2 = scored.size() >= 2 ? MeanR2(ys, ps) : 0.0;
      if (ds.kind == TargetKind::kPlace) br.random_mean_km = ComputeMetrics(ys, ps, ds.kind, ds.target_names).mean_km;
    }
    out.blocks.push_back(std::move(br));
  }
  for (const auto& b : out.blocks) {
    out.mean_block_proximity += b.block_proximity / static_cast<double>(out.blocks.size());
    if (b.baseline_n > 0) out.mean_random_proximity += b.random_proximity / static_cast<double>(with_baseline);
  }
  return out;
}

Result<CrossPromptResult> RunCrossPrompt(const LayerActivations& train_acts, const LayerActivations& test_acts,
                                         const EntityDataset& ds, const std::string& train_prompt,
                                         const std::string& test_prompt, const RidgeOptions& ridge, uint64_t seed) {
  LMLAB_RETURN_IF_ERROR(CheckShapes(train_acts, ds));
  LMLAB_RETURN_IF_ERROR(CheckShapes(test_acts, ds));
  if (train_acts.n_layers != test_acts.n_layers || train_acts.n_embd != test_acts.n_embd)
    return InvalidArgument("the two prompts' activations come from models of different shapes");
  Split split = TrainTestSplit(ds, seed);
  if (split.train.size() < 3 || split.test.size() < 2) return InvalidArgument("too few entities to probe");
  const Eigen::MatrixXd y_train = TargetMatrix(ds, split.train), y_test = TargetMatrix(ds, split.test);
  CrossPromptResult out{train_prompt, test_prompt, {}};
  for (int64_t l = 0; l < train_acts.n_layers; ++l) {
    LMLAB_ASSIGN_OR_RETURN(RidgeProbe cross, FitRidge(train_acts.LayerMatrix(l, split.train), y_train, ridge));
    LMLAB_ASSIGN_OR_RETURN(RidgeProbe same, FitRidge(test_acts.LayerMatrix(l, split.train), y_train, ridge));
    Eigen::MatrixXd x_test = test_acts.LayerMatrix(l, split.test);
    Eigen::MatrixXd pc = cross.Predict(x_test);
    CrossPromptLayer cl;
    cl.layer = l;
    cl.same_r2 = MeanR2(y_test, same.Predict(x_test));
    cl.cross_r2 = MeanR2(y_test, pc);
    cl.cross_proximity = Mean(ProximityErrors(y_test, pc, ds.kind));
    out.layers.push_back(cl);
  }
  return out;
}

namespace {

// Appends the top_k units of one target by |score| (ties: the lower index
// first), each with its score stored in hit.*field.
void AppendTopUnits(const Eigen::VectorXd& score, Eigen::Index target, const std::vector<std::string>& target_names,
                    int top_k, double NeuronHit::*field, std::vector<NeuronHit>& out) {
  std::vector<NeuronHit> hits(static_cast<size_t>(score.size()));
  for (Eigen::Index u = 0; u < score.size(); ++u) {
    NeuronHit& h = hits[static_cast<size_t>(u)];
    h.index = u;
    h.target = target < static_cast<Eigen::Index>(target_names.size()) ? target_names[target] : "";
    h.*field = score(u);
  }
  const size_t keep = std::min<size_t>(hits.size(), static_cast<size_t>(std::max(0, top_k)));
  std::partial_sort(hits.begin(), hits.begin() + static_cast<std::ptrdiff_t>(keep), hits.end(),
                    [field](const NeuronHit& a, const NeuronHit& b) {
                      const double x = std::abs(a.*field), y = std::abs(b.*field);
                      return x != y ? x > y : a.index < b.index;
                    });
  out.insert(out.end(), hits.begin(), hits.begin() + static_cast<std::ptrdiff_t>(keep));
}

// The cosine of each row of weights [n_neurons, n_embd] with dir [n_embd];
// all 0 when dir is 0.
Eigen::VectorXd RowCosines(const Eigen::MatrixXd& weights, const Eigen::VectorXd& dir) {
  const double dn = dir.norm();
  if (dn == 0) return Eigen::VectorXd::Zero(weights.rows());
  const Eigen::VectorXd norms = weights.rowwise().norm();
  return (weights * dir).array() / (norms.array().max(1e-30) * dn);
}

}  // namespace

std::vector<NeuronHit> TopCorrelatedUnits(const Eigen::MatrixXd& activations, const Eigen::MatrixXd& targets,
                                          const std::vector<std::string>& target_names, int top_k) {
  std::vector<NeuronHit> out;
  Eigen::VectorXd corr(activations.cols());
  for (Eigen::Index t = 0; t < targets.cols(); ++t) {
    for (Eigen::Index u = 0; u < activations.cols(); ++u) corr(u) = Pearson(activations.col(u), targets.col(t));
    AppendTopUnits(corr, t, target_names, top_k, &NeuronHit::correlation, out);
  }
  return out;
}

Result<std::vector<NeuronHit>> TopCorrelatedUnits(std::span<const float> activations, int64_t n_units,
                                                  const Eigen::MatrixXd& targets,
                                                  const std::vector<std::string>& target_names, int top_k) {
  const int64_t n = targets.rows(), k = targets.cols();
  if (n_units <= 0 || static_cast<int64_t>(activations.size()) != n * n_units)
    return InvalidArgument(fmt::format("{} activations are not {} rows of {} units", activations.size(), n, n_units));
  // Two passes in double precision: unit means, then centred sums.
  std::vector<double> mean(static_cast<size_t>(n_units), 0.0), sxx(static_cast<size_t>(n_units), 0.0);
  std::vector<double> sxy(static_cast<size_t>(n_units * k), 0.0);  // [k, n_units]
  for (int64_t i = 0; i < n; ++i) {
    const float* row = activations.data() + i * n_units;
    for (int64_t u = 0; u < n_units; ++u) mean[u] += row[u];
  }
  for (double& m : mean) m /= static_cast<double>(std::max<int64_t>(n, 1));
  Eigen::MatrixXd yc = targets.rowwise() - targets.colwise().mean();
  for (int64_t i = 0; i < n; ++i) {
    const float* row = activations.data() + i * n_units;
    for (int64_t u = 0; u < n_units; ++u) {
      const double d = row[u] - mean[u];
      sxx[u] += d * d;
    }
    for (int64_t t = 0; t < k; ++t) {
      const double y = yc(i, t);
      double* acc = sxy.data() + t * n_units;
      for (int64_t u = 0; u < n_units; ++u) acc[u] += (row[u] - mean[u]) * y;
    }
  }
  std::vector<NeuronHit> out;
  Eigen::VectorXd corr(n_units);
  for (int64_t t = 0; t < k; ++t) {
    const double syy = yc.col(t).squaredNorm();
    for (int64_t u = 0; u < n_units; ++u) {
      const double den = std::sqrt(sxx[u] * syy);
      corr(u) = den > 0 ? sxy[t * n_units + u] / den : 0.0;
    }
    AppendTopUnits(corr, t, target_names, top_k, &NeuronHit::correlation, out);
  }
  return out;
}

Result<NeuronSearchResult> SearchMlpNeurons(const MlpActivations& mlp, int64_t layer, const EntityDataset& ds,
                                            int top_k) {
  LMLAB_RETURN_IF_ERROR(ValidateDataset(ds));
  const float* acts = mlp.layer(layer);
  if (!acts) return InvalidArgument(fmt::format("the MLP activations of block {} were not captured", layer));
  if (mlp.n != ds.size())
    return InvalidArgument(fmt::format("{} MLP activation rows for {} entities", mlp.n, ds.size()));
  std::vector<int64_t> all(static_cast<size_t>(ds.size()));
  std::iota(all.begin(), all.end(), 0);
  NeuronSearchResult r;
  r.layer = layer;
  r.stream = "mlp";
  LMLAB_ASSIGN_OR_RETURN(
      r.by_activation, TopCorrelatedUnits(std::span<const float>(acts, static_cast<size_t>(mlp.n * mlp.n_ff)), mlp.n_ff,
                                          TargetMatrix(ds, all), ds.target_names, top_k));
  return r;
}

void SetWeightCosines(std::vector<NeuronHit>& hits, const Eigen::MatrixXd& weights, const Eigen::MatrixXd& directions,
                      const std::vector<std::string>& target_names) {
  if (weights.cols() != directions.rows()) return;
  std::map<Eigen::Index, Eigen::VectorXd> cosines;  // by target column, computed on first use
  for (NeuronHit& h : hits) {
    auto t = std::find(target_names.begin(), target_names.end(), h.target);
    const Eigen::Index col = t - target_names.begin();
    if (t == target_names.end() || col >= directions.cols() || h.index < 0 || h.index >= weights.rows()) continue;
    auto it = cosines.find(col);
    if (it == cosines.end()) it = cosines.emplace(col, RowCosines(weights, directions.col(col))).first;
    h.cosine = it->second(h.index);
  }
}

std::vector<NeuronHit> AlignWeights(const Eigen::MatrixXd& weights, const Eigen::MatrixXd& directions,
                                    const std::vector<std::string>& target_names, int top_k) {
  std::vector<NeuronHit> out;
  if (weights.cols() != directions.rows()) return out;
  for (Eigen::Index t = 0; t < directions.cols(); ++t) {
    if (directions.col(t).norm() == 0) continue;
    AppendTopUnits(RowCosines(weights, directions.col(t)), t, target_names, top_k, &NeuronHit::cosine, out);
  }
  return out;
}

Headline MakeHeadline(const SweepResult& sweep, const std::vector<ControlRun>& controls) {
  Headline h;
  h.layer = sweep.best_layer;
  h.r2 = sweep.best_r2;
  for (const ControlRun& c : controls)
    if (h.strongest_control.empty() || c.best_r2 > h.control_r2) {
      h.strongest_control = c.name;
      h.control_r2 = c.best_r2;
    }
  h.gap = h.r2 - (h.strongest_control.empty() ? 0.0 : h.control_r2);
  return h;
}

std::vector<std::string> DegenerateFindings(const ProbeReport& r) {
  std::vector<std::string> out;
  const LayerResult* best = nullptr;
  for (const auto& l : r.sweep.layers)
    if (l.layer == r.sweep.best_layer) best = &l;
  if (!best) {
    out.push_back("no layer was probed");
    return out;
  }
  const double r2 = best->test.r2;
  if (!(r2 > 0))
    out.push_back(fmt::format("no layer predicts held-out entities: the best test R^2 is {:.3f} (a constant guess "
                              "scores 0)", r2));
  if (r.sweep.shuffle_ran && !(r2 > best->shuffled_test_r2))
    out.push_back(fmt::format("the probe does not beat its shuffled-target control at layer {}: test R^2 {:.3f} vs "
                              "{:.3f} on shuffled targets",
                              best->layer, r2, best->shuffled_test_r2));
  for (const ControlRun& c : r.controls) {
    if (c.test_r2.empty()) continue;
    double control = *std::max_element(c.test_r2.begin(), c.test_r2.end());
    if (!(r2 > control))
      out.push_back(fmt::format("the probe does not beat its {} control: best test R^2 {:.3f} vs {:.3f} on the "
                                "control; what it finds comes from the prompts' tokens, not from the model's training",
                                c.name, r2, control));
  }
  return out;
}

// ---- JSON --------------------------------------------------------------------------

NLOHMANN_JSON_SERIALIZE_ENUM(TargetKind, {{TargetKind::kPlace, "place"}, {TargetKind::kTime, "time"}})
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(TargetMetrics, name, r2, pearson, spearman, mae, rmse)

void to_json(nlohmann::json& j, const LayerMetrics& m) {
  j = {{"n", m.n}, {"r2", m.r2}, {"targets", m.targets}, {"proximity_error", m.proximity_error}};
  if (m.mean_km >= 0) {
    j["mean_km"] = m.mean_km;
    j["median_km"] = m.median_km;
  }
}
void from_json(const nlohmann::json& j, LayerMetrics& m) {
  m.n = j.value("n", int64_t{0});
  m.r2 = j.value("r2", 0.0);
  m.targets = j.value("targets", std::vector<TargetMetrics>{});
  m.proximity_error = j.value("proximity_error", 0.0);
  m.mean_km = j.value("mean_km", -1.0);
  m.median_km = j.value("median_km", -1.0);
}

NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(LayerResult, layer, alpha, loo_r2, test, mlp_test, mlp_weight_decay,
                                                shuffled_test_r2, alpha_at_edge, streamed, test_predictions)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(SweepResult, dataset, kind, target_names, train_rows, test_rows,
                                                test_entities, test_colour, colour_by, test_truth, layers, best_layer,
                                                best_r2, shuffle_ran, mlp_ran, peak_bytes)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(BlockResult, block, n, block_proximity, random_proximity, baseline_n,
                                                block_r2, random_r2, block_mean_km, random_mean_km)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(HoldoutResult, group_column, layer, baseline, alpha, blocks,
                                                mean_block_proximity, mean_random_proximity)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(CrossPromptLayer, layer, same_r2, cross_r2, cross_proximity)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(CrossPromptResult, train_prompt, test_prompt, layers)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(NeuronHit, index, target, correlation, cosine)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(NeuronSearchResult, layer, stream, by_activation, by_weight, weights)
void to_json(nlohmann::json& j, const ControlRun& c) {
  j = {{"name", c.name},       {"layers", c.layers},         {"test_r2", c.test_r2}, {"test_proximity", c.test_proximity},
       {"best_r2", c.best_r2}, {"best_layer", c.best_layer}, {"detail", c.detail}};
}
void from_json(const nlohmann::json& j, ControlRun& c) {
  c.name = j.value("name", "");
  c.test_r2 = j.value("test_r2", std::vector<double>{});
  c.test_proximity = j.value("test_proximity", std::vector<double>{});
  c.detail = j.value("detail", "");
  // Reports from before layers and best_r2 were saved: layer i is index i, best is the maximum.
  c.layers = j.value("layers", std::vector<int64_t>{});
  if (c.layers.empty())
    for (size_t i = 0; i < c.test_r2.size(); ++i) c.layers.push_back(static_cast<int64_t>(i));
  c.best_r2 = c.test_r2.empty() ? 0.0 : *std::max_element(c.test_r2.begin(), c.test_r2.end());
  c.best_r2 = j.value("best_r2", c.best_r2);
  c.best_layer = j.value("best_layer", int64_t{0});
}
void to_json(nlohmann::json& j, const Headline& h) {
  j = {{"layer", h.layer}, {"r2", h.r2}, {"strongest_control", h.strongest_control}, {"control_r2", h.control_r2},
       {"gap", h.gap}};
}
void from_json(const nlohmann::json& j, Headline& h) {
  h.layer = j.value("layer", int64_t{0});
  h.r2 = j.value("r2", 0.0);
  h.strongest_control = j.value("strongest_control", "");
  h.control_r2 = j.value("control_r2", 0.0);
  h.gap = j.value("gap", 0.0);
}

void to_json(nlohmann::json& j, const ProbeReport& r) {
  j = {{"model", r.model},
       {"dataset", r.dataset},
       {"prompt_template", r.prompt_template},
       {"protocol", r.protocol},
       {"entity_kind", r.entity_kind},
       {"target_note", r.target_note},
       {"prompt_example", r.prompt_example},
       {"n_entities", r.n_entities},
       {"n_layers", r.n_layers},
       {"n_embd", r.n_embd},
       {"alphas", r.alphas},
       {"grid_edge", r.grid_edge},
       {"capture_seconds", r.capture_seconds},
       {"captured_prompts", r.captured_prompts},
       {"resumed_prompts", r.resumed_prompts},
       {"capture_from_cache", r.capture_from_cache},
       {"cache_dir", r.cache_dir},
       {"memory_cap_bytes", r.memory_cap_bytes},
       {"peak_activation_bytes", r.peak_activation_bytes},
       {"headline", r.headline},
       {"sweep", r.sweep},
       {"controls", r.controls},
       {"holdouts", r.holdouts},
       {"cross_prompt", r.cross_prompt},
       {"neurons", r.neurons},
       {"mlp_capture", r.mlp_capture},
       {"notes", r.notes}};
}
void from_json(const nlohmann::json& j, ProbeReport& r) {
  r.model = j.value("model", "");
  r.dataset = j.value("dataset", "");
  r.prompt_template = j.value("prompt_template", "");
  r.protocol = j.value("protocol", "lmlab");
  r.entity_kind = j.value("entity_kind", "");
  r.target_note = j.value("target_note", "");
  r.prompt_example = j.value("prompt_example", "");
  r.n_entities = j.value("n_entities", int64_t{0});
  r.n_layers = j.value("n_layers", int64_t{0});
  r.n_embd = j.value("n_embd", int64_t{0});
  r.alphas = j.value("alphas", std::vector<double>{});
  r.grid_edge = j.value("grid_edge", "");
  r.capture_seconds = j.value("capture_seconds", 0.0);
  r.captured_prompts = j.value("captured_prompts", int64_t{0});
  r.resumed_prompts = j.value("resumed_prompts", int64_t{0});
  r.capture_from_cache = j.value("capture_from_cache", 0);
  r.cache_dir = j.value("cache_dir", "");
  r.memory_cap_bytes = j.value("memory_cap_bytes", uint64_t{0});
  r.peak_activation_bytes = j.value("peak_activation_bytes", uint64_t{0});
  r.sweep = j.value("sweep", SweepResult{});
  r.controls = j.value("controls", std::vector<ControlRun>{});
  r.headline = j.contains("headline") ? j.value("headline", Headline{}) : MakeHeadline(r.sweep, r.controls);
  r.holdouts = j.value("holdouts", std::vector<HoldoutResult>{});
  r.cross_prompt = j.value("cross_prompt", std::vector<CrossPromptResult>{});
  r.neurons = j.value("neurons", std::vector<NeuronSearchResult>{});
  r.mlp_capture = j.value("mlp_capture", "");
  r.notes = j.value("notes", std::vector<std::string>{});
}

Result<ProbeReport> ParseReport(std::string_view json_text) {
  nlohmann::json j = nlohmann::json::parse(json_text, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("sweep"))
    return ParseError("not an lmlab probe report (expected a JSON object with 'sweep')");
  try {
    return j.get<ProbeReport>();
  } catch (const nlohmann::json::exception& e) {
    return ParseError(std::string("probe report: ") + e.what());
  }
}

}  // namespace lmlab::probe
