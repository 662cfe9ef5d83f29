// `lmlab probe run` on hostile input, through the real binary: a clear
// one-line error with exit status 2, never "internal error".
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "tests/support/run_command.h"
#include "tests/support/tiny_model.h"

namespace lmlab {
namespace {

using lmlab::testing::LmlabBinary;
using lmlab::testing::RunCommand;
namespace fs = std::filesystem;

class ProbeCliInput : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("lmlab_probe_cli_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

// issue 13: a Latin-1 name ended in "internal error: [json.exception.type_error.316]".
TEST_F(ProbeCliInput, AnEntityCsvThatIsNotUtf8NamesTheLine) {
  fs::path csv = dir_ / "places.csv";
  std::ofstream(csv) << "name,latitude,longitude\nParis,48.85,2.35\nLima,-12.04,-77.04\nZ\xfcrich,47.37,8.54\n";
  auto r = RunCommand(LmlabBinary() + " probe run --model " + testing::TinyModelPath() + " --dataset " + csv.string() +
                      " --cache-dir " + (dir_ / "cache").string() + " -o " + (dir_ / "out").string());
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("places.csv line 4"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("UTF-8"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("internal error"), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << "one line: " << r.err;
}

}  // namespace
}  // namespace lmlab
