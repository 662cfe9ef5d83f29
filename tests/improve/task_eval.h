// Shared by the task tests: one solution scored by a task's hidden utility in
// a real sandbox, with the per-instance limits scaled for a shared machine.
#pragma once

#include <gtest/gtest.h>

#include <string>

#include "lmlab/improve/evaluate.h"
#include "lmlab/improve/options.h"
#include "lmlab/improve/task.h"
#include "tests/sandbox/prepared_host.h"

namespace lmlab::improve::testing {

// The machine is shared; per-instance limits are scaled up so only real hangs count.
inline constexpr double kScale = 4.0;

inline Evaluation Eval(const std::string& task_name, const std::string& code, int instances = 0,
                       uint64_t seed = 1) {
  auto task = FindTask(task_name);
  EXPECT_TRUE(task) << task_name;
  if (!task) return {};
  auto box = sandbox::MakeBubblewrapSandbox();
  auto e = EvaluateSolution(*box, *task, code, {.seed = seed, .instances = instances, .time_limit_scale = kScale});
  EXPECT_TRUE(e) << (e ? "" : e.error().ToString());
  return e ? *e : Evaluation{};
}

// Learning parity (with or without noise): the parity over the subset of
// bits that agrees with most training labels, all 2^10 subsets tried.
inline const char* kBruteForceLpn = R"(import itertools
import numpy as np


def algorithm(train_samples, train_parity, test_samples):
    masks = np.array(list(itertools.product([0, 1], repeat=train_samples.shape[1])))
    agreement = ((train_samples @ masks.T) % 2 == train_parity.reshape(-1, 1)).sum(axis=0)
    return (test_samples @ masks[int(np.argmax(agreement))]) % 2
)";

// On the paper protocol's 20 fixed validation instances of a run with --seed 0.
inline Evaluation EvalOnValidation(const std::string& task_name, const std::string& code) {
  return Eval(task_name, code, kPaperValidationInstances, MixSeed(0, kPaperValidationStream));
}

}  // namespace lmlab::improve::testing
