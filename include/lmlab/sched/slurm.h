// The Slurm scheduler: an array job submitted with sbatch, followed with
// squeue (every element, including those finished in the last MinJobAge
// seconds) and sacct (older ones, where accounting is enabled), cancelled
// with scancel. Commands run through a ProcessRunner, so the logic is tested
// with scripted output as well as against a real cluster (tests/slurm).
//
//   auto runner = MakeSystemProcessRunner();
//   auto slurm = MakeSlurmScheduler(*runner);
//   LMLAB_ASSIGN_OR_RETURN(SlurmSettings s, LoadSlurmSettings(DefaultSlurmConfigPath()));
//   job.resources = s.resources;
//   LMLAB_ASSIGN_OR_RETURN(ArrayOutcome o, RunArray(*slurm, job, {.retries = s.retries}));
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "lmlab/core/process.h"
#include "lmlab/sched/scheduler.h"

namespace lmlab::sched {

// The Slurm client programs (names on PATH or paths).
struct SlurmCommands {
  std::string sbatch = "sbatch";
  std::string squeue = "squeue";
  std::string sacct = "sacct";
  std::string scancel = "scancel";
  double timeout_seconds = 120;  // per command: a controller that hangs is an error, not a hang
};

// `runner` must outlive the scheduler.
std::unique_ptr<Scheduler> MakeSlurmScheduler(ProcessRunner& runner, SlurmCommands commands = {});

// ---- what a user sets once: a config file, then flags ------------------------

struct SlurmSettings {
  Resources resources;
  int retries = 2;            // resubmissions of a failed element
  double poll_seconds = 10;   // between squeue calls
};

// $LMLAB_SLURM_CONFIG, else $XDG_CONFIG_HOME/lmlab/slurm.json, else
// ~/.config/lmlab/slurm.json (which need not exist).
std::filesystem::path DefaultSlurmConfigPath();

// Reads a JSON config file:
//   {"partition": "gpu", "account": "lab", "time": "02:00:00", "gpus": 1, "cpus": 4,
//    "memory": "16G", "max_parallel": 50, "retries": 2, "poll_seconds": 30,
//    "sbatch_options": ["--qos=normal"], "setup": ["module load cuda"]}
// Every key is optional; an unknown key is an error naming it (a typo would
// otherwise be silently ignored). A missing file at `path` is kNotFound.
Result<SlurmSettings> LoadSlurmSettings(const std::filesystem::path& path);
// The same from text; `what` names it in errors.
Result<SlurmSettings> ParseSlurmSettings(std::string_view text, std::string_view what);

// ---- parsers of the Slurm commands' output (public for tests) ---------------

// sbatch --parsable prints "<id>" or "<id>;<cluster>".
Result<std::string> ParseSbatchId(std::string_view out);
// squeue --array --noheader --format=%K|%T|%r: one "element|STATE|reason" per line.
std::vector<ElementStatus> ParseSqueue(std::string_view out);
// sacct --noheader --parsable2 --allocations --format=JobID,State,ExitCode:
// "<id>_<element>|STATE|code:signal" per line (other jobs' lines are skipped).
std::vector<ElementStatus> ParseSacct(std::string_view out, std::string_view id);
// PENDING -> kPending, RUNNING -> kRunning, COMPLETED -> kFinished, FAILED ->
// kFinished (the script's exit status says how), CANCELLED, TIMEOUT, ... -> kFailed.
ElementState FromSlurmState(std::string_view state);

}  // namespace lmlab::sched
