#include "lmlab/plan/calibrate.h"

#include <gtest/gtest.h>

#include "lmlab/core/file.h"

namespace lmlab::plan {
namespace {

std::string Fixture(const std::string& name) {
  auto text = ReadFile(std::string(LMLAB_SOURCE_DIR) + "/tests/plan/data/" + name);
  EXPECT_TRUE(text.has_value()) << name;
  return text.value_or("");
}

DeviceCatalog Catalog() { return *DeviceCatalog::LoadDefault(); }

TEST(TrainingLog, ThroughputLinesSkipWarmupAndTakeTheMedian) {
  auto log = ParseTrainingLog(Fixture("pytorch_train.log"), std::nullopt);
  ASSERT_TRUE(log) << log.error().ToString();
  EXPECT_EQ(log->format, LogFormat::kThroughputLines);
  ASSERT_EQ(log->samples.size(), 6u);
  EXPECT_EQ(log->samples[0].tokens_per_second, 12150);
  EXPECT_EQ(log->samples[0].line, 2);
  EXPECT_EQ(log->warmup_skipped, 1);
  EXPECT_EQ(log->tokens_per_second, 41100) << "median of 40,800 41,350 41,100 40,950 41,200";
}

TEST(TrainingLog, LineForms) {
  auto log = ParseTrainingLog("tokens/s: 812.5\nthroughput 1.5e3 tokens per second\n'train_tokens_per_second': 900\n",
                              std::nullopt);
  ASSERT_TRUE(log) << log.error().ToString();
  ASSERT_EQ(log->samples.size(), 3u);
  EXPECT_EQ(log->samples[0].tokens_per_second, 812.5);
  EXPECT_EQ(log->samples[1].tokens_per_second, 1500);
  EXPECT_EQ(log->samples[2].tokens_per_second, 900);
  // llama.cpp's performance report.
  log = ParseTrainingLog(
      "llama_perf_context_print:        eval time =    1234.56 ms /   127 runs   (    9.72 ms per token,   102.87 tokens per second)\n",
      std::nullopt);
  ASSERT_TRUE(log);
  EXPECT_DOUBLE_EQ(log->tokens_per_second, 102.87);
}

TEST(TrainingLog, LlamaCppFinetuneProgressCountsSequences) {
  std::string text = Fixture("llama_finetune.log");
  auto no_len = ParseTrainingLog(text, std::nullopt);
  ASSERT_FALSE(no_len);
  EXPECT_NE(no_len.error().message.find("`log_seq_len`"), std::string::npos);
  auto log = ParseTrainingLog(text, 256);
  ASSERT_TRUE(log) << log.error().ToString();
  EXPECT_EQ(log->format, LogFormat::kGgmlOptProgress);
  ASSERT_EQ(log->samples.size(), 3u) << "train lines only, split on carriage returns";
  EXPECT_DOUBLE_EQ(log->tokens_per_second, 512.0 * 256 / 64) << "the last cumulative rate: 512 sequences in 64 s";
}

TEST(TrainingLog, OutOfRangeNumbersAreSkippedNotThrown) {
  auto log = ParseTrainingLog("1e999 tok/s\n500 tok/s\n", std::nullopt);
  ASSERT_TRUE(log) << log.error().ToString();
  ASSERT_EQ(log->samples.size(), 1u);
  EXPECT_EQ(log->tokens_per_second, 500);
}

TEST(TrainingLog, NoThroughputIsAParseError) {
  auto log = ParseTrainingLog("loss 3.2\nloss 3.1\n", std::nullopt);
  ASSERT_FALSE(log);
  EXPECT_EQ(log.error().code, ErrorCode::kParse);
  EXPECT_NE(log.error().message.find("tok/s"), std::string::npos) << "says which forms it reads";
}

// A real `lmlab train run --json` output (tests/plan/data/PROVENANCE.md):
// its model config gives the same parameter count lmlab's trainer reports.
TEST(TrainingLog, LmlabTrainJsonCarriesItsModel) {
  auto log = ParseTrainingLog(Fixture("lmlab_train.json"), std::nullopt);
  ASSERT_TRUE(log) << log.error().ToString();
  EXPECT_EQ(log->format, LogFormat::kLmlabTrainJson);
  ASSERT_TRUE(log->model);
  ASSERT_TRUE(log->params);
  EXPECT_EQ(CountParams(*log->model).total, *log->params) << "plan's count agrees with the trainer's own";
  ASSERT_TRUE(log->seq_len);
  EXPECT_GT(log->tokens_per_second, 0);
}

TEST(Calibration, MfuIsAchievedOverPeak) {
  auto log = ParseTrainingLog(Fixture("pytorch_train.log"), std::nullopt);
  ASSERT_TRUE(log);
  FromLogRequest r{.log = *log, .params = 1.3e9, .peak_flops = 312e12, .devices = 8, .hardware = "A100"};
  auto c = FitMfu(r);
  ASSERT_TRUE(c) << c.error().ToString();
  EXPECT_DOUBLE_EQ(c->flops_per_token, 6 * 1.3e9);
  EXPECT_DOUBLE_EQ(c->achieved_flops, 41100 * 6 * 1.3e9);
  EXPECT_DOUBLE_EQ(c->mfu, 41100 * 6 * 1.3e9 / (312e12 * 8));

  // With a model shape, the attention term joins (6 N + 12 L s d).
  r.params.reset();
  r.model = *ResolveModelShape("llama-2-7b", "");
  r.seq_len = 4096;
  c = FitMfu(r);
  ASSERT_TRUE(c);
  EXPECT_DOUBLE_EQ(c->flops_per_token, TrainingFlopsPerToken(*r.model, 4096));

  r.peak_flops = 1e9;  // a peak far too low: an MFU above 100%
  auto bad = FitMfu(r);
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("100%"), std::string::npos);
  r = FromLogRequest{.log = *log, .peak_flops = 312e12};
  EXPECT_FALSE(FitMfu(r)) << "no model: the log does not say";
}

TEST(Calibration, ProjectsTheTargetRunAtTheFittedMfu) {
  auto log = ParseTrainingLog(Fixture("pytorch_train.log"), std::nullopt);
  ASSERT_TRUE(log);
  FromLogRequest from{.log = *log, .params = 1.3e9, .peak_flops = 312e12, .devices = 8, .hardware = "A100"};
  PlanRequest target;
  target.compute = {.params = 70e9, .tokens = 15e12};
  target.hardware.device = "h100";
  target.devices = {1024};
  auto c = PlanFromLog(from, target, Catalog());
  ASSERT_TRUE(c) << c.error().ToString();
  EXPECT_DOUBLE_EQ(c->plan.rate.mfu, c->calibration.mfu);
  EXPECT_DOUBLE_EQ(c->plan.scenarios[0].days,
                   6 * 70e9 * 15e12 / (989.5e12 * c->calibration.mfu * 1024) / kSecondsPerDay);
  target.hardware.mfu = 0.5;
  EXPECT_FALSE(PlanFromLog(from, target, Catalog())) << "--mfu and --from-log both set the MFU";
}

}  // namespace
}  // namespace lmlab::plan
