// The experiments on synthetic activations whose answers are known: layer 0
// is noise, layer 1 encodes latitude/longitude linearly, layer 2 encodes them
// through a non-linearity.
#include "lmlab/probe/experiment.h"

#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <random>
#include <span>

namespace lmlab::probe {
namespace {

struct Synthetic {
  EntityDataset ds;
  LayerActivations acts;
};

Synthetic MakeSynthetic(int n, int d, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<double> g;
  std::uniform_real_distribution<double> lat(-60, 70), lon(-170, 170);
  Synthetic s;
  s.ds.name = "synthetic";
  s.ds.kind = TargetKind::kPlace;
  s.ds.target_names = {"latitude", "longitude"};
  s.ds.group_names = {"continent"};
  s.ds.groups.resize(1);
  s.acts = {n, 3, d, std::vector<float>(static_cast<size_t>(3 * n * d))};
  Eigen::MatrixXd dir = Eigen::MatrixXd::Random(2, d);
  for (int i = 0; i < n; ++i) {
    double a = lat(rng), o = lon(rng);
    s.ds.entities.push_back("place " + std::to_string(i));
    s.ds.targets.insert(s.ds.targets.end(), {a, o});
    // Blocks: four quadrants of the map, of different sizes.
    s.ds.groups[0].push_back(a > 0 ? (o > 0 ? "NE" : "NW") : (o > 60 ? "SE" : "SW"));
    for (int e = 0; e < d; ++e) {
      s.acts.data[(0 * n + i) * d + e] = static_cast<float>(g(rng));
      s.acts.data[(1 * n + i) * d + e] = static_cast<float>(dir(0, e) * a / 50 + dir(1, e) * o / 100 + 0.05 * g(rng));
      s.acts.data[(2 * n + i) * d + e] = static_cast<float>(std::cos(dir(0, e) * a / 10 + e) + 0.05 * g(rng));
    }
  }
  return s;
}

TEST(Sweep, FindsTheLinearLayerAndControlsStayNearZero) {
  Synthetic s = MakeSynthetic(300, 16, 1);
  SweepOptions o;
  o.ridge.alphas = LogSpace(-3, 2, 8);
  int reports = 0;
  o.progress = [&](const Progress&) { ++reports; };
  auto r = RunLayerSweep(s.acts, s.ds, o);
  ASSERT_TRUE(r) << r.error().ToString();
  ASSERT_EQ(r->layers.size(), 3u);
  EXPECT_EQ(r->best_layer, 1);
  EXPECT_GT(r->layers[1].test.r2, 0.95);
  EXPECT_LT(r->layers[0].test.r2, 0.2);
  EXPECT_LT(r->layers[1].test.proximity_error, 0.05);
  EXPECT_GT(r->layers[0].test.proximity_error, 0.3);
  EXPECT_GT(r->layers[1].test.mean_km, 0);
  EXPECT_NEAR(r->layers[1].loo_r2, r->layers[1].test.r2, 0.05);
  for (const auto& l : r->layers) EXPECT_LT(l.shuffled_test_r2, 0.1) << l.layer;
  EXPECT_EQ(r->test_rows.size() + r->train_rows.size(), 300u);
}

}  // namespace
}  // namespace lmlab::probe
namespace lmlab::probe {
namespace {

TEST(Sweep, RandomSplitWhenTheDataHasNone) {
  Synthetic s = MakeSynthetic(100, 4, 2);
  Split a = TrainTestSplit(s.ds, 1), b = TrainTestSplit(s.ds, 1), c = TrainTestSplit(s.ds, 2);
  EXPECT_EQ(a.test.size(), 20u);
  EXPECT_EQ(a.test, b.test);
  EXPECT_NE(a.test, c.test);
  s.ds.is_test.assign(100, 0);
  s.ds.is_test[3] = s.ds.is_test[50] = 1;
  EXPECT_EQ(TrainTestSplit(s.ds, 1).test, (std::vector<int64_t>{3, 50}));
}

TEST(Sweep, MlpControlAndLayerChoice) {
  Synthetic s = MakeSynthetic(200, 8, 3);
  SweepOptions o;
  o.layers = {1};
  o.mlp = MlpControl::kOn;
  o.mlp_options.hidden = 16;
  o.mlp_options.max_epochs = 100;
  o.mlp_options.learning_rate = 1e-2;
  o.mlp_options.weight_decays = {1e-2};
  auto r = RunLayerSweep(s.acts, s.ds, o);
  ASSERT_TRUE(r) << r.error().ToString();
  ASSERT_EQ(r->layers.size(), 1u);
  EXPECT_GT(r->layers[0].mlp_test.n, 0);
  EXPECT_GT(r->layers[0].mlp_test.r2, 0.7);
  EXPECT_EQ(r->layers[0].test_predictions.size(), r->test_rows.size() * 2);
  o.layers = {7};
  auto bad = RunLayerSweep(s.acts, s.ds, o);
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("layers 0..2"), std::string::npos);
}

TEST(Sweep, RejectsMismatchedActivations) {
  Synthetic s = MakeSynthetic(50, 4, 4);
  s.ds.entities.pop_back();
  s.ds.targets.resize(s.ds.targets.size() - 2);
  s.ds.groups[0].pop_back();
  EXPECT_FALSE(RunLayerSweep(s.acts, s.ds, {}));
}

TEST(Holdout, BlocksAreWholeGroupsAndHurtMoreThanRandomSplits) {
  Synthetic s = MakeSynthetic(400, 12, 5);
  // Layer 2 is non-linear: a linear probe extrapolates badly to an unseen region.
  HoldoutOptions o;
  o.group_column = "continent";
  o.layer = 2;
  o.min_block_size = 5;
  o.ridge.alphas = LogSpace(-3, 2, 6);
  auto r = RunBlockHoldout(s.acts, s.ds, o);
  ASSERT_TRUE(r) << r.error().ToString();
  std::map<std::string, int64_t> counts;
  for (const auto& g : s.ds.groups[0]) ++counts[g];
  ASSERT_EQ(r->blocks.size(), counts.size());
  for (size_t b = 0; b < r->blocks.size(); ++b) {
    EXPECT_EQ(r->blocks[b].n, counts[r->blocks[b].block]) << r->blocks[b].block;
    if (b > 0) {
      EXPECT_LE(r->blocks[b].n, r->blocks[b - 1].n);  // largest first
    }
  }
  EXPECT_GT(r->mean_block_proximity, r->mean_random_proximity);
  for (const auto& b : r->blocks) EXPECT_GT(b.block_mean_km, 0);

  o.max_blocks = 2;
  auto two = RunBlockHoldout(s.acts, s.ds, o);
  ASSERT_TRUE(two);
  EXPECT_EQ(two->blocks.size(), 2u);
  o.group_column = "planet";
  auto missing = RunBlockHoldout(s.acts, s.ds, o);
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find("continent"), std::string::npos);
  o.group_column = "continent";
  o.min_block_size = 1000;
  EXPECT_FALSE(RunBlockHoldout(s.acts, s.ds, o));
}

