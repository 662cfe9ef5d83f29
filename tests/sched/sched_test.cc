// The scheduler interface without a cluster: the job script (run by real
// bash), Slurm's output parsers, the config file, RunArray's retries and
// resume against a scripted Slurm (a ProcessRunner answering sbatch, squeue,
// sacct and scancel from a table), and the local pool with real processes.
// The same logic against a real Slurm cluster: tests/slurm.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <set>
#include <nlohmann/json.hpp>

#include "lmlab/core/file.h"
#include "lmlab/core/process.h"
#include "lmlab/sched/array_run.h"
#include "lmlab/sched/local_pool.h"
#include "lmlab/sched/scheduler.h"
#include "lmlab/sched/slurm.h"

namespace lmlab::sched {
namespace {

namespace fs = std::filesystem;

struct TempDir {
  fs::path path;
  explicit TempDir(const std::string& name) {
    path = fs::temp_directory_path() / ("lmlab-sched-test-" + name + "-" + std::to_string(getpid()));
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
};

ArrayJob Job(const fs::path& dir, int size) {
  ArrayJob job;
  job.name = "lmlab-test";
  job.command = {"sh", "-c", "echo element {element} > " + (dir / "out-{element}").string()};
  job.size = size;
  job.state_dir = dir / "state";
  return job;
}

TEST(JobScript, CarriesTheResourcesAndRunsTheElementWithBash) {
  TempDir d("script");
  ArrayJob job = Job(d.path, 4);
  job.command = {"sh", "-c", "printf '%s' \"it's {element}\" > " + (d.path / "out-{element}").string() + "; exit 3"};
  job.env = {{"LMLAB_CACHE_DIR", "/tmp/a b"}};
  job.resources = {.partition = "gpu", .account = "lab", .time = "01:30:00", .gpus = 2, .cpus = 4, .memory = "16G",
                   .extra_options = {"--qos=low"}, .setup = {"export FROM_SETUP=1"}};
  std::string s = JobScript(job);
  for (const char* line : {"#SBATCH --job-name=lmlab-test\n", "#SBATCH --partition=gpu\n", "#SBATCH --account=lab\n",
                           "#SBATCH --time=01:30:00\n", "#SBATCH --gres=gpu:2\n", "#SBATCH --cpus-per-task=4\n",
                           "#SBATCH --mem=16G\n", "#SBATCH --qos=low\n", "export FROM_SETUP=1\n",
                           "export LMLAB_CACHE_DIR='/tmp/a b'\n"})
    EXPECT_NE(s.find(line), std::string::npos) << line << "\n" << s;
  EXPECT_NE(s.find("#SBATCH --output=" + (job.state_dir / "logs" / "%A_%a.log").string()), std::string::npos);
  // No resources: no lines for them (the cluster's defaults apply).
  std::string plain = JobScript(Job(d.path, 1));
  EXPECT_EQ(plain.find("--partition"), std::string::npos);
  EXPECT_EQ(plain.find("--gres"), std::string::npos);

  ASSERT_TRUE(WriteJobScript(job));
  auto runner = MakeSystemProcessRunner();
  auto r = runner->Run({.argv = {"bash", JobScriptPath(job).string()}, .env = {{"LMLAB_ELEMENT", "2"}}});
  ASSERT_TRUE(r) << r.error().ToString();
  EXPECT_EQ(r->exit_code, 3);
  EXPECT_EQ(*ReadFile(d.path / "out-2"), "it's 2");  // quotes survive, the placeholder became the index
  EXPECT_EQ(ReadExitStatus(job, 2), 3);
  EXPECT_EQ(ReadExitStatus(job, 1), std::nullopt);
  // Without an element index the script refuses to run anything.
  auto none = runner->Run({.argv = {"bash", JobScriptPath(job).string()}, .env = {{"SLURM_ARRAY_TASK_ID", ""}}});
  ASSERT_TRUE(none);
  EXPECT_EQ(none->exit_code, 2);
  EXPECT_NE(none->err.find("LMLAB_ELEMENT"), std::string::npos);
}

TEST(JobScript, ArrayRangesAndQuoting) {
  std::vector<int> e = {7, 0, 1, 2, 5, 9, 8, 2};
  EXPECT_EQ(ArrayRanges(e), "0-2,5,7-9");
  EXPECT_EQ(ArrayRanges(std::vector<int>{4}), "4");
  EXPECT_EQ(ShellQuote("a'b c"), "'a'\\''b c'");
}

TEST(SlurmParsers, ReadWhatTheCommandsPrint) {
  EXPECT_EQ(*ParseSbatchId("1234\n"), "1234");
  EXPECT_EQ(*ParseSbatchId("77;cluster2\n"), "77");
  EXPECT_FALSE(ParseSbatchId("sbatch: error: Batch job submission failed"));

  auto q = ParseSqueue("0|COMPLETED|None\n2|PENDING|Resources\n1|RUNNING|None\n3|CANCELLED|None\nN/A|RUNNING|None\n");
  ASSERT_EQ(q.size(), 4u);
  EXPECT_EQ(q[0].element, 0);
  EXPECT_EQ(q[0].state, ElementState::kFinished);
  EXPECT_EQ(q[1].state, ElementState::kPending);
  EXPECT_EQ(q[1].detail, "PENDING (Resources)");
  EXPECT_EQ(q[2].state, ElementState::kRunning);
  EXPECT_EQ(q[3].state, ElementState::kFailed);

  auto a = ParseSacct("12_0|COMPLETED|0:0\n12_1|CANCELLED by 0|0:15\n12_[2-4]|PENDING|0:0\n13_1|TIMEOUT|0:0\n", "12");
  ASSERT_EQ(a.size(), 2u);
  EXPECT_EQ(a[1].element, 1);
  EXPECT_EQ(a[1].state, ElementState::kFailed);
  EXPECT_EQ(a[1].detail, "CANCELLED by 0, exit 0:15");

  EXPECT_EQ(FromSlurmState("TIMEOUT"), ElementState::kFailed);
  EXPECT_EQ(FromSlurmState("OUT_OF_MEMORY"), ElementState::kFailed);
  EXPECT_EQ(FromSlurmState("COMPLETING"), ElementState::kRunning);
  EXPECT_EQ(FromSlurmState("REQUEUED"), ElementState::kPending);
}

TEST(SlurmSettings, ConfigFileKeysTypesAndTypos) {
  auto s = ParseSlurmSettings(R"({"partition": "gpu", "account": "lab", "time": "2:00:00", "gpus": 1, "cpus": 8,
                                  "memory": "32G", "max_parallel": 10, "retries": 4, "poll_seconds": 30,
                                  "sbatch_options": ["--qos=high"], "setup": ["module load cuda"]})",
                              "slurm.json");
  ASSERT_TRUE(s) << s.error().ToString();
  EXPECT_EQ(s->resources.partition, "gpu");
  EXPECT_EQ(s->resources.gpus, 1);
  EXPECT_EQ(s->resources.cpus, 8);
  EXPECT_EQ(s->resources.max_parallel, 10);
  EXPECT_EQ(s->retries, 4);
  EXPECT_EQ(s->poll_seconds, 30);
  EXPECT_EQ(s->resources.setup, std::vector<std::string>{"module load cuda"});
  auto typo = ParseSlurmSettings(R"({"partiton": "gpu"})", "slurm.json");
  ASSERT_FALSE(typo);
  EXPECT_NE(typo.error().message.find("unknown key \"partiton\""), std::string::npos);
  auto type = ParseSlurmSettings(R"({"gpus": "one"})", "slurm.json");
  ASSERT_FALSE(type);
  EXPECT_NE(type.error().message.find("gpus"), std::string::npos);
  EXPECT_FALSE(ParseSlurmSettings(R"({"sbatch_options": ["qos=high"]})", "slurm.json"));
  EXPECT_FALSE(ParseSlurmSettings(R"({"cpus": 0})", "slurm.json"));
  EXPECT_EQ(LoadSlurmSettings("/nonexistent/slurm.json").error().code, ErrorCode::kNotFound);
}

// A scripted Slurm: sbatch, squeue, sacct and scancel answered from a table
// of jobs. Tick() moves time on: pending elements start, running ones finish
// (writing the exit status file, as the job script does) unless told to fail.
class FakeSlurm : public ProcessRunner {
 public:
  explicit FakeSlurm(ArrayJob job) : job_(std::move(job)) {}

