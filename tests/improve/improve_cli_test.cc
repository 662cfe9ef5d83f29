// `lmlab improve` as a user meets it: kill -9 in the middle of a run and
// resume, the report and its plot, JSON, one-line errors.
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <thread>

#include "lmlab/core/file.h"
#include "lmlab/improve/task.h"
#include "tests/improve/replay_fixture.h"
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
  EXPECT_EQ(nlohmann::json::parse(t.out).size(), improve::TaskNames().size());  // the paper's, circle packing, lmlab's variants
}

// Processes whose command line mentions `needle` (bwrap's carries its run
// dir: --ro-bind <dir> /box).
int ProcessesMentioning(const std::string& needle) {
  int n = 0;
  for (const auto& e : fs::directory_iterator("/proc")) {
    std::string name = e.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    auto cmdline = ReadFile(e.path() / "cmdline");
    if (cmdline && cmdline->find(needle) != std::string::npos) ++n;
  }
  return n;
}

// Issue 13's reproducer through the CLI: the model writes an improver that
// sends a request with a number where a string belongs straight to fd 3. The
// host once aborted (--jobs 2) or exited "internal error" leaving bwrap and
// run dirs behind (--jobs 1). Now that candidate is an improver that failed,
// and the run ends as a run with any failed candidate does (a control whose
// candidate just raises).
TEST(ImproveCli, AModelWrittenImproverWritingRawHostileJsonToFd3IsJustAFailedImprover) {
  testing::TempDir scratch("fd3");  // removed however the test ends
  const fs::path& base = scratch.path;
  fs::create_directories(base);
  auto replay = [&](const std::string& name, const std::string& improver) {
    nlohmann::json i = {{"prompt_contains", "def improve_algorithm"},
                        {"completion", "Idea: talk to the host directly.\n```python\n" + improver + "```\n"}};
    nlohmann::json s = {{"prompt_contains", "def algorithm("},
                        {"completion", "```python\ndef algorithm(a, b, c):\n    return [0] * len(c)\n```\n"}};
    fs::path p = base / name;
    EXPECT_TRUE(WriteFileAtomic(p, i.dump() + "\n" + s.dump() + "\n"));
    return p.string();
  };
  std::string hostile = replay("hostile.jsonl",
                               "import os\n"
                               "def improve_algorithm(initial_solution, utility, language_model):\n"
                               "    os.write(3, b'{\"op\":\"lm\",\"system\":1,\"messages\":[\"x\"]}\\n')\n"
                               "    os.read(4, 65536)\n"
                               "    raise RuntimeError('giving up')\n");
  std::string control = replay("control.jsonl",
                               "def improve_algorithm(initial_solution, utility, language_model):\n"
                               "    raise RuntimeError('giving up')\n");
  for (int jobs : {1, 2}) {
    SCOPED_TRACE(jobs);
    int exit_codes[2];
    for (int k = 0; k < 2; ++k) {
      // A private temp dir, so that what the run leaves there can be seen.
      fs::path tmp = base / ("tmp-" + std::to_string(jobs) + "-" + std::to_string(k));
      fs::path dir = base / ("run-" + std::to_string(jobs) + "-" + std::to_string(k));
      fs::create_directories(tmp);
      auto r = RunCommand("TMPDIR=" + tmp.string() + " " + LmlabBinary() +
                              " improve run --task lpn --rounds 1 --repeats 2 --jobs " + std::to_string(jobs) +
                              " --samples 2 --lm-calls 1 --utility-calls 3 --test-instances 2 --time-limit-scale 4"
                              " --json --replay " + (k == 0 ? hostile : control) + " --run-dir " + dir.string(),
                          300);
      exit_codes[k] = r.exit_code;
      ASSERT_EQ(r.exit_code, 0) << r.err;
      EXPECT_EQ(r.err.find("internal error"), std::string::npos) << r.err;
      auto j = nlohmann::json::parse(r.out);
      ASSERT_EQ(j["rounds"].size(), 2u);
      // Round 1's candidate is the model's improver: each of its elements failed.
      int unknown = j["rounds"][1]["audit"]["unknown_requests"];
      if (k == 0) {
        EXPECT_GE(unknown, 2) << j["rounds"][1];  // one per element that ran the candidate
      } else {
        EXPECT_EQ(unknown, 0) << j["rounds"][1];
      }
      EXPECT_FALSE(j["rounds"][1]["accepted"].get<bool>());
      // Nothing left: no run dir of any sandbox, no process still using one.
      int left = 0;
      for (const auto& e : fs::directory_iterator(tmp)) left += e.path().filename().string().starts_with("lmlab-sandbox-");
      EXPECT_EQ(left, 0);
      EXPECT_EQ(ProcessesMentioning(tmp.string()), 0);
    }
    EXPECT_EQ(exit_codes[0], exit_codes[1]);
  }
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
