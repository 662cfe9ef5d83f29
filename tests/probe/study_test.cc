// probe::RunStudy on the tiny llama.cpp model (real inference, random
// weights), its controls, the random-init twin and quantised copies of any
// GGUF, the paper's block hold-out, the streamed ridge, and capture of 40,000
// entities under a memory cap smaller than their activations.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <random>

#include "lmlab/core/file.h"
#include "lmlab/probe/study.h"
#include "lmlab/runtime/activations.h"
#include "lmlab/runtime/gguf_reader.h"
#include "lmlab/runtime/model_files.h"
#include "tests/support/run_command.h"
#include "tests/support/temp_dir.h"
#include "tests/support/tiny_model.h"

namespace lmlab::probe {
namespace {

namespace fs = std::filesystem;
using lmlab::testing::LmlabBinary;
using lmlab::testing::RunCommand;

TEST(ModelFiles, RandomTwinHasTheSameTensorsAndTokenizer) {
  testing::TempDir dir("probe-study");
  const fs::path src = testing::TinyModelPath();
  const fs::path twin = dir.path() / "twin.gguf";
  ASSERT_TRUE(runtime::WriteRandomInitGguf(src, twin, {.seed = 3}));
  auto a = runtime::ListGgufTensors(src), b = runtime::ListGgufTensors(twin);
  ASSERT_TRUE(a && b);
  ASSERT_EQ(a->size(), b->size());
  for (size_t i = 0; i < a->size(); ++i) {
    EXPECT_EQ((*a)[i].name, (*b)[i].name);
    EXPECT_EQ((*a)[i].shape, (*b)[i].shape);
  }
  // Norms are 1, matrices are new.
  auto norm = runtime::ReadGgufMatrix(twin, "blk.0.attn_norm.weight");
  ASSERT_TRUE(norm);
  for (float v : norm->data) EXPECT_EQ(v, 1.0f);
  auto w0 = runtime::ReadGgufMatrix(src, "blk.0.attn_q.weight"), w1 = runtime::ReadGgufMatrix(twin, "blk.0.attn_q.weight");
  ASSERT_TRUE(w0 && w1);
  EXPECT_NE(w0->data, w1->data);
  // The same seed writes the same bytes.
  ASSERT_TRUE(runtime::WriteRandomInitGguf(src, dir.path() / "again.gguf", {.seed = 3}));
  EXPECT_EQ(*ReadFile(twin), *ReadFile(dir.path() / "again.gguf"));
  // llama.cpp loads it, with the source's tokenizer.
  auto m0 = runtime::OpenActivationModel({.gguf_path = src.string(), .threads = 1});
  auto m1 = runtime::OpenActivationModel({.gguf_path = twin.string(), .threads = 1});
  ASSERT_TRUE(m0 && m1) << (m1 ? "" : m1.error().ToString());
  EXPECT_EQ((*m0)->n_vocab(), (*m1)->n_vocab());
  EXPECT_EQ(*(*m0)->Tokenize("Tokyo and Osaka", runtime::AddBos::kYes),
            *(*m1)->Tokenize("Tokyo and Osaka", runtime::AddBos::kYes));
  auto acts = (*m1)->CaptureActivations({.prompts = {"Tokyo"}});
  ASSERT_TRUE(acts) << acts.error().ToString();
  EXPECT_EQ(acts->n_layers, 2);
}

TEST(ModelFiles, QuantisedCopiesSayWhatLlamaCppMade) {
  testing::TempDir dir("probe-study");
  auto q8 = runtime::QuantizeGguf(testing::TinyModelPath(), dir.path() / "q8.gguf", runtime::QuantType::kQ8_0, 1);
  ASSERT_TRUE(q8) << q8.error().ToString();
  EXPECT_GT(q8->tensor_types["q8_0"], 0);
  EXPECT_EQ(q8->fallback_tensors, 0);  // 64-wide rows are whole Q8_0 blocks of 32
  // Q4_K needs rows of 256: every matrix of the 64-wide tiny model falls back, and the result says so.
  auto q4 = runtime::QuantizeGguf(testing::TinyModelPath(), dir.path() / "q4.gguf", runtime::QuantType::kQ4_K, 1);
  ASSERT_TRUE(q4) << q4.error().ToString();
  EXPECT_GT(q4->fallback_tensors, 0);
  EXPECT_EQ(q4->tensor_types.count("q4_K"), 0u);
  auto m = runtime::OpenActivationModel({.gguf_path = (dir.path() / "q8.gguf").string(), .threads = 1});
  ASSERT_TRUE(m) << m.error().ToString();
  EXPECT_FALSE(runtime::QuantizeGguf(testing::TinyModelPath(), testing::TinyModelPath(), runtime::QuantType::kF16));
}

TEST(ModelFiles, PrefixTokensGoBetweenBosAndThePrompt) {
  auto m = runtime::OpenActivationModel({.gguf_path = testing::TinyModelPath(), .threads = 1});
  ASSERT_TRUE(m);
  auto plain = (*m)->CaptureActivations({.prompts = {"Lima"}});
  runtime::ActivationRequest r{.prompts = {"Lima"}};
  r.prefix_tokens = {{100, 101, 102}};
  auto prefixed = (*m)->CaptureActivations(r);
  ASSERT_TRUE(plain && prefixed) << (prefixed ? "" : prefixed.error().ToString());
  EXPECT_EQ(prefixed->n_tokens[0], plain->n_tokens[0] + 3);
  EXPECT_NE(std::vector<float>(plain->at(0, 1), plain->at(0, 1) + 64),
            std::vector<float>(prefixed->at(0, 1), prefixed->at(0, 1) + 64));
  r.prefix_tokens = {{static_cast<int>((*m)->n_vocab())}};
  EXPECT_FALSE((*m)->CaptureActivations(r));  // outside the vocabulary
}

TEST(Study, ControlsRunByDefaultAndTheHeadlineIsTheGapToTheStrongest) {
  testing::TempDir dir("probe-study");
  StudyOptions o;
  o.model = {.gguf_path = testing::TinyModelPath(), .threads = 1};
  o.dataset.source = "world-cities";
  o.dataset.limit = 120;
  o.cache_root = dir.path();
  auto r = RunStudy(o);
  ASSERT_TRUE(r) << r.error().ToString();
  EXPECT_EQ(r->protocol, "paper");
  EXPECT_EQ(r->prompt_example, "Japan's Tokyo");  // the paper's rewrite of "Tokyo, Japan"
  EXPECT_EQ(r->alphas, PaperAlphaGrid(64));
  EXPECT_EQ(r->grid_edge, "keep");
  ASSERT_EQ(r->controls.size(), 3u);
  EXPECT_EQ(r->controls[0].name, "shuffled targets");
  EXPECT_EQ(r->controls[1].name, "random-init model");
  EXPECT_EQ(r->controls[2].name, "static embedding");
  EXPECT_EQ(r->controls[1].test_r2.size(), 2u);  // every layer of the twin
  EXPECT_EQ(r->controls[2].layers, std::vector<int64_t>{-1});
  double strongest = -1e9;
  for (const auto& c : r->controls) strongest = std::max(strongest, c.best_r2);
  EXPECT_DOUBLE_EQ(r->headline.control_r2, strongest);
  EXPECT_DOUBLE_EQ(r->headline.gap, r->sweep.best_r2 - strongest);
  // The twin's activations are a different cache entry from the model's.
  EXPECT_NE(r->controls[1].detail.find("random weights"), std::string::npos) << r->controls[1].detail;
  // The report round-trips through JSON with its controls and headline.
  auto back = ParseReport(nlohmann::json(*r).dump());
  ASSERT_TRUE(back) << back.error().ToString();
  EXPECT_EQ(back->controls.size(), 3u);
  EXPECT_DOUBLE_EQ(back->headline.gap, r->headline.gap);
  // A second run takes every capture from the cache and gives the same numbers.
  auto again = RunStudy(o);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->capture_from_cache, 1);
  EXPECT_DOUBLE_EQ(again->sweep.best_r2, r->sweep.best_r2);
  EXPECT_DOUBLE_EQ(again->controls[1].best_r2, r->controls[1].best_r2);
}

TEST(Study, PaperHoldoutUsesAFixedPenaltyAndTheStandardSplit) {
  testing::TempDir dir("probe-study");
  StudyOptions o;
  o.model = {.gguf_path = testing::TinyModelPath(), .threads = 1};
  o.dataset.source = "world-cities";
  o.dataset.limit = 400;
  o.cache_root = dir.path();
  o.random_model = RandomModelControl::kOff;
  o.holdout = {"country"};
  auto r = RunStudy(o);
  ASSERT_TRUE(r) << r.error().ToString();
  ASSERT_EQ(r->holdouts.size(), 1u);
  const HoldoutResult& h = r->holdouts[0];
  EXPECT_EQ(h.baseline, "standard split");
  EXPECT_EQ(h.layer, r->sweep.best_layer);
  // No paper size has width 64: the penalty is the one the standard-split probe chose at that layer.
  double chosen = 0;
  for (const auto& l : r->sweep.layers)
    if (l.layer == h.layer) chosen = l.alpha;
  EXPECT_DOUBLE_EQ(h.alpha, chosen);
  EXPECT_LE(h.blocks.size(), 20u);
  // The baseline scores only the block's entities in the test split.
  auto ds = LoadDataset(o.dataset);
  ASSERT_TRUE(ds);
  const int g = ds->group_index("country");
  for (const auto& b : h.blocks) {
    int64_t members = 0, tested = 0;
    for (int64_t i = 0; i < ds->size(); ++i)
      if (ds->groups[g][i] == b.block) ++members, tested += ds->is_test[i];
    EXPECT_EQ(b.n, members) << b.block;
    EXPECT_EQ(b.baseline_n, tested) << b.block;
  }
  // lmlab's variant: K-fold baseline, a penalty per fit.
  o.protocol = Protocol::kLmlab;
  auto l = RunStudy(o);
  ASSERT_TRUE(l) << l.error().ToString();
  EXPECT_EQ(l->holdouts[0].baseline, "5-fold");
  EXPECT_EQ(l->holdouts[0].alpha, 0.0);
  EXPECT_LE(l->holdouts[0].blocks.size(), 12u);
}

TEST(Study, BadSettingsSayWhatIsWrong) {
  StudyOptions o;
  o.model = {.gguf_path = testing::TinyModelPath(), .threads = 1};
  o.dataset.source = "world-cities";
  o.dataset.limit = 50;
  o.holdout = {"planet"};
  auto r = RunStudy(o);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("planet"), std::string::npos);
  o.holdout = {};
  o.dataset.source = "/nonexistent.csv";
  r = RunStudy(o);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("neither a built-in"), std::string::npos);
}

