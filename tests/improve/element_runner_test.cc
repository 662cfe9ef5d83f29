// StopOptions::element_runner: where `improve run --slurm` hands each
// meta-utility's elements. A recording runner (no sandbox, no model) shows
// which elements the library asks for, at which place, and that their
// results make the meta-utility and the round's counts.
#include <gtest/gtest.h>

#include <filesystem>

#include "lmlab/improve/element.h"
#include "lmlab/improve/replay_model.h"
#include "lmlab/improve/stop.h"
#include "lmlab/sandbox/sandbox.h"
#include "tests/support/temp_dir.h"

namespace lmlab::improve {
namespace {

namespace fs = std::filesystem;

struct Call {
  std::string improver;
  std::vector<std::string> tasks;
  ElementPlace place;
};

class RecordingRunner final : public ElementRunner {
 public:
  Result<std::vector<ElementResult>> Run(const StopOptions& o, const std::string& code,
                                         const std::vector<std::string>& tasks, const ElementPlace& place) override {
    calls.push_back({code, tasks, place});
    std::vector<ElementResult> out;
    for (const auto& t : tasks)
      for (int r = 0; r < o.repeats; ++r) {
        ElementResult e;
        e.task = t;
        e.repeat = r;
        e.utility = 0.25 * (r + 1);  // 0.25, 0.5
        e.model_calls = 2;
        e.utility_calls = 3;
        out.push_back(e);
      }
    return out;
  }
  std::vector<Call> calls;
};

StopOptions Options(const fs::path& dir, RecordingRunner& runner) {
  StopOptions o;
  o.run_dir = dir;
  o.tasks = {"lpn", "3sat"};
  o.repeats = 2;
  o.element_runner = &runner;
  return o;
}

TEST(ElementRunner, EvaluateImproverHandsEveryElementToTheRunnerAtHeldOutPlaces) {
  testing::TempDir d("element-runner");
  RecordingRunner runner;
  StopOptions o = Options(d.path(), runner);
  auto lm = MakeReplayModel({{"", "x"}});
  auto box = sandbox::MakeBubblewrapSandbox();  // never used: the runner runs the elements
  auto m = EvaluateImprover(o, SeedImprover(), o.tasks, *lm, *box);
  ASSERT_TRUE(m) << m.error().ToString();
  ASSERT_EQ(runner.calls.size(), 1u);
  EXPECT_EQ(runner.calls[0].improver, SeedImprover());
  EXPECT_EQ(runner.calls[0].tasks, o.tasks);
  EXPECT_TRUE(runner.calls[0].place.HeldOut());
  EXPECT_EQ(runner.calls[0].place.files_dir, "evaluate");
  EXPECT_DOUBLE_EQ(m->value, 0.375);  // the mean of 0.25, 0.5, 0.25, 0.5
  EXPECT_EQ(m->runs, 4);
  EXPECT_EQ(m->model_calls, 8);
  EXPECT_EQ(m->utility_calls, 12);
}

TEST(ElementRunner, RoundZeroScoresTheSeedImproverThroughTheRunnerIntoTheRoundRecord) {
  testing::TempDir d("element-runner-run");
  RecordingRunner runner;
  StopOptions o = Options(d.path(), runner);
  o.rounds = 0;
  auto lm = MakeReplayModel({{"", "x"}});
  auto box = sandbox::MakeBubblewrapSandbox();
  auto s = RunSelfImprovement(o, *lm, *box);
  ASSERT_TRUE(s) << s.error().ToString();
  ASSERT_EQ(runner.calls.size(), 1u);
  EXPECT_EQ(runner.calls[0].place.files_dir, "round-0");
  EXPECT_TRUE(runner.calls[0].place.HeldOut());
  ASSERT_EQ(s->rounds.size(), 1u);
  EXPECT_DOUBLE_EQ(s->rounds[0].meta_utility, 0.375);
  EXPECT_EQ(s->rounds[0].model_calls, 8);  // the elements' counts reach the round
}

TEST(ElementRunner, ARoundsCallsHaveTheirOwnElementFiles) {
  const std::string code = "def improve_algorithm(s, u, lm):\n    return s\n";
  fs::path held_out = ElementPath("/r", code, "lpn", 2);
  fs::path call = ElementPath("/r", code, "lpn", 2, {.files_dir = "round-1", .round = 1, .call = 3});
  EXPECT_EQ(held_out.filename().string(), ImproverHash(code) + "-lpn-2.json");
  EXPECT_EQ(call.filename().string(), ImproverHash(code) + "-lpn-2-round1-call3.json");
  EXPECT_EQ(call.parent_path(), held_out.parent_path());
}

}  // namespace
}  // namespace lmlab::improve
