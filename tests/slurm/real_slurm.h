// The fixture of the tests against a real Slurm cluster: this test process's
// cluster (tests/support/slurm_cluster.h), a system process runner and the
// Slurm scheduler on it. A test fails, with the daemons' logs, when the
// cluster does not come up.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "lmlab/core/process.h"
#include "lmlab/sched/scheduler.h"
#include "lmlab/sched/slurm.h"
#include "tests/support/slurm_cluster.h"

namespace lmlab::sched {

class RealSlurm : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    cluster_ = testing::SharedSlurmCluster(&why);
    ASSERT_NE(cluster_, nullptr) << why;
  }

  testing::SlurmCluster* cluster_ = nullptr;
  std::unique_ptr<ProcessRunner> runner_ = MakeSystemProcessRunner();
  std::unique_ptr<Scheduler> slurm_ = MakeSlurmScheduler(*runner_);
};

}  // namespace lmlab::sched
