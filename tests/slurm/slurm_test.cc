// The scheduler interface against a real Slurm cluster: munged, slurmctld
// and slurmd from Debian's packages, started by this test process
// (tests/support/slurm_cluster.h). Jobs are submitted with the real sbatch,
// followed with the real squeue, and killed with the real scancel; the
// submitting process itself is killed with SIGKILL and resumed.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <set>
#include <thread>

#include "lmlab/core/file.h"
#include "lmlab/sched/array_run.h"
#include "tests/slurm/real_slurm.h"

namespace lmlab::sched {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

struct TempDir {
  fs::path path;
  explicit TempDir(const std::string& name) {
    path = fs::temp_directory_path() / ("lmlab-slurm-test-" + name + "-" + std::to_string(getpid()));
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
};

// Element i writes "i" to <dir>/out-i after `seconds`, atomically (a
// temporary name, then a rename), and skips its work when the file is
// already there: the contract every lmlab element keeps.
ArrayJob Job(const fs::path& dir, int size, const std::string& before = "", double seconds = 0) {
  ArrayJob job;
  job.name = "lmlab-slurm-test";
  std::string out = (dir / "out-{element}").string();
  job.command = {"sh", "-c",
                 "[ -e " + out + " ] && exit 0; " + before + "sleep " + std::to_string(seconds) + "; echo {element} > " +
                     out + ".tmp && mv " + out + ".tmp " + out};
  job.size = size;
  job.state_dir = dir / "state";
  return job;
}

FollowOptions Follow(const fs::path& dir) {
  FollowOptions f;
  f.retries = 2;
  f.poll_seconds = 0.3;
  f.result_exists = [dir](int e) { return fs::exists(dir / ("out-" + std::to_string(e))); };
  return f;
}

// Waits for a file to appear; false after `seconds`.
bool WaitFor(const fs::path& file, double seconds) {
  auto until = Clock::now() + std::chrono::duration<double>(seconds);
  while (Clock::now() < until) {
    if (fs::exists(file)) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
}

TEST_F(RealSlurm, RunsAnArrayJobToTheEndWithSbatchAndSqueue) {
  TempDir d("array");
  ArrayJob job = Job(d.path, 6, "", 0.5);
  std::vector<double> progress;
  FollowOptions f = Follow(d.path);
  f.progress = [&](const Progress& p) { progress.push_back(p.done); };
  Result<ArrayOutcome> o = RunArray(*slurm_, job, f);
  ASSERT_TRUE(o) << o.error().ToString() << "\n" << cluster_->Logs();
  EXPECT_EQ(o->scheduler, "slurm");
  EXPECT_EQ(o->submitted, 6);
  EXPECT_EQ(o->retried, 0);
  ASSERT_EQ(o->job_ids.size(), 1u);
  for (int e = 0; e < 6; ++e) {
    EXPECT_EQ(*ReadFile(d.path / ("out-" + std::to_string(e))), std::to_string(e) + "\n");
    // RunArray returns once every result exists; an element's script writes
    // its exit status after its result, so the last one may still be ending.
    EXPECT_TRUE(WaitFor(ExitStatusPath(job, e), 30)) << e;
    EXPECT_EQ(ReadExitStatus(job, e), 0) << e;
    // Slurm wrote each element's log where the script's --output asked.
    EXPECT_TRUE(fs::exists(LogDir(job) / (o->job_ids[0] + "_" + std::to_string(e) + ".log"))) << e;
  }
  // The progress bar moved from nothing done to everything done.
  ASSERT_FALSE(progress.empty());
  EXPECT_EQ(progress.back(), 6);
  EXPECT_LT(progress.front(), 6);
  // Slurm itself says every element completed.
  // (An element whose files are written may still be COMPLETING for a moment.)
  std::set<std::string> lines;
  std::string squeue_out;
  auto all_completed = [&] {
    for (int e = 0; e < 6; ++e)
      if (!lines.contains(std::to_string(e) + " COMPLETED")) return false;
    return true;
  };
  for (auto until = Clock::now() + std::chrono::seconds(30); Clock::now() < until;) {
    auto q = cluster_->Run({"squeue", "--array", "--noheader", "--states=all", "--jobs=" + o->job_ids[0], "--format=%K %T"});
    ASSERT_TRUE(q);
    squeue_out = q->out;
    lines.clear();
    for (size_t at = 0; at < q->out.size();) {
      size_t nl = q->out.find('\n', at);
      lines.insert(q->out.substr(at, nl - at));
      at = nl == std::string::npos ? q->out.size() : nl + 1;
    }
    if (all_completed()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  EXPECT_TRUE(all_completed()) << squeue_out;

  // Everything is done: running the job again submits nothing.
  Result<ArrayOutcome> again = RunArray(*slurm_, job, f);
  ASSERT_TRUE(again) << again.error().ToString();
  EXPECT_EQ(again->already_done, 6);
  EXPECT_EQ(again->submitted, 0);
}

TEST_F(RealSlurm, AnElementKilledByScancelIsRetried) {
  TempDir d("scancel");
  // Element 1's first attempt marks that it started and then hangs; the
  // test cancels it with scancel. Its second attempt finds the mark and
  // finishes like the others.
  const fs::path mark = d.path / "started-1";
  ArrayJob job = Job(d.path, 3,
                     "if [ {element} = 1 ] && [ ! -e " + mark.string() + " ]; then touch " + mark.string() +
                         "; sleep 300; fi; ",
                     0.2);
  std::string id;
  FollowOptions f = Follow(d.path);
  std::thread killer([&] {
    if (!WaitFor(mark, 60)) return;
    Result<std::string> state = ReadFile(job.state_dir / "state.json");
    ASSERT_TRUE(state);
    // The first submission's id, as RunArray recorded it before polling.
    size_t at = state->find("\"id\": \"");
    ASSERT_NE(at, std::string::npos) << *state;
    at += 7;
    id = state->substr(at, state->find('"', at) - at);
    auto r = cluster_->Run({"scancel", id + "_1"});
    ASSERT_TRUE(r);
    EXPECT_EQ(r->exit_code, 0) << r->err;
  });
  Result<ArrayOutcome> o = RunArray(*slurm_, job, f);
  killer.join();
  ASSERT_TRUE(o) << o.error().ToString() << "\n" << cluster_->Logs();
  ASSERT_FALSE(id.empty()) << "element 1 never started\n" << cluster_->Logs();
  EXPECT_EQ(o->retried, 1);
  EXPECT_EQ(o->submitted, 4);  // 3, then element 1 again
  ASSERT_EQ(o->job_ids.size(), 2u);
  EXPECT_EQ(o->job_ids[0], id);
  ASSERT_EQ(o->failures.size(), 1u);
  EXPECT_NE(o->failures[0].find("element 1"), std::string::npos) << o->failures[0];
  EXPECT_NE(o->failures[0].find("CANCELLED"), std::string::npos) << o->failures[0];
  for (int e = 0; e < 3; ++e) EXPECT_TRUE(fs::exists(d.path / ("out-" + std::to_string(e)))) << e;
}

TEST_F(RealSlurm, AKilledSubmitterIsResumedAndFinishesWithoutSubmittingTwice) {
  TempDir d("resume");
  ArrayJob job = Job(d.path, 4, "", 3);
  // The submitter is a child process, killed with SIGKILL once it has
  // submitted: no chance to clean up, as when a login node's session dies.
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    Result<ArrayOutcome> o = RunArray(*slurm_, job, Follow(d.path));
    ::_exit(o ? 0 : 1);
  }
  const fs::path state = job.state_dir / "state.json";
  bool submitted = WaitFor(state, 60);
  ::kill(child, SIGKILL);
  int status = 0;
  ::waitpid(child, &status, 0);
  ASSERT_TRUE(submitted) << "the submitter wrote no state\n" << cluster_->Logs();
  ASSERT_TRUE(WIFSIGNALED(status)) << "the submitter ended before it was killed";
  // Killed while its elements were queued or running: nothing is done yet.
  for (int e = 0; e < 4; ++e) EXPECT_FALSE(fs::exists(d.path / ("out-" + std::to_string(e)))) << e;

  // A new submitter follows the first one's job instead of submitting again.
  Result<ArrayOutcome> o = RunArray(*slurm_, job, Follow(d.path));
  ASSERT_TRUE(o) << o.error().ToString() << "\n" << cluster_->Logs();
  EXPECT_EQ(o->submitted, 0);
  EXPECT_EQ(o->retried, 0);
  EXPECT_EQ(o->job_ids.size(), 1u);
  for (int e = 0; e < 4; ++e) EXPECT_EQ(*ReadFile(d.path / ("out-" + std::to_string(e))), std::to_string(e) + "\n");
}

TEST_F(RealSlurm, ASubmissionTheClusterRefusesIsAnErrorNamingSbatchAndTheScript) {
  TempDir d("refused");
  ArrayJob job = Job(d.path, 2);
  job.resources.partition = "no-such-partition";
  Result<ArrayOutcome> o = RunArray(*slurm_, job, Follow(d.path));
  ASSERT_FALSE(o);
  EXPECT_NE(o.error().message.find("sbatch exited with"), std::string::npos) << o.error().message;
  EXPECT_NE(o.error().message.find("partition"), std::string::npos) << o.error().message;
  EXPECT_NE(o.error().message.find("job.sh"), std::string::npos) << o.error().message;
}

}  // namespace
}  // namespace lmlab::sched