  Result<ProcessResult> Run(const ProcessRequest& r) override {
    calls.push_back(r.argv);
    const std::string& tool = r.argv[0];
    if (tool == "sbatch") {
      std::string array;
      for (const auto& a : r.argv)
        if (a.starts_with("--array=")) array = a.substr(8);
      std::string id = std::to_string(next_id_++);
      for (int e : Expand(array.substr(0, array.find('%')))) jobs[id][e] = "PENDING";
      return ProcessResult{0, id + "\n", "", 0};
    }
    if (tool == "squeue") {
      if (squeue_down > 0) {
        --squeue_down;
        return ProcessResult{1, "", "slurm_load_jobs error: Unable to contact slurm controller", 0};
      }
      std::string id;
      for (const auto& a : r.argv)
        if (a.starts_with("--jobs=")) id = a.substr(7);
      if (!jobs.contains(id)) return ProcessResult{1, "", "slurm_load_jobs error: Invalid job id specified", 0};
      std::string out;
      for (const auto& [e, st] : jobs[id]) out += std::to_string(e) + "|" + st + "|None\n";
      return ProcessResult{0, out, "", 0};
    }
    if (tool == "sacct") return ProcessResult{1, "", "Slurm accounting storage is disabled\n", 0};
    if (tool == "scancel") {
      for (auto& [e, st] : jobs[r.argv[1]])
        if (st == "PENDING" || st == "RUNNING") st = "CANCELLED";
      return ProcessResult{0, "", "", 0};
    }
    return NotFound(tool + ": not found");
  }

