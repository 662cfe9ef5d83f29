// `lmlab improve` as a user meets it: kill -9 in the middle of a run and
// resume, the report and its plot, JSON, one-line errors.
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <thread>

#include "lmlab/core/file.h"
#include "tests/support/run_command.h"

namespace lmlab {
namespace {

namespace fs = std::filesystem;
using testing::LmlabBinary;
using testing::RunCommand;

std::string RunFlags(const fs::path& dir) {
  return " improve run --task lpn --rounds 1 --repeats 1 --samples 3 --lm-calls 2 --utility-calls 4"
         " --test-instances 2 --time-limit-scale 4 --replay " +
         std::string(LMLAB_SOURCE_DIR) + "/data/improve/replay.jsonl --run-dir " + dir.string();
}

TEST(ImproveCli, KillNineThenResumeFinishesTheRun) {
  fs::path dir = fs::temp_directory_path() / ("lmlab-improve-cli-" + std::to_string(getpid()));
  fs::remove_all(dir);
  auto bg = RunCommand(LmlabBinary() + RunFlags(dir) + " >/dev/null 2>&1 & echo $!");
  ASSERT_EQ(bg.exit_code, 0);
  pid_t pid = std::stoi(bg.out);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (!fs::exists(dir / "round-0.json") && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  ASSERT_TRUE(fs::exists(dir / "round-0.json"));
  ASSERT_EQ(kill(pid, SIGKILL), 0);  // mid-round 1
  std::string round0 = *ReadFile(dir / "round-0.json");

  auto r = RunCommand(LmlabBinary() + RunFlags(dir) + " --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j["rounds"].size(), 2u);
  EXPECT_EQ(*ReadFile(dir / "round-0.json"), round0);  // the finished round was not redone
  EXPECT_GE(j["audit_total"]["candidates"].get<int>(), 1);

  auto rep = RunCommand(LmlabBinary() + " improve report --run-dir " + dir.string());
  ASSERT_EQ(rep.exit_code, 0) << rep.err;
  EXPECT_NE(rep.out.find("meta-utility"), std::string::npos);
  EXPECT_NE(rep.out.find("Audit, all rounds"), std::string::npos);
  auto svg = ReadFile(dir / "report.svg");
  ASSERT_TRUE(svg);
  EXPECT_NE(svg->find("<svg"), std::string::npos);
  auto rep_json = RunCommand(LmlabBinary() + " improve report --json --run-dir " + dir.string());
  ASSERT_EQ(rep_json.exit_code, 0);
  EXPECT_EQ(nlohmann::json::parse(rep_json.out)["rounds"].size(), 2u);
  fs::remove_all(dir);
}

TEST(ImproveCli, EvalAndTasksPrintJson) {
  auto r = RunCommand(LmlabBinary() + " improve eval --task lpn --instances 5 --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["verdict"], "ok");
  EXPECT_GE(j["utility"].get<double>(), 0.0);
  EXPECT_LE(j["utility"].get<double>(), 1.0);
  auto t = RunCommand(LmlabBinary() + " improve tasks --json");
  ASSERT_EQ(t.exit_code, 0);
  EXPECT_EQ(nlohmann::json::parse(t.out).size(), 6u);
}

struct BadInput {
  const char* args;
  const char* expect;
};

class ImproveCliBadInput : public ::testing::TestWithParam<BadInput> {};

TEST_P(ImproveCliBadInput, OneLineExitTwo) {
  auto r = RunCommand(LmlabBinary() + " improve " + GetParam().args);
  EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_NE(r.err.find(GetParam().expect), std::string::npos) << r.err;
}

INSTANTIATE_TEST_SUITE_P(
    Cases, ImproveCliBadInput,
    ::testing::Values(BadInput{"run --run-dir /tmp/x-lmlab-none", "--replay"},
                      BadInput{"run --task nope --replay /dev/null --run-dir /tmp/x", "nope"},
                      BadInput{"eval --task nope", "nope"},
                      BadInput{"report --run-dir /nonexistent/lmlab-run", "config.json"},
                      BadInput{"run --rounds -1 --run-dir /tmp/x --replay " LMLAB_SOURCE_DIR
                               "/data/improve/replay.jsonl",
                               "--rounds"},
                      BadInput{"element --run-dir /tmp/x-lmlab-none --improver /dev/null --task lpn --repeat -1",
                               "--repeat"},
                      BadInput{"element --run-dir /tmp/x-lmlab-none --improver /dev/null --task nope --repeat 0",
                               "nope"},
                      BadInput{"element --run-dir /tmp/x-lmlab-none --improver /nonexistent/i.py --task lpn "
                               "--repeat 0",
                               "/nonexistent/i.py"},
                      BadInput{"element --run-dir /tmp/x-lmlab-none --improver /dev/null --task lpn", "--repeat"},
                      BadInput{"gather --run-dir /tmp/x-lmlab-none --improver /dev/null", "--tasks"},
                      BadInput{"gather --run-dir /tmp/x-lmlab-none --improver /dev/null --tasks lpn --repeats 2",
                               "2 of 2 elements missing"}));

}  // namespace
}  // namespace lmlab
