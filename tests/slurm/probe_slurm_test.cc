// `lmlab probe run --slurm` through the CLI on the real Slurm cluster of
// this test process: the capture of the tiny model is sharded by prompt
// chunk into array elements (each `probe run ... --capture-chunk N`), and
// the cache entry they produce is the in-process one, byte for byte.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
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
using testing::LmlabBinary;
using testing::RunCommand;

// Every .npy file under `root`, by its path relative to it.
std::map<std::string, std::string> NpyFiles(const fs::path& root) {
  std::map<std::string, std::string> files;
  for (const auto& e : fs::recursive_directory_iterator(root))
    if (e.path().extension() == ".npy") files[fs::relative(e.path(), root).string()] = *ReadFile(e.path());
  return files;
}

TEST_F(RealSlurm, ProbeCaptureShardedIntoFiveElementsGivesTheInProcessCacheByteForByte) {
  testing::TempDir tmp("slurm-probe");
  const fs::path dir = tmp.path();
  // 50 made-up places: 5 chunks of 10 prompts.
  const fs::path csv = dir / "places.csv";
  {
    std::ofstream out(csv);
    out << "name,latitude,longitude\n";
    for (int i = 0; i < 50; ++i) out << "Place " << i << "," << (i * 3 % 170) - 85 << "," << (i * 7 % 350) - 175 << "\n";
  }
  auto cmd = [&](const std::string& name, const std::string& extra) {
    return LmlabBinary() + " probe run --model " + testing::TinyModelPath() + " --dataset " + csv.string() +
           " --chunk 10 --no-random-model --no-static-embedding --json --cache-dir " + (dir / name).string() +
           " -o " + (dir / (name + "-out")).string() + extra;
  };
  auto local = RunCommand(cmd("local", ""), 300);
  ASSERT_EQ(local.exit_code, 0) << local.err;
  auto dry = RunCommand(cmd("slurm", " --slurm --dry-run"), 120);
  ASSERT_EQ(dry.exit_code, 0) << dry.err;
  EXPECT_NE(dry.out.find("--array=0-4"), std::string::npos) << dry.out;
  EXPECT_NE(dry.out.find("'--capture-chunk' \"$element\""), std::string::npos) << dry.out;
  EXPECT_EQ(dry.out.find("'--slurm'"), std::string::npos) << "an element must not submit again:\n" << dry.out;

  auto slurm = RunCommand(cmd("slurm", " --slurm --poll 0.3"), 300);
  ASSERT_EQ(slurm.exit_code, 0) << slurm.err << "\n" << cluster_->Logs();
  json a = json::parse(local.out);
  json b = json::parse(slurm.out);
  EXPECT_EQ(a["captured_prompts"], 50);
  EXPECT_EQ(b["captured_prompts"], 0);  // every prompt came from the elements' chunks
  EXPECT_EQ(b["resumed_prompts"], 50);
  EXPECT_EQ(a["sweep"]["best_r2"], b["sweep"]["best_r2"]);

  // Slurm ran the five elements (squeue remembers finished jobs for MinJobAge).
  EXPECT_EQ(CompletedElements("lmlab-probe-capture"), 5);

  // The same cache entry, byte for byte on every .npy file.
  auto x = NpyFiles(dir / "local"), y = NpyFiles(dir / "slurm");
  ASSERT_EQ(x.size(), 2u);  // the tiny model's two layers
  ASSERT_EQ(x.size(), y.size());
  for (const auto& [name, bytes] : x) {
    ASSERT_TRUE(y.contains(name)) << name;
    EXPECT_TRUE(y[name] == bytes) << name << " differs";
  }
  // Nothing of the sharding is left in the entry.
  for (const auto& e : fs::recursive_directory_iterator(dir / "slurm"))
    EXPECT_NE(e.path().filename(), "partial") << e.path();
}

}  // namespace
}  // namespace lmlab::sched