  void Tick() {
    for (auto& [id, elements] : jobs)
      for (auto& [e, st] : elements) {
        if (st == "RUNNING") {
          if (cancel_once.erase(e)) {
            st = "CANCELLED";  // scancel: no exit status file
          } else {
            int code = fail_once.erase(e) ? 1 : 0;
            if (code == 0) (void)WriteFileAtomic(job_.state_dir.parent_path() / ("result-" + std::to_string(e)), "x");
            (void)WriteFileAtomic(ExitStatusPath(job_, e), std::to_string(code) + "\n");
            st = code ? "FAILED" : "COMPLETED";
          }
        } else if (st == "PENDING" && !hold) {
          st = "RUNNING";
        }
      }
  }

  static std::vector<int> Expand(const std::string& ranges) {
    std::vector<int> out;
    size_t at = 0;
    while (at < ranges.size()) {
      size_t comma = ranges.find(',', at);
      std::string part = ranges.substr(at, comma == std::string::npos ? std::string::npos : comma - at);
      size_t dash = part.find('-');
      int lo = std::stoi(part.substr(0, dash)), hi = dash == std::string::npos ? lo : std::stoi(part.substr(dash + 1));
      for (int e = lo; e <= hi; ++e) out.push_back(e);
      if (comma == std::string::npos) break;
      at = comma + 1;
    }
    return out;
  }

  std::map<std::string, std::map<int, std::string>> jobs;
  std::vector<std::vector<std::string>> calls;
  std::set<int> cancel_once, fail_once;
  int squeue_down = 0;
  bool hold = false;

