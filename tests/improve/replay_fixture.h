// Shared by the improve tests: the replay TEST FIXTURE model
// (data/improve/replay.jsonl) and a temporary run directory.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "lmlab/improve/replay_model.h"
#include "tests/sandbox/prepared_host.h"

namespace lmlab::testing {

inline std::string ReplayFile() {
  return std::string(LMLAB_SOURCE_DIR) + "/data/improve/replay.jsonl";
}

// A fresh replay model: each starts at the first recording of every group.
inline std::unique_ptr<runtime::LanguageModel> Replay() {
  auto entries = improve::LoadReplayFile(ReplayFile());
  EXPECT_TRUE(entries) << entries.error().ToString();
  return improve::MakeReplayModel(entries ? *entries : std::vector<improve::ReplayEntry>{{"", "x"}});
}

// A directory under the system temp dir, removed before and after.
struct TempDir {
  std::filesystem::path path;
  explicit TempDir(const std::string& name) {
    path = std::filesystem::temp_directory_path() / ("lmlab-stop-test-" + name + "-" + std::to_string(getpid()));
    std::filesystem::remove_all(path);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
};

}  // namespace lmlab::testing
