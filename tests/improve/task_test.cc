// Tasks and the hidden utility, run for real in the sandbox.
#include <gtest/gtest.h>

#include "lmlab/improve/evaluate.h"
#include "lmlab/improve/task.h"
#include "tests/sandbox/prepared_host.h"

namespace lmlab::improve {
namespace {

// The machine is shared; per-instance limits are scaled up so only real hangs count.
constexpr double kScale = 4.0;

Evaluation Eval(const std::string& task_name, const std::string& code, int instances = 0, uint64_t seed = 1) {
  auto task = FindTask(task_name);
  EXPECT_TRUE(task) << task_name;
  auto box = sandbox::MakeBubblewrapSandbox();
  auto e = EvaluateSolution(*box, *task, code, {.seed = seed, .instances = instances, .time_limit_scale = kScale});
  EXPECT_TRUE(e) << (e ? "" : e.error().ToString());
  return e ? *e : Evaluation{};
}

const char* kBruteForceLpn = R"(import itertools
import numpy as np


def algorithm(train_samples, train_parity, test_samples):
    masks = np.array(list(itertools.product([0, 1], repeat=train_samples.shape[1])))
    agreement = ((train_samples @ masks.T) % 2 == train_parity.reshape(-1, 1)).sum(axis=0)
    return (test_samples @ masks[int(np.argmax(agreement))]) % 2
)";

TEST(Tasks, AllBuiltInsExistWithPaperParameters) {
  EXPECT_EQ(TaskNames().size(), 8u);  // the paper's six and circle packing n = 26, 32
  for (const auto& name : TaskNames()) {
    auto t = FindTask(name);
    ASSERT_TRUE(t) << name;
    EXPECT_FALSE(t->seed_solution.empty()) << name;
    EXPECT_NE(t->seed_solution.find("def algorithm("), std::string::npos) << name;
    EXPECT_FALSE(t->utility_description.empty());
    EXPECT_GT(t->time_limit_seconds, 0);
  }
  EXPECT_FALSE(FindTask("nope"));
  Instance lpn = FindTask("lpn")->make_instance(3);
  EXPECT_EQ(lpn.args[0].size(), 100u);      // train samples
  EXPECT_EQ(lpn.args[0][0].size(), 10u);    // bits
  EXPECT_EQ(lpn.args[2].size(), 20u);       // test samples
  Instance maxcut = FindTask("maxcut")->make_instance(3);
  EXPECT_EQ(maxcut.args[0], 300);
  double edges = maxcut.args[1].size(), pairs = 300.0 * 299 / 2;
  EXPECT_NEAR(edges / pairs, 0.4, 0.02);
  Instance sat = FindTask("3sat")->make_instance(3);
  EXPECT_EQ(sat.args[0], 50);
  EXPECT_EQ(sat.args[1].size(), 200u);
  Instance qap = FindTask("qap")->make_instance(3);
  EXPECT_EQ(qap.args[0].size(), 15u);
}

TEST(Tasks, InstancesAreSeeded) {
  auto t = FindTask("lpn");
  EXPECT_EQ(t->make_instance(5).args, t->make_instance(5).args);
  EXPECT_NE(t->make_instance(5).args, t->make_instance(6).args);
  EXPECT_NE(MixSeed(1, 2), MixSeed(2, 1));
}

TEST(Tasks, LpnNoiseIsFivePercent) {
  // The noise-free parity of the train labels disagrees with the noisy ones ~5%.
  auto t = FindTask("lpn");
  auto p = FindTask("parity");
  int flipped = 0, total = 0;
  for (uint64_t s = 0; s < 40; ++s) {
    auto a = t->make_instance(s), b = p->make_instance(s);
    ASSERT_EQ(a.args[0], b.args[0]);  // same samples, same secret
    for (size_t i = 0; i < 100; ++i) flipped += a.args[1][i] != b.args[1][i];
    total += 100;
  }
  EXPECT_NEAR(double(flipped) / total, 0.05, 0.015);
}

TEST(Tasks, SeedLpnIsChanceAndBruteForceIsNearPerfect) {
  Evaluation seed = Eval("lpn", FindTask("lpn")->seed_solution, 10);
  EXPECT_EQ(seed.errors, 0) << seed.error;
  EXPECT_GT(seed.utility, 0.3);
  EXPECT_LT(seed.utility, 0.7);
  Evaluation good = Eval("lpn", kBruteForceLpn, 10);
  EXPECT_EQ(good.errors, 0) << good.error;
  EXPECT_GT(good.utility, 0.9);
}

TEST(Tasks, RandomisedSolutionsScoreTheSameTwice) {
  std::string seed = FindTask("lpn")->seed_solution;
  EXPECT_DOUBLE_EQ(Eval("lpn", seed, 5, 9).utility, Eval("lpn", seed, 5, 9).utility);
}

TEST(Tasks, BroadcastingShapeHackIsCaughtAndScoresZero) {
  Evaluation e = Eval("lpn",
                      "import numpy as np\n"
                      "def algorithm(train_samples, train_parity, test_samples):\n"
                      "    return np.full((len(test_samples), len(test_samples)), 1)\n");
  EXPECT_EQ(e.utility, 0);
  EXPECT_EQ(e.wrong_shape, 3);
  EXPECT_GT(e.max_naive_value, 1.0);  // what a broadcasting scorer would have reported
}

TEST(Tasks, GarbageScoresZeroNeverCrashes) {
  for (const char* code : {"", "this is not python", "def algorithm(:\n", "import nonexistent_module\n",
                           "def algorithm(*a):\n    raise ValueError('no')\n",
                           "def algorithm(*a):\n    return float('nan')\n",
                           "def algorithm(*a):\n    return object()\n",
                           "import os\ndef algorithm(*a):\n    os._exit(0)\n",
                           "import sys\nprint('lmlab-result-forged')\nsys.stdout.flush()\n"}) {
    Evaluation e = Eval("lpn", code);
    EXPECT_EQ(e.utility, 0) << code;
  }
}

TEST(Tasks, HangScoresZeroQuickly) {
  Evaluation e = Eval("lpn", "def algorithm(*a):\n    while True:\n        pass\n");
  EXPECT_EQ(e.utility, 0);
  EXPECT_GE(e.too_slow, 1);
  EXPECT_LT(e.seconds, 5);
  Evaluation sleeper = Eval("lpn", "import time\ndef algorithm(*a):\n    time.sleep(1000)\n");
  EXPECT_EQ(sleeper.utility, 0);
}

TEST(Tasks, OtherTasksScoreTheirSeedsInRange) {
  for (const char* name : {"maxcut", "3sat", "qap", "grid_distance", "parity"}) {
    Evaluation e = Eval(name, FindTask(name)->seed_solution, 2);
    EXPECT_EQ(e.errors, 0) << name << ": " << e.error;
    EXPECT_EQ(e.wrong_shape, 0) << name;
    // The grid-distance seed (half the mismatches) is a lower bound, rarely exact.
    if (std::string(name) != "grid_distance") {
      EXPECT_GT(e.utility, 0.0) << name;
    }
    EXPECT_LT(e.utility, 1.0) << name;
  }
}

TEST(Tasks, CorrectSolutionsScoreOne) {
  Evaluation grid = Eval("grid_distance",
                         "def algorithm(a, b):\n"
                         "    pa = [i for i, c in enumerate(a) if c == 'A']\n"
                         "    pb = [i for i, c in enumerate(b) if c == 'A']\n"
                         "    return sum(abs(x - y) for x, y in zip(pa, pb))\n");
  EXPECT_DOUBLE_EQ(grid.utility, 1.0) << grid.error;
  // Max-cut: putting every node on one side cuts nothing.
  Evaluation none = Eval("maxcut", "def algorithm(n, edges):\n    return [0] * n\n", 1);
  EXPECT_EQ(none.utility, 0);
  EXPECT_EQ(none.wrong_shape, 0);
  // QAP: a repeated location is not a permutation.
  Evaluation qap = Eval("qap", "def algorithm(f, d, c):\n    return [0] * len(f)\n", 1);
  EXPECT_EQ(qap.utility, 0);
  EXPECT_EQ(qap.wrong_shape, 1);
}

}  // namespace
}  // namespace lmlab::improve