 private:
  ArrayJob job_;
  int next_id_ = 100;
};

int Count(const FakeSlurm& f, const std::string& tool) {
  return int(std::count_if(f.calls.begin(), f.calls.end(), [&](const auto& c) { return c[0] == tool; }));
}

FollowOptions Follow(FakeSlurm& fake, const fs::path& dir) {
  FollowOptions o;
  o.poll_seconds = 0;
  o.sleep = [&fake](double) { fake.Tick(); };
  o.result_exists = [dir](int e) { return fs::exists(dir / ("result-" + std::to_string(e))); };
  return o;
}

TEST(RunArray, RetriesCancelledAndFailedElementsWithinTheBudget) {
  TempDir d("retry");
  ArrayJob job = Job(d.path, 5);
  job.resources.max_parallel = 2;
  FakeSlurm fake(job);
  fake.cancel_once = {1};
  fake.fail_once = {3};
  auto slurm = MakeSlurmScheduler(fake);
  std::vector<Progress> seen;
  FollowOptions o = Follow(fake, d.path);
  o.progress = [&](const Progress& p) { seen.push_back(p); };
  auto out = RunArray(*slurm, job, o);
  ASSERT_TRUE(out) << out.error().ToString();
  EXPECT_EQ(out->elements, 5);
  EXPECT_EQ(out->submitted, 7);  // 5, then 1 and 3 again
  EXPECT_EQ(out->retried, 2);
  ASSERT_EQ(out->job_ids.size(), 2u);
  EXPECT_EQ(fake.calls[0], (std::vector<std::string>{"sbatch", "--parsable", "--array=0-4%2", JobScriptPath(job).string()}));
  ASSERT_EQ(out->failures.size(), 2u);
  EXPECT_NE(out->failures[0].find("element 1, attempt 1, slurm job 100: CANCELLED"), std::string::npos) << out->failures[0];
  EXPECT_NE(out->failures[0].find("100_1.log"), std::string::npos);
  EXPECT_NE(out->failures[1].find("element 3, attempt 1, slurm job 100: exited with 1"), std::string::npos);
  EXPECT_EQ(fake.jobs["101"].size(), 2u);  // the resubmission holds only the failed elements
  for (int e = 0; e < 5; ++e) EXPECT_TRUE(fs::exists(d.path / ("result-" + std::to_string(e))));
  ASSERT_FALSE(seen.empty());
  EXPECT_EQ(seen.back().done, 5);
  EXPECT_EQ(seen.back().total, 5);
  EXPECT_EQ(seen.back().unit, "elements");
  // state.json records every submission and attempt.
  auto state = nlohmann::json::parse(*ReadFile(job.state_dir / "state.json"));
  EXPECT_EQ(state["attempts"], nlohmann::json::array({1, 2, 1, 2, 1}));
  EXPECT_EQ(state["submissions"].size(), 2u);

  // Everything done: a second run submits nothing.
  FakeSlurm again(job);
  auto slurm2 = MakeSlurmScheduler(again);
  auto second = RunArray(*slurm2, job, Follow(again, d.path));
  ASSERT_TRUE(second);
  EXPECT_EQ(second->already_done, 5);
  EXPECT_EQ(second->submitted, 0);
  EXPECT_EQ(Count(again, "sbatch"), 0);
}

TEST(RunArray, GivesUpAfterTheBudgetNamingTheElementAndItsLogThenARerunStartsAfresh) {
  TempDir d("give-up");
  ArrayJob job = Job(d.path, 3);
  FakeSlurm fake(job);
  auto slurm = MakeSlurmScheduler(fake);
  FollowOptions o = Follow(fake, d.path);
  o.retries = 1;
  // Element 2 is cancelled on both of its attempts.
  o.sleep = [&](double) {
    fake.cancel_once.insert(2);
    fake.Tick();
  };
  auto out = RunArray(*slurm, job, o);
  ASSERT_FALSE(out);
  EXPECT_EQ(out.error().code, ErrorCode::kUnavailable);
  EXPECT_NE(out.error().message.find("1 of 3 elements of lmlab-test failed on every attempt (2 per element)"),
            std::string::npos)
      << out.error().message;
  EXPECT_NE(out.error().message.find("element 2, attempt 2"), std::string::npos) << out.error().message;
  EXPECT_NE(out.error().message.find("101_2.log"), std::string::npos) << out.error().message;
  EXPECT_TRUE(fs::exists(d.path / "result-0"));
  EXPECT_FALSE(fs::exists(d.path / "result-2"));

  // The cause fixed, the same job again: only element 2 is submitted, with a fresh budget.
  FakeSlurm fixed(job);
  auto slurm2 = MakeSlurmScheduler(fixed);
  auto rerun = RunArray(*slurm2, job, Follow(fixed, d.path));
  ASSERT_TRUE(rerun) << rerun.error().ToString();
  EXPECT_EQ(rerun->already_done, 2);
  EXPECT_EQ(rerun->submitted, 1);
  EXPECT_EQ(fixed.calls[0][2], "--array=2");
}

TEST(RunArray, AKilledSubmitterIsResumedWithoutSubmittingRunningElementsTwice) {
  TempDir d("resume");
  ArrayJob job = Job(d.path, 4);
  FakeSlurm cluster(job);  // the cluster outlives the submitter
  {
    auto slurm = MakeSlurmScheduler(cluster);
    std::atomic<bool> stop{false};
    FollowOptions o = Follow(cluster, d.path);
    o.cancel = &stop;
    o.sleep = [&](double) {
      cluster.Tick();  // elements start running ...
      stop = true;     // ... and the submitter goes away
    };
    auto out = RunArray(*slurm, job, o);
    ASSERT_FALSE(out);
    EXPECT_EQ(out.error().code, ErrorCode::kCancelled);
    EXPECT_NE(out.error().message.find("run the same command again"), std::string::npos);
  }
  EXPECT_EQ(cluster.jobs["100"][0], "RUNNING");
  // One element is lost while nobody follows (scancel): the resumed run
  // follows the submission it finds in state.json and resubmits only that one.
  cluster.jobs["100"][3] = "CANCELLED";
  cluster.calls.clear();
  auto slurm = MakeSlurmScheduler(cluster);
  auto out = RunArray(*slurm, job, Follow(cluster, d.path));
  ASSERT_TRUE(out) << out.error().ToString();
  EXPECT_EQ(out->submitted, 1);
  EXPECT_EQ(Count(cluster, "sbatch"), 1);
  EXPECT_EQ(cluster.jobs["101"].size(), 1u);
  EXPECT_TRUE(cluster.jobs["101"].contains(3));
  EXPECT_EQ(out->job_ids, (std::vector<std::string>{"100", "101"}));
}

TEST(RunArray, ToleratesAControllerThatDoesNotAnswerForAWhile) {
  TempDir d("flaky");
  ArrayJob job = Job(d.path, 2);
  FakeSlurm fake(job);
  fake.squeue_down = 3;
  auto slurm = MakeSlurmScheduler(fake);
  auto out = RunArray(*slurm, job, Follow(fake, d.path));
  ASSERT_TRUE(out) << out.error().ToString();
  EXPECT_EQ(out->submitted, 2);

  TempDir d2("down");
  ArrayJob job2 = Job(d2.path, 2);
  FakeSlurm down(job2);
  down.squeue_down = 1000;
  auto slurm2 = MakeSlurmScheduler(down);
  FollowOptions o = Follow(down, d2.path);
  o.max_poll_failures = 4;
  auto failed = RunArray(*slurm2, job2, o);
  ASSERT_FALSE(failed);
  EXPECT_EQ(failed.error().code, ErrorCode::kUnavailable);
  EXPECT_NE(failed.error().message.find("Unable to contact slurm controller"), std::string::npos);
}

TEST(RunArray, AnElementTheSchedulerForgotIsFailedOnlyAfterTheGracePolls) {
  TempDir d("forgot");
  ArrayJob job = Job(d.path, 1);
  FakeSlurm fake(job);
  auto slurm = MakeSlurmScheduler(fake);
  int polls_after_forget = 0;
  FollowOptions o = Follow(fake, d.path);
  o.retries = 0;
  o.grace_polls = 2;
  o.sleep = [&](double) {
    if (fake.jobs.contains("100")) fake.jobs.erase("100");  // gone from squeue, no sacct, no exit status
    ++polls_after_forget;
  };
  auto out = RunArray(*slurm, job, o);
  ASSERT_FALSE(out);
  EXPECT_EQ(polls_after_forget, 3);
  EXPECT_NE(out.error().message.find("left the queue without an exit status"), std::string::npos);
}

TEST(RunArray, DryRunShowsTheScriptAndTheSubmissionOfWhatIsNotDone) {
  TempDir d("dry");
  ArrayJob job = Job(d.path, 6);
  job.resources.partition = "short";
  ASSERT_TRUE(WriteFileAtomic(d.path / "result-1", "x"));
  ASSERT_TRUE(WriteFileAtomic(d.path / "result-2", "x"));
  FakeSlurm fake(job);
  auto slurm = MakeSlurmScheduler(fake);
  DryRun plan = PlanArray(*slurm, job, Follow(fake, d.path));
  EXPECT_NE(plan.script.find("#SBATCH --partition=short"), std::string::npos);
  EXPECT_EQ(plan.elements, (std::vector<int>{0, 3, 4, 5}));
  EXPECT_EQ(plan.submit_command, "'sbatch' '--parsable' '--array=0,3-5' '" + JobScriptPath(job).string() + "'");
  EXPECT_TRUE(fake.calls.empty());  // a dry run runs nothing
  EXPECT_FALSE(fs::exists(job.state_dir));
}

TEST(LocalPool, RunsElementsAsProcessesRetriesAFailureAndCancels) {
  TempDir d("local");
  ArrayJob job = Job(d.path, 6);
  // Element 4 fails on its first attempt only (a marker file remembers it).
  job.command = {"sh", "-c",
                 "if [ {element} = 4 ] && [ ! -e " + (d.path / "failed-once").string() + " ]; then touch " +
                     (d.path / "failed-once").string() + "; exit 7; fi; echo done > " +
                     (d.path / "result-{element}").string()};
  auto runner = MakeSystemProcessRunner();
  auto pool = MakeLocalPool(*runner, 3);
  FollowOptions o;
  o.poll_seconds = 0.05;
  o.result_exists = [&](int e) { return fs::exists(d.path / ("result-" + std::to_string(e))); };
  auto out = RunArray(*pool, job, o);
  ASSERT_TRUE(out) << out.error().ToString();
  EXPECT_EQ(out->scheduler, "local");
  EXPECT_EQ(out->retried, 1);
  ASSERT_EQ(out->failures.size(), 1u);
  EXPECT_NE(out->failures[0].find("element 4, attempt 1, local job local-1: exited with 7"), std::string::npos)
      << out->failures[0];
  for (int e = 0; e < 6; ++e) EXPECT_EQ(*ReadFile(d.path / ("result-" + std::to_string(e))), "done\n");

  // Cancel: a running element is killed, queued ones never start.
  ArrayJob slow = Job(d.path / "slow", 4);
  slow.command = {"sh", "-c", "sleep 30"};
  ASSERT_TRUE(WriteJobScript(slow));
  std::vector<int> all = {0, 1, 2, 3};
  auto id = pool->Submit(slow, all);
  ASSERT_TRUE(id);
  std::vector<ElementStatus> st;
  for (int i = 0; i < 100; ++i) {
    st = *pool->Poll(slow, *id);
    if (std::count_if(st.begin(), st.end(), [](auto& s) { return s.state == ElementState::kRunning; }) == 3) break;
    usleep(20000);
  }
  ASSERT_TRUE(pool->Cancel(*id));
  for (int i = 0; i < 250; ++i) {
    st = *pool->Poll(slow, *id);
    if (std::all_of(st.begin(), st.end(), [](auto& s) { return s.state == ElementState::kFailed; })) break;
    usleep(20000);
  }
  for (const auto& s : st) EXPECT_EQ(s.detail, "CANCELLED") << s.element;
  EXPECT_FALSE(ReadExitStatus(slow, 0));  // killed before it could say how it ended
}

}  // namespace
}  // namespace lmlab::sched