TEST(CrossPrompt, TransferBetweenEncodings) {
  Synthetic s = MakeSynthetic(200, 8, 6);
  // The "other prompt" is layer 1 with a sign flip: a probe does not transfer.
  LayerActivations flipped = s.acts;
  for (float& v : flipped.data) v = -v;
  auto same = RunCrossPrompt(s.acts, s.acts, s.ds, "bare", "bare", {}, 0);
  auto cross = RunCrossPrompt(s.acts, flipped, s.ds, "bare", "flipped", {}, 0);
  ASSERT_TRUE(same && cross);
  EXPECT_NEAR(same->layers[1].cross_r2, same->layers[1].same_r2, 1e-12);
  EXPECT_GT(cross->layers[1].same_r2, 0.9);
  EXPECT_LT(cross->layers[1].cross_r2, 0.0);
}

TEST(Neurons, CorrelationAndWeightAlignment) {
  Eigen::MatrixXd acts = Eigen::MatrixXd::Random(100, 5);
  Eigen::MatrixXd y(100, 1);
  y.col(0) = -3 * acts.col(3) + 0.01 * Eigen::VectorXd::Random(100);
  auto hits = TopCorrelatedUnits(acts, y, {"year"}, 2);
  ASSERT_EQ(hits.size(), 2u);
  EXPECT_EQ(hits[0].index, 3);
  EXPECT_LT(hits[0].correlation, -0.99);
  Eigen::MatrixXd w = Eigen::MatrixXd::Identity(4, 3) + 0.1 * Eigen::MatrixXd::Ones(4, 3);
  Eigen::MatrixXd dir(3, 1);
  dir << 0, 0, -2;
  auto aligned = AlignWeights(w, dir, {"year"}, 1);
  ASSERT_EQ(aligned.size(), 1u);
  EXPECT_EQ(aligned[0].index, 2);
  EXPECT_LT(aligned[0].cosine, -0.9);
}

