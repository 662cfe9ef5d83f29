// Test support: a real single-node Slurm cluster on this machine. munged,
// slurmctld and slurmd from Debian's munge and slurm-wlm packages run with a
// generated munge key, slurm.conf and free ports, all in one directory;
// nothing system-wide is read or written (no systemd: the daemons are this
// test's own processes, stopped by their pid files). slurmd must run as root
// (it starts jobs as their user), so the cluster needs root; CI runs as root.
//
// Every test process that asks for the cluster starts its own (about a
// second on an idle machine) and stops it at exit, so tests run side by side
// (ctest -j) never share a queue.
//
//   std::string why;
//   testing::SlurmCluster* slurm = testing::SharedSlurmCluster(&why);
//   ASSERT_NE(slurm, nullptr) << why;   // why: the cause and the daemons' logs
//   // sbatch, squeue, ... and every child process now use it (SLURM_CONF)
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "lmlab/core/error.h"
#include "lmlab/core/process.h"

namespace lmlab::testing {

class SlurmCluster {
 public:
  // Starts a cluster in `dir` (created, emptied first) and waits until its
  // node is idle. The error says why and carries the daemons' logs.
  static Result<std::unique_ptr<SlurmCluster>> Start(const std::filesystem::path& dir, double timeout_seconds = 60);

  ~SlurmCluster();  // Stop()
  SlurmCluster(const SlurmCluster&) = delete;
  SlurmCluster& operator=(const SlurmCluster&) = delete;

  // Cancels every job, stops slurmd, slurmctld and munged (by their pid
  // files; SIGKILL after 1 s: its state is thrown away). Idempotent.
  void Stop();

  const std::filesystem::path& dir() const { return dir_; }
  std::filesystem::path conf() const { return dir_ / "slurm.conf"; }
  // Runs a Slurm command (sbatch, squeue, scancel, scontrol, ...) against this cluster.
  Result<ProcessResult> Run(std::vector<std::string> argv, double timeout_seconds = 60);
  // The last lines of every daemon's log, for failure messages.
  std::string Logs() const;
  // Waits until no job is queued or running.
  Status WaitEmpty(double timeout_seconds);

 private:
  explicit SlurmCluster(std::filesystem::path dir);
  Status WaitIdle(double timeout_seconds);

  std::filesystem::path dir_;
  std::unique_ptr<ProcessRunner> runner_;
  bool stopped_ = false;
};

// The cluster of this test process, started on first use under
// /tmp/lmlab-slurm-<pid> and stopped at exit; nullptr with the reason, logs
// included, when it cannot come up. Sets SLURM_CONF in this process's
// environment so that child processes (lmlab, sbatch) use it.
SlurmCluster* SharedSlurmCluster(std::string* why);

}  // namespace lmlab::testing
