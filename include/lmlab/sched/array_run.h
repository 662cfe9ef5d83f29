// Running an array job to the end on any Scheduler: submit the elements
// that are not done, follow them (a progress callback per poll), resubmit
// failed ones within a retry budget, and resume after the submitting process
// was killed: every submission and attempt is recorded in
// <state_dir>/state.json before anything else happens, so running the same
// job again follows the earlier submissions instead of submitting twice.
//
// An element is done when its result exists (FollowOptions::result_exists,
// the caller's check of the file it writes), or, without that check, when it
// exited 0. Elements must be idempotent: a resubmitted element whose result
// is already there skips its work.
//
//   FollowOptions f{.retries = 2, .poll_seconds = 10, .progress = bar.Callback()};
//   f.result_exists = [&](int i) { return fs::exists(ChunkPath(dir, i)); };
//   LMLAB_ASSIGN_OR_RETURN(ArrayOutcome o, RunArray(scheduler, job, f));
#pragma once

#include <atomic>
#include <functional>
#include <string>
#include <vector>

#include "lmlab/core/progress.h"
#include "lmlab/sched/scheduler.h"

namespace lmlab::sched {

struct FollowOptions {
  int retries = 2;             // resubmissions per element after a failed attempt
  double poll_seconds = 10;    // between polls
  // An element the scheduler no longer lists, with no exit status, is taken
  // as failed only after this many polls (a shared file system may show the
  // exit status file late).
  int grace_polls = 2;
  int max_poll_failures = 30;  // consecutive polls the scheduler may fail to answer before giving up
  std::function<bool(int element)> result_exists;  // unset: exit status 0 means done
  ProgressCallback progress;
  // Set: stop following and return kCancelled. Queued and running elements
  // are left to the scheduler (running the job again follows them) unless
  // cancel_jobs says otherwise.
  const std::atomic<bool>* cancel = nullptr;
  enum class OnCancel { kLeaveJobs, kCancelJobs } on_cancel = OnCancel::kLeaveJobs;
  std::function<void(double seconds)> sleep;  // unset: sleeps this thread
};

struct ArrayOutcome {
  std::string scheduler;
  int elements = 0;
  int already_done = 0;               // done before this call (earlier runs, a killed submitter's jobs)
  int submitted = 0;                  // element submissions made by this call, resubmissions included
  int retried = 0;                    // resubmissions after a failed attempt (this call and earlier ones)
  std::vector<std::string> job_ids;   // every submission of this job, earlier runs' included
  std::vector<std::string> failures;  // one line per failed attempt, with the element's log
  double seconds = 0;                 // this call's wall time
};

// kInvalidArgument for a job without a command, elements or state directory;
// kUnavailable when an element failed on every attempt (the message names
// each and its log) or the scheduler stopped answering; kCancelled when
// options.cancel was set. In every case the state is saved: run it again to
// continue.
Result<ArrayOutcome> RunArray(Scheduler& scheduler, const ArrayJob& job, const FollowOptions& options);

// What a dry run shows: the job script and the command that would submit
// the elements not done yet (all of them for a new job).
struct DryRun {
  std::string script;
  std::string submit_command;
  std::vector<int> elements;
};
DryRun PlanArray(const Scheduler& scheduler, const ArrayJob& job, const FollowOptions& options);

}  // namespace lmlab::sched
