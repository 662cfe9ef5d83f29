// The --slurm flag group and running an array job from a command. See slurm_flags.h.
#include "cli/slurm_flags.h"

#include <fmt/format.h>
#include <unistd.h>

#include <filesystem>
#include <iostream>
#include <set>

#include "lmlab/core/file.h"
#include "lmlab/core/process.h"

namespace lmlab::cli {
namespace fs = std::filesystem;

void AddSlurmFlags(CLI::App* app, SlurmFlags& f) {
  app->option_defaults()->group("Slurm");
  app->add_flag("--slurm", f.slurm,
                "Run the elements as a Slurm array job (sbatch, followed with squeue; failed elements resubmitted; "
                "rerun the same command to resume). Resources: $LMLAB_SLURM_CONFIG or ~/.config/lmlab/slurm.json, "
                "then the flags below");
  app->add_option("--slurm-config", f.config, "Slurm settings file (JSON, see docs/scaling.md); implies --slurm");
  app->add_option("--partition", f.partition, "Slurm partition of the elements");
  app->add_option("--account", f.account, "Slurm account charged");
  app->add_option("--time", f.time, "Wall-clock limit per element (\"30\", \"02:00:00\", \"1-00:00:00\")");
  app->add_option("--gpus", f.gpus, "GPUs per element (--gres=gpu:N)");
  app->add_option("--retries", f.retries, "Resubmissions of a failed element (default 2)");
  app->add_option("--poll", f.poll_seconds, "Seconds between squeue polls (default 10)");
  app->add_flag("--dry-run", f.dry_run, "Print the array job script and the sbatch command; submit nothing");
  app->option_defaults()->group("Options");
}

sched::SlurmSettings ResolveSlurmSettings(const SlurmFlags& f) {
  sched::SlurmSettings s;
  fs::path path = f.config.empty() ? sched::DefaultSlurmConfigPath() : fs::path(f.config);
  if (!path.empty()) {
    Result<sched::SlurmSettings> loaded = sched::LoadSlurmSettings(path);
    if (loaded)
      s = std::move(*loaded);
    else if (!f.config.empty() || loaded.error().code != ErrorCode::kNotFound)
      throw UsageError("--slurm-config: " + loaded.error().message);
  }
  if (!f.partition.empty()) s.resources.partition = f.partition;
  if (!f.account.empty()) s.resources.account = f.account;
  if (!f.time.empty()) s.resources.time = f.time;
  if (f.gpus) {
    if (*f.gpus < 0) throw UsageError(fmt::format("--gpus: must be >= 0 (got {})", *f.gpus));
    s.resources.gpus = *f.gpus;
  }
  if (f.retries) {
    if (*f.retries < 0) throw UsageError(fmt::format("--retries: must be >= 0 (got {})", *f.retries));
    s.retries = *f.retries;
  }
  if (f.poll_seconds) {
    if (!(*f.poll_seconds > 0)) throw UsageError(fmt::format("--poll: must be > 0 (got {})", *f.poll_seconds));
    s.poll_seconds = *f.poll_seconds;
  }
  return s;
}

std::string SelfExecutable() {
  char self[4096];
  const ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
  if (n <= 0) return "lmlab";  // found on PATH by the element's shell
  self[n] = '\0';
  return self;
}

std::vector<std::string> ElementCommandFromSelf(const std::vector<std::string>& extra) {
  std::vector<std::string> args;
  if (Result<std::string> cmdline = ReadFile("/proc/self/cmdline")) {
    size_t at = 0;
    while (at < cmdline->size()) {
      size_t end = cmdline->find('\0', at);
      if (end == std::string::npos) end = cmdline->size();
      args.push_back(cmdline->substr(at, end - at));
      at = end + 1;
    }
  }
  static const std::set<std::string> flags = {"--slurm", "--dry-run"};
  static const std::set<std::string> with_value = {"--slurm-config", "--partition", "--account", "--time",
                                                   "--gpus",         "--retries",   "--poll"};
  std::vector<std::string> out = {SelfExecutable()};
  for (size_t i = 1; i < args.size(); ++i) {
    const std::string& a = args[i];
    std::string name = a.substr(0, a.find('='));
    if (flags.contains(a)) continue;
    if (with_value.contains(name)) {
      if (name == a) ++i;  // "--time 10": the value is the next word
      continue;
    }
    out.push_back(a);
  }
  out.insert(out.end(), extra.begin(), extra.end());
  return out;
}

namespace {

void Apply(const sched::SlurmSettings& s, sched::ArrayJob& job, sched::FollowOptions& follow) {
  // The command's own resources (cpus, memory) stay unless the file sets them.
  sched::Resources r = s.resources;
  if (r.cpus == 1) r.cpus = job.resources.cpus;
  if (r.memory.empty()) r.memory = job.resources.memory;
  job.resources = std::move(r);
  follow.retries = s.retries;
  follow.poll_seconds = s.poll_seconds;
}

}  // namespace

Result<sched::ArrayOutcome> RunOnSlurm(const sched::SlurmSettings& settings, sched::ArrayJob job,
                                       sched::FollowOptions follow) {
  Apply(settings, job, follow);
  auto runner = MakeSystemProcessRunner();
  auto slurm = sched::MakeSlurmScheduler(*runner);
  return sched::RunArray(*slurm, job, follow);
}

sched::ArrayOutcome RunElementsOrExit(const SlurmFlags& flags, sched::ArrayJob job, sched::FollowOptions follow) {
  sched::SlurmSettings settings = ResolveSlurmSettings(flags);
  std::optional<ProgressBar> bar;
  if (!follow.progress) follow.progress = bar.emplace().Callback();
  return OrExit(RunOnSlurm(settings, std::move(job), std::move(follow)));
}

void PrintDryRun(const SlurmFlags& flags, sched::ArrayJob job, const sched::FollowOptions& given) {
  sched::FollowOptions follow = given;
  Apply(ResolveSlurmSettings(flags), job, follow);
  auto runner = MakeSystemProcessRunner();
  auto slurm = sched::MakeSlurmScheduler(*runner);
  sched::DryRun d = sched::PlanArray(*slurm, job, follow);
  std::cout << "# " << sched::JobScriptPath(job).string() << "\n" << d.script;
  if (d.elements.empty())
    std::cout << "# every element of " << job.name << " is done: nothing to submit\n";
  else
    std::cout << "# " << d.elements.size() << " of " << job.size << " elements to submit:\n" << d.submit_command << "\n";
}

}  // namespace lmlab::cli
