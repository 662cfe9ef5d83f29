// The job script every scheduler runs, and the files an element leaves.
#include "lmlab/sched/scheduler.h"

#include <fmt/format.h>

#include <algorithm>

#include "lmlab/core/file.h"
#include "lmlab/core/parse.h"

namespace lmlab::sched {
namespace fs = std::filesystem;

std::string_view ElementStateName(ElementState s) {
  switch (s) {
    case ElementState::kPending: return "pending";
    case ElementState::kRunning: return "running";
    case ElementState::kFinished: return "finished";
    case ElementState::kFailed: return "failed";
    case ElementState::kUnknown: return "unknown";
  }
  return "unknown";
}

std::string ShellQuote(std::string_view word) {
  std::string out = "'";
  for (char c : word) {
    if (c == '\'')
      out += "'\\''";
    else
      out += c;
  }
  return out + "'";
}

namespace {

// One argv word with "{element}" turned into the shell's $element.
std::string ElementWord(std::string_view word) {
  constexpr std::string_view kPlaceholder = "{element}";
  std::string out;
  size_t at = 0;
  while (true) {
    size_t found = word.find(kPlaceholder, at);
    std::string_view literal = word.substr(at, found == std::string_view::npos ? word.npos : found - at);
    if (!literal.empty()) out += ShellQuote(literal);
    if (found == std::string_view::npos) break;
    out += "\"$element\"";
    at = found + kPlaceholder.size();
  }
  return out.empty() ? "''" : out;
}

}  // namespace

std::string ArrayRanges(std::span<const int> elements) {
  std::vector<int> sorted(elements.begin(), elements.end());
  std::sort(sorted.begin(), sorted.end());
  sorted.erase(std::unique(sorted.begin(), sorted.end()), sorted.end());
  std::string out;
  for (size_t i = 0; i < sorted.size();) {
    size_t j = i;
    while (j + 1 < sorted.size() && sorted[j + 1] == sorted[j] + 1) ++j;
    if (!out.empty()) out += ',';
    out += j == i ? std::to_string(sorted[i]) : fmt::format("{}-{}", sorted[i], sorted[j]);
    i = j + 1;
  }
  return out;
}

fs::path JobScriptPath(const ArrayJob& job) { return job.state_dir / "job.sh"; }
fs::path LogDir(const ArrayJob& job) { return job.state_dir / "logs"; }
fs::path ExitStatusPath(const ArrayJob& job, int element) { return job.state_dir / "exit" / std::to_string(element); }

std::optional<int> ReadExitStatus(const ArrayJob& job, int element) {
  Result<std::string> text = ReadFile(ExitStatusPath(job, element));
  if (!text) return std::nullopt;
  std::string_view t = *text;
  while (!t.empty() && (t.back() == '\n' || t.back() == ' ')) t.remove_suffix(1);
  Result<int64_t> status = ParseInt(t, "exit status");
  if (!status || *status < 0 || *status > 255) return std::nullopt;
  return static_cast<int>(*status);
}

std::string JobScript(const ArrayJob& job) {
  const Resources& r = job.resources;
  std::string s = "#!/bin/bash\n";
  s += fmt::format(
      "# lmlab array job \"{}\": {} elements, one per array index. Written by lmlab; the lmlab\n"
      "# command that wrote it submits, follows and resubmits it (docs/scaling.md).\n",
      job.name, job.size);
  auto sbatch = [&](const std::string& option) { s += "#SBATCH " + option + "\n"; };
  sbatch("--job-name=" + job.name);
  sbatch("--output=" + (LogDir(job) / "%A_%a.log").string());
  if (!r.partition.empty()) sbatch("--partition=" + r.partition);
  if (!r.account.empty()) sbatch("--account=" + r.account);
  if (!r.time.empty()) sbatch("--time=" + r.time);
  sbatch(fmt::format("--cpus-per-task={}", std::max(1, r.cpus)));
  if (!r.memory.empty()) sbatch("--mem=" + r.memory);
  if (r.gpus > 0) sbatch(fmt::format("--gres=gpu:{}", r.gpus));
  for (const auto& o : r.extra_options) sbatch(o);
  s += "set -u\n";
  s += "element=\"${LMLAB_ELEMENT:-${SLURM_ARRAY_TASK_ID:-}}\"\n";
  s += "if [ -z \"$element\" ]; then\n"
       "  echo \"lmlab: run this script as an array (sbatch --array=...) or with LMLAB_ELEMENT set\" >&2\n"
       "  exit 2\n"
       "fi\n";
  for (const auto& [key, value] : job.env) s += "export " + key + "=" + ShellQuote(value) + "\n";
  for (const auto& line : r.setup) s += line + "\n";
  if (!job.work_dir.empty()) s += "cd " + ShellQuote(job.work_dir.string()) + " || exit 1\n";
  std::string command;
  for (const auto& word : job.command) command += (command.empty() ? "" : " ") + ElementWord(word);
  s += command + "\n";
  s += "status=$?\n";
  // The exit status last, atomically (temporary name, then rename): a file
  // there means the command ended by itself.
  s += "exit_dir=" + ShellQuote((job.state_dir / "exit").string()) + "\n";
  s += "mkdir -p \"$exit_dir\" && printf '%s\\n' \"$status\" >\"$exit_dir/.$element.$$\" && "
       "mv -f \"$exit_dir/.$element.$$\" \"$exit_dir/$element\"\n";
  s += "exit \"$status\"\n";
  return s;
}

Result<fs::path> WriteJobScript(const ArrayJob& job) {
  if (job.state_dir.empty()) return InvalidArgument("the array job has no state directory");
  if (job.command.empty()) return InvalidArgument("the array job has no command");
  if (job.size < 1) return InvalidArgument(fmt::format("an array job needs at least one element (got {})", job.size));
  fs::path path = JobScriptPath(job);
  std::string script = JobScript(job);
  Result<std::string> old = ReadFile(path);
  if (!old || *old != script) LMLAB_RETURN_IF_ERROR(WriteFileAtomic(path, script));
  std::error_code ec;
  fs::create_directories(LogDir(job), ec);
  if (ec) return IoError("cannot create " + LogDir(job).string() + ": " + ec.message());
  return path;
}

}  // namespace lmlab::sched
