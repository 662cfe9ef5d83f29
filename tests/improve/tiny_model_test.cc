// The STOP loop on a real (tiny, random) model through llama.cpp: its output
// is garbage — no code blocks, broken syntax — and must score 0 or fall back,
// never crash.
#include <gtest/gtest.h>

#include <filesystem>

#include "lmlab/improve/stop.h"
#include "lmlab/runtime/language_model.h"
#include "tests/support/llama_server.h"
#include "tests/support/tiny_model.h"
#include "tests/sandbox/prepared_host.h"

namespace lmlab::improve {
namespace {

namespace fs = std::filesystem;

StopOptions Tiny(const fs::path& dir) {
  StopOptions o;
  o.run_dir = dir;
  o.tasks = {"lpn"};
  o.rounds = 1;
  o.repeats = 1;
  o.test_instances = 2;
  o.budgets = {.samples_per_call = 2, .lm_calls = 1, .utility_calls = 3};
  o.max_tokens = 32;
  o.seed_improver = SeedImproverKind::kKeepBest;  // keeps the seed solution: its chance level, not 0
  o.time_limit_scale = 4;
  o.improver_wall_seconds = 60;
  return o;
}

TEST(TinyModel, GarbageRepliesNeverCrashTheLoop) {
  auto lm = runtime::OpenModel({.gguf_path = testing::TinyModelPath(), .threads = 1, .n_ctx = 2048});
  ASSERT_TRUE(lm) << lm.error().ToString();
  auto box = sandbox::MakeBubblewrapSandbox();
  fs::path dir = fs::temp_directory_path() / ("lmlab-stop-tiny-" + std::to_string(getpid()));
  fs::remove_all(dir);
  auto s = RunSelfImprovement(Tiny(dir), **lm, *box);
  ASSERT_TRUE(s) << s.error().ToString();
  ASSERT_EQ(s->rounds.size(), 2u);
  // Round 0: the seed improver finds no usable code and keeps the seed
  // solution, so the meta-utility is the seed's chance level, not 0.
  EXPECT_GT(s->rounds[0].meta_utility, 0.2);
  EXPECT_LT(s->rounds[0].meta_utility, 0.8);
  EXPECT_GT(s->rounds[0].model_calls, 0);
  EXPECT_GT(s->rounds[0].completion_tokens, 0);
  // Round 1: no candidate improver is code, so the round keeps the seed improver.
  EXPECT_FALSE(s->rounds[1].accepted);
  EXPECT_EQ(s->rounds[1].improver_file, "improver-0.py");
  EXPECT_DOUBLE_EQ(s->rounds[1].meta_utility, s->rounds[0].meta_utility);
  // The raw replies are kept.
  EXPECT_TRUE(fs::exists(dir / "round-0" / "replies"));
  fs::remove_all(dir);
}

TEST(TinyModel, GarbageFromARealLlamaServerScoresLikeTheSeed) {
  auto server = testing::LlamaServer::Start({.model_path = testing::TextOnlyTinyModelPath(), .context = 2048});
  ASSERT_TRUE(server) << server.error().ToString();
  auto lm = runtime::OpenModel({.endpoint = (*server)->url(), .api_model = "tiny", .timeout_seconds = 60});
  ASSERT_TRUE(lm) << lm.error().ToString();
  auto box = sandbox::MakeBubblewrapSandbox();
  StopOptions o = Tiny("");
  auto m = EvaluateImprover(o, SeedImprover(SeedImproverKind::kKeepBest), {"lpn"}, **lm, *box);
  ASSERT_TRUE(m) << m.error().ToString();
  EXPECT_EQ(m->model_calls, 1);
  EXPECT_EQ(m->samples, 2);
  EXPECT_EQ(m->failed_runs, 0);
  EXPECT_GT(m->value, 0.2);  // keep-best: garbage never beats the seed solution, which is kept
  EXPECT_LT(m->value, 0.8);
  // The paper's seed improver returns the best *new* candidate: from garbage
  // there is none that runs, so the meta-utility is 0, not the seed's level.
  o.seed_improver = SeedImproverKind::kPaper;
  auto paper = EvaluateImprover(o, SeedImprover(SeedImproverKind::kPaper), {"lpn"}, **lm, *box);
  ASSERT_TRUE(paper) << paper.error().ToString();
  EXPECT_EQ(paper->samples, 2);
  EXPECT_EQ(paper->value, 0.0);
}

}  // namespace
}  // namespace lmlab::improve