TEST(StreamedRidge, EqualsTheInMemoryFit) {
  std::mt19937_64 rng(5);
  std::normal_distribution<double> z(0, 1);
  const int n = 600, d = 24, k = 2;
  Eigen::MatrixXd x(n, d), w(d, k), y(n, k);
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < d; ++j) x(i, j) = z(rng) + 40.0;  // large means: the shift must keep it accurate
  for (int j = 0; j < d; ++j)
    for (int t = 0; t < k; ++t) w(j, t) = z(rng);
  y = x * w;
  for (int i = 0; i < n; ++i)
    for (int t = 0; t < k; ++t) y(i, t) += 3 * z(rng) + 100;
  for (GridEdge edge : {GridEdge::kKeep, GridEdge::kExtend}) {
    RidgeOptions o;
    o.alphas = LogSpace(0.8, 4.1, 12);
    o.edge = edge;
    auto full = FitRidge(x, y, o);
    RowBlockReader read = [&](int64_t b, int64_t e, Eigen::MatrixXd* out) -> Status {
      *out = x.middleRows(b, e - b);
      return {};
    };
    auto streamed = FitRidgeStreamed(n, d, read, y, o, 97);
    ASSERT_TRUE(full && streamed) << (streamed ? "" : streamed.error().ToString());
    EXPECT_EQ(streamed->alpha, full->alpha);
    EXPECT_EQ(streamed->alphas, full->alphas);
    for (size_t a = 0; a < full->loo_mse.size(); ++a) EXPECT_NEAR(streamed->loo_mse[a], full->loo_mse[a], 1e-8);
    EXPECT_LT((streamed->coef - full->coef).cwiseAbs().maxCoeff(), 1e-7);
    EXPECT_LT((streamed->intercept - full->intercept).cwiseAbs().maxCoeff(), 1e-5);
  }
  RowBlockReader none = [](int64_t, int64_t, Eigen::MatrixXd*) -> Status { return {}; };
  EXPECT_FALSE(FitRidgeStreamed(10, 20, none, Eigen::MatrixXd::Zero(10, 1), {}));  // n <= d
}

