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

  // Elements of jobs named `name` that Slurm says COMPLETED (squeue
  // remembers finished jobs for MinJobAge); -1 when squeue fails.
  int CompletedElements(const std::string& name) {
    auto q = cluster_->Run({"squeue", "--array", "--noheader", "--states=all", "--name=" + name, "--format=%K %T"});
    if (!q || q->exit_code != 0) return -1;
    int completed = 0;
    for (size_t at = q->out.find("COMPLETED"); at != std::string::npos; at = q->out.find("COMPLETED", at + 1))
      ++completed;
    return completed;
  }

  testing::SlurmCluster* cluster_ = nullptr;
  std::unique_ptr<ProcessRunner> runner_ = MakeSystemProcessRunner();
  std::unique_ptr<Scheduler> slurm_ = MakeSlurmScheduler(*runner_);
};

}  // namespace lmlab::sched