TEST(Neurons, FloatActivationsRankLikeTheEigenVersion) {
  std::mt19937 rng(3);
  std::normal_distribution<double> g;
  const int n = 120, units = 40;
  Eigen::MatrixXd x(n, units), y(n, 2);
  std::vector<float> rows(static_cast<size_t>(n * units));
  for (int i = 0; i < n; ++i) {
    y(i, 0) = g(rng) * 30 + 1900;
    y(i, 1) = g(rng);
    for (int u = 0; u < units; ++u) {
      const double z = u % 2 ? y(i, 1) : (y(i, 0) - 1900) / 30;  // a target on unit scale
      rows[i * units + u] = static_cast<float>(g(rng) + 0.05 * u * z + 3);
      x(i, u) = rows[i * units + u];
    }
  }
  auto expected = TopCorrelatedUnits(x, y, {"a", "b"}, 5);
  auto got = TopCorrelatedUnits(std::span<const float>(rows), units, y, {"a", "b"}, 5);
  ASSERT_TRUE(got) << got.error().ToString();
  ASSERT_EQ(got->size(), expected.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ((*got)[i].index, expected[i].index) << i;
    EXPECT_EQ((*got)[i].target, expected[i].target);
    EXPECT_NEAR((*got)[i].correlation, expected[i].correlation, 1e-9);
  }
  auto bad = TopCorrelatedUnits(std::span<const float>(rows).first(rows.size() - 1), units, y, {"a", "b"}, 5);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, ErrorCode::kInvalidArgument);
}

// Synthetic MLP activations of blocks 1 and 3 (noise) in which block 3's
// neuron 123 is the latitude plus noise and neuron 250 minus the longitude.
MlpActivations PlantedMlp(const EntityDataset& ds, int64_t n_ff, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<double> g;
  MlpActivations m{ds.size(), n_ff, {1, 3}, {}};
  for (int64_t l : m.layers) {
    std::vector<float> rows(static_cast<size_t>(ds.size() * n_ff));
    for (int64_t i = 0; i < ds.size(); ++i)
      for (int64_t j = 0; j < n_ff; ++j) {
        double v = g(rng);
        if (l == 3 && j == 123) v = ds.target(i, 0) / 40 + 0.3 * g(rng);
        if (l == 3 && j == 250) v = -ds.target(i, 1) / 100 + 0.3 * g(rng);
        rows[static_cast<size_t>(i * n_ff + j)] = static_cast<float>(v);
      }
    m.data.push_back(std::move(rows));
  }
  return m;
}

