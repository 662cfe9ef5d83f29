// `lmlab freshqa run --slurm` through the CLI on the real Slurm cluster of
// this test process: the questions in slices, one array element each (the
// same command with --shard), merged into one responses file that answers
// every question as the in-process run does.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "lmlab/core/file.h"
#include "tests/slurm/real_slurm.h"
#include "tests/support/run_command.h"
#include "tests/support/temp_dir.h"
#include "tests/support/tiny_model.h"

namespace lmlab::sched {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

TEST_F(RealSlurm, FreshQaRunOnSlurmAnswersEveryQuestionAsInProcess) {
  testing::TempDir tmp("slurm-freshqa");
  const fs::path dir = tmp.path();
  // The tiny model answers (nonsense, deterministically: greedy decoding);
  // no search, so no index is needed.
  auto cmd = [&](const std::string& out, const std::string& extra) {
    return testing::LmlabBinary() + " freshqa run --csv " + std::string(LMLAB_SOURCE_DIR) +
           "/tests/data/freshqa/freshqa_600_2023-12.csv --today 2023-12-20 --limit 7 --no-search --max-tokens 16"
           " --demos 0 --json --model " + testing::TinyModelPath() + " --out " + (dir / out).string() + extra;
  };
  auto local = testing::RunCommand(cmd("local.json", ""), 120);
  ASSERT_EQ(local.exit_code, 0) << local.err;
  auto slurm = testing::RunCommand(cmd("slurm.json", " --slurm --poll 0.3 --questions-per-element 3"), 120);
  ASSERT_EQ(slurm.exit_code, 0) << slurm.err << "\n" << cluster_->Logs();
  EXPECT_EQ(json::parse(slurm.out)["resumed"], 7);  // every answer came from the elements

  json a = json::parse(*ReadFile(dir / "local.json"));
  json b = json::parse(*ReadFile(dir / "slurm.json"));
  EXPECT_EQ(a["meta"], b["meta"]);
  ASSERT_EQ(a["responses"].size(), 7u);
  ASSERT_EQ(b["responses"].size(), 7u);
  for (size_t i = 0; i < 7; ++i) {
    SCOPED_TRACE(i);
    for (const char* k : {"id", "question", "answer", "prompt_tokens", "completion_tokens", "finish_reason"})
      EXPECT_EQ(a["responses"][i][k], b["responses"][i][k]) << k;
  }
  EXPECT_EQ(a["responses"][0]["completion_tokens"], 16);  // the model really answered

  // 7 questions, 3 per element: 3 elements, and Slurm ran them.
  EXPECT_EQ(CompletedElements("lmlab-freshqa"), 3);

  // A rerun finds every element done and every answer there.
  auto again = testing::RunCommand(cmd("slurm.json", " --slurm --poll 0.3 --questions-per-element 3"), 120);
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(json::parse(again.out)["resumed"], 7);
  EXPECT_EQ(json::parse(*ReadFile(dir / "slurm.json"))["responses"], b["responses"]);
}

}  // namespace
}  // namespace lmlab::sched
