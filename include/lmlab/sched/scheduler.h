// Where an array of independent elements runs: one small interface, with a
// Slurm implementation (sched/slurm.h: sbatch, squeue, sacct, scancel) and a
// local pool of processes on this machine (sched/local_pool.h). lmlab never
// runs a cluster of its own; it hands elements to a scheduler and follows
// them (sched/array_run.h: retries, resume, progress).
//
// An element is one run of `command` with the word "{element}" replaced by
// its index. Every scheduler runs it through the same job script
// (JobScript): the command's exit status is written to
// <state_dir>/exit/<element> as the script's last act, so a finished element
// is known from a file on the shared file system, whatever the scheduler
// remembers.
//
//   ArrayJob job{.name = "lmlab-probe", .command = {lmlab, "probe", "capture", "--element", "{element}"},
//                .size = 8, .state_dir = entry / "slurm"};
//   LMLAB_ASSIGN_OR_RETURN(std::string id, scheduler.Submit(job, {0, 1, 2, 3, 4, 5, 6, 7}));
//   LMLAB_ASSIGN_OR_RETURN(std::vector<ElementStatus> now, scheduler.Poll(job, id));
#pragma once

#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "lmlab/core/error.h"

namespace lmlab::sched {

// What one element asks of the scheduler. Slurm turns each field into an
// #SBATCH line; the local pool runs one element per `cpus` it was given.
struct Resources {
  std::string partition;         // empty: the cluster's default
  std::string account;           // empty: the user's default
  std::string time;              // wall-clock limit per element: "30", "02:00:00", "1-00:00:00"; empty: the partition's
  int gpus = 0;                  // GPUs per element (--gres=gpu:N)
  int cpus = 1;                  // CPUs per element (--cpus-per-task)
  std::string memory;            // per element: "4G"; empty: the partition's default
  int max_parallel = 0;          // elements running at once (an array's %N); 0: no limit
  std::vector<std::string> extra_options;  // more #SBATCH options, verbatim ("--qos=low", "--constraint=a100")
  std::vector<std::string> setup;          // shell lines run before the element ("module load cuda")
};

struct ArrayJob {
  std::string name;                   // job name, shown by squeue
  std::vector<std::string> command;   // argv; the word "{element}" (also inside a word) becomes the index
  int size = 0;                       // elements 0 .. size-1
  std::filesystem::path state_dir;    // job script, logs, exit statuses, state.json (on a shared file system)
  std::filesystem::path work_dir;     // where elements run; empty: the current directory
  std::vector<std::pair<std::string, std::string>> env;  // exported to every element
  Resources resources;
};

enum class ElementState {
  kPending,   // queued, held, configuring, requeued
  kRunning,   // running or completing
  kFinished,  // ended by itself (its exit status file says how)
  kFailed,    // ended by the scheduler: cancelled, timed out, out of memory, node failure, ...
  kUnknown,   // the scheduler no longer knows it
};
std::string_view ElementStateName(ElementState s);

struct ElementStatus {
  int element = 0;
  ElementState state = ElementState::kUnknown;
  std::string detail;  // the scheduler's own word: "CANCELLED", "TIMEOUT", "Resources", ...
};

class Scheduler {
 public:
  virtual ~Scheduler() = default;
  virtual std::string_view name() const = 0;  // "slurm", "local"

  // Submits these elements of `job` (its job script must exist: WriteJobScript)
  // and returns the scheduler's id for this submission.
  virtual Result<std::string> Submit(const ArrayJob& job, std::span<const int> elements) = 0;
  // The elements of submission `id` that the scheduler knows about now;
  // elements it has forgotten are absent. An error when the scheduler cannot
  // be asked (kUnavailable: its controller does not answer).
  virtual Result<std::vector<ElementStatus>> Poll(const ArrayJob& job, const std::string& id) = 0;
  // Stops every element of submission `id` still queued or running.
  virtual Status Cancel(const std::string& id) = 0;
  // What Submit would run, for a dry run: the command line (the job script
  // is JobScript(job)).
  virtual std::string SubmitCommand(const ArrayJob& job, std::span<const int> elements) const = 0;
};

// ---- the job script and the files an element leaves ----------------------

// The bash script every scheduler runs for an element: #SBATCH lines from
// the resources, the setup lines, the command, then the exit status file.
// The element index comes from $LMLAB_ELEMENT, else $SLURM_ARRAY_TASK_ID.
std::string JobScript(const ArrayJob& job);
// <state_dir>/job.sh, written (atomically) when missing or different.
Result<std::filesystem::path> WriteJobScript(const ArrayJob& job);
std::filesystem::path JobScriptPath(const ArrayJob& job);
// <state_dir>/exit/<element>: the element command's exit status.
std::filesystem::path ExitStatusPath(const ArrayJob& job, int element);
// The exit status an element left; nullopt when it left none (or an
// unreadable one).
std::optional<int> ReadExitStatus(const ArrayJob& job, int element);
// <state_dir>/logs: where elements' output goes (one file per element and submission).
std::filesystem::path LogDir(const ArrayJob& job);

// "0-3,5,7-9": elements as Slurm's --array takes them (sorted, merged).
std::string ArrayRanges(std::span<const int> elements);
// Single-quoted for bash: one word whatever it holds.
std::string ShellQuote(std::string_view word);

}  // namespace lmlab::sched