TEST(Neurons, MlpSearchFindsAPlantedNeuron) {
  Synthetic s = MakeSynthetic(400, 4, 5);
  MlpActivations mlp = PlantedMlp(s.ds, 300, 9);
  auto r = SearchMlpNeurons(mlp, 3, s.ds, 3);
  ASSERT_TRUE(r) << r.error().ToString();
  EXPECT_EQ(r->stream, "mlp");
  EXPECT_EQ(r->layer, 3);
  ASSERT_EQ(r->by_activation.size(), 6u);  // 3 per target
  EXPECT_EQ(r->by_activation[0].target, "latitude");
  EXPECT_EQ(r->by_activation[0].index, 123);
  EXPECT_GT(r->by_activation[0].correlation, 0.9);
  EXPECT_LT(std::abs(r->by_activation[1].correlation), 0.3);  // the rest is noise
  EXPECT_EQ(r->by_activation[3].target, "longitude");
  EXPECT_EQ(r->by_activation[3].index, 250);
  EXPECT_LT(r->by_activation[3].correlation, -0.9);
  // Block 1 has nothing to find.
  auto noise = SearchMlpNeurons(mlp, 1, s.ds, 1);
  ASSERT_TRUE(noise);
  for (const auto& h : noise->by_activation) EXPECT_LT(std::abs(h.correlation), 0.3);

  // Each neuron's output weights against the probe direction.
  Eigen::MatrixXd down = Eigen::MatrixXd::Zero(300, 4), dir(4, 2);
  down(123, 0) = 2;
  down(250, 1) = 1;
  down(250, 2) = 1;
  dir << 1, 0, 0, 1, 0, 1, 0, 0;
  SetWeightCosines(r->by_activation, down, dir, s.ds.target_names);
  EXPECT_DOUBLE_EQ(r->by_activation[0].cosine, 1.0);
  EXPECT_DOUBLE_EQ(r->by_activation[3].cosine, 1.0);
  EXPECT_DOUBLE_EQ(r->by_activation[1].cosine, 0.0);

  auto missing = SearchMlpNeurons(mlp, 2, s.ds, 3);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ErrorCode::kInvalidArgument);
  MlpActivations fewer = mlp;
  fewer.n = 10;
  auto rows = SearchMlpNeurons(fewer, 3, s.ds, 3);
  ASSERT_FALSE(rows);
  EXPECT_EQ(rows.error().code, ErrorCode::kInvalidArgument);
}

TEST(Report, JsonRoundTrip) {
  Synthetic s = MakeSynthetic(60, 4, 7);
  auto sweep = RunLayerSweep(s.acts, s.ds, {});
  ASSERT_TRUE(sweep);
  ProbeReport r;
  r.model = "m.gguf";
  r.sweep = *sweep;
  r.controls.push_back({.name = "shuffled targets", .layers = {0, 1, 2}, .test_r2 = {0.01, -0.02, 0.0}});
  nlohmann::json j = r;
  auto back = ParseReport(j.dump());
  ASSERT_TRUE(back) << back.error().ToString();
  EXPECT_EQ(back->model, "m.gguf");
  EXPECT_EQ(back->sweep.layers.size(), 3u);
  EXPECT_DOUBLE_EQ(back->sweep.layers[1].test.r2, sweep->layers[1].test.r2);
  EXPECT_EQ(back->sweep.kind, TargetKind::kPlace);
  EXPECT_EQ(back->controls[0].test_r2.size(), 3u);
  EXPECT_FALSE(ParseReport("[1,2]"));

  // Neuron searches keep their stream; reports written before MLP activations
  // were captured read as residual-stream searches.
  NeuronSearchResult mlp{
      .layer = 2, .stream = "mlp", .by_activation = {{.index = 7, .target = "latitude", .correlation = 0.5}}};
  r.neurons = {mlp};
  j = r;
  auto with_mlp = ParseReport(j.dump());
  ASSERT_TRUE(with_mlp);
  ASSERT_EQ(with_mlp->neurons.size(), 1u);
  EXPECT_EQ(with_mlp->neurons[0].stream, "mlp");
  EXPECT_EQ(with_mlp->neurons[0].by_activation[0].index, 7);
  j["neurons"][0].erase("stream");
  auto old = ParseReport(j.dump());
  ASSERT_TRUE(old);
  EXPECT_EQ(old->neurons[0].stream, "residual");
}

}  // namespace
}  // namespace lmlab::probe
