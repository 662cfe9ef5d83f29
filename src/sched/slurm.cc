// Slurm through its client programs: sbatch, squeue, sacct, scancel.
#include "lmlab/sched/slurm.h"

#include <fmt/format.h>

#include <cstdlib>
#include <set>

#include "lmlab/core/file.h"
#include "lmlab/core/json.h"
#include "lmlab/core/parse.h"
#include "lmlab/core/text.h"

namespace lmlab::sched {
namespace fs = std::filesystem;

namespace {

std::optional<int> ElementIndex(std::string_view text) {
  Result<int64_t> v = ParseInt(Trim(text), "array index");
  if (!v || *v < 0 || *v > (1 << 30)) return std::nullopt;
  return static_cast<int>(*v);
}

class SlurmScheduler final : public Scheduler {
 public:
  SlurmScheduler(ProcessRunner& runner, SlurmCommands c) : runner_(runner), c_(std::move(c)) {}
  std::string_view name() const override { return "slurm"; }

  std::string SubmitCommand(const ArrayJob& job, std::span<const int> elements) const override {
    std::string line;
    for (const auto& w : SubmitArgv(job, elements)) line += (line.empty() ? "" : " ") + ShellQuote(w);
    return line;
  }

  Result<std::string> Submit(const ArrayJob& job, std::span<const int> elements) override {
    if (elements.empty()) return InvalidArgument("no elements to submit");
    LMLAB_ASSIGN_OR_RETURN(ProcessResult r, Run(SubmitArgv(job, elements)));
    if (r.exit_code != 0)
      return Unavailable(DescribeFailure({.argv = {c_.sbatch}}, r) + " (the job script: " + JobScriptPath(job).string() + ")");
    return ParseSbatchId(r.out);
  }

  Result<std::vector<ElementStatus>> Poll(const ArrayJob&, const std::string& id) override {
    // --states=all keeps elements that ended in the last MinJobAge seconds
    // (300 by default), with the state the scheduler gave them.
    LMLAB_ASSIGN_OR_RETURN(ProcessResult q, Run({c_.squeue, "--array", "--noheader", "--states=all", "--jobs=" + id,
                                                 "--format=%K|%T|%r"}));
    std::vector<ElementStatus> out;
    if (q.exit_code == 0) {
      out = ParseSqueue(q.out);
    } else if (q.err.find("Invalid job id") == std::string::npos) {
      // squeue fails on a job it has forgotten ("Invalid job id specified"):
      // that is an answer, anything else is the controller not answering.
      return Unavailable(DescribeFailure({.argv = {c_.squeue}}, q));
    }
    if (!out.empty()) return out;
    // Forgotten by the controller: accounting, where it is enabled, still knows.
    Result<ProcessResult> a = Run({c_.sacct, "--noheader", "--parsable2", "--allocations", "--jobs=" + id,
                                   "--format=JobID,State,ExitCode"});
    if (a && a->exit_code == 0) return ParseSacct(a->out, id);
    return out;  // nothing known: the follower decides after its grace period
  }

  Status Cancel(const std::string& id) override {
    LMLAB_ASSIGN_OR_RETURN(ProcessResult r, Run({c_.scancel, id}));
    if (r.exit_code != 0) return Unavailable(DescribeFailure({.argv = {c_.scancel}}, r));
    return {};
  }

 private:
  std::vector<std::string> SubmitArgv(const ArrayJob& job, std::span<const int> elements) const {
    std::string array = ArrayRanges(elements);
    if (job.resources.max_parallel > 0) array += fmt::format("%{}", job.resources.max_parallel);
    return {c_.sbatch, "--parsable", "--array=" + array, JobScriptPath(job).string()};
  }

  Result<ProcessResult> Run(std::vector<std::string> argv) {
    Result<ProcessResult> r = runner_.Run({.argv = argv, .timeout_seconds = c_.timeout_seconds});
    if (!r && r.error().code == ErrorCode::kNotFound)
      return NotFound(r.error().message + "; scheduling on Slurm needs its client commands (Debian: slurm-client)");
    return r;
  }

