// The flags every command with a `--slurm` mode shares (improve run and
// transfer, probe run): whether to hand the command's elements to Slurm, the
// resources they ask for (a config file, then flags), and a dry run. One
// struct, one AddSlurmFlags call; RunElementsOrExit runs an array job with a
// progress bar, or prints its script for --dry-run. See docs/scaling.md.
//
//   SlurmFlags slurm;
//   AddSlurmFlags(sub, slurm);
//   ...
//   if (slurm.dry_run) PrintDryRun(slurm, job, follow);
//   else if (slurm.Enabled()) RunElementsOrExit(slurm, job, follow);
#pragma once

#include <CLI/CLI.hpp>
#include <optional>
#include <string>

#include "cli/common.h"
#include "lmlab/sched/array_run.h"
#include "lmlab/sched/slurm.h"

namespace lmlab::cli {

struct SlurmFlags {
  // --slurm or --slurm-config; --dry-run alone prints what --slurm would submit.
  bool slurm = false;
  std::string config;  // --slurm-config FILE (implies --slurm)
  std::string partition, account, time;
  std::optional<int> gpus, retries;
  std::optional<double> poll_seconds;
  bool dry_run = false;
  bool Enabled() const { return slurm || !config.empty() || dry_run; }
};

// Adds, in a "Slurm" group: --slurm, --slurm-config FILE, --partition,
// --account, --time, --gpus, --retries, --poll, --dry-run.
void AddSlurmFlags(CLI::App* app, SlurmFlags& flags);

// The config file (--slurm-config, else the default path when it exists),
// then every flag given. Throws UsageError naming the file or flag at fault.
sched::SlurmSettings ResolveSlurmSettings(const SlurmFlags& flags);

// The path of the running lmlab binary, for element commands (absolute).
std::string SelfExecutable();

// This process's own command line (/proc/self/cmdline) with the binary's
// absolute path, the Slurm group's flags (AddSlurmFlags) left out and
// `extra` appended: an element runs the very command the user typed, in the
// same directory, with its element flag.
std::vector<std::string> ElementCommandFromSelf(const std::vector<std::string>& extra);

// Runs `job` on Slurm with `settings` (ResolveSlurmSettings) to the end;
// the follow options' retries and poll interval come from the settings.
// Never throws: for code called back from the library.
Result<sched::ArrayOutcome> RunOnSlurm(const sched::SlurmSettings& settings, sched::ArrayJob job,
                                       sched::FollowOptions follow);

// Runs `job` on Slurm with the flags' resources to the end, a progress bar
// on stderr while following. `follow`'s retries and poll interval come from
// the settings; its result check is kept. Throws CommandError when elements
// failed on every attempt (the message names them and their logs).
sched::ArrayOutcome RunElementsOrExit(const SlurmFlags& flags, sched::ArrayJob job, sched::FollowOptions follow);

// For --dry-run: prints the job script and the sbatch command for the
// elements not done yet to stdout, submitting nothing.
void PrintDryRun(const SlurmFlags& flags, sched::ArrayJob job, const sched::FollowOptions& follow);

}  // namespace lmlab::cli
