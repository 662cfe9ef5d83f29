// The whole pipeline on the tiny llama.cpp model (real inference, random
// weights): dataset -> prompts -> cached activations -> probes -> report
// files, and the `lmlab probe` command on top. A random model has nothing to
// find, so these tests check shapes, files, resumability and errors; what a
// trained model holds is reported in docs/probe.md.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>

#include "lmlab/core/file.h"
#include "lmlab/probe/activation_cache.h"
#include "lmlab/probe/dataset.h"
#include "lmlab/probe/experiment.h"
#include "lmlab/probe/render.h"
#include "lmlab/runtime/activations.h"
#include "tests/support/run_command.h"
#include "tests/support/temp_dir.h"
#include "tests/support/tiny_model.h"

namespace lmlab::probe {
namespace {

namespace fs = std::filesystem;
using lmlab::testing::LmlabBinary;
using lmlab::testing::RunCommand;

EntityDataset Cities(int n) {
  auto ds = BuildWorldCities({.limit = n});
  EXPECT_TRUE(ds) << ds.error().ToString();
  return ds ? *ds : EntityDataset{};
}

TEST(Pipeline, TinyModelEndToEnd) {
  testing::TempDir dir("probe-pipeline");
  auto model = runtime::OpenActivationModel({.gguf_path = testing::TinyModelPath(), .threads = 2});
  ASSERT_TRUE(model) << model.error().ToString();
  EntityDataset ds = Cities(80);
  std::vector<std::string> prompts = MakePrompts(ds, PromptTemplate::kQuestion);
  CaptureOptions o;
  o.dir = CacheEntryDir(dir.path(), testing::TinyModelPath(), ds.name, "question", prompts);
  o.chunk_prompts = 32;
  CaptureStats st;
  auto acts = CaptureCached(**model, prompts, o, &st);
  ASSERT_TRUE(acts) << acts.error().ToString();
  EXPECT_EQ(acts->n, 80);
  EXPECT_EQ(acts->n_layers, 2);
  EXPECT_EQ(acts->n_embd, 64);
  EXPECT_EQ(st.captured, 80);
  // Different entities give different residual streams.
  EXPECT_NE(acts->LayerMatrix(1).row(0), acts->LayerMatrix(1).row(1));
  auto layer = ReadNpy(o.dir / "layer_001.npy");
  ASSERT_TRUE(layer);
  EXPECT_EQ(layer->shape, (std::vector<int64_t>{80, 64}));

  // The cache's rows are the model's own activations for each prompt alone.
  auto direct = (*model)->CaptureActivations({.prompts = {prompts[5]}});
  ASSERT_TRUE(direct);
  // (Batched and single decodes differ in the last bits of ggml's sums: ~1e-3 here.)
  for (int e = 0; e < 64; ++e)
    EXPECT_NEAR(acts->layer(1)[5 * 64 + e], direct->at(0, 1)[e], 5e-3 * (1 + std::abs(direct->at(0, 1)[e]))) << e;

  SweepOptions so;
  so.mlp = MlpControl::kOn;
  so.mlp_options.hidden = 16;
  so.mlp_options.max_epochs = 5;
  auto sweep = RunLayerSweep(*acts, ds, so);
  ASSERT_TRUE(sweep) << sweep.error().ToString();
  ASSERT_EQ(sweep->layers.size(), 2u);
  for (const auto& l : sweep->layers) {
    EXPECT_GE(l.test.proximity_error, 0.0);
    EXPECT_LE(l.test.proximity_error, 1.0);
    EXPECT_GT(l.test.mean_km, 0.0);
    EXPECT_GT(l.mlp_test.n, 0);
  }
  ProbeReport report;
  report.model = "tiny";
  report.sweep = *sweep;
  auto files = WriteReportFiles(report, dir.path() / "out");
  ASSERT_TRUE(files) << files.error().ToString();
  EXPECT_TRUE(fs::exists(dir.path() / "out" / "map_layer_01.svg"));
  EXPECT_TRUE(fs::exists(dir.path() / "out" / "index.html"));
}

TEST(Pipeline, MlpActivationsOfTheTinyModelNextToTheResidualCache) {
  testing::TempDir dir("probe-pipeline");
  auto model = runtime::OpenActivationModel({.gguf_path = testing::TinyModelPath(), .threads = 2});
  ASSERT_TRUE(model) << model.error().ToString();
  EntityDataset ds = Cities(40);
  std::vector<std::string> prompts = MakePrompts(ds, PromptTemplate::kBare);
  CaptureOptions o;
  o.dir = CacheEntryDir(dir.path(), testing::TinyModelPath(), ds.name, "bare", prompts);
  o.chunk_prompts = 16;
  ASSERT_TRUE(CaptureCached(**model, prompts, o));
  CaptureStats st;
  auto mlp = CaptureMlpCached(**model, prompts, {1}, o, &st);
  ASSERT_TRUE(mlp) << mlp.error().ToString();
  EXPECT_EQ(st.captured, 40);
  EXPECT_EQ(mlp->n_ff, 128);
  EXPECT_EQ(mlp->layers, std::vector<int64_t>{1});
  auto direct = (*model)->CaptureActivations(
      {.prompts = {prompts[7]}, .streams = runtime::ActivationStreams::kMlp, .mlp_layers = {1}});
  ASSERT_TRUE(direct);
  for (int j = 0; j < 128; ++j)
    EXPECT_NEAR(mlp->layer(1)[7 * 128 + j], direct->mlp_at(0, 1)[j], 5e-3 * (1 + std::abs(direct->mlp_at(0, 1)[j])));
  // The residual entry is still complete and loads; the MLP block comes from the cache.
  EXPECT_TRUE(LoadCacheEntry(o.dir));
  ASSERT_TRUE(CaptureMlpCached(**model, prompts, {1}, o, &st));
  EXPECT_TRUE(st.from_cache);
  // A block the model does not have.
  auto beyond = CaptureMlpCached(**model, prompts, {2}, o, &st);
  ASSERT_FALSE(beyond);
  EXPECT_EQ(beyond.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(beyond.error().message.find("block 2 does not exist"), std::string::npos) << beyond.error().message;
}

TEST(Pipeline, PromptLongerThanTheContextFailsCleanly) {
  testing::TempDir dir("probe-pipeline");
  auto model = runtime::OpenActivationModel({.gguf_path = testing::TinyModelPath(), .threads = 2});
  ASSERT_TRUE(model) << model.error().ToString();
  std::vector<std::string> prompts = {"Paris", std::string(3000, 'x') + " Lima", "Rome"};
  CaptureOptions o;
  o.dir = dir.path() / "entry";
  auto acts = CaptureCached(**model, prompts, o);
  ASSERT_FALSE(acts);
  EXPECT_EQ(acts.error().code, ErrorCode::kOutOfRange) << acts.error().ToString();
  EXPECT_NE(acts.error().message.find("prompts 1..3 of 3"), std::string::npos) << acts.error().message;
  EXPECT_FALSE(fs::exists(o.dir / "manifest.json"));
  EXPECT_FALSE(fs::exists(o.dir / "layer_000.npy"));
}

TEST(ProbeCli, RunThenReport) {
  testing::TempDir dir("probe-pipeline");
  std::string base = LmlabBinary() + " probe run --model " + testing::TinyModelPath() +
                     " --threads 2 --limit 60 --cache-dir " + (dir.path() / "cache").string() + " --out " +
                     (dir.path() / "out").string();
  auto r = RunCommand(base + " --json --holdout country --neurons 3 --float16 --random-model-control");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["n_layers"], 2);
  EXPECT_EQ(j["sweep"]["layers"].size(), 2u);
  EXPECT_EQ(j["holdouts"][0]["group_column"], "country");
  EXPECT_EQ(j["neurons"][0]["by_activation"].size(), 6u);  // 3 per target
  // Block 1's ffn_down (the best layer is 0 or 1) or block 1's ffn_up are searched too.
  ASSERT_GE(j["neurons"].size(), 2u);
  EXPECT_EQ(j["neurons"][1]["by_weight"].size(), 6u);
  // Last: the best layer's MLP neurons by activation, with their ffn_down cosines.
  const auto& mlp = j["neurons"].back();
  EXPECT_EQ(mlp["stream"], "mlp");
  EXPECT_EQ(mlp["layer"], j["sweep"]["best_layer"]);
  EXPECT_EQ(mlp["by_activation"].size(), 6u);
  EXPECT_EQ(mlp["weights"], "blk." + std::to_string(mlp["layer"].get<int>()) + ".ffn_down");
  for (const auto& h : mlp["by_activation"]) {
    EXPECT_LT(h["index"].get<int>(), 128);
    EXPECT_NE(h["correlation"].get<double>(), 0.0);
  }
  EXPECT_EQ(j["sweep"]["shuffle_ran"], 1);  // the shuffled-target control runs by default
  EXPECT_EQ(j["captured_prompts"], 60);
  // Every control runs by default: shuffled targets, the random-init model, the static embedding.
  ASSERT_EQ(j["controls"].size(), 3u);
  std::map<std::string, nlohmann::json> controls;
  for (const auto& c : j["controls"]) controls[c["name"].get<std::string>()] = c;
  ASSERT_TRUE(controls.contains("shuffled targets"));
  ASSERT_TRUE(controls.contains("random-init model"));
  ASSERT_TRUE(controls.contains("static embedding"));
  EXPECT_EQ(controls["random-init model"]["test_r2"].size(), 2u);
  EXPECT_EQ(controls["static embedding"]["test_r2"].size(), 1u);  // one "layer": the token embeddings

  // Again, in the same stored format: every activation comes from the cache.
  r = RunCommand(base + " --float16");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("(0 prompts captured now"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("Best layer"), std::string::npos) << r.out;

  // MLP neurons of chosen blocks; block 0 is new, the best layer's block may be cached.
  r = RunCommand(base + " --float16 --neurons 2 --neuron-layers 0 1");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("MLP neurons of block 0"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("MLP neurons of block 1"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("MLP activations of blocks 0, 1: 60 prompts captured now"), std::string::npos) << r.out;
  r = RunCommand(base + " --float16 --neurons 2 --neuron-layers 1 0");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("MLP activations of blocks 0, 1: 0 prompts captured now in 0.0 s, all from the cache"),
            std::string::npos)
      << r.out;

  r = RunCommand(LmlabBinary() + " probe report " + (dir.path() / "out").string());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("prox err"), std::string::npos);
  EXPECT_NE(r.out.find("cos(ffn_down, probe)"), std::string::npos);
}

TEST(ProbeCli, BadInputIsOneLineAndExitTwo) {
  testing::TempDir dir("probe-pipeline");
  std::string csv = (dir.path() / "dup.csv").string();
  ASSERT_TRUE(WriteFileAtomic(csv, "name,latitude,longitude\nParis,48.8,2.3\nParis,33.6,-95.5\n"));
  std::string empty = (dir.path() / "empty.csv").string();
  ASSERT_TRUE(WriteFileAtomic(empty, ""));
  std::string model = " --model " + testing::TinyModelPath() + " --out " + (dir.path() / "out").string();
  struct Case {
    std::string args, expect;
  } cases[] = {
      {" --dataset " + csv, "--duplicates first"},
      {" --dataset " + empty, "is empty"},
      {" --dataset nowhere.csv", "neither a built-in dataset"},
      {" --prompt shout", "unknown prompt template"},
      {" --holdout planet --limit 20", "no such group column"},
      {" --endpoint http://127.0.0.1:9 --api-model x", "local GGUF"},
      {" --neuron-layers 1", "--neuron-layers needs --neurons"},
      {" --limit 20 --neurons 2 --neuron-layers 0 2 --cache-dir " + (dir.path() / "cache").string(),
       "neuron layer 2: the model has 2 blocks (0..1)"},
  };
  for (const auto& c : cases) {
    auto r = RunCommand(LmlabBinary() + " probe run" + model + c.args);
    EXPECT_EQ(r.exit_code, 2) << c.args << "\n" << r.err;
    EXPECT_NE(r.err.find(c.expect), std::string::npos) << c.args << "\n" << r.err;
    EXPECT_FALSE(fs::exists(dir.path() / "out")) << c.args;
  }
}

}  // namespace
}  // namespace lmlab::probe