  ProcessRunner& runner_;
  SlurmCommands c_;
};

}  // namespace

std::unique_ptr<Scheduler> MakeSlurmScheduler(ProcessRunner& runner, SlurmCommands commands) {
  return std::make_unique<SlurmScheduler>(runner, std::move(commands));
}

ElementState FromSlurmState(std::string_view state) {
  state = Trim(state);
  state = state.substr(0, state.find(' '));  // sacct: "CANCELLED by 0"
  static const std::set<std::string_view> pending = {"PENDING", "CONFIGURING", "REQUEUED", "REQUEUE_FED",
                                                     "REQUEUE_HOLD", "RESV_DEL_HOLD", "SUSPENDED", "STOPPED",
                                                     "RESIZING"};
  static const std::set<std::string_view> running = {"RUNNING", "COMPLETING", "SIGNALING", "STAGE_OUT"};
  if (pending.contains(state)) return ElementState::kPending;
  if (running.contains(state)) return ElementState::kRunning;
  if (state == "COMPLETED" || state == "FAILED") return ElementState::kFinished;
  if (state.empty()) return ElementState::kUnknown;
  return ElementState::kFailed;  // CANCELLED, TIMEOUT, OUT_OF_MEMORY, NODE_FAIL, PREEMPTED, BOOT_FAIL, DEADLINE, ...
}

Result<std::string> ParseSbatchId(std::string_view out) {
  std::string_view id = Trim(out);
  id = id.substr(0, id.find(';'));
  if (id.empty() || !ParseUint(id, "job id")) return ParseError(fmt::format("sbatch printed no job id: '{}'", Trim(out)));
  return std::string(id);
}

std::vector<ElementStatus> ParseSqueue(std::string_view out) {
  std::vector<ElementStatus> v;
  for (std::string_view line : Split(out, '\n')) {
    std::vector<std::string_view> f = Split(Trim(line), '|');
    if (f.size() < 2) continue;
    std::optional<int> e = ElementIndex(f[0]);
    if (!e) continue;  // "N/A": not an array element
    v.push_back({*e, FromSlurmState(f[1]), std::string(Trim(f[1])) + (f.size() > 2 && Trim(f[2]) != "None" ? " (" + std::string(Trim(f[2])) + ")" : "")});
  }
  return v;
}

std::vector<ElementStatus> ParseSacct(std::string_view out, std::string_view id) {
  std::vector<ElementStatus> v;
  std::string prefix = std::string(id) + "_";
  for (std::string_view line : Split(out, '\n')) {
    std::vector<std::string_view> f = Split(Trim(line), '|');
    if (f.size() < 2 || !f[0].starts_with(prefix)) continue;
    std::optional<int> e = ElementIndex(f[0].substr(prefix.size()));
    if (!e) continue;  // "12_[3-9]": elements never started, still pending
    std::string detail(Trim(f[1]));
    if (f.size() > 2 && !Trim(f[2]).empty()) detail += ", exit " + std::string(Trim(f[2]));
    v.push_back({*e, FromSlurmState(f[1]), detail});
  }
  return v;
}

fs::path DefaultSlurmConfigPath() {
  if (const char* p = std::getenv("LMLAB_SLURM_CONFIG"); p && *p) return p;
  if (const char* x = std::getenv("XDG_CONFIG_HOME"); x && *x) return fs::path(x) / "lmlab" / "slurm.json";
  if (const char* h = std::getenv("HOME"); h && *h) return fs::path(h) / ".config" / "lmlab" / "slurm.json";
  return {};
}

Result<SlurmSettings> ParseSlurmSettings(std::string_view text, std::string_view what) {
  LMLAB_ASSIGN_OR_RETURN(nlohmann::json j, ParseJson(text, what));
  if (!j.is_object()) return ParseError(std::string(what) + ": a Slurm config is a JSON object");
  static const std::set<std::string> known = {"partition", "account", "time", "gpus", "cpus", "memory",
                                              "max_parallel", "retries", "poll_seconds", "sbatch_options", "setup"};
  for (const auto& [key, value] : j.items())
    if (!known.contains(key))
      return ParseError(fmt::format("{}: unknown key \"{}\" (known: partition, account, time, gpus, cpus, memory, "
                                    "max_parallel, retries, poll_seconds, sbatch_options, setup)",
                                    what, key));
  SlurmSettings s;
  Resources& r = s.resources;
  LMLAB_ASSIGN_OR_RETURN(r.partition, JsonGetOr<std::string>(j, "partition", "", what));
  LMLAB_ASSIGN_OR_RETURN(r.account, JsonGetOr<std::string>(j, "account", "", what));
  LMLAB_ASSIGN_OR_RETURN(r.time, JsonGetOr<std::string>(j, "time", "", what));
  LMLAB_ASSIGN_OR_RETURN(r.gpus, JsonGetOr<int>(j, "gpus", 0, what));
  LMLAB_ASSIGN_OR_RETURN(r.cpus, JsonGetOr<int>(j, "cpus", 1, what));
  LMLAB_ASSIGN_OR_RETURN(r.memory, JsonGetOr<std::string>(j, "memory", "", what));
  LMLAB_ASSIGN_OR_RETURN(r.max_parallel, JsonGetOr<int>(j, "max_parallel", 0, what));
  LMLAB_ASSIGN_OR_RETURN(r.extra_options, JsonGetOr<std::vector<std::string>>(j, "sbatch_options", {}, what));
  LMLAB_ASSIGN_OR_RETURN(r.setup, JsonGetOr<std::vector<std::string>>(j, "setup", {}, what));
  LMLAB_ASSIGN_OR_RETURN(s.retries, JsonGetOr<int>(j, "retries", 2, what));
  LMLAB_ASSIGN_OR_RETURN(s.poll_seconds, JsonGetOr<double>(j, "poll_seconds", 10.0, what));
  if (r.gpus < 0 || r.cpus < 1 || r.max_parallel < 0 || s.retries < 0 || !(s.poll_seconds > 0))
    return ParseError(fmt::format("{}: gpus, max_parallel and retries must be >= 0, cpus >= 1, poll_seconds > 0", what));
  for (const auto& o : r.extra_options)
    if (!o.starts_with("-"))
      return ParseError(fmt::format("{}: sbatch_options holds \"{}\", not an option (\"--qos=low\")", what, o));
  return s;
}

Result<SlurmSettings> LoadSlurmSettings(const fs::path& path) {
  LMLAB_ASSIGN_OR_RETURN(std::string text, ReadFile(path));
  return ParseSlurmSettings(text, path.string());
}

}  // namespace lmlab::sched