// The scale promise: 40,000 entities x every layer of a model whose
// activations are larger than the memory cap are captured and probed under
// it. The tiny model's are 40,000 x 2 x 64 floats = 20 MB; the cap is 4 MB.
TEST(Study, FortyThousandEntitiesUnderASmallMemoryCap) {
  testing::TempDir dir("probe-study");
  const uint64_t cap = 4ull << 20;
  StudyOptions o;
  o.model = {.gguf_path = testing::TinyModelPath(), .threads = 2};
  o.dataset.source = "world-cities";
  o.dataset.limit = 40000;
  o.cache_root = dir.path();
  o.random_model = RandomModelControl::kOff;
  o.static_embedding = StaticEmbeddingControl::kOff;
  o.memory_cap_bytes = cap;
  auto r = RunStudy(o);
  ASSERT_TRUE(r) << r.error().ToString();
  EXPECT_EQ(r->n_entities, 40000);
  const uint64_t total = static_cast<uint64_t>(r->n_entities * r->n_layers * r->n_embd) * 4;
  EXPECT_GT(total, 4 * cap);
  EXPECT_GT(r->peak_activation_bytes, 0u);
  EXPECT_LE(r->peak_activation_bytes, cap);
  for (const auto& l : r->sweep.layers) EXPECT_EQ(l.streamed, 1) << "layer " << l.layer;
  // The entry on disk is complete and reads back row for row.
  auto layers = CachedLayers::Open(r->cache_dir);
  ASSERT_TRUE(layers) << layers.error().ToString();
  EXPECT_EQ(layers->rows(), 40000);
  // The MLP control needs a layer in memory: refused under this cap, with the reason.
  o.mlp = MlpControl::kOn;
  auto mlp = RunStudy(o);
  ASSERT_FALSE(mlp);
  EXPECT_NE(mlp.error().message.find("memory cap"), std::string::npos);
}

// The same through the CLI, measured from outside: the process's peak RSS
// under the cap stays well below the uncapped run's.
TEST(StudyCli, MemoryCapLowersThePeakResidentSetSize) {
  testing::TempDir dir("probe-study");
  auto run = [&](const std::string& cap, const std::string& sub) {
    return RunCommand(LmlabBinary() + " probe run --model " + testing::TinyModelPath() +
                          " --threads 2 --dataset world-cities --limit 40000 --no-random-model --no-static-embedding"
                          " --cache-dir " + (dir.path() / sub).string() + " --out " + (dir.path() / ("out-" + sub)).string() +
                          " --memory-cap " + cap + " --json",
                      900);
  };
  auto capped = run("4", "capped");
  ASSERT_EQ(capped.exit_code, 0) << capped.err;
  auto free = run("0", "free");
  ASSERT_EQ(free.exit_code, 0) << free.err;
  const auto jc = nlohmann::json::parse(capped.out), jf = nlohmann::json::parse(free.out);
  const int64_t rss_capped = jc["process_peak_rss_bytes"].get<int64_t>();
  const int64_t rss_free = jf["process_peak_rss_bytes"].get<int64_t>();
  // Uncapped, one layer of 40,000 x 64 is held as floats and doubles (30 MB).
  EXPECT_LT(rss_capped + (15 << 20), rss_free) << rss_capped << " vs " << rss_free;
  EXPECT_NEAR(jc["sweep"]["best_r2"].get<double>(), jf["sweep"]["best_r2"].get<double>(), 1e-6);
}

}  // namespace
}  // namespace lmlab::probe
